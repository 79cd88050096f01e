"""The core's fast paths against a brute-force dense computation.

Every path of :class:`mixedmodels.core.lmm.LmmCore` (dense Schur block with the pair map or with a
sparse product, the sparse SuperLU path, vectorized small Cholesky factors) must give the same
objective, solutions, vcov and conditional variances as the textbook dense formulas.
"""
import numpy as np
import pandas as pd
import pytest
from scipy.linalg import block_diag

import mixedmodels.core.limits as core_limits
from mixedmodels.core.first_term import batch_cholesky as _batch_cholesky, batch_tril_inv as _batch_tril_inv
from mixedmodels.core.lmm import LmmCore
from mixedmodels.errors import FitError
from mixedmodels.fit.lmer import lmer_stages

LOG2PI = np.log(2 * np.pi)


def _data(seed, n=80, ng=7, nh=5, nk=4):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "x2": rng.normal(size=n),
                      "g": rng.integers(0, ng, n).astype(str), "h": rng.integers(0, nh, n).astype(str),
                      "k": rng.integers(0, nk, n).astype(str)})
    d.loc[: ng - 1, "g"] = [str(i) for i in range(ng)]
    d.loc[: nh - 1, "h"] = [str(i) for i in range(nh)]
    d.loc[: nk - 1, "k"] = [str(i) for i in range(nk)]
    return d


def _dense(terms, n, theta, layout):
    Zs = []
    for t in terms:
        Z = np.zeros((n, t.q))
        for j in range(t.p):
            Z[np.arange(n), t.codes * t.p + j] = t.z[:, j]
        Zs.append(Z)
    T = layout.templates(theta)
    Lam = block_diag(*[np.kron(np.eye(t.nlev), Tk) for t, Tk in zip(terms, T)])
    return np.hstack(Zs), Lam


def _brute(X, Z, y, Lam, reml):
    n, p = X.shape
    ZL = Z @ Lam
    q = ZL.shape[1]
    Om = ZL.T @ ZL + np.eye(q)
    A = np.block([[Om, ZL.T @ X], [X.T @ ZL, X.T @ X]])
    rhs = np.concatenate([ZL.T @ y, X.T @ y])
    sol = np.linalg.solve(A, rhs)
    u, beta = sol[:q], sol[q:]
    r2 = float(np.sum((y - X @ beta - ZL @ u) ** 2) + u @ u)
    ldL = np.linalg.slogdet(Om)[1]
    Ainv = np.linalg.inv(A)
    ldRX = -np.linalg.slogdet(Ainv[q:, q:])[1]
    if reml:
        obj = ldL + ldRX + (n - p) * (1 + LOG2PI + np.log(r2 / (n - p)))
    else:
        obj = ldL + n * (1 + LOG2PI + np.log(r2 / n))
    return obj, beta, u, Ainv[q:, q:], np.linalg.inv(Om)


FORMULAS = [
    "y ~ x + (1 | g) + (1 | h)",
    "y ~ x + (1 + x | g) + (1 + x | h)",
    "y ~ x + (1 | g) + (1 + x | h) + (1 | k)",
    "y ~ x + (1 + x + x2 | g) + (1 | h) + (0 + x | k)",
    "y ~ x + (1 | g) + (1 + x | h) + (1 + x | k)",
    "y ~ x + (1 | g/h)",
    "y ~ x + (1 + x | g)",
]


def _force(core, mode):
    """Make a dense-method core form A_r0 W A_0r in the given way (the objective through the
    blocked factor, not the whole small system), or evaluate the whole system (``"whole"``)."""
    if mode == "whole":
        assert core._whole_system() is not None
        return
    core.use_blocked()
    if core.mz:
        core._mmode = mode
        core._Ar0d = core.Ar0.toarray() if mode == "dense" else None
        core._P = None
        core._Mg = None
        if mode == "groups":
            assert core._build_groups(core.mz)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("path", ["pairs", "dense", "spgemm", "groups", "sparse", "whole"])
