"""Structured covariances of random-effects terms: diag(), homdiag(), cs(), homcs(), ar1(), us().

The fits are compared with glmmTMB 1.1.5 on the R-made cases in tests/reference_structured/ (a
copy of ../shared/reference-structured/, with its checker), and with the lme4 models they equal
(diag = ||, us = (x | g), homcs(0 + f | g) = (1 | g) + (1 | g:f), homdiag(0 + f | g) = (1 | g:f)).
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.core.gradient import gradient
from mixedmodels.core.layout import ThetaLayout
from mixedmodels.core.structures import Structure
from mixedmodels.errors import ArgumentError, DataError, FormulaError, MixedModelWarning

HERE = Path(__file__).resolve().parent / "reference_structured"
sys.path.insert(0, str(HERE))
from check_structured import Case, compare, load_data  # noqa: E402

CASES = sorted(p.stem for p in (HERE / "cases").glob("*.json"))


def _quiet(fun, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(*a, **k)


def _data(name):
    return load_data(HERE, name)


@pytest.mark.parametrize("name", CASES)
def test_matches_glmmtmb(name):
    """Objective within 1e-3 of glmmTMB's, fixed effects within 0.2% of their SE (GLMM 2%), SE's
    within 0.5%, every sd within 0.5% and every correlation within 0.01 (the checker's rules)."""
    ref = json.loads((HERE / "cases" / f"{name}.json").read_text())
    data = _data(ref["dataset"])
    if ref["kind"] == "glmm":
        m = _quiet(mm.glmer, ref["formula"], data, family=ref["family"])
    else:
        m = _quiet(mm.lmer, ref["formula"], data, REML=ref["REML"])
    c = Case(name)
    compare(c, m, ref)
    assert c.checks > 5
    assert not c.failures, c.failures


# ------------------------------------------------------------------ the maps theta -> T
@pytest.mark.parametrize("p", [2, 3, 5])
def test_templates_give_the_structures(p):
    rng = np.random.default_rng(p)
    d = rng.uniform(0.5, 2.0, p)
    i = np.arange(p)
    ar1 = Structure("ar1", p)
    th = np.array([1.3, ar1.r_of_rho(0.6)])
    T = ar1.template(th)
    assert np.allclose(np.triu(T, 1), 0)
    assert np.allclose(T @ T.T, 1.3 ** 2 * 0.6 ** np.abs(i[:, None] - i[None, :]))
    cs = Structure("cs", p)
    rho = -0.9 / (p - 1)                       # near cs's lower bound -1/(p-1)
    T = cs.template(np.append(d, cs.r_of_rho(rho)))
    R = np.full((p, p), rho) + (1 - rho) * np.eye(p)
    assert np.allclose(T @ T.T, d[:, None] * R * d[None, :])
    assert np.allclose(Structure("homcs", p).template(np.array([2.0, cs.r_of_rho(0.3)])) @
                       Structure("homcs", p).template(np.array([2.0, cs.r_of_rho(0.3)])).T,
                       4.0 * (np.full((p, p), 0.3) + 0.7 * np.eye(p)))
    assert np.allclose(Structure("diag", p).template(d), np.diag(d))
    assert np.allclose(Structure("homdiag", p).template(np.array([0.7])), 0.7 * np.eye(p))
    assert cs.r_of_rho(-1.0 / (p - 1)) is None and ar1.r_of_rho(1.0) is None


@pytest.mark.parametrize("name", ["cs", "homcs", "ar1", "diag", "toep"])
def test_jacobian_by_complex_step_matches_differences(name):
    s = Structure(name, 4)
    th = s.start() + np.linspace(0.2, 0.9, s.size)
    J = s.jacobian(th)
    h = 1e-6
    for j in range(s.size):
        e = np.zeros(s.size)
        e[j] = h
        fd = (s.lower_entries(th + e) - s.lower_entries(th - e)) / (2 * h)
        np.testing.assert_allclose(J[:, j], fd, atol=1e-7)


def test_toeplitz_from_partial_autocorrelations():
    """toep's correlations come from partial autocorrelations: any r gives a positive-definite
    Toeplitz correlation matrix, and the natural parameters (sd's, rho by lag) map back."""
    s = Structure("toep", 5)
    rng = np.random.default_rng(3)
    for _ in range(5):
        th = np.append(rng.uniform(0.5, 2, 5), rng.normal(scale=2, size=4))
        T = s.template(th)
        C = T @ T.T
        d = np.sqrt(np.diag(C))
        R = C / np.outer(d, d)
        for k in range(1, 5):
            assert np.allclose(np.diag(R, k), R[k, 0])
        assert np.all(np.linalg.eigvalsh(R) > 0)
        np.testing.assert_allclose(s.from_natural(s.natural(th, 1.5), 1.5), th, rtol=1e-9, atol=1e-9)
    assert s.from_natural(np.append(np.ones(5), [0.9, 0.1, 0.9, 0.1]), 1.0) is None


def test_toep_fits_between_ar1_and_unstructured():
    """Over Orthodont's four ages a Toeplitz covariance (7 parameters) nests AR(1) (2): its REML
    criterion is at or below AR(1)'s."""
    O = _data("Orthodont")
    toep = _quiet(mm.lmer, "distance ~ age + Sex + toep(0 + fage | Subject)", O)
    ar1 = _quiet(mm.lmer, "distance ~ age + Sex + ar1(0 + fage | Subject)", O)
    assert toep.core.layout.size == 7
    assert toep.reml_criterion <= ar1.reml_criterion + 1e-6
    from mixedmodels.inference.confint import sdcor_names

    assert sdcor_names(toep)[4:] == ["rho_lag1|Subject", "rho_lag2|Subject", "rho_lag3|Subject", "sigma"]


def test_natural_parameters_round_trip():
    lay = ThetaLayout([3, 1, 4], ["cs", "us", "ar1"])
    th = np.array([0.5, 1.2, 0.8, 0.3, 0.9, 1.1, -0.4])
    assert lay.size == 7 and lay.phi_size == 6 + 1 + 10
    from mixedmodels.inference.confint import sdcor_to_theta, theta_to_sdcor

    sd = theta_to_sdcor(lay, th, 2.0)
    np.testing.assert_allclose(sdcor_to_theta(lay, sd), th, rtol=1e-12)
    assert sd[3] == pytest.approx(lay.structures[0].rho(th[:4]))


# ------------------------------------------------------------------ the same models as lme4's
def test_structures_equal_the_lme4_models_they_are():
    M = _data("Machines")
    pairs = [("score ~ Machine + homcs(0 + Machine | Worker)", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"),
             ("score ~ Machine + homdiag(0 + Machine | Worker)", "score ~ Machine + (1 | Worker:Machine)")]
    for a, b in pairs:
        assert _quiet(mm.lmer, a, M).reml_criterion == pytest.approx(_quiet(mm.lmer, b, M).reml_criterion, abs=1e-6)
    s = mm.load_dataset("sleepstudy")
    for a, b in [("Reaction ~ Days + diag(Days | Subject)", "Reaction ~ Days + (Days || Subject)"),
                 ("Reaction ~ Days + us(Days | Subject)", "Reaction ~ Days + (Days | Subject)"),
                 ("Reaction ~ Days + cs(Days | Subject)", "Reaction ~ Days + (Days | Subject)")]:
        ma, mb = _quiet(mm.lmer, a, s), _quiet(mm.lmer, b, s)
        assert ma.reml_criterion == pytest.approx(mb.reml_criterion, abs=1e-6)
        np.testing.assert_allclose(ma.beta, mb.beta, rtol=1e-5)


def test_ar1_with_factor_in_the_formula_is_the_factor_column():
    s = mm.load_dataset("sleepstudy")
    a = _quiet(mm.lmer, "Reaction ~ Days + ar1(0 + factor(Days) | Subject)", s)
    b = _quiet(mm.lmer, "Reaction ~ Days + ar1(0 + fDays | Subject)", _data("sleepstudy"))
    assert a.reml_criterion == pytest.approx(b.reml_criterion, abs=1e-7)
    # nlme's gls with corExp(nugget = TRUE) over the days: the same model, -2 REML logLik 1734.18646794
    assert a.reml_criterion == pytest.approx(1734.18646794, abs=1e-5)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula", ["score ~ Machine + cs(0 + Machine | Worker)",
                                     "score ~ Machine + ar1(0 + Machine | Worker) + (1 | Worker)",
                                     "score ~ Machine + homcs(0 + Machine | Worker)",
                                     "score ~ Machine + diag(0 + Machine | Worker)"])
