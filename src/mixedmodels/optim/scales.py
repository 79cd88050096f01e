"""Parameter scales of glmer's fixed effects: steps that do not depend on a predictor's units.

lme4 steps 1e-4 in every parameter for its finite-difference Hessian and starts Nelder-Mead with
steps of 0.2 standard errors capped at 10. For a predictor in tiny units a step of 1e-4 in its
coefficient is lost in the rounding of the deviance; in huge units it spans many standard errors.
:func:`column_scales` gives each fixed effect a unit in which lme4's steps make sense (1, lme4's own,
for well-scaled predictors), and :func:`scaled_deriv12` differentiates in those units.
"""
from __future__ import annotations

import numpy as np

from .convergence import deriv12

__all__ = ["column_scales", "scales_of", "scaled_deriv12"]


# Predictors whose sd is in this range keep lme4's step of 1e-4 in their coefficient (lme4's numbers);
# others are stepped as if rescaled to the nearest end: below sd 0.1 a step of 1e-4 is lost in the
# rounding of the deviance (the standard errors of a predictor in 1e-4 units came out 3x too small),
# above sd 100 it spans many standard errors.
_SD_RANGE = (0.1, 100.0)


def column_scales(X: np.ndarray) -> np.ndarray:
    """Units of the fixed effects for finite differences and Nelder-Mead steps.

    Parameters
    ----------
    X : numpy.ndarray
        The fixed-effects model matrix.

    Returns
    -------
    numpy.ndarray
        One positive scale per column: 1 for columns of 0s and 1s (the intercept and dummies) and
        for columns with sd in ``_SD_RANGE`` (lme4's steps), else ``clip(sd) / sd`` (max|x| for
        another constant column). Outside the range a coefficient and its scale change alike with
        the predictor's units, so steps proportional to the scales do not depend on the units.
    """
    X = np.asarray(X, dtype=float)
    if not X.shape[0]:
        return np.ones(X.shape[1])
    return scales_of(np.std(X, axis=0), np.max(np.abs(X), axis=0), np.all((X == 0) | (X == 1), axis=0))


def scales_of(sd, big, is01) -> np.ndarray:
    """:func:`column_scales` from the columns' summaries: their (population) standard deviations,
    largest absolute values and whether each holds only 0s and 1s (what a pass over rows that are
    not in memory gives)."""
    out = np.ones(len(sd))
    lo, hi = _SD_RANGE
    for j in range(len(sd)):
        if is01[j]:
            continue
        size = float(sd[j]) if sd[j] > 1e-10 * big[j] else float(big[j])
        if size > 0:
            out[j] = min(max(size, lo), hi) / size
    return out


def scaled_deriv12(fun, x, scale, delta: float = 1e-4, fx: float | None = None):
    """:func:`deriv12` with the step of coordinate j equal to ``delta * scale[j]``.

    Differentiates ``z -> fun(x + scale * z)`` at z = 0 and transforms back, so that the result does
    not depend on the units of x when ``scale`` changes with them (a step of 1e-4 in a coefficient
    whose standard error is 1e4 is lost in the rounding of the deviance).

    Parameters
    ----------
    fun : callable
        The function, of a 1-d array.
    x : array_like
        Where to differentiate.
    scale : array_like
        The unit of each coordinate (see :func:`column_scales`).
    delta : float
        The step, in those units (lme4's 1e-4).
    fx : float, optional
        ``fun(x)`` if known (saves an evaluation).

    Returns
    -------
    (gradient, hessian) : tuple of numpy.ndarray
        In the units of x: ``g_j = g_z,j / scale_j`` and ``H_ij = H_z,ij / (scale_i scale_j)``.
    """
    x = np.asarray(x, dtype=float)
    s = np.asarray(scale, dtype=float)
    gz, Hz = deriv12(lambda z: fun(x + s * z), np.zeros_like(x), delta, fx)
    return gz / s, Hz / np.outer(s, s)
