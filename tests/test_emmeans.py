"""Estimated marginal means and pairwise contrasts against R's emmeans 1.8.4-1 (tests/fixtures_inference)."""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.inference.emmeans import EmmeansResult
from mixedmodels.errors import ArgumentError

sys.path.insert(0, str(Path(__file__).parent / "fixtures_inference"))
from inference_cases import NAMES, as_list, expected, fit, fit_at_r_theta, values  # noqa: E402

CASES = [(n, i) for n in NAMES for i in range(len(expected(n)["emmeans"]))]


def _ids(case):
    n, i = case
    E = expected(n)["emmeans"][i]
    by = as_list(E["by"])
    return f"{n}-{'+'.join(as_list(E['specs']))}{'|' + '+'.join(by) if by else ''}-{E['ddf']}-{E['adjust']}"


def _run(m, E):
    return m.emmeans(as_list(E["specs"]), by=as_list(E["by"]) or None, pairwise=True, adjust=E["adjust"],
                     ddf=E["ddf"], level=E["level"])


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_emmeans_match_R(case):
    name, i = case
    E = expected(name)["emmeans"][i]
    r = _run(fit_at_r_theta(name), E)
    e, c = r.emmeans, r.contrasts
    keys = as_list(E["specs"]) + as_list(E["by"])
    assert list(e.columns) == keys + ["emmean", "SE", "df", "lower.CL", "upper.CL"]
    for f in keys:
        assert list(e[f].astype(str)) == as_list(E["emmeans"][f])
    for col in ["emmean", "SE", "df", "lower.CL", "upper.CL"]:
        np.testing.assert_allclose(e[col], values(E["emmeans"][col]), rtol=1e-6, err_msg=col)
    assert list(c.columns) == ["contrast"] + as_list(E["by"]) + ["estimate", "SE", "df", "t.ratio", "p.value"]
    assert list(c["contrast"]) == as_list(E["contrasts"]["contrast"])
    for f in as_list(E["by"]):
        assert list(c[f].astype(str)) == as_list(E["contrasts"][f])
    for col in ["estimate", "SE", "df", "t.ratio"]:
        np.testing.assert_allclose(c[col], values(E["contrasts"][col]), rtol=1e-6, atol=1e-12, err_msg=col)
    np.testing.assert_allclose(c["p.value"], values(E["contrasts"]["p.value"]), rtol=1e-4, atol=1e-7)


def test_at_our_own_optimum():
    E = expected("ham_unbalanced")["emmeans"][0]
    r = _run(fit("ham_unbalanced"), E)
    np.testing.assert_allclose(r.emmeans["SE"], values(E["emmeans"]["SE"]), rtol=2e-3)
    np.testing.assert_allclose(r.contrasts["p.value"], values(E["contrasts"]["p.value"]), rtol=1e-2)


def test_result_object():
    m = fit_at_r_theta("cake_numeric_temp")
    r = m.emmeans("recipe")
    assert isinstance(r, EmmeansResult) and r.contrasts is None
    assert r["emmeans"] is r.emmeans and list(r.keys()) == ["emmeans"]
    r2 = m.emmeans("pairwise ~ recipe", ddf="Kenward-Roger")
    assert r2.contrasts is not None and list(r2.contrasts["contrast"]) == ["A - B", "A - C", "B - C"]
    text = str(r2)
    assert "A - B" in text and "tukey" in text


def test_covariate_at_its_mean():
    """cake with temp numeric: the recipe means are the predictions at the mean temperature."""
    m = fit_at_r_theta("cake_numeric_temp")
    e = m.emmeans("recipe").emmeans
    b = m.fixef
    t = m.frame.data["temp"].mean()
    A = b["(Intercept)"] + b["temp"] * t
    np.testing.assert_allclose(e["emmean"], [A, A + b["recipeB"] + b["recipeB:temp"] * t,
                                             A + b["recipeC"] + b["recipeC:temp"] * t])


