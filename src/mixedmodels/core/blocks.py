r"""The crossproduct blocks of ``[Z X y]``, formed once from the rows.

For weights ``w`` and offset ``o`` the core needs the blocks of ``A = [Z X y]' W [Z X y]`` (with
``y - o``), held in the cheapest exact form (Bates et al. 2015; MixedModels.jl):

* ``A00``: ``Z0'WZ0`` of the first term (most levels), one p0 x p0 block per level;
* ``C0``:  ``Z0'W[X y]``, one p0 x (p+1) block per level;
* ``Ar0``: ``Zr'WZ0`` (sparse) and ``Arr``: ``Zr'WZr`` (sparse) for the other terms ``r``;
* ``ArX``: ``Zr'W[X y]`` and ``AXX``: ``[X y]'W[X y]`` (dense).

Two changes of ``[X y]`` that leave the criterion, theta, sigma and u as they are keep ``r^2``
accurate when y is far from 0: a constant subtracted from y where the constant column is in the
span of X, and ``y - X b`` with b the least-squares fit (see :func:`form_blocks`); beta is shifted
back by ``beta_shift``. Every block is a sum over rows, so the same blocks can be formed chunk by
chunk (:mod:`.rows`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["CrossBlocks", "form_blocks", "term_sparse", "shift_coef", "far_centre", "ones_coef",
           "CENTRE_RATIO", "moment_start"]


def term_sparse(term, sw: np.ndarray | None) -> sp.csc_matrix:
    """Z of one term as a sparse n x (nlev*p) matrix (level-major columns), rows scaled by sqrt(w)."""
    n, p = term.z.shape
    z = term.z if sw is None else term.z * sw[:, None]
    codes = np.asarray(term.codes, dtype=np.int64)
    if p == 1:
        return sp.csr_matrix((np.asarray(z[:, 0], dtype=float), codes, np.arange(n + 1)),
                             shape=(n, term.q)).tocsc()
    cols = (codes[:, None] * p + np.arange(p)[None, :]).ravel()
    return sp.csr_matrix((np.ascontiguousarray(z, dtype=float).ravel(), cols, np.arange(0, n * p + 1, p)),
                         shape=(n, term.q)).tocsc()


def shift_coef(XtX: np.ndarray, Xty: np.ndarray) -> np.ndarray | None:
    """Least-squares coefficients from the normal equations (any b keeps the criterion exact; a
    good one makes y - X b small); None where they cannot be formed."""
    try:
        c, low = sla.cho_factor(XtX, lower=True, check_finite=False)
        b = sla.cho_solve((c, low), Xty, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    return b if np.all(np.isfinite(b)) else None


# Centre the response by a constant only when it is this many times farther from 0 than it spreads:
# below that the least-squares shift alone loses at most ~3 digits of 16, and leaving ordinary fits
# bit for bit as they were keeps their optimizer paths (and so lme4's) unchanged.
CENTRE_RATIO = 1e3


def far_centre(v: np.ndarray) -> float:
    """A constant c to subtract from v when v is far from 0 compared with its spread (so that every
    v_i - c is exact, Sterbenz), else 0."""
    if v.size == 0:
        return 0.0
    c = float(np.mean(v))
    spread = float(np.max(np.abs(v - c)))
    return c if np.isfinite(c) and abs(c) > CENTRE_RATIO * spread else 0.0


def ones_coef(X: np.ndarray) -> np.ndarray | None:
    """a with X @ a == 1 (to a few ulps): the constant column is in the span of X (an intercept,
    or cell-means coding such as ``0 + f``); None where it is not."""
    n, p = X.shape
    if not n or not p:
        return None
    const = np.flatnonzero(np.all(X == X[0], axis=0) & (X[0] != 0))
    cands = []
    if const.size:
        a = np.zeros(p)
        a[const[0]] = 1.0 / X[0, const[0]]
        cands.append(a)
    else:
        a = shift_coef(X.T @ X, X.sum(axis=0))
        if a is not None:
            cands += [np.round(a * 2.0 ** 20) / 2.0 ** 20, a]   # exact for 0/1 codings, else as solved
    for a in cands:
        if np.max(np.abs(X @ a - 1.0)) <= 8 * np.finfo(float).eps:
            return a
    return None



@dataclass
class CrossBlocks:
    """The blocks of ``[Z X y]' W [Z X y]`` and what the criterion needs besides them.

    ``n`` rows, ``p`` columns of X; ``ldW = sum log w`` (over w > 0); ``beta_shift``: what to add
    to the beta of the held ``[X y]``; ``y_ss``: the weighted sum of squares of the response
    before the least-squares shift (what the fixed effects must explain); ``start``: lme4's
    starting theta; the blocks as in the module's docstring (``Arr``, ``ArX`` None with one term).
    """

    n: int
    p: int
    ldW: float
    beta_shift: np.ndarray
    y_ss: float
    start: np.ndarray
    A00: np.ndarray
    C0: np.ndarray
    Ar0: sp.csr_matrix
    Arr: sp.csr_matrix | None
    ArX: np.ndarray | None
    AXX: np.ndarray


def moment_start(terms, layout, y: np.ndarray) -> np.ndarray:
    """lme4's starting theta (mkLmerDevfun): when every term is a random intercept of its own
    grouping factor, theta_k = sqrt(v_k / v_e) with v_k the variance of the group means
    expanded to the rows and v_e = var(y) - sum(v_k) (if positive); else 1 on the diagonal."""
    start = layout.default_start()
    if not intercepts_only(terms) or y.size < 2:
        return start
    v = []
    for t in terms:
        codes = np.asarray(t.codes, dtype=np.int64)
        cnt = np.bincount(codes, minlength=t.nlev)
        sums = np.bincount(codes, weights=y, minlength=t.nlev)
        means = np.divide(sums, cnt, out=np.zeros_like(sums), where=cnt > 0)
        v.append(float(np.var(means[codes], ddof=1)))
    ve = float(np.var(y, ddof=1)) - sum(v)
    if not (np.isfinite(ve) and ve > 0):
        return start
    return np.sqrt(np.asarray(v) / ve)


def intercepts_only(terms) -> bool:
    """Every term a random intercept of a grouping factor of its own (lme4's moment start)."""
    groups = [t.group for t in terms]
    return len(set(groups)) == len(terms) and all(list(t.cnames) == ["(Intercept)"] for t in terms)


def _prepare_xy(X: np.ndarray, y, weights, offset):
    """[X y] weighted by sqrt(w), with the two shifts of the module's docstring applied.

    Returns ``(Xy, sw, ldW, beta_shift, y_ss, AXX)``.
    """
    n, p = X.shape
    yy = np.asarray(y, dtype=float)
    if offset is not None:
        yy = yy - offset
    sw = None
    ldW = 0.0
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        sw = np.sqrt(w)
        pos = w > 0
        ldW = float(np.sum(np.log(w[pos])))
    # A response far from 0 (1e9 + y): where the constant column is in the span of X, subtract a
    # constant c from y first. y - c is exact (Sterbenz: every y_i is within a factor 2 of c),
    # and c = X (c a) with X a = 1, so this is the unit-triangular change of [X y] below with
    # b = c a: criterion, theta, sigma and u are those of the shifted problem, beta is shifted
    # by c a. The least-squares shift alone would leave y - X b with a rounding error of
    # eps |y| per row (X b is about 1e9), i.e. the fit of a perturbed response. Without the
    # constant in span(X) a shift by c changes the model: then only the shift below is made.
    beta_shift = np.zeros(p)
    c = far_centre(yy)
    a = ones_coef(X) if c else None
    if a is not None:
        yy = yy - c
        beta_shift = c * a
    Xy = np.empty((n, p + 1))
    Xy[:, :p] = X
    Xy[:, p] = yy
    if sw is not None:
        Xy *= sw[:, None]
    AXX = Xy.T @ Xy
    # the weighted sum of squares of the response as held (after any constant above): what the
    # fixed effects must explain (lmer's check of a response they reproduce exactly)
    y_ss = float(AXX[p, p])
    # r^2 comes out of the Cholesky factor as y'y minus the part explained by [Z X]: a difference
    # of large numbers when y is far from 0. Replacing y by y - X b (b the least-squares fit
    # from X'X, a unit-triangular change of [X y]) leaves the criterion and u exactly as they
    # are and beta shifted by b, but y'y is then about the residual sum of squares, so the
    # cancellation (and the rounding it amplifies) mostly goes away.
    if p and AXX[p, p] > 0:
        b = shift_coef(AXX[:p, :p], AXX[:p, p])
        if b is not None:
            ynew = Xy[:, p] - Xy[:, :p] @ b
            if float(ynew @ ynew) < AXX[p, p]:
                Xy[:, p] = ynew
                col = Xy.T @ ynew
                AXX[:, p] = col
                AXX[p, :] = col
                beta_shift = beta_shift + b
    return Xy, sw, ldW, beta_shift, y_ss, AXX


def z_blocks(terms, Xy: np.ndarray, sw: np.ndarray | None):
    """The blocks that involve Z: ``(A00, C0, Ar0, Arr, ArX)`` from the rows of ``[X y]`` (already
    weighted) and the terms' ``z`` and ``codes`` (weighted here by ``sw``)."""
    t0 = terms[0]
    l0, p0, p1 = t0.nlev, t0.p, Xy.shape[1]
    codes0 = np.asarray(t0.codes, dtype=np.int64)
    z0 = t0.z if sw is None else t0.z * sw[:, None]
    # Z0'Z0: one p0 x p0 block per level; Z0'[X y]: one p0 x (p+1) block per level
    A00 = np.empty((l0, p0, p0))
    for a in range(p0):
        for b in range(a, p0):
            s = np.bincount(codes0, weights=z0[:, a] * z0[:, b], minlength=l0)
            A00[:, a, b] = s
            A00[:, b, a] = s
    Z0 = term_sparse(t0, sw)
    C0 = np.asarray(Z0.T @ Xy).reshape(l0, p0, p1)
    rest = terms[1:]
    if not rest:
        return A00, C0, sp.csr_matrix((0, t0.q)), None, None
    Zr = sp.hstack([term_sparse(t, sw) for t in rest]).tocsc()
    Ar0 = (Zr.T @ Z0).tocsr()
    Arr = (Zr.T @ Zr).tocsr()
    ArX = np.asarray(Zr.T @ Xy)
    return A00, C0, Ar0, Arr, ArX


def form_blocks(terms, layout, X, y, weights=None, offset=None) -> CrossBlocks:
    """The blocks from in-memory arrays: X (n x p), y, optional weights and offset, the terms'
    level codes and z (one pass over the rows for each block)."""
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    y_start = np.asarray(y, dtype=float)
    cs = far_centre(y_start)          # lme4's start is location-free: spare it the same rounding
    start = moment_start(terms, layout, y_start - cs if cs else y_start)
    Xy, sw, ldW, beta_shift, y_ss, AXX = _prepare_xy(X, y, weights, offset)
    A00, C0, Ar0, Arr, ArX = z_blocks(terms, Xy, sw)
    return CrossBlocks(n, p, ldW, beta_shift, y_ss, start, A00, C0, Ar0, Arr, ArX, AXX)
