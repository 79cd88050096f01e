"""The exact gradient of the profiled criterion (core/gradient.py) against Richardson finite differences.

Each model kind (one scalar term, a vector term, crossed, nested, weights, two vector terms),
REML and ML, dense and sparse cores, at random interior thetas and on the boundary. The
finite differences (optim/derivatives.py, numDeriv's method) agree with the exact gradient to
~1e-9 relative here; the tolerance 1e-6 leaves room for other BLAS builds while still catching a
missing term (those change the gradient in the first digits).
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.core.gradient import gradient, objective_and_gradient
from mixedmodels.core.lmm import LmmCore
from mixedmodels.errors import ArgumentError
from mixedmodels.optim.derivatives import jacobian

RTOL = 1e-6


def _crossed_maximal(seed: int = 3):
    """Subjects x items, (1 + a + b | subj) + (1 + a + b | item): 12 thetas."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    ns, ni = 24, 16
    s, i = np.meshgrid(np.arange(ns), np.arange(ni), indexing="ij")
    s, i = s.ravel(), i.ravel()
    a = rng.choice([-0.5, 0.5], s.size)
    b = rng.normal(size=s.size)
    us, ui = rng.normal(size=(ns, 3)) * [1.0, 0.5, 0.3], rng.normal(size=(ni, 3)) * [0.8, 0.4, 0.2]
    y = (1 + 0.3 * a - 0.2 * b + us[s, 0] + us[s, 1] * a + us[s, 2] * b + ui[i, 0] + ui[i, 1] * a
         + ui[i, 2] * b + rng.normal(size=s.size))
    return pd.DataFrame({"y": y, "a": a, "b": b, "subj": pd.Categorical(s.astype(str)),
                         "item": pd.Categorical(i.astype(str))})


def _weighted_sleepstudy():
    d = mm.load_dataset("sleepstudy")
    return d.assign(w=np.random.default_rng(7).uniform(0.5, 2.0, len(d)))


MODELS = {
    "scalar": ("Yield ~ 1 + (1 | Batch)", lambda: mm.load_dataset("Dyestuff"), None),
    "vector": ("Reaction ~ Days + (Days | Subject)", lambda: mm.load_dataset("sleepstudy"), None),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", lambda: mm.load_dataset("Penicillin"), None),
    "nested": ("strength ~ 1 + (1 | batch/cask)", lambda: mm.load_dataset("Pastes"), None),
    "weights": ("Reaction ~ Days + (Days | Subject)", _weighted_sleepstudy, "w"),
    "two_vector": ("y ~ a + b + (1 + a + b | subj) + (1 + a + b | item)", _crossed_maximal, None),
}
_FITS: dict = {}


def _fit(kind):
    if kind not in _FITS:
        formula, data, w = MODELS[kind]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[kind] = mm.lmer(formula, data(), weights=w)
    return _FITS[kind]


def _core(m, method):
    """The fit's core: "dense" as the fit made it (a small model's criterion and gradient from its
    whole system), "blocked" the same core held to the blocked factor, or a "sparse" one."""
    if method == "dense":
        return m.core
    if method == "blocked":
        import copy

        core = copy.copy(m.core)
        core.use_blocked()
        return core
    return LmmCore(m.terms, m.fixed.X, m.frame.y, weights=m.frame.weights, offset=m.frame.offset,
                   method="sparse")


def _interior(m, rng):
    diag = m.core.layout.is_diagonal()
    th = np.where(diag, np.abs(m.theta) * rng.uniform(0.6, 1.6, m.theta.size) + 0.1,
                  m.theta + rng.normal(scale=0.1, size=m.theta.size))
    return th


def _agree(g, fd, floor=1.0):
    err = float(np.max(np.abs(g - fd)))
    assert err <= RTOL * max(floor, float(np.max(np.abs(fd)))), (g, fd)


@pytest.mark.parametrize("method", ["dense", "blocked", "sparse"])
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("kind", list(MODELS))
def test_gradient_matches_finite_differences(kind, reml, method):
    m = _fit(kind)
    core = _core(m, method)
    if method == "sparse" and len(m.terms) > 1:
        assert core.method == "sparse"
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{reml}-{method}".encode()))
    for _ in range(2):
        th = _interior(m, rng)
        value, g = objective_and_gradient(core, th, reml)
        assert value == pytest.approx(core.objective(th, reml), rel=1e-12, abs=1e-9)
        fd = jacobian(lambda t: core.objective(t, reml), th)
        _agree(g, fd)


def test_the_whole_systems_gradient_is_the_blocked_one():
    """A small model's gradient from its whole system (one inverse) equals the blocked factor's."""
    for kind in ("scalar", "vector", "crossed", "nested", "weights"):
        m = _fit(kind)
        assert m.core._whole_system() is not None, kind
        blocked = _core(m, "blocked")
        rng = np.random.default_rng(5)
        for reml in (True, False):
            th = _interior(m, rng)
            v1, g1 = objective_and_gradient(m.core, th, reml)
            v2, g2 = objective_and_gradient(blocked, th, reml)
            assert v1 == pytest.approx(v2, rel=1e-12)
            np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(g2)))))


@pytest.mark.parametrize("kind", ["crossed", "nested", "two_vector"])
def test_gradient_with_sparse_blocks_in_the_dense_mode(kind, monkeypatch):
    """Large dense-mode models (InstEval) keep A_r0 and Lambda_r sparse; small ones use dense arrays.
    Both ways give the same gradient (the sparse way forced here on small models)."""
    from mixedmodels.core import gradient as grad_mod

    m = _fit(kind)
    th = _interior(m, np.random.default_rng(5))
    small = gradient(m.core, th, True)
    monkeypatch.setattr(grad_mod, "_DENSE_OPS", 0)
    np.testing.assert_allclose(gradient(m.core, th, True), small, rtol=1e-9, atol=1e-9)
    _agree(gradient(m.core, th, False), jacobian(lambda t: m.core.objective(t, False), th))


