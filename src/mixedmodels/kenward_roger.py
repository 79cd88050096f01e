r"""Kenward-Roger inference for the fixed effects, computed as pbkrtest computes it, without n x n matrices.

Kenward & Roger (1997) parameterize the marginal covariance by the variance components,

    Sigma = sum_k gamma_k G_k + sigma^2 I,     G_k = Z E_k Z',

one ``gamma_k`` per variance or covariance of each random-effects term (its lower triangle, column
by column, as pbkrtest orders them) and the residual variance last. ``E_k`` is ``I_levels (x) e``
with ``e`` the symmetric unit matrix of the (co)variance. With ``Phi = (X' Sigma^-1 X)^-1``:

    P_i  = -X' Sigma^-1 G_i Sigma^-1 X
    Q_ij =  X' Sigma^-1 G_i Sigma^-1 G_j Sigma^-1 X
    K_ij =  tr(Sigma^-1 G_i Sigma^-1 G_j)
    I_ij =  K_ij - 2 tr(Phi Q_ij) + tr(Phi P_i Phi P_j)          (twice the REML information)
    W    =  2 I^-1                                               (covariance of gamma)
    Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi   (the adjusted covariance)

pbkrtest forms every n x n matrix. Here ``Sigma = sigma^2 (I + U U')`` with ``U = Z Lambda``, and the
Woodbury identity gives ``(I + U U')^-1 = I - U M U'`` with ``M = (Lambda'Z'Z Lambda + I)^-1``
(q x q). Every product above is a product of the augmented Gram matrix ``Omega = [Z X]'[Z X]``
with powers of ``(I + U U')^-1``:

    Omega_1 = [Z X]'(I+UU')^-1 [Z X] = Omega - B' M B,          B = Lambda' [Z'Z  Z'X]
    Omega_2 = [Z X]'(I+UU')^-2 [Z X] = Omega_1 - (M B)'(M B)
    X'(I+UU')^-3 X                   = Omega_2,XX - (M B_X)' M (M B_X)
    tr (I+UU')^-2                    = n - q + tr(M^2)

``M`` comes from the core's blocked Cholesky factor (first term block diagonal, the rest dense), so
the cost is that of a few q x q products with a sparse ``Z'Z``, whatever the number of rows.
The df of a contrast and the F statistic's scaling follow pbkrtest's ``Lb_ddf`` and ``.KR_adjust``.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from .errors import ArgumentError

__all__ = ["KRInfo", "kr_info", "kr_ddf", "kr_contrast", "kr_f_test", "kr_coef_table"]


@dataclass(frozen=True)
class KRInfo:
    """What every Kenward-Roger t or F test needs, computed once per fit."""

    beta: np.ndarray       # fixed effects
    vcov: np.ndarray       # Phi: the unadjusted vcov(beta)
    vcov_adj: np.ndarray   # Phi_A: the adjusted vcov(beta)
    P: list                # P_i, one p x p matrix per variance parameter (residual last)
    W: np.ndarray          # covariance of the variance parameters: 2 I^-1
    gamma: np.ndarray      # the variance parameters (variances, covariances, residual variance)
    sigma: float           # residual standard deviation


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def kr_info(m) -> KRInfo:
    """Kenward-Roger ingredients of a REML fit (cached per fitted model)."""
    if not m.reml:
        raise ArgumentError("Kenward-Roger's method is only available for REML model fits; "
                            "refit with REML=True (m.refit(REML=True))")
    try:
        return _CACHE[m]
    except (KeyError, TypeError):
        pass
    info = _compute(m)
    try:
        _CACHE[m] = info
    except TypeError:
        pass
    return info


# ---------------------------------------------------------------------------- parameters
def _param_patterns(terms) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each variance parameter of the random effects, the (row, col) index pairs of E_k in Z's
    columns: both orders for a covariance. Order: term by term, lower triangle column by column."""
    out = []
    off = 0
    for t in terms:
        lev = np.arange(t.nlev) * t.p + off
        for b in range(t.p):
            for a in range(b, t.p):
                ia, ib = lev + a, lev + b
                if a == b:
                    out.append((ia, ia))
                else:
                    out.append((np.concatenate([ia, ib]), np.concatenate([ib, ia])))
        off += t.q
    return out


def _Z(terms, n: int, sw) -> sp.csc_matrix:
    """Z (n x q) with lme4's column layout: term by term, level-major."""
    blocks = []
    for t in terms:
        z = t.z if sw is None else t.z * sw[:, None]
        rows = np.repeat(np.arange(n), t.p)
        cols = (t.codes[:, None] * t.p + np.arange(t.p)[None, :]).ravel()
        blocks.append(sp.csc_matrix((z.ravel(), (rows, cols)), shape=(n, t.q)))
    return sp.hstack(blocks).tocsc()


def _lambda(terms, T) -> sp.csr_matrix:
    """Lambda = blockdiag(I_levels (x) T_k), q x q."""
    return sp.block_diag([sp.kron(sp.identity(t.nlev, format="csr"), sp.csr_matrix(Tk))
                          for t, Tk in zip(terms, T)], format="csr")


