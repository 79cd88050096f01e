"""The factorization's public face: what Kenward-Roger, leverage and influence read, and nothing else.

1. Those modules (and the other post-fit readers) use only public methods of the factor and of
   the result: their source, read with ``ast``, names none of the factor's storage fields
   (``Ls``, ``L00``, ``lu``, ``Y``, ``mode``) and no private ``_x`` attribute of another object.
2. The public methods agree with dense linear algebra on the full penalized system (to 1e-12),
   with weights, in the core's dense and sparse modes.
"""
import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.core.lmm import LmmCore

SRC = Path(__file__).resolve().parent.parent / "src" / "mixedmodels"
STORAGE = {"Ls", "L00", "lu", "Y", "mode"}
STRICT = ["inference/kenward_roger.py", "postfit/leverage.py", "postfit/influence.py"]
# these read a fit's factor or templates too: no storage fields, no results' private caches
READERS = ["postfit/check.py", "postfit/icc.py", "postfit/predict.py", "inference/simulate.py",
           "inference/confint.py", "inference/glmm_profile.py", "inference/satterthwaite.py",
           "report/summary.py", "report/plots.py"]
RESULT_PRIVATE = {"_factor", "_solution", "_group_labels", "_T", "_b", "_final"}


def _attributes(rel):
    tree = ast.parse((SRC / rel).read_text(), filename=rel)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            yield node.attr, owner, node.lineno


@pytest.mark.parametrize("rel", STRICT)
def test_no_storage_and_no_foreign_private_attributes(rel):
    bad = [f"{rel}:{line}: .{attr}" for attr, owner, line in _attributes(rel)
           if attr in STORAGE
           or (attr.startswith("_") and not attr.startswith("__") and owner not in ("self", "cls"))]
    assert not bad, "read through the public face instead:\n" + "\n".join(bad)


@pytest.mark.parametrize("rel", READERS)
def test_readers_use_no_factor_storage_or_result_caches(rel):
    bad = [f"{rel}:{line}: .{attr}" for attr, owner, line in _attributes(rel)
           if (attr in STORAGE - {"mode"} or attr in RESULT_PRIVATE) and owner not in ("self", "cls")]
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------- dense algebra
def _fit(name):
    d = mm.load_dataset("sleepstudy" if name != "crossed" else "Penicillin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "crossed":
            return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", d)
        if name == "one_term":
            return mm.lmer("Reaction ~ Days + (Days | Subject)", d)
        rng = np.random.default_rng(5)
        d = d.copy()
        d["g"] = rng.integers(0, 7, len(d)).astype(str)
        d["h"] = rng.integers(0, 4, len(d)).astype(str)
        return mm.lmer("Reaction ~ Days + (Days | Subject) + (1 | g) + (Days | h)", d)


def _dense_system(terms, T, X, w):
    """C = [[Lambda'Z'WZ Lambda + I, Lambda'Z'WX], [X'WZ Lambda, X'WX]], the first term's q0."""
    n = X.shape[0]
    Zs, Ls = [], []
    for t, Tk in zip(terms, T):
        Z = np.zeros((n, t.q))
        for a in range(t.p):
            Z[np.arange(n), t.codes * t.p + a] = t.z[:, a]
        Zs.append(Z)
        Ls.append(np.kron(np.eye(t.nlev), Tk))
    U = np.hstack(Zs) @ sla.block_diag(*Ls)
    q = U.shape[1]
    WU, WX = U * w[:, None], X * w[:, None]
    C = np.block([[U.T @ WU + np.eye(q), U.T @ WX], [X.T @ WU, X.T @ WX]])
    return C, q, terms[0].q


def _schur(C, k):
    return C[k:, k:] - C[k:, :k] @ np.linalg.solve(C[:k, :k], C[:k, k:])


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, float(np.max(np.abs(b), initial=0.0))))


@pytest.mark.parametrize("name", ["slopes_three_terms", "crossed", "one_term"])
@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_public_methods_agree_with_dense_algebra(name, method):
    m = _fit(name)
    X = np.asarray(m.fixed.X, dtype=float)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, X.shape[0])
    core = LmmCore(m.terms, X, np.asarray(m.frame.y, dtype=float), weights=w, method=method)
    assert core.method == method or not core.mz
    f = core.factor(m.theta)
    C, q, q0 = _dense_system(m.terms, f.T, X, w)
    mz, p = q - q0, X.shape[1]
    L = np.linalg.cholesky(C)

    # the first term: L_00 = chol(C_00) is block diagonal
    B0 = rng.normal(size=(q0, 3))
    _close(f.solve_00(B0), sla.solve_triangular(L[:q0, :q0], B0, lower=True))
    _close(f.solve_00(sp.csr_matrix(B0)).toarray(), sla.solve_triangular(L[:q0, :q0], B0, lower=True))
    t0 = m.terms[0]
    lev = rng.integers(0, t0.nlev, 11)
    rows = rng.normal(size=(11, t0.p))
    want = np.array([sla.solve_triangular(L[k * t0.p:(k + 1) * t0.p, k * t0.p:(k + 1) * t0.p], r, lower=True)
                     for k, r in zip(lev, rows)])
    _close(f.solve_00_rows(lev, rows), want)
    _close(np.asarray(f.LZ0.toarray()), L[q0:q, :q0])
    _close(f.H[:, :p], L[q:, :q0].T)

    # the Schur complements: of the first term in [Z_r Lambda_r, X], and of all of Z
    S = _schur(C, q0)
    R = rng.normal(size=(mz, 4))
    U, V = f.split_rr(R)
    if mz:
        _close(U.T @ V, R.T @ np.linalg.solve(S[:mz, :mz], R))
        _close(f.solve_rr(R), np.linalg.solve(S[:mz, :mz], R))
    B = rng.normal(size=(mz + p, 5))
    _close(f.schur_quadform(B), np.einsum("ij,ij->j", B, np.linalg.solve(S, B)))
    acc = np.arange(5.0)
    assert f.schur_quadform(B, acc=acc) is acc
    _close(acc, np.arange(5.0) + np.einsum("ij,ij->j", B, np.linalg.solve(S, B)))
    _close(f.L_XX @ f.L_XX.T, _schur(C, q))


def test_result_views_are_the_cached_factor():
    m = _fit("one_term")
    assert m.factor is m._factor
    assert m.templates is m._factor.T
    assert m.b is m._b and m.group_labels == ["Subject"]
    vc = m.varcorr
    var = vc[vc["grp"] == "Subject"]["vcov"].to_numpy()[:2]
    _close(var, np.diag(m.sigma ** 2 * m.templates[0] @ m.templates[0].T))
