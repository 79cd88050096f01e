"""NLopt for the package: minimizing a profiled objective over theta with BOBYQA, as lme4 and MixedModels.jl do.

:func:`nlopt_minimize` is the one place NLopt is called (the fits here, the profiles of
inference/confint.py); :func:`minimize_theta` adds lme4's handling around it (its settings, the
start, ties at the optimum, boundary.tol). The checks of the user's settings follow.
"""
from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, ConvergenceWarning, FitError, warn

__all__ = ["OptInfo", "minimize_theta", "nlopt_minimize", "DEFAULT_CONTROL", "MAX_EVALS", "OPTIMIZERS",
           "GRADIENT_OPTIMIZERS", "check_maxeval",
           "check_setting_number", "unknown_settings_error", "check_vector", "check_start", "check_control"]

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
OPTIMIZERS = tuple(sorted(_ALGORITHMS))
# optimizers that need the criterion's gradient (minimize_theta's fun_and_grad): lmer's only
GRADIENT_OPTIMIZERS = ("lbfgs",)
MAX_EVALS = 2**31 - 1  # NLopt keeps maxeval in a C int: a larger one overflows inside nlopt


@dataclass(frozen=True)
class OptInfo:
    """How the optimizer ended: its name, evaluations, NLopt's result code and message, convergence."""

    optimizer: str
    nevals: int
    code: int
    message: str
    converged: bool


_MESSAGES = {1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
             5: "maximum number of evaluations reached", 6: "maxtime reached",
             -1: "failure", -2: "invalid arguments", -3: "out of memory", -4: "roundoff limited"}
_ROUNDOFF_LIMITED = -4  # nlopt.ROUNDOFF_LIMITED


def nlopt_minimize(objective, x0, lower, upper=None, *, ftol_abs: float, xtol_abs: float,
                   xtol_rel: float | None = None, maxeval: int, algorithm: str = "bobyqa",
                   initial_step=None) -> tuple[np.ndarray | None, int]:
    """Run one NLopt minimization: the package's only call of NLopt.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> float``, called with NLopt's array. A non-finite value is handed to NLopt
        as 1e300 (BOBYQA's model breaks on inf or NaN; a huge value just makes it step back).
    x0 : numpy.ndarray
        Starting point (a copy is given to NLopt).
    lower, upper : numpy.ndarray
        Bounds; ``upper=None`` leaves NLopt's default (none).
    ftol_abs, xtol_abs : float
        NLopt's absolute tolerances on the objective and on x.
    xtol_rel : float, optional
        NLopt's relative tolerance on x; None leaves NLopt's default.
    maxeval : int
        Largest number of evaluations (already checked, see :func:`check_maxeval`).
    algorithm : str, optional
        A key of ``OPTIMIZERS`` (``"bobyqa"``: NLopt's LN_BOBYQA).
    initial_step : numpy.ndarray, optional
        NLopt's initial step; None leaves NLopt's choice.

    Returns
    -------
    x : numpy.ndarray or None
        NLopt's final point; None when NLopt stopped on rounding error (``nlopt.RoundoffLimited``):
        the caller's best point so far is then the answer.
    code : int
        NLopt's result code (-4 for the rounding-error stop).

    Raises
    ------
    RuntimeError, ValueError
        As NLopt raises them (failure, invalid arguments).
    """
    import nlopt

    def wrapped(x, grad):
        v = objective(x)
        return v if math.isfinite(v) else 1e300

    opt = nlopt.opt(getattr(nlopt, _ALGORITHMS[algorithm]), np.asarray(x0).size)
    opt.set_min_objective(wrapped)
    opt.set_lower_bounds(lower)
    if upper is not None:
        opt.set_upper_bounds(upper)
    opt.set_ftol_abs(float(ftol_abs))
    opt.set_xtol_abs(float(xtol_abs))
    if xtol_rel is not None:
        opt.set_xtol_rel(float(xtol_rel))
    opt.set_maxeval(int(maxeval))
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    try:
        x = np.asarray(opt.optimize(np.array(x0, dtype=float)), dtype=float)
    except nlopt.RoundoffLimited:
        return None, _ROUNDOFF_LIMITED
    return x, int(opt.last_optimize_result())


