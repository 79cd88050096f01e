"""The driver, Powell's SUBROUTINE BOBYQA: checks the arguments, moves the start off the bounds, runs BOBYQB.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .bobyqb import bobyqb
from .objective import Objective

__all__ = ["STATUS_MESSAGES", "BobyqaResult", "bobyqa"]

#: messages for minqa's status codes
STATUS_MESSAGES = {
    0: "Normal exit from bobyqa: rho reached rhoend",
    1: "Return from bobyqa because calfun has been called maxfun times",
    3: "Return from bobyqa because a trust region step has failed to reduce q",
    5: "Return from bobyqa because of much cancellation in a denominator",
}


@dataclass
class BobyqaResult:
    """Outcome of :func:`bobyqa`.

    ``x`` and ``fun`` are the best point found and its value, ``nfev`` the number
    of evaluations of the objective, ``status`` minqa's code (0 normal exit,
    1 maxfun reached, 3 trust region step failed to reduce q, 5 too much
    cancellation in a denominator) and ``message`` the corresponding text.
    ``nrescue`` counts the calls of Powell's RESCUE (diagnostic).
    """

    x: np.ndarray
    fun: float
    nfev: int
    status: int
    message: str
    nrescue: int = 0


def bobyqa(
    fun: Callable[[np.ndarray], float],
    x0,
    lower,
    upper,
    *,
    rhobeg: float,
    rhoend: float,
    npt: int | None = None,
    maxfun: int = 10000,
    minqa_compat: bool = False,
) -> BobyqaResult:
    """Minimize ``fun(x)`` subject to ``lower <= x <= upper`` by Powell's BOBYQA.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``; ``x`` is a fresh 1-D float array.
    x0 : array_like
        Starting point, within the bounds.  As in Powell's driver, a component
        closer than ``rhobeg`` to a bound is moved onto that bound (if it is on
        it) or to distance ``rhobeg`` from it.
    lower, upper : float or array_like
        Bounds (``-inf`` / ``inf`` allowed).  Every ``upper - lower`` must be at
        least ``2 * rhobeg``.
    rhobeg, rhoend : float
        Initial and final trust-region radius, ``0 < rhoend <= rhobeg``.
    npt : int, optional
        Number of interpolation points, ``n + 2 <= npt <= (n+1)(n+2)/2``;
        default ``2n + 1`` (Powell's recommendation; lme4 uses ``n + 2``).
    maxfun : int, optional
        Maximum number of evaluations of ``fun``.
    minqa_compat : bool, optional
        Reproduce R package minqa (>= 1.2.5) instead of Powell's original code
        where the two differ: minqa does not put an ALTMOV step exactly onto the
        bound that limited it, and it replaces a non-finite value of ``fun`` by
        the largest double.

    Returns
    -------
    BobyqaResult
        The best point found, its value, the number of evaluations and minqa's
        status code (0, 1, 3 or 5) with its message.

    Raises
    ------
    ValueError
        For arguments outside the ranges above.
    """
    x, xl, xu, rhobeg, rhoend, npt, maxfun = _checked(x0, lower, upper, rhobeg, rhoend, npt, maxfun)
    x, xl, xu, sl, su = _start(x, xl, xu, rhobeg)
    n = len(x)
    calfun = Objective(fun, maxfun, minqa_compat)
    xbest, fbest, status = bobyqb(calfun, n, npt, x, xl, xu, rhobeg, rhoend, sl, su, minqa_compat)
    return BobyqaResult(
        x=np.array(xbest, dtype=float),
        fun=float(fbest),
        nfev=calfun.nf,
        status=status,
        message=STATUS_MESSAGES[status],
        nrescue=calfun.nrescue,
    )


def _checked(x0, lower, upper, rhobeg, rhoend, npt, maxfun):
    """The arguments of :func:`bobyqa`, checked: ``(x, xl, xu, rhobeg, rhoend, npt, maxfun)``."""
    x = np.array(x0, dtype=float).ravel()
    n = x.size
    if n < 1:
        raise ValueError("bobyqa: x0 must have at least one component")
    try:
        xl = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
        xu = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    except ValueError as exc:
        raise ValueError(f"bobyqa: lower and upper must be scalars or have length {n}") from exc
    if not np.all(np.isfinite(x)):
        raise ValueError("bobyqa: x0 must be finite")
    if np.any(np.isnan(xl)) or np.any(np.isnan(xu)):
        raise ValueError("bobyqa: the bounds must not be NaN")
    rhobeg = float(rhobeg)
    rhoend = float(rhoend)
    if not (math.isfinite(rhobeg) and rhobeg > 0.0):
        raise ValueError(f"bobyqa: rhobeg must be positive and finite, got {rhobeg}")
    if not (math.isfinite(rhoend) and rhoend > 0.0):
        raise ValueError(f"bobyqa: rhoend must be positive and finite, got {rhoend}")
    if rhoend > rhobeg:
        raise ValueError(f"bobyqa: rhoend ({rhoend}) must not exceed rhobeg ({rhobeg})")
    if npt is None:
        npt = 2 * n + 1
    if isinstance(npt, bool) or int(npt) != npt:
        raise ValueError(f"bobyqa: npt must be an integer, got {npt!r}")
    npt = int(npt)
    nmax = (n + 1) * (n + 2) // 2
    if npt < n + 2 or npt > nmax:
        raise ValueError(
            f"bobyqa: npt = {npt} is not in the required interval "
            f"[n+2, (n+1)(n+2)/2] = [{n + 2}, {nmax}] for n = {n}"
        )
    if isinstance(maxfun, bool) or int(maxfun) != maxfun or maxfun < 1:
        raise ValueError(f"bobyqa: maxfun must be a positive integer, got {maxfun!r}")
    maxfun = int(maxfun)
    bad = np.flatnonzero((x < xl) | (x > xu))
    if bad.size:
        raise ValueError(f"bobyqa: x0 violates the bounds in component(s) {bad.tolist()}")
    return x, xl, xu, rhobeg, rhoend, npt, maxfun


def _start(x, xl, xu, rhobeg):
    """Powell's driver: the start moved off the bounds, as lists ``(x, xl, xu, sl, su)``."""
    # Return if there is insufficient space between the bounds. Modify the
    # initial X if necessary in order to avoid conflicts between the bounds and
    # the construction of the first quadratic model. The lower and upper bounds
    # on moves from the updated X are set now, in SL and SU, in order to
    # provide useful and exact information about components of X that become
    # within distance RHOBEG from their bounds.
    x = x.tolist()
    xl = xl.tolist()
    xu = xu.tolist()
    n = len(x)
    sl = [0.0] * n
    su = [0.0] * n
    for j in range(n):
        temp = xu[j] - xl[j]
        if temp < rhobeg + rhobeg:
            raise ValueError(
                f"bobyqa: upper - lower = {temp} is less than 2*rhobeg = {2 * rhobeg} "
                f"in component {j}"
            )
        sl[j] = xl[j] - x[j]
        su[j] = xu[j] - x[j]
        if sl[j] >= -rhobeg:
            if sl[j] >= 0.0:
                x[j] = xl[j]
                sl[j] = 0.0
                su[j] = temp
            else:
                x[j] = xl[j] + rhobeg
                sl[j] = -rhobeg
                su[j] = max(xu[j] - x[j], rhobeg)
        elif su[j] <= rhobeg:
            if su[j] <= 0.0:
                x[j] = xu[j]
                sl[j] = -temp
                su[j] = 0.0
            else:
                x[j] = xu[j] - rhobeg
                sl[j] = min(xl[j] - x[j], -rhobeg)
                su[j] = rhobeg
    return x, xl, xu, sl, su
