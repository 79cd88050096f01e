"""glmer() and glmer_nb() against lme4: the R-made reference cases, R-made fixtures
(tests/fixtures_glmm/expected.json, made by tests/fixtures_glmm/make_fixtures.R) and properties.

The reference cases are checked with refcheck's tolerances, plus the layout of the printed summary
(every line of R's text with the numbers masked) and most of its numbers. Cases fitted with the
exact lme4 algorithm (the same deviance function, Nelder-Mead iterates and Hessian) agree with R to
many digits; where R's Nelder-Mead wanders for hundreds of steps (grouseticks) the printed
6-digit estimates are optimizer noise (R itself, fitted to the shipped CSV, prints other digits).
"""
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
import refcheck
from conftest import EXTRA, REF
from mixedmodels import families as F
from mixedmodels.errors import ArgumentError, ConvergenceWarning, DataError, FamilyError, SingularFitWarning
from mixedmodels.fit.glmer import deriv12, glmer
from mixedmodels.fit.glmer_nb import glmer_nb, r_optimize, theta_ml
from mixedmodels.results.glmer import GlmerResult
from mixedmodels.core.lmm import LmmCore
from mixedmodels.core.layout import ThetaLayout
from mixedmodels.core.pls_blocked import BlockedPLS
from mixedmodels.core.pls_dense import DensePLS
from mixedmodels.core.reweight import ReweightCore, for_reweighting, reweight_kind
from mixedmodels.glmm.pirls import gh_rule