def test_formula_with_by():
    m = fit_at_r_theta("ham_unbalanced")
    a = m.emmeans("pairwise ~ Product | Information", ddf="Kenward-Roger")
    E = expected("ham_unbalanced")["emmeans"][2]
    np.testing.assert_allclose(a.contrasts["p.value"], values(E["contrasts"]["p.value"]), rtol=1e-4)


def test_non_estimable_cells_are_nan():
    c = mm.load_dataset("cake")
    cc = c[~((c.recipe == "C") & (c.temperature == "175"))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cc)
    e = m.emmeans("recipe", ddf="Kenward-Roger").emmeans
    assert np.isnan(e["emmean"].iloc[2]) and np.isfinite(e["emmean"].iloc[:2]).all()
    # R: A 33.1 (SE 1.72, df 41.6), B 31.6
    np.testing.assert_allclose(e["emmean"].iloc[:2], [33.1222, 31.6444], atol=1e-4)
    np.testing.assert_allclose(e["SE"].iloc[:2], 1.72, atol=5e-3)
    np.testing.assert_allclose(e["df"].iloc[:2], 41.6, atol=0.05)


@pytest.mark.parametrize("kwargs,match", [
    ({"specs": "temp"}, "numeric"),
    ({"specs": "oven"}, "not a variable"),
    ({"specs": "recipe", "adjust": "scheffe-ish"}, "adjust"),
    ({"specs": "recipe", "level": 1.5}, "level"),
    ({"specs": "recipe", "ddf": "Welch"}, "ddf"),
    ({"specs": "recipe", "by": "recipe"}, "both"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        fit_at_r_theta("cake_numeric_temp").emmeans(**kwargs)


def test_defaults_are_r_emmeans():
    """R 4.2, emmeans 1.8.4, lme4 1.1-31 (default options: lmer.df = "kenward-roger", cov.keep = "2"):
    emmeans(lmer(Reaction ~ late + grp + (1 | Subject)), "late"), late = Days > 4 as 0/1 numbers and
    grp = Subject %% 2 a factor; the means average over grp, the df are Kenward-Roger's."""
    import warnings

    s = mm.load_dataset("sleepstudy")
    s["late"] = (s["Days"] > 4).astype(float)
    s["grp"] = (s["Subject"].astype(int) % 2).astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ late + grp + (1 | Subject)", s)
    r = m.emmeans("pairwise ~ late")
    np.testing.assert_allclose(r.emmeans["emmean"], [271.6302, 325.3856], atol=1e-4)
    np.testing.assert_allclose(r.emmeans["SE"], 9.555926, rtol=1e-6)
    np.testing.assert_allclose(r.emmeans["df"], 18.52, atol=5e-3)
    assert r.ddf == "Kenward-Roger"
    assert list(r.contrasts["contrast"]) == ["late0 - late1"]
    np.testing.assert_allclose(r.contrasts["estimate"], -53.75543, atol=1e-5)
    np.testing.assert_allclose(r.contrasts["df"], 161, rtol=1e-6)
    g = m.emmeans("grp").emmeans
    np.testing.assert_allclose(g["emmean"], [304.39697, 292.61881], atol=1e-5)
    np.testing.assert_allclose(g["df"], 16, rtol=1e-6)


def test_a_colon_spec_is_the_cells():
    """emmeans(m, ~ recipe:temperature) on cake: R's first cells 29.1, 26.9, 27.9 (SE 2.04, df 32.6)."""
    m = mm.lmer("angle ~ recipe * temperature + (1 | replicate)", mm.load_dataset("cake"))
    e = m.emmeans("recipe:temperature").emmeans
    np.testing.assert_allclose(e["emmean"].iloc[:3], [29.133333, 26.866667, 27.933333], atol=1e-5)
    np.testing.assert_allclose(e["df"].iloc[:3], 32.6, atol=0.05)
    assert list(e.columns[:2]) == ["recipe", "temperature"]
