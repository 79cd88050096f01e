r"""The last moves of a fit with structured covariances, to optima that a bounded search cannot reach.

A structure's correlation enters through an unbounded parameter r (:mod:`mixedmodels.core.structures`),
so a correlation at its bound (cs's rho = 1, say) lies at r = infinity: BOBYQA stops where the
criterion has become flat in r, ``1 - rho ~ 1/r^2`` short of the bound (1e-4 at r = 60 on
Orthodont's ``cs(0 + fage | Subject)``, 1.8e-4 above glmmTMB's criterion). And lme4's theta is
sd / sigma, so a fit whose optimum has no residual variance (sigma -> 0: a structured term over
every observation of a group, BodyWeight's ``cs(0 + fTime | Rat)`` by ML) lies at theta =
infinity along a ray; BOBYQA stops 3.9e-3 above the limit there. Two cheap trials each:

* every correlation parameter far out (``|r| > 8``, rho within ~1e-2 of its bound) is tried at
  the bound itself (``r = +-1e8``: rho equal to its bound in floating point);
* every scale entry of theta times 2, 4, ..., 300 (the ray towards sigma = 0; beyond that the
  criterion's rounding grows faster than it falls).

A trial is kept only where the criterion is lower.
"""
from __future__ import annotations

import numpy as np

__all__ = ["structured_ends"]

_FAR = 8.0                 # |r| beyond which a correlation is tried at its bound
_AT_BOUND = 1e8            # r whose rho equals its bound in floating point
_RAY = (2.0, 4.0, 10.0, 30.0, 100.0, 300.0)


def structured_ends(fun, theta: np.ndarray, value: float, layout) -> tuple[np.ndarray, float]:
    """The better of ``theta`` and the trials above.

    Parameters
    ----------
    fun : callable
        The criterion in theta.
    theta : numpy.ndarray
        Where the optimizer ended.
    value : float
        ``fun(theta)``.
    layout : ThetaLayout
        The model's layout (its structures).

    Returns
    -------
    (numpy.ndarray, float)
        theta and its criterion; ``theta`` itself where no trial is lower.
    """
    theta = np.asarray(theta, dtype=float)
    if layout.unstructured:
        return theta, value
    best, best_value = theta, float(value)
    corr = ~layout.is_diagonal() & np.concatenate(
        [np.full(s.size, s.name != "us") for s in layout.structures])
    far = [j for j in np.flatnonzero(corr) if abs(best[j]) > _FAR]
    for j in far:
        trial = best.copy()
        trial[j] = np.sign(trial[j]) * _AT_BOUND
        f = float(fun(trial))
        if np.isfinite(f) and f <= best_value:
            best, best_value = trial, f
    scales = layout.is_diagonal()
    base = best
    for k in _RAY:
        trial = np.where(scales, base * k, base)
        f = float(fun(trial))
        if np.isfinite(f) and f < best_value - 1e-9 * max(1.0, abs(best_value)):
            best, best_value = trial, f
    return best, best_value
