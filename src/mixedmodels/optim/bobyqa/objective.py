"""CALFUN: the objective as BOBYQA calls it, counting evaluations, and the point it is given.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math
import sys

import numpy as np

__all__ = ["Objective", "point"]


class Objective:
    """CALFUN: evaluates the user's function on a fresh numpy array, counts NF.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``.
    maxfun : int
        The largest number of evaluations (read by the subroutines).
    minqa_compat : bool
        Map a non-finite value to the largest double, as minqa does.
    """

    def __init__(self, fun, maxfun, minqa_compat):
        self.fun = fun
        self.maxfun = maxfun
        self.minqa_compat = minqa_compat
        self.nf = 0
        self.nrescue = 0

    def __call__(self, x):
        self.nf += 1
        f = float(self.fun(np.array(x, dtype=float)))
        if self.minqa_compat and not math.isfinite(f):
            f = sys.float_info.max
        return f


def point(xbase, xstep, xl, xu, sl, su):
    """The vector of variables XBASE+XSTEP handed to CALFUN, with exact bounds.

    ``X(I)=DMIN1(DMAX1(XL(I),XBASE(I)+XSTEP(I)),XU(I))``, and ``X(I)`` is set to
    the bound itself when ``XSTEP(I)`` equals ``SL(I)`` or ``SU(I)``.

    Parameters
    ----------
    xbase, xstep : list of float
        The origin and the displacement from it.
    xl, xu, sl, su : list of float
        The bounds, and the bounds less XBASE.

    Returns
    -------
    list of float
        The point.
    """
    x = []
    for i in range(len(xstep)):
        v = xbase[i] + xstep[i]
        v = xl[i] if xl[i] >= v else v
        v = v if v <= xu[i] else xu[i]
        if xstep[i] == sl[i]:
            v = xl[i]
        if xstep[i] == su[i]:
            v = xu[i]
        x.append(v)
    return x
