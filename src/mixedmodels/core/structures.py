r"""Structured covariances of a random-effects term: theta -> the term's template T_k.

A term's relative covariance is ``Sigma_k / sigma^2 = T_k T_k'`` with ``T_k`` lower triangular
(p x p). lme4's unstructured term (``us``) puts one theta entry in every lower-triangle position.
A structure instead computes ``T_k`` from fewer parameters, as glmmTMB and lme4 2.x write them:

=========  ===========================================  =================================
structure  Sigma_k / sigma^2                            theta
=========  ===========================================  =================================
us         any                                          the lower triangle of T, by column
diag       diag(d_1^2 .. d_p^2)                         d_1 .. d_p  (>= 0)
homdiag    d^2 I                                        d  (>= 0)
cs         D R D, R = (1 - rho) I + rho 11'             d_1 .. d_p (>= 0), r
homcs      d^2 R,  R as for cs                          d (>= 0), r
ar1        d^2 R,  R_ij = rho^|i - j|                   d (>= 0), r
toep       D R D,  R_ij = rho_|i-j| (Toeplitz)          d_1 .. d_p (>= 0), r_1 .. r_(p-1)
=========  ===========================================  =================================

toep's correlations are reached through the partial autocorrelations ``pi_k = r_k/sqrt(1 + r_k^2)``
in (-1, 1), which give every positive-definite Toeplitz correlation matrix exactly once
(Durbin-Levinson: ``rho_k = sum_j phi_(k-1),j rho_(k-j) + pi_k (1 - sum_j phi_(k-1),j rho_j)``),
and its factor by a Cholesky decomposition written out (a complex step must not conjugate).

The correlation is reached through an unbounded r, ``rho = lo + (1 - lo)(1 + r/sqrt(1 + r^2))/2``
with ``lo = -1/(p - 1)`` for cs (R positive definite exactly on ``(lo, 1)``) and ``lo = -1`` for
ar1 (``rho = r / sqrt(1 + r^2)``, glmmTMB's map): the optimizers then need only the lower bound 0
of the sd's, as for lme4's terms. The factors of the correlation matrices R:

* AR(1): ``L_i0 = rho^i`` and ``L_ij = rho^(i-j) sqrt(1 - rho^2)`` for ``1 <= j <= i``;
* CS and Toeplitz: the Cholesky decomposition written out (:func:`_cholesky`), which a complex step
  passes through and which gives a zero column at a correlation's bound.

A term with one column has one parameter, its sd, in every structure. The derivative of T_k in
theta (for the exact gradient) is taken by the complex step, ``Im T(theta + i h e_j) / h``, exact
to rounding because every map above is analytic.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from ..formula.parse import STRUCTURES  # every structure a formula may name, as ``name(x | g)``

__all__ = ["STRUCTURES", "Structure"]

_STEP = 1e-20   # the complex step: no cancellation, so any tiny step is exact


class Structure:
    """The map theta -> T for one term of ``p`` columns under a named structure."""

    def __init__(self, name: str, p: int):
        if name not in STRUCTURES:
            raise ArgumentError(f"unknown covariance structure {name!r}; one of {', '.join(STRUCTURES)}")
        self.name = name if p > 1 else "us"
        self.p = p
        self.rows, self.cols = _lower_positions(p)

    # ------------------------------------------------------------------ sizes and bounds
    @property
    def size(self) -> int:
        """Number of theta entries."""
        p = self.p
        return {"us": p * (p + 1) // 2, "diag": p, "homdiag": 1, "cs": p + 1, "homcs": 2, "ar1": 2,
                "toep": 2 * p - 1}[self.name]

    def is_sd(self) -> np.ndarray:
        """Whether each entry is a scale (lower bound 0; lme4's diagonal entries of T)."""
        if self.name == "us":
            return self.rows == self.cols
        n_sd = {"diag": self.p, "homdiag": 1, "cs": self.p, "homcs": 1, "ar1": 1, "toep": self.p}[self.name]
        return np.arange(self.size) < n_sd

    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for the scales, -inf for the others."""
        return np.where(self.is_sd(), 0.0, -np.inf)

    def start(self) -> np.ndarray:
        """1 for the scales, a zero correlation (lme4's start for us)."""
        th = self.is_sd().astype(float)
        if self.name in ("cs", "homcs"):
            th[-1] = _r_of_rho(0.0, self._lo())
        return th

    # ------------------------------------------------------------------ theta -> T
    def template(self, theta: np.ndarray) -> np.ndarray:
        """The p x p lower-triangular T at theta (complex theta gives complex T)."""
        p, name = self.p, self.name
        T = np.zeros((p, p), dtype=np.result_type(theta, float))
        if name == "us":
            T[self.rows, self.cols] = theta
        elif name == "diag":
            T[np.arange(p), np.arange(p)] = theta
        elif name == "homdiag":
            T[np.arange(p), np.arange(p)] = theta[0]
        elif name == "toep":
            T = theta[:p][:, None] * _cholesky(_toeplitz(_autocorrelations(_pacf(theta[p:]))))
        else:
            rho = self.rho(theta)
            if name == "ar1":
                L = _ar1_cholesky(rho, p)
            else:   # compound symmetry: (1 - rho) I + rho 11'
                L = _cholesky((1.0 - rho) * np.eye(p) + rho * np.ones((p, p)))
            T = (theta[:p][:, None] if name == "cs" else theta[0]) * L
        return T

    def lower_entries(self, theta: np.ndarray) -> np.ndarray:
        """T's lower triangle by column (lme4's order): the template as an unstructured theta."""
        if self.name == "us":
            return theta
        return self.template(theta)[self.rows, self.cols]

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d lower_entries / d theta, (p(p+1)/2) x size, by the complex step."""
        if self.name == "us":
            return np.eye(self.size)
        J = np.empty((self.rows.size, self.size))
        for j in range(self.size):
            tz = np.asarray(theta, dtype=complex).copy()
            tz[j] += 1j * _STEP
            J[:, j] = self.lower_entries(tz).imag / _STEP
        return J

    # ------------------------------------------------------------------ correlation
    def _lo(self) -> float:
        return -1.0 if self.name == "ar1" else -1.0 / (self.p - 1)

    def rho(self, theta: np.ndarray):
        """The common correlation of cs, homcs and ar1 at theta."""
        r = theta[-1]
        lo = self._lo()
        return lo + (1.0 - lo) * (1.0 + r / np.sqrt(1.0 + r * r)) / 2.0

    def r_of_rho(self, rho: float) -> float | None:
        """Inverse of :meth:`rho`; None outside the open interval where R is positive definite."""
        return _r_of_rho(rho, self._lo())

    # ------------------------------------------------------------------ natural parameters
    def natural(self, theta: np.ndarray, sigma: float) -> np.ndarray | None:
        """(sd's, correlation) of a structured term in the data's units (toep: the correlations at
        lags 1 .. p-1); None for us (lme4's sd/cor parametrisation applies there)."""
        if self.name == "us":
            return None
        if self.name == "toep":
            p = self.p
            return np.append(sigma * np.asarray(theta[:p], dtype=float),
                             _autocorrelations(_pacf(np.asarray(theta[p:], dtype=float))))
        sd = sigma * np.asarray(theta[: self.p if self.name in ("diag", "cs") else 1], dtype=float)
        if self.name in ("diag", "homdiag"):
            return sd
        return np.append(sd, float(self.rho(theta)))

    def from_natural(self, values: np.ndarray, sigma: float) -> np.ndarray | None:
        """Inverse of :meth:`natural`; None where the values are no covariance."""
        v = np.asarray(values, dtype=float)
        if self.name in ("diag", "homdiag"):
            return v / sigma if np.all(v >= 0) else None
        if self.name == "toep":
            p = self.p
            pi = _pacf_of(v[p:])
            if pi is None or not np.all(v[:p] >= 0):
                return None
            return np.append(v[:p] / sigma, pi / np.sqrt(1.0 - pi * pi))
        r = self.r_of_rho(float(v[-1]))
        if r is None or not np.all(v[:-1] >= 0):
            return None
        return np.append(v[:-1] / sigma, r)

    def natural_names(self, cnames: list[str], group: str) -> list[str]:
        """Names of :meth:`natural`'s entries: ``sd_<col>|<group>``, ``rho_<structure>|<group>``;
        a common sd is named by the first column (glmmTMB prints the term on that row)."""
        cols = cnames if self.name in ("diag", "cs", "toep") else cnames[:1]
        names = [f"sd_{c}|{group}" for c in cols]
        if self.name == "toep":
            return names + [f"rho_lag{k}|{group}" for k in range(1, self.p)]
        if self.name in ("cs", "homcs", "ar1"):
            names.append(f"rho_{self.name}|{group}")
        return names


def _lower_positions(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the lower triangle, column by column (lme4's order of theta)."""
    r, c = [], []
    for j in range(p):
        for i in range(j, p):
            r.append(i)
            c.append(j)
    return np.array(r, dtype=np.intp), np.array(c, dtype=np.intp)


def _r_of_rho(rho: float, lo: float) -> float | None:
    a = 2.0 * (rho - lo) / (1.0 - lo) - 1.0
    if not -1.0 < a < 1.0:
        return None
    return a / np.sqrt(1.0 - a * a)


def _ar1_cholesky(rho, p: int) -> np.ndarray:
    """Lower Cholesky factor of the AR(1) correlation matrix (closed form)."""
    i = np.arange(p)
    lag = i[:, None] - i[None, :]
    s = np.sqrt(1.0 - rho * rho)
    L = np.where(lag >= 0, rho ** np.maximum(lag, 0), 0.0) * np.where(i[None, :] > 0, s, 1.0)
    return np.where(lag >= 0, L, 0.0)



def _pacf(r):
    """Partial autocorrelations in (-1, 1) from unbounded r."""
    return r / np.sqrt(1.0 + r * r)


def _autocorrelations(pi) -> np.ndarray:
    """rho_1 .. rho_m of the stationary process with partial autocorrelations pi (Durbin-Levinson)."""
    m = len(pi)
    rho = np.zeros(m, dtype=np.result_type(pi, float))
    phi = np.zeros(0, dtype=rho.dtype)
    for k in range(m):
        if k == 0:
            rho[0] = pi[0]
        else:
            rho[k] = phi @ rho[k - 1::-1] + pi[k] * (1.0 - phi @ rho[:k])
        phi = np.append(phi - pi[k] * phi[::-1], pi[k])
    return rho


def _pacf_of(rho: np.ndarray) -> np.ndarray | None:
    """Inverse of :func:`_autocorrelations`; None where the Toeplitz matrix is not positive definite."""
    m = len(rho)
    pi = np.zeros(m)
    phi = np.zeros(0)
    for k in range(m):
        den = 1.0 - (phi @ rho[:k] if k else 0.0)
        num = rho[k] - (phi @ rho[k - 1::-1] if k else 0.0)
        if not den > 0:
            return None
        pi[k] = num / den
        if not -1.0 < pi[k] < 1.0:
            return None
        phi = np.append(phi - pi[k] * phi[::-1], pi[k])
    return pi


def _toeplitz(rho) -> np.ndarray:
    """The correlation matrix with 1 on the diagonal and rho_k on the k-th off-diagonals."""
    c = np.concatenate([np.ones(1, dtype=np.result_type(rho, float)), rho])
    i = np.arange(len(c))
    return c[np.abs(i[:, None] - i[None, :])]


def _cholesky(A) -> np.ndarray:
    """Lower Cholesky factor, written out so that a complex step passes through it analytically
    (LAPACK's conjugates); p is a term's number of columns, a handful."""
    p = A.shape[0]
    L = np.zeros_like(A)
    complex_ = np.iscomplexobj(A)
    for j in range(p):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if not complex_ and d < 0:     # a correlation at its bound: a zero pivot, up to rounding
            d = 0.0
        L[j, j] = np.sqrt(d)
        if j + 1 < p and (L[j, j].real if complex_ else L[j, j]) > 0:
            L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L
