r"""Small penalized least-squares systems for PIRLS: the whole system as one dense Cholesky.

For the few hundred random effects of a typical GLMM the ``(q + p + 1)``-square system fits a
dense LAPACK Cholesky that costs microseconds, less than the set-up of the blocked factors of
:class:`~mixedmodels.core.lmm.LmmCore`. Same mathematics and outputs (``ldL2``, ``ldRX2``, ``r2``,
the solution); the tests check it against LmmCore on many designs. :mod:`.reweight` chooses it
for PIRLS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from .factor import lower_cholesky
from .layout import ThetaLayout

__all__ = ["DenseFactor", "DensePLS", "scale_lambda", "solve_upper"]


def solve_upper(L: np.ndarray, k: int) -> np.ndarray:
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
    outputs (``ldL2``, ``ldRX2``, ``r2``, the solution).
    """

    def __init__(self, terms, X):
        X = np.asarray(X, dtype=float)
        self.terms = terms
        self.n, self.p = X.shape
        self._X = X
        self.layout = ThetaLayout.for_terms(terms)
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
        self._set_lambda()
        # few rows (cbpp: 56 x 20): the whole design [Z X y] dense, every crossproduct one BLAS call
        self._D = None
        if self.n * self.m * self.m <= 200_000:
            D = np.zeros((self.n, self.m))
            np.add.at(D, (r, c), v)
            D[:, q: q + self.p] = X
            self._D = D
        self.A = None

    @classmethod
    def of_system(cls, terms, layout: ThetaLayout, A: np.ndarray, p: int) -> "DensePLS":
        """The system already formed: ``A`` the (q+p+1)-square weighted crossproduct of
        ``[Z X y]`` in the terms' order (no rows: :meth:`factor`, :meth:`solve` and
        :meth:`rx_inverse` only). LmmCore evaluates small models' criterion this way."""
        self = cls.__new__(cls)
        self.terms = terms
        self.layout = layout
        self.p = p
        self.q = int(sum(t.q for t in terms))
        self.m = self.q + p + 1
        self._blocks = []
        off = 0
        for k, t in enumerate(terms):
            self._blocks.append((off, t.nlev, t.p, k))
            off += t.q
        self._set_lambda()
        self.A = A
        return self

    def _set_lambda(self) -> None:
        """How theta scales the system: one multiplier per column where every term is scalar and
        theta is the templates' entries (unstructured), else each term's template."""
        terms = self.terms
        self._scalar = all(t.p == 1 for t in terms) and self.layout.unstructured
        if self._scalar:
            self._lam_theta = np.concatenate([np.full(t.q, self.layout.theta_offsets[k]) for k, t in enumerate(terms)])
        self._splits = [(off, off + nlev * pk, nlev, pk) for off, nlev, pk, _ in self._blocks]

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
        L, info = lower_cholesky(S)
        if 0 < info < m:
            return None
        dg = np.diagonal(L)
        r2 = 0.0 if info == m else float(dg[-1] ** 2)
        ldL2 = 2.0 * float(np.log(dg[:q]).sum())
        ldRX2 = 2.0 * float(np.log(dg[q: q + p]).sum())
        return DenseFactor(theta, L, ldL2, ldRX2, r2, q, p)

    def solve(self, f: DenseFactor):
        L = f.L
        k = self.m - 1
        x = solve_upper(L, k)
        beta = x[self.q:]
        return beta, [x[a:b].reshape(nlev, pk) for a, b, nlev, pk in self._splits]

    def rx_inverse(self, f: DenseFactor) -> np.ndarray:
        q, p = self.q, self.p
        LXX = f.L[q: q + p, q: q + p]
        Li = sla.solve_triangular(LXX, np.eye(p), lower=True, check_finite=False)
        return Li.T @ Li
