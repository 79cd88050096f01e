"""Newton polish: from where a derivative-free optimizer stopped to the minimum it was near.

A derivative-free optimizer stops when its trust region or simplex is small, not when the
gradient is zero; on a flat surface that can be 1e-4 above the minimum in the deviance (glmer's
cbpp: NLopt's BOBYQA at tight tolerances stopped 1.1e-4 above it). The fit computes the gradient
``g`` and Hessian ``H`` at the end anyway (lme4's convergence check and glmer's covariance of beta),
so one Newton step costs nothing more than a second such check.

With the parameters on a bound (a variance parameter theta_i = 0) held fixed where the gradient
pushes them outward, the step on the free set F is

.. math::  d_F = -H_{FF}^{-1} g_F, \\qquad \\lambda^2 = g_F^\\top H_{FF}^{-1} g_F,

and ``lambda^2 / 2`` (the Newton decrement) is what a quadratic model promises to gain. The step is
taken only when that gain is worth it (``min_gain``), H_FF is positive definite, and the criterion
at the new point is lower (halving the step up to four times otherwise, and clipping it at the
bounds); the derivatives are then computed again, so that the reported gradient, Hessian and the
covariance built from them belong to the point returned.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import linalg

__all__ = ["newton_polish", "newton_step", "MIN_GAIN"]

#: The smallest gain (in the criterion) a polish step is taken for; far below what R prints
#: (deviances to 0.1 or 0.01) and above the finite-difference noise of the derivatives.
MIN_GAIN = 1e-7


def newton_polish(fun, derivatives, x, fx: float, g, H, lower, *, min_gain: float = MIN_GAIN,
                  max_steps: int = 3):
    """Newton steps from ``x`` while they lower ``fun`` by more than ``min_gain``.

    Parameters
    ----------
    fun : callable
        The criterion, of a 1-d array (``inf`` where undefined).
    derivatives : callable
        ``x -> (g, H)``: gradient and Hessian at x, in the units of x.
    x : array_like
        Where the optimizer stopped.
    fx : float
        ``fun(x)``.
    g, H : numpy.ndarray
        ``derivatives(x)``, already computed.
    lower : array_like
        Lower bounds (``-inf`` where none).
    min_gain : float
        Newton decrement ``lambda^2 / 2`` below which no step is taken.
    max_steps : int
        Most Newton steps.

    Returns
    -------
    (x, fx, g, H, steps) : tuple
        The point, its criterion and derivatives (those passed in when no step was taken), and
        the number of steps taken.
    """
    x = np.asarray(x, dtype=float).copy()
    lower = np.asarray(lower, dtype=float)
    steps = 0
    for _ in range(max_steps):
        step = newton_step(x, g, H, lower)
        if step is None or not step[1] > min_gain:
            break
        d = step[0]
        moved = False
        t = 1.0
        for _halving in range(5):
            xn = np.maximum(x + t * d, lower)
            fn = fun(xn)
            if math.isfinite(fn) and fn < fx - 0.25 * min_gain:
                moved = True
                break
            t *= 0.5
        if not moved:
            break
        x, fx = xn, fn
        g, H = derivatives(x)
        steps += 1
    return x, fx, g, H, steps


def newton_step(x, g, H, lower):
    """The Newton step on the free set and the gain it promises, ``(d, lambda^2 / 2)``; None where
    H is not positive definite there or nothing is free.

    Parameters
    ----------
    x, g, H, lower : numpy.ndarray
        The point, the gradient and Hessian there, the lower bounds.
    """
    x = np.asarray(x, dtype=float)
    if g is None or H is None or not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        return None
    g = np.asarray(g, dtype=float)
    # a parameter on its bound stays there when the criterion rises inward (g >= 0)
    free = ~((x <= lower) & (g >= 0))
    if not free.any():
        return None
    gF = g[free]
    HF = np.asarray(H, dtype=float)[np.ix_(free, free)]
    try:
        c = linalg.cho_factor(HF, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return None
    dF = -linalg.cho_solve(c, gF, check_finite=False)
    d = np.zeros_like(x)
    d[free] = dF
    return d, 0.5 * float(-gF @ dF)