def minimize_theta(fun, x0, lower, control=None, what="the REML criterion", fun_and_grad=None):
    """Minimize a profiled criterion ``fun(theta)`` from ``x0`` within the lower bounds, as lme4.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> float``.
    x0, lower : array_like
        Start and lower bounds of theta.
    control : dict, optional
        Settings overriding ``DEFAULT_CONTROL`` (optimizer, tolerances, maxeval, boundary_tol).
    what : str, optional
        The criterion's name, for messages.
    fun_and_grad : callable, optional
        ``fun_and_grad(theta) -> (value, gradient)``, for ``control={"optimizer": "lbfgs"}``
        (L-BFGS-B with the exact gradient, :func:`~mixedmodels.optim.gradient_opt.lbfgs_minimize`).
        Without it "lbfgs" runs BOBYQA (and ``info.optimizer`` says so): the refits that minimize
        a criterion with no gradient (profiles, ranova, influence) under a model's control reach
        the same optimum that way.

    Returns
    -------
    theta : numpy.ndarray
        The optimum: NLopt's point, or the earliest point tied with it (:func:`_earliest_tie`),
        moved onto a bound within ``boundary_tol`` if that is no worse (:func:`_onto_bounds`).
    value : float
        ``fun(theta)``.
    info : OptInfo
        Optimizer, evaluations, NLopt's code and message, and whether it converged (warns if not).

    Raises
    ------
    ArgumentError
        For unknown settings or optimizer.
    FitError
        When ``fun(x0)`` is not finite, or NLopt fails.
    """
    ctl = _settings(control)
    name = str(ctl["optimizer"]).lower()
    if name in GRADIENT_OPTIMIZERS and fun_and_grad is None:
        name = "bobyqa"
    x0 = np.asarray(x0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    f0 = fun(x0)
    if not math.isfinite(f0):
        raise FitError(f"{what} is not finite at the starting values theta={x0.tolist()}; check the data for "
                       "constant or collinear columns")
    if name in GRADIENT_OPTIMIZERS:
        x, fx, nevals, code, message = _gradient_run(fun_and_grad, x0, f0, lower, ctl, what)
        x, fx = _onto_bounds(fun, x, fx, lower, float(ctl["boundary_tol"]))
    else:
        x, fx, nevals, code = _nlopt_run(fun, x0, f0, lower, ctl, name, what)
        message = _MESSAGES.get(int(code), str(code))
    converged = code in (1, 2, 3, 4) or code == _ROUNDOFF_LIMITED
    info = OptInfo(name, nevals, int(code), message, converged)
    if not converged:
        warn(f"the optimizer ({name}) stopped without converging: {info.message} after {nevals} "
             "evaluations; try control={'maxeval': ...} larger, another optimizer "
             "(control={'optimizer': 'nelder_mead'}), or rescaling predictors",
             ConvergenceWarning, stacklevel=3)
    return x, float(fx), info


def _nlopt_run(fun, x0, f0, lower, ctl, name, what):
    """NLopt from x0 (whose value f0 is known): (x, f(x), evaluations, NLopt's code), with R's ties."""
    nevals = 0
    best = [x0.copy(), f0]
    history: list[tuple[float, np.ndarray]] = [(f0, x0.copy())]

    def tracked(x):
        nonlocal nevals
        nevals += 1
        # BOBYQA starts by evaluating x0, which we already did
        v = f0 if nevals == 1 and np.array_equal(x, x0) else fun(x)
        if v < best[1]:
            best[0], best[1] = x.copy(), v
        if math.isfinite(v):
            history.append((v, x.copy()))
        return v

    try:
        x, code = nlopt_minimize(tracked, x0, lower, ftol_abs=ctl["ftol_abs"], xtol_abs=ctl["xtol_abs"],
                                 xtol_rel=ctl["xtol_rel"], maxeval=check_maxeval(ctl["maxeval"]),
                                 algorithm=name)
    except (RuntimeError, ValueError) as e:
        raise FitError(f"the optimizer failed while minimizing {what}: {e}") from None
    if x is None:  # NLopt gave up on rounding error near the optimum; its best point is still good
        x = best[0]
    fx = best[1] if np.array_equal(x, best[0]) else fun(x)
    x, fx = _earliest_tie(history, x, fx)
    x, fx = _onto_bounds(fun, x, fx, lower, float(ctl["boundary_tol"]))
    return x, fx, nevals, code


def _gradient_run(fun_and_grad, x0, f0, lower, ctl, what):
    """L-BFGS-B with the exact gradient (optim/gradient_opt.py): (x, f(x), evaluations, code, message)."""
    from .gradient_opt import lbfgs_minimize

    try:
        return lbfgs_minimize(fun_and_grad, x0, lower, ftol_abs=float(ctl["ftol_abs"]),
                              maxeval=check_maxeval(ctl["maxeval"]), f_scale=f0)
    except (RuntimeError, ValueError) as e:
        raise FitError(f"the optimizer failed while minimizing {what}: {e}") from None


def _settings(control) -> dict:
    """DEFAULT_CONTROL updated by ``control``; unknown settings and optimizers are errors."""
    ctl = dict(DEFAULT_CONTROL)
    if control:
        unknown = set(control) - set(ctl)
        if unknown:
            raise unknown_settings_error(unknown, ctl)
        ctl.update(control)
    if str(ctl["optimizer"]).lower() not in OPTIMIZERS + GRADIENT_OPTIMIZERS:
        raise ArgumentError(f"unknown optimizer {ctl['optimizer']!r}; choose one of "
                            f"{sorted(OPTIMIZERS + GRADIENT_OPTIMIZERS)}")
    return ctl


def _earliest_tie(history, x, fx):
    """The earliest evaluated point within 8 ulps of the minimum ``fx`` (``(x, fx)`` if none other).

    At convergence the last steps are so small that the objective ties to within a few ulps; NLopt
    keeps the first of exactly tied points (strict <), so the point R reports is the earliest of
    those ties. Our values differ from R's in the last bits: take the earliest point within 8 ulps
    of the minimum, as R would have with exact ties.
    """
    if history and math.isfinite(fx):
        tol = 8.0 * float(np.spacing(abs(fx)))
        for v, xv in history:
            if v <= fx + tol:
                if not np.array_equal(xv, x):
                    x, fx = xv, v
                break
    return x, fx


def _onto_bounds(fun, x, fx, lower, bt):
    """lme4's boundary.tol: components within ``bt`` of their bound are tried on it, kept if no worse."""
    if bt > 0:
        near = np.isfinite(lower) & (x - lower < bt) & (x != lower)
        if near.any():
            x2 = x.copy()
            x2[near] = lower[near]
            f2 = fun(x2)
            if f2 <= fx:
                x, fx = x2, f2
    return x, fx


# ============================================================================ checks of user settings

# lme4's names for our settings, so that an R user's control gets a pointer to ours
_LME4_NAMES = {"maxfun": "maxeval", "maxit": "maxeval", "maxiter": "maxeval", "tolpwrss": "tol_pirls"}


def unknown_settings_error(unknown, known) -> ArgumentError:
    """The error for control settings that do not exist: the known ones and, where a name is close
    to one of them (or is lme4's name for it), that one.

    Parameters
    ----------
    unknown : iterable
        The keys given that are not settings.
    known : iterable of str
        The settings that exist.

    Returns
    -------
    ArgumentError
        To be raised by the caller.
    """
    known = sorted(known)
    names = sorted(map(repr, unknown))
    hints = []
    for k in unknown:
        norm = str(k).lower().replace(".", "_")
        guess = _LME4_NAMES.get(norm) or next(iter(difflib.get_close_matches(norm, known, n=1)), None)
        if guess in known:
            hints.append(f"{k!r} -> {guess!r}")
    msg = f"unknown control setting(s) {', '.join(names)}; the known settings are {', '.join(known)}"
    if hints:
        msg += f" (did you mean {', '.join(sorted(hints))}?)"
    return ArgumentError(msg)


def check_maxeval(value, key: str = "maxeval") -> int:
    """A number of evaluations: a whole number from 1 to NLopt's limit ``MAX_EVALS``."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 1 <= value <= MAX_EVALS):
        raise ArgumentError(f"control[{key!r}] must be a positive whole number, at most {MAX_EVALS} (the "
                            f"optimizer counts evaluations in a 32-bit int), got {value!r}; e.g. "
                            f"control={{{key!r}: 100000}}")
    return int(value)


def check_setting_number(key: str, value, positive: bool = False) -> float:
    """A tolerance-like setting: a finite real number, >= 0 (or > 0 with ``positive``)."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (value > 0 if positive else value >= 0))
    if not ok:
        raise ArgumentError(f"control[{key!r}] must be a finite number {'> 0' if positive else '>= 0'}, got "
                            f"{value!r}")
    return float(value)


def check_vector(value, name: str, size: int, what: str) -> np.ndarray:
    """A user's vector of ``size`` finite numbers as floats, or an ArgumentError saying what is wrong.

    Parameters
    ----------
    value : array_like
        What the user passed (a list, tuple, array or Series of numbers; a single number for size 1).
    name : str
        How to call it in a message, e.g. "start['theta']".
    size : int
        The number of values needed.
    what : str
        What the values are, for the message about a wrong number.

    Returns
    -------
    numpy.ndarray
        A 1-d float array of length ``size``.
    """
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise ArgumentError(f"{name} must be a list or array of {size} number(s) ({what}), got "
                            f"{type(value).__name__} {value!r}")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError):
        a = np.asarray([None])
    if a.dtype.kind not in "iuf":
        raise ArgumentError(f"{name} must be {size} number(s) ({what}), got {value!r}")
    a = np.atleast_1d(a.astype(float))
    if a.ndim != 1:
        raise ArgumentError(f"{name} must be a flat list or 1-d array of {size} number(s), got shape {a.shape}")
    if a.size != size:
        raise ArgumentError(f"{name} needs {size} value(s) ({what}), got {a.size}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ArgumentError(f"{name} has non-finite value(s) {a[bad].tolist()} at position(s) {bad.tolist()}; "
                            "give finite numbers")
    return a