def test_paths_match_brute_force(formula, path):
    d = _data(FORMULAS.index(formula))
    _, _, fixed, terms, core = lmer_stages(formula, d)
    n = len(d)
    y = d["y"].to_numpy(float)
    core = LmmCore(terms, fixed.X, y, method="sparse" if path == "sparse" else "dense")
    if path == "groups" and (core.p0 != 1 or not core.mz):
        pytest.skip("the level groups are for a scalar first term followed by others")
    if path != "sparse":
        _force(core, path)
    if path == "pairs" and core.mz:
        core.objective(core.layout.start(), True)
        core.objective(core.layout.start(), True)
        assert core._P is not None
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = rng.uniform(0.2, 1.5, core.layout.size) * np.where(core.layout.is_diagonal(), 1,
                                                                     rng.choice([-1, 1], core.layout.size))
        Z, Lam = _dense(terms, n, theta, core.layout)
        for reml in (True, False):
            obj, beta, u, RXi, Ominv = _brute(fixed.X, Z, y, Lam, reml)
            assert core.objective(theta, reml) == pytest.approx(obj, rel=1e-10, abs=1e-8)
            # what Satterthwaite's derivatives read: the same pieces on either path
            ldL2, ldRX2, r2, rxi = core.pieces(theta, with_rx=True)
            np.testing.assert_allclose(rxi, RXi, rtol=1e-8, atol=1e-12)
        f = core.factor(theta)
        b, us = core.solve(f)
        np.testing.assert_allclose(b, beta, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(np.concatenate([x.ravel() for x in us]), u, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(core.rx_inverse(f), RXi, rtol=1e-8, atol=1e-12)
        blocks = core.cond_var_u(f)
        off = 0
        for t, B in zip(terms, blocks):
            for lev in range(t.nlev):
                s = off + lev * t.p
                np.testing.assert_allclose(B[lev], Ominv[s: s + t.p, s: s + t.p], rtol=1e-7, atol=1e-12)
            off += t.q
        if path != "sparse":
            # the lazily formed blocks of the first term still describe the factor
            q0 = terms[0].q
            L = np.linalg.cholesky(Lam.T @ Z.T @ Z @ Lam + np.eye(Z.shape[1]))
            np.testing.assert_allclose(f.LZ0.toarray(), L[q0:, :q0], rtol=1e-7, atol=1e-10)


def test_whole_system_is_chosen_for_small_models_only():
    """Small models evaluate their criterion on the whole dense system, larger ones blocked; the
    two agree to rounding (the brute-force test above holds both)."""
    small = lmer_stages("y ~ x + (1 + x | g) + (1 | h)", _data(2))[4]
    assert small._whole_system() is not None
    f_whole = small.objective(small.layout.start(), True)
    small.use_blocked()
    assert small.objective(small.layout.start(), True) == pytest.approx(f_whole, rel=1e-12)
    big = lmer_stages("y ~ x + (1 + x | g)", _data(3, n=1200, ng=300))[4]
    assert big._whole_system() is None     # 603-square: its blocked form is cheaper
    sparse = lmer_stages("y ~ x + (1 | g) + (1 | h)", _data(4))[4]
    sparse_core = LmmCore(sparse.terms, np.ones((80, 1)), _data(4)["y"].to_numpy(float), method="sparse")
    assert sparse_core._whole_system() is None


def test_pairs_path_is_taken_after_first_call():
    d = _data(5)
    _, _, fixed, terms, core = lmer_stages("y ~ x + (1 | g) + (1 | h)", d)
    _force(core, "pairs")
    core.objective(np.ones(2), True)
    assert core._P is None           # a single evaluation (e.g. one PIRLS step) does not build it
    core.objective(np.ones(2), True)
    assert core._P is not None


def test_cost_model_picks_dense_product_for_fully_crossed_and_pairs_for_sparse_crossing():
    rng = np.random.default_rng(4)
    s, i = np.meshgrid(np.arange(60), np.arange(40), indexing="ij")
    d = pd.DataFrame({"y": rng.normal(size=2400), "subj": s.ravel().astype(str), "item": i.ravel().astype(str)})
    c = lmer_stages("y ~ 1 + (1 | subj) + (1 | item)", d)[-1]
    c.use_blocked()       # the blocked form's choice (this 102-square model is evaluated whole)
    c.objective(np.ones(2), True)
    c.objective(np.ones(2), True)
    assert c._mmode == "dense"
    n = 20000
    d = pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 3000, n).astype(str),
                      "b": rng.integers(0, 1000, n).astype(str)})
    c = lmer_stages("y ~ 1 + (1 | a) + (1 | b)", d)[-1]
    c.objective(np.ones(2), True)
    assert c._mmode == "undecided" and c._P is None
    c.objective(np.ones(2), True)
    assert c._mmode == "pairs" and c._P is not None


