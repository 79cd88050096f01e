r"""A gradient method for the profiled criterion: L-BFGS-B with the exact gradient, and a way off
the saddles of the Cholesky parametrization at its bounds.

The criterion depends on theta only through ``Sigma_k = T_k T_k'``, which is unchanged when a
column of ``T_k`` changes sign. A column whose only nonzero entry is its diagonal (the last column
of every template, every scalar term) makes the criterion an even function of that entry, so its
derivative there is exactly 0 at the bound 0: a gradient method that reaches the bound stays on
it even where the criterion falls on moving back in (a saddle, not a minimum). BOBYQA's
interpolation steps see past it; L-BFGS-B needs a probe. At each coordinate that ends on its
bound the gradient is evaluated a small step ``h`` inside; a negative derivative there (the
criterion falls inward: curvature < 0 at the bound) restarts L-BFGS-B from that step. A
singular fit whose optimum is on the bound keeps it (the inward derivative is positive).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["lbfgs_minimize", "PROBE_STEP"]

PROBE_STEP = 1e-3   # how far inside a bound the inward derivative is probed (theta is a relative sd)
_RESTARTS = 5       # saddles left by a probe, at most
_PGTOL = 1e-7       # L-BFGS-B's projected-gradient tolerance (the criterion is O(n); its gradient O(1))


def lbfgs_minimize(fun_and_grad, x0, lower, *, ftol_abs: float, maxeval: int, f_scale: float = 1.0):
    r"""Minimize ``f`` with L-BFGS-B from ``x0`` within the lower bounds, using its exact gradient.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (f, g)``; a non-finite f is handed to L-BFGS-B as 1e300 with a zero
        gradient (its line search then steps back).
    x0, lower : numpy.ndarray
        Start and lower bounds (-inf for none).
    ftol_abs : float
        Stop when an iteration lowers f by less than about this (L-BFGS-B's relative ``ftol`` is
        ``ftol_abs / f_scale``), or when the projected gradient is below ``_PGTOL``.
    maxeval : int
        Largest number of calls of ``fun_and_grad`` in all.
    f_scale : float, optional
        The size of f (its value at the start, say).

    Returns
    -------
    x : numpy.ndarray
    fx : float
    nevals : int
        Calls of ``fun_and_grad`` (each one factorization).
    code : int
        NLopt's codes: 1 converged (success), 5 maxeval reached, -4 rounding limited (the line
        search found no lower point), -1 failure.
    message : str
        L-BFGS-B's last message, and the number of saddles left, if any.
    """
    from scipy.optimize import minimize

    lower = np.asarray(lower, dtype=float)
    bounds = [(lo if math.isfinite(lo) else None, None) for lo in lower]
    nevals = 0
    best = [np.array(x0, dtype=float), math.inf]

    def fg(x):
        nonlocal nevals
        if nevals >= maxeval:       # L-BFGS-B checks maxfun only between iterations
            raise _Spent
        nevals += 1
        v, g = fun_and_grad(x)
        if not math.isfinite(v):
            return 1e300, np.zeros_like(x)
        if v < best[1]:
            best[0], best[1] = np.array(x, dtype=float), v
        return v, np.asarray(g, dtype=float)

    x = np.array(x0, dtype=float)
    restarts, message, status = 0, "", 0
    ftol = ftol_abs / max(1.0, abs(f_scale)) if math.isfinite(f_scale) else ftol_abs
    while True:
        left = maxeval - nevals
        if left <= 0:
            status = 1
            break
        try:
            r = minimize(fg, x, jac=True, method="L-BFGS-B", bounds=bounds,
                         options={"ftol": ftol, "gtol": _PGTOL, "maxfun": left, "maxiter": left,
                                  "maxcor": 20})
            message, status = str(r.message), int(r.status)
            x = best[0].copy()
            if status not in (0, 2) or restarts >= _RESTARTS:
                break
            start = _off_saddles(fg, x, best[1], lower)
        except _Spent:
            message, status = "maximum number of evaluations reached", 1
            break
        if start is None:
            break
        restarts += 1
        x = start
    if restarts:
        message += f" (left {restarts} saddle(s) on the bounds)"
    # status 2: the line search found no lower point, rounding near the optimum (NLopt's roundoff-limited)
    code = {0: 1, 1: 5, 2: -4}.get(status, -1)
    return best[0], best[1], nevals, code, message


class _Spent(Exception):
    """The evaluation budget is spent (raised through scipy's L-BFGS-B to stop it at once)."""


def _off_saddles(fg, x, fx, lower):
    """A start a step inside the bounds where the criterion falls inward from the bound; None if
    it rises inward at every coordinate on its bound (x is then a minimum there)."""
    on = np.flatnonzero(np.isfinite(lower) & (x <= lower))
    out = x.copy()
    moved = False
    for j in on:
        trial = x.copy()
        trial[j] = lower[j] + PROBE_STEP
        v, g = fg(trial)
        if v < fx or g[j] < 0:
            out[j] = trial[j]
            moved = True
    return out if moved else None
