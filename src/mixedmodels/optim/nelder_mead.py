"""lme4's Nelder-Mead simplex, glmer's stage-2 optimizer (lme4's C++ ``Nelder_Mead``).

lme4 ships its own port of NLopt's ``nldrmd``: bounds are kept by pinning reflected points to them,
and the search stops when every coordinate of the simplex is within ``xt`` of its centroid (or
after ``maxfun`` evaluations). It is reproduced step by step here -- the same initial simplex, the
same order of reflection, expansion, contraction and shrink, the same tests -- because with lme4's
deviance function the same steps give lme4's iterates, hence its estimates to many digits.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConvergenceWarning, FitError, warn as _warn
from .nlopt import OptInfo

__all__ = ["NelderMead", "nelder_mead"]


class NelderMead:
    """lme4's Nelder-Mead simplex (its C++ ``Nelder_Mead``, after NLopt's nldrmd): bounds by
    pinning, stopping when every coordinate of the simplex is within ``xt`` of the centroid
    (or after ``maxfun`` evaluations). glmer's stage 2 uses it with lme4's initial steps, so that
    with lme4's deviance function the iterates are lme4's.
    """

    ALPHA, BETA, GAMMA, DELTA = 1.0, 0.5, 2.0, 0.5

    def __init__(self, lower, upper, xstep, x0, xt, maxfun: int = 10000, xtol_rel: float = 1e-7):
        self.lb = np.asarray(lower, dtype=float)
        self.ub = np.asarray(upper, dtype=float)
        self.xt = np.asarray(xt, dtype=float)
        self.xtol_rel = xtol_rel
        self.maxfun = maxfun
        x0 = np.asarray(x0, dtype=float)
        xstep = np.asarray(xstep, dtype=float)
        n = self.n = x0.size
        if np.any(x0 < self.lb) or np.any(x0 > self.ub):
            raise FitError("Nelder-Mead: initial x is not a feasible point")
        pts = np.repeat(x0[:, None], n + 1, axis=1)
        for i in range(n):
            j = i + 1
            pts[i, j] += xstep[i]
            if pts[i, j] > self.ub[i]:
                pts[i, j] = self.ub[i] if self.ub[i] - x0[i] > abs(xstep[i]) * 0.1 else x0[i] - abs(xstep[i])
            if pts[i, j] < self.lb[i]:
                if x0[i] - self.lb[i] > abs(xstep[i]) * 0.1:
                    pts[i, j] = self.lb[i]
                else:
                    pts[i, j] = x0[i] + abs(xstep[i])
                    if pts[i, j] > self.ub[i]:
                        pts[i, j] = 0.5 * ((self.ub[i] if self.ub[i] - x0[i] > x0[i] - self.lb[i] else self.lb[i])
                                           + x0[i])
            if self._close(pts[i, j], x0[i]):
                raise FitError("Nelder-Mead: cannot generate a feasible simplex")
        self.pts = pts
        self.vals = np.full(n + 1, np.finfo(float).tiny)
        self.x = x0.copy()
        self.xeval = x0.copy()
        self.xcur = x0.copy()
        self.minf = math.inf
        self.stage = "restart"
        self.init_pos = 0
        self.nevals = 0
        self.f_old = math.nan

    @staticmethod
    def _close(a, b) -> bool:
        return abs(a - b) <= 1e-13 * (abs(a) + abs(b))

    def _reflect(self, c, scale, xold):
        xnew = c + scale * (c - xold)
        xnew = np.minimum(np.maximum(xnew, self.lb), self.ub)
        equalc = all(self._close(a, b) for a, b in zip(xnew, c))
        equalold = all(self._close(a, b) for a, b in zip(xnew, xold))
        return xnew, not (equalc or equalold)

    def _xconverged(self, dev) -> bool:
        for i in range(self.n):
            vold = dev[i]
            if math.isinf(vold):
                return False
            d = abs(0.0 - vold)
            if not (d < self.xt[i] or d < self.xtol_rel * abs(vold) * 0.5 or (self.xtol_rel > 0 and vold == 0.0)):
                return False
        return True

    def newf(self, f: float) -> str:
        """Give the value at ``xeval``; returns "active", "xcvg" or "evals"."""
        self.nevals += 1
        if f < self.minf:
            self.minf = f
            self.x = self.xeval.copy()
        if self.nevals > self.maxfun:
            return "evals"
        if self.init_pos <= self.n:
            return self._init(f)
        return getattr(self, "_" + self.stage)(f)

    def _init(self, f):
        self.vals[self.init_pos] = f
        self.init_pos += 1
        if self.init_pos > self.n:
            return self._restart(f)
        self.xeval = self.pts[:, self.init_pos].copy()
        return "active"

    def _restart(self, f):
        self.il = int(np.argmin(self.vals))
        self.ih = int(np.argmax(self.vals))
        self.fl = float(self.vals[self.il])
        self.fh = float(self.vals[self.ih])
        self.c = (self.pts.sum(axis=1) - self.pts[:, self.ih]) / self.n
        dev = np.max(np.abs(self.pts - self.c[:, None]), axis=1)
        if self._xconverged(dev):
            return "xcvg"
        xnew, ok = self._reflect(self.c, self.ALPHA, self.pts[:, self.ih])
        self.xcur = xnew
        if not ok:
            return "xcvg"
        self.xeval = xnew.copy()
        self.stage = "postreflect"
        return "active"

    def _postreflect(self, f):
        if f < self.fl:
            xnew, ok = self._reflect(self.c, self.GAMMA, self.pts[:, self.ih])
            self.xeval = xnew
            if not ok:
                return "xcvg"
            self.stage = "postexpand"
            self.f_old = f
            return "active"
        if f < self.fh:
            self.vals[self.ih] = f
            self.pts[:, self.ih] = self.xeval
            return self._restart(f)
        xnew, ok = self._reflect(self.c, -self.BETA if self.fh <= f else self.BETA, self.pts[:, self.ih])
        self.xcur = xnew
        if not ok:
            return "xcvg"
        self.f_old = f
        self.xeval = xnew.copy()
        self.stage = "postcontract"
        return "active"

    def _postexpand(self, f):
        if f < self.vals[self.ih]:
            self.pts[:, self.ih] = self.xeval
            self.vals[self.ih] = f
        else:
            self.pts[:, self.ih] = self.xcur
            self.vals[self.ih] = self.f_old
        return self._restart(f)

    def _postcontract(self, f):
        if f < self.f_old and f < self.fh:
            self.pts[:, self.ih] = self.xeval
            self.vals[self.ih] = f
            return self._restart(f)
        for i in range(self.n + 1):
            if i != self.il:
                xnew, ok = self._reflect(self.pts[:, self.il], -self.DELTA, self.pts[:, i])
                self.xeval = xnew
                if not ok:
                    return "xcvg"
                self.pts[:, i] = xnew
        self.init_pos = 0
        self.xeval = self.pts[:, 0].copy()
        return "active"

    def run(self, fun):
        """Evaluate ``fun`` where the simplex asks until it stops; returns (best x, its value, status)."""
        while True:
            status = self.newf(float(fun(self.xeval)))
            if status != "active":
                return self.x.copy(), self.minf, status


def nelder_mead(fun, x0, lower, xst, xt, maxfun: int = 10000):
    """Minimize ``fun`` from ``x0`` above ``lower`` with lme4's Nelder-Mead, as glmer's stage 2 runs it.

    Parameters
    ----------
    fun : callable
        The objective, a function of a 1-d array.
    x0 : array_like
        The start (feasible: at or above ``lower``).
    lower : array_like
        Lower bounds (``-inf`` for none); there are no upper bounds.
    xst : array_like
        The initial steps, one per coordinate (lme4's ``xst``).
    xt : array_like
        The absolute tolerances on the coordinates (lme4's ``xt``, 5e-4 times the steps).
    maxfun : int
        The most evaluations.

    Returns
    -------
    (x, fx, info) : tuple
        The best point, its value and an :class:`~mixedmodels.optim.nlopt.OptInfo`; a
        :class:`~mixedmodels.errors.ConvergenceWarning` when ``maxfun`` ran out.
    """
    nm = NelderMead(lower, np.full(len(x0), np.inf), xst, x0, xt, maxfun=maxfun)
    x, fx, status = nm.run(lambda v: fun(v))
    conv = status == "xcvg"
    info = OptInfo("Nelder_Mead", nm.nevals, 0 if conv else 4,
                   "parameter values converged to within tolerance" if conv else
                   f"failure to converge in {maxfun} evaluations", conv)
    if not conv:
        _warn(f"Nelder-Mead: failure to converge in {maxfun} evaluations; try "
              "control={'maxeval': ...} larger", ConvergenceWarning, stacklevel=4)
    return x, fx, info