def test_objective_buffer_does_not_alias_kept_factors():
    d = _data(6)
    _, _, fixed, terms, core = lmer_stages("y ~ x + (1 | g) + (1 + x | h)", d)
    f = core.factor(np.array([0.7, 0.4, 0.1, 0.3]))
    Ls = f.Ls.copy()
    for _ in range(3):
        core.objective(np.array([1.3, 0.2, -0.5, 0.9]), False)
    np.testing.assert_array_equal(f.Ls, Ls)


def test_batched_small_cholesky_and_inverse():
    rng = np.random.default_rng(0)
    for p in (1, 2, 3, 5, 10):
        A = rng.normal(size=(50, p, p))
        D = A @ np.transpose(A, (0, 2, 1)) + np.eye(p)
        L = _batch_cholesky(D)
        np.testing.assert_allclose(L, np.linalg.cholesky(D), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(_batch_tril_inv(L), np.linalg.inv(L), rtol=1e-9, atol=1e-12)
    bad = np.array([[[1.0, 2.0], [2.0, 1.0]]])
    assert _batch_cholesky(bad) is None


def _nested(n_schools, per_school=2, reps=2, seed=0):
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), per_school * reps)
    klass = np.repeat(np.arange(n_schools * per_school), reps)
    n = len(school)
    y = rng.normal(size=n) + rng.normal(size=n_schools)[school] + 0.5 * rng.normal(size=n_schools * per_school)[klass]
    return pd.DataFrame({"y": y, "x": rng.normal(size=n), "school": school.astype(str),
                         "klass": klass.astype(str)})


def test_auto_uses_sparse_path_for_large_nested_design():
    d = _nested(3000)
    _, _, fixed, terms, core = lmer_stages("y ~ x + (1 | school) + (1 | klass)", d)
    assert core.mz == 3000 and core.method == "sparse"
    dense = LmmCore(terms, fixed.X, d["y"].to_numpy(float), method="dense")
    for theta in ([0.5, 0.8], [1.2, 0.3]):
        assert core.objective(np.array(theta), True) == pytest.approx(dense.objective(np.array(theta), True),
                                                                      rel=1e-11)


def test_dense_block_too_large_switches_or_raises(monkeypatch):
    d = _data(7, n=200, ng=40, nh=30)
    _, _, fixed, terms, _ = lmer_stages("y ~ x + (1 | g) + (1 | h)", d)
    y = d["y"].to_numpy(float)
    monkeypatch.setattr(core_limits, "DENSE_MAX_BYTES", 1000)
    core = LmmCore(terms, fixed.X, y)
    assert core.method == "sparse"
    with pytest.raises(FitError, match="dense Schur block"):
        LmmCore(terms, fixed.X, y, method="dense")
    ref = LmmCore(terms, fixed.X, y, method="sparse")
    monkeypatch.setattr(core_limits, "DENSE_MAX_BYTES", 1 << 30)
    dense = LmmCore(terms, fixed.X, y)
    assert dense.method == "dense"
    assert ref.objective(np.array([0.6, 0.9]), False) == pytest.approx(dense.objective(np.array([0.6, 0.9]), False),
                                                                      rel=1e-11)