@pytest.mark.parametrize("kind", ["vector", "crossed", "two_vector"])
def test_gradient_at_the_optimum_is_small(kind):
    """At the REML optimum found by BOBYQA the gradient of every interior theta is ~0 (relative to
    the curvature), and the exact and finite-difference gradients agree there too."""
    m = _fit(kind)
    g = gradient(m.core, m.theta, True)
    fd = jacobian(lambda t: m.core.objective(t, True), m.theta)
    # at the optimum both are ~1e-6: the differences' rounding (the criterion is ~1e3, so ~1e-6
    # of noise in a difference quotient) is the floor of the comparison there
    _agree(g, fd, floor=10.0)
    interior = m.theta > 1e-4
    assert np.max(np.abs(g[interior])) < 1e-2


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_on_the_boundary(reml, method):
    """A diagonal theta at 0: the criterion is smooth there (M is positive definite for every
    theta), so the one-sided derivative is the two-sided one, which central differences across
    the bound estimate."""
    m = _fit("two_vector")
    core = _core(m, method)
    th = _interior(m, np.random.default_rng(11))
    lay = core.layout
    first_diag = [lay.offsets[k] for k in range(len(lay.ps))]      # T_k[0, 0] of each term
    th[first_diag[1]] = 0.0
    th[lay.offsets[0] + 3] = 0.0                                    # T_0[1, 1]
    g = gradient(core, th, reml)
    fd = jacobian(lambda t: core.objective(t, reml), th)
    _agree(g, fd)
    # one-sided, inside the bounds only: a forward difference at the zero entries
    f0 = core.objective(th, reml)
    for j in (first_diag[1], lay.offsets[0] + 3):
        h = 1e-6
        e = np.zeros_like(th)
        e[j] = h
        fwd = (core.objective(th + e, reml) - f0) / h
        assert fwd == pytest.approx(g[j], abs=1e-3 * max(1.0, abs(g[j])))
    # the scalar case: an even function of its theta, so 0 at 0
    ms = _fit("crossed")
    th2 = ms.theta.copy()
    th2[1] = 0.0
    g2 = gradient(ms.core, th2, reml)
    assert g2[1] == 0.0
    assert abs(g2[0]) > 0


def test_gradient_rejects_a_theta_of_the_wrong_size():
    m = _fit("vector")
    with pytest.raises(ArgumentError, match="3 number"):
        gradient(m.core, np.ones(2), True)
    with pytest.raises(ArgumentError, match="finite"):
        gradient(m.core, np.array([1.0, np.nan, 1.0]), True)


# ---------------------------------------------------------------------------- the gradient optimizer
LBFGS_CASES = {
    "scalar": MODELS["scalar"], "vector": MODELS["vector"], "crossed": MODELS["crossed"],
    "nested": MODELS["nested"], "two_vector": MODELS["two_vector"],
    "singular": ("Yield ~ 1 + (1 | Batch)", lambda: mm.load_dataset("Dyestuff2"), None),
}


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("kind", list(LBFGS_CASES))
def test_lbfgs_reaches_bobyqas_criterion(kind, reml):
    """control={'optimizer': 'lbfgs'} ends no higher than BOBYQA (1e-6), in fewer evaluations. On the
    12-theta model L-BFGS-B alone stops on a saddle at T_subj[2, 2] = 0 (the criterion is even in
    that entry, so its derivative is 0 there) about 4 units higher: the probe off the bound is what
    reaches the optimum."""
    formula, data, w = LBFGS_CASES[kind]
    d = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mm.lmer(formula, d, REML=reml, weights=w)
        g = mm.lmer(formula, d, REML=reml, weights=w, control={"optimizer": "lbfgs"})
    assert g.optinfo.optimizer == "lbfgs" and g.optinfo.converged
    assert g.objective <= b.objective + 1e-6
    assert g.optinfo.nevals < b.optinfo.nevals
    np.testing.assert_allclose(g.theta, b.theta, atol=2e-3)
    if kind == "singular":
        assert g.theta[0] == 0.0 and g.is_singular


def test_lbfgs_without_a_gradient_is_bobyqa_and_counts_its_evaluations():
    """Refits with no gradient (ranova, profiles, influence) under an lbfgs model's control run BOBYQA
    and say so; with one, evaluations are counted and maxeval is a hard limit."""
    from mixedmodels.errors import ConvergenceWarning
    from mixedmodels.optim.nlopt import check_control, minimize_theta

    assert check_control({"optimizer": "lbfgs"}) == {"optimizer": "lbfgs"}
    m = _fit("vector")
    _, v, info = minimize_theta(lambda t: m.core.objective(t, True), m.core.layout.start(), m.core.layout.lower(),
                                {"optimizer": "lbfgs"})
    assert info.optimizer == "bobyqa" and v == pytest.approx(m.objective, abs=1e-6)
    calls = []

    def fg(t):
        calls.append(1)
        return objective_and_gradient(m.core, t, True)

    with pytest.warns(ConvergenceWarning, match="lbfgs"):
        _, _, info = minimize_theta(lambda t: m.core.objective(t, True), m.core.layout.start(),
                                    m.core.layout.lower(), {"optimizer": "lbfgs", "maxeval": 3}, fun_and_grad=fg)
    assert info.code == 5 and not info.converged and info.nevals == len(calls) <= 3
