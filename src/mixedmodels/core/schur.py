r"""The Schur complement of the first term: ``A_r0 W A_0r`` and the Lambda_r scaling.

After the first term is eliminated (:mod:`.first_term`), the other terms and ``[X y]`` see

    S_rr = Lambda_r' (A_rr - A_r0 W A_0r) Lambda_r + I,   S_rx = Lambda_r' (A_rx - A_r0 W C0),
    S_xx = A_xx - C0' W C0,

with ``W = blockdiag(W_k)``. How ``A_r0 W A_0r`` is formed is chosen by cost on the second
evaluation (:meth:`SchurMixin._choose_m_mode`): a pair map (a sparse matrix ``P`` with
``vec(A_r0 W A_0r)[pairs] = P vec(W)``, built once) for sparsely crossed factors, one GEMM with a
dense ``A_r0`` for small or fully crossed designs, or scipy's sparse product when the pair map
would be too large. These are methods of :class:`~mixedmodels.core.lmm.LmmCore` (a mixin: they
read the blocks it holds), kept apart because they are one concept.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import limits
from .first_term import hth as _hth
from .limits import CHUNK as _CHUNK

__all__ = ["SchurMixin"]


class SchurMixin:
    """``A_r0 W A_0r``, ``A_r0 W C0`` and the scaling by Lambda_r of the dense Schur block."""

    def _choose_m_mode(self) -> str:
        """How A_r0 W A_0r is formed at each evaluation, by estimated cost:

        * "dense": A_r0 as a dense (mz x q0) array and one GEMM (mz^2 q0 flops), when A_r0 is
          small or dense (crossed designs with every level pair observed);
        * "pairs": the pair map P @ vec(W) (one sparse mat-vec over the T p0^2 products of rows
          of A_r0 that share a level of the first term), built on the second evaluation since a
          single factorization (one PIRLS step) does not repay it;
        * "groups": for a scalar first term, one dense block per distinct ``A00_j``
          (:meth:`_build_groups`), when the pair map would be too large;
        * "spgemm": scipy's sparse product, when neither fits.
        """
        mz, q0, p0 = self.mz, self.l0 * self.p0, self.p0
        dense_cost = 5e-11 * (mz * mz * q0 + mz * q0 * p0) + 2e-10 * mz * q0
        npairs = self._pair_count() * p0 * p0
        pair_cost = 1.5e-9 * npairs
        if dense_cost <= pair_cost and 8 * mz * q0 <= limits.DENSE_MAX_BYTES // 4:
            if self._Ar0d is None:
                self._Ar0d = self.Ar0.toarray()
            return "dense"
        self._Ar0d = None
        if npairs <= limits.PAIR_MAX:
            return "pairs"
        if p0 == 1 and self._build_groups(mz):
            return "groups"
        return "spgemm"

    def _build_groups(self, mz: int) -> bool:
        """The level groups of a scalar first term: its levels with equal ``A00_j`` (the counts of
        unweighted rows) have equal weights ``W_j = t^2 / (t^2 A00_j + 1)`` at every theta, so
        ``A_r0 W A_0r = sum_g W_g M_g`` with ``M_g = A_r0[:, g] A_0r[g, :]`` formed once: G dense
        (mz x mz) products then, G the number of distinct ``A00_j``, instead of a sparse product
        over every pair of rows sharing a level (a crossed 10^5 x 10^3 design of 10^7 rows: about
        100 groups against 5e8 pairs). False where the G blocks would pass
        :data:`~mixedmodels.core.limits.GROUPS_MAX_BYTES` or save nothing."""
        vals, inv = np.unique(self._a00, return_inverse=True)
        G = len(vals)
        if 8 * G * mz * mz > limits.GROUPS_MAX_BYTES or 1e-9 * G * mz * mz > 1e-8 * self._pair_count():
            return False
        A = self.Ar0.tocsc()
        order = np.argsort(inv, kind="stable")
        cuts = np.searchsorted(inv[order], np.arange(G + 1))
        Mg = np.empty((G, mz, mz))
        for g in range(G):
            sub = A[:, order[cuts[g]:cuts[g + 1]]]
            # a group whose columns fill a tenth of its block or more: one GEMM of the dense columns
            # (a crossed design of 10^8 rows: seconds, where scipy's sparse product takes minutes)
            if sub.nnz >= 0.1 * sub.shape[0] * sub.shape[1]:
                D = sub.toarray()
                Mg[g] = D @ D.T
            else:
                Mg[g] = (sub @ sub.T).toarray()
        self._Mg, self._grep = Mg, order[cuts[:-1]]
        return True

    def _product_M(self, W) -> sp.coo_matrix | np.ndarray:
        """A_r0 W A_0r: dense (mz x mz) in the dense and groups modes, else a sparse COO matrix."""
        if self._Mg is not None:
            return np.tensordot(W[self._grep], self._Mg, axes=1)
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

    # ------------------------------------------------------------------ the pair map
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

    # ------------------------------------------------------------------ Lambda of the other terms
    def _lambda_r(self, theta: np.ndarray) -> sp.csr_matrix:
        rr, cc, ii = self._lam_pattern
        return sp.csr_matrix((self.layout.phi(theta)[ii], (rr, cc)), shape=(self.mz, self.mz))

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
        elif self._Ar0d is not None or self._Mg is not None:
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

