r"""Penalized least squares for PIRLS when the first term is scalar: that term eliminated level
by level by scatter-adds over a structure fixed at construction, one dense Cholesky of the rest.

The tests check it against LmmCore on many designs; :mod:`.reweight` chooses it for PIRLS.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from .factor import lower_cholesky
from .layout import ThetaLayout
from .pls_dense import DenseFactor, scale_lambda, solve_upper

__all__ = ["BlockedPLS"]


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
    """

    def __init__(self, terms, X, dense_g: bool | None = None):
        X = np.asarray(X, dtype=float)
        t0 = terms[0]
        if t0.p != 1:
            raise ValueError("BlockedPLS needs a scalar first term")
        self.terms = terms
        self.n, self.p = X.shape
        self._X = X
        self.layout = ThetaLayout.for_terms(terms)
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
                self._lam_theta = np.concatenate([np.full(t.q, self.layout.theta_offsets[k])
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
        L, info = lower_cholesky(S)
        if 0 < info < m:
            return None
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
        x = solve_upper(L, k)
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