HERE = Path(__file__).parent
EXPECTED = json.loads((HERE / "fixtures_glmm" / "expected.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
# lme4's own optimizer pair: where a test compares values that R computes at its estimates to
# 1e-5 or closer (residuals, hat values, emmeans), the fit must stop where lme4's stops; the
# default (NLopt and a Newton polish) ends at the optimum, 1e-5 away in the estimates
LME4_PATH = {"optimizer": ("bobyqa", "nelder_mead")}


def _glmm_cases():
    out = []
    for root in (REF, EXTRA):
        for f in sorted((root / "cases").glob("*.json")):
            ref = json.loads(f.read_text())
            if ref["kind"] == "glmm":
                out.append(pytest.param(root, ref, id=ref["name"]))
    return out


def _fit_case(root, ref):
    data = refcheck.load_data(root, ref["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ref["family"] == "negative.binomial":
            return glmer_nb(ref["formula"], data, data_name=ref["dataset"]), data
        fam = type(F.get_family(ref["family"]))(link=ref.get("link"))
        kw = {"weights": ref["weights"]} if ref.get("weights") else {}
        return glmer(ref["formula"], data, family=fam, nAGQ=ref["nAGQ"], data_name=ref["dataset"], **kw), data


_FITS: dict = {}


def _cached(root, ref):
    key = (str(root), ref["name"])
    if key not in _FITS:
        _FITS[key] = _fit_case(root, ref)
    return _FITS[key]


_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _r_summary_where_r_stopped_early(m, ref):
    """R's summary, where R's Nelder-Mead stopped with a gradient warning and our fit ended at a
    criterion as low or lower without one, less that warning and with our optimizer's name: those
    describe R's stopping point, which our default optimizer does not share."""
    text = ref["summary_text"]
    if "Model failed to converge" not in text or any("failed to converge" in x for x in m.messages):
        return text
    assert m.loglik >= ref["logLik"] - 1e-6, "our fit converged, but R's, which did not, is higher"
    keep = [x.replace("optimizer (Nelder_Mead)", f"optimizer ({m.optinfo.optimizer})")
            for x in text.splitlines() if not x.startswith("Model failed to converge")]
    return "\n".join(keep) + ("\n" if text.endswith("\n") else "")


@pytest.mark.parametrize("root, ref", _glmm_cases())
def test_reference_case(root, ref):
    m, data = _cached(root, ref)
    c = refcheck.Case(ref["name"])
    c.close("nobs", m.nobs, ref["nobs"], atol=0)
    ll = m.loglik
    c.check("logLik", ref["logLik"] - 2e-3 <= ll <= ref["logLik"] + 0.05, f"ours={ll} R={ref['logLik']}")
    c.close("AIC", m.aic, ref["AIC"], atol=0.1)
    c.close("BIC", m.bic, ref["BIC"], atol=0.1)
    c.close("deviance", m.deviance, ref["deviance"], atol=0.1)
    c.close("df", m.npar, ref["df"], atol=0)
    c.close("sigma", m.sigma, ref.get("sigma", 1.0), rtol=2e-3)
    c.check("singular", m.is_singular == ref["singular"], f"ours={m.is_singular}")
    for g, k in ref["ngrps"].items():
        c.close(f"ngroups[{g}]", m.ngroups.get(g), k, atol=0)
    refcheck.check_common_fixef(c, m, ref, "z")
    vc = np.asarray(ref["vcov"], dtype=float).reshape(len(m.beta), -1)
    c.check("vcov", np.allclose(m.vcov.to_numpy(), vc, rtol=2e-2, atol=1e-6 * np.abs(vc).max()), "vcov differs")
    refcheck.check_varcorr(c, m, ref, rtol=2e-2)
    refcheck.check_ranef(c, m, ref, tol_sd=0.05)
    c.check("fitted", np.allclose(m.fitted.to_numpy()[:10], ref["fitted_head"], rtol=2e-3, atol=1e-6), "fitted differ")
    text = str(m.summary())
    r_text = _r_summary_where_r_stopped_early(m, ref)
    # R's printed numbers, line by line, within 1e-3 relative or 2 units of the last printed digit
    # (refcheck's glmer rule: R itself does not repeat its last digits across machines)
    lines, share, diffs = refcheck.summary_agreement(text, r_text, rtol=1e-3)
    c.check("summary lines found", lines >= 0.99, f"{lines:.0%} of R's lines; e.g. {diffs[:6]}")
    c.check("summary numbers", share >= 0.97, f"{share:.0%}; e.g. {diffs[:8]}")
    ours, theirs = text.splitlines(), r_text.splitlines()
    c.check("summary lines", len(ours) == len(theirs), f"{len(ours)} lines vs R's {len(theirs)}")
    if len(ours) == len(theirs):
        skel = [i for i, (a, b) in enumerate(zip(ours, theirs)) if _NUM.sub("#", a) != _NUM.sub("#", b)]
        # "Data:" differs where R's data object name is not the data set's
        skel = [i for i in skel if not theirs[i].startswith("   Data:")]
        c.check("summary layout", not skel, f"lines differ: {[(theirs[i], ours[i]) for i in skel[:3]]}")
    assert not c.failures, "\n".join(c.failures)


@pytest.mark.parametrize("name", ["cbpp_binomial", "cbpp_binomial_agq9", "cbpp_binomial_nagq0", "cbpp_probit",
                                  "gamma_log", "poisson_offset_exposure", "psycholing_bernoulli_crossed",
                                  "psycholing_bernoulli_slope", "cbpp_observation_level"])
def test_lme4_iterates(name):
    """Where the fit follows lme4's algorithm step by step, logLik agrees to 1e-6 and the estimates
    to 1e-4 of their standard errors."""
    root = REF if (REF / "cases" / f"{name}.json").exists() else EXTRA
    ref = json.loads((root / "cases" / f"{name}.json").read_text())
    m, _ = _cached(root, ref)
    assert m.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    se = np.asarray(ref["fixef"]["se"], dtype=float)
    assert np.all(np.abs(m.beta - np.asarray(ref["fixef"]["estimate"])) <= 1e-3 * se)
    assert np.allclose(np.sqrt(np.diag(m.vcov.to_numpy())), se, rtol=1e-4)


# ------------------------------------------------------------------------------------ the pieces


@pytest.fixture(scope="module")
def cbpp():
    return mm.load_dataset("cbpp")


@pytest.fixture(scope="module")
def cbpp_fit(cbpp):
    return glmer(CBPP, cbpp, family="binomial", control=LME4_PATH)


@pytest.fixture(scope="module")
def psycholing():
    return refcheck.load_data(EXTRA, "psycholing")


@pytest.fixture(scope="module")
def counts():
    return refcheck.load_data(EXTRA, "counts")


def test_public_api(cbpp_fit):
    m = cbpp_fit
    assert mm.glmer is glmer
    assert isinstance(m, GlmerResult)
    assert m.nobs == 56 and m.ngroups == {"herd": 15}
    assert list(m.fixef.index) == ["(Intercept)", "period2", "period3", "period4"]
    assert m.sigma == 1.0 and m.npar == 5 and m.df_resid == 51
    assert m.reml is False and m.reml_criterion is None
    assert m.refit(REML=False) is m
    with pytest.raises(ArgumentError):
        m.refit(REML=True)
    assert list(m.varcorr.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    assert list(m.varcorr["grp"]) == ["herd"]          # no Residual row for the binomial
    assert list(m.coef_table().columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    assert m.aic == pytest.approx(-2 * m.loglik + 2 * m.npar)
    assert m.bic == pytest.approx(-2 * m.loglik + math.log(56) * m.npar)
    assert "GlmerResult" in repr(m)
    assert set(m.ranef()) == {"herd"}
    assert list(m.ranef_table().columns) == ["grpvar", "term", "grp", "condval", "condsd"]


def test_residuals_fitted_predict(cbpp, cbpp_fit):
    e = EXPECTED["cbpp"]
    m = cbpp_fit
    for kind in ("deviance", "pearson", "response", "working"):
        assert np.allclose(m.resid(kind), e["residuals"][kind], rtol=1e-5, atol=1e-7), kind
    assert np.allclose(m.resid(), e["residuals"]["deviance"], rtol=1e-5, atol=1e-7)
    assert np.allclose(m.residuals, e["residuals"]["response"], rtol=1e-5, atol=1e-7)
    assert np.allclose(m.fitted, e["fitted"], rtol=1e-6)
    assert np.allclose(m.weights, e["weights"])
    assert np.allclose(m.predict(), e["predict_fit_link"], rtol=1e-6)
    assert np.allclose(m.predict(type="response"), e["predict_fit_response"], rtol=1e-6)
    nd = cbpp.iloc[[0, 1, 4, 8, 19, 32]]
    assert np.allclose(m.predict(nd), e["predict_link"], rtol=1e-6)
    assert np.allclose(m.predict(nd, type="response"), e["predict_response"], rtol=1e-6)
    assert np.allclose(m.predict(nd, re_form="~0"), e["predict_pop"], rtol=1e-6)
    nd_new = pd.DataFrame({"herd": ["1", "16"], "period": pd.Categorical(["2", "3"], categories=["1", "2", "3", "4"])})
    assert np.allclose(m.predict(nd_new, type="response", allow_new_levels=True), e["predict_new_level"], rtol=1e-6)
    with pytest.raises(DataError):
        m.predict(nd_new)
    with pytest.raises(ArgumentError):
        m.resid("partial")
    with pytest.raises(ArgumentError):
        m.predict(type="mean")


def test_confint_wald(cbpp_fit):
    e = EXPECTED["cbpp"]
    ci = cbpp_fit.confint(method="Wald")
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert list(ci.index) == e["confint_wald"]["names"]
    assert np.allclose(ci.iloc[:, 0], e["confint_wald"]["lower"], rtol=1e-5)
    assert np.allclose(ci.iloc[:, 1], e["confint_wald"]["upper"], rtol=1e-5)
    ci90 = cbpp_fit.confint(method="Wald", level=0.9)
    assert list(ci90.columns) == ["5 %", "95 %"]
    assert np.allclose(ci90.to_numpy(), np.asarray(e["confint_wald90"]), rtol=1e-5)
    with pytest.raises(ArgumentError):
        cbpp_fit.confint(method="likelihood")


def test_anova_between_glmer_fits(cbpp, cbpp_fit):
    e = EXPECTED["cbpp"]["anova"]
    g0 = glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    tab = mm.anova(g0, cbpp_fit)
    for col, key in [("npar", "npar"), ("AIC", "AIC"), ("BIC", "BIC"), ("logLik", "logLik"),
                     ("deviance", "deviance")]:
        assert np.allclose(tab[col].to_numpy(dtype=float), e[key], atol=2e-3), col
    assert tab["Chisq"].iloc[1] == pytest.approx(e["Chisq"][1], abs=5e-3)
    assert tab["Df"].iloc[1] == e["Df"][1]
    assert tab["Pr(>Chisq)"].iloc[1] == pytest.approx(e["p"][1], rel=1e-3)


def test_response_encodings_give_one_fit(psycholing):
    e = EXPECTED["bernoulli"]
    d = psycholing.copy()
    d["acc_lgl"] = d["acc"] == 1
    d["acc_fac"] = pd.Categorical(np.where(d["acc"] == 1, "correct", "wrong"), categories=["wrong", "correct"])
    d["acc_str"] = np.where(d["acc"] == 1, "yes", "no")       # levels sorted: "no" is the failure
    fits = [glmer(f"{y} ~ cond + (1 | subj) + (1 | item)", d, family="binomial")
            for y in ("acc", "acc_lgl", "acc_fac", "acc_str")]
    for m in fits:
        assert m.loglik == pytest.approx(e["logLik"], abs=1e-6)
        assert np.allclose(m.beta, e["fixef"], atol=1e-4)
        assert np.allclose(m.theta, e["theta"], atol=1e-4)
    m0 = glmer("acc ~ cond + (1 | subj) + (1 | item)", d, family="binomial", nAGQ=0)
    assert m0.loglik == pytest.approx(e["nAGQ0_logLik"], abs=1e-6)
    mc = glmer("acc ~ cond + (1 | subj) + (1 | item)", d, family=F.Binomial(link="cloglog"))
    assert mc.loglik == pytest.approx(e["cloglog_logLik"], abs=2e-4)
    assert np.allclose(mc.beta, e["cloglog_fixef"], atol=2e-3)


def test_cbind_equals_proportions_with_weights(cbpp, cbpp_fit):
    d = cbpp.copy()
    d["prop"] = d["incidence"] / d["size"]
    m = glmer("prop ~ period + (1 | herd)", d, family="binomial", weights="size")
    m2 = glmer("prop ~ period + (1 | herd)", d, family="binomial", weights=d["size"].to_numpy())
    for x in (m, m2):
        assert x.loglik == pytest.approx(cbpp_fit.loglik, abs=1e-8)
        assert np.allclose(x.beta, cbpp_fit.beta, atol=1e-7)
    assert "Weights: size" in str(m.summary())


def test_offset_argument_equals_formula_offset(counts):
    e = EXPECTED["poisson_offset_arg"]
    m = glmer("count ~ x + (1 | g)", counts, family="poisson", offset=np.log(counts["exposure"]))
    assert m.loglik == pytest.approx(e["logLik"], abs=1e-6)
    assert np.allclose(m.beta, e["fixef"], atol=1e-5)
    m2 = glmer("count ~ x + offset(log(exposure)) + (1 | g)", counts, family="poisson")
    assert m2.loglik == pytest.approx(m.loglik, abs=1e-9)


@pytest.mark.parametrize("key, family", [("gamma_inverse", "Gamma"),
                                         ("inverse_gaussian_log", F.InverseGaussian(link="log"))])
def test_families_with_a_scale(counts, key, family):
    e = EXPECTED[key]
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        m = glmer("gy ~ x + (1 | g)", counts, family=family)
    assert m.loglik == pytest.approx(e["logLik"], abs=1e-6)
    assert np.allclose(m.beta, e["fixef"], atol=1e-6)
    assert m.sigma == pytest.approx(e["sigma"], rel=1e-5)
    assert np.allclose(np.sqrt(np.diag(m.vcov.to_numpy())), e["se"], rtol=1e-4)
    assert m.varcorr["grp"].iloc[-1] == "Residual"
    assert "t value" in str(m.summary())
    if key == "inverse_gaussian_log":  # lme4 warns: max|grad| = 0.0295047
        assert any(issubclass(w.category, ConvergenceWarning) and "0.0295047" in str(w.message) for w in wl)


def test_agq_poisson(counts):
    e = EXPECTED["poisson_agq5"]
    m = glmer("count ~ x + offset(log(exposure)) + (1 | g)", counts, family="poisson", nAGQ=5)
    assert m.loglik == pytest.approx(e["logLik"], abs=1e-6)
    assert np.allclose(m.beta, e["fixef"], atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(m.vcov.to_numpy())), e["se"], rtol=1e-4)
    assert "nAGQ = 5" in str(m.summary())


def test_agq_is_the_integral(cbpp):
    """With many nodes, adaptive quadrature equals the integral over each herd's random effect
    (computed here by brute force): -2 sum_j log int exp(-sum_i devres_i(u) / 2) phi(u) du."""
    from scipy import integrate

    m = glmer(CBPP, cbpp, family="binomial", nAGQ=0)
    model = m.model
    theta, beta = m.theta, m.beta
    r = model.pirls(theta, beta=beta, eta_start=m.pirls.eta)
    agq = model.agq(r, gh_rule(25))
    t = model.terms[0]
    base = model.offset + model.X @ beta
    total = 0.0
    for j in range(t.nlev):
        rows = t.codes == j

        def f(u, rows=rows):
            mu = model.family.linkinv(base[rows] + theta[0] * u)
            dr = model.family.dev_resids(model.y[rows], mu, model.pw[rows])
            return math.exp(-0.5 * dr.sum()) * math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)

        val, _ = integrate.quad(f, -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200)
        total += -2.0 * math.log(val)
    assert agq == pytest.approx(total, abs=1e-6)


def test_gh_rule():
    for k in (1, 2, 5, 9, 20):
        z, w, ldn = gh_rule(k).T
        assert w.sum() == pytest.approx(1.0)
        assert (w * z).sum() == pytest.approx(0.0, abs=1e-12)
        if k >= 2:
            assert (w * z * z).sum() == pytest.approx(1.0)          # the N(0, 1) variance
        if k >= 3:
            assert (w * z ** 4).sum() == pytest.approx(3.0)
        assert np.allclose(ldn, -0.5 * z * z - 0.5 * math.log(2 * math.pi))
    assert gh_rule(9)[4, 0] == 0.0


def test_negative_binomial(counts):
    ref = json.loads((EXTRA / "cases" / "negbin_counts.json").read_text())
    m, _ = _cached(EXTRA, ref)
    assert m.nb_theta == pytest.approx(ref["theta_nb"], rel=1e-6)
    assert isinstance(m.family, F.NegativeBinomial)
    assert m.family.name == ref["family_r"]
    assert m.npar == ref["df"]
    # a fixed theta through glmer(): the family object
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g = glmer("nbcount ~ x + (1 | g)", counts, family=F.NegativeBinomial(theta=m.nb_theta))
    assert g.loglik == pytest.approx(m.loglik, abs=1e-3)
    with pytest.raises(FamilyError):
        glmer("nbcount ~ x + (1 | g)", counts, family="negative_binomial")


def test_theta_ml_and_brent():
    rng = np.random.default_rng(3)
    mu = rng.uniform(1, 8, 4000)
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu))
    assert theta_ml(y, mu, limit=30) == pytest.approx(2.0, rel=0.1)
    x, fx = r_optimize(lambda v: (v - 1.234) ** 2 + 3.0, -5.0, 5.0, 1e-8)
    assert x == pytest.approx(1.234, abs=1e-7) and fx == pytest.approx(3.0)


def test_deriv12_on_a_quadratic():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    g, H = deriv12(lambda x: float(x @ A @ x / 2 + x[0]), np.array([0.5, -1.0]))
    assert np.allclose(H, A, atol=1e-6)
    assert np.allclose(g, A @ np.array([0.5, -1.0]) + [1.0, 0.0], atol=1e-6)


def test_singular_fit(tmp_path):
    e = EXPECTED["singular"]
    d = pd.read_csv(HERE / "fixtures_glmm" / "singular.csv")
    with pytest.warns(SingularFitWarning):
        m = glmer("y ~ x + (1 | g)", d, family="binomial", data_name="sg", control=LME4_PATH)
    assert m.is_singular and e["singular"]
    assert m.theta[0] == 0.0 == e["theta"]
    assert m.loglik == pytest.approx(e["logLik"], abs=1e-6)
    assert np.allclose(m.beta, e["fixef"], atol=1e-5)
    assert np.allclose(np.sqrt(np.diag(m.vcov.to_numpy())), e["se"], rtol=1e-4)
    assert m.messages[-1] == "boundary (singular) fit: see help('isSingular')"
    assert str(m.summary()) == e["summary_text"]


def test_gaussian_identity_is_lmer(cbpp):
    d = cbpp.assign(y=cbpp["incidence"] / cbpp["size"])
    with pytest.warns(DeprecationWarning):
        m = glmer("y ~ period + (1 | herd)", d, family="gaussian")
    assert type(m).__name__ == "LmerResult"


# ------------------------------------------------------------------------------------ errors


def test_response_errors(cbpp, counts, psycholing):
    d = cbpp.copy()
    d["neg"] = -d["incidence"]
    with pytest.raises(FamilyError, match="negative values"):
        glmer("neg ~ period + (1 | herd)", d, family="poisson")
    d["prop"] = d["incidence"] / d["size"] * 3
    with pytest.raises(FamilyError, match="outside"):
        glmer("prop ~ period + (1 | herd)", d, family="binomial")
    d["three"] = pd.Categorical(np.resize(["a", "b", "c"], len(d)))
    with pytest.raises(FamilyError, match="3 levels"):
        glmer("three ~ period + (1 | herd)", d, family="binomial")
    with pytest.raises(FamilyError, match="cbind"):
        glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="poisson")
    with pytest.raises(FamilyError, match="numeric"):
        glmer("herd ~ period + (1 | herd)", d, family="poisson")
    with pytest.raises(FamilyError, match="non-positive"):
        glmer("x ~ 1 + (1 | g)", counts, family="Gamma")
    d["zero"] = 0
    with pytest.raises(DataError, match="constant"):
        glmer("zero ~ period + (1 | herd)", d, family="poisson")
    with pytest.raises(FamilyError, match="unknown family"):
        glmer(CBPP, cbpp, family="binomal")
    with pytest.raises(FamilyError, match="link"):
        glmer(CBPP, cbpp, family=F.Binomial(link="sqrt"))


def test_argument_errors(cbpp, psycholing):
    with pytest.raises(ArgumentError, match="single, scalar"):
        glmer("acc ~ cond + (1 | subj) + (1 | item)", psycholing, family="binomial", nAGQ=3)
    with pytest.raises(ArgumentError, match="nAGQ"):
        glmer(CBPP, cbpp, nAGQ=1.5)
    with pytest.raises(ArgumentError, match="nAGQ"):
        glmer(CBPP, cbpp, nAGQ=30)
    with pytest.raises(ArgumentError, match="control"):
        glmer(CBPP, cbpp, control={"tolerance": 1})
    with pytest.raises(DataError, match="weights"):
        glmer(CBPP, cbpp, weights="nope")


def test_levels_as_many_as_observations_allowed(psycholing):
    # glmer (unlike lmer) allows a grouping factor with one level per observation
    d = psycholing.iloc[:200].copy()
    d["obs"] = np.arange(len(d)).astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        m = glmer("acc ~ cond + (1 | obs) + (1 | subj)", d, family="binomial")
    assert m.ngroups["obs"] == 200


def test_no_fixed_effects(cbpp):
    m = glmer("cbind(incidence, size - incidence) ~ 0 + (1 | herd)", cbpp, family="binomial")
    assert len(m.beta) == 0 and m.vcov.shape == (0, 0)
    assert np.isfinite(m.loglik)
    str(m.summary())


def test_control_options(cbpp, cbpp_fit):
    m = glmer(CBPP, cbpp, control={"optimizer": "bobyqa"})           # BOBYQA in both stages
    assert m.loglik >= cbpp_fit.loglik - 1e-4
    m = glmer(CBPP, cbpp, control={"calc_derivs": False})            # vcov from R_X, as lme4
    assert m.hessian is None
    assert np.all(np.isfinite(m.vcov.to_numpy()))
    m = glmer(CBPP, cbpp, control={"nAGQ0initStep": False})
    assert m.loglik == pytest.approx(cbpp_fit.loglik, abs=1e-3)


def test_rows_permuted_give_the_same_fit(psycholing):
    d = psycholing.sample(frac=1.0, random_state=7)
    m1 = glmer("acc ~ cond + (1 | subj) + (1 | item)", psycholing, family="binomial", nAGQ=0)
    m2 = glmer("acc ~ cond + (1 | subj) + (1 | item)", d, family="binomial", nAGQ=0)
    assert m1.loglik == pytest.approx(m2.loglik, abs=1e-7)
    assert np.allclose(m1.beta, m2.beta, atol=1e-5)


# ------------------------------------------------------------------------------------ PIRLS internals


def _design(ds, formula, root=None):
    from mixedmodels.design.fixed import fixed_design
    from mixedmodels.design.frame import model_frame
    from mixedmodels.design.random import random_terms
    from mixedmodels.formula.parse import parse_formula

    d = mm.load_dataset(ds) if root is None else refcheck.load_data(root, ds)
    p = parse_formula(formula)
    fr = model_frame(p, d)
    return random_terms(p, fr), fixed_design(p, fr).X


DESIGNS = [("cbpp", "incidence ~ period + (1 | herd)", None),
           ("sleepstudy", "Reaction ~ Days + (Days | Subject)", None),
           ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),
           ("Pastes", "strength ~ (1 | batch/cask)", None),
           ("grouseticks", "TICKS ~ YEAR + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", None),
           ("psycholing", "acc ~ cond + freq + (1 + cond | subj) + (1 + cond | item)", EXTRA)]


