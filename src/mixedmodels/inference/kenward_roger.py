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

pbkrtest forms every n x n matrix. Here ``Sigma = sigma^2 (I + U U')`` with ``U = Z Lambda``, and
every product above reduces to ``[Z X]' (I+UU')^-k [Z X]`` for k = 1, 2, 3, plus ``tr (I+UU')^-2``:

    Omega_1 = [Z X]'(I+UU')^-1 [Z X] = Omega - V'V,   V = L^-1 Lambda'[Z'Z  Z'X]   (Woodbury)
    Omega_(k+1) = Omega_k - Omega_k,Z Lambda Lambda' Omega_1,Z                     (k = 1, 2)
    tr (I+UU')^-2 = n - q + tr(M^2),   M = (L L')^-1 = I - Lambda' Omega_1,ZZ Lambda

where ``L L' = Lambda'Z'Z Lambda + I`` is the core's blocked Cholesky factor (the first term's
block diagonal, sparse below it, the other terms dense). The second line follows from
``(I+UU')^-(k+1) = (I+UU')^-k - (I+UU')^-k U U'(I+UU')^-1``, so each power costs only products with
the block-diagonal Lambda. The dominant cost is ``V'V``: q^2 times the number of random effects
outside the first term (BLAS), with q x q memory; nothing grows with n beyond forming ``Z'Z``.
The df of a contrast and the F statistic's scaling follow pbkrtest's ``Lb_ddf`` and ``.KR_adjust``.

With prior weights, pbkrtest still builds ``Sigma`` from the unweighted ``Z`` and ``sigma^2 I``
(while ``Phi`` is lme4's weighted vcov); we do the same, to give R's numbers.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from ..distributions import f_sf, t_sf
from ..errors import ArgumentError

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
_MAX_BYTES = 2 * 2**30      # one q x q float64 matrix at most (a few live at once)


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
@dataclass(frozen=True)
class _Param:
    """One variance parameter of a random-effects term: E_k = I_levels (x) e_k.

    ``parts`` lists (rows, cols) pairs of strided slices of Z's columns: E_k has a one at
    (rows[l], cols[l]) for every level l (both orders for a covariance).
    """

    block: slice      # the term's columns of Z
    parts: tuple


#: the structures whose covariance is linear in its parameters, Sigma_k = sum gamma_i e_i, which
#: Kenward-Roger's derivation assumes (G_i = dSigma / dgamma_i constant)
LINEAR_STRUCTURES = ("us", "diag", "homdiag", "homcs")


def _structure(t) -> str:
    s = getattr(t.term, "structure", "us")
    return "us" if t.p == 1 else s


def _params(terms) -> list[_Param]:
    """Term by term, the linear parameters of its covariance (pbkrtest's order for lme4's terms:
    the lower triangle column by column). ``diag``: its variances; ``homdiag``: the common
    variance (E = I); ``homcs``: ``a`` and ``b`` of ``Sigma_k = a I + b 11'``.

    Raises
    ------
    ArgumentError
        For a structure that is not linear in its parameters (cs, ar1).
    """
    out = []
    off = 0
    for t in terms:
        block = slice(off, off + t.q)
        s = _structure(t)
        if s not in LINEAR_STRUCTURES:
            raise ArgumentError(f"Kenward-Roger's method assumes a covariance linear in its parameters; the "
                                f"{s}() term {t.term} is not (its correlation enters nonlinearly): use "
                                "Satterthwaite's df (ddf='Satterthwaite', the default)")
        col = [slice(off + a, off + t.q, t.p) for a in range(t.p)]
        if s == "homdiag":
            out.append(_Param(block, tuple((c, c) for c in col)))
        elif s == "homcs":
            out.append(_Param(block, tuple((c, c) for c in col)))
            out.append(_Param(block, tuple((ca, cb) for ca in col for cb in col)))
        else:
            for b in range(t.p):
                for a in range(b, t.p):
                    if a == b:
                        out.append(_Param(block, ((col[a], col[a]),)))
                    elif s == "us":
                        out.append(_Param(block, ((col[a], col[b]), (col[b], col[a]))))
        off += t.q
    return out


def _gamma(t, Ck: np.ndarray) -> list[float]:
    """The values of :func:`_params`' parameters of term t with covariance Ck."""
    s = _structure(t)
    if s == "homdiag":
        return [Ck[0, 0]]
    if s == "homcs":
        return [Ck[0, 0] - Ck[1, 0], Ck[1, 0]]
    return [Ck[a, b] for b in range(t.p) for a in range(b, t.p) if a == b or s == "us"]


def _lambda_right(A: np.ndarray, terms, T) -> np.ndarray:
    """A Lambda for a dense A (k x q): each term's columns times its template, level by level."""
    out = np.empty_like(A)
    off = 0
    for t, Tk in zip(terms, T):
        blk = A[:, off: off + t.q]
        if t.p == 1:
            np.multiply(blk, Tk[0, 0], out=out[:, off: off + t.q])
        else:
            out[:, off: off + t.q] = (blk.reshape(A.shape[0], t.nlev, t.p) @ Tk).reshape(A.shape[0], t.q)
        off += t.q
    return out


def _lambda_left(A: np.ndarray, terms, T) -> np.ndarray:
    """Lambda' A for a dense A (q x k)."""
    out = np.empty_like(A)
    off = 0
    for t, Tk in zip(terms, T):
        blk = A[off: off + t.q]
        if t.p == 1:
            np.multiply(blk, Tk[0, 0], out=out[off: off + t.q])
        else:
            out[off: off + t.q] = (Tk.T @ blk.reshape(t.nlev, t.p, -1)).reshape(t.q, -1)
        off += t.q
    return out


def _lambda(terms, T) -> sp.csr_matrix:
    """Lambda = blockdiag(I_levels (x) T_k), q x q."""
    return sp.block_diag([sp.kron(sp.identity(t.nlev, format="csr"), sp.csr_matrix(Tk))
                          for t, Tk in zip(terms, T)], format="csr")


def _lambda_left_norm2(A: np.ndarray, terms, T) -> float:
    """||Lambda' A||_F^2 without forming Lambda' A."""
    tot, off = 0.0, 0
    for t, Tk in zip(terms, T):
        blk = A[off: off + t.q]
        if t.p == 1:
            tot += Tk[0, 0] ** 2 * float(np.einsum("ij,ij->", blk, blk))
        else:
            Y = Tk.T @ blk.reshape(t.nlev, t.p, -1)
            tot += float(np.einsum("lak,lak->", Y, Y))
        off += t.q
    return tot


def _lambda_left_diag(A: np.ndarray, terms, T) -> np.ndarray:
    """The diagonal blocks of Lambda' A for a square A: (Lambda' A)_{kk}."""
    out, off = [], 0
    for t, Tk in zip(terms, T):
        idx = np.arange(off, off + t.q).reshape(t.nlev, t.p)
        blocks = A[idx[:, :, None], idx[:, None, :]]              # (l, p, p) diagonal blocks of A
        out.append(np.diagonal(Tk.T @ blocks, axis1=1, axis2=2).ravel())
        off += t.q
    return np.concatenate(out)


class _BlockFactor:
    r"""The lower Cholesky factor L of ``Lambda'Z'Z Lambda + I`` in the core's blocked form.

    ``L = [[L00, 0], [LZ0, L_rr]]``: L00 block diagonal (one p0 x p0 block per level of the first
    term), LZ0 sparse, and ``L_rr L_rr' = S_rr`` the Schur complement of the other terms; read
    through the factorization's public methods (which hide how the core factored ``S_rr``).
    """

    def __init__(self, core, f):
        self.mz = core.mz
        self.q0 = core.l0 * core.p0
        self.f = f

    def forward(self, B0, Br):
        """Eliminate the first term from [B0; Br]: (V0, R) with V0 = L00^-1 B0 (sparse if B0 is) and
        R = Br - LZ0 V0, so that B'(L L')^-1 B = V0'V0 + R' S_rr^-1 R."""
        V0 = self.f.solve_00(B0)
        if not self.mz:
            return V0, np.zeros((0,) + V0.shape[1:])
        return V0, Br - _dense(sp.csr_matrix(self.f.LZ0) @ V0)

    def halves(self, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, B) with R_1' S_rr^-1 R_2 = A_1' B_2 (one array, A is B, with a dense factor)."""
        return self.f.split_rr(R)


def _dense(a) -> np.ndarray:
    return a.toarray() if sp.issparse(a) else np.asarray(a)


# ---------------------------------------------------------------------------- the computation
def _compute(m) -> KRInfo:
    """Kenward and Roger's (1997) ingredients of a fit: the adjusted vcov, W and the P, Q, R terms.

    Kept as one function: the steps (Sigma^-1 products, the derivatives of Sigma per variance
    parameter, P_i, Q_ij, R_ij, the expected information and its inverse W) share a dozen large
    intermediate matrices, and a split would pass them all around; each step is a commented block
    in the order of Kenward and Roger's paper, as pbkrtest computes them.
    """
    core, terms = m.core, m.terms
    f = m.factor
    X = np.asarray(m.fixed.X, dtype=float)
    n, p = int(m.nobs), X.shape[1]
    sigma = float(m.sigma)
    s2 = sigma * sigma
    if m.frame.weights is not None:
        # pbkrtest builds Sigma = Z D Z' + sigma^2 I from the unweighted Z, whatever the prior
        # weights (its Phi is still lme4's weighted vcov); we follow it to give R's numbers. A fit
        # that holds no rows (from Dask: X has none) forms the unweighted blocks on its cluster.
        if X.shape[0] == 0:
            core = m.rows.unweighted_core(terms, p)
        else:
            from ..core.lmm import LmmCore

            core = LmmCore(terms, X, np.asarray(m.frame.y, dtype=float))
        f = core.factor(np.asarray(m.theta, dtype=float))

    q = int(sum(t.q for t in terms))
    if 8.0 * q * q > _MAX_BYTES:
        raise ArgumentError(f"the Kenward-Roger adjustment works with q x q matrices and this model has "
                            f"q = {q} random effects ({8.0 * q * q / 2**30:.1f} GB each); use "
                            "ddf='Satterthwaite', whose cost does not grow with q")
    C, ZX, XX = core.crossproducts()           # Z'Z (sparse), Z'X, X'X: from the blocks, rows or none
    Lam = _lambda(terms, f.T)
    BZ = (Lam.T @ C).tocsr()                   # B = Lambda' [Z'Z  Z'X]
    BX = np.asarray(Lam.T @ ZX)
    L = _BlockFactor(core, f)
    q0 = L.q0

    # Omega_1 = [Z X]'(I+UU')^-1 [Z X] = Omega - B'(L L')^-1 B, the first term eliminated blockwise
    V0, R = L.forward(BZ[:q0], BZ[q0:].toarray())
    V0x, Rx = L.forward(BX[:q0], BX[q0:])
    V0 = sp.csr_matrix(V0)
    A, B = L.halves(R)
    Ax, Bx = L.halves(Rx)
    S = A.T @ B                                                    # Z'(I+UU')^-1 Z = C - V0'V0 - R'S_rr^-1 R
    if B is not A:
        S = (S + S.T) / 2
    S *= -1.0
    D = (C - V0.T @ V0).tocoo()
    S[D.row, D.col] += D.data                                      # no duplicates after the sparse sum
    FT = ZX - _dense(V0.T @ V0x) - A.T @ Bx                        # Z'(I+UU')^-1 X
    O1xx = XX - V0x.T @ V0x - Ax.T @ Bx                            # X'(I+UU')^-1 X
    O1xx = (O1xx + O1xx.T) / 2
    del V0, R, A, B
    # (I+UU')^-(k+1) = (I+UU')^-k - (I+UU')^-k U U'(I+UU')^-1 and U'(I+UU')^-1 [Z X] = Lambda' Omega_1,Z:
    # each higher power costs only products with the block-diagonal Lambda
    T = f.T
    SL = _lambda_right(S, terms, T)                               # S Lambda
    LF = _lambda_left(FT, terms, T)                               # Lambda' Z'(I+UU')^-1 X
    O2zx = FT - SL @ LF                                            # Z'(I+UU')^-2 X
    O2xx = O1xx - LF.T @ LF                                        # X'(I+UU')^-2 X
    O3xx = O2xx - _lambda_left(O2zx, terms, T).T @ LF              # X'(I+UU')^-3 X
    # Lambda' S Lambda = U'(I+UU')^-1 U = I - M, so tr(M^2) = ||I - Lambda' S Lambda||^2
    trM2 = float(q + _lambda_left_norm2(SL, terms, T) - 2.0 * np.sum(_lambda_left_diag(SL, terms, T)))

    pars = _params(terms)
    K = len(pars)
    G = K + 1
    Phi = m.vcov.to_numpy()
    s4, s6 = s2 ** -2, s2 ** -3

    # E_i F' (q x p, nonzero on the term's rows only) and S E_i F'
    EF, SEF = [], []
    for par in pars:
        Ef = np.zeros((q, p))
        for r, c in par.parts:
            Ef[r] += FT[c]
        EF.append(Ef)
        SEF.append(S[:, par.block] @ Ef[par.block])
    P = [-s4 * (FT.T @ Ef) for Ef in EF]                           # -X'Sigma^-1 G_i Sigma^-1 X
    P.append(-s4 * O2xx)

    Q = {}
    for i in range(K):
        for j in range(i, K):
            Q[i, j] = s6 * (EF[i].T @ SEF[j])
        Q[i, K] = s6 * (EF[i].T @ O2zx)
    Q[K, K] = s6 * O3xx

    Kt = np.empty((G, G))
    for i, pi in enumerate(pars):
        for j in range(i, K):
            # tr(E_i S E_j S) = sum over the ones (a,b) of E_i and (c,d) of E_j of S[b,c] S[d,a]
            tot = 0.0
            for ra, rb in pi.parts:
                for rc, rd in pars[j].parts:
                    tot += float(np.einsum("ij,ij->", S[rb, rc], S[ra, rd]))
            Kt[i, j] = Kt[j, i] = s4 * tot
        # tr(E_i Z'(I+UU')^-2 Z): entries of S - (S Lambda)(S Lambda)' on E_i's pattern
        tot = 0.0
        for ra, rb in pi.parts:
            tot += float(np.trace(S[rb, ra])) - float(np.einsum("ik,ik->", SL[rb], SL[ra]))
        Kt[i, K] = Kt[K, i] = s4 * tot
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
        gamma.extend(_gamma(t, s2 * Tk @ Tk.T))
    gamma.append(s2)
    return KRInfo(np.asarray(m.beta, dtype=float), Phi, Phi_A, P, W, np.array(gamma), sigma)


# ---------------------------------------------------------------------------- t and F tests
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
            "p": float(f_sf(F, q, ddf))}


def kr_coef_table(m) -> pd.DataFrame:
    """Fixed effects with KR standard errors (from Phi_A) and df: lmerTest's summary(ddf="Kenward-Roger")."""
    info = kr_info(m)
    est = info.beta
    p = len(est)
    se = np.sqrt(np.maximum(np.diag(info.vcov_adj), 0.0))
    I = np.eye(p)
    df = np.array([kr_ddf(info, I[i]) for i in range(p)])
    t = est / se
    pv = 2.0 * t_sf(np.abs(t), df)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": pv},
                        index=list(m.fixed.names))
