"""A response far from 0 (``1e9 + y``, ``1e12 + y``) fits as the shifted problem does.

The core subtracts a constant from such a response before the crossproducts when the constant is in
the span of X (an intercept, or cell-means coding), so y'y does not cancel catastrophically in r^2.
The data here are dyadic (y to 2^-10, x to 2^-20) so that ``s + y`` is exact in double precision:
the two fits then see the same numbers and should agree to rounding. What cannot agree better than
the rounding of values of size s: the intercept (its ulp is s * 2.2e-16), fitted values and
residuals (``y - fitted`` with both of size s).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.core.lmm import LmmCore
from mixedmodels.errors import DataError

EPS = np.finfo(float).eps


def _data(seed=1, n=300, ngroups=30):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ngroups), n // ngroups)
    x = np.round(rng.normal(size=n) * 2 ** 20) / 2 ** 20
    f = np.array(list("abc"))[rng.integers(0, 3, n)]
    y = 2 + 0.5 * x + 3 * rng.normal(size=ngroups)[g] + rng.normal(size=ngroups)[g] * x + 5 * rng.normal(size=n)
    y = np.round(y * 2 ** 10) / 2 ** 10
    w = rng.integers(1, 4, n).astype(float)
    off = np.round(rng.normal(size=n) * 2 ** 8) / 2 ** 8
    return pd.DataFrame({"y": y, "x": x, "g": g, "f": f, "w": w, "off": off})


def _shifted(df, s):
    d = df.assign(y=df["y"] + s)
    assert np.array_equal(d["y"] - s, df["y"])       # the shift is exact: both fits see the same data
    return d


def _ranef(m):
    return np.concatenate([v.to_numpy().ravel() for v in m.ranef().values()])


CASES = [
    ("y ~ x + (1 | g)", {}, [0]),
    ("y ~ x + (x | g)", {}, [0]),
    ("y ~ x + (1 | g)", {"REML": False}, [0]),
    ("y ~ x + (1 | g)", {"weights": "w"}, [0]),
    ("y ~ x + (1 | g)", {"offset": "off"}, [0]),
    ("y ~ x + (1 | g) + (1 | f)", {}, [0]),
    ("y ~ 0 + f + x + (1 | g)", {}, [0, 1, 2]),     # no intercept column, but 1 = fa + fb + fc
]


@pytest.mark.parametrize("s", [1e9, 1e12])
@pytest.mark.parametrize("formula, kw, shifted", CASES)
def test_fit_of_a_shifted_response_is_the_fit_of_the_response(formula, kw, shifted, s):
    df = _data()
    m0 = mm.lmer(formula, df, **kw)
    m = mm.lmer(formula, _shifted(df, s), **kw)
    assert m.converged
    # the two criteria agree to rounding (2e-16), which BOBYQA can turn into 1e-9 of theta along a
    # flat direction ((1 | f) has 3 levels): the estimates to 1e-7, the criterion to rounding
    np.testing.assert_allclose(m.theta, m0.theta, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(m.sigma, m0.sigma, rtol=1e-7)
    # the criterion does not depend on a shift within span(X): equal to rounding of its own size
    assert m.objective == pytest.approx(m0.objective, rel=1e-12, abs=1e-10)
    assert m.loglik == pytest.approx(m0.loglik, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), np.sqrt(np.diag(m0.vcov)), rtol=1e-7)
    b, b0 = np.asarray(m.beta, dtype=float), np.asarray(m0.beta, dtype=float)
    other = [j for j in range(len(b)) if j not in shifted]
    np.testing.assert_allclose(b[other], b0[other], rtol=1e-7, atol=1e-12)
    # coefficients of size s: to a few of their ulps
    np.testing.assert_allclose(b[shifted] - s, b0[shifted], rtol=0, atol=8 * EPS * s)
    np.testing.assert_allclose(_ranef(m), _ranef(m0), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(m.fitted.to_numpy() - s, m0.fitted.to_numpy(), rtol=0, atol=16 * EPS * s)
    np.testing.assert_allclose(m.residuals.to_numpy(), m0.residuals.to_numpy(), rtol=0, atol=16 * EPS * s)


def test_profile_intervals_of_a_shifted_response():
    """Profiling a slope moves x_j beta_j into the offset; the core holding that new response centres it
    again (a profile core of 1e9 + y would otherwise hold the intercept's 1e9 in its y)."""
    df = _data()
    ci0 = mm.lmer("y ~ x + (1 | g)", df).confint()
    ci = mm.lmer("y ~ x + (1 | g)", _shifted(df, 1e9)).confint()
    np.testing.assert_allclose(ci.loc["(Intercept)"].to_numpy() - 1e9, ci0.loc["(Intercept)"].to_numpy(),
                               rtol=0, atol=1e-6)
    rest = [r for r in ci0.index if r != "(Intercept)"]
    np.testing.assert_allclose(ci.loc[rest].to_numpy(), ci0.loc[rest].to_numpy(), rtol=1e-8)


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_core_criterion_is_shift_invariant_on_both_paths(method):
    df = _data()
    m0 = mm.lmer("y ~ x + (1 | g) + (1 | f)", df)
    X, y = m0.fixed.X, df["y"].to_numpy()
    c0 = LmmCore(m0.terms, X, y, method=method)
    for s in (1e9, 1e12):
        c = LmmCore(m0.terms, X, y + s, method=method)
        for th in (m0.theta, np.array([0.3, 2.0]), np.array([1e-3, 1e-3])):
            assert c.objective(th, True) == pytest.approx(c0.objective(th, True), rel=1e-13)
            assert c.objective(th, False) == pytest.approx(c0.objective(th, False), rel=1e-13)


@pytest.mark.parametrize("s", [1e9, 1e12])
def test_no_constant_in_span_of_x_is_not_centred(s):
    """Without 1 in span(X) (nor in Z: a random slope without intercept) a shift changes the model, so
    nothing is subtracted; y'y then stays of the order of r^2, with nothing to cancel. r^2 is a
    quadratic form in y: r^2(s 1 + y) = s^2 r^2(1) + s (r^2(1 + y) - r^2(1) - r^2(y)) + r^2(y), each
    piece from a response of size 1."""
    df = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # boundary (singular) fit: the slope variance goes to 0
        m = mm.lmer("y ~ 0 + x + (0 + x | g)", _shifted(df, s))
    X, y, one = m.fixed.X, df["y"].to_numpy(), np.ones(len(df))
    for th in (m.theta, np.array([0.5])):
        def r2(v):
            return LmmCore(m.terms, X, v).pieces(th)[2]
        a, b, ab = r2(one), r2(y), r2(one + y)
        ref = s * s * a + s * (ab - a - b) + b
        assert m.core.pieces(th)[2] == pytest.approx(ref, rel=1e-12)


def test_a_shifted_response_that_the_fixed_effects_reproduce_is_still_refused(sleepstudy):
    for s in (0.0, 1e9, 1e12):
        with pytest.raises(DataError, match=r"reproduce the response 'r' exactly"):
            mm.lmer("r ~ Days + (1 | Subject)", sleepstudy.assign(r=s + 3 * sleepstudy["Days"] + 1.5))


# --------------------------------------------------------------------------- lm() and ranova's lm row
# lm() centres such a response the same way (its QR then fits y - c, and the coefficient of the
# constant gets c back); without that, at 1e12 its slope was off by ~1e-4 relative and logLik by ~1e-4.

LM_CASES = [
    ("y ~ x", {}, [0], True),
    ("y ~ x", {"weights": "w"}, [0], True),
    ("y ~ x + offset(off)", {}, [0], True),
    ("y ~ x", {"offset": "off", "weights": "w"}, [0], True),
    ("y ~ x + f", {"weights": "w"}, [0], True),
    ("y ~ 0 + f + x", {}, [0, 1, 2], False),     # no intercept column, but 1 = fa + fb + fc
]


@pytest.mark.parametrize("s", [1e9, 1e12])
@pytest.mark.parametrize("formula, kw, shifted, intercept", LM_CASES)
def test_lm_of_a_shifted_response_is_the_lm_of_the_response(formula, kw, shifted, intercept, s):
    df = _data()
    m0 = mm.lm(formula, df, **kw)
    m = mm.lm(formula, _shifted(df, s), **kw)
    b, b0 = m.coefficients.to_numpy(), m0.coefficients.to_numpy()
    other = [j for j in range(len(b)) if j not in shifted]
    np.testing.assert_allclose(b[other], b0[other], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(b[shifted] - s, b0[shifted], rtol=0, atol=8 * EPS * s)
    # Var(beta) = sigma^2 (X'WX)^-1: all of it, the shifted coefficients' SEs included
    np.testing.assert_allclose(m.vcov.to_numpy(), m0.vcov.to_numpy(), rtol=1e-9, atol=1e-15)
    t, t0 = m.coef_table(), m0.coef_table()
    np.testing.assert_allclose(t["Std. Error"], t0["Std. Error"], rtol=1e-9)
    np.testing.assert_allclose(t["t value"].iloc[other], t0["t value"].iloc[other], rtol=1e-9)
    assert m.sigma == pytest.approx(m0.sigma, rel=1e-9)
    assert m.rss == pytest.approx(m0.rss, rel=1e-9)
    # logLik (and so AIC, BIC) does not depend on a shift within span(X)
    assert m.loglik == pytest.approx(m0.loglik, rel=1e-13)
    assert m.aic == pytest.approx(m0.aic, rel=1e-13)
    assert m.bic == pytest.approx(m0.bic, rel=1e-13)
    if intercept:       # R^2 and F about the mean: shift-free (without an intercept R's are about 0)
        assert m.r_squared == pytest.approx(m0.r_squared, rel=1e-9)
        assert m.adj_r_squared == pytest.approx(m0.adj_r_squared, rel=1e-9)
        assert m.fstatistic[0] == pytest.approx(m0.fstatistic[0], rel=1e-9)
        assert m.fstatistic[1:] == m0.fstatistic[1:]
    else:
        assert 0.0 < m.r_squared <= 1.0
    # residuals come from the centred response: not rounded to the ulp of s
    np.testing.assert_allclose(m.residuals.to_numpy(), m0.residuals.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(m.fitted.to_numpy() - s, m0.fitted.to_numpy(), rtol=0, atol=16 * EPS * s)
    np.testing.assert_allclose(m.summary().residuals, m0.summary().residuals, rtol=0, atol=1e-9)
    p, p0 = m.predict(interval="prediction"), m0.predict(interval="prediction")
    np.testing.assert_allclose(p["fit"] - s, p0["fit"], rtol=0, atol=16 * EPS * s)
    # lwr and upr are of size s: their difference to the ulps of s
    np.testing.assert_allclose(p["upr"] - p["lwr"], p0["upr"] - p0["lwr"], rtol=1e-9, atol=16 * EPS * s)
    nd = df.iloc[:7]
    np.testing.assert_allclose(m.predict(nd) - s, m0.predict(nd), rtol=0, atol=16 * EPS * s)
    ci, ci0 = m.confint().to_numpy(), m0.confint().to_numpy()
    np.testing.assert_allclose(ci[other], ci0[other], rtol=1e-9)
    np.testing.assert_allclose(ci[shifted] - s, ci0[shifted], rtol=0, atol=16 * EPS * s)


@pytest.mark.parametrize("s", [1e9, 1e12])
def test_lm_refit_and_lmlist_of_a_shifted_response(s):
    df = _data()
    m0 = mm.lm("y ~ x", df)
    r = m0.refit(y=df["y"].to_numpy() + s)
    assert r.loglik == pytest.approx(m0.loglik, rel=1e-13)
    assert r.fixef["x"] == pytest.approx(m0.fixef["x"], rel=1e-9)
    L0 = mm.lmlist("y ~ x | g", df)
    L = mm.lmlist("y ~ x | g", _shifted(df, s))
    c, c0 = L.coef(), L0.coef()
    np.testing.assert_allclose(c["x"], c0["x"], rtol=1e-9)
    np.testing.assert_allclose(c["(Intercept)"] - s, c0["(Intercept)"], rtol=0, atol=8 * EPS * s)
    assert L.pooled_sd()[0] == pytest.approx(L0.pooled_sd()[0], rel=1e-9)


@pytest.mark.parametrize("s", [1e9, 1e12])
@pytest.mark.parametrize("kw", [{}, {"REML": False}, {"weights": "w"}, {"offset": "off"}])
def test_ranova_of_a_shifted_response(kw, s):
    """ranova's row for dropping the only random term is an lm (lm_loglik): its logLik as for y."""
    df = _data()
    t0 = mm.lmer("y ~ x + (1 | g)", df, **kw).ranova()
    t = mm.lmer("y ~ x + (1 | g)", _shifted(df, s), **kw).ranova()
    np.testing.assert_allclose(t["logLik"], t0["logLik"], rtol=1e-12)
    np.testing.assert_allclose(t["LRT"].iloc[1:], t0["LRT"].iloc[1:], rtol=1e-7)


@pytest.mark.parametrize("s", [1e9, 1e12])
@pytest.mark.parametrize("reml", [False, True])
def test_lm_loglik_of_a_shifted_response(reml, s):
    from mixedmodels.inference.ranova import lm_loglik

    df = _data()
    y, w, off = df["y"].to_numpy(), df["w"].to_numpy(), df["off"].to_numpy()
    X = np.column_stack([np.ones(len(df)), df["x"]])
    Xf = (df["f"].to_numpy()[:, None] == np.array(list("abc"))).astype(float)  # cell means: 1 in span
    for XX in (X, np.column_stack([Xf, df["x"]])):
        for wt, of in ((None, None), (w, None), (None, off), (w, off)):
            ref = lm_loglik(XX, y, wt, of, reml)
            assert lm_loglik(XX, y + s, wt, of, reml) == pytest.approx(ref, rel=1e-13)
