r"""The blocked Cholesky factor at theta and the profiled criterion.

For a given theta the lower Cholesky factor of the (weighted) crossproduct matrix of
``[Z Lambda, X, y]`` plus the identity on the Z part gives ``log|L_Z|^2``, ``log|R_X|^2`` and the
penalized residual sum of squares ``r^2`` (its last diagonal entry squared), hence

    ML:    d(theta)   = log|L_Z|^2 + n (1 + log(2 pi r^2 / n))                   - sum log w
    REML:  d_R(theta) = log|L_Z|^2 + log|R_X|^2 + (n-p)(1 + log(2 pi r^2/(n-p))) - sum log w

Each evaluation is a batch of small Cholesky factors (the first term, :mod:`.first_term`), the
update of the Schur block (:mod:`.schur`), and one dense LAPACK Cholesky (``dpotrf``) in a
preallocated buffer, or a sparse SuperLU factor of the other terms with a minimum-degree ordering
and a small dense one of ``[X y]``. Nothing here touches the n rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from ..errors import FitError
from .first_term import batch_tril_inv as _batch_tril_inv
from .first_term import first_term_blocks as _first_term_blocks
from .first_term import first_term_H as _first_term_H
from .first_term import hth as _hth
from .limits import SMALL_AR0 as _SMALL_AR0

__all__ = ["Factorization", "FactorMixin", "lower_cholesky"]

_LOG2PI = math.log(2 * math.pi)


def lower_cholesky(S: np.ndarray) -> tuple[np.ndarray, int]:
    """The lower Cholesky factor of the symmetric C-ordered S, overwriting S: ``(L, info)``.

    LAPACK's ``dpotrf`` on the transposed (Fortran-ordered) view, whose upper factor is the lower
    factor of S, so that no copy is made; only the lower triangle of ``L`` is meaningful.
    ``info`` is LAPACK's: 0 when S is positive definite, ``k > 0`` when the leading minor of order
    ``k`` is not (the factor is then complete only in its first ``k - 1`` columns). Every dense
    Cholesky of the core (the Schur block here, and the systems of :mod:`.reweight`) is this one.

    Raises
    ------
    FitError
        When LAPACK reports an illegal argument (``info < 0``): a bug, not a property of the data.
    """
    U, info = lapack.dpotrf(S.T, lower=0, clean=0, overwrite_a=1)
    if info < 0:
        raise FitError(f"LAPACK dpotrf failed (info={info})")
    return U.T, int(info)


@dataclass
class Factorization:
    r"""The blocked Cholesky factor at one theta, and what the objective needs from it.

    In the core's order (first term 0, the other terms r, then X) the lower factor of the
    penalized system ``Lambda'Z'WZ Lambda + I`` bordered by ``X`` is

        L = [[L_00,  0,    0   ],
             [L_r0,  L_rr, 0   ],
             [L_X0,  R_Xr', R_X']]

    (lme4's ``L_theta`` is the upper-left 2 x 2 of blocks, ``R_ZX`` the last row's first two,
    ``R_X`` the last). Storage: ``L00`` holds the first term's factors (``(l0, p0, p0)``); ``Ls``
    the lower factor of the Schur complement that remains: in the dense mode of the other terms
    and ``[X y]`` (``(mz+p+1)``-square), in the sparse mode of ``[X y]`` alone (``lu`` then holds
    the sparse factor of the other terms and ``Y = S_rr^-1 S_rx``). ``G``, ``LZ0`` and ``H`` (the
    first term's transformed blocks) are formed on first access.

    Outside :mod:`mixedmodels.core` read it only through its public face, which hides the
    storage and the mode: ``T``, ``r2``, ``ldL2``, ``ldRX2``, :attr:`L_XX`, :attr:`L00inv`,
    :attr:`G`, :attr:`H`, :attr:`LZ0`, :meth:`solve_00`, :meth:`solve_00_rows`,
    :meth:`solve_rr`, :meth:`split_rr`, :meth:`schur_quadform`.
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
    def L_rr(self) -> np.ndarray | None:
        """The dense lower factor of ``S_rr`` (the terms after the first) in the dense mode; None in
        the sparse mode, where :attr:`lu` factors it (use :meth:`solve_rr`)."""
        return self.Ls[: self.core.mz, : self.core.mz] if self.mode == "dense" else None

    @property
    def L_XX(self) -> np.ndarray:
        """``R_X'``: the lower factor of the fixed-effects block after the random effects are
        eliminated ((p x p); ``vcov(beta) = sigma^2 (R_X' R_X)^-1``)."""
        o, p = self.xoff, self.core.p
        return self.Ls[o: o + p, o: o + p]

    def solve_rr(self, B: np.ndarray) -> np.ndarray:
        """``S_rr^-1 B`` in either mode (B dense, mz rows)."""
        B = np.asarray(B, dtype=float)
        if self.mode == "dense":
            return sla.cho_solve((self.L_rr, True), B, check_finite=False)
        return self.lu.solve(B)

    @property
    def L00inv(self) -> np.ndarray:
        """(l0, p0, p0): ``L00_k^-1`` per level of the first term."""
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
        """(q0, p+1): ``L00^-1 Lambda_0' Z0'W[X y]``; its first p columns are ``L_X0'``."""
        if "H" not in self._cache:
            c = self.core
            self._cache["H"] = np.einsum("lab,lac->lbc", self.G, c.C0).reshape(c.l0 * c.p0, c.p + 1)
        return self._cache["H"]

    @property
    def LZ0(self) -> sp.csr_matrix:
        """(mz, q0) sparse: ``L_r0 = Lambda_r' A_r0 blockdiag(G)``."""
        if "LZ0" not in self._cache:
            c = self.core
            if not c.mz:
                self._cache["LZ0"] = sp.csr_matrix((0, c.l0 * c.p0))
            else:
                self._cache["LZ0"] = (c._lambda_r(self.theta).T @ c.Ar0 @ c._block_diag(self.G)).tocsr()
        return self._cache["LZ0"]

    # ------------------------------------------------------------------ block solves (either mode)
    def solve_00(self, B):
        r"""``L_00^{-1} B``: the first term's factor applied level by level.

        ``L_00 = blockdiag(L00_k)`` (one p0 x p0 lower factor per level k of the first term,
        ``L00_k L00_k' = T0' Z0_k' W Z0_k T0 + I``).

        Parameters
        ----------
        B : ndarray or sparse matrix, (l0 p0, ...)
            Rows in the first term's order (level-major).

        Returns
        -------
        ndarray or scipy.sparse.csr_matrix
            ``L_00^{-1} B``, of B's shape; sparse when B is sparse.
        """
        c = self.core
        inv = np.asarray(self.L00inv, dtype=float).reshape(c.l0, c.p0, c.p0)
        if sp.issparse(B):
            if "L00inv_sparse" not in self._cache:
                self._cache["L00inv_sparse"] = sp.csr_matrix(c.first_block_diag(inv))
            return self._cache["L00inv_sparse"] @ B
        return (inv @ B.reshape(c.l0, c.p0, -1)).reshape(B.shape)

    def solve_00_rows(self, levels: np.ndarray, B: np.ndarray) -> np.ndarray:
        r"""Row by row, ``L00_{k_i}^{-1} b_i`` with ``k_i = levels[i]``.

        Parameters
        ----------
        levels : ndarray of int, (k,)
            A level of the first term for each row.
        B : ndarray, (k, p0)
            One p0-vector per row.

        Returns
        -------
        ndarray, (k, p0)
        """
        if B.shape[1] == 1:
            return B / self.L00[levels, 0, :]
        return np.linalg.solve(self.L00[levels], B[:, :, None])[:, :, 0]

    def split_rr(self, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Two halves of the quadratic form in ``S_rr^{-1}``: ``(U, V)`` with ``B_1' S_rr^{-1} B_2 = U_1' V_2``.

        ``S_rr = L_rr L_rr'`` is the Schur complement of the terms after the first, once the first
        is eliminated. With its dense Cholesky factor both halves are ``L_rr^{-1} B`` (one array,
        ``U is V``: ``U'V`` is then symmetric); with the sparse LU they are ``B`` and
        ``S_rr^{-1} B``. Without terms after the first (mz = 0) both are B.

        Parameters
        ----------
        B : ndarray, (mz, k)

        Returns
        -------
        (ndarray, ndarray), each (mz, k)
        """
        if not self.core.mz:
            return B, B
        if self.mode == "dense":
            W = sla.solve_triangular(self.L_rr, B, lower=True, check_finite=False)
            return W, W
        return B, self.lu.solve(np.asarray(B, dtype=float))

    def schur_quadform(self, B: np.ndarray, acc: np.ndarray | None = None) -> np.ndarray:
        r"""``diag(B' S^{-1} B)``, S the Schur complement of the first term in ``[Z_r Lambda_r, X]``.

        With the first term eliminated, the rest of the penalized system is

            S = [[S_rr, S_rX], [S_Xr, S_XX]] = L_S L_S',   L_S = [[L_rr, 0], [R_Xr', R_X']],

        so ``b' S^{-1} b = |L_S^{-1} b|^2``; with the sparse LU of ``S_rr``
        ``b' S^{-1} b = b_r' S_rr^{-1} b_r + |R_X^{-T} (b_X - S_Xr S_rr^{-1} b_r)|^2``.

        Parameters
        ----------
        B : ndarray, (mz + p, k)
            Columns ``b = [b_r; b_X]``.
        acc : ndarray, (k,), optional
            Added to in place (term by term) and returned: the first term's part of a longer
            quadratic form, say.

        Returns
        -------
        ndarray, (k,)
            ``acc + diag(B' S^{-1} B)`` (``acc`` itself when given).
        """
        mz = self.core.mz
        q = np.zeros(B.shape[1]) if acc is None else acc
        if self.mode == "dense":
            k0 = mz + self.core.p
            v = sla.solve_triangular(self.Ls[:k0, :k0], B, lower=True, check_finite=False)
            q += np.einsum("ij,ij->j", v, v)
            return q
        sr, sx = B[:mz], B[mz:]
        if mz:
            q += np.einsum("ij,ij->j", sr, self.lu.solve(sr))
            sx = sx - self.Y[:, : self.core.p].T @ sr
        vx = sla.solve_triangular(self.L_XX, sx, lower=True, check_finite=False)
        q += np.einsum("ij,ij->j", vx, vx)
        return q



class FactorMixin:
    """Factor, criterion and the pieces of the criterion at theta (methods of LmmCore)."""

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
        phi = self.layout.phi(theta)    # the template entries, which Lambda's pattern indexes
        if mz and not self._vec_terms:
            self._fill_scalar(S, phi, W, V, Hxy)
        else:
            np.copyto(S, self.R)
            if mz:
                if self._P is not None:
                    Sf = S.reshape(-1)
                    Sf[self._pflat] -= self._P @ W.reshape(-1)
                elif self._Ar0d is not None or self._Mg is not None:
                    S[:mz, :mz] -= self._product_M(W)
                else:
                    M = self._product_M(W)
                    S[M.row, M.col] -= M.data
                S[mz:, :mz] -= self._cross(V).T
            S[mz:, mz:] -= self._C0f.T @ V if Hxy is None else _hth(Hxy)
            if mz:
                self._scale_dense(S, phi, T)
        if mz:
            Sf = S.reshape(-1)
            Sf[self._diag_z] += 1.0
        Ls, info = lower_cholesky(S)
        if 0 < info < m:
            return None
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
        f = self._evaluation(theta)[0]
        if f is None:
            return math.inf
        return self.objective_from(f, reml)

    def _evaluation(self, theta):
        """``(f, solver)``: the factor an evaluation reads at theta (None outside the domain) and
        what solves with it: a small model's whole system (``LmmCore._whole_system``), else the
        blocked factor in the reused buffer and this core."""
        theta = np.asarray(theta, dtype=float)
        whole = self._whole_system()
        if whole is not None:
            return whole.factor(theta), whole
        return self._factor(theta, keep=False), self

    def objective_from(self, f: Factorization, reml: bool) -> float:
        if f.r2 <= 0:
            return math.inf
        if reml:
            nmp = self.n - self.p
            return f.ldL2 + f.ldRX2 + nmp * (1.0 + _LOG2PI + math.log(f.r2 / nmp)) - self.ldW
        return f.ldL2 + self.n * (1.0 + _LOG2PI + math.log(f.r2 / self.n)) - self.ldW

    def pieces(self, theta, with_rx: bool = False):
        """(log|L_Z|^2, log|R_X|^2, r^2[, (R_X'R_X)^-1]) at theta; None outside the domain."""
        f, solver = self._evaluation(theta)
        if f is None:
            return None
        if with_rx:
            return f.ldL2, f.ldRX2, f.r2, solver.rx_inverse(f)
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