def _theta_what(terms) -> str:
    parts = [f"{t.p * (t.p + 1) // 2} for {t.term}" for t in terms]
    return ("theta, the lower triangles of the relative covariance factors column by column, term by term as "
            f"lme4's getME(m, 'theta'): {', '.join(parts)}")


def check_start(start, terms, lower, p: int | None = None) -> dict:
    """Starting values as lme4's ``start``: theta (a vector, or ``{"theta": ...}``) and, for glmer
    (``p`` fixed effects given), ``{"beta": ...}`` (lme4's ``fixef`` is accepted too).

    Parameters
    ----------
    start : None, array_like or dict
        The user's starting values.
    terms : list
        The random-effects terms (for the number of theta values and the message).
    lower : numpy.ndarray
        theta's lower bounds (0 for the diagonal entries of each factor).
    p : int, optional
        The number of fixed effects; None for lmer (the fixed effects are profiled out).

    Returns
    -------
    dict
        ``{"theta": array or None, "beta": array or None}``.
    """
    if start is None:
        return {"theta": None, "beta": None}
    keys = {"theta"} if p is None else {"theta", "beta", "fixef"}
    if isinstance(start, dict):
        extra = set(start) - keys
        if extra:
            only = ("lmer takes start theta only (the fixed effects are profiled out): start={'theta': [...]}"
                    if p is None else "start takes 'theta' and 'beta' (or lme4's 'fixef')")
            raise ArgumentError(f"unknown start key(s) {', '.join(sorted(map(repr, extra)))}; {only}")
        if "beta" in start and "fixef" in start:
            raise ArgumentError("start has both 'beta' and 'fixef' (the same thing); give one")
        theta, beta = start.get("theta"), start.get("beta", start.get("fixef"))
    else:
        theta, beta = start, None
    out = {"theta": None, "beta": None}
    if theta is not None:
        out["theta"] = t = check_vector(theta, "start theta", len(lower), _theta_what(terms))
        low = np.flatnonzero(t < lower)
        if low.size:
            raise ArgumentError(f"start theta has {t[low].tolist()} at position(s) {low.tolist()}, below the bound "
                                f"{lower[low].tolist()}: the diagonal entries of theta are relative standard "
                                "deviations and cannot be negative (give their absolute values)")
    if beta is not None:
        out["beta"] = check_vector(beta, "start beta", p, "one per fixed effect, in the order of fixef()")
    return out


def check_control(control) -> dict | None:
    """Refuse a control that is not a dict of known settings with sensible values."""
    if control is None:
        return None
    if not isinstance(control, dict):
        raise ArgumentError(f"control must be a dict such as {{'optimizer': 'nelder_mead'}}, got "
                            f"{type(control).__name__}")
    unknown = set(control) - set(DEFAULT_CONTROL)
    if unknown:
        raise unknown_settings_error(unknown, DEFAULT_CONTROL)
    for key, value in control.items():
        if key == "optimizer":
            if not isinstance(value, str):
                raise ArgumentError(f"control['optimizer'] must be a name such as 'bobyqa', got {value!r}")
            names = OPTIMIZERS + GRADIENT_OPTIMIZERS
            if value.lower() not in names:
                raise ArgumentError(f"unknown optimizer {value!r}; choose one of {', '.join(map(repr, names))}")
        elif key == "maxeval":
            check_maxeval(value)
        else:
            check_setting_number(key, value)
    return control
