r"""Penalized iteratively reweighted least squares (PIRLS) and the GLMM deviance functions.

For a GLMM with linear predictor ``eta = offset + X beta + Z Lambda(theta) u`` and spherical random
effects ``u ~ N(0, I)``, PIRLS finds the conditional mode of ``u`` (and, for lme4's nAGQ = 0 stage,
of ``beta`` too) by minimizing the penalized deviance

    pdev(u) = sum_i devres_i(y_i, mu_i) + ||u||^2

with Fisher scoring: each step is one weighted penalized least-squares problem with working
weights ``W = w mu_eta^2 / V(mu)`` and working response ``z = eta - offset + (y - mu) / mu_eta``,
the problem :class:`~mixedmodels.core.lmm.LmmCore` solves. As lme4's ``pwrssUpdate``: a step that
increases pdev is halved (up to 20 times); PIRLS stops when pdev changes by less than ``tol``
(1e-7) relatively, and the log-determinant used is that of the last step's system (weights at the
mean before that step). These conventions move the deviance functions by up to ~1e-3 and their
curvature by ~1%: lme4's standard errors come from that curvature, so they are kept.

lme4's objectives (``glmer``'s ``devfun``), all on the -2 log-likelihood scale:

* nAGQ = 0 and stage 1 of nAGQ >= 1: ``theta`` alone, PIRLS over ``(beta, u)``;
  ``ldL2 + ||u||^2 + aic(mu)``;
* Laplace (nAGQ = 1), stage 2: ``(theta, beta)``, PIRLS over ``u``; the same formula;
* adaptive Gauss-Hermite quadrature (nAGQ > 1, one scalar random-effects term): PIRLS over ``u``,
  then per level ``j`` a quadrature over ``u_j`` around its mode with the conditional SD
  ``1 / L_jj``; the value is ``sum_j devc0_j + ldL2 - 2 sum_j log(mult_j)`` where ``devc0_j`` is
  ``u_j^2`` plus level ``j``'s deviance residuals (no aic constant, as lme4).

``aic(mu)`` is the family's aic (``-2 log-likelihood`` of the conditional distribution, with R's
constants), which is why lme4's ``logLik`` differs from ``deviance()`` (the sum of deviance
residuals) for a GLMM.

Solving one PIRLS step. The design is fixed; only weights and working response change, so the
solvers here build their structure once and refill the numbers at each step:

* :class:`BlockedPLS` (first term scalar: the usual random intercepts): LmmCore's elimination of the
  first term level by level, the rest one dense Cholesky; every weighted crossproduct a
  scatter-add over precomputed positions;
* :class:`DensePLS` (small models with a vector-valued first term): the whole system as one dense
  Cholesky;
* :class:`ReweightCore` (large models): LmmCore itself with its crossproducts refilled in place;
* a fresh LmmCore per step, the fallback.

Each fast path is checked against a fresh LmmCore on random weights before it is used (and the
test suite checks them on many designs). They belong in core.py (``LmmCore.reweight(w, y)`` and
small-problem paths); they live here until then.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import special
from scipy.linalg import lapack

from ..core.lmm import LmmCore, ThetaLayout
from ..errors import ArgumentError, FitError

__all__ = ["GlmmModel", "PirlsResult", "gh_rule", "PirlsError", "ReweightCore", "DensePLS", "BlockedPLS",
           "reweight_core_ok", "dense_pls_ok", "blocked_pls_ok", "DENSE_MAX"]

#: the largest q + p + 1 for which PIRLS uses one dense Cholesky (DensePLS) instead of LmmCore
DENSE_MAX = 600

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_EPS = np.finfo(float).eps


class PirlsError(FitError):
    """PIRLS did not converge (or produced non-finite values) at the given parameters."""


def gh_rule(k: int) -> np.ndarray:
    """Gauss-Hermite rule for the standard normal density (lme4's ``GHrule``): rows (z, w, log dnorm(z)).

    The weights sum to 1; a node at zero is exactly 0.
    """
    if k < 1:
        return np.zeros((0, 3))
    z, w = np.polynomial.hermite_e.hermegauss(int(k))
    w = w / _SQRT_2PI
    z = np.where(np.abs(z) < 1e-13, 0.0, z)
    order = np.argsort(z)
    z, w = z[order], w[order]
    ldn = -0.5 * z * z - math.log(_SQRT_2PI)
    return np.column_stack([z, w, ldn])


class ReweightCore(LmmCore):
    """An LmmCore whose weights and response change in place (one PIRLS step each).

    PIRLS solves one weighted penalized least-squares problem per step, always with the same
    design: only the weights and the working response change. Building a new LmmCore for each step
    repeats the work that depends on the design alone (sparse patterns, level maps); this subclass
    builds it once, and :meth:`reweight` recomputes just the crossproduct values: for each block a
    scatter-add (``np.bincount``) of ``w_i * a_i * b_i`` into the block's fixed positions.

    It writes the attributes that ``LmmCore.__init__`` derives from the weighted rows (``A00``,
    ``C0``, ``Ar0``, ``R`` ...) and turns off the pair map ``_P`` (whose coefficients depend on the
    weights; the core then forms ``A_r0 W A_0r`` by a sparse product). :func:`reweight_core_ok`
    checks it against a freshly built LmmCore; :class:`GlmmModel` falls back to fresh cores when
    the check fails (e.g. after a change of LmmCore's internals). This belongs in core.py as
    ``LmmCore.reweight(w, y)``.
    """

    def __init__(self, terms, X, method: str = "auto"):
        X = np.asarray(X, dtype=float)
        n = X.shape[0]
        super().__init__(terms, X, np.zeros(n), method=method)
        self._P = None
        self._pflat = None
        self._fix_product_mode()
        self._Xd = X
        t0 = terms[0]
        self._codes0 = np.asarray(t0.codes, dtype=np.int64)
        self._z0 = np.asarray(t0.z, dtype=float)
        # first-term pairs (a, b), a <= b
        self._pairs00 = [(a, b) for a in range(self.p0) for b in range(a, self.p0)]
        # Z0 and the other terms' Z, unweighted, as CSR row lists: (row, col, value) per nonzero
        def rows_of(t, coloff):
            nn, pk = t.z.shape
            r = np.repeat(np.arange(nn), pk)
            c = (np.asarray(t.codes, dtype=np.int64)[:, None] * pk + np.arange(pk)[None, :]).ravel() + coloff
            v = np.asarray(t.z, dtype=float).ravel()
            return r, c, v
        r0, c0, v0 = rows_of(t0, 0)
        self._Z0T = sp.csr_matrix((v0, (c0, r0)), shape=(t0.q, n))      # Z0' (q0 x n)
        rest = terms[1:]
        if rest:
            rr, cr, vr = [], [], []
            off = 0
            for t in rest:
                a, b, c = rows_of(t, off)
                rr.append(a); cr.append(b); vr.append(c)
                off += t.q
            rr, cr, vr = np.concatenate(rr), np.concatenate(cr), np.concatenate(vr)
            self._ZrT = sp.csr_matrix((vr, (cr, rr)), shape=(self.mz, n))   # Zr' (mz x n)
            # Ar0 = Zr' W Z0: every (nonzero of Zr row i) x (nonzero of Z0 row i)
            i_r = np.argsort(rr, kind="stable")
            i_0 = np.argsort(r0, kind="stable")
            nr = np.bincount(rr, minlength=n)
            n0 = np.bincount(r0, minlength=n)
            pr = np.concatenate([[0], np.cumsum(nr)])
            p0_ = np.concatenate([[0], np.cumsum(n0)])
            rowsA, colsA, valA, obsA = [], [], [], []
            for i_ in range(int(nr.max()) if n else 0):
                for j_ in range(int(n0.max())):
                    ok = (nr > i_) & (n0 > j_)
                    obs = np.flatnonzero(ok)
                    kr = i_r[pr[obs] + i_]
                    k0 = i_0[p0_[obs] + j_]
                    rowsA.append(cr[kr]); colsA.append(c0[k0]); valA.append(vr[kr] * v0[k0]); obsA.append(obs)
            rowsA, colsA = np.concatenate(rowsA), np.concatenate(colsA)
            self._ar0_val = np.concatenate(valA)
            self._ar0_obs = np.concatenate(obsA)
            # the structural pattern (sparse products drop entries that happen to be zero)
            Ar0 = self._pattern(rowsA, colsA, (self.mz, t0.q))
            self.Ar0 = Ar0
            pos = self._csr_positions(Ar0, rowsA, colsA)
            self._ar0_pos = pos
            # the transpose: data positions of Ar0' in terms of Ar0's
            tmp = sp.csr_matrix((np.arange(Ar0.nnz, dtype=float) + 1.0, Ar0.indices, Ar0.indptr), shape=Ar0.shape)
            tT = tmp.T.tocsr()
            tT.sort_indices()
            self._Ar0T = tT.copy()
            self._t_perm = (tT.data - 1.0).astype(np.int64)
            # Zr' W Zr: every pair of nonzeros of Zr in the same row
            rowsB, colsB, valB, obsB = [], [], [], []
            kmax = int(nr.max()) if n else 0
            for i_ in range(kmax):
                for j_ in range(kmax):
                    ok = (nr > i_) & (nr > j_)
                    obs = np.flatnonzero(ok)
                    ka = i_r[pr[obs] + i_]
                    kb = i_r[pr[obs] + j_]
                    rowsB.append(cr[ka]); colsB.append(cr[kb]); valB.append(vr[ka] * vr[kb]); obsB.append(obs)
            rowsB, colsB = np.concatenate(rowsB), np.concatenate(colsB)
            self._arr_val = np.concatenate(valB)
            self._arr_obs = np.concatenate(obsB)
            if self.method == "dense":
                self._arr_flat = rowsB * self._m + colsB
            else:
                A = self._pattern(rowsB, colsB, (self.mz, self.mz))
                self._arr_pos = self._csr_positions(A, rowsB, colsB)
                self._Arr_csr = A
                self._Arr = A.tocsc()
                tmp = sp.csr_matrix((np.arange(A.nnz, dtype=float) + 1.0, A.indices, A.indptr), shape=A.shape)
                self._arr_csc_perm = (tmp.tocsc().data - 1.0).astype(np.int64)
        self._lvlpat = None

    def _lambda_r(self, theta):
        """Lambda of the other terms: one CSR structure, its values refreshed from theta."""
        lam = getattr(self, "_lam_csr", None)
        if lam is None:
            rr, cc, ii = self._lam_pattern
            lam = sp.csr_matrix((np.arange(len(ii), dtype=float) + 1.0, (rr, cc)), shape=(self.mz, self.mz))
            lam.sum_duplicates()
            lam.sort_indices()
            self._lam_src = ii[(lam.data - 1.0).astype(np.int64)]
            self._lam_csr = lam
        out = self._lam_csr.copy()
        out.data = np.asarray(theta, dtype=float)[self._lam_src]
        return out

    def _fix_product_mode(self) -> None:
        """How LmmCore forms A_r0 W A_0r: its pair map (coefficients built from one set of weights)
        never; a dense A_r0 only where the dense product is cheap; else the sparse product. One
        factorization per set of weights does not repay LmmCore's lazier choices."""
        if not hasattr(self, "_mmode") or not self.mz:
            return
        dense_ok = self.mz * self.mz * self.l0 * self.p0 <= 2e6
        if dense_ok:
            if getattr(self, "_Ar0d", None) is None:
                self._Ar0d = self.Ar0.toarray()
            self._mmode = "dense"
        else:
            self._Ar0d = None
            self._mmode = "spgemm"

    @staticmethod
    def _pattern(rows, cols, shape) -> sp.csr_matrix:
        """A CSR matrix with ones at the (row, col) pairs given (duplicates merged), sorted indices."""
        key = np.unique(rows.astype(np.int64) * shape[1] + cols)
        r, c = key // shape[1], key % shape[1]
        A = sp.csr_matrix((np.ones(len(key)), (r, c)), shape=shape)
        A.sort_indices()
        return A

    @staticmethod
    def _csr_positions(A: sp.csr_matrix, rows, cols) -> np.ndarray:
        """Index into A.data of each (row, col) (all present in A's pattern, indices sorted)."""
        pos = np.empty(len(rows), dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        rs = rows[order]
        cs = cols[order]
        starts = A.indptr[rs]
        # search each column within its row's slice
        key_rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        flat = key_rows.astype(np.int64) * A.shape[1] + A.indices
        want = rs.astype(np.int64) * A.shape[1] + cs
        hit = np.searchsorted(flat, want)
        if np.any(hit >= len(flat)) or np.any(flat[np.minimum(hit, len(flat) - 1)] != want):
            raise RuntimeError("ReweightCore: pattern mismatch")
        del starts
        pos[order] = hit
        return pos

    def reweight(self, w: np.ndarray, y: np.ndarray) -> "ReweightCore":
        """Recompute the crossproducts for prior weights w and response y (in place); returns self."""
        w = np.asarray(w, dtype=float)
        p, p1 = self.p, self.p + 1
        Xy = np.empty((self.n, p1))
        Xy[:, :p] = self._Xd
        Xy[:, p] = y
        WXy = Xy * w[:, None]
        l0, p0 = self.l0, self.p0
        for a, b in self._pairs00:
            s_ = np.bincount(self._codes0, weights=w * self._z0[:, a] * self._z0[:, b], minlength=l0)
            self.A00[:, a, b] = s_
            self.A00[:, b, a] = s_
        self._a00 = np.ascontiguousarray(self.A00[:, 0, 0])
        self._A00f = self.A00.reshape(l0, p0 * p0)
        self.C0 = np.asarray(self._Z0T @ WXy).reshape(l0, p0, p1)
        self._C0f = self.C0.reshape(l0 * p0, p1)
        AXX = Xy.T @ WXy
        mz = self.mz
        if mz:
            data = np.bincount(self._ar0_pos, weights=self._ar0_val * w[self._ar0_obs], minlength=self.Ar0.nnz)
            self.Ar0.data = data
            self._Ar0T.data = data[self._t_perm]
            self._fix_product_mode()
            if getattr(self, "_Ar0d", None) is not None:   # LmmCore's dense copy of A_r0
                self._Ar0d = self.Ar0.toarray()
            ArX = np.asarray(self._ZrT @ WXy)
            arr = self._arr_val * w[self._arr_obs]
            if self.method == "dense":
                m = self._m
                R = np.bincount(self._arr_flat, weights=arr, minlength=m * m).reshape(m, m)
                R[:mz, mz:] = ArX
                R[mz:, :mz] = ArX.T
                R[mz:, mz:] = AXX
                self.R = R
            else:
                self._Arr.data = np.bincount(self._arr_pos, weights=arr, minlength=self._Arr.nnz)[self._arr_csc_perm]
                self._ArX = ArX
                self._AXX = AXX
            self._lvlpat = None
        else:
            self.R = AXX.copy()
        self._buf = None
        self._P = None                 # never a pair map built from other weights
        if hasattr(self, "_pairs_state"):
            self._pairs_state = "off"
        return self


def _solve_upper(L: np.ndarray, k: int) -> np.ndarray:
    """x with L[:k, :k]' x = L[k, :k] (L lower triangular), by LAPACK's dtrtrs on U = L'."""
    if k == 0:
        return np.zeros(0)
    U = L.T
    x, info = lapack.dtrtrs(U[:k, :k], U[:k, k], lower=0, trans=0)
    if info != 0:
        return sla.solve_triangular(L[:k, :k], L[k, :k], lower=True, trans="T", check_finite=False)
    return x


def scale_lambda(S: np.ndarray, theta: np.ndarray, nz: int, m: int, scalar: bool, lam_theta, layout,
                 blocks) -> None:
    """In place: the first ``nz`` (random-effects) rows and columns of the m x m matrix S times Lambda,
    S <- Lambda' S Lambda on those blocks. ``blocks`` lists (offset, nlev, p, term index)."""
    if scalar:
        lam = theta[lam_theta]
        S[:nz, :] *= lam[:, None]
        S[:, :nz] *= lam[None, :]
        return
    T = layout.templates(theta)
    for off, nlev, pk, k in blocks:
        Tk = T[k]
        b = off + nlev * pk
        if pk == 1:
            S[off:b, :] *= Tk[0, 0]
            S[:, off:b] *= Tk[0, 0]
            continue
        blk = S[off:b, :].reshape(nlev, pk, m)
        S[off:b, :] = np.matmul(Tk.T, blk).reshape(nlev * pk, m)
        blk = S[:, off:b].reshape(m, nlev, pk)
        S[:, off:b] = np.matmul(blk, Tk).reshape(m, nlev * pk)


@dataclass
class DenseFactor:
    """The Cholesky factor of the whole penalized system (small models): what PIRLS needs."""

    theta: np.ndarray
    L: np.ndarray          # lower factor, (q+p+1)-square (only the lower triangle is meaningful)
    ldL2: float
    ldRX2: float
    r2: float
    q: int
    p: int

    d: np.ndarray | None = None   # BlockedPLS: the first term's diagonal d_l

    @property
    def L00(self) -> np.ndarray:
        """The first term's diagonal of L as (l, 1, 1), as LmmCore's L00 for a scalar first term (the
        only case adaptive quadrature uses): sqrt(d) for BlockedPLS, the factor's diagonal for one
        scalar term in DensePLS."""
        if self.d is not None:
            return np.sqrt(self.d).reshape(-1, 1, 1)
        return np.diagonal(self.L)[: self.q].reshape(-1, 1, 1)


class DensePLS:
    """The penalized weighted least-squares system of a small GLMM as one dense matrix.

    For the few hundred random effects of a typical GLMM (subjects and items, herds) the whole
    ``(q + p + 1)``-square system ``[Lambda'Z'WZ Lambda + I, Lambda'Z'WX, Lambda'Z'Wy; ...]`` fits a
    dense LAPACK Cholesky that costs microseconds, while building the blocked sparse factors of
    :class:`~mixedmodels.core.lmm.LmmCore` costs much more in overhead. Same mathematics, same
    outputs (``ldL2``, ``ldRX2``, ``r2``, the solution): :func:`dense_pls_ok` checks it against
    LmmCore. This belongs in core.py as a small-problem path.
    """

    def __init__(self, terms, X):
        X = np.asarray(X, dtype=float)
        self.terms = terms
        self.n, self.p = X.shape
        self._X = X
        self.layout = ThetaLayout([t.p for t in terms])
        self.q = q = int(sum(t.q for t in terms))
        self.m = q + self.p + 1
        rows, cols, vals = [], [], []
        self._blocks = []        # (offset, nlev, p, term index)
        off = 0
        for k, t in enumerate(terms):
            nn, pk = t.z.shape
            rows.append(np.repeat(np.arange(nn), pk))
            cols.append((np.asarray(t.codes, dtype=np.int64)[:, None] * pk + np.arange(pk)[None, :]).ravel() + off)
            vals.append(np.asarray(t.z, dtype=float).ravel())
            self._blocks.append((off, t.nlev, pk, k))
            off += t.q
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        self._ZT = sp.csr_matrix((v, (c, r)), shape=(q, self.n))
        # all pairs of nonzeros of Z within a row: flat positions in the (m x m) matrix
        order = np.argsort(r, kind="stable")
        r, c, v = r[order], c[order], v[order]
        cnt = np.bincount(r, minlength=self.n)
        start = np.concatenate([[0], np.cumsum(cnt)])
        pa, pb = [], []
        for i_ in range(int(cnt.max()) if self.n else 0):
            for j_ in range(int(cnt.max())):
                ok = np.flatnonzero((cnt > i_) & (cnt > j_))
                pa.append(start[ok] + i_)
                pb.append(start[ok] + j_)
        pa, pb = np.concatenate(pa), np.concatenate(pb)
        self._pair_flat = c[pa] * self.m + c[pb]
        self._pair_val = v[pa] * v[pb]
        self._pair_obs = r[pa]
        self._scalar = all(t.p == 1 for t in terms)
        if self._scalar:
            self._lam_theta = np.concatenate([np.full(t.q, self.layout.offsets[k]) for k, t in enumerate(terms)])
        self._splits = [(off, off + nlev * pk, nlev, pk) for off, nlev, pk, _ in self._blocks]
        # few rows (cbpp: 56 x 20): the whole design [Z X y] dense, every crossproduct one BLAS call
        self._D = None
        if self.n * self.m * self.m <= 200_000:
            D = np.zeros((self.n, self.m))
            np.add.at(D, (r, c), v)
            D[:, q: q + self.p] = X
            self._D = D
        self.A = None

    def reweight(self, w: np.ndarray, z: np.ndarray) -> "DensePLS":
        w = np.asarray(w, dtype=float)
        q, p, m = self.q, self.p, self.m
        if self._D is not None:
            D = self._D
            D[:, m - 1] = z
            B = D * np.sqrt(w)[:, None]
            self.A = B.T @ B
            self._w = w
            return self
        Xy = np.empty((self.n, p + 1))
        Xy[:, :p] = self._X
        Xy[:, p] = z
        WXy = Xy * w[:, None]
        A = np.bincount(self._pair_flat, weights=self._pair_val * w[self._pair_obs], minlength=m * m).reshape(m, m)
        ZX = np.asarray(self._ZT @ WXy)
        A[:q, q:] = ZX
        A[q:, :q] = ZX.T
        A[q:, q:] = Xy.T @ WXy
        self.A = A
        self._w = w
        return self

    def set_response(self, z: np.ndarray) -> "DensePLS":
        """The system of the last :meth:`reweight`'s weights with the response z instead."""
        q, p = self.q, self.p
        wz = self._w * z
        A = self.A
        k = q + p
        if self._D is not None:
            col = self._D[:, :k].T @ wz
            A[:k, k] = col
            A[k, :k] = col
            A[k, k] = z @ wz
            return self
        col = self._ZT @ wz
        A[:q, k] = col
        A[k, :q] = col
        xz = self._X.T @ wz
        A[q: k, k] = xz
        A[k, q: k] = xz
        A[k, k] = z @ wz
        return self

    def _scale(self, S: np.ndarray, theta: np.ndarray) -> None:
        scale_lambda(S, theta, self.q, self.m, self._scalar, getattr(self, "_lam_theta", None),
                     self.layout, self._blocks)

    def factor(self, theta) -> DenseFactor | None:
        theta = np.asarray(theta, dtype=float)
        q, p, m = self.q, self.p, self.m
        S = self.A.copy()
        self._scale(S, theta)
        S.reshape(-1)[: q * (m + 1): m + 1] += 1.0
        U, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
        if info < 0:
            raise FitError(f"LAPACK dpotrf failed (info={info})")
        if 0 < info < m:
            return None
        L = U.T
        dg = np.diagonal(L)
        r2 = 0.0 if info == m else float(dg[-1] ** 2)
        ldL2 = 2.0 * float(np.log(dg[:q]).sum())
        ldRX2 = 2.0 * float(np.log(dg[q: q + p]).sum())
        return DenseFactor(theta, L, ldL2, ldRX2, r2, q, p)

    def solve(self, f: DenseFactor):
        L = f.L
        k = self.m - 1
        x = _solve_upper(L, k)
        beta = x[self.q:]
        return beta, [x[a:b].reshape(nlev, pk) for a, b, nlev, pk in self._splits]

    def rx_inverse(self, f: DenseFactor) -> np.ndarray:
        q, p = self.q, self.p
        LXX = f.L[q: q + p, q: q + p]
        Li = sla.solve_triangular(LXX, np.eye(p), lower=True, check_finite=False)
        return Li.T @ Li


class BlockedPLS:
    """The penalized weighted least-squares system of a GLMM whose first (largest) term is scalar:
    that term eliminated level by level, a dense Cholesky of what remains.

    With ``d_l = theta_0^2 (Z_0'WZ_0)_ll + 1`` and ``W0 = theta_0^2 / d`` the Schur complement of
    the first term is, for the other terms ``r`` and ``[X y]``,

        S_rr = Lambda_r'(A_rr - A_r0 W0 A_0r) Lambda_r + I,   S_rx = Lambda_r'(A_rx - A_r0 W0 C0),
        S_xx = A_xx - C0' W0 C0,                              C0 = Z_0'W[X y],

    LmmCore's algorithm. Here every weight-dependent piece is a scatter-add over a structure fixed
    at construction: ``A_r0`` by (level, column) keys, ``A_r0 W0 A_0r`` by the pairs of keys that
    share a level. So one PIRLS step costs a few ``np.bincount`` calls and one LAPACK Cholesky of
    ``mz + p + 1`` rows, whatever the number of levels of the first term (grouseticks: 403
    one-observation levels). Where the first term's levels meet most columns of the others
    (crossed subjects and items) the pairs of keys number ``l0 mz^2``: then ``A_0r`` is kept as a
    dense ``(l0, mz)`` matrix and the whole Schur complement is one BLAS product ``G'G`` with
    ``G = W0^(1/2) [A_0r C0]`` (``dense_g``; chosen by an operation count unless given). The
    weighted sums of :meth:`reweight` are two sparse products over maps built once, and
    :meth:`set_response` refills only the response's column for the same weights.
    :func:`blocked_pls_ok` checks it against LmmCore. Belongs in core.py.
    """

    def __init__(self, terms, X, dense_g: bool | None = None):
        X = np.asarray(X, dtype=float)
        t0 = terms[0]
        if t0.p != 1:
            raise ValueError("BlockedPLS needs a scalar first term")
        self.terms = terms
        self.n, self.p = X.shape
        self._X = X
        self.layout = ThetaLayout([t.p for t in terms])
        self.l0 = t0.nlev
        self.codes0 = np.asarray(t0.codes, dtype=np.int64)
        self.z0 = np.asarray(t0.z[:, 0], dtype=float)
        rest = terms[1:]
        self.mz = mz = int(sum(t.q for t in rest))
        self.m = mz + self.p + 1
        self._blocks = []
        if rest:
            rows, cols, vals = [], [], []
            off = 0
            for k, t in enumerate(rest, start=1):
                nn, pk = t.z.shape
                rows.append(np.repeat(np.arange(nn), pk))
                cols.append((np.asarray(t.codes, dtype=np.int64)[:, None] * pk + np.arange(pk)[None, :]).ravel() + off)
                vals.append(np.asarray(t.z, dtype=float).ravel())
                self._blocks.append((off, t.nlev, pk, k))
                off += t.q
            r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
            self._ZrT = sp.csr_matrix((v, (c, r)), shape=(mz, self.n))
            # A_r0 by (level of the first term, column of the others) keys
            key = self.codes0[r] * mz + c
            ukey, self._key_of_nz = np.unique(key, return_inverse=True)
            self._nz_obs, self._nz_val = r, v * self.z0[r]
            self._lev_key = ukey // mz
            self._col_key = ukey % mz
            K = len(ukey)
            self._nkey = K
            cnt = np.bincount(self._lev_key, minlength=self.l0)
            # A_r0 W0 A_0r: a dense (l0 x m) matrix G = W0^(1/2) [A_0r C0] and one symmetric rank-l0
            # update S -= G'G (BLAS), when that costs less than the scatter-add over the pairs of keys
            # within a level (crossed designs: every level of the first term meets most of the others)
            npairs = int(np.sum(cnt.astype(np.int64) ** 2))
            if dense_g is None:
                dense_g = (self.l0 * self.m <= 4_000_000
                           and self.l0 * self.m * (self.m + 8) <= 40 * max(npairs, 1))
            self._dense_g = bool(dense_g)
            if self._dense_g:
                self._g_flat = self._lev_key * mz + self._col_key
        else:
            self._dense_g = False
        self._A = None
        if rest:
            if not self._dense_g:
                self._init_pairs(cnt)
            self._init_rr(r, c, v)
            self._scalar = all(t.p == 1 for t in rest)
            if self._scalar:
                self._lam_theta = np.concatenate([np.full(t.q, self.layout.offsets[k])
                                                  for k, t in enumerate(rest, start=1)])
        self._init_maps()

    def _init_maps(self):
        """Every weighted sum of :meth:`reweight` as two sparse products: ``M1 @ w`` gives
        (Z_0'WZ_0 diagonal, A_r0 by key, Z_r'WZ_r at its positions), ``M2 @ W[X y]`` gives
        (C0, Z_r'W[X y]) - one pass each over the rows instead of one scatter-add per block."""
        n, l0, mz = self.n, self.l0, self.mz
        obs = np.arange(n)
        rows, cols, vals = [self.codes0], [obs], [self.z0 * self.z0]
        off = l0
        if mz:
            rows.append(off + self._key_of_nz); cols.append(self._nz_obs); vals.append(self._nz_val)
            off += self._nkey
            ur, inv = np.unique(self._rr_flat, return_inverse=True)
            rows.append(off + inv); cols.append(self._rr_obs); vals.append(self._rr_val)
            off += len(ur)
            self._rr_pos = ur
        self._M1 = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(off, n))
        Z0T = sp.csr_matrix((self.z0, (self.codes0, obs)), shape=(l0, n))
        self._M2 = sp.vstack([Z0T, self._ZrT]).tocsr() if mz else Z0T

    def _init_pairs(self, cnt):
        """The scatter-add form of A_r0 W0 A_0r: the pairs of keys within one level (both orders,
        the diagonal once) and their positions in S."""
        mz, K = self.mz, self._nkey
        order = np.argsort(self._lev_key, kind="stable")
        start = np.concatenate([[0], np.cumsum(cnt)])
        ka, kb = [], []
        for i_ in range(int(cnt.max())):
            for j_ in range(int(cnt.max())):
                ok = np.flatnonzero((cnt > i_) & (cnt > j_))
                ka.append(order[start[ok] + i_])
                kb.append(order[start[ok] + j_])
        self._pa, self._pb = np.concatenate(ka), np.concatenate(kb)
        self._p_lev = self._lev_key[self._pa]
        self._p_pos, self._p_inv = np.unique(self._col_key[self._pa] * self.m + self._col_key[self._pb],
                                             return_inverse=True)
        self._sel = sp.csr_matrix((np.ones(K), (self._col_key, np.arange(K))), shape=(mz, K))
        self._selT = self._sel.T.tocsr()

    def _init_rr(self, r, c, v):
        """Z_r'WZ_r as a scatter-add: the pairs of nonzeros within a row."""
        order = np.argsort(r, kind="stable")
        rr, cc, vv = r[order], c[order], v[order]
        cntr = np.bincount(rr, minlength=self.n)
        st = np.concatenate([[0], np.cumsum(cntr)])
        pa, pb = [], []
        for i_ in range(int(cntr.max())):
            for j_ in range(int(cntr.max())):
                ok = np.flatnonzero((cntr > i_) & (cntr > j_))
                pa.append(st[ok] + i_)
                pb.append(st[ok] + j_)
        pa, pb = np.concatenate(pa), np.concatenate(pb)
        self._rr_flat = cc[pa] * self.m + cc[pb]
        self._rr_val = vv[pa] * vv[pb]
        self._rr_obs = rr[pa]

    def reweight(self, w: np.ndarray, z: np.ndarray) -> "BlockedPLS":
        w = np.asarray(w, dtype=float)
        p, m, mz = self.p, self.m, self.mz
        Xy = np.empty((self.n, p + 1))
        Xy[:, :p] = self._X
        Xy[:, p] = z
        WXy = Xy * w[:, None]
        l0 = self.l0
        v1 = self._M1 @ w
        v2 = self._M2 @ WXy
        self._a00 = v1[:l0]
        self._C0 = np.ascontiguousarray(v2[:l0])
        if mz:
            A = np.zeros(m * m)
            A[self._rr_pos] = v1[l0 + self._nkey:]
            A = A.reshape(m, m)
            ZX = v2[l0:]
            A[:mz, mz:] = ZX
            A[mz:, :mz] = ZX.T
            self._akey = v1[l0: l0 + self._nkey]
            if self._dense_g:   # A_0r as a dense (l0 x mz) matrix
                Ad = np.zeros(l0 * mz)
                Ad[self._g_flat] = self._akey
                self._Ad = Ad.reshape(l0, mz)
        else:
            A = np.empty((m, m))
        A[mz:, mz:] = Xy.T @ WXy
        self._A = A
        self._w = w
        return self

    def set_response(self, z: np.ndarray) -> "BlockedPLS":
        """The system of the last :meth:`reweight`'s weights with the response z instead."""
        p, mz = self.p, self.mz
        wz = self._w * z
        v2 = self._M2 @ wz
        self._C0[:, p] = v2[: self.l0]
        A = self._A
        k = mz + p
        if mz:
            col = v2[self.l0:]
            A[:mz, k] = col
            A[k, :mz] = col
        xz = self._X.T @ wz
        A[mz: k, k] = xz
        A[k, mz: k] = xz
        A[k, k] = z @ wz
        return self

    def _scale(self, S: np.ndarray, theta: np.ndarray) -> None:
        scale_lambda(S, theta, self.mz, self.m, self._scalar, getattr(self, "_lam_theta", None),
                     self.layout, self._blocks)

    def factor(self, theta):
        theta = np.asarray(theta, dtype=float)
        mz, m, p = self.mz, self.m, self.p
        t0 = theta[0]
        d = t0 * t0 * self._a00 + 1.0
        W0 = t0 * t0 / d
        C0 = self._C0
        if self._dense_g:
            # S = A - G'G with G = W0^(1/2) [A_0r  C0] (numpy's A'A is one BLAS syrk)
            G = np.empty((self.l0, m))
            G[:, :mz] = self._Ad
            G[:, mz:] = C0
            G *= np.sqrt(W0)[:, None]
            S = self._A - G.T @ G
        else:
            S = self._A.copy()
            if mz:
                ak = self._akey
                M = np.bincount(self._p_inv, weights=ak[self._pa] * ak[self._pb] * W0[self._p_lev],
                                minlength=len(self._p_pos))
                S.reshape(-1)[self._p_pos] -= M
                Y = (ak * W0[self._lev_key])[:, None] * C0[self._lev_key]
                MX = np.asarray(self._sel @ Y)
                S[:mz, mz:] -= MX
                S[mz:, :mz] -= MX.T
            S[mz:, mz:] -= (C0 * W0[:, None]).T @ C0
        if mz:
            self._scale(S, theta)
            S.reshape(-1)[: mz * (m + 1): m + 1] += 1.0
        U, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
        if info < 0:
            raise FitError(f"LAPACK dpotrf failed (info={info})")
        if 0 < info < m:
            return None
        L = U.T
        dg = np.diagonal(L)
        r2 = 0.0 if info == m else float(dg[-1] ** 2)
        ldL2 = float(np.log(d).sum()) + 2.0 * float(np.log(dg[:mz]).sum())
        ldRX2 = 2.0 * float(np.log(dg[mz: mz + p]).sum())
        f = DenseFactor(theta, L, ldL2, ldRX2, r2, mz, p)
        f.d = d
        return f

    def solve(self, f):
        L = f.L
        mz, p = self.mz, self.p
        k = self.m - 1
        x = _solve_upper(L, k)
        u_r, beta = x[:mz], x[mz:]
        t0 = f.theta[0]
        rhs = self._C0[:, p] - self._C0[:, :p] @ beta
        if mz:
            lam_u = self._lam_apply(f.theta, u_r)
            if self._dense_g:
                rhs = rhs - self._Ad @ lam_u
            else:
                rhs = rhs - np.bincount(self._lev_key, weights=self._akey * lam_u[self._col_key],
                                        minlength=self.l0)
        u0 = t0 * rhs / f.d
        us = [u0.reshape(-1, 1)]
        off = 0
        for t in self.terms[1:]:
            us.append(u_r[off: off + t.q].reshape(t.nlev, t.p))
            off += t.q
        return beta, us

    def _lam_apply(self, theta, u_r):
        """Lambda_r u_r."""
        if self._scalar:
            return theta[self._lam_theta] * u_r
        T = self.layout.templates(theta)
        out = np.empty_like(u_r)
        for off, nlev, pk, k in self._blocks:
            b = off + nlev * pk
            out[off:b] = (u_r[off:b].reshape(nlev, pk) @ T[k].T).ravel()
        return out

    def rx_inverse(self, f) -> np.ndarray:
        mz, p = self.mz, self.p
        LXX = f.L[mz: mz + p, mz: mz + p]
        Li = sla.solve_triangular(LXX, np.eye(p), lower=True, check_finite=False)
        return Li.T @ Li


def blocked_pls_ok(terms, X, rng=None) -> bool:
    """Does BlockedPLS give what LmmCore gives (ldL2, ldRX2, r2, solution)? Random weights/response."""
    return _solver_ok(BlockedPLS, terms, X, rng)


def _solver_ok(cls, terms, X, rng=None) -> bool:
    try:
        rng = np.random.default_rng(54321) if rng is None else rng
        n = X.shape[0]
        w = rng.uniform(0.2, 2.0, n)
        y = rng.normal(size=n)
        c1 = cls(terms, X).reweight(w, y)
        c2 = LmmCore(terms, X, y, weights=w)
        lay = ThetaLayout([t.p for t in terms])
        th = np.where(lay.is_diagonal(), 0.8, 0.15)
        th[0] = 1.3
        f1, f2 = c1.factor(th), c2.factor(th)
        if f1 is None or f2 is None:
            return False
        b1, u1 = c1.solve(f1)
        b2, u2 = c2.solve(f2)
        tol = lambda a, b: abs(a - b) <= 1e-8 * (1 + abs(b))  # noqa: E731
        ok = (tol(f1.ldL2, f2.ldL2) and tol(f1.ldRX2, f2.ldRX2) and tol(f1.r2, f2.r2)
              and np.allclose(b1, b2, rtol=1e-7, atol=1e-9)
              and all(np.allclose(a, b, rtol=1e-7, atol=1e-9) for a, b in zip(u1, u2)))
        if ok and X.shape[1]:
            ok = np.allclose(c1.rx_inverse(f1), c2.rx_inverse(f2), rtol=1e-7, atol=1e-12)
        return bool(ok)
    except Exception:
        return False


def dense_pls_ok(terms, X, rng=None) -> bool:
    """Does DensePLS give what LmmCore gives (ldL2, ldRX2, r2, solution)? Random weights/response."""
    return _solver_ok(DensePLS, terms, X, rng)


def reweight_core_ok(terms, X, rng=None, method: str = "auto") -> bool:
    """Does ReweightCore give what a fresh LmmCore gives (factor, solution)? Random weights/response."""
    try:
        rng = np.random.default_rng(12345) if rng is None else rng
        n = X.shape[0]
        w = rng.uniform(0.2, 2.0, n)
        y = rng.normal(size=n)
        c1 = ReweightCore(terms, X, method=method).reweight(w, y)
        c2 = LmmCore(terms, X, y, weights=w, method=method)
        th = ThetaLayout([t.p for t in terms]).start() * 0.7 + 0.05
        th = np.where(ThetaLayout([t.p for t in terms]).is_diagonal(), th, 0.1)
        f1, f2 = c1.factor(th), c2.factor(th)
        if f1 is None or f2 is None:
            return False
        b1, u1 = c1.solve(f1)
        b2, u2 = c2.solve(f2)
        ok = (abs(f1.ldL2 - f2.ldL2) <= 1e-8 * (1 + abs(f2.ldL2)) and abs(f1.r2 - f2.r2) <= 1e-8 * (1 + abs(f2.r2))
              and np.allclose(b1, b2, rtol=1e-7, atol=1e-9)
              and all(np.allclose(a, b, rtol=1e-7, atol=1e-9) for a, b in zip(u1, u2)))
        if ok and X.shape[1]:
            ok = np.allclose(c1.rx_inverse(f1), c2.rx_inverse(f2), rtol=1e-7, atol=1e-12)
        return bool(ok)
    except Exception:  # any mismatch in LmmCore's internals: use fresh cores
        return False


@dataclass
class PirlsResult:
    """The conditional mode at one parameter value and what the deviance functions need from it."""

    theta: np.ndarray
    beta: np.ndarray          # fixed effects (given, or estimated when PIRLS ran over beta too)
    u: np.ndarray             # spherical random effects, all terms, level-major per term
    eta: np.ndarray
    mu: np.ndarray
    devres: np.ndarray        # deviance residuals (squared, with prior weights)
    pdev: float               # sum(devres) + ||u||^2
    f: object                 # core.Factorization of the last iteration
    core: LmmCore             # the core of the last iteration (working weights / response)
    iterations: int
    eta_w: np.ndarray | None = None  # the linear predictor whose working weights the last step used

    @property
    def dev(self) -> float:
        return float(np.sum(self.devres))

    @property
    def sqr_u(self) -> float:
        return float(self.u @ self.u)


class GlmmModel:
    """A GLMM's data, once: family, response, prior weights, offset, X and the random-effects terms.

    ``y`` is the response as the family sees it (proportions for a binomial ``cbind``), ``ntrials``
    R's ``n`` (binomial trials per row, 1 otherwise), ``weights`` the prior weights after the
    family's initialization (times the trials for ``cbind``).
    """

    def __init__(self, family, terms, X, y, ntrials, weights, offset, *, tol=1e-7, maxit=100, fast=None):
        self.family = family
        self.terms = terms
        self.X = np.ascontiguousarray(X, dtype=float)
        self.n, self.p = self.X.shape
        self.y = np.asarray(y, dtype=float)
        self.ntrials = np.asarray(ntrials, dtype=float)
        self.pw = np.asarray(weights, dtype=float)
        self.offset = np.zeros(self.n) if offset is None else np.asarray(offset, dtype=float)
        self._all_pw_pos = bool(np.all(self.pw > 0))
        self.layout = ThetaLayout([t.p for t in terms])
        self.qs = [t.q for t in terms]
        self.q = int(sum(self.qs))
        self._X0 = np.zeros((self.n, 0))
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
            raise ArgumentError(f"the PIRLS tolerance (control['tol_pirls']) must be a finite number > 0 such as 1e-7, "
                                f"got {tol!r}")
        if isinstance(maxit, bool) or not isinstance(maxit, (int, np.integer)) or maxit < 1:
            raise ArgumentError(f"the PIRLS iteration limit (control['maxit_pirls']) must be a whole number >= 1, "
                                f"got {maxit!r}")
        self.tol = tol
        self.maxit = maxit
        self.npirls = 0
        self._cores: dict = {}
        self._first: dict = {}       # with_x -> (eta_start, its copy, working response, core): _first_step
        # Z Lambda u for scalar terms: per term (offset in u, codes, z or None for all-ones, theta index)
        self._zb_scalar = None
        if terms and all(t.p == 1 for t in terms):
            zs, off = [], 0
            for k, t in enumerate(terms):
                zc = np.ascontiguousarray(t.z[:, 0], dtype=float)
                zs.append((off, np.asarray(t.codes, dtype=np.intp), None if np.all(zc == 1.0) else zc,
                           int(self.layout.offsets[k])))
                off += t.q
            self._zb_scalar = zs
        # a 0/1 response with unit prior weights and one trial per row (a Bernoulli binomial): the
        # deviance residuals are -2 log(mu) or -2 log(1 - mu), and the aic is their sum
        from .families import Binomial, LogitLink
        self._logit = type(getattr(family, "link_obj", None)) is LogitLink
        self._binary = None
        if (type(family) is Binomial and self.n and np.all(self.pw == 1.0) and np.all(self.ntrials == 1.0)
                and np.all((self.y == 0.0) | (self.y == 1.0))):
            self._binary = self.y == 1.0
        # any other binomial: the aic's terms that do not depend on mu, once (Binomial.aic's formula)
        self._binom_aic = None
        if type(family) is Binomial and self._binary is None:
            try:
                yv, nv, wv = self.y, self.ntrials, self.pw
                mm_ = nv if np.any(nv > 1) else wv
                yy = np.rint(mm_ * yv)
                mm_ = np.rint(mm_)
                ok = np.flatnonzero(mm_ > 0)
                yy, mk = yy[ok], mm_[ok]
                coef = wv[ok] / mk
                const = float(np.sum(coef * (special.gammaln(mk + 1) - special.gammaln(yy + 1)
                                             - special.gammaln(mk - yy + 1))))
                if math.isfinite(const):
                    self._binom_aic = (ok, yy, mk - yy, coef, const)
                    self._y1 = 1.0 - self.y
            except Exception:  # the family's own aic then
                self._binom_aic = None
        # how each PIRLS step is solved: "dense" (DensePLS), "core" (ReweightCore), "fresh" (a new
        # LmmCore); None: decided on first use, each fast path checked against LmmCore
        self.fast = fast

    # ------------------------------------------------------------------ linear predictor
    def split_u(self, u: np.ndarray) -> list[np.ndarray]:
        out, off = [], 0
        for t in self.terms:
            out.append(u[off: off + t.q].reshape(t.nlev, t.p))
            off += t.q
        return out

    def b_list(self, theta, u) -> list[np.ndarray]:
        """Random effects on the linear-predictor scale: b = Lambda u, one (nlev, p) array per term."""
        T = self.layout.templates(np.asarray(theta, dtype=float))
        return [U @ Tk.T for U, Tk in zip(self.split_u(u), T)]

    def zb(self, theta, u) -> np.ndarray:
        """Z Lambda(theta) u."""
        if self._zb_scalar is not None:
            out = None
            for off, codes, zc, k in self._zb_scalar:
                v = u[off:][codes]
                v *= float(theta[k])
                if zc is not None:
                    v *= zc
                if out is None:
                    out = v
                else:
                    out += v
            return out if out is not None else np.zeros(self.n)
        out = np.zeros(self.n)
        for t, B in zip(self.terms, self.b_list(theta, u)):
            if t.p == 1:
                out += t.z[:, 0] * B[t.codes, 0]
            else:
                out += np.einsum("ij,ij->i", t.z, B[t.codes])
        return out

    # ------------------------------------------------------------------ family pieces
    def _state(self, eta):
        mu = self.linkinv(eta)
        devres = self.dev_resids(mu)
        return mu, devres

    def linkinv(self, eta) -> np.ndarray:
        """The inverse link; for the logit link 1 / (1 + exp(-eta)) clamped to [eps, 1 - eps] as
        the family's (scipy's expit is several times slower than numpy's exp on long vectors; the
        two agree to rounding)."""
        if self._logit:
            mu = np.exp(-eta)
            mu += 1.0
            np.reciprocal(mu, out=mu)
            np.clip(mu, _EPS, 1.0 - _EPS, out=mu)
            return mu
        return self.family.linkinv(eta)

    def aic(self, mu, dev) -> float:
        if self._binary is not None:
            return float(dev)
        if self._binom_aic is not None:
            ok, yy, ny, coef, const = self._binom_aic
            m = mu[ok]
            ll = special.xlogy(yy, m)
            ll += special.xlog1py(ny, -m)
            return float(-2.0 * (const + float(coef @ ll)))
        return self.family.aic(self.y, self.ntrials, mu, self.pw, dev)

    def dev_resids(self, mu) -> np.ndarray:
        """The family's deviance residuals at mu (prior weights included)."""
        if self._binary is not None:
            return -2.0 * np.log(np.where(self._binary, mu, 1.0 - mu))
        if self._binom_aic is not None:   # Binomial.dev_resids, the same operations
            y, y1 = self.y, self._y1
            return 2.0 * self.pw * (special.xlogy(y, y / mu) + special.xlogy(y1, y1 / (1.0 - mu)))
        return self.family.dev_resids(self.y, mu, self.pw)

    def working(self, eta, mu, base):
        """Working weights and response for one PIRLS step (lme4's sqrtWrkWt^2 and wrkResp)."""
        fam = self.family
        if self._logit:   # the logit link's mu_eta, in place: max(e / (1 + e)^2, eps), e = exp(-|eta|)
            me = np.abs(eta)
            np.negative(me, out=me)
            np.exp(me, out=me)
            d = me + 1.0
            np.square(d, out=d)
            np.divide(me, d, out=me)
            np.maximum(me, _EPS, out=me)
        else:
            me = fam.mu_eta(eta)
        var = fam.variance(mu)
        if self._binary is not None:   # unit prior weights
            w = me * me
            w /= var
            z = eta - base
            r = self.y - mu
            r /= me
            z += r
            return w, z
        if self._all_pw_pos:
            return self.pw * me * me / var, (eta - base) + (self.y - mu) / me
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.pw * me * me / var
            z = (eta - base) + (self.y - mu) / me
        w = np.where(self.pw > 0, w, 0.0)
        z = np.where(self.pw > 0, z, 0.0)
        return w, z

    def _dense_cheaper(self) -> bool:
        """One dense Cholesky of the whole system, or the first term eliminated level by level and a
        dense Cholesky of the rest? By the flops of the dense factors (m^3 / 3 at a few GFlop/s)
        plus the measured overhead of the blocked solvers' extra steps (~0.15 ms per step)."""
        m = self.q + self.p + 1
        if m > DENSE_MAX:
            return False
        rest = self.q - self.terms[0].q + self.p + 1
        return m ** 3 <= rest ** 3 + 2.25e6

    def make_core(self, w, z, with_x: bool) -> LmmCore:
        """The core of one PIRLS step: weights w, working response z (X included or not).

        Reuses one ReweightCore per variant (checked once against a fresh LmmCore); a fresh LmmCore
        when the check fails. The returned core is only valid until the next call.
        """
        X = self.X if with_x else self._X0
        if self.fast is None:
            rest = self.q - self.terms[0].q + self.p + 1
            if self._dense_cheaper() and dense_pls_ok(self.terms, self.X):
                self.fast = "dense"
            elif self.terms[0].p == 1 and rest <= DENSE_MAX and blocked_pls_ok(self.terms, self.X):
                self.fast = "blocked"
            elif reweight_core_ok(self.terms, self.X):
                self.fast = "core"
            else:
                self.fast = "fresh"
        if self.fast == "fresh":
            return LmmCore(self.terms, X, z, weights=w)
        c = self._cores.get(with_x)
        if c is None:
            cls = {"dense": DensePLS, "blocked": BlockedPLS, "core": ReweightCore}[self.fast]
            c = self._cores[with_x] = cls(self.terms, X)
        return c.reweight(w, z)

    # ------------------------------------------------------------------ PIRLS
    def pirls(self, theta, beta=None, eta_start=None, u_start=None, beta_start=None) -> PirlsResult:
        """Conditional mode (see :meth:`_pirls`); numpy's warnings about steps that leave the
        family's domain are silenced: such a step gives a NaN or infinite deviance and is halved."""
        with np.errstate(all="ignore"):
            return self._pirls(theta, beta, eta_start, u_start, beta_start)

    def _pirls(self, theta, beta=None, eta_start=None, u_start=None, beta_start=None) -> PirlsResult:
        """Conditional mode at theta: of u given beta (``beta`` given), or of (beta, u) (``beta`` None).

        As lme4's ``pwrssUpdate``: Fisher-scoring steps from the linear predictor ``eta_start``
        (or from ``u_start``/``beta_start``), each step the solution of a penalized weighted
        least-squares problem; a step that increases the penalized deviance is halved up to 20
        times; converged when the relative change of the penalized deviance is below ``tol``
        (lme4's ``tolPwrss``, 1e-7). The factorization kept is the last step's (weights at the
        mean before that step), which is what lme4's deviance functions use.

        Raises PirlsError when it cannot converge.
        """
        self.npirls += 1
        theta = np.asarray(theta, dtype=float)
        uonly = beta is not None
        if uonly:
            b = np.asarray(beta, dtype=float)
            base = self.offset + (self.X @ b if self.p else 0.0)
        else:
            b = np.zeros(self.p) if beta_start is None else np.asarray(beta_start, dtype=float).copy()
            base = self.offset
        u = np.zeros(self.q) if u_start is None else np.asarray(u_start, dtype=float).copy()
        first = None
        if eta_start is None:
            eta = base + (self.X @ b if not uonly and self.p else 0.0) + self.zb(theta, u)
        else:
            eta = np.asarray(eta_start, dtype=float)
            if u_start is None and self.fast in ("dense", "blocked"):
                first = self._first_step(eta, b if uonly else None)
        mu = self.linkinv(eta) if first is None else None
        devres = None
        oldpdev = np.finfo(float).max
        tol = self.tol
        f = core = None
        converged = False
        it = 0
        eta_w = eta
        for it in range(1, self.maxit + 1):
            u_old, b_old = u, b
            eta_w = eta
            if first is not None and it == 1:
                core = first
            else:
                w, z = self.working(eta, mu, base)
                if not (np.isfinite(w).all() and np.isfinite(z).all()):
                    raise PirlsError("PIRLS: non-finite working weights or response")
                core = self.make_core(w, z, with_x=not uonly)
            f = core.factor(theta)
            if f is None:
                raise PirlsError("PIRLS: the penalized weighted least-squares system is not positive definite")
            bnew, us = core.solve(f)
            u = np.concatenate([x.ravel() for x in us]) if us else np.zeros(0)
            if not uonly:
                b = bnew
            eta, mu, devres, pdev = self._update(theta, base, b, u, uonly)
            if abs((oldpdev - pdev) / pdev) < tol:
                converged = True
                break
            if math.isnan(pdev) or pdev > oldpdev:
                for _ in range(20):
                    if not (math.isnan(pdev) or pdev > oldpdev):
                        break
                    u = 0.5 * (u_old + u)
                    if not uonly:
                        b = 0.5 * (b_old + b)
                    eta, mu, devres, pdev = self._update(theta, base, b, u, uonly)
                if math.isnan(pdev):
                    raise PirlsError("PIRLS loop resulted in NaN value")
                if pdev - oldpdev > tol:
                    raise PirlsError("PIRLS step-halvings failed to reduce the penalized deviance")
            oldpdev = pdev
        if not converged:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        if not math.isfinite(pdev):
            raise PirlsError("PIRLS produced a non-finite deviance")
        return PirlsResult(theta, np.asarray(b, dtype=float), u, eta, mu, devres, float(pdev), f, core, it, eta_w)

    def _first_step(self, eta, beta):
        """The system of PIRLS's first step from the linear predictor ``eta`` (a fast solver only).

        The deviance functions start every evaluation from one linear predictor, so the working
        weights of the first step are the same at every evaluation, and so is the working response
        up to ``- X beta`` (PIRLS over u alone, ``beta`` given). The weighted crossproducts are
        kept for the last such ``eta`` (per variant) and only the response's column is refilled:
        the same system as :meth:`make_core` would build, up to rounding. None where the working
        values are not finite (the caller's usual path raises).
        """
        with_x = beta is None
        ent = self._first.get(with_x)
        if ent is None or ent[0] is not eta or not np.array_equal(ent[1], eta):
            mu = self.linkinv(eta)
            w, zc = self.working(eta, mu, self.offset)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(zc))):
                return None
            cls = {"dense": DensePLS, "blocked": BlockedPLS}[self.fast]
            core = cls(self.terms, self.X if with_x else self._X0).reweight(w, zc)
            ent = self._first[with_x] = (eta, eta.copy(), zc, core)
        core = ent[3]
        if not with_x:
            z = ent[2] - self.X @ beta if self.p else ent[2]
            if not np.all(np.isfinite(z)):
                return None
            core.set_response(z)
        return core

    def _update(self, theta, base, b, u, uonly):
        eta = self.zb(theta, u)
        if not uonly and self.p:
            eta += base + self.X @ b
        else:
            eta += base
        mu = self.linkinv(eta)
        devres = self.dev_resids(mu)
        pdev = float(devres.sum()) + float(u @ u)
        return eta, mu, devres, pdev

    # ------------------------------------------------------------------ deviance functions
    def laplace(self, r: PirlsResult) -> float:
        """lme4's Laplace deviance: ldL2 + ||u||^2 + aic(mu)."""
        with np.errstate(all="ignore"):
            return float(r.f.ldL2 + r.sqr_u + self.aic(r.mu, r.dev))

    def agq(self, r: PirlsResult, rule: np.ndarray) -> float:
        """lme4's adaptive Gauss-Hermite deviance for one scalar random-effects term."""
        with np.errstate(all="ignore"):
            return self._agq(r, rule)

    def _agq(self, r: PirlsResult, rule: np.ndarray) -> float:
        t = self.terms[0]
        theta = float(r.theta[0])
        L = r.f.L00[:, 0, 0]
        sd = 1.0 / L
        u = r.u
        nlev = t.nlev
        devc0 = u * u + np.bincount(t.codes, weights=r.devres, minlength=nlev)
        base = r.eta - self.zb(r.theta, u)
        zc = t.z[:, 0]
        logs = []
        for zk, wk, ldn in rule:
            if zk == 0.0:
                logs.append(np.full(nlev, math.log(wk)))
                continue
            uk = u + zk * sd
            eta = base + theta * zc * uk[t.codes]
            mu = self.linkinv(eta)
            dr = self.dev_resids(mu)
            devc = uk * uk + np.bincount(t.codes, weights=dr, minlength=nlev)
            logs.append(-0.5 * (devc - devc0) - ldn + math.log(wk) - math.log(_SQRT_2PI))
        logs = np.array(logs)
        m = logs.max(axis=0)
        logmult = m + np.log(np.sum(np.exp(logs - m), axis=0))
        return float(devc0.sum() + r.f.ldL2 - 2.0 * logmult.sum())
