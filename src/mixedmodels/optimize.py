"""Minimize a profiled objective over theta with BOBYQA (NLopt), as lme4 and MixedModels.jl do."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ArgumentError, ConvergenceWarning, FitError

__all__ = ["OptInfo", "minimize_theta", "DEFAULT_CONTROL"]

DEFAULT_CONTROL = {
    "optimizer": "bobyqa",
    # lme4's nloptwrap: ftol_abs = xtol_abs = 1e-8, and nloptr's own default xtol_rel = 1e-4 (nloptwrap
    # does not override it). Same NLopt BOBYQA, same start, same stopping rule: the same iterates as R.
    "ftol_abs": 1e-8,
    "xtol_abs": 1e-8,
    "xtol_rel": 1e-4,
    "maxeval": 100_000,
    "boundary_tol": 1e-5,  # lme4's lmerControl(boundary.tol): snap near-zero theta to 0 if no worse
}

_ALGORITHMS = {"bobyqa": "LN_BOBYQA", "nelder_mead": "LN_NELDERMEAD", "cobyla": "LN_COBYLA",
               "sbplx": "LN_SBPLX", "praxis": "LN_PRAXIS"}


@dataclass(frozen=True)
class OptInfo:
    optimizer: str
    nevals: int
    code: int
    message: str
    converged: bool


def minimize_theta(fun, x0, lower, control=None, what="the REML criterion"):
    """Minimize ``fun(theta)`` from x0 within the lower bounds; return (theta, value, OptInfo)."""
    import nlopt

    ctl = dict(DEFAULT_CONTROL)
    if control:
        unknown = set(control) - set(ctl)
        if unknown:
            raise ArgumentError(f"unknown control setting(s) {sorted(unknown)}; known: {sorted(ctl)}")
        ctl.update(control)
    name = str(ctl["optimizer"]).lower()
    if name not in _ALGORITHMS:
        raise ArgumentError(f"unknown optimizer {ctl['optimizer']!r}; choose one of {sorted(_ALGORITHMS)}")
    x0 = np.asarray(x0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    f0 = fun(x0)
    if not math.isfinite(f0):
        raise FitError(f"{what} is not finite at the starting values theta={x0.tolist()}; check the data for "
                       "constant or collinear columns")
    n = x0.size
    nevals = 0
    best = [x0.copy(), f0]
    history: list[tuple[float, np.ndarray]] = [(f0, x0.copy())]

    def wrapped(x, grad):
        nonlocal nevals
        nevals += 1
        # BOBYQA starts by evaluating x0, which we already did
        v = f0 if nevals == 1 and np.array_equal(x, x0) else fun(x)
        if v < best[1]:
            best[0], best[1] = x.copy(), v
        if math.isfinite(v):
            history.append((v, x.copy()))
        return v if math.isfinite(v) else 1e300

    opt = nlopt.opt(getattr(nlopt, _ALGORITHMS[name]), n)
    opt.set_min_objective(wrapped)
    opt.set_lower_bounds(lower)
    opt.set_ftol_abs(float(ctl["ftol_abs"]))
    opt.set_xtol_abs(float(ctl["xtol_abs"]))
    opt.set_xtol_rel(float(ctl["xtol_rel"]))
    opt.set_maxeval(int(ctl["maxeval"]))
    try:
        x = np.asarray(opt.optimize(x0.copy()), dtype=float)
        code = opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        # NLopt gives up on rounding error near the optimum; its best point is still good
        x, code = best[0], nlopt.ROUNDOFF_LIMITED
    except (RuntimeError, ValueError) as e:
        raise FitError(f"the optimizer failed while minimizing {what}: {e}") from None
    fx = best[1] if np.array_equal(x, best[0]) else fun(x)
    # At convergence the last steps are so small that the objective ties to within a few ulps; NLopt
    # keeps the first of exactly tied points (strict <), so the point R reports is the earliest of
    # those ties. Our values differ from R's in the last bits: take the earliest point within 8 ulps
    # of the minimum, as R would have with exact ties.
    if history and math.isfinite(fx):
        tol = 8.0 * float(np.spacing(abs(fx)))
        for v, xv in history:
            if v <= fx + tol:
                if not np.array_equal(xv, x):
                    x, fx = xv, v
                break
    # lme4: values within boundary.tol of a bound are tried on the bound
    bt = float(ctl["boundary_tol"])
    if bt > 0:
        near = np.isfinite(lower) & (x - lower < bt) & (x != lower)
        if near.any():
            x2 = x.copy()
            x2[near] = lower[near]
            f2 = fun(x2)
            if f2 <= fx:
                x, fx = x2, f2
    messages = {1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
                5: "maximum number of evaluations reached", 6: "maxtime reached",
                -1: "failure", -2: "invalid arguments", -3: "out of memory", -4: "roundoff limited"}
    converged = code in (1, 2, 3, 4) or code == -4
    info = OptInfo(name, nevals, int(code), messages.get(int(code), str(code)), converged)
    if not converged:
        warnings.warn(f"the optimizer ({name}) stopped without converging: {info.message} after {nevals} "
                      "evaluations; try control={'maxeval': ...} larger, another optimizer "
                      "(control={'optimizer': 'nelder_mead'}), or rescaling predictors",
                      ConvergenceWarning, stacklevel=3)
    return x, float(fx), info
