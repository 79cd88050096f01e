"""After a glmer fit: simulate(), refit(y=), the parametric bootstrap (lme4's simulate, refit, bootMer) and hatvalues()."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ArgumentError, DataError

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
# lme4's own optimizer pair: where a test compares values that R computes at its estimates to
# 1e-5 or closer (residuals, hat values, emmeans), the fit must stop where lme4's stops; the
# default (NLopt and a Newton polish) ends at the optimum, 1e-5 away in the estimates
LME4_PATH = {"optimizer": ("bobyqa", "nelder_mead")}


@pytest.fixture(scope="module")
def cbpp_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer(CBPP, mm.load_dataset("cbpp"), family="binomial", control=LME4_PATH)


def _counts(seed=5, groups=30, per=12):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    mu = np.exp(0.8 + 0.4 * x + rng.normal(0, 0.5, groups)[g])
    return pd.DataFrame({"y": rng.poisson(mu), "x": x, "g": pd.Categorical(g.astype(str))})


def test_simulated_binomial_responses_are_proportions_of_the_trials(cbpp_fit):
    d = mm.load_dataset("cbpp")
    S = cbpp_fit.simulate(4, seed=11)
    assert S.shape == (len(d), 4) and list(S.columns) == ["sim_1", "sim_2", "sim_3", "sim_4"]
    succ = S.to_numpy() * d["size"].to_numpy()[:, None]
    assert np.allclose(succ, np.round(succ)) and (S.to_numpy() >= 0).all() and (S.to_numpy() <= 1).all()
    assert S.equals(cbpp_fit.simulate(4, seed=11)) and not S.equals(cbpp_fit.simulate(4, seed=12))


def test_simulation_with_the_conditional_modes_averages_to_the_fitted_means():
    m = mm.glmer("y ~ x + (1 | g)", _counts(), family="poisson")
    S = m.simulate(4000, seed=1, use_u=True).to_numpy()
    mu = np.asarray(m.fitted, dtype=float)
    # each row's mean of 4000 Poisson draws: sd mu / sqrt(4000)
    assert np.all(np.abs(S.mean(axis=1) - mu) < 5 * np.sqrt(mu / 4000) + 1e-9)
    # drawn anew, the random effects add variance between groups
    S0 = m.simulate(4000, seed=1).to_numpy()
    assert S0.var(axis=1).mean() > 1.2 * S.var(axis=1).mean()


def test_refit_to_the_observed_response_gives_the_fit(cbpp_fit):
    r = cbpp_fit.refit(y=cbpp_fit.model.y)
    se = np.sqrt(np.diag(cbpp_fit.vcov.to_numpy()))
    assert np.allclose(r.theta, cbpp_fit.theta, atol=1e-4)
    assert np.all(np.abs(r.beta - cbpp_fit.beta) < 1e-3 * se)
    with pytest.raises(DataError, match="one response per observation"):
        cbpp_fit.refit(y=np.ones(3))


def test_bootstrap_intervals_cover_the_estimates_and_agree_with_wald(cbpp_fit):
    ci = cbpp_fit.confint(method="boot", nsim=60, seed=3)
    assert list(ci.index) == ["sd_(Intercept)|herd", "(Intercept)", "period2", "period3", "period4"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    est = np.r_[cbpp_fit.theta, cbpp_fit.beta]
    assert np.all(ci.iloc[:, 0].to_numpy() < est) and np.all(est < ci.iloc[:, 1].to_numpy())
    wald = cbpp_fit.confint(method="Wald")
    width_b = (ci.iloc[1:, 1] - ci.iloc[1:, 0]).to_numpy()
    width_w = (wald.iloc[:, 1] - wald.iloc[:, 0]).to_numpy()
    assert np.all(np.abs(width_b / width_w - 1) < 0.4)


def test_bootstrap_of_a_statistic(cbpp_fit):
    b = cbpp_fit.bootstrap(lambda f: f.fixef["period2"], nsim=20, seed=1)
    assert b.t.shape == (20, 1) and np.isfinite(b.t.to_numpy()).all() and not b.failures
    assert b.t0.iloc[0] == pytest.approx(cbpp_fit.fixef["period2"])
    # the same seed, the same draws (and so the same intervals: confint(method="boot", seed=...))
    b5 = cbpp_fit.bootstrap(lambda f: f.fixef["period2"], nsim=5, seed=2)
    assert b5.t.equals(cbpp_fit.bootstrap(lambda f: f.fixef["period2"], nsim=5, seed=2).t)


def test_simulation_needs_a_family_it_can_draw_from():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(20), 10)
    d = pd.DataFrame({"y": rng.gamma(4.0, 0.5 * np.exp(rng.normal(0, 0.3, 20)[g])), "g": pd.Categorical(g.astype(str))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.glmer("y ~ 1 + (1 | g)", d, family='Gamma(link="log")')
    with pytest.raises(ArgumentError, match="binomial, Poisson and negative binomial"):
        m.simulate(2, seed=1)
    with pytest.raises(ArgumentError, match="without a scale parameter"):
        m.confint(method="profile")


def test_hatvalues_as_lme4_computes_them_for_a_glmm(cbpp_fit):
    # R: gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
    #    hatvalues(gm)[c(1, 2, 3, 10, 25, 56)]; sum(hatvalues(gm))   (lme4 1.1-31)
    r_vals = [1.92376867669, 2.09262818103, 1.72730423082, 2.51733010597, 1.62179161819, 4.57123705488]
    with pytest.warns(mm.errors.MixedModelWarning, match="may not make sense for GLMMs"):
        h = cbpp_fit.hatvalues()
    assert np.allclose(h[[0, 1, 2, 9, 24, 55]], r_vals, rtol=1e-7)
    assert h.sum() == pytest.approx(163.534421156, rel=1e-8)


# R (lme4 1.1-31): confint(gm, method = "profile", oldNames = FALSE)
R_PROFILE = {
    "cbpp": {
        "sd_(Intercept)|herd": (0.3460732033, 1.0999746482),
        "(Intercept)": (-1.9012119549, -0.9477540060),
        "period2": (-1.6167832557, -0.4077630678),
        "period3": (-1.8010243656, -0.5115360713),
        "period4": (-2.5007505630, -0.8007553153),
    },
    # cbpp with an observation-level term: the herd sd's profile reaches 0 (lower end 0, as in R)
    "cbpp_obs": {
        "sd_(Intercept)|obs": (0.4198667944, 1.3703841933),
        "sd_(Intercept)|herd": (0.0, 0.8737182894),
        "(Intercept)": (-2.1412954859, -0.9287463955),
        "period2": (-2.2427204865, -0.2898911552),
        "period3": (-2.3920932566, -0.3749061847),
        "period4": (-3.1316998869, -0.7646914701),
    },
}


@pytest.mark.parametrize("case", ["cbpp", "cbpp_obs"])
def test_profile_intervals_match_lme4(case):
    d = mm.load_dataset("cbpp")
    formula = CBPP
    if case == "cbpp_obs":
        d = d.assign(obs=pd.Categorical([str(i) for i in range(1, len(d) + 1)],
                                        categories=[str(i) for i in range(1, len(d) + 1)]))
        formula = CBPP + " + (1 | obs)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.glmer(formula, d, family="binomial")
        ci = m.confint(method="profile")
    r = R_PROFILE[case]
    if case == "cbpp":
        assert ci.equals(m.confint())  # profile is the default, as in lme4 (once: the profile is costly)
    assert list(ci.index) == list(r)
    for name, (lo, hi) in r.items():
        width = hi - lo
        assert abs(ci.loc[name].iloc[0] - lo) < 1e-3 * width and abs(ci.loc[name].iloc[1] - hi) < 1e-3 * width, name


def test_profile_needs_the_laplace_deviance(cbpp_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = mm.glmer(CBPP, mm.load_dataset("cbpp"), family="binomial", nAGQ=0)
    with pytest.raises(ArgumentError, match="nAGQ >= 1"):
        m0.profile()
    pr = cbpp_fit.profile(which="beta_")
    assert set(pr["parameter"]) == {"(Intercept)", "period2", "period3", "period4"}
    # zeta is 0 at the estimate and increases with the parameter
    sub = pr[pr["parameter"] == "period2"]
    assert np.all(np.diff(sub["zeta"].to_numpy()) > 0)


def test_emmeans_on_the_link_scale_as_r(cbpp_fit):
    # R: emmeans(gm, pairwise ~ period) (emmeans 1.8): asymptotic, on the logit scale, Tukey
    e = cbpp_fit.emmeans("period", pairwise=True)
    t = e.emmeans
    assert list(t.columns) == ["period", "emmean", "SE", "df", "asymp.LCL", "asymp.UCL"]
    assert np.allclose(t["emmean"], [-1.398342864, -2.390267839, -2.52655908, -2.978088278], atol=2e-6)
    assert np.allclose(t["SE"], [0.2312140481, 0.3073938702, 0.3270801371, 0.4251646778], rtol=1e-4)
    assert np.allclose(t["asymp.LCL"], [-1.851514071, -2.992748754, -3.167624369, -3.811395734], atol=1e-4)
    assert np.isinf(t["df"]).all()
    c = e.contrasts
    assert list(c["contrast"]) == ["period1 - period2", "period1 - period3", "period1 - period4",
                                   "period2 - period3", "period2 - period4", "period3 - period4"]
    assert np.allclose(c["z.ratio"], [3.272052997, 3.494767154, 3.743036512, 0.362569793, 1.266551009,
                                      0.9447239329], rtol=1e-4)
    assert np.allclose(c["p.value"], [0.005883568736, 0.002672957552, 0.001043498513, 0.9837001243,
                                      0.5843188576, 0.7806739646], rtol=2e-3)
    assert "Results are given on the logit (not the response) scale." in str(e)


def test_emmeans_on_the_response_scale_as_r(cbpp_fit):
    # R: emmeans(gm, pairwise ~ period, type = "response")
    e = cbpp_fit.emmeans("period", pairwise=True, type="response")
    t, c = e.emmeans, e.contrasts
    assert list(t.columns) == ["period", "prob", "SE", "df", "asymp.LCL", "asymp.UCL"]
    assert np.allclose(t["prob"], [0.1980792055, 0.08391783928, 0.07401713701, 0.04842564601], rtol=1e-5)
    assert np.allclose(t["SE"], [0.03672692584, 0.02363109913, 0.02241761483, 0.01959184465], rtol=1e-4)
    assert np.allclose(t["asymp.UCL"], [0.2798568766, 0.1433442674, 0.1317591187, 0.1048199437], rtol=1e-4)
    assert list(c.columns) == ["contrast", "odds.ratio", "SE", "df", "null", "z.ratio", "p.value"]
    assert c["contrast"].iloc[0] == "period1 / period2"
    assert np.allclose(c["odds.ratio"], [2.696420021, 3.09013944, 4.853719963, 1.146015612, 1.800060794,
                                         1.57071228], rtol=1e-4)
    assert np.allclose(c["SE"], [0.8174214673, 0.9975901887, 2.048508431, 0.4307912377, 0.8354282756,
                                 0.7507192638], rtol=2e-4)
    assert "back-transformed from the logit scale" in str(e)
    # R: emmeans(glmer(TICKS ~ YEAR + (1 | BROOD), grouseticks, poisson), ~ YEAR, type = "response")
    gt = mm.load_dataset("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = mm.glmer("TICKS ~ YEAR + (1 | BROOD)", gt, family="poisson")
    r = p.emmeans("YEAR", type="response").emmeans
    assert list(r.columns)[1] == "rate"
    assert np.allclose(r["rate"], [1.421, 5.454, 0.575], atol=1e-3)
    with pytest.raises(ArgumentError, match="'link' or 'response'"):
        p.emmeans("YEAR", type="probability")


def test_glmer_anova_wald_and_lrt():
    """m.anova(): car's type III Wald chi-square per term (the intercept's is its z value squared,
    a factor's the quadratic form of its coefficients in their covariance); with another model, the
    likelihood-ratio test of mm.anova."""
    import mixedmodels as mm

    cb = mm.load_dataset("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    g1 = mm.glmer(f, cb, family="binomial")
    tab = g1.anova()
    b, V = np.asarray(g1.beta), np.asarray(g1.vcov)
    assert list(tab.index) == ["(Intercept)", "period"]
    assert tab.loc["(Intercept)", "Chisq"] == pytest.approx(b[0] ** 2 / V[0, 0], rel=1e-12)
    assert tab.loc["period", "Chisq"] == pytest.approx(float(b[1:] @ np.linalg.solve(V[1:, 1:], b[1:])), rel=1e-10)
    assert tab.loc["period", "Df"] == 3
    assert tab.loc["period", "Pr(>Chisq)"] == pytest.approx(1.221e-05, rel=1e-3)
    assert "Type III Wald chisquare" in str(tab)
    assert list(g1.anova(type=2).index) == ["period"]
    g0 = mm.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cb, family="binomial")
    lrt = g1.anova(g0)
    assert lrt["Chisq"].iloc[1] == pytest.approx(2 * (g1.loglik - g0.loglik), rel=1e-10)


def test_glmer_check_reports_what_the_fit_warned():
    """m.check() on a glmer fit: a clean fit passes; an unidentifiable one reports the same Hessian
    problem that lme4's checkConv made the fit warn about."""
    import warnings as w

    import mixedmodels as mm

    g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mm.load_dataset("cbpp"),
                 family="binomial")
    c = g.check()
    assert c.ok and not c.issues and c.converged
    assert g.convergence.gradient is not None and g.convergence.messages == []
    with w.catch_warnings(record=True) as rec:
        w.simplefilter("always")
        g2 = mm.glmer("TICKS ~ YEAR + HEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)", mm.load_dataset("grouseticks"),
                      family="poisson")
    warned = [str(r.message) for r in rec if "unidentifiable" in str(r.message)]
    c2 = g2.check()
    assert warned and not c2.ok
    assert any("nearly unidentifiable" in line for line in c2.issues)
    assert g2.convergence.messages == g2.messages


