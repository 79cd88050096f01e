"""simulate() and bootstrap(): reproducibility, the model's moments, lme4's re.form semantics."""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ArgumentError
from mixedmodels.inference.simulate import BootResult, _norm_inter


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))


@pytest.fixture(scope="module")
def many(fit):
    return fit.simulate(nsim=3000, seed=2)


def test_shape_names_and_seed(fit):
    s = fit.simulate(nsim=3, seed=1)
    assert list(s.columns) == ["sim_1", "sim_2", "sim_3"]
    assert s.index.equals(fit.frame.data.index)
    pd.testing.assert_frame_equal(s, fit.simulate(nsim=3, seed=1))
    assert not np.allclose(s, fit.simulate(nsim=3, seed=2))
    g = np.random.default_rng(5)
    assert np.allclose(fit.simulate(seed=g).to_numpy(), fit.simulate(seed=np.random.default_rng(5)).to_numpy())


def test_moments_match_the_model(fit, many):
    """E y = X beta, Var y_i = z_i' Sigma_b z_i + sigma^2, Cov within a subject from Sigma_b."""
    S = many.to_numpy()
    X, z = fit.fixed.X, fit.terms[0].z
    T = fit._factor.T[0]
    Sb = fit.sigma ** 2 * T @ T.T
    var = np.einsum("ij,jk,ik->i", z, Sb, z) + fit.sigma ** 2
    se_mean = np.sqrt(var / S.shape[1])
    assert np.max(np.abs(S.mean(axis=1) - X @ fit.beta) / se_mean) < 4.5
    assert np.max(np.abs(S.var(axis=1, ddof=1) / var - 1)) < 0.12       # sd of the ratio: 0.026
    # two observations of one subject (Days 0 and 9) are correlated through the random effects
    i, j = 0, 9
    cov = np.cov(S[i], S[j])[0, 1]
    assert cov == pytest.approx(z[i] @ Sb @ z[j], rel=0.15)


def test_use_u_keeps_the_conditional_modes(fit):
    s = fit.simulate(nsim=2000, seed=3, use_u=True).to_numpy()
    assert np.allclose(s.mean(axis=1), fit.fitted.to_numpy(), atol=4.5 * fit.sigma / np.sqrt(2000))
    assert np.allclose(s.std(axis=1, ddof=1), fit.sigma, rtol=0.1)
    same = fit.simulate(nsim=2, seed=9, re_form=None)
    assert np.allclose(same, fit.simulate(nsim=2, seed=9, use_u=True))
    assert np.allclose(same, fit.simulate(nsim=2, seed=9, re_form="~(Days | Subject)"))


def test_re_form_errors(fit):
    with pytest.raises(ArgumentError, match="not a random-effects term"):
        fit.simulate(re_form="~(1 | Subject)")
    with pytest.raises(ArgumentError):
        fit.simulate(nsim=0)
    with pytest.raises(ArgumentError):
        fit.simulate(seed="abc")


def test_bootstrap_result(fit):
    b = fit.bootstrap(lambda f: f.fixef, nsim=12, seed=4)
    assert isinstance(b, BootResult)
    assert list(b.t.columns) == ["(Intercept)", "Days"] and b.t.shape == (12, 2)
    assert b.t0.tolist() == pytest.approx(fit.fixef.tolist())
    assert not b.failures and np.all(np.isfinite(b.t.to_numpy()))
    b2 = fit.bootstrap(lambda f: f.fixef, nsim=12, seed=4)
    pd.testing.assert_frame_equal(b.t, b2.t)
    # the refits are fits to the simulated responses: compare one by hand
    y = fit.simulate(nsim=12, seed=4)["sim_3"].to_numpy()
    assert b.t.iloc[2].tolist() == pytest.approx(fit.refit(y=y).fixef.tolist())
    s = b.summary()
    assert list(s.columns) == ["original", "bootBias", "bootSE", "bootMed"]


def test_bootstrap_scalar_statistic_and_workers(fit):
    one = fit.bootstrap(lambda f: f.sigma, nsim=6, seed=1)
    assert list(one.t.columns) == ["t1"]
    two = fit.bootstrap(lambda f: f.sigma, nsim=6, seed=1, n_jobs=2, progress=False)
    assert np.allclose(one.t.to_numpy(), two.t.to_numpy())


def test_norm_inter_matches_boot():
    """R: boot:::norm.inter(t, c(.025, .975)) for t = (1:19)^1.5 and for t = 1:99."""
    t = np.arange(1, 20) ** 1.5
    assert np.allclose(_norm_inter(t, np.array([0.025, 0.975])), [1.0, 82.81907993])
    t = np.arange(1.0, 100.0)
    assert np.allclose(_norm_inter(t, np.array([0.025, 0.975])), [2.542249, 97.457751])
