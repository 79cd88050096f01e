r"""Leverage and residuals of a fitted linear mixed model: hat values, lme4's residual types.

Leverage. With ``W = [Z Lambda, X]`` (rows scaled by sqrt of the prior weights) and the penalized
system ``C = W'W + diag(I_q, 0)``, the fitted values are ``H y`` with ``H = W C^{-1} W'`` (lme4's
``hatvalues``). Its diagonal ``h_i = ||L_C^{-1} w_i||^2`` is taken from the blocked Cholesky factor
``L_C`` of ``C`` that the fit already holds, a chunk of rows at a time: no n x n matrix is formed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ArgumentError

__all__ = ["require_lmm", "penalized_quadform", "hatvalues", "residuals"]


def require_lmm(m, what: str) -> None:
    """Raise unless ``m`` is an lmer fit (Gaussian, with its core's factor).

    Parameters
    ----------
    m : object
        The fit.
    what : str
        The function asking, for the message.

    Raises
    ------
    ArgumentError
        For a GLMM, or an object without an lmer core.
    """
    fam = getattr(m, "family", None)
    if fam is not None:
        name = str(getattr(fam, "name", getattr(fam, "family", fam))).lower()
        if name != "gaussian":
            raise ArgumentError(f"{what} is implemented for linear mixed models (lmer) only, not for a "
                                f"{name} GLMM")
    if not hasattr(m, "core") or not hasattr(m.core, "factor"):
        raise ArgumentError(f"{what} needs an lmer fit")


def penalized_quadform(m, X: np.ndarray, zs: list[np.ndarray], codes: list[np.ndarray],
                       chunk: int | None = None, core=None, f=None) -> np.ndarray:
    r"""``w_i' C^{-1} w_i`` for rows ``w_i = [Lambda' z_i; x_i]`` of the model's penalized system.

    ``X`` is n x p; ``zs[k]`` (n x p_k) and ``codes[k]`` (n level indices) give each row's entries
    for term ``k`` of ``m.terms`` (a zero row for a term that does not enter). Block elimination
    in the core's order (first term, other terms r, X):

        w'C^{-1}w = |L00^{-1} w0|^2 + s_r' S_rr^{-1} s_r + |R_X^{-T} (s_x - S_xr S_rr^{-1} s_r)|^2,
        s = w_(r,x) - C_(r,x),0 D0^{-1} w0,

    with the first term's per-level factors ``L00`` (``f.solve_00_rows``) and the Schur
    complement ``S`` of the other terms and X (``f.schur_quadform``) from the fit's factor.
    """
    if core is None:  # the fit's own system (a glmer fit passes the one of its last PIRLS step)
        core, f = m.core, m.factor
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    T = f.T
    l0, p0, mz = core.l0, core.p0, core.mz
    k0 = mz + p
    Hx = f.H[:, :p].reshape(l0, p0, p)
    LZ0 = f.LZ0 if mz else None
    offsets = np.cumsum([0] + [t.q for t in m.terms[1:]])
    out = np.empty(n)
    size = chunk or max(1, int(4_000_000 // max(k0, 1)))
    for a in range(0, n, size):
        b = min(n, a + size)
        m_ = b - a
        c0 = np.asarray(codes[0][a:b])
        y0 = np.asarray(zs[0][a:b], dtype=float) @ T[0]          # rows (T0' z0_i)'
        v0 = f.solve_00_rows(c0, y0)
        q = np.einsum("ij,ij->i", v0, v0)
        rhs = np.zeros((k0, m_))
        rhs[mz:, :] = X[a:b].T - np.einsum("ijk,ij->ki", Hx[c0], v0)
        if mz:
            cols = np.repeat(np.arange(m_), p0)
            rows = (c0[:, None] * p0 + np.arange(p0)[None, :]).ravel()
            V0 = sp.csc_matrix((v0.ravel(), (rows, cols)), shape=(l0 * p0, m_))
            rhs[:mz, :] -= (LZ0 @ V0).toarray()
            for k, t in enumerate(m.terms[1:], start=1):
                yk = np.asarray(zs[k][a:b], dtype=float) @ T[k]
                ck = np.asarray(codes[k][a:b])
                idx = offsets[k - 1] + ck[:, None] * t.p + np.arange(t.p)[None, :]
                np.add.at(rhs, (idx.ravel(), np.repeat(np.arange(m_), t.p)), yk.ravel())
        out[a:b] = f.schur_quadform(rhs, acc=q)
    return out


def _sqrt_weights(m) -> np.ndarray | None:
    w = m.frame.weights
    return None if w is None else np.sqrt(np.asarray(w, dtype=float))


def hatvalues(m) -> np.ndarray:
    """Diagonal of the hat matrix of the LMM (lme4's ``hatvalues``), one value per observation."""
    require_lmm(m, "hatvalues()")
    sw = _sqrt_weights(m)
    X = np.asarray(m.fixed.X, dtype=float)
    zs = [t.z for t in m.terms]
    if sw is not None:
        X = X * sw[:, None]
        zs = [z * sw[:, None] for z in zs]
    return penalized_quadform(m, X, zs, [t.codes for t in m.terms])



def residuals(m, type: str = "response", scaled: bool = False) -> pd.Series:
    """Residuals as lme4's ``residuals(m, type, scaled)``.

    ``response`` and ``working``: ``y - fitted``; ``pearson`` and ``deviance``: ``sqrt(w) (y - fitted)``
    (the same for a Gaussian model); ``scaled=True`` divides by sigma (the summary's "Scaled residuals").
    """
    types = ("response", "working", "pearson", "deviance")
    if type not in types:
        raise ArgumentError(f"type must be one of {', '.join(types)}; got {type!r}")
    if hasattr(m, "family"):  # a GLMM computes its own kinds of residuals
        return m.resid(type=type, scaled=scaled)
    r = m.residuals
    r = pd.Series(np.asarray(r, dtype=float), index=m.frame.data.index, name="residuals")
    if type in ("pearson", "deviance"):
        sw = _sqrt_weights(m)
        if sw is not None:
            r = r * sw
    if scaled:
        r = r / float(m.sigma)
    return r