# R 4.2, lme4 1.1-31: print(drop1(m, test = "Chisq")) and print(drop1(m)) of the cbpp model
R_DROP1_CHISQ = """Single term deletions

Model:
cbind(incidence, size - incidence) ~ period + (1 | herd)
       npar    AIC   LRT   Pr(Chi)    
<none>      194.05                    
period    3 213.66 25.61 1.151e-05 ***
---
Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"""
R_DROP1 = """Single term deletions

Model:
cbind(incidence, size - incidence) ~ period + (1 | herd)
       npar    AIC
<none>      194.05
period    3 213.66"""


def test_glmer_drop1_as_lme4(cbpp_fit):
    """lme4's drop1 of a GLMM: refits without each term; the tables print as R prints them. R's
    LRT is 25.6099376 (its reduced fit stops with max|grad| 0.046; ours at least as low)."""
    tab = cbpp_fit.drop1(test="Chisq")
    assert [line.rstrip() for line in str(tab).splitlines()] == [line.rstrip() for line in R_DROP1_CHISQ.splitlines()]
    assert [line.rstrip() for line in str(cbpp_fit.drop1()).splitlines()] == [line.rstrip() for line in R_DROP1.splitlines()]
    assert tab.loc["period", "LRT"] == pytest.approx(25.6099376, abs=2e-3)
    assert tab.loc["period", "npar"] == 3
    with pytest.raises(mm.errors.ArgumentError, match="no F test"):
        cbpp_fit.drop1(test="F")
