"""Numerical derivatives with Richardson extrapolation (the method of R's numDeriv).

Central differences at steps h, h/2, h/4, h/8 combined so that the O(h^2), O(h^4), ... error
terms cancel; lmerTest takes its Hessian and Jacobian this way, so ours match its numbers.
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
    """Second derivatives of a scalar f at x (first step 10% of |x|, as numDeriv's genD)."""
    x = np.asarray(x, dtype=float)
    k = x.size
    h = default_steps(x, d=0.1) if h is None else np.asarray(h, dtype=float)
    f0 = float(f(x))
    H = np.zeros((k, k))
    for i in range(k):
        est, hi = [], h[i]
        for _ in range(_R):
            e = np.zeros(k)
            e[i] = hi
            est.append((f(x + e) - 2 * f0 + f(x - e)) / (hi * hi))
            hi /= _V
        H[i, i] = _richardson(est)
    for i in range(k):
        for j in range(i):
            est, hi, hj = [], h[i], h[j]
            for _ in range(_R):
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i], ej[j] = hi, hj
                est.append((f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * hi * hj))
                hi /= _V
                hj /= _V
            H[i, j] = H[j, i] = _richardson(est)
    return H
