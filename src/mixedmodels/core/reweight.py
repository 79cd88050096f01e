r"""A core whose weights and response change in place: one PIRLS step each.

PIRLS (:mod:`mixedmodels.glmm.pirls`) solves one weighted penalized least-squares problem per
step, always with the same design. :class:`ReweightCore` is :class:`~mixedmodels.core.lmm.LmmCore`
with the design-only work (sparse patterns, level maps) done once; :meth:`ReweightCore.reweight`
refills the crossproducts of ``W^(1/2) [Z X y]`` from the unweighted rows by scatter-adds over
fixed positions. :func:`reweight_core_ok` checks it against a fresh core.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .layout import ThetaLayout
from .lmm import LmmCore

__all__ = ["ReweightCore", "reweight_core_ok"]


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
    the check fails (e.g. after a change of LmmCore's internals).
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
            self._init_arr_map(cr, vr, i_r, nr, pr, n)
        self._lvlpat = None

    def _init_arr_map(self, cr, vr, i_r, nr, pr, n: int) -> None:
        """The map of Zr' W Zr: every pair of nonzeros of Zr in the same row, with its product and
        its row (``cr``, ``vr``: columns and values of Zr's nonzeros; ``i_r`` them sorted by row,
        ``nr`` per row, ``pr`` its offsets), and where each lands in the dense or sparse block."""
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
