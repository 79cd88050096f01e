r"""The one numerical core: profiled deviance of a linear mixed model from crossproduct blocks.

Model (Bates, Mächler, Bolker & Walker 2015): ``y = X beta + Z Lambda(theta) u + e``,
``u ~ N(0, sigma^2 I)``, ``e ~ N(0, sigma^2 W^-1)``. For a given theta the lower Cholesky factor
of

    [ Lambda'Z'WZ Lambda + I   Lambda'Z'WX   Lambda'Z'Wy ]
    [ X'WZ Lambda              X'WX          X'Wy        ]
    [ y'WZ Lambda              y'WX          y'Wy        ]

gives ``log|L_Z|^2``, ``log|R_X|^2`` and the penalized residual sum of squares ``r^2`` (its last
diagonal entry squared), hence

    ML:    d(theta)   = log|L_Z|^2 + n (1 + log(2 pi r^2 / n))                   - sum log w
    REML:  d_R(theta) = log|L_Z|^2 + log|R_X|^2 + (n-p)(1 + log(2 pi r^2/(n-p))) - sum log w

The crossproducts are formed once from the rows; afterwards nothing touches the n rows.
Terms are ordered by decreasing number of levels (lme4's order).

Blocked elimination (the shape of MixedModels.jl). Write ``D_k = T0' A00_k T0 + I`` for the
first term's p0 x p0 diagonal block of level k and ``W_k = T0 D_k^-1 T0'``. Eliminating the first
term leaves, for the other terms ``r`` and ``[X y]``, the Schur complement

    S_rr = Lambda_r' (A_rr - A_r0 W A_0r) Lambda_r + I
    S_rx = Lambda_r' (A_rx - A_r0 W C0)
    S_xx = A_xx - C0' W C0                     (C0 = Z0'[X y], one p0 x (p+1) block per level)

with ``W = blockdiag(W_k)``. Everything that depends on theta is a small batch (``D_k``, ``W_k``)
or a fixed linear map of ``W``: the entries of ``A_r0 W A_0r`` are, on the sparsity pattern of the
product, a sparse matrix (``P``, built once) times ``vec(W)``. So each evaluation is: a batch of
small Cholesky factors, one sparse mat-vec, a rescaling by Lambda_r, and one dense LAPACK
Cholesky (``dpotrf``) of the (mz+p+1)-square Schur complement, in a preallocated buffer.

How ``A_r0 W A_0r`` is formed is chosen by cost on the second evaluation: a pair map (above) for
sparsely crossed factors (InstEval), one GEMM with a dense ``A_r0`` for small or fully crossed
designs (subjects x items), or scipy's sparse product when the pair map would be too large. Only
the lower triangle of the Schur block is formed; every term after the first that is scalar is
scaled block by block while copying the base block into a reused buffer.

The starting value is lme4's (mkLmerDevfun): for models whose terms are all random intercepts of
distinct factors, ``theta_k = sqrt(v_k / v_e)`` from the variances of the group means, which is
what makes the optimizer take lme4's path (same start, same BOBYQA, same stopping rule).

When that dense block would be too large (many levels in the second term, or nested designs whose
Schur complement stays sparse) the core switches to a sparse path: ``S_rr`` as a sparse matrix
factored by SuperLU with a fill-reducing (minimum degree) ordering, and the dense work reduced to
the (p+1)-square Schur complement of ``[X y]``. If neither fits in memory a :class:`FitError`
says so before anything large is allocated.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from ..errors import FitError

__all__ = ["ThetaLayout", "LmmCore", "Factorization"]

_LOG2PI = math.log(2 * math.pi)

# Limits of the dense Schur block: bytes for one (m x m) float64 matrix, and the number of entries of
# the pair map P (beyond it A_r0 W A_0r is formed by a sparse product at each evaluation).
_MB = 1024 * 1024
_DENSE_MAX_BYTES = int(float(os.environ.get("MIXEDMODELS_DENSE_MAX_MB", "512")) * _MB)
_PAIR_MAX = int(float(os.environ.get("MIXEDMODELS_PAIR_MAX", "5e6")))
_SMALL_AR0 = 250_000   # entries of A_r0 below which it is simply kept dense
_SMALL_BATCH_P = 8
_CHUNK = 192         # rows per chunk when only the lower triangle of a dense block is needed   # batched Cholesky of the first term by vectorized loops up to this p0


class ThetaLayout:
    """Where each theta entry goes in the lower-triangular template T_k of each term.

    lme4's order: term by term, each template's lower triangle column by column.
    """

    def __init__(self, ps: list[int]):
        self.ps = list(ps)
        self.rows, self.cols, self.offsets = [], [], []
        off = 0
        for p in ps:
            r, c = [], []
            for j in range(p):
                for i in range(j, p):
                    r.append(i)
                    c.append(j)
            self.rows.append(np.array(r, dtype=np.intp))
            self.cols.append(np.array(c, dtype=np.intp))
            self.offsets.append(off)
            off += len(r)
        self.size = off

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        out = []
        for p, r, c, off in zip(self.ps, self.rows, self.cols, self.offsets):
            T = np.zeros((p, p))
            T[r, c] = theta[off: off + len(r)]
            out.append(T)
        return out

    def start(self) -> np.ndarray:
        """lme4's starting value: 1 on the diagonal, 0 elsewhere; for the layout of an LmmCore whose
        terms are all random intercepts, lme4's moment-based start instead (LmmCore.start_theta)."""
        if getattr(self, "_start", None) is not None:
            return self._start.copy()
        return np.concatenate([(r == c).astype(float) for r, c in zip(self.rows, self.cols)])

    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for diagonal entries, -inf for the others."""
        return np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in zip(self.rows, self.cols)])

    def is_diagonal(self) -> np.ndarray:
        return np.concatenate([r == c for r, c in zip(self.rows, self.cols)])


def _term_sparse(term, sw: np.ndarray | None) -> sp.csc_matrix:
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


def _block_pattern(terms, layout_offsets, ps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pattern of blockdiag(I_l (x) T_k) over several terms: rows, cols, theta index of each entry."""
    R, C, I = [], [], []
    base = 0
    for t, off, p in zip(terms, layout_offsets, ps):
        idx = 0
        local_r, local_c, local_i = [], [], []
        for j in range(p):
            for i in range(j, p):
                local_r.append(i)
                local_c.append(j)
                local_i.append(off + idx)
                idx += 1
        lr, lc, li = map(np.array, (local_r, local_c, local_i))
        lev = np.arange(t.nlev)[:, None] * p
        R.append((lev + lr[None, :]).ravel() + base)
        C.append((lev + lc[None, :]).ravel() + base)
        I.append(np.tile(li, t.nlev))
        base += t.q
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, dtype=np.int64))
    return cat(R), cat(C), cat(I)


