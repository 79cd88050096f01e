r"""The first term's diagonal blocks, eliminated level by level in closed form or batched loops.

With ``D_k = T0' A00_k T0 + I`` (one p0 x p0 block per level of the first term) this module gives
the lower factors ``L00_k``, ``W_k = T0 D_k^-1 T0'`` and ``log|D|``, and the rows of
``L00_k^-1 T0' C0_k`` that update the ``[X y]`` block accurately. Everything is a batch over the
levels: numpy vectors of length l0 for small p0, LAPACK through numpy beyond.
"""
from __future__ import annotations

import numpy as np

from .limits import SMALL_BATCH_P as _SMALL_BATCH_P

__all__ = ["batch_cholesky", "batch_tril_inv", "first_term_H", "hth", "first_term_blocks"]


def batch_cholesky(D: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factors of a stack (l, p, p) of SPD matrices; None if one is not PD.

    For small p the loops run over the p^2/2 entries with numpy vectors of length l, which is much
    cheaper than one LAPACK call per level.
    """
    l, p, _ = D.shape
    if p > _SMALL_BATCH_P:
        try:
            return np.linalg.cholesky(D)
        except np.linalg.LinAlgError:
            return None
    L = np.zeros_like(D)
    for j in range(p):
        s = D[:, j, j] - np.einsum("lk,lk->l", L[:, j, :j], L[:, j, :j]) if j else D[:, j, j].copy()
        if not np.all(s > 0):
            return None
        d = np.sqrt(s)
        L[:, j, j] = d
        for i in range(j + 1, p):
            v = D[:, i, j] - np.einsum("lk,lk->l", L[:, i, :j], L[:, j, :j]) if j else D[:, i, j]
            L[:, i, j] = v / d
    return L


def batch_tril_inv(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack (l, p, p) of lower-triangular matrices."""
    l, p, _ = L.shape
    if p > _SMALL_BATCH_P:
        return np.linalg.inv(L)
    X = np.zeros_like(L)
    for j in range(p):
        X[:, j, j] = 1.0 / L[:, j, j]
        for i in range(j + 1, p):
            s = np.einsum("lk,lk->l", L[:, i, j:i], X[:, j:i, j])
            X[:, i, j] = -s / L[:, i, i]
    return X


def first_term_H(L00: np.ndarray, T0: np.ndarray, C0: np.ndarray) -> list[np.ndarray]:
    """Rows of L00_k^-1 T0' C0_k, by forward substitution: p0 arrays (l0, p+1), row i of every level.

    C0' W C0 = sum_i h_i' h_i, but formed from h (triangular solves, as lme4 forms R_ZX) the
    rounding grows with cond(L00) = sqrt(cond(D)), not with cond(D) as through the explicit W: for
    a random slope far from 0 (Time in 1..64) that is two more digits of log|R_X|.
    """
    p0 = C0.shape[1]
    if p0 == 2:  # the common case (T0 is lower triangular); contiguous outputs, strided inputs
        c0, c1 = C0[:, 0, :], C0[:, 1, :]
        h0 = c0 * T0[0, 0]
        h0 += T0[1, 0] * c1
        h0 /= L00[:, 0, 0][:, None]
        h1 = c1 * T0[1, 1]
        h1 -= L00[:, 1, 0][:, None] * h0
        h1 /= L00[:, 1, 1][:, None]
        return [h0, h1]
    V = np.matmul(T0.T[None, :, :], C0)             # T0' C0_k
    hs: list[np.ndarray] = []
    for i in range(p0):
        acc = V[:, i, :].copy()
        for j in range(i):
            acc -= L00[:, i, j][:, None] * hs[j]
        acc /= L00[:, i, i][:, None]
        hs.append(acc)
    return hs


def hth(hs: list[np.ndarray]) -> np.ndarray:
    """sum_i h_i' h_i."""
    out = hs[0].T @ hs[0]
    for h in hs[1:]:
        out += h.T @ h
    return out


def first_term_blocks(T0: np.ndarray, a00, A00f, p0: int, need_L: bool = True, need_W: bool = True):
    """From the template of the first term: (L00, W, log|D|) with ``D_k = T0' A00_k T0 + I``,
    ``L00`` its lower factors (l0, p0, p0) (None unless need_L) and ``W_k = T0 D_k^-1 T0'``
    ((l0,) for p0 == 1, else (l0, p0, p0)). None where a D_k is not positive definite.
    """
    if p0 == 1:
        t2 = T0[0, 0] * T0[0, 0]
        d = t2 * a00 + 1.0
        return (np.sqrt(d) if need_L else None), t2 / d, float(np.sum(np.log(d)))
    l0 = A00f.shape[0]
    if p0 == 2:
        # closed forms on vectors of length l0
        t00, t10, t11 = T0[0, 0], T0[1, 0], T0[1, 1]
        A0, A1, A3 = A00f[:, 0], A00f[:, 1], A00f[:, 3]
        u = t00 * A1 + t10 * A3
        a = t00 * (t00 * A0 + t10 * A1) + t10 * u + 1.0
        b = t11 * u
        c = t11 * t11 * A3 + 1.0
        det = a * c - b * b
        if not (np.all(a > 0) and np.all(det > 0)):
            return None
        W = None
        if need_W:
            W = np.empty((l0, 2, 2))
            i00, i01, i11 = c / det, -b / det, a / det
            W[:, 0, 0] = t00 * t00 * i00
            W[:, 0, 1] = W[:, 1, 0] = t00 * (t10 * i00 + t11 * i01)
            W[:, 1, 1] = t10 * t10 * i00 + 2.0 * t10 * t11 * i01 + t11 * t11 * i11
        L = None
        if need_L:
            l11 = np.sqrt(a)
            l21 = b / l11
            l22sq = c - l21 * l21
            if not np.all(l22sq > 0):  # det > 0 in one rounding, not in the factor's: not PD
                return None
            L = np.zeros((l0, 2, 2))
            L[:, 0, 0] = l11
            L[:, 1, 0] = l21
            L[:, 1, 1] = np.sqrt(l22sq)
        return L, W, float(np.sum(np.log(det)))
    K = np.multiply.outer(T0, T0).transpose(0, 2, 1, 3).reshape(p0 * p0, p0 * p0)  # kron(T0, T0)
    D = (A00f @ K).reshape(l0, p0, p0)              # T0' A00_k T0, as vec(A) @ kron(T0, T0)
    D[:, np.arange(p0), np.arange(p0)] += 1.0
    L = batch_cholesky(D)
    if L is None:
        return None
    W = None
    if need_W:
        Li = batch_tril_inv(L)
        Dinv = np.matmul(Li.transpose(0, 2, 1), Li)
        W = (Dinv.reshape(l0, p0 * p0) @ K.T).reshape(l0, p0, p0)
    ld = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    return L, W, ld


