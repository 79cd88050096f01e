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
Terms are ordered by decreasing number of levels (lme4's order). The first term's diagonal block
``Z_1'Z_1`` is block diagonal (one small p1 x p1 block per level) and is factored as a batch of
small Cholesky factors; its off-diagonal blocks are sparse; what remains (the other terms plus
``[X y]``) is a dense Schur complement factored by LAPACK. This is the shape that makes InstEval
fast: the 2972-level term never becomes a dense matrix.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["ThetaLayout", "LmmCore", "Factorization"]

_LOG2PI = math.log(2 * math.pi)


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
            self.rows.append(np.array(r))
            self.cols.append(np.array(c))
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
        """lme4's starting value: 1 on the diagonal, 0 elsewhere."""
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
    rows = np.repeat(np.arange(n), p)
    cols = (term.codes[:, None] * p + np.arange(p)[None, :]).ravel()
    return sp.csc_matrix((z.ravel(), (rows, cols)), shape=(n, term.q))


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


@dataclass
class Factorization:
    """The blocked Cholesky factor at one theta, and what the objective needs from it."""

    theta: np.ndarray
    T: list[np.ndarray]          # templates of each term
    L00: np.ndarray              # (l0, p0, p0) lower factors of the first term's diagonal blocks
    G: np.ndarray                # (l0, p0, p0) T0 L00^-T per level
    LZ0: sp.csr_matrix           # (mz, q0) sparse block of the other terms' rows
    H: np.ndarray                # (q0, p+1) transposed block of [X y]'s rows
    Ls: np.ndarray               # (mz+p+1)^2 lower factor of the dense Schur complement
    ldL2: float
    ldRX2: float
    r2: float


class LmmCore:
    """Crossproduct blocks of [Z X y], formed once; factor and objective at any theta."""

    def __init__(self, terms, X: np.ndarray, y: np.ndarray, weights=None, offset=None):
        self.terms = terms
        self.n, self.p = X.shape
        self.layout = ThetaLayout([t.p for t in terms])
        yy = y if offset is None else y - offset
        sw = None
        self.ldW = 0.0
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            sw = np.sqrt(w)
            pos = w > 0
            self.ldW = float(np.sum(np.log(w[pos])))
        Xy = np.column_stack([X, yy])
        if sw is not None:
            Xy = Xy * sw[:, None]
        t0 = terms[0]
        self.l0, self.p0 = t0.nlev, t0.p
        Z0 = _term_sparse(t0, sw)
        z0 = t0.z if sw is None else t0.z * sw[:, None]
        # Z0'Z0: one p0 x p0 block per level
        A00 = np.empty((self.l0, self.p0, self.p0))
        for a in range(self.p0):
            for b in range(a, self.p0):
                s = np.bincount(t0.codes, weights=z0[:, a] * z0[:, b], minlength=self.l0)
                A00[:, a, b] = s
                A00[:, b, a] = s
        self.A00 = A00
        # Z0'[X y] as (l0, p0, p+1)
        self.C0 = np.asarray(Z0.T @ Xy).reshape(self.l0, self.p0, self.p + 1)
        rest = terms[1:]
        self.mz = int(sum(t.q for t in rest))
        m = self.mz + self.p + 1
        R = np.empty((m, m))
        if rest:
            Zr = sp.hstack([_term_sparse(t, sw) for t in rest]).tocsc()
            self.Ar0 = (Zr.T @ Z0).tocsr()
            R[: self.mz, : self.mz] = (Zr.T @ Zr).toarray()
            ZX = np.asarray(Zr.T @ Xy)
            R[: self.mz, self.mz:] = ZX
            R[self.mz:, : self.mz] = ZX.T
            rr, cc, ii = _block_pattern(rest, self.layout.offsets[1:], self.layout.ps[1:])
            self._lam_pattern = (rr, cc, ii)
        else:
            self.Ar0 = sp.csr_matrix((0, t0.q))
            self._lam_pattern = None
        R[self.mz:, self.mz:] = Xy.T @ Xy
        self.R = R
        self._eye_z = np.arange(self.mz)
        self.nevals = 0

    # ------------------------------------------------------------------ factorization
    def factor(self, theta: np.ndarray) -> Factorization | None:
        """Blocked Cholesky factor at theta; None if a block is not positive definite."""
        theta = np.asarray(theta, dtype=float)
        T = self.layout.templates(theta)
        T0 = T[0]
        if self.p0 == 1:
            t = T0[0, 0]
            d = t * t * self.A00[:, 0, 0] + 1.0
            l = np.sqrt(d)
            L00 = l.reshape(-1, 1, 1)
            G = (t / l).reshape(-1, 1, 1)
            H = (G[:, 0, 0][:, None] * self.C0[:, 0, :])
        else:
            D = T0.T @ self.A00 @ T0
            D[:, np.arange(self.p0), np.arange(self.p0)] += 1.0
            try:
                L00 = np.linalg.cholesky(D)
            except np.linalg.LinAlgError:
                return None
            # G_j = T0 L00_j^{-T}
            Linv = np.linalg.inv(L00)
            G = T0[None, :, :] @ np.transpose(Linv, (0, 2, 1))
            H = np.einsum("lab,lac->lbc", G, self.C0).reshape(self.l0 * self.p0, self.p + 1)
        S = self.R.copy()
        if self.mz:
            rr, cc, ii = self._lam_pattern
            Lam = sp.csr_matrix((theta[ii], (rr, cc)), shape=(self.mz, self.mz))
            Gbd = self._block_diag(G)
            LZ0 = (Lam.T @ self.Ar0 @ Gbd).tocsr()
            # Lambda_r' R Lambda_r on the Z rows and columns
            S[: self.mz, :] = Lam.T @ S[: self.mz, :]
            S[:, : self.mz] = (Lam.T @ S[:, : self.mz].T).T
            S[self._eye_z, self._eye_z] += 1.0
            S[: self.mz, : self.mz] -= (LZ0 @ LZ0.T).toarray()
            ZH = np.asarray(LZ0 @ H)
            S[: self.mz, self.mz:] -= ZH
            S[self.mz:, : self.mz] -= ZH.T
        else:
            LZ0 = sp.csr_matrix((0, self.l0 * self.p0))
        S[self.mz:, self.mz:] -= H.T @ H
        try:
            Ls = sla.cholesky(S, lower=True, check_finite=False)
        except (sla.LinAlgError, np.linalg.LinAlgError):
            return None
        dg = np.diag(Ls)
        if not np.all(np.isfinite(dg)) or np.any(dg[:-1] <= 0):
            return None
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L00, axis1=1, axis2=2)))) + 2.0 * float(np.sum(np.log(dg[: self.mz])))
        ldRX2 = 2.0 * float(np.sum(np.log(dg[self.mz: self.mz + self.p])))
        r2 = float(dg[-1] ** 2)
        return Factorization(theta, T, L00, G, LZ0, H, Ls, ldL2, ldRX2, r2)

    def _block_diag(self, G: np.ndarray) -> sp.spmatrix:
        l0, p0 = self.l0, self.p0
        if p0 == 1:
            return sp.diags(G[:, 0, 0])
        return sp.bsr_matrix((G, np.arange(l0), np.arange(l0 + 1)), shape=(l0 * p0, l0 * p0))

    # ------------------------------------------------------------------ objective
    def objective(self, theta, reml: bool) -> float:
        """REML criterion or ML deviance (-2 log-likelihood) profiled over beta and sigma."""
        self.nevals += 1
        f = self.factor(theta)
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

    def deviance_vp(self, theta, sigma: float, reml: bool) -> float:
        """Deviance at (theta, sigma) with beta at its conditional estimate (lmerTest's devfun_vp)."""
        f = self.factor(theta)
        if f is None:
            return math.inf
        s2 = sigma * sigma
        if reml:
            return f.ldL2 + f.ldRX2 + (self.n - self.p) * (_LOG2PI + math.log(s2)) + f.r2 / s2 - self.ldW
        return f.ldL2 + self.n * (_LOG2PI + math.log(s2)) + f.r2 / s2 - self.ldW

    # ------------------------------------------------------------------ solutions
    def solve(self, f: Factorization) -> tuple[np.ndarray, list[np.ndarray]]:
        """beta and the spherical random effects u (one (nlev, p) array per term) at f."""
        Ls = f.Ls
        k = Ls.shape[0] - 1
        w = Ls[k, :k]
        x = sla.solve_triangular(Ls[:k, :k], w, lower=True, trans="T", check_finite=False)
        beta = x[self.mz:]
        u_rest = x[: self.mz]
        # first term: L00^T u0 = w0 - LZ0' u_rest - HX' beta  (HX: H without the y column)
        w0 = f.H[:, -1] - f.H[:, :-1] @ beta
        if self.mz:
            w0 = w0 - f.LZ0.T @ u_rest
        w0 = w0.reshape(self.l0, self.p0)
        L00T = np.transpose(f.L00, (0, 2, 1))
        u0 = np.linalg.solve(L00T, w0[:, :, None])[:, :, 0]
        us = [u0]
        off = 0
        for t in self.terms[1:]:
            us.append(u_rest[off: off + t.q].reshape(t.nlev, t.p))
            off += t.q
        return beta, us

    def rx_inverse(self, f: Factorization) -> np.ndarray:
        """(R_X' R_X)^{-1}: vcov(beta) / sigma^2."""
        LXX = f.Ls[self.mz: self.mz + self.p, self.mz: self.mz + self.p]
        Li = sla.solve_triangular(LXX, np.eye(self.p), lower=True, check_finite=False)
        return Li.T @ Li

    def cond_var_u(self, f: Factorization) -> list[np.ndarray]:
        """Diagonal blocks of (Lambda'Z'WZ Lambda + I)^{-1}, one (nlev, p, p) array per term."""
        L00inv = np.linalg.inv(f.L00)
        M00 = np.transpose(L00inv, (0, 2, 1)) @ L00inv
        out = []
        if self.mz:
            LZZ = f.Ls[: self.mz, : self.mz]
            Li = sla.solve_triangular(LZZ, np.eye(self.mz), lower=True, check_finite=False)
            # W = Ls^-1 LZ0 L00^-1 ; diag blocks of W'W are added to L00^-T L00^-1
            Binv = self._block_diag(L00inv)
            W = np.asarray((f.LZ0 @ Binv).T @ Li.T).T  # (mz, q0)
            W3 = W.reshape(self.mz, self.l0, self.p0)
            M00 = M00 + np.einsum("mla,mlb->lab", W3, W3)
            Mrr = Li.T @ Li
            out.append(M00)
            off = 0
            for t in self.terms[1:]:
                blk = Mrr[off: off + t.q, off: off + t.q]
                idx = np.arange(t.nlev)[:, None] * t.p + np.arange(t.p)[None, :]
                out.append(blk[idx[:, :, None], idx[:, None, :]])
                off += t.q
        else:
            out.append(M00)
        return out