def _M(core, f) -> np.ndarray:
    r"""M = (Lambda'Z'Z Lambda + I)^-1 (dense q x q) from the blocked factor L L'.

    With L = [[L00, 0], [LZ0, Lrr]] and H = LZ0 L00^-1 (sparse):
    M_rr = Lrr^-T Lrr^-1, M_r0 = -M_rr H, M_00 = L00^-T L00^-1 - H' M_r0.
    """
    l0, p0, mz = core.l0, core.p0, core.mz
    q0 = l0 * p0
    L00inv = np.linalg.inv(f.L00)
    base = np.transpose(L00inv, (0, 2, 1)) @ L00inv
    q = q0 + mz
    M = np.zeros((q, q))
    idx = np.arange(l0)[:, None] * p0 + np.arange(p0)[None, :]
    M[idx[:, :, None], idx[:, None, :]] = base
    if mz:
        Lrr = f.Ls[:mz, :mz]
        Li = sla.solve_triangular(Lrr, np.eye(mz), lower=True, check_finite=False)
        Mrr = Li.T @ Li
        Binv = core._block_diag(L00inv)
        H = sp.csr_matrix(f.LZ0 @ Binv)
        Mr0 = -np.asarray((H.T @ Mrr).T)          # -Mrr H, dense mz x q0
        M[q0:, q0:] = Mrr
        M[q0:, :q0] = Mr0
        M[:q0, q0:] = Mr0.T
        M[:q0, :q0] -= np.asarray(H.T @ Mr0)
    return M


# ---------------------------------------------------------------------------- the computation
def _compute(m) -> KRInfo:
    core, terms = m.core, m.terms
    f = m._factor
    X = np.asarray(m.fixed.X, dtype=float)
    n, p = X.shape
    sigma = float(m.sigma)
    s2 = sigma * sigma
    w = m.frame.weights
    sw = None if w is None else np.sqrt(np.asarray(w, dtype=float))
    Xw = X if sw is None else X * sw[:, None]

    Z = _Z(terms, n, sw)
    q = Z.shape[1]
    C = (Z.T @ Z).tocsr()                      # Z'Z, sparse
    ZX = np.asarray(Z.T @ Xw)                  # q x p
    XX = Xw.T @ Xw
    Lam = _lambda(terms, f.T)
    M = _M(core, f)

    BZ = (Lam.T @ C).tocsc()                   # Lambda' Z'Z (sparse q x q)
    BX = np.asarray(Lam.T @ ZX)                # Lambda' Z'X
    YZ = np.asarray((BZ.T @ M).T)              # M B_Z (M symmetric)
    YX = M @ BX                                # M B_X
    S = C.toarray() - np.asarray(BZ.T @ YZ)    # Z'(I+UU')^-1 Z
    FT = ZX - np.asarray(BZ.T @ YX)            # Z'(I+UU')^-1 X
    O1xx = XX - BX.T @ YX                      # X'(I+UU')^-1 X
    O2zx = FT - YZ.T @ YX                      # Z'(I+UU')^-2 X
    O2xx = O1xx - YX.T @ YX                    # X'(I+UU')^-2 X
    O3xx = O2xx - YX.T @ (M @ YX)              # X'(I+UU')^-3 X
    trM2 = float(np.sum(M * M))

    pats = _param_patterns(terms)
    K = len(pats)
    G = K + 1
    Phi = m.vcov.to_numpy()
    F = FT.T                                   # X'(I+UU')^-1 Z, p x q

    # E_i F' and S E_i F' (q x p), restricted to the rows the pattern touches
    EF = []
    for ia, ib in pats:
        Ef = np.zeros((q, p))
        np.add.at(Ef, ia, FT[ib])
        EF.append(Ef)
    s4, s6 = s2 ** -2, s2 ** -3
    P = [-s4 * (F @ Ef) for Ef in EF]
    P.append(-s4 * O2xx)

    Q = {}
    SEF = [S @ Ef for Ef in EF]
    for i in range(K):
        for j in range(i, K):
            Q[i, j] = s6 * (EF[i].T @ SEF[j])
        Q[i, K] = s6 * (EF[i].T @ O2zx)
    Q[K, K] = s6 * O3xx

    Kt = np.empty((G, G))
    for i, (ia, ib) in enumerate(pats):
        for j in range(i, K):
            ja, jb = pats[j]
            # tr(E_i S E_j S) = sum over (a,b) in E_i, (c,d) in E_j of S[b,c] S[d,a]
            Kt[i, j] = Kt[j, i] = s4 * float(np.sum(S[np.ix_(ib, ja)] * S[np.ix_(jb, ia)].T))
        # tr(E_i Z'(I+UU')^-2 Z): entries of S - YZ'YZ on E_i's pattern
        o2 = S[ib, ia] - np.einsum("ka,ka->a", YZ[:, ib], YZ[:, ia])
        Kt[i, K] = Kt[K, i] = s4 * float(np.sum(o2))
    Kt[K, K] = s4 * (n - q + trM2)

    def Qm(i, j):
        return Q[i, j] if i <= j else Q[j, i].T

    info = np.empty((G, G))
    PhiP = [Phi @ Pi for Pi in P]
    for i in range(G):
        for j in range(i, G):
            info[i, j] = info[j, i] = (Kt[i, j] - 2.0 * float(np.sum(Phi * Qm(i, j)))
                                       + float(np.sum(PhiP[i] * PhiP[j].T)))
    eig = np.linalg.eigvalsh((info + info.T) / 2)
    if np.min(np.abs(eig)) > 1e-10:
        W = 2.0 * np.linalg.inv(info)
    else:
        W = 2.0 * np.linalg.pinv(info)
    W = (W + W.T) / 2
    U = np.zeros((p, p))
    for i in range(G):
        for j in range(G):
            U += W[i, j] * (Qm(i, j) - P[i] @ Phi @ P[j])
    Phi_A = Phi + 2.0 * Phi @ U @ Phi
    Phi_A = (Phi_A + Phi_A.T) / 2

    gamma = []
    for t, Tk in zip(terms, f.T):
        Ck = s2 * Tk @ Tk.T
        for b in range(t.p):
            for a in range(b, t.p):
                gamma.append(Ck[a, b])
    gamma.append(s2)
    return KRInfo(np.asarray(m.beta, dtype=float), Phi, Phi_A, P, W, np.array(gamma), sigma)


