r"""The core reweighted: one penalized weighted least-squares system per PIRLS step.

PIRLS (:mod:`mixedmodels.glmm.pirls`) solves one weighted penalized least-squares problem per
step, always with the same design: only the working weights ``w`` and response ``z`` change. It
asks this module for the system of its design once (:func:`for_reweighting`) and then calls
``system.reweight(w, z)`` (or ``system.set_response(z)`` for new ``z`` under the same ``w``)
before each ``factor(theta)`` / ``solve(f)``: it never sees which of three forms of the one
system the core chose, by cost (:func:`reweight_kind`):

* ``"dense"``: :class:`~mixedmodels.core.pls_dense.DensePLS`, the whole ``(q+p+1)``-square
  system as one dense Cholesky (a few hundred random effects: microseconds, less than the set-up
  of the blocked factors);
* ``"blocked"``: :class:`~mixedmodels.core.pls_blocked.BlockedPLS`, a scalar first term eliminated
  level by level by scatter-adds over a structure fixed at construction, one dense Cholesky of
  the rest (grouseticks' 403 one-row levels);
* ``"core"``: :class:`ReweightCore`, :class:`~mixedmodels.core.lmm.LmmCore` itself with the
  design-only work (sparse patterns, level maps) done once and the crossproducts of
  ``W^(1/2) [Z X y]`` refilled in place by scatter-adds over fixed positions: large models, the
  sparse Schur path included.

All three factor with :func:`~mixedmodels.core.factor.lower_cholesky` (or LmmCore's sparse
factor) and give the same ``ldL2``, ``ldRX2``, ``r2`` and solution to rounding; the test suite
checks each against a freshly built LmmCore on many designs (nothing is checked at run time).
Why three: one refill-and-factor per set of weights is what PIRLS pays for, and LmmCore's
general blocked path costs 2.2x the blocked form on grouseticks' 3-term Poisson fit and 1.8x on a
5,000-row crossed Bernoulli fit (measured when the forms were put behind this face).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import limits
from .lmm import LmmCore
from .pls_blocked import BlockedPLS
from .pls_dense import DensePLS

__all__ = ["ReweightCore", "for_reweighting", "reweight_kind", "KINDS"]

#: the forms of the reweighted system, by name (see the module's docstring)
KINDS = ("dense", "blocked", "core")


class ReweightCore(LmmCore):
    """An LmmCore whose weights and response change in place (one PIRLS step each).

    PIRLS solves one weighted penalized least-squares problem per step, always with the same
    design: only the weights and the working response change. Building a new LmmCore for each step
    repeats the work that depends on the design alone (sparse patterns, level maps); this subclass
    builds it once, and :meth:`reweight` recomputes just the crossproduct values: for each block a
    scatter-add (``np.bincount``) of ``w_i * a_i * b_i`` into the block's fixed positions;
    :meth:`set_response` refills only the response's column.

    It writes the attributes that ``LmmCore.__init__`` derives from the weighted rows (``A00``,
    ``C0``, ``Ar0``, ``R`` ...) and turns off the pair map ``_P`` (whose coefficients depend on the
    weights; the core then forms ``A_r0 W A_0r`` by a sparse product).
    """

    def __init__(self, terms, X, method: str = "auto"):
        X = np.asarray(X, dtype=float)
        n = X.shape[0]
        super().__init__(terms, X, np.zeros(n), method=method)
        self._P = None
        self._Mg = None
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
        out.data = self.layout.phi(np.asarray(theta, dtype=float))[self._lam_src]
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
        self._w = w
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
        self._whole = None
        self._P = None                 # never a pair map built from other weights
        self._Mg = None
        if hasattr(self, "_pairs_state"):
            self._pairs_state = "off"
        return self

    def set_response(self, z: np.ndarray) -> "ReweightCore":
        """The system of the last :meth:`reweight`'s weights with the response z instead (in
        place; returns self): only the blocks of the response's column change."""
        w = self._w
        wz = w * np.asarray(z, dtype=float)
        p, l0, p0 = self.p, self.l0, self.p0
        self.C0[:, :, p] = np.asarray(self._Z0T @ wz).reshape(l0, p0)
        self._C0f = self.C0.reshape(l0 * p0, p + 1)
        xz = np.empty(p + 1)
        xz[:p] = self._Xd.T @ wz
        xz[p] = z @ wz
        mz = self.mz
        if mz:
            col = np.asarray(self._ZrT @ wz)
            if self.method == "dense":
                k = self._m - 1
                self.R[:mz, k] = col
                self.R[k, :mz] = col
            else:
                self._ArX[:, p] = col
        if mz and self.method != "dense":
            self._AXX[:p, p] = xz[:p]
            self._AXX[p, :] = xz
        else:
            k0 = mz
            self.R[k0:k0 + p, k0 + p] = xz[:p]
            self.R[k0 + p, k0:] = xz
        self._buf = None
        self._whole = None
        return self


def reweight_kind(terms, p: int) -> str:
    r"""The form of the reweighted system for these terms and p fixed effects, by cost.

    ``"dense"`` while the whole system is small (``m = q + p + 1 <= limits.PLS_DENSE_MAX``) and its
    one Cholesky (``m^3 / 3`` flops) costs no more than the blocked form's (``rest^3 / 3``, ``rest``
    the system without the first term) plus that form's measured overhead of ~0.15 ms per step
    (``2.25e6`` in ``m^3`` units, a few GFlop/s); else ``"blocked"`` for a scalar first term whose
    rest is small; else ``"core"``.
    """
    q = int(sum(t.q for t in terms))
    m = q + p + 1
    rest = m - terms[0].q
    if m <= limits.PLS_DENSE_MAX and m ** 3 <= rest ** 3 + 2.25e6:
        return "dense"
    if terms[0].p == 1 and rest <= limits.PLS_DENSE_MAX:
        return "blocked"
    return "core"


def for_reweighting(terms, X: np.ndarray, kind: str | None = None):
    """The penalized weighted least-squares system of a design, to be reweighted (PIRLS).

    Parameters
    ----------
    terms : list of ReTerm
        The random-effects terms, by decreasing number of levels.
    X : ndarray (n, p)
        The fixed-effects columns of the system (``n x 0`` for PIRLS over u alone).
    kind : {"dense", "blocked", "core"}, optional
        The form (see the module's docstring); by default :func:`reweight_kind`.

    Returns
    -------
    system
        With ``reweight(w, z)`` and ``set_response(z)`` (both return the system), then
        ``factor(theta)`` (None where not positive definite), ``solve(f) -> (beta, [u_k])`` and
        ``rx_inverse(f)``; ``f`` has ``ldL2``, ``ldRX2``, ``r2`` and ``L00``.
    """
    X = np.asarray(X, dtype=float)
    if kind is None:
        kind = reweight_kind(terms, X.shape[1])
    if kind == "dense":
        return DensePLS(terms, X)
    if kind == "blocked":
        if terms[0].p != 1:
            raise ValueError("the blocked form needs a scalar first term")
        return BlockedPLS(terms, X)
    if kind == "core":
        return ReweightCore(terms, X)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
