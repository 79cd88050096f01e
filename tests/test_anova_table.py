"""lmerTest's anova() tables, types 1-3, Satterthwaite and Kenward-Roger, against R (tests/fixtures_inference)."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.inference.anova import COLUMNS, doolittle, hypotheses
from mixedmodels.errors import ArgumentError

sys.path.insert(0, str(Path(__file__).parent / "fixtures_inference"))
from inference_cases import ANOVA_NAMES, NAMES, as_list, expected, fit, fit_at_r_theta, values  # noqa: E402

REF_CASES = Path(__file__).parent / "reference" / "cases"
TABLES = [(n, t, kr) for n in NAMES + ANOVA_NAMES for t in (1, 2, 3) for kr in (False, True)]


def _check(tab, R, rtol=1e-5, ptol=1e-4):
    assert list(tab.index) == as_list(R["terms"])
    assert list(tab.columns) == COLUMNS
    np.testing.assert_allclose(tab["NumDF"], values(R["NumDF"]), atol=1e-12)
    np.testing.assert_allclose(tab["F value"], values(R["F"]), rtol=rtol)
    np.testing.assert_allclose(tab["DenDF"], values(R["DenDF"]), rtol=rtol)
    np.testing.assert_allclose(tab["Sum Sq"], values(R["SumSq"]), rtol=rtol)
    np.testing.assert_allclose(tab["Mean Sq"], values(R["MeanSq"]), rtol=rtol)
    np.testing.assert_allclose(tab["Pr(>F)"], values(R["p"]), rtol=ptol)


@pytest.mark.parametrize("name,type_,kr", TABLES, ids=[f"{n}-type{t}{'-KR' if k else ''}" for n, t, k in TABLES])
def test_table_matches_lmerTest(name, type_, kr):
    R = expected(name)["anova"][f"type{type_}{'_kr' if kr else ''}"]
    tab = fit_at_r_theta(name).anova(type=type_, ddf="Kenward-Roger" if kr else "Satterthwaite")
    _check(tab, R)


@pytest.mark.parametrize("name", ["ham_unbalanced", "ham_unbalanced_covariate"])
def test_table_at_our_own_optimum(name):
    R = expected(name)["anova"]["type3"]
    _check(fit(name).anova(), R, rtol=2e-3, ptol=0.05)


def test_lmerTest_rules_on_unusual_formulas():
    """ham_slopes_by_product: in `Information + Age:Product` lmerTest counts Age:Product as contained
    in Information (neither of its variables is contrast-coded), so type 2 is not marginal for it;
    ham_interaction_only: R codes Product:Information by dummies and lme4 drops the aliased column;
    ours does the same (design.py follows R's coding rule)."""
    a = fit_at_r_theta("ham_slopes_by_product").anova(type=2)
    marginal = fit_at_r_theta("ham_slopes_by_product").anova(type=3)
    assert not np.isclose(a.loc["Age:Product", "F value"], 4.546332, rtol=1e-4)   # the marginal test's F
    assert np.isclose(marginal.loc["Information", "F value"], a.loc["Information", "F value"])
    m = fit_at_r_theta("ham_interaction_only")
    assert m.fixed.dropped == ["Product4:Information2"]   # R's coding, lme4's dropped column
    assert m.anova(type=3).loc["Product:Information", "NumDF"] == 7


def test_types_differ_on_unbalanced_data():
    """The fixtures do exercise the differences: Gender's type 1 and 3 tests are not the same."""
    m = fit_at_r_theta("ham_unbalanced_covariate")
    t1, t2, t3 = (m.anova(type=t) for t in (1, 2, 3))
    assert not np.isclose(t1.loc["Gender", "F value"], t3.loc["Gender", "F value"])
    # Product sits inside Age:Product, but Age is numeric: lmerTest then tests Product marginally in type 2
    assert np.isclose(t2.loc["Product", "F value"], t3.loc["Product", "F value"])


def test_shared_reference_case_cake():
    ref = json.loads((REF_CASES / "cake_factor_interaction.json").read_text())
    m = mm.lmer(ref["formula"], mm.load_dataset("cake"))
    R = ref["anova_type3"]
    tab = m.anova(type="III")
    assert list(tab.index) == R["terms"]
    np.testing.assert_allclose(tab["F value"], R["F"], rtol=1e-5)
    np.testing.assert_allclose(tab["Sum Sq"], R["SumSq"], rtol=1e-5)
    np.testing.assert_allclose(tab["DenDF"], R["DenDF"], rtol=1e-5)
    kr = m.anova(type=3, ddf="kenward-roger")
    np.testing.assert_allclose(kr["DenDF"], ref["anova_type3_kr"]["DenDF"], rtol=1e-5)


def test_type3_does_not_depend_on_which_level_is_the_reference():
    m = fit_at_r_theta("ham_unbalanced")
    d = m.frame.data.copy()
    d["Product"] = d["Product"].cat.reorder_categories(["3", "1", "4", "2"])
    d["Information"] = d["Information"].cat.reorder_categories(["2", "1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = mm.lmer(m.formula, d)
    a, b = m.anova(type=3), m2.anova(type=3)
    np.testing.assert_allclose(a["F value"], b["F value"], rtol=1e-4)
    np.testing.assert_allclose(a["DenDF"], b["DenDF"], rtol=1e-3)


def test_missing_cell_matches_R():
    """cake without recipe C at 175 degrees: X loses a column; R (lmerTest 3.1-3) printed these."""
    c = mm.load_dataset("cake")
    cc = c[~((c.recipe == "C") & (c.temperature == "175"))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cc)
    t1, t3 = m.anova(type=1), m.anova(type=3)
    np.testing.assert_allclose(t1["F value"], [0.1838, 17.5465, 1.0447], atol=5e-5)
    np.testing.assert_allclose(t1["DenDF"], [41.907, 195.905, 195.905], atol=5e-3)
    np.testing.assert_allclose(t1["NumDF"], [2, 5, 9])
    np.testing.assert_allclose(t3["F value"], [0.2783, 17.5465, 1.0447], atol=5e-5)
    np.testing.assert_allclose(t3["DenDF"], [42.124, 195.905, 195.905], atol=5e-3)
    kr = m.anova(type=3, ddf="Kenward-Roger")
    np.testing.assert_allclose(kr["DenDF"], [42.221, 196.002, 196.002], atol=5e-3)


def test_intercept_only_model_gives_an_empty_table():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("strength ~ 1 + (1 | batch/cask)", mm.load_dataset("Pastes"))
    for type_ in (1, 2, 3):
        for ddf in ("Satterthwaite", "Kenward-Roger"):
            tab = m.anova(type=type_, ddf=ddf)
            assert tab.empty and list(tab.columns) == COLUMNS


def test_single_term_without_intercept():
    m = mm.lmer("Reaction ~ 0 + Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    tab = m.anova()
    ct = m.coef_table()
    assert list(tab.index) == ["Days"]
    assert np.isclose(tab["F value"].iloc[0], ct["t value"].iloc[0] ** 2)
    assert np.isclose(tab["DenDF"].iloc[0], ct["df"].iloc[0])


@pytest.mark.parametrize("type_", [1, "1", "I", "i", 2, "II", 3, "3", "III"])
def test_type_spellings(type_):
    m = fit_at_r_theta("cake_numeric_temp")
    assert len(m.anova(type=type_)) == 3


@pytest.mark.parametrize("bad", [0, 4, "IV", "three", None, 2.5, True])
def test_bad_type_raises(bad):
    with pytest.raises(ArgumentError, match="type"):
        fit_at_r_theta("cake_numeric_temp").anova(type=bad)


def test_bad_ddf_raises():
    with pytest.raises(ArgumentError, match="ddf"):
        fit_at_r_theta("cake_numeric_temp").anova(ddf="Welch")


def test_lme4_table_matches_R():
    """anova(m, ddf="lme4"): lme4's sequential table of an ML fit of cake (R printed these)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", mm.load_dataset("cake"), REML=False)
    tab = m.anova(ddf="lme4")
    assert list(tab.columns) == ["npar", "Sum Sq", "Mean Sq", "F value"]
    np.testing.assert_allclose(tab["npar"], [2, 1, 2])
    np.testing.assert_allclose(tab["Sum Sq"], [10.99, 1966.71, 1.74], atol=5e-3)
    np.testing.assert_allclose(tab["F value"], [0.2666, 95.4357, 0.0423], atol=5e-5)


def test_hypotheses_have_the_term_columns():
    m = fit_at_r_theta("cake_numeric_temp")
    H = hypotheses(m, type=1)
    assert [h.shape for h in H.values()] == [(2, 6), (1, 6), (2, 6)]
    # type 1 rows are upper triangular: a term never involves the columns before it
    assert np.all(H["recipe:temp"][:, :4] == 0)


def test_doolittle_reconstructs():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(6, 4))
    x = A.T @ A
    L, U = doolittle(x)
    assert np.allclose(np.tril(L), L) and np.allclose(np.diag(L), 1)
    np.testing.assert_allclose(L @ U, x, atol=1e-5)


def test_aliased_term_is_listed_last_with_NA():
    """D2 = 2 Days is dropped from X; lmerTest lists it last with NA (R printed these values)."""
    d = mm.load_dataset("sleepstudy").copy()
    d["D2"] = 2 * d["Days"]
    d["f"] = (d["Days"] % 3).astype(str).astype("category")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ Days + D2 + f + (1 | Subject)", d)
    t3, t1 = m.anova(), m.anova(type=1)
    assert list(t3.index) == ["Days", "f", "D2"] and list(t1.index) == ["Days", "f", "D2"]
    assert t3.loc["D2"].isna().all()
    np.testing.assert_allclose(t3["F value"].iloc[:2], [163.6218, 0.3714], atol=5e-5)
    np.testing.assert_allclose(t1["F value"].iloc[:2], [168.0786, 0.3714], atol=5e-5)
    np.testing.assert_allclose(t3["DenDF"].iloc[:2], [159, 159], atol=1e-3)


def test_anova_table_prints_like_lmertest():
    import mixedmodels as mm

    m = mm.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", mm.load_dataset("cake"))
    # print(anova(m)) in R (lmerTest 3.1-3)
    expected = """Type III Analysis of Variance Table with Satterthwaite's method
             Sum Sq Mean Sq NumDF  DenDF F value Pr(>F)    
recipe         4.00    2.00     2 254.02  0.0957 0.9088    
temp        1966.71 1966.71     1 222.00 94.1632 <2e-16 ***
recipe:temp    1.74    0.87     2 222.00  0.0417 0.9592    
---
Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"""
    assert str(m.anova()).rstrip("\n") == expected
