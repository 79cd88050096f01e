"""Properties any correct LMM fit has (DESIGN.md section 4, tier 2)."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from mixedmodels.fit.lmer import lmer_stages

FORMULA = "Reaction ~ 1 + Days + (1 + Days | Subject)"


def test_row_order_does_not_matter(sleepstudy, slope_fit):
    shuffled = sleepstudy.sample(frac=1.0, random_state=1)
    m = mm.lmer(FORMULA, shuffled)
    assert m.objective == pytest.approx(slope_fit.objective, abs=1e-6)
    np.testing.assert_allclose(m.fixef, slope_fit.fixef, rtol=1e-6)
    np.testing.assert_allclose(m.theta, slope_fit.theta, rtol=1e-4, atol=1e-6)
    # fitted values follow their rows
    np.testing.assert_allclose(m.fitted.sort_index(), slope_fit.fitted.sort_index(), rtol=1e-6)


def test_level_relabelling_does_not_matter(sleepstudy, slope_fit):
    d = sleepstudy.copy()
    mapping = {lev: f"S{(i * 7) % 18:02d}" for i, lev in enumerate(d["Subject"].cat.categories)}
    d["Subject"] = d["Subject"].astype(str).map(mapping)
    m = mm.lmer(FORMULA, d)
    assert m.objective == pytest.approx(slope_fit.objective, abs=1e-6)
    np.testing.assert_allclose(m.coef_table()["Std. Error"], slope_fit.coef_table()["Std. Error"], rtol=1e-5)
    # the conditional mode of a subject is the same under its new name
    old = slope_fit.ranef()["Subject"]
    new = m.ranef()["Subject"]
    for lev, label in mapping.items():
        np.testing.assert_allclose(new.loc[label].to_numpy(), old.loc[lev].to_numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shift", [-250.0, 1000.0])
def test_shift_of_response_moves_only_intercept(sleepstudy, slope_fit, shift):
    d = sleepstudy.assign(Reaction=sleepstudy["Reaction"] + shift)
    m = mm.lmer(FORMULA, d)
    assert m.fixef["(Intercept)"] == pytest.approx(slope_fit.fixef["(Intercept)"] + shift, rel=1e-7)
    assert m.fixef["Days"] == pytest.approx(slope_fit.fixef["Days"], rel=1e-6)
    assert m.sigma == pytest.approx(slope_fit.sigma, rel=1e-6)
    assert m.objective == pytest.approx(slope_fit.objective, abs=1e-6)


@pytest.mark.parametrize("scale", [0.01, 3.0])
def test_scaling_response_scales_estimates(sleepstudy, slope_fit, scale):
    d = sleepstudy.assign(Reaction=sleepstudy["Reaction"] * scale)
    m = mm.lmer(FORMULA, d)
    np.testing.assert_allclose(m.fixef, slope_fit.fixef * scale, rtol=1e-6)
    assert m.sigma == pytest.approx(slope_fit.sigma * scale, rel=1e-5)
    np.testing.assert_allclose(m.theta, slope_fit.theta, rtol=1e-3, atol=1e-5)
    sd = m.varcorr.query("var2 == ''")["sdcor"].to_numpy()
    np.testing.assert_allclose(sd, slope_fit.varcorr.query("var2 == ''")["sdcor"].to_numpy() * scale, rtol=1e-4)
    # the criterion changes by the log-Jacobian of the scaling
    n_p = slope_fit.nobs - len(slope_fit.fixef)
    assert m.objective == pytest.approx(slope_fit.objective + 2 * n_p * math.log(scale), abs=1e-5)


def _dense_objective(X, Z, y, Lam, reml):
    """-2 log-likelihood (ML) or REML criterion from the dense marginal covariance, beta and sigma
    profiled out: V = Z Lam Lam' Z' + I, the model y ~ N(X beta, sigma^2 V)."""
    n, p = X.shape
    V = Z @ Lam @ Lam.T @ Z.T + np.eye(n)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    rss = float(r @ Vi @ r)
    ldV = np.linalg.slogdet(V)[1]
    if reml:
        s2 = rss / (n - p)
        return ldV + np.linalg.slogdet(XtViX)[1] + (n - p) * (1 + math.log(2 * math.pi * s2))
    s2 = rss / n
    return ldV + n * (1 + math.log(2 * math.pi * s2))


def _dense_z(terms, n):
    blocks = []
    for t in terms:
        Zt = np.zeros((n, t.q))
        for i in range(n):
            Zt[i, t.codes[i] * t.p: (t.codes[i] + 1) * t.p] = t.z[i]
        blocks.append(Zt)
    return np.hstack(blocks)


def _dense_lambda(terms, T):
    from scipy.linalg import block_diag

    return block_diag(*[np.kron(np.eye(t.nlev), Tk) for t, Tk in zip(terms, T)])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), reml=st.booleans(),
       formula=st.sampled_from(["y ~ x + (1 | g)", "y ~ x + (1 + x | g)", "y ~ x + (1 | g) + (1 | h)",
                                "y ~ 1 + (x | g) + (1 | h)", "y ~ x + (1 | g/h)", "y ~ x + (x || g) + (1 | h)"]))
def test_profiled_objective_equals_dense_likelihood(seed, reml, formula):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 30))
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                      "g": rng.integers(0, 4, n).astype(str), "h": rng.integers(0, 3, n).astype(str)})
    d.loc[:3, "g"] = ["0", "1", "2", "3"]
    d.loc[:2, "h"] = ["0", "1", "2"]
    _, _, fixed, terms, core = lmer_stages(formula, d)
    theta = rng.uniform(0.1, 2.0, core.layout.size) * np.where(core.layout.is_diagonal(), 1, rng.choice([-1, 1]))
    ours = core.objective(theta, reml)
    Z = _dense_z(terms, n)
    Lam = _dense_lambda(terms, core.layout.templates(theta))
    assert ours == pytest.approx(_dense_objective(fixed.X, Z, core_y(d), Lam, reml), rel=1e-9, abs=1e-8)


def core_y(d):
    return d["y"].to_numpy(dtype=float)


def test_weights_match_dense_likelihood():
    rng = np.random.default_rng(3)
    n = 40
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "g": rng.integers(0, 5, n).astype(str)})
    w = rng.uniform(0.5, 2.0, n)
    _, _, fixed, terms, core = lmer_stages("y ~ x + (1 + x | g)", d, weights=w)
    theta = np.array([0.8, 0.3, 0.5])
    # weights are equivalent to scaling rows by sqrt(w), plus the log-Jacobian -sum(log w)
    sw = np.sqrt(w)
    Z = _dense_z(terms, n) * sw[:, None]
    Lam = _dense_lambda(terms, core.layout.templates(theta))
    for reml in (True, False):
        expected = _dense_objective(fixed.X * sw[:, None], Z, d["y"].to_numpy() * sw, Lam, reml) - np.log(w).sum()
        assert core.objective(theta, reml) == pytest.approx(expected, rel=1e-9)


def test_uncorrelated_expansion_equals_diagonal_covariance(sleepstudy):
    m = mm.lmer("Reaction ~ Days + (Days || Subject)", sleepstudy)
    assert m.theta.size == 2
    assert list(m.varcorr["grp"]) == ["Subject", "Subject.1", "Residual"]
    assert list(m.ranef()["Subject"].columns) == ["(Intercept)", "Days"]


def test_ml_and_reml_refits_agree_with_fresh_fits(sleepstudy, slope_fit):
    ml = mm.lmer(FORMULA, sleepstudy, REML=False)
    again = slope_fit.refit(REML=False)
    assert again.deviance == pytest.approx(ml.deviance, abs=1e-6)
    assert again.reml_criterion is None