def test_lmer_fit_through_sparse_path_matches_dense(monkeypatch):
    import mixedmodels as mm

    d = _data(8, n=300, ng=30, nh=20)
    rng = np.random.default_rng(8)
    d["y"] += rng.normal(size=30)[d["g"].astype(int)] + 0.7 * rng.normal(size=20)[d["h"].astype(int)]
    m_dense = mm.lmer("y ~ x + (1 | g) + (1 | h)", d)
    monkeypatch.setattr(core_limits, "DENSE_MAX_BYTES", 1000)
    m_sparse = mm.lmer("y ~ x + (1 | g) + (1 | h)", d)
    assert m_sparse.core.method == "sparse"
    assert m_sparse.objective == pytest.approx(m_dense.objective, abs=1e-7)
    np.testing.assert_allclose(m_sparse.fixef, m_dense.fixef, rtol=1e-6)
    np.testing.assert_allclose(m_sparse.vcov.to_numpy(), m_dense.vcov.to_numpy(), rtol=1e-5)


# ---------------------------------------------------------------------------- lme4's start and stopping rule
def test_moment_start_is_lme4s():
    import mixedmodels as mm

    # lme4's mkLmerDevfun: all terms random intercepts of distinct factors -> sqrt(v_k / v_e)
    core = lmer_stages("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.load_dataset("Penicillin"))[-1]
    np.testing.assert_allclose(core.start_theta(), [1.744915, 3.594013], rtol=2e-6)
    np.testing.assert_allclose(core.layout.start(), core.start_theta())
    # v_e <= 0 for Pastes: lme4 keeps theta = 1
    core = lmer_stages("strength ~ 1 + (1 | batch/cask)", mm.load_dataset("Pastes"))[-1]
    np.testing.assert_array_equal(core.start_theta(), [1.0, 1.0])
    # random slopes: theta = 1 on the diagonal, 0 elsewhere
    core = lmer_stages("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))[-1]
    np.testing.assert_array_equal(core.start_theta(), [1.0, 0.0, 1.0])


def test_optimizer_follows_lme4_iterates():
    """Same start, same NLopt BOBYQA and the same stopping rule as lme4's nloptwrap (xtol_rel 1e-4 from
    nloptr's defaults): about the number of evaluations R reports (Penicillin: 41, Dyestuff: 17)."""
    import mixedmodels as mm

    m = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.load_dataset("Penicillin"))
    assert abs(m.optinfo.nevals - 41) <= 3
    assert m.objective == pytest.approx(330.860589, abs=1e-5)
    m = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.load_dataset("Dyestuff"))
    assert abs(m.optinfo.nevals - 17) <= 2


def test_satterthwaite_shortcut_equals_full_numderiv_scheme():
    """varpar_info shares factorizations between points with the same theta; the numbers must be those
    of numDeriv's schemes applied to the deviance and vcov as functions of (theta, sigma)."""
    import mixedmodels as mm
    from mixedmodels.optim.derivatives import hessian, jacobian
    from mixedmodels.inference.satterthwaite import varpar_info

    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    core = m.core
    vp = np.concatenate([m.theta, [m.sigma]])
    info = varpar_info(core, m.theta, m.sigma, True)

    def dev(x):
        return core.deviance_vp(x[:-1], x[-1], True)

    def vc(x):   # the same evaluation as varpar_info's (small models: the whole system)
        return x[-1] ** 2 * core.pieces(x[:-1], with_rx=True)[3]

    H = hessian(dev, vp)
    np.testing.assert_allclose(info.A, 2 * np.linalg.inv((H + H.T) / 2), rtol=1e-10)
    np.testing.assert_allclose(info.J, jacobian(vc, vp), rtol=1e-10, atol=1e-12)


