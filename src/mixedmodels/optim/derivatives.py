"""Numerical derivatives with Richardson extrapolation (the method of R's numDeriv).

Central differences at steps h, h/2, h/4, h/8 combined so that the O(h^2), O(h^4), ... error
terms cancel; lmerTest takes its Hessian (``numDeriv::hessian``, i.e. ``genD``) and Jacobian
(``numDeriv::jacobian``) this way, with the same steps and the same difference formulas as here,
so ours match its numbers. Both accept vector- (array-) valued functions, so several quantities
can be differentiated from the same evaluations.
"""
from __future__ import annotations

import numpy as np

__all__ = ["jacobian", "hessian", "default_steps"]

_R = 4     # number of Richardson steps
_V = 2.0   # step reduction factor


def default_steps(x: np.ndarray, d: float = 1e-4, eps: float = 1e-4) -> np.ndarray:
    """numDeriv's first step: relative d*|x|, absolute eps for x near zero."""
    x = np.asarray(x, dtype=float)
    zero_tol = np.sqrt(np.finfo(float).eps / 7e-7)
    return np.abs(d * x) + eps * (np.abs(x) < zero_tol)


def _richardson(estimates: list[np.ndarray]) -> np.ndarray:
    """Combine estimates at steps h, h/v, h/v^2... whose error is even in h."""
    a = [np.asarray(e, dtype=float) for e in estimates]
    for m in range(1, len(a)):
        four = _V ** (2 * m)
        a = [(four * a[i + 1] - a[i]) / (four - 1.0) for i in range(len(a) - 1)]
    return a[0]


def jacobian(f, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """d f / d x for a vector- (or array-) valued f; result shape f(x).shape + (len(x),)."""
    x = np.asarray(x, dtype=float)
    h = default_steps(x) if h is None else np.asarray(h, dtype=float)
    cols = []
    for i in range(x.size):
        est = []
        hi = h[i]
        for _ in range(_R):
            e = np.zeros_like(x)
            e[i] = hi
            est.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * hi))
            hi /= _V
        cols.append(_richardson(est))
    return np.stack(cols, axis=-1)


def hessian(f, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """Second derivatives of f at x, as numDeriv's hessian (genD with first step 10% of |x|).

    Diagonal: Richardson on ``(f(x+h e_i) - 2 f(x) + f(x-h e_i)) / h_i^2``; off-diagonal:
    Richardson on ``(f(x+h_i e_i+h_j e_j) - 2 f(x) + f(x-h_i e_i-h_j e_j) - H_ii h_i^2 - H_jj h_j^2)
    / (2 h_i h_j)``: 2 k^2 r + 1 evaluations. For an array-valued f the result has shape
    ``f(x).shape + (k, k)``.
    """
    x = np.asarray(x, dtype=float)
    k = x.size
    h0 = default_steps(x, d=0.1) if h is None else np.asarray(h, dtype=float)
    f0 = np.asarray(f(x), dtype=float)
    H = np.zeros(f0.shape + (k, k))
    diag = []
    for i in range(k):
        est = []
        h = h0.copy()
        for _ in range(_R):
            e = np.zeros(k)
            e[i] = h[i]
            est.append((np.asarray(f(x + e)) - 2 * f0 + np.asarray(f(x - e))) / (h[i] * h[i]))
            h = h / _V
        diag.append(_richardson(est))
        H[..., i, i] = diag[i]
    for i in range(k):
        for j in range(i):
            est = []
            h = h0.copy()
            for _ in range(_R):
                e = np.zeros(k)
                e[i] = h[i]
                e[j] = h[j]
                est.append((np.asarray(f(x + e)) - 2 * f0 + np.asarray(f(x - e))
                            - diag[i] * h[i] ** 2 - diag[j] * h[j] ** 2) / (2 * h[i] * h[j]))
                h = h / _V
            H[..., i, j] = H[..., j, i] = _richardson(est)
    return H
