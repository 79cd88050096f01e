"""The fast paths of PIRLS (pirls.py) against the plain ones: the dense Schur complement of
BlockedPLS, response-only refills, the cached first PIRLS step, and the Bernoulli/binomial
shortcuts for the deviance residuals and the aic."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import families as F
from mixedmodels.core.lmm import LmmCore
from mixedmodels.core.pls_blocked import BlockedPLS
from mixedmodels.core.pls_dense import DensePLS


def _crossed(seed=3, n_subj=40, n_item=25):
    rng = np.random.default_rng(seed)
    s, i = np.meshgrid(np.arange(n_subj), np.arange(n_item), indexing="ij")
    s, i = s.ravel(), i.ravel()
    x = rng.normal(size=s.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 1.0, n_subj)[s] + rng.normal(0, 0.6, n_item)[i]
    y = (rng.uniform(size=s.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "subj": pd.Categorical([f"s{k:03d}" for k in s]),
                         "item": pd.Categorical([f"i{k:02d}" for k in i])})


def _design(d, formula):
    from mixedmodels.design.fixed import fixed_design
    from mixedmodels.design.frame import model_frame
    from mixedmodels.design.random import random_terms
    from mixedmodels.formula.parse import parse_formula

    p = parse_formula(formula)
    fr = model_frame(p, d)
    return random_terms(p, fr), fixed_design(p, fr).X


def _same(f1, s1, f2, s2):
    assert f1.ldL2 == pytest.approx(f2.ldL2, rel=1e-10)
    assert f1.ldRX2 == pytest.approx(f2.ldRX2, rel=1e-10)
    assert f1.r2 == pytest.approx(f2.r2, rel=1e-9)
    b1, u1 = s1
    b2, u2 = s2
    assert np.allclose(b1, b2, rtol=1e-8, atol=1e-10)
    for a, b in zip(u1, u2):
        assert np.allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("formula", ["y ~ x + (1 | subj) + (1 | item)", "y ~ x + (1 | subj) + (1 + x | item)"])
@pytest.mark.parametrize("dense_g", [True, False])
def test_blocked_dense_schur_equals_lmmcore(formula, dense_g):
    terms, X = _design(_crossed(), formula)
    rng = np.random.default_rng(1)
    w, z = rng.uniform(0.2, 2.0, X.shape[0]), rng.normal(size=X.shape[0])
    c = BlockedPLS(terms, X, dense_g=dense_g).reweight(w, z)
    assert c._dense_g is dense_g
    ref = LmmCore(terms, X, z, weights=w)
    th = np.array([1.3, 0.7] if len(c.layout.start()) == 2 else [1.3, 0.7, 0.2, 0.5])
    f1, f2 = c.factor(th), ref.factor(th)
    _same(f1, c.solve(f1), f2, ref.solve(f2))


def test_blocked_chooses_dense_schur_for_crossed_designs():
    terms, X = _design(_crossed(), "y ~ x + (1 | subj) + (1 | item)")
    assert BlockedPLS(terms, X)._dense_g


@pytest.mark.parametrize("cls", [BlockedPLS, DensePLS])
@pytest.mark.parametrize("with_x", [True, False])
def test_set_response_equals_reweight(cls, with_x):
    terms, X = _design(_crossed(), "y ~ x + (1 | subj) + (1 | item)")
    if not with_x:
        X = np.zeros((X.shape[0], 0))
    rng = np.random.default_rng(2)
    w = rng.uniform(0.2, 2.0, X.shape[0])
    z1, z2 = rng.normal(size=X.shape[0]), rng.normal(size=X.shape[0])
    a = cls(terms, X).reweight(w, z1).set_response(z2)
    b = cls(terms, X).reweight(w, z2)
    th = np.array([0.9, 1.4])
    fa, fb = a.factor(th), b.factor(th)
    _same(fa, a.solve(fa), fb, b.solve(fb))


def _model(d, formula, fam):
    from mixedmodels.fit.glmer_setup import family_model, glmer_setup

    setup = glmer_setup(formula, d, fam, None, None, None)
    return family_model(setup, fam, None)


@pytest.mark.parametrize("fast", ["blocked", "dense", "core"])
def test_cached_first_step_matches_plain_pirls(fast):
    d = _crossed()
    fam = F.Binomial()
    m1, mustart = _model(d, "y ~ x + (1 | subj) + (1 | item)", fam)
    m2, _ = _model(d, "y ~ x + (1 | subj) + (1 | item)", fam)
    m1.fast = fast

    def plain(*a, **k):   # the form not yet chosen: the first step's system built afresh
        m2.fast = None
        return m2.pirls(*a, **k)

    eta0 = fam.linkfun(mustart)
    for th in ([1.0, 0.5], [0.7, 0.9], [1.0, 0.5]):
        r1, r2 = m1.pirls(np.array(th), eta_start=eta0), plain(np.array(th), eta_start=eta0)
        assert m1.laplace(r1) == pytest.approx(m2.laplace(r2), abs=1e-8)
        assert np.allclose(r1.beta, r2.beta, atol=1e-8)
        for beta in ([-0.2, 0.7], [0.1, 0.9]):
            s1 = m1.pirls(np.array(th), beta=np.array(beta), eta_start=r1.eta)
            s2 = plain(np.array(th), beta=np.array(beta), eta_start=r1.eta)
            assert m1.laplace(s1) == pytest.approx(m2.laplace(s2), abs=1e-8)
            assert np.allclose(s1.u, s2.u, atol=1e-8)
    assert not m2._first
    assert set(m1._first) == {True, False}


def test_binary_and_binomial_shortcuts_equal_the_family():
    fam = F.Binomial()
    m, _ = _model(_crossed(), "y ~ x + (1 | subj) + (1 | item)", fam)
    assert m.rows._binary is not None and m.rows._logit
    rng = np.random.default_rng(4)
    eta = rng.normal(0, 3, m.n)
    mu = m.linkinv(eta)
    assert np.allclose(mu, fam.linkinv(eta), rtol=1e-15, atol=0)
    dr = m.dev_resids(mu)
    assert np.allclose(dr, fam.dev_resids(m.y, mu, m.pw), rtol=1e-13)
    assert m.aic(mu, dr.sum()) == pytest.approx(fam.aic(m.y, m.ntrials, mu, m.pw, dr.sum()), rel=1e-12)
    w1, z1 = m.working(eta, mu, 0.3)
    me, var = fam.mu_eta(eta), fam.variance(mu)
    assert np.array_equal(w1, m.pw * me * me / var)
    assert np.array_equal(z1, (eta - 0.3) + (m.y - mu) / me)
    cb = mm.load_dataset("cbpp")
    mc, _ = _model(cb, "cbind(incidence, size - incidence) ~ period + (1 | herd)", fam)
    assert mc.rows._binary is None and mc.rows._binom_aic is not None
    mu = fam.linkinv(rng.normal(-1, 1, mc.n))
    dev = float(fam.dev_resids(mc.y, mu, mc.pw).sum())
    assert mc.aic(mu, dev) == pytest.approx(fam.aic(mc.y, mc.ntrials, mu, mc.pw, dev), rel=1e-12)


def test_bernoulli_crossed_matches_lme4():
    """benchmarks/run.py's simulated Bernoulli design; lme4 1.1.31: logLik -2884.2021116417,
    fixef (-0.2735443558, 0.8178129915), theta (0.9250548334, 0.5177777186)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from run import sim_bernoulli
    finally:
        sys.path.pop(0)
    fit = mm.glmer("y ~ x + (1 | subj) + (1 | item)", sim_bernoulli(), family="binomial")
    assert fit.loglik == pytest.approx(-2884.2021116417, abs=1e-5)
    assert np.allclose(fit.beta, [-0.2735443558, 0.8178129915], atol=2e-4)