def test_hessian_is_numderiv_genD():
    """genD's off-diagonal formula (two evaluations per step) on a function with known derivatives."""
    from mixedmodels.optim.derivatives import hessian

    def f(x):
        return np.exp(x[0]) * np.sin(x[1]) + x[0] ** 2 * x[2] ** 3

    x = np.array([0.3, 1.1, -0.7])
    e, s, c = np.exp(x[0]), np.sin(x[1]), np.cos(x[1])
    H = np.array([[e * s + 2 * x[2] ** 3, e * c, 6 * x[0] * x[2] ** 2],
                  [e * c, -e * s, 0.0],
                  [6 * x[0] * x[2] ** 2, 0.0, 6 * x[0] ** 2 * x[2]]])
    np.testing.assert_allclose(hessian(f, x), H, rtol=1e-7, atol=1e-8)
    # vector-valued functions: one Hessian per component
    Hv = hessian(lambda x: np.array([f(x), 2 * f(x)]), x)
    np.testing.assert_allclose(Hv[1], 2 * Hv[0], rtol=1e-12)


@pytest.mark.parametrize("nb", [60, 6])  # the groups' columns sparse (a sparse product each) or dense (a GEMM)
def test_level_groups_replace_the_sparse_product_beyond_the_pair_limit(monkeypatch, nb):
    """A crossed design whose pair map passes its limit: a scalar first term's levels grouped by
    A00 (their counts) give the Schur product as a sum of a few dense blocks, equal to scipy's."""
    rng = np.random.default_rng(5)
    n = 6000
    d = pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 1500, n).astype(str),
                      "b": rng.integers(0, nb, n).astype(str)})
    monkeypatch.setattr(core_limits, "PAIR_MAX", 10)
    c = lmer_stages("y ~ 1 + (1 | a) + (1 | b)", d)[-1]
    if nb == 6:  # few levels of b: the cost model takes the dense product; the groups forced here
        _force(c, "groups")
    for th in (np.ones(2), np.array([0.7, 1.3])):
        c.objective(th, True)
    assert c._mmode == "groups" and c._Mg is not None and c._Mg.shape[0] == len(np.unique(c._a00))
    ref = lmer_stages("y ~ 1 + (1 | a) + (1 | b)", d)[-1]
    _force(ref, "spgemm")
    for th in (np.array([0.4, 2.0]), np.array([1.7, 0.05])):
        assert c.objective(th, True) == pytest.approx(ref.objective(th, True), rel=1e-12)
    if nb == 6:
        return
    monkeypatch.setattr(core_limits, "GROUPS_MAX_BYTES", 0)
    c2 = lmer_stages("y ~ 1 + (1 | a) + (1 | b)", d)[-1]
    c2.objective(np.ones(2), True)
    c2.objective(np.ones(2), True)
    assert c2._mmode == "spgemm"


def test_a_model_the_whole_system_and_the_blocked_factor_disagree_on_is_fitted_blocked(monkeypatch):
    """A random slope in units of 1e12 sits at the edge of rounding, where the whole system and the
    blocked factor can disagree on which theta are positive definite. Such models are kept off the
    whole system (their Z'Z diagonals spread over more than 1e10), and where the two disagree at
    the optimizer's end anyway (here with that guard lifted) the fit is redone on the blocked
    factor: it ends at a theta the result can read."""
    import warnings

    import mixedmodels as mm
    import mixedmodels.core.lmm as lmm_mod

    rng = np.random.default_rng(5)
    d = pd.DataFrame({"y": rng.normal(size=30), "x": rng.normal(size=30) * 1e12, "g": rng.choice(["a", "b"], 30)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("y ~ 1 + (x | g)", d)
        assert m.core._whole_system() is None
        monkeypatch.setattr(lmm_mod, "_WHOLE_SPREAD", np.inf)
        m2 = mm.lmer("y ~ 1 + (x | g)", d)
    assert m2.core.factor(m2.theta) is not None and np.isfinite(m2.objective)
    assert m2.objective == pytest.approx(m.objective, rel=1e-9)