def _same_as_lmmcore(kind, terms, X, method="auto", seed=12345):
    """The core's reweighted system of this kind against a freshly built LmmCore (random weights and
    response, and a theta with every entry nonzero): factor pieces, solution, (R_X'R_X)^-1."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    w, y = rng.uniform(0.2, 2.0, n), rng.normal(size=n)
    c1 = (ReweightCore(terms, X, method=method) if kind == "core" else for_reweighting(terms, X, kind)).reweight(w, y)
    c2 = LmmCore(terms, X, y, weights=w, method=method)
    lay = ThetaLayout([t.p for t in terms])
    th = np.where(lay.is_diagonal(), 0.8, 0.15)
    th[0] = 1.3
    f1, f2 = c1.factor(th), c2.factor(th)
    assert f1 is not None and f2 is not None
    for a in ("ldL2", "ldRX2", "r2"):
        assert getattr(f1, a) == pytest.approx(getattr(f2, a), rel=1e-9, abs=1e-12), a
    (b1, u1), (b2, u2) = c1.solve(f1), c2.solve(f2)
    assert np.allclose(b1, b2, rtol=1e-7, atol=1e-9)
    assert all(np.allclose(a, b, rtol=1e-7, atol=1e-9) for a, b in zip(u1, u2))
    if X.shape[1]:
        assert np.allclose(c1.rx_inverse(f1), c2.rx_inverse(f2), rtol=1e-7, atol=1e-12)
    # a new response under the same weights: the same system as reweighting with it
    y2 = rng.normal(size=n)
    c1.set_response(y2)
    c3 = LmmCore(terms, X, y2, weights=w, method=method)
    f1, f3 = c1.factor(th), c3.factor(th)
    assert f1.r2 == pytest.approx(f3.r2, rel=1e-9)
    assert np.allclose(c1.solve(f1)[0], c3.solve(f3)[0], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("ds, formula, root", DESIGNS)
def test_reweighted_systems_equal_lmmcore(ds, formula, root):
    """Every form of the core's reweighted system gives what a fresh LmmCore gives, with X and
    without (PIRLS over u alone), on the dense and the sparse Schur paths."""
    terms, X = _design(ds, formula, root)
    X0 = np.zeros((X.shape[0], 0))
    for XX in (X, X0):
        _same_as_lmmcore("core", terms, XX)
        if len(terms) > 1:
            _same_as_lmmcore("core", terms, XX, method="sparse")
        _same_as_lmmcore("dense", terms, XX)
        if terms[0].p == 1:
            _same_as_lmmcore("blocked", terms, XX)
    if terms[0].p != 1:
        with pytest.raises(ValueError):
            for_reweighting(terms, X, "blocked")
    assert reweight_kind(terms, X.shape[1]) in ("dense", "blocked", "core")


def test_reweight_kind_by_size():
    """Small systems are one dense Cholesky; a scalar first term with many levels and a small rest
    is eliminated level by level; anything larger is LmmCore itself."""
    from types import SimpleNamespace as T

    assert reweight_kind([T(q=15, p=1)], 4) == "dense"                           # cbpp
    assert reweight_kind([T(q=403, p=1), T(q=118, p=1), T(q=63, p=1)], 3) == "blocked"   # grouseticks
    assert reweight_kind([T(q=5000, p=2)], 3) == "core"
    assert reweight_kind([T(q=2000, p=1), T(q=900, p=1)], 2) == "core"
    with pytest.raises(ValueError, match="kind"):
        for_reweighting(*_design("cbpp", "incidence ~ period + (1 | herd)"), "fresh")


def test_reweight_core_reuses_its_structure():
    terms, X = _design("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)")
    c = ReweightCore(terms, X)
    rng = np.random.default_rng(0)
    for _ in range(3):  # reweighting twice in a row leaves no trace of the first weights
        w, y = rng.uniform(0.5, 2, X.shape[0]), rng.normal(size=X.shape[0])
        c.reweight(w, y)
    from mixedmodels.core.lmm import LmmCore

    f1, f2 = c.factor(np.array([0.7, 1.3])), LmmCore(terms, X, y, weights=w).factor(np.array([0.7, 1.3]))
    assert f1.ldL2 == pytest.approx(f2.ldL2, rel=1e-10) and f1.r2 == pytest.approx(f2.r2, rel=1e-10)
    for cls in (DensePLS, BlockedPLS):
        d = cls(terms, X).reweight(w, y)
        assert d.factor(np.array([0.7, 1.3])).ldL2 == pytest.approx(f2.ldL2, rel=1e-10)


@pytest.mark.parametrize("fast", ["blocked", "dense", "core"])
def test_pirls_paths_agree(cbpp, fast):
    """The three ways to solve each PIRLS step give one fit."""
    from mixedmodels.fit.glmer import fit_glmm
    from mixedmodels.fit.glmer_setup import family_model, glmer_setup

    fam = F.Binomial()
    setup = glmer_setup(CBPP, cbpp, fam, None, None, None)
    model, mustart = family_model(setup, fam, None)
    model.fast = fast
    fit = fit_glmm(model, mustart, 1, None)
    assert -fit.objective / 2 == pytest.approx(-92.0265663895303, abs=1e-8)


def test_nlopt_stage2_ends_as_low_as_nelder_mead_in_fewer_evaluations(cbpp):
    """Stage 2 by NLopt's BOBYQA (the default) at its tight tolerances reaches lme4's Nelder-Mead
    deviance (or a lower one) with far fewer evaluations, and the same standard errors to 1e-4."""
    nm = glmer(CBPP, cbpp, control=LME4_PATH)
    bq = glmer(CBPP, cbpp)
    assert bq.optinfo.optimizer == "bobyqa" and nm.optinfo.optimizer == "Nelder_Mead"
    assert -2 * bq.loglik <= -2 * nm.loglik + 1e-7
    assert bq.optinfo.nevals < nm.optinfo.nevals / 2
    se = lambda m: np.sqrt(np.diag(np.asarray(m.vcov)))  # noqa: E731
    assert np.allclose(se(bq), se(nm), rtol=1e-4)
