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

The modules: :mod:`.blocks` forms the crossproduct blocks from arrays, :mod:`.rows` from a row
source in chunks; :mod:`.first_term` eliminates the first term; :mod:`.schur` forms the Schur
block; :mod:`.factor` factors it and gives the criterion; :mod:`.solve` the solutions. This
module holds :class:`LmmCore`, the face that composes them.

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

import numpy as np
import scipy.sparse as sp

from ..errors import FitError
from . import limits
from .blocks import CENTRE_RATIO, CrossBlocks, form_blocks
from .factor import Factorization, FactorMixin
from .layout import ThetaLayout, block_pattern
from .rows import RowChunk, RowSource, blocks_from_rows
from .schur import SchurMixin
from .solve import SolveMixin

__all__ = ["ThetaLayout", "LmmCore", "Factorization", "CrossBlocks", "RowChunk", "RowSource"]

#: the largest ratio of the random effects' crossproduct diagonals (Z'WZ) at which a small model's
#: criterion is evaluated on its whole dense system (:meth:`LmmCore._whole_system`)
_WHOLE_SPREAD = 1e10


class LmmCore(FactorMixin, SolveMixin, SchurMixin):
    """Crossproduct blocks of [Z X y], formed once; factor and objective at any theta.

    Parameters
    ----------
    terms : list of ReTerm
        The random-effects terms (level codes, z, nlev, p, q), by decreasing number of levels.
    X : ndarray (n, p)
        The fixed-effects model matrix.
    y : ndarray (n,)
        The response.
    weights, offset : ndarray (n,), optional
        Prior weights and an offset.
    method : {"auto", "dense", "sparse"}
        How the Schur complement of the terms after the first is factored (see the module's
        docstring).

    Notes
    -----
    :meth:`from_rows` builds the same core from a row source in chunks; :meth:`transform_xy` a
    core with a new ``[X y]`` and the same Z without a pass over the rows.
    """

    def __init__(self, terms, X: np.ndarray, y: np.ndarray, weights=None, offset=None, *, method: str = "auto"):
        _check_method(method)
        layout = ThetaLayout.for_terms(terms)
        self._setup(terms, layout, form_blocks(terms, layout, X, y, weights, offset), method)

    @classmethod
    def from_rows(cls, terms, source: RowSource, *, method: str = "auto") -> "LmmCore":
        """The core from a row source: an iterable of :class:`RowChunk` (re-iterable: it is read in
        a few passes) whose per-chunk crossproducts are summed.

        Parameters
        ----------
        terms : list of ReTerm
            The terms' structure (nlev, p, q, group, cnames); their codes and z are not read.
        source : iterable of RowChunk
        method : {"auto", "dense", "sparse"}

        Returns
        -------
        LmmCore
            The same factor and criterion as ``LmmCore(terms, X, y, ...)`` on the stacked rows (to
            rounding: the sums are taken in another order).
        """
        _check_method(method)
        layout = ThetaLayout.for_terms(terms)
        core = cls.__new__(cls)
        core._setup(terms, layout, blocks_from_rows(terms, layout, source), method)
        return core

    @classmethod
    def from_blocks(cls, terms, layout: ThetaLayout, blocks: CrossBlocks, *, method: str = "auto") -> "LmmCore":
        """The core from crossproduct blocks already summed (a Dask fit's, a PIRLS step's on a cluster).

        Parameters
        ----------
        terms : list of ReTerm
            The terms' structure (nlev, p, q, group, cnames); their codes and z are not read.
        layout : ThetaLayout
            The terms' theta layout.
        blocks : CrossBlocks
            The blocks of ``[Z X y]`` (:func:`~mixedmodels.core.rows.blocks_from_passes`).
        method : {"auto", "dense", "sparse"}

        Returns
        -------
        LmmCore
        """
        _check_method(method)
        core = cls.__new__(cls)
        core._setup(terms, layout, blocks, method)
        return core

    # ------------------------------------------------------------------ set-up from the blocks
    def _setup(self, terms, layout: ThetaLayout, blocks: CrossBlocks, method: str) -> None:
        """Hold the blocks and derive what every evaluation reuses."""
        self.terms = terms
        self.layout = layout
        self.n, self.p = blocks.n, blocks.p
        self.ldW = blocks.ldW
        self._beta_shift = blocks.beta_shift
        self.y_ss = blocks.y_ss
        self._start = blocks.start
        self.layout._start = self._start
        self._set_first_term(blocks)
        self._set_rest(blocks, method)

    def _set_first_term(self, blocks: CrossBlocks) -> None:
        t0 = self.terms[0]
        self.l0, self.p0 = t0.nlev, t0.p
        l0, p0 = self.l0, self.p0
        self.A00 = blocks.A00
        self._a00 = np.ascontiguousarray(blocks.A00[:, 0, 0])
        self._A00f = blocks.A00.reshape(l0, p0 * p0)
        self.C0 = blocks.C0
        self._C0f = self.C0.reshape(l0 * p0, self.p + 1)

    def _set_rest(self, blocks: CrossBlocks, method: str) -> None:
        """The terms after the first: their Lambda pattern, and the Schur block's base, dense
        (``R``, the unscaled blocks of the other terms and ``[X y]``) or sparse."""
        rest = self.terms[1:]
        self.mz = mz = int(sum(t.q for t in rest))
        m = mz + self.p + 1
        self._m = m
        self.nevals = 0
        self._P = None
        self._Mg = None
        self._mmode = "none"
        self._Ar0d = None
        self._calls = 0
        self._buf = None
        self.Ar0 = blocks.Ar0
        self._Ar0T = self.Ar0.T.tocsr()
        Arr, ArX, AXX = blocks.Arr, blocks.ArX, blocks.AXX
        if rest:
            self._lam_pattern = block_pattern(rest, self.layout.offsets[1:], self.layout.ps[1:])
            # scalar rest terms scale by their theta; vector ones by their template (per term)
            self._vec_terms = []
            self._term_ranges = []
            off = 0
            for k, t in enumerate(rest, start=1):
                if t.p > 1:
                    self._vec_terms.append((k, off, t.nlev, t.p))
                self._term_ranges.append((k, t.p, off, off + t.q))
                off += t.q
            self.method = self._choose_method(method, Arr)
        else:
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

    # ------------------------------------------------------------------ small models: one dense system
    def _whole_system(self):
        """The whole system as one dense matrix (:class:`~mixedmodels.core.pls_dense.DensePLS`) where
        that is the cheaper way to evaluate the criterion, else None; formed on first use.

        A small model's blocked evaluation is some forty numpy calls on tiny arrays, while its
        whole ``(q + p + 1)``-square system (39 on sleepstudy) is scaled by Lambda and factored by
        one LAPACK Cholesky: sleepstudy 126 -> 55 us, Penicillin 105 -> 33 us per evaluation
        (measured, one BLAS thread), the same criterion up to rounding (the tests hold the two to
        1e-12). The cost rule is PIRLS's (:func:`.reweight.reweight_kind`):
        ``m <= limits.PLS_DENSE_MAX`` and ``m^3`` no more than the blocked form's ``rest^3`` plus
        its overhead. Used by :meth:`objective` and :meth:`pieces` (the optimizer's and the
        derivatives' evaluations); :meth:`factor` keeps the blocked factor that the results read.
        """
        whole = getattr(self, "_whole", None)
        if whole is None:
            whole = self._whole = self._form_whole() or False
        return whole or None

    def use_blocked(self) -> bool:
        """Evaluate the criterion on the blocked factor from now on (as :meth:`factor`); True where
        the whole system had been in use. lmer refits on the blocked factor where the two disagree,
        at the edge of rounding, on whether the optimizer's end is positive definite.

        Returns
        -------
        bool
            Whether the evaluations change (False: they were blocked already).

        Examples
        --------
        >>> core = m.core.transform_xy([[1, 0, 0], [0, 1, 0], [0, 0, 1]])  # a copy of the fit's core
        >>> core.use_blocked(), core.use_blocked()
        (True, False)
        """
        changed = self._whole_system() is not None
        self._whole = False
        return changed

    def _whole_pattern(self):
        """Where the template entries stand in the whole system's Lambda: (rows, cols, phi index)
        over every term, the first term first (:func:`~mixedmodels.core.layout.block_pattern`)."""
        pat = getattr(self, "_whole_pat", None)
        if pat is None:
            pat = self._whole_pat = block_pattern(self.terms, self.layout.offsets, self.layout.ps)
        return pat

    def _form_whole(self):
        from .pls_dense import DensePLS

        if self.method != "dense":
            return None
        q0 = self.l0 * self.p0
        mz, p = self.mz, self.p
        m = q0 + mz + p + 1
        if m > limits.PLS_DENSE_MAX or m ** 3 > (mz + p + 1) ** 3 + 2.25e6:
            return None
        A = np.zeros((m, m))
        p0 = self.p0
        for i in range(p0):          # blockdiag(A00_k), level-major
            for j in range(p0):
                A[np.arange(i, q0, p0), np.arange(j, q0, p0)] = self.A00[:, i, j]
        A[:q0, q0 + mz:] = self._C0f
        A[q0 + mz:, :q0] = self._C0f.T
        if mz:
            Ar0 = self.Ar0.toarray()
            A[q0: q0 + mz, :q0] = Ar0
            A[:q0, q0: q0 + mz] = Ar0.T
        A[q0:, q0:] = self.R
        # random effects of very different sizes (a slope in units of 1e12: Z'Z entries 1e24 beside
        # 1e1) leave both factors at the edge of rounding, where the closed-form 2 x 2 blocks and one
        # long Cholesky disagree on which theta are positive definite; the blocked factor is what
        # the results read, so such models are evaluated by it too
        dz = np.diagonal(A)[: q0 + mz]
        dz = dz[dz > 0]
        if dz.size and float(dz.max()) > _WHOLE_SPREAD * float(dz.min()):
            return None
        return DensePLS.of_system(self.terms, self.layout, A, p)

    # ------------------------------------------------------------------ public views
    def start_theta(self) -> np.ndarray:
        """The starting value lme4's lmer() uses (:func:`~mixedmodels.core.blocks.moment_start`)."""
        return self._start.copy()

    def lambda_rest(self, theta: np.ndarray) -> sp.csr_matrix:
        """Lambda of the terms after the first, (mz x mz) sparse, at theta."""
        return self._lambda_r(np.asarray(theta, dtype=float))

    def first_block_diag(self, G: np.ndarray) -> sp.spmatrix:
        """blockdiag(G_k) over the first term's levels, for G of shape (l0, p0, p0) (or (l0,))."""
        return self._block_diag(G)

    def crossproducts(self):
        """``(Z'Z, Z'X, X'X)`` of the rows from the blocks, in the terms' order (``Z'Z`` sparse CSR);
        with prior weights, those of the weighted rows. What Kenward-Roger reads of the rows, so a
        fit that holds no rows (from Dask) has them too.

        Returns
        -------
        tuple
            ``Z'Z`` (q x q, scipy.sparse CSR), ``Z'X`` (q x p), ``X'X`` (p x p).
        """
        l0, p0, p, mz = self.l0, self.p0, self.p, self.mz
        q0 = l0 * p0
        lev = np.arange(l0)[:, None, None] * p0
        rows = [np.broadcast_to(lev + np.arange(p0)[None, :, None], self.A00.shape).ravel()]
        cols = [np.broadcast_to(lev + np.arange(p0)[None, None, :], self.A00.shape).ravel()]
        vals = [np.asarray(self.A00, dtype=float).ravel()]
        if self.method == "dense":
            Arr, ArX, AXX = self.R[:mz, :mz], self.R[:mz, mz: mz + p], self.R[mz: mz + p, mz: mz + p]
        else:
            Arr, ArX, AXX = self._Arr, self._ArX[:, :p], self._AXX[:p, :p]
        if mz:
            a = sp.coo_matrix(self.Ar0)
            rows += [a.row + q0, a.col]
            cols += [a.col, a.row + q0]
            vals += [a.data, a.data]
            r = sp.coo_matrix(Arr)
            rows.append(r.row + q0)
            cols.append(r.col + q0)
            vals.append(r.data)
        q = q0 + mz
        C = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(q, q))
        ZX = np.vstack([self._C0f[:, :p], np.asarray(ArX)]) if mz else np.array(self._C0f[:, :p])
        return C, ZX, np.array(AXX, dtype=float)

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
            if np.all(np.isfinite(d)) and 0 < ss * CENTRE_RATIO < new.y_ss / CENTRE_RATIO:
                M[:, pn] = v
                new._beta_shift = d
                new.y_ss = ss
        mz, p1 = self.mz, M.shape[1]
        new.p = p1 - 1
        new.C0 = np.einsum("lac,cd->lad", self.C0, M)
        new._C0f = new.C0.reshape(self.l0 * self.p0, p1)
        new._m = m = mz + p1
        new.nevals, new._calls, new._buf, new._whole = 0, 0, None, None
        # the pair map indexes the full (m x m) block: rebuild it for the new m when needed
        new._P = None
        new._Mg = None
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


    # ------------------------------------------------------------------ dense or sparse
    def _choose_method(self, method: str, Arr) -> str:
        """dense or sparse Schur complement for the terms after the first.

        Dense while its (m x m) block is small (m <= 2500: one LAPACK Cholesky of at most ~0.1 s);
        beyond, dense only if its pattern is dense anyway (crossed factors: a sparse factor would
        fill in) and it fits in limits.DENSE_MAX_BYTES; otherwise sparse (nested or sparsely crossed
        designs, whose sparse factor stays sparse under a minimum-degree ordering).
        """
        m = self._m
        dense_bytes = 8 * m * m
        if method == "dense":
            self._check_dense(dense_bytes)
            return "dense"
        if method == "sparse" or dense_bytes > limits.DENSE_MAX_BYTES:
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
        if dense_bytes > 4 * limits.DENSE_MAX_BYTES:
            raise FitError(f"the dense Schur block of this model would need {dense_bytes / limits.MB:,.0f} MB; "
                           "use method='sparse' (or let method='auto' choose)")


def _check_method(method: str) -> None:
    if method not in ("auto", "dense", "sparse"):
        raise ValueError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