def test_exact_gradient_through_the_structures(formula, reml):
    m = _quiet(mm.lmer, formula, _data("Machines"), REML=reml)
    th = m.theta * 1.1 + 0.05
    g = gradient(m.core, th, reml)
    h = 1e-5
    fd = np.array([(m.core.objective(th + h * e, reml) - m.core.objective(th - h * e, reml)) / (2 * h)
                   for e in np.eye(th.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ what is printed and computed after
def test_summary_prints_a_common_correlation_as_glmmtmb():
    m = _quiet(mm.lmer, "Reaction ~ Days + ar1(0 + fDays | Subject)", _data("sleepstudy"))
    text = str(m.summary())
    assert " Subject  fDays0 2241.1   47.34    0.88 (ar1)" in text
    assert "fDays1" not in text.split("Random effects")[1].split("Number of obs")[0]
    m = _quiet(mm.lmer, "score ~ Machine + cs(0 + Machine | Worker)", _data("Machines"))
    lines = str(m.summary()).split("Random effects:\n")[1].splitlines()
    assert lines[1].startswith(" Worker   MachineA 16.929") and lines[1].rstrip().endswith("0.74 (cs)")
    assert lines[2].split()[:1] == ["MachineB"] and lines[3].split()[:1] == ["MachineC"]
    vc = m.varcorr
    is_corr = vc["var2"].map(lambda v: isinstance(v, str) and v != "")
    corr = vc[is_corr & (vc["grp"] == "Worker")]["sdcor"].to_numpy(dtype=float)
    assert corr.size == 3 and np.allclose(corr, corr[0])


def test_kenward_roger_where_the_structure_is_linear():
    s = _data("sleepstudy")
    a = _quiet(mm.lmer, "Reaction ~ Days + diag(Days | Subject)", s).coef_table(ddf="Kenward-Roger")
    b = _quiet(mm.lmer, "Reaction ~ Days + (Days || Subject)", s).coef_table(ddf="Kenward-Roger")
    np.testing.assert_allclose(a["df"], b["df"], rtol=1e-6)
    M = _data("Machines")
    a = _quiet(mm.lmer, "score ~ Machine + homcs(0 + Machine | Worker)", M).coef_table(ddf="Kenward-Roger")
    b = _quiet(mm.lmer, "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", M).coef_table(ddf="Kenward-Roger")
    np.testing.assert_allclose(a["df"], b["df"], rtol=1e-4)
    m = _quiet(mm.lmer, "Reaction ~ Days + ar1(0 + fDays | Subject)", s)
    with pytest.raises(ArgumentError, match="Satterthwaite"):
        m.coef_table(ddf="Kenward-Roger")


def test_profile_interval_for_rho_and_save_load(tmp_path):
    m = _quiet(mm.lmer, "Reaction ~ Days + ar1(0 + fDays | Subject)", _data("sleepstudy"))
    ci = _quiet(m.confint, method="profile")
    lo, hi = ci.loc["rho_ar1|Subject"]
    rho = m.core.layout.structures[0].rho(m.theta)
    assert -1 < lo < rho < hi < 1
    assert ci.loc["sd_fDays0|Subject"].iloc[0] < 47.34 < ci.loc["sd_fDays0|Subject"].iloc[1]
    path = tmp_path / "ar1.mmfit"
    m.save(path)
    back = mm.load_result(path)
    np.testing.assert_allclose(back.theta, m.theta)
    assert back.reml_criterion == pytest.approx(m.reml_criterion, abs=1e-9)
    sim = m.simulate(3, seed=1)
    assert sim.shape == (180, 3) and np.all(np.isfinite(sim.to_numpy()))


def test_several_optima_are_warned_about():
    """Orthodont's ar1 model has a second optimum with sigma near 0 (9.05 higher): the fit ends at
    the lower one from the default start, and says that another exists."""
    with pytest.warns(MixedModelWarning, match="more than one local optimum"):
        m = mm.lmer("distance ~ age + Sex + ar1(0 + fage | Subject)", _data("Orthodont"))
    assert m.reml_criterion == pytest.approx(436.394486857, abs=1e-4)


def test_glmer_laplace_at_the_mode():
    """With one random effect per observation lme4's last-step factor moves the Laplace deviance by
    7.7e-3 (epil's ar1 model); at the mode it is glmmTMB's. control={'laplace': 'lme4'} keeps lme4's."""
    ref = json.loads((HERE / "cases" / "epil_ar1_poisson.json").read_text())
    data = _data("epil")
    m = _quiet(mm.glmer, ref["formula"], data, family="poisson")
    lme4 = _quiet(mm.glmer, ref["formula"], data, family="poisson", control={"laplace": "lme4"})
    assert -2 * m.loglik == pytest.approx(ref["objective"], abs=1e-4)
    assert -2 * lme4.loglik > ref["objective"] + 1e-3
    with pytest.raises(ArgumentError, match="laplace"):
        mm.glmer(ref["formula"], data, family="poisson", control={"laplace": "exact"})


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize("formula, error, match", [
    ("Reaction ~ Days + ar1(Days | Subject)", FormulaError, "indicator columns of one factor"),
    ("Reaction ~ Days + ar1(0 + Days | Subject)", FormulaError, "indicator columns of one factor"),
    ("Reaction ~ Days + diag(Days)", FormulaError, "wraps a random-effects term"),
    ("Reaction ~ Days + diag(Days || Subject)", FormulaError, "'\\|\\|' inside diag"),
    ("Reaction ~ log(ar1(Days)) + (1 | Subject)", FormulaError, "not a function a formula may call"),
    ("Reaction ~ Days + ar1(0 + factor(Gap) | Subject)", DataError, "not evenly spaced"),
    ("Reaction ~ Days + ar1(0 + label | Subject)", DataError, "no stated order"),
])
def test_structures_refuse_what_they_do_not_fit(formula, error, match):
    s = mm.load_dataset("sleepstudy").copy()
    s["Gap"] = s["Days"].where(s["Days"] < 5, s["Days"] + 3)
    s["label"] = "day" + s["Days"].astype(str)
    with pytest.raises(error, match=match):
        mm.lmer(formula, s)


def test_ranova_keeps_the_structures():
    s = _data("sleepstudy")
    tab = _quiet(mm.lmer, "Reaction ~ Days + diag(Days | Subject)", s).ranova()
    assert list(tab.index) == ["<none>", "Days in diag(Days | Subject)"]
    assert "Reaction ~ Days + diag(Days | Subject)" in str(tab)
    assert tab["npar"].tolist() == [5, 4]
    # the reduced model is (1 | Subject): its REML log-likelihood
    ll = _quiet(mm.lmer, "Reaction ~ Days + (1 | Subject)", s).loglik
    assert tab["logLik"].iloc[1] == pytest.approx(ll, abs=1e-6)


EXTRA = [json.loads(line) for line in (HERE / "extra_cases.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", EXTRA, ids=[c["name"] for c in EXTRA])
def test_more_structures_against_glmmtmb(case):
    """ML fits, toep, cs on more data, binomial and Poisson cs/ar1/toep (made here with glmmTMB
    1.1.5, tests/reference_structured/make_extra.py): the objective never more than 1e-3 above
    glmmTMB's best start (or nlme's where every glmmTMB start fails), fixed effects within 0.2% of
    their SE (GLMM 2%), sd's within 0.5%, correlations within 0.01."""
    data = _data(case["dataset"])
    if case["family"] == "gaussian":
        m = _quiet(mm.lmer, case["formula"], data, REML=case["REML"])
        obj = m.reml_criterion if case["REML"] else m.deviance
        sigma = m.sigma
    else:
        m = _quiet(mm.glmer, case["formula"], data, family=case["family"])
        obj, sigma = -2 * m.loglik, 1.0
    assert obj <= case["objective"] + 1e-3
    assert obj >= case["objective"] - 1e-3
    if case.get("glmmTMB_failed"):
        return
    tol = 0.002 if case["family"] == "gaussian" else 0.02
    est, se = np.array(case["estimate"]), np.array(case["se"])
    assert list(m.coef_table().index) == case["names"]
    assert np.all(np.abs(m.coef_table()["Estimate"].to_numpy() - est) <= tol * se)
    T = m.templates[0]
    C = sigma ** 2 * T @ T.T
    sd = np.sqrt(np.diag(C))
    np.testing.assert_allclose(sd, case["sd"], rtol=0.005)
    corr = C / np.outer(sd, sd)
    np.testing.assert_allclose(corr, np.array(case["corr"]).reshape(corr.shape), atol=0.01)


def test_glmer_with_a_structure_saves_and_loads(tmp_path):
    ref = json.loads((HERE / "cases" / "epil_ar1_poisson.json").read_text())
    m = _quiet(mm.glmer, ref["formula"], _data("epil"), family="poisson")
    back = mm.load_result(m.save(tmp_path / "epil.mmfit"))
    assert back.loglik == pytest.approx(m.loglik, abs=1e-10)
    np.testing.assert_allclose(back.beta, m.beta)
    assert str(back.summary()) == str(m.summary())


def test_unused_levels_are_dropped_and_a_gap_in_ar1_is_said():
    """As R's model frame and glmmTMB: a factor's unused levels give no column of Z. For ar1 a level
    missing between used ones makes its neighbours one step apart, and the fit says so. glmmTMB
    1.1.5 on sleepstudy without day 5 (levels 0..10): a 9 x 9 covariance and -2 REML logLik
    1565.115 (the best of its default and residual-variance starts)."""
    import pandas as pd

    s = mm.load_dataset("sleepstudy")
    s["fD"] = pd.Categorical(s["Days"].astype(str), categories=[str(i) for i in range(11)])
    m = _quiet(mm.lmer, "Reaction ~ Days + ar1(0 + fD | Subject)", s)
    assert len(m.terms[0].cnames) == 10 and m.reml_criterion == pytest.approx(1734.18646794, abs=1e-5)
    gap = s[s["Days"] != 5]
    with pytest.warns(mm.errors.DataWarning, match=r"level\(s\) \['5'\] have no rows"):
        m2 = mm.lmer("Reaction ~ Days + ar1(0 + fD | Subject)", gap)
    assert "fD5" not in m2.terms[0].cnames and len(m2.terms[0].cnames) == 9
    assert m2.reml_criterion == pytest.approx(1565.115, abs=2e-3)
    M = _data("Machines")
    M["Machine"] = M["Machine"].cat.add_categories(["D"])
    us = _quiet(mm.lmer, "score ~ Machine + (0 + Machine | Worker)", M)
    assert us.terms[0].cnames == ["MachineA", "MachineB", "MachineC"]


def test_glmer_ar1_at_its_bound_is_the_random_intercept_model():
    """Simulated Poisson counts with one random intercept per group: an ar1() over the periods has
    its optimum at rho = 1, where it is (1 | g). The fit reaches that bound (stage 2 alone stopped
    1.4e-4 above), and its standard errors are the random-intercept model's (the flat direction of
    rho left out of the Hessian)."""
    import pandas as pd

    rng = np.random.default_rng(7)
    G, P = 40, 4
    g = np.repeat(np.arange(G), P)
    b = rng.normal(0, 0.7, G)
    x = rng.normal(size=G * P)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + b[g]))
    d = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g],
                      "f": pd.Categorical([str(p) for p in np.tile(np.arange(P), G)])})
    ri = _quiet(mm.glmer, "y ~ x + (1 | g)", d, family="poisson", control={"laplace": "mode"})
    ar = _quiet(mm.glmer, "y ~ x + ar1(0 + f | g)", d, family="poisson")
    assert -2 * ar.loglik <= -2 * ri.loglik + 1e-6
    assert ar.model.layout.structures[0].rho(ar.theta) == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_allclose(ar.vcov.to_numpy(), ri.vcov.to_numpy(), rtol=1e-3)
    np.testing.assert_allclose(ar.beta, ri.beta, rtol=1e-4)