# ---------------------------------------------------------------------------- tests
def _A12(info: KRInfo, L: np.ndarray) -> tuple[float, float]:
    """pbkrtest's A1 and A2 for the hypothesis L beta = 0 (L of full row rank)."""
    Phi = info.vcov
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TP = Theta @ Phi
    us = [TP @ Pi @ Phi for Pi in info.P]
    tr = np.array([np.trace(u) for u in us])
    W = info.W
    A1 = float(tr @ W @ tr)
    A2 = 0.0
    G = len(us)
    for i in range(G):
        for j in range(G):
            A2 += W[i, j] * float(np.sum(us[i] * us[j].T))
    return A1, A2


def _ddf_scaling(A1: float, A2: float, q: int) -> tuple[float, float]:
    """Kenward & Roger's denominator df and F scaling factor (pbkrtest's .KR_adjust)."""
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2) if A2 != 0 else math.nan
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    if abs(V0) < 1e-10:
        V0 = 0.0
    num = 1 - A2 / q
    ratio = 1.0 if (abs(num) < 1e-14 and abs(V1) < 1e-14) else num / V1
    rho = ratio ** 2 * V0 / V2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scaling)


def kr_ddf(info: KRInfo, L) -> float:
    """Kenward-Roger denominator df of the hypothesis L beta = 0 (pbkrtest's Lb_ddf)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    A1, A2 = _A12(info, L)
    return _ddf_scaling(A1, A2, L.shape[0])[0]


def kr_contrast(info: KRInfo, L) -> tuple[float, float]:
    """(adjusted variance of L beta, KR df) for one contrast row L (lmerTest's get_KR1D)."""
    L = np.asarray(L, dtype=float).ravel()
    return float(L @ info.vcov_adj @ L), kr_ddf(info, L)


def kr_f_test(info: KRInfo, L, beta=None) -> dict:
    """KR F test of L beta = 0 as lmerTest's contestMD reports it (pbkrtest's KRmodcomp).

    Returns the unscaled statistic ``FU`` (Wald with Phi_A over q: what Sum Sq is built on), the
    scaled ``F`` = scaling * FU, ``NumDF`` = rank of L, ``DenDF`` and ``scaling``.
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta = info.beta if beta is None else np.asarray(beta, dtype=float)
    q = int(np.linalg.matrix_rank(L))
    if q < L.shape[0]:
        # a rank-deficient L: keep an independent set of rows (the hypothesis is unchanged)
        _, _, piv = sla.qr(L.T, pivoting=True, mode="economic")
        L = L[np.sort(piv[:q])]
    A1, A2 = _A12(info, L)
    ddf, scaling = _ddf_scaling(A1, A2, q)
    Lb = L @ beta
    wald = float(Lb @ np.linalg.solve(L @ info.vcov_adj @ L.T, Lb))
    FU = wald / q
    F = scaling * FU
    return {"F": F, "FU": FU, "NumDF": float(q), "DenDF": ddf, "scaling": scaling,
            "p": float(stats.f.sf(F, q, ddf))}


def kr_coef_table(m) -> pd.DataFrame:
    """Fixed effects with KR standard errors (from Phi_A) and df: lmerTest's summary(ddf="Kenward-Roger")."""
    info = kr_info(m)
    est = info.beta
    p = len(est)
    se = np.sqrt(np.maximum(np.diag(info.vcov_adj), 0.0))
    I = np.eye(p)
    df = np.array([kr_ddf(info, I[i]) for i in range(p)])
    t = est / se
    pv = 2.0 * stats.t.sf(np.abs(t), df)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": pv},
                        index=list(m.fixed.names))
