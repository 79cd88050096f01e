r"""The exact gradient of lmer's profiled criterion in theta.

Write ``Sigma = Lambda Lambda'`` (``blockdiag(I (x) Sigma_k)``, ``Sigma_k = T_k T_k'``) and, with
the weights in ``A = [Z X y]'W[Z X y]``, ``V = W^-1 + Z Sigma Z'`` (the marginal covariance over
sigma^2). Woodbury gives the pieces of the criterion as functions of Sigma:

    log|L_Z|^2 = log|Lambda'A_ZZ Lambda + I|,   R_X'R_X = X'V^-1 X,
    r^2 = (y - X beta)' V^-1 (y - X beta)       (minimum over beta),

and their differentials in Sigma (the last by the envelope theorem: beta is a minimizer)

    d log|L_Z|^2  =  tr(N dSigma),                   N   = Z'V^-1 Z = A_ZZ - A_ZZ Lambda M^-1 Lambda' A_ZZ
    d log|R_X|^2  = -tr(G (R_X'R_X)^-1 G' dSigma),   G   = Z'V^-1 X
    d r^2         = -v' dSigma v,                    v   = Z'V^-1 (y - X beta) = Z'W(y - X beta - Z Lambda u)

with ``M = Lambda'A_ZZ Lambda + I``. Sigma is block diagonal, so only the level blocks of N, G and
v enter, and summed over the levels of a term: ``tr(N dSigma) = sum_k tr(S_k dSigma_k)`` with
``S_k = sum_b N_bb`` (one p_k x p_k matrix per term); likewise ``SX_k = sum_b G_b (R_X'R_X)^-1 G_b'``
and ``U_k = sum_b v_b v_b'``. For ``theta_i = T_k[r, c]``, ``dSigma_k = E_rc T_k' + T_k E_cr``
and ``tr(S dSigma_k) = 2 (S T_k)[r, c]``: the gradient is, entry by entry of the templates,

    ML:    2 [(S_k - (n / r^2) U_k) T_k][r, c]
    REML:  2 [(S_k - SX_k - ((n - p) / r^2) U_k) T_k][r, c]

Nothing here divides by theta, so it holds on the boundary (a diagonal theta_i = 0): the
criterion is a smooth function of theta on all of R^k (M is positive definite for every theta),
and the one-sided derivative there is this two-sided one.

The level blocks of N, in the core's blocks (first term 0 eliminated level by level with
``W_l = T0 D_l^-1 T0'``, ``Psi_l = I - W_l A00_l``; the other terms r with the Schur complement
``S_rr = Lambda_r' At Lambda_r + I`` of ``At = A_rr - A_r0 W A_0r``):

    first term, level l:  N_ll = A00_l Psi_l - (Lambda_r'A_r0,l Psi_l)' S_rr^-1 (Lambda_r'A_r0,l Psi_l)
    other terms, level b: N_bb = At_bb - (Lambda_r' At_:b)' S_rr^-1 (Lambda_r' At_:b)

So the gradient needs ``S_rr^-1`` applied to the ``q0 + mz`` columns of ``Lambda_r'[A_r0 Psi, At]``
(with the dense factor: triangular solves, ~``mz^2 (q0 + mz)`` flops; with the sparse LU: that
many sparse solves), against ``mz^3/3`` for the Cholesky factor of one evaluation. With one term
(mz = 0) or few levels in the others it costs about one evaluation; where ``mz`` is large (InstEval:
mz ~ 1100, q0 ~ 3000) it costs more than the k extra evaluations of a finite-difference gradient.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from ..errors import ArgumentError, FitError
from .factor import Factorization
from .pls_dense import solve_upper

__all__ = ["gradient", "objective_and_gradient", "gradient_from"]

_CHUNK = 4_000_000  # doubles in one dense chunk of right-hand sides (32 MB)
_DENSE_OPS = 4_000_000  # entries of A_r0 and A_rr below which they are handled as dense arrays


def objective_and_gradient(core, theta, reml: bool) -> tuple[float, np.ndarray]:
    """The profiled criterion and its exact gradient at theta, from one factorization.

    Parameters
    ----------
    core : LmmCore
    theta : array_like, (k,)
    reml : bool
        REML criterion (True) or ML deviance (False).

    Returns
    -------
    value : float
        ``core.objective(theta, reml)`` (to rounding); ``inf`` outside the domain.
    grad : ndarray, (k,)
        d value / d theta (see the module's docstring); NaN where ``value`` is not finite.
    """
    theta = _check_theta(core, theta)
    whole = core._whole_system()
    if whole is not None:
        return _whole_objective_and_gradient(core, whole, theta, reml)
    f = core.factor(theta)
    if f is None or not f.r2 > 0:
        return math.inf, np.full(theta.size, np.nan)
    value = core.objective_from(f, reml)
    return value, gradient_from(core, f, reml)


def _whole_objective_and_gradient(core, whole, theta, reml: bool):
    r"""The criterion and its gradient from a small model's whole system (``core._whole_system()``).

    With ``Lt = blockdiag(Lambda, I_p)``, ``A`` the unscaled crossproduct of ``[Z X]`` and ``a`` its
    column with y, ``B = Lt'A Lt + diag(I_q, 0)`` is the system without y, ``s = B^-1 Lt'a`` the
    solution and ``r^2 = a_yy - a'Lt s``. For a template entry phi_i (Lambda's entries where it
    stands, ``E_i = dLt/dphi_i``)

        d log|B|     = 2 sum over E_i's entries (a, b) of (A Lt B^-1)[a, b]
        d log|B_ZZ|  = the same with the Z block alone (ML: log|L_Z|^2 only)
        d r^2        = 2 sum over E_i's entries (a, b) of (A Lt s - a)[a] s[b]

    and the criterion's gradient is ``d log|B| + ((n - p) / r^2) d r^2`` (REML) or
    ``d log|B_ZZ| + (n / r^2) d r^2`` (ML), taken to theta by the layout's chain rule. The same
    numbers as :func:`gradient_from` (the tests hold them to 1e-8), for the price of one inverse
    of the small system.
    """
    f = whole.factor(theta)
    if f is None or not f.r2 > 0:
        return math.inf, np.full(theta.size, np.nan)
    value = core.objective_from(f, reml)
    lay = core.layout
    rows, cols, idx = core._whole_pattern()
    q, k = whole.q, whole.m - 1
    phi = lay.phi(theta)
    Lam = np.eye(k)
    Lam[rows, cols] = phi[idx]
    A = whole.A
    AL = A[:k, :k] @ Lam
    L = f.L
    sol = solve_upper(L, k)
    v = AL @ sol - A[:k, k]
    dr2 = 2.0 * np.bincount(idx, weights=v[rows] * sol[cols], minlength=lay.phi_size)
    m = k if reml else q
    # B^-1 from its Cholesky factor by LAPACK's dpotri (the lower triangle), made symmetric
    Binv, info = lapack.dpotri(L[:m, :m], lower=1)
    if info != 0:
        return value, np.full(theta.size, np.nan)
    Binv = np.tril(Binv) + np.tril(Binv, -1).T
    P = AL[:m, :m] @ Binv
    dld = 2.0 * np.bincount(idx, weights=P[rows, cols], minlength=lay.phi_size)
    scale = (core.n - core.p if reml else core.n) / f.r2
    return value, lay.chain(theta, dld + scale * dr2)


def gradient(core, theta, reml: bool) -> np.ndarray:
    """The exact gradient of the profiled criterion (REML or ML deviance) in theta.

    Raises
    ------
    FitError
        Where the criterion is not finite at theta (a block not positive definite, or r^2 = 0).
    """
    value, grad = objective_and_gradient(core, theta, reml)
    if not math.isfinite(value):
        raise FitError(f"the criterion is not finite at theta={np.asarray(theta).tolist()}; it has no gradient there")
    return grad


def _check_theta(core, theta) -> np.ndarray:
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 1 or theta.size != core.layout.size:
        raise ArgumentError(f"theta must be a vector of {core.layout.size} number(s), got shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ArgumentError(f"theta must be finite, got {theta.tolist()}")
    return theta


def gradient_from(core, f: Factorization, reml: bool) -> np.ndarray:
    """The gradient at a factorization ``f = core.factor(theta)`` (see the module's docstring)."""
    S, SX, U = term_scores(core, f, with_x=reml)
    n, p = core.n, core.p
    scale = (n - p if reml else n) / f.r2
    lay = core.layout
    grad = np.empty(lay.phi_size)       # in the template entries; a structure's chain rule below
    for k, Tk in enumerate(f.T):
        Sk = S[k] - scale * U[k]
        if reml:
            Sk = Sk - SX[k]
        Gk = 2.0 * Sk @ Tk
        o = lay.offsets[k]
        grad[o: o + lay.rows[k].size] = Gk[lay.rows[k], lay.cols[k]]
    return lay.chain(f.theta, grad)


def term_scores(core, f: Factorization, with_x: bool = True):
    r"""Per term k the p_k x p_k sums over its levels ``S_k = sum_b N_bb``, ``SX_k`` and ``U_k``.

    Parameters
    ----------
    core : LmmCore
    f : Factorization
    with_x : bool
        Form ``SX_k`` (REML's ``log|R_X|^2`` part); else those are zeros.

    Returns
    -------
    (list, list, list) of ndarray (p_k, p_k)
        ``S_k`` (``d log|L_Z|^2 = sum_k tr(S_k dSigma_k)``), ``SX_k`` (``d log|R_X|^2 =
        -sum_k tr(SX_k dSigma_k)``), ``U_k`` (``d r^2 = -sum_k tr(U_k dSigma_k)``).
    """
    l0, p0, mz, p = core.l0, core.p0, core.mz, core.p
    T0 = f.T[0]
    Li = np.asarray(f.L00inv, dtype=float).reshape(l0, p0, p0)
    Dinv = np.transpose(Li, (0, 2, 1)) @ Li                      # D_l^-1
    W = T0[None] @ Dinv @ T0.T[None]                             # T0 D_l^-1 T0'
    A00 = core.A00
    Psi = np.eye(p0)[None] - W @ A00
    S = [np.sum(A00 @ Psi, axis=0)]
    ops = _RestOps(core, f) if mz else None
    if mz:
        At = ops.Arr - ops.times_blocks(ops.Ar0, W) @ ops.Ar0T   # A_rr - A_r0 W A_0r
        At = _dense_or_csc(At)
        S[0] = S[0] - _gram_sum(f, _dense_or_csc(ops.times_blocks(ops.lamT @ ops.Ar0, Psi)), p0)
        Chat = _dense_or_csc(ops.lamT @ At)
        for (k, pk, a, b), t in zip(core._term_ranges, core.terms[1:]):
            idx = a + np.arange(t.nlev) * pk
            diag = np.array([[_entry_sum(At, idx + i, idx + j) for j in range(pk)] for i in range(pk)])
            S.append(diag - _gram_sum(f, Chat[:, a:b], pk))
    # G~ = Z'V^-1 [X y] = C - A Lambda M^-1 Lambda' C, C = Z'W[X y]
    Gt = _zvinv_xy(core, f, Dinv, ops)
    beta = _beta(f, p)
    v = Gt[:, p] - Gt[:, :p] @ beta
    RXinv = core.rx_inverse(f) if with_x else None
    SX, U = [], []
    off = 0
    for t in core.terms:
        rows = slice(off, off + t.q)
        vk = v[rows].reshape(t.nlev, t.p)
        U.append(vk.T @ vk)
        if with_x and p:
            Gk = Gt[rows, :p].reshape(t.nlev, t.p, p)
            SX.append(np.einsum("lap,pq,lbq->ab", Gk, RXinv, Gk))
        else:
            SX.append(np.zeros((t.p, t.p)))
        off += t.q
    return S, SX, U


def _beta(f: Factorization, p: int) -> np.ndarray:
    """beta of the held ``[X y]`` (before the core's shift): ``R_X beta = r_Xy``, the last unknowns of
    the back-substitution, so only the X block of the factor is needed."""
    if not p:
        return np.zeros(0)
    o = f.xoff
    return sla.solve_triangular(f.L_XX, f.Ls[-1, o: o + p], lower=True, trans="T", check_finite=False)


class _RestOps:
    """The blocks of the terms after the first at f: ``Lambda_r'``, ``A_r0``, ``A_0r``, ``A_rr``,
    ``A_rX``, dense arrays where they are small (scipy.sparse's per-call overhead would dominate a
    small model's gradient), else sparse."""

    def __init__(self, core, f: Factorization):
        mz, q0 = core.mz, core.l0 * core.p0
        self.p0, self.l0 = core.p0, core.l0
        self.core = core
        self.dense = f.mode == "dense" and mz * (q0 + mz) <= _DENSE_OPS
        if self.dense:
            Ar0 = core._Ar0d if core._Ar0d is not None else core.Ar0.toarray()
            lam = np.zeros((mz, mz))
            rr, cc, ii = core._lam_pattern
            lam[rr, cc] = core.layout.phi(f.theta)[ii]
            self.lamT, self.lam, self.Ar0, self.Ar0T = lam.T, lam, Ar0, Ar0.T
        else:
            lam = core.lambda_rest(f.theta)
            self.lamT, self.lam, self.Ar0, self.Ar0T = lam.T.tocsr(), lam, core.Ar0, core._Ar0T
        if f.mode == "dense":
            self.Arr, self.ArX = core.R[:mz, :mz], core.R[:mz, mz:]
        else:
            self.Arr, self.ArX = core._Arr, core._ArX

    def times_blocks(self, A, G: np.ndarray):
        """``A blockdiag(G_l)`` for A with l0 p0 columns (dense or sparse), G (l0, p0, p0)."""
        if sp.issparse(A):
            return A @ self.core.first_block_diag(G)
        m = A.shape[0]
        return np.einsum("mla,lab->mlb", A.reshape(m, self.l0, self.p0), G).reshape(m, -1)


def _dense_or_csc(A):
    return A.tocsc() if sp.issparse(A) else np.asarray(A)


def _entry_sum(A, rows: np.ndarray, cols: np.ndarray) -> float:
    """sum_i A[rows_i, cols_i], A dense or sparse."""
    if sp.issparse(A):
        return float(np.asarray(A[rows, cols]).sum())
    return float(A[rows, cols].sum())


def _gram_sum(f: Factorization, B, p: int) -> np.ndarray:
    """``sum_b B_b' S_rr^-1 B_b`` over the consecutive p-column blocks b of B (mz rows), in chunks.

    (An explicit ``S_rr^-1`` and ``S_rr^-1 B`` for a sparse B of many columns, InstEval's 2972
    students, was no faster than these triangular solves: the sparse-dense product is slow in
    scipy, and gathering ``S_rr^-1`` over the row pairs of each block is random access.)
    """
    mz, ncol = B.shape
    out = np.zeros((p, p))
    step = max(p, (_CHUNK // max(mz, 1)) // p * p)
    for s in range(0, ncol, step):
        Bc = B[:, s: s + step]
        Bc = Bc.toarray() if sp.issparse(Bc) else np.ascontiguousarray(Bc)
        U, V = f.split_rr(Bc)
        if p == 1:          # no reshape: a copy when the solve returns Fortran order
            out[0, 0] += float(np.vdot(U, V))
            continue
        nb = Bc.shape[1] // p
        U2 = np.ascontiguousarray(U).reshape(mz * nb, p)
        V2 = U2 if U is V else np.ascontiguousarray(V).reshape(mz * nb, p)
        out += U2.T @ V2
    return out


def _zvinv_xy(core, f: Factorization, Dinv: np.ndarray, ops) -> np.ndarray:
    r"""``Z'V^-1 [X y] = C - A_ZZ Lambda M^-1 Lambda' C`` ((q0 + mz) x (p+1)), C = Z'W[X y].

    ``M^-1`` by block elimination of the first term: ``z_r = S_rr^-1 (x_r - B D^-1 x_0)``,
    ``z_0 = D^-1 (x_0 - B' z_r)`` with ``B = Lambda_r' A_r0 Lambda_0``.
    """
    l0, p0, mz, p1 = core.l0, core.p0, core.mz, core.p + 1
    T0 = f.T[0]
    C0 = core.C0                                                 # (l0, p0, p+1)
    x0 = np.einsum("ab,lac->lbc", T0, C0)                        # T0' C0_l
    y0 = Dinv @ x0
    w0 = np.einsum("ab,lbc->lac", T0, y0).reshape(l0 * p0, p1)   # Lambda_0 D^-1 x_0
    out = C0.reshape(l0 * p0, p1).copy()
    if not mz:
        out -= (core.A00 @ w0.reshape(l0, p0, p1)).reshape(l0 * p0, p1)
        return out
    ArX, Arr = ops.ArX, ops.Arr
    zr = f.solve_rr(ops.lamT @ (ArX - ops.Ar0 @ w0))
    wr = ops.lam @ zr                                            # Lambda_r z_r
    back = np.asarray(ops.Ar0T @ wr)                              # A_0r Lambda_r z_r
    z0 = Dinv @ (x0 - np.einsum("ab,lac->lbc", T0, back.reshape(l0, p0, p1)))
    w0 = np.einsum("ab,lbc->lac", T0, z0).reshape(l0 * p0, p1)   # Lambda_0 z_0
    out -= (core.A00 @ w0.reshape(l0, p0, p1)).reshape(l0 * p0, p1) + back
    rest = ArX - ops.Ar0 @ w0 - Arr @ wr
    return np.vstack([out, np.asarray(rest)])