# ---------------------------------------------------------------------- batched small factors
def _batch_cholesky(D: np.ndarray) -> np.ndarray | None:
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


def _batch_tril_inv(L: np.ndarray) -> np.ndarray:
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


def _first_term_H(L00: np.ndarray, T0: np.ndarray, C0: np.ndarray) -> list[np.ndarray]:
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


def _hth(hs: list[np.ndarray]) -> np.ndarray:
    """sum_i h_i' h_i."""
    out = hs[0].T @ hs[0]
    for h in hs[1:]:
        out += h.T @ h
    return out


def _first_term_blocks(T0: np.ndarray, a00, A00f, p0: int, need_L: bool = True, need_W: bool = True):
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
    L = _batch_cholesky(D)
    if L is None:
        return None
    W = None
    if need_W:
        Li = _batch_tril_inv(L)
        Dinv = np.matmul(Li.transpose(0, 2, 1), Li)
        W = (Dinv.reshape(l0, p0 * p0) @ K.T).reshape(l0, p0, p0)
    ld = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    return L, W, ld


@dataclass
class Factorization:
    """The blocked Cholesky factor at one theta, and what the objective needs from it.

    ``L00`` holds the first term's factors (``(l0, p0, p0)``); ``Ls`` the lower factor of the
    Schur complement that remains: in the dense mode of the other terms and ``[X y]``
    (``(mz+p+1)``-square), in the sparse mode of ``[X y]`` alone (``lu`` then holds the sparse
    factor of the other terms and ``Y = S_rr^-1 S_rx``). ``G``, ``LZ0`` and ``H`` (the first
    term's transformed blocks) are formed on first access.
    """

    theta: np.ndarray
    T: list[np.ndarray]          # templates of each term
    L00: np.ndarray              # (l0, p0, p0) lower factors of the first term's diagonal blocks
    Ls: np.ndarray               # lower factor of the remaining Schur complement
    ldL2: float
    ldRX2: float
    r2: float
    core: object = field(default=None, repr=False)
    mode: str = "dense"
    lu: object = field(default=None, repr=False)
    Y: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def xoff(self) -> int:
        """Row of Ls where the X block starts."""
        return self.core.mz if self.mode == "dense" else 0

    @property
    def L00inv(self) -> np.ndarray:
        if "L00inv" not in self._cache:
            self._cache["L00inv"] = _batch_tril_inv(self.L00) if self.L00.shape[1] > 1 else 1.0 / self.L00
        return self._cache["L00inv"]

    @property
    def G(self) -> np.ndarray:
        """(l0, p0, p0): T0 L00_k^-T per level."""
        if "G" not in self._cache:
            self._cache["G"] = self.T[0][None, :, :] @ np.transpose(self.L00inv, (0, 2, 1))
        return self._cache["G"]

    @property
    def H(self) -> np.ndarray:
        """(q0, p+1): L00^-1 Lambda_0' Z0'[X y]."""
        if "H" not in self._cache:
            c = self.core
            self._cache["H"] = np.einsum("lab,lac->lbc", self.G, c.C0).reshape(c.l0 * c.p0, c.p + 1)
        return self._cache["H"]

    @property
    def LZ0(self) -> sp.csr_matrix:
        """(mz, q0) sparse: Lambda_r' A_r0 blockdiag(G)."""
        if "LZ0" not in self._cache:
            c = self.core
            if not c.mz:
                self._cache["LZ0"] = sp.csr_matrix((0, c.l0 * c.p0))
            else:
                self._cache["LZ0"] = (c._lambda_r(self.theta).T @ c.Ar0 @ c._block_diag(self.G)).tocsr()
        return self._cache["LZ0"]


def _shift_coef(XtX: np.ndarray, Xty: np.ndarray) -> np.ndarray | None:
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
_CENTRE_RATIO = 1e3


def _far_centre(v: np.ndarray) -> float:
    """A constant c to subtract from v when v is far from 0 compared with its spread (so that every
    v_i - c is exact, Sterbenz), else 0."""
    if v.size == 0:
        return 0.0
    c = float(np.mean(v))
    spread = float(np.max(np.abs(v - c)))
    return c if np.isfinite(c) and abs(c) > _CENTRE_RATIO * spread else 0.0


def _ones_coef(X: np.ndarray) -> np.ndarray | None:
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
        a = _shift_coef(X.T @ X, X.sum(axis=0))
        if a is not None:
            cands += [np.round(a * 2.0 ** 20) / 2.0 ** 20, a]   # exact for 0/1 codings, else as solved
    for a in cands:
        if np.max(np.abs(X @ a - 1.0)) <= 8 * np.finfo(float).eps:
            return a
    return None


