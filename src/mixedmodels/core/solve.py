r"""The solutions at a factor: beta, the spherical random effects u, (R_X'R_X)^-1 and the
conditional variances of u.

Methods of :class:`~mixedmodels.core.lmm.LmmCore` (a mixin) that read a
:class:`~mixedmodels.core.factor.Factorization` and the blocks the core holds. ``b = Lambda u``
is formed by the callers from these ``u``.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from ..errors import FitError
from .factor import Factorization

__all__ = ["SolveMixin"]


class SolveMixin:
    """beta and u, (R_X'R_X)^-1 and the diagonal blocks of the conditional variance of u."""

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