class LmmCore:
    """Crossproduct blocks of [Z X y], formed once; factor and objective at any theta.

    ``method``: "auto" (default), "dense" or "sparse": how the Schur complement of the terms after
    the first is factored (see the module's docstring).
    """

    def __init__(self, terms, X: np.ndarray, y: np.ndarray, weights=None, offset=None, *, method: str = "auto"):
        if method not in ("auto", "dense", "sparse"):
            raise ValueError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
        self.terms = terms
        X = np.asarray(X, dtype=float)
        self.n, self.p = X.shape
        self.layout = ThetaLayout([t.p for t in terms])
        yy = np.asarray(y, dtype=float)
        if offset is not None:
            yy = yy - offset
        sw = None
        self.ldW = 0.0
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            sw = np.sqrt(w)
            pos = w > 0
            self.ldW = float(np.sum(np.log(w[pos])))
        # A response far from 0 (1e9 + y): where the constant column is in the span of X, subtract a
        # constant c from y first. y - c is exact (Sterbenz: every y_i is within a factor 2 of c),
        # and c = X (c a) with X a = 1, so this is the unit-triangular change of [X y] below with
        # b = c a: criterion, theta, sigma and u are those of the shifted problem, beta is shifted
        # by c a. The least-squares shift alone would leave y - X b with a rounding error of
        # eps |y| per row (X b is about 1e9), i.e. the fit of a perturbed response. Without the
        # constant in span(X) a shift by c changes the model: then only the shift below is made.
        self._beta_shift = np.zeros(self.p)
        c = _far_centre(yy)
        a = _ones_coef(X) if c else None
        if a is not None:
            yy = yy - c
            self._beta_shift = c * a
        y_start = np.asarray(y, dtype=float)
        cs = _far_centre(y_start)          # lme4's start is location-free: spare it the same rounding
        self._start = self._moment_start(terms, y_start - cs if cs else y_start)
        self.layout._start = self._start
        Xy = np.empty((self.n, self.p + 1))
        Xy[:, : self.p] = X
        Xy[:, self.p] = yy
        if sw is not None:
            Xy *= sw[:, None]
        AXX = Xy.T @ Xy
        # the weighted sum of squares of the response as held (after any constant above): what the
        # fixed effects must explain (lmer's check of a response they reproduce exactly)
        self.y_ss = float(AXX[self.p, self.p])
        # r^2 comes out of the Cholesky factor as y'y minus the part explained by [Z X]: a difference
        # of large numbers when y is far from 0. Replacing y by y - X b (b the least-squares fit
        # from X'X, a unit-triangular change of [X y]) leaves the criterion and u exactly as they
        # are and beta shifted by b, but y'y is then about the residual sum of squares, so the
        # cancellation (and the rounding it amplifies) mostly goes away.
        if self.p and AXX[self.p, self.p] > 0:
            b = _shift_coef(AXX[: self.p, : self.p], AXX[: self.p, self.p])
            if b is not None:
                ynew = Xy[:, self.p] - Xy[:, : self.p] @ b
                if float(ynew @ ynew) < AXX[self.p, self.p]:
                    Xy[:, self.p] = ynew
                    col = Xy.T @ ynew
                    AXX[:, self.p] = col
                    AXX[self.p, :] = col
                    self._beta_shift = self._beta_shift + b
        t0 = terms[0]
        self.l0, self.p0 = t0.nlev, t0.p
        p0, l0, p1 = self.p0, self.l0, self.p + 1
        codes0 = np.asarray(t0.codes, dtype=np.int64)
        z0 = t0.z if sw is None else t0.z * sw[:, None]
        # Z0'Z0: one p0 x p0 block per level; Z0'[X y]: one p0 x (p+1) block per level
        A00 = np.empty((l0, p0, p0))
        for a in range(p0):
            for b in range(a, p0):
                s = np.bincount(codes0, weights=z0[:, a] * z0[:, b], minlength=l0)
                A00[:, a, b] = s
                A00[:, b, a] = s
        self.A00 = A00
        self._a00 = np.ascontiguousarray(A00[:, 0, 0])
        self._A00f = A00.reshape(l0, p0 * p0)
        Z0 = _term_sparse(t0, sw)
        self.C0 = np.asarray(Z0.T @ Xy).reshape(l0, p0, p1)
        self._C0f = self.C0.reshape(l0 * p0, p1)
        rest = terms[1:]
        self.mz = mz = int(sum(t.q for t in rest))
        m = mz + p1
        self._m = m
        self.nevals = 0
        self._P = None
        self._mmode = "none"
        self._Ar0d = None
        self._calls = 0
        self._buf = None
        if rest:
            Zr = sp.hstack([_term_sparse(t, sw) for t in rest]).tocsc()
            self.Ar0 = (Zr.T @ Z0).tocsr()
            self._Ar0T = self.Ar0.T.tocsr()
            rr, cc, ii = _block_pattern(rest, self.layout.offsets[1:], self.layout.ps[1:])
            self._lam_pattern = (rr, cc, ii)
            # scalar rest terms scale by their theta; vector ones by their template (per term)
            self._vec_terms = []
            off = 0
            for k, t in enumerate(rest, start=1):
                if t.p > 1:
                    self._vec_terms.append((k, off, t.nlev, t.p))
                off += t.q
            self._term_ranges = []
            off = 0
            for k, t in enumerate(rest, start=1):
                self._term_ranges.append((k, t.p, off, off + t.q))
                off += t.q
            Arr = (Zr.T @ Zr).tocsr()
            ArX = np.asarray(Zr.T @ Xy)
            self.method = self._choose_method(method, Arr)
        else:
            self.Ar0 = sp.csr_matrix((0, t0.q))
            self._Ar0T = self.Ar0.T.tocsr()
            self._lam_pattern = None
            self.method = "dense"
        if self.method == "dense":
            R = np.zeros((m, m))
            if rest:
                R[:mz, :mz] = Arr.toarray()
                R[:mz, mz:] = ArX
                R[mz:, :mz] = ArX.T
                self._mmode = "undecided"      # chosen on the second objective() call
            R[mz:, mz:] = AXX
            self.R = R
            self._diag_z = np.arange(mz) * (m + 1)
        else:
            self.R = None
            self._Arr = Arr.tocsc()
            self._ArX = ArX
            self._AXX = AXX
            self._eye = sp.identity(mz, format="csc")

    # ------------------------------------------------------------------ new [X y], same Z
    def transform_xy(self, M: np.ndarray) -> "LmmCore":
        """A core whose ``[X y]`` is this core's ``[X y] @ M`` (M is (p+1) x (p'+1)), with no pass over
        the rows: the blocks that involve ``[X y]`` are bilinear in its columns, the Z blocks are
        shared. Profiles move ``X_j beta_j`` into the offset this way (lme4's profile does the same).
        """
        import copy

        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != self.p + 1:
            raise ValueError(f"M must have {self.p + 1} rows, got shape {M.shape}")
        new = copy.copy(self)
        # this core holds [X y] S with S = [[I, -b], [0, 1]] (the shift of y above): [X y] M is
        # the held blocks times S^-1 M, with no shift of its own
        M = M.copy()
        M[: self.p, :] += np.outer(self._beta_shift, M[self.p, :])
        new._beta_shift = np.zeros(M.shape[1] - 1)
        # the new y may again be far from 0 (a profile of a slope of 1e9 + y: y - x_j beta_j holds the
        # intercept's 1e9): hold it as y - X' d instead (the same change of [X' y] as in __init__,
        # d least squares in the coefficients) when that makes its sum of squares much smaller
        AXX = self.R[self.mz:, self.mz:] if self.method == "dense" else self._AXX
        pn = M.shape[1] - 1
        new.y_ss = float(M[:, pn] @ AXX @ M[:, pn])
        if pn and self.p and not np.any(M[self.p, :pn]) and np.any(M[: self.p, pn]):
            d = np.linalg.lstsq(M[: self.p, :pn], M[: self.p, pn], rcond=None)[0]
            v = M[:, pn] - M[:, :pn] @ d
            ss = float(v @ AXX @ v)
            if np.all(np.isfinite(d)) and 0 < ss * _CENTRE_RATIO < new.y_ss / _CENTRE_RATIO:
                M[:, pn] = v
                new._beta_shift = d
                new.y_ss = ss
        mz, p1 = self.mz, M.shape[1]
        new.p = p1 - 1
        new.C0 = np.einsum("lac,cd->lad", self.C0, M)
        new._C0f = new.C0.reshape(self.l0 * self.p0, p1)
        new._m = m = mz + p1
        new.nevals, new._calls, new._buf = 0, 0, None
        # the pair map indexes the full (m x m) block: rebuild it for the new m when needed
        new._P = None
        new._mmode = "undecided" if (mz and self.method == "dense") else "none"
        if self.method == "dense":
            R = np.zeros((m, m))
            R[:mz, :mz] = self.R[:mz, :mz]
            ArX = self.R[:mz, mz:] @ M
            R[:mz, mz:] = ArX
            R[mz:, :mz] = ArX.T
            R[mz:, mz:] = M.T @ self.R[mz:, mz:] @ M
            new.R = R
            new._diag_z = np.arange(mz) * (m + 1)
        else:
            new._ArX = self._ArX @ M
            new._AXX = M.T @ self._AXX @ M
        return new

    # ------------------------------------------------------------------ A_r0 W A_0r
    def _choose_m_mode(self) -> str:
        """How A_r0 W A_0r is formed at each evaluation, by estimated cost:

        * "dense": A_r0 as a dense (mz x q0) array and one GEMM (mz^2 q0 flops), when A_r0 is
          small or dense (crossed designs with every level pair observed);
        * "pairs": the pair map P @ vec(W) (one sparse mat-vec over the T p0^2 products of rows
          of A_r0 that share a level of the first term), built on the second evaluation since a
          single factorization (one PIRLS step) does not repay it;
        * "spgemm": scipy's sparse product, when the pair map would be too large.
        """
        mz, q0, p0 = self.mz, self.l0 * self.p0, self.p0
        dense_cost = 5e-11 * (mz * mz * q0 + mz * q0 * p0) + 2e-10 * mz * q0
        npairs = self._pair_count() * p0 * p0
        pair_cost = 1.5e-9 * npairs
        if dense_cost <= pair_cost and 8 * mz * q0 <= _DENSE_MAX_BYTES // 4:
            if self._Ar0d is None:
                self._Ar0d = self.Ar0.toarray()
            return "dense"
        self._Ar0d = None
        if npairs <= _PAIR_MAX:
            return "pairs"
        return "spgemm"

    def _product_M(self, W) -> sp.coo_matrix | np.ndarray:
        """A_r0 W A_0r: dense (mz x mz) in the dense mode, else a sparse COO matrix."""
        if self._Ar0d is not None:
            A = self._Ar0d
            if W.ndim == 1:
                Y = A * W[None, :]
            else:
                A3 = A.reshape(self.mz, self.l0, self.p0).transpose(1, 0, 2)
                Y = np.matmul(A3, W).transpose(1, 0, 2).reshape(A.shape)
            return Y @ A.T
        return (self.Ar0 @ self._block_diag(W) @ self._Ar0T).tocoo()

    def _cross(self, V) -> np.ndarray:
        """A_r0 W C0 = A_r0 V, (mz, p+1)."""
        return self._Ar0d @ V if self._Ar0d is not None else self.Ar0 @ V

    # ------------------------------------------------------------------ starting value
    def _moment_start(self, terms, y: np.ndarray) -> np.ndarray:
        """lme4's starting theta (mkLmerDevfun): when every term is a random intercept of its own
        grouping factor, theta_k = sqrt(v_k / v_e) with v_k the variance of the group means
        expanded to the rows and v_e = var(y) - sum(v_k) (if positive); else 1 on the diagonal."""
        start = np.concatenate([(r == c).astype(float) for r, c in zip(self.layout.rows, self.layout.cols)])
        groups = [t.group for t in terms]
        if (len(set(groups)) != len(terms) or any(list(t.cnames) != ["(Intercept)"] for t in terms)
                or self.n < 2):
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

    def start_theta(self) -> np.ndarray:
        """The starting value lme4's lmer() uses (see _moment_start)."""
        return self._start.copy()

    # ------------------------------------------------------------------ set-up helpers
    def _pair_count(self) -> int:
        """Number of (row, row) pairs of A_r0 sharing a first-term level (entries of the pair map / p0^2)."""
        pat = self._level_pattern()[0]
        c = np.diff(pat.indptr).astype(np.int64)
        return int(np.sum(c * (c + 1) // 2))

    def _level_pattern(self):
        """CSC pattern (mz x l0) of the rows of A_r0 touched by each first-term level, and the values
        (nnz, p0) of A_r0 at those (row, level) positions."""
        if getattr(self, "_lvlpat", None) is None:
            A = self.Ar0.tocoo()
            A.sum_duplicates()
            lev = A.col // self.p0
            a = A.col % self.p0
            key = lev.astype(np.int64) * self.mz + A.row
            ukey, inv = np.unique(key, return_inverse=True)
            vals = np.zeros((len(ukey), self.p0))
            vals[inv, a] = A.data
            ulev = ukey // self.mz
            urow = ukey % self.mz
            indptr = np.concatenate([[0], np.cumsum(np.bincount(ulev, minlength=self.l0))])
            pat = sp.csc_matrix((np.ones(len(ukey)), urow, indptr), shape=(self.mz, self.l0))
            self._lvlpat = (pat, vals)
        return self._lvlpat

    def _build_pairs(self) -> None:
        """The pair map: P (npairs x l0*p0^2) with vec(A_r0 W A_0r)[pairs] = P @ vec(W), and the
        flat positions of the pairs in the dense (m x m) Schur block (lower triangle, plus the upper
        entries of each level's own diagonal block of a vector-valued term, which Lambda_r mixes)."""
        pat, vals = self._level_pattern()
        p0, m = self.p0, self._m
        rows = pat.indices.astype(np.int64)
        counts = np.diff(pat.indptr).astype(np.int64)
        starts = pat.indptr[:-1].astype(np.int64)
        cnt = counts * (counts + 1) // 2
        total = int(cnt.sum())
        lvl = np.repeat(np.arange(self.l0, dtype=np.int64), cnt)
        t = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        u = np.floor((np.sqrt(8.0 * t + 1.0) - 1.0) / 2.0).astype(np.int64)
        u[u * (u + 1) // 2 > t] -= 1
        u[(u + 1) * (u + 2) // 2 <= t] += 1
        v = t - u * (u + 1) // 2
        gu = starts[lvl] + u
        gv = starts[lvl] + v
        ri, rj = rows[gu], rows[gv]          # ri >= rj: rows sorted within a level
        del t, u, v
        pp = np.arange(p0 * p0, dtype=np.int64)
        # coefficient of W_k[a, b] in M[ri, rj]: vals[gu, a] * vals[gv, b]
        if p0 == 1:
            coef = (vals[gu, 0] * vals[gv, 0])[:, None]
        else:
            coef = (vals[gu][:, :, None] * vals[gv][:, None, :]).reshape(-1, p0 * p0)
        cols = None if (p0 == 1 and not self._vec_terms) else lvl[:, None] * (p0 * p0) + pp[None, :]
        flat = ri * m + rj
        # mirrored entries inside one level's block of a vector-valued term (Lambda_r mixes them)
        if self._vec_terms:
            blk = np.arange(self.mz, dtype=np.int64)
            for _, off, nlev, pk in self._vec_terms:
                blk[off: off + nlev * pk] = off + np.arange(nlev * pk) // pk
            mir = (blk[ri] == blk[rj]) & (ri != rj)
            if mir.any():
                cm = (vals[gv[mir]][:, :, None] * vals[gu[mir]][:, None, :]).reshape(-1, p0 * p0)
                coef = np.concatenate([coef, cm])
                cols = np.concatenate([cols, cols[mir]])
                flat = np.concatenate([flat, rj[mir] * m + ri[mir]])
        if m * m <= 5e7:
            # compact pair ids without sorting: a dense (m x m) presence map
            present = np.zeros(m * m, dtype=bool)
            present[flat] = True
            uflat = np.flatnonzero(present)
            ids = np.cumsum(present, dtype=np.int64) - 1
            pid = ids[flat]
            del present, ids
        else:
            uflat, pid = np.unique(flat, return_inverse=True)
        if p0 == 1 and len(flat) == total:
            # generated level by level: the columns of P (levels) are already contiguous
            P = sp.csc_matrix((coef.ravel(), pid, np.concatenate([[0], np.cumsum(cnt)])),
                              shape=(len(uflat), self.l0)).tocsr()   # CSR: a gather mat-vec, faster
        else:
            P = sp.csr_matrix((coef.ravel(), (np.repeat(pid, p0 * p0), cols.ravel())),
                              shape=(len(uflat), self.l0 * p0 * p0))
            P.sum_duplicates()
        self._P = P
        self._pflat = uflat
        tid = np.empty(self.mz, dtype=np.int64)
        for i, (_, _, a, b) in enumerate(self._term_ranges):
            tid[a:b] = i
        self._ptp = tid[uflat // m] * len(self._term_ranges) + tid[uflat % m]

    def _choose_method(self, method: str, Arr) -> str:
        """dense or sparse Schur complement for the terms after the first.

        Dense while its (m x m) block is small (m <= 2500: one LAPACK Cholesky of at most ~0.1 s);
        beyond, dense only if its pattern is dense anyway (crossed factors: a sparse factor would
        fill in) and it fits in _DENSE_MAX_BYTES; otherwise sparse (nested or sparsely crossed
        designs, whose sparse factor stays sparse under a minimum-degree ordering).
        """
        m = self._m
        dense_bytes = 8 * m * m
        if method == "dense":
            self._check_dense(dense_bytes)
            return "dense"
        if method == "sparse" or dense_bytes > _DENSE_MAX_BYTES:
            return "sparse"
        if m <= 2500:
            return "dense"
        mz = self.mz
        pat = self._level_pattern()[0]
        if self._pair_count() > 0.05 * mz * mz:
            return "dense"
        nnz = (pat @ pat.T).nnz + Arr.nnz
        return "sparse" if nnz < 0.05 * mz * mz else "dense"

    @staticmethod
    def _check_dense(dense_bytes: int) -> None:
        if dense_bytes > 4 * _DENSE_MAX_BYTES:
            raise FitError(f"the dense Schur block of this model would need {dense_bytes / _MB:,.0f} MB; "
                           "use method='sparse' (or let method='auto' choose)")

    # ------------------------------------------------------------------ Lambda of the other terms
    def _lambda_r(self, theta: np.ndarray) -> sp.csr_matrix:
        rr, cc, ii = self._lam_pattern
        return sp.csr_matrix((theta[ii], (rr, cc)), shape=(self.mz, self.mz))

    def _scale_dense(self, S: np.ndarray, theta: np.ndarray, T: list[np.ndarray]) -> None:
        """In place: the Z rows/columns of the Schur block (lower triangle used) times Lambda_r."""
        mz = self.mz
        # scalar terms (and 1 for vector ones): one multiplier per block of the lower triangle
        tl = [(theta[self.layout.offsets[k]] if p == 1 else 1.0, a, b) for k, p, a, b in self._term_ranges]
        for i, (ti, ai, bi) in enumerate(tl):
            if ti != 1.0:
                S[mz:, ai:bi] *= ti
            for tj, aj, bj in tl[: i + 1]:
                c = ti * tj
                if c != 1.0:
                    S[ai:bi, aj:bj] *= c
        for k, off, nlev, pk in self._vec_terms:
            Tk = T[k]
            b = off + nlev * pk
            blk = S[off:b, :mz].reshape(nlev, pk, mz)       # rows: Tk' per level
            S[off:b, :mz] = np.matmul(Tk.T, blk).reshape(nlev * pk, mz)
            blk = S[:, off:b].reshape(self._m, nlev, pk)    # columns: Tk per level
            S[:, off:b] = np.matmul(blk, Tk).reshape(self._m, nlev * pk)

    def _fill_scalar(self, S: np.ndarray, theta: np.ndarray, W, V, Hxy=None) -> None:
        """The lower triangle of the Schur block when every term after the first is scalar:
        copy-and-scale of the base blocks in one pass, then the scaled pair (or product) update."""
        mz = self.mz
        R = self.R
        tr = self._term_ranges
        lamt = [float(theta[self.layout.offsets[k]]) for k, _, _, _ in tr]
        for i, (_, _, ai, bi) in enumerate(tr):
            ti = lamt[i]
            for j in range(i):
                aj, bj = tr[j][2], tr[j][3]
                np.multiply(R[ai:bi, aj:bj], ti * lamt[j], out=S[ai:bi, aj:bj])
            # the diagonal block: its lower triangle only, by row chunks
            c = ti * ti
            for r in range(ai, bi, _CHUNK):
                e = min(bi, r + _CHUNK)
                np.multiply(R[r:e, ai:e], c, out=S[r:e, ai:e])
            np.multiply(R[mz:, ai:bi], ti, out=S[mz:, ai:bi])
        S[mz:, mz:] = R[mz:, mz:]
        S[mz:, mz:] -= self._C0f.T @ V if Hxy is None else _hth(Hxy)
        if len(tr) == 1:
            lamc = None
            t2 = lamt[0] * lamt[0]
        else:
            lamc = np.repeat(np.asarray(lamt), [b - a for _, _, a, b in tr])
        if self._P is not None:
            mv = self._P @ W.reshape(-1)
            if lamc is None:
                mv *= t2
            else:
                mv *= np.outer(lamt, lamt).ravel()[self._ptp]
            Sf = S.reshape(-1)
            Sf[self._pflat] -= mv
        elif self._Ar0d is not None:
            M = self._product_M(W)
            for i, (_, _, ai, bi) in enumerate(tr):
                for j in range(i + 1):
                    aj, bj = tr[j][2], tr[j][3]
                    blk = M[ai:bi, aj:bj]
                    blk *= lamt[i] * lamt[j]
                    S[ai:bi, aj:bj] -= blk
        else:
            M = self._product_M(W)
            keep = M.row >= M.col
            r, c, v = M.row[keep], M.col[keep], M.data[keep]
            S[r, c] -= v * (t2 if lamc is None else lamc[r] * lamc[c])
        CV = self._cross(V)
        if lamc is None:
            CV *= lamt[0]
        else:
            CV *= lamc[:, None]
        S[mz:, :mz] -= CV.T

    def _block_diag(self, G: np.ndarray) -> sp.spmatrix:
        l0, p0 = self.l0, self.p0
        if G.ndim == 1:
            return sp.diags(G)
        if p0 == 1:
            return sp.diags(G[:, 0, 0])
        return sp.bsr_matrix((G, np.arange(l0), np.arange(l0 + 1)), shape=(l0 * p0, l0 * p0))

    # ------------------------------------------------------------------ factorization
    def factor(self, theta: np.ndarray) -> Factorization | None:
        """Blocked Cholesky factor at theta; None if a block is not positive definite."""
        return self._factor(np.asarray(theta, dtype=float), keep=True)

    def _factor(self, theta: np.ndarray, keep: bool) -> Factorization | None:
        T = self.layout.templates(theta)
        # p0 > 1: L00 also gives the [X y] block its accurate update (_first_term_H); W and
        # V = W C0 are then needed only for the blocks of the other terms
        p0 = self.p0
        need_W = p0 == 1 or self.mz > 0 or self.method == "sparse"
        first = _first_term_blocks(T[0], self._a00, self._A00f, p0, need_L=keep or p0 > 1, need_W=need_W)
        if first is None:
            return None
        L00, W, ld00 = first
        Hxy = _first_term_H(L00, T[0], self.C0) if p0 > 1 else None
        if p0 == 1:
            V = W[:, None] * self._C0f                               # W C0, (l0, p+1)
            if L00 is not None:
                L00 = L00.reshape(-1, 1, 1)
        else:
            V = np.matmul(W, self.C0).reshape(self.l0 * p0, self.p + 1) if need_W else None
        if self.method == "sparse":
            return self._factor_sparse(theta, T, L00, W, V, ld00, Hxy)
        mz, m = self.mz, self._m
        if not keep:
            self._calls += 1
            if self._calls >= 2:
                if self._mmode == "undecided":
                    self._mmode = self._choose_m_mode()
                if self._mmode == "pairs" and self._P is None:
                    self._build_pairs()
        if self._mmode == "undecided" and self._Ar0d is None and mz * self.l0 * p0 <= _SMALL_AR0:
            self._Ar0d = self.Ar0.toarray()
        if keep or self._buf is None:
            S = np.empty((m, m))
            if not keep:
                self._buf = S
        else:
            S = self._buf
        if mz and not self._vec_terms:
            self._fill_scalar(S, theta, W, V, Hxy)
        else:
            np.copyto(S, self.R)
            if mz:
                if self._P is not None:
                    Sf = S.reshape(-1)
                    Sf[self._pflat] -= self._P @ W.reshape(-1)
                elif self._Ar0d is not None:
                    S[:mz, :mz] -= self._product_M(W)
                else:
                    M = self._product_M(W)
                    S[M.row, M.col] -= M.data
                S[mz:, :mz] -= self._cross(V).T
            S[mz:, mz:] -= self._C0f.T @ V if Hxy is None else _hth(Hxy)
            if mz:
                self._scale_dense(S, theta, T)
        if mz:
            Sf = S.reshape(-1)
            Sf[self._diag_z] += 1.0
        # LAPACK on the transposed (Fortran-ordered) view: its upper factor is our lower factor
        U, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
        if info < 0:
            raise FitError(f"LAPACK dpotrf failed (info={info})")
        if 0 < info < m:
            return None
        Ls = U.T
        dg = np.diagonal(Ls)
        if info == m:  # only the residual pivot failed: an exact fit
            r2 = 0.0
            dg = dg[: m - 1]
        else:
            r2 = float(dg[-1] ** 2)
        if mz and not np.all(dg[:mz] > 0):
            return None
        ldL2 = ld00 + 2.0 * float(np.sum(np.log(dg[:mz])))
        ldRX2 = 2.0 * float(np.sum(np.log(dg[mz: mz + self.p])))
        if keep:
            Ls = np.tril(Ls)
        return Factorization(theta, T, L00, Ls, ldL2, ldRX2, r2, core=self)

    def _factor_sparse(self, theta, T, L00, W, V, ld00, Hxy=None) -> Factorization | None:
        from scipy.sparse.linalg import splu

        Lam = self._lambda_r(theta)
        M = self.Ar0 @ self._block_diag(W) @ self._Ar0T
        Szz = (Lam.T @ (self._Arr - M) @ Lam + self._eye).tocsc()
        Szx = Lam.T @ (self._ArX - self.Ar0 @ V)
        Sxx = self._AXX - (self._C0f.T @ V if Hxy is None else _hth(Hxy))
        try:
            lu = splu(Szz, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
        except MemoryError:
            raise FitError(f"not enough memory for the sparse factor of the random-effects block "
                           f"({self.mz} columns after the first term); simplify the random effects") from None
        except RuntimeError:
            return None
        dU = lu.U.diagonal()
        if not np.all(dU > 0):
            return None
        Y = lu.solve(Szx)
        Sx = Sxx - Szx.T @ Y
        Sx = (Sx + Sx.T) / 2
        U, info = lapack.dpotrf(Sx, lower=1, clean=1)
        p1 = self.p + 1
        if 0 < info < p1:
            return None
        dg = np.diagonal(U)
        r2 = 0.0 if info == p1 else float(dg[-1] ** 2)
        ldL2 = ld00 + float(np.sum(np.log(dU)))
        ldRX2 = 2.0 * float(np.sum(np.log(dg[: self.p])))
        return Factorization(theta, T, L00, np.tril(U), ldL2, ldRX2, r2, core=self, mode="sparse",
                             lu=lu, Y=Y)

    # ------------------------------------------------------------------ objective
    def objective(self, theta, reml: bool) -> float:
        """REML criterion or ML deviance (-2 log-likelihood) profiled over beta and sigma."""
        self.nevals += 1
        f = self._factor(np.asarray(theta, dtype=float), keep=False)
        if f is None:
            return math.inf
        return self.objective_from(f, reml)

    def objective_from(self, f: Factorization, reml: bool) -> float:
        if f.r2 <= 0:
            return math.inf
        if reml:
            nmp = self.n - self.p
            return f.ldL2 + f.ldRX2 + nmp * (1.0 + _LOG2PI + math.log(f.r2 / nmp)) - self.ldW
        return f.ldL2 + self.n * (1.0 + _LOG2PI + math.log(f.r2 / self.n)) - self.ldW

    def pieces(self, theta, with_rx: bool = False):
        """(log|L_Z|^2, log|R_X|^2, r^2[, (R_X'R_X)^-1]) at theta; None outside the domain."""
        f = self._factor(np.asarray(theta, dtype=float), keep=False)
        if f is None:
            return None
        if with_rx:
            return f.ldL2, f.ldRX2, f.r2, self.rx_inverse(f)
        return f.ldL2, f.ldRX2, f.r2, None

    def deviance_vp(self, theta, sigma: float, reml: bool) -> float:
        """Deviance at (theta, sigma) with beta at its conditional estimate (lmerTest's devfun_vp)."""
        pc = self.pieces(theta)
        if pc is None:
            return math.inf
        return self.deviance_vp_from(pc, sigma, reml)

    def deviance_vp_from(self, pc, sigma: float, reml: bool) -> float:
        ldL2, ldRX2, r2 = pc[:3]
        s2 = sigma * sigma
        if reml:
            return ldL2 + ldRX2 + (self.n - self.p) * (_LOG2PI + math.log(s2)) + r2 / s2 - self.ldW
        return ldL2 + self.n * (_LOG2PI + math.log(s2)) + r2 / s2 - self.ldW

    # ------------------------------------------------------------------ solutions
    def _first_solve(self, f: Factorization, rhs: np.ndarray) -> np.ndarray:
        """D^-1 T0' rhs per level for rhs (l0, p0)."""
        Li = f.L00inv
        x = np.einsum("ab,la->lb", f.T[0], rhs) if self.p0 > 1 else f.T[0][0, 0] * rhs
        if self.p0 == 1:
            return x * (Li[:, :, 0] ** 2)
        y = np.einsum("lab,lb->la", Li, x)
        return np.einsum("lba,lb->la", Li, y)

    def solve(self, f: Factorization) -> tuple[np.ndarray, list[np.ndarray]]:
        """beta and the spherical random effects u (one (nlev, p) array per term) at f."""
        Ls = f.Ls
        k = Ls.shape[0] - 1
        w = Ls[k, :k]
        # k = 0 (no fixed effects, one term: a profile's refit of y ~ 1 + (1|g)): nothing to solve, and
        # scipy < 1.11's dtrtrs refuses the empty system
        x = (sla.solve_triangular(Ls[:k, :k], w, lower=True, trans="T", check_finite=False) if k
             else np.zeros(0))
        if f.mode == "dense":
            beta = x[self.mz:]
            u_rest = x[: self.mz]
        else:
            beta = x
            u_rest = f.Y[:, -1] - f.Y[:, :-1] @ beta
        # first term: u0_k = D_k^-1 T0' (C0y_k - C0X_k beta - (A_0r Lambda_r u_rest)_k)
        r = self.C0[:, :, -1] - self.C0[:, :, :-1] @ beta
        if self.mz:
            r = r - (self._Ar0T @ (self._lambda_r(f.theta) @ u_rest)).reshape(self.l0, self.p0)
        u0 = self._first_solve(f, r)
        us = [u0]
        off = 0
        for t in self.terms[1:]:
            us.append(u_rest[off: off + t.q].reshape(t.nlev, t.p))
            off += t.q
        return beta + self._beta_shift, us

    def rx_inverse(self, f: Factorization) -> np.ndarray:
        """(R_X' R_X)^{-1}: vcov(beta) / sigma^2."""
        if self.p == 0:
            return np.zeros((0, 0))
        o = f.xoff
        LXX = np.array(f.Ls[o: o + self.p, o: o + self.p], order="F")
        Li, info = lapack.dtrtri(LXX, lower=1, overwrite_c=1)
        if info:
            raise FitError(f"R_X is singular (LAPACK dtrtri info={info})")
        Li = np.tril(Li)
        return Li.T @ Li

    def cond_var_u(self, f: Factorization) -> list[np.ndarray]:
        """Diagonal blocks of (Lambda'Z'WZ Lambda + I)^{-1}, one (nlev, p, p) array per term."""
        L00inv = f.L00inv
        M00 = np.transpose(L00inv, (0, 2, 1)) @ L00inv          # D^-1 per level
        if not self.mz:
            return [M00]
        mz, l0, p0 = self.mz, self.l0, self.p0
        # K = Lambda_r' A_r0 blockdiag(T0 D_k^-1): the coupling of the first term to the others
        TD = f.T[0][None, :, :] @ M00
        K = (self._lambda_r(f.theta).T @ self.Ar0 @ self._block_diag(TD)).tocsc()
        if f.mode == "dense":
            LZZ = f.Ls[:mz, :mz]
            Li = sla.solve_triangular(LZZ, np.eye(mz), lower=True, check_finite=False)
            apply = (lambda B: Li @ B)                 # (Li B)'(Li B) = B' S_rr^-1 B
        else:
            Li = None
            apply = None
        chunk = max(1, int(2e7 // max(mz, 1)) // p0)   # levels per chunk (~160 MB of doubles)
        add = np.zeros_like(M00)
        for s in range(0, l0, chunk):
            e = min(l0, s + chunk)
            B = K[:, s * p0: e * p0].toarray()
            if f.mode == "dense":
                WB = apply(B).reshape(mz, e - s, p0)
                add[s:e] = np.einsum("mla,mlb->lab", WB, WB)
            else:
                SB = f.lu.solve(B).reshape(mz, e - s, p0)
                add[s:e] = np.einsum("mla,mlb->lab", B.reshape(mz, e - s, p0), SB)
        out = [M00 + add]
        off = 0
        for t in self.terms[1:]:
            idx = np.arange(t.q)
            if f.mode == "dense":
                C = Li[off:, off: off + t.q].reshape(mz - off, t.nlev, t.p)
                out.append(np.einsum("mla,mlb->lab", C, C))
            else:
                blocks = np.empty((t.nlev, t.p, t.p))
                step = max(1, int(2e7 // mz) // t.p)
                for s in range(0, t.nlev, step):
                    e = min(t.nlev, s + step)
                    E = np.zeros((mz, (e - s) * t.p))
                    E[off + s * t.p + np.arange((e - s) * t.p), np.arange((e - s) * t.p)] = 1.0
                    X = f.lu.solve(E)[off + s * t.p: off + e * t.p]
                    blocks[s:e] = X.reshape(e - s, t.p, e - s, t.p)[np.arange(e - s), :, np.arange(e - s), :]
                out.append(blocks)
            del idx
            off += t.q
        return out
