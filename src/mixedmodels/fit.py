"""lmer(): the composition of the stages formula -> design -> core -> optimizer -> result.

Input is validated here, at the boundary, with lme4's checks (levels vs observations, rank
deficiency, predictor scaling) and a few of our own (a response the fixed effects reproduce
exactly, weights of zero, values beyond double precision), so that the core may assume valid input.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .core import LmmCore
from .design import check_terms, fixed_design, model_frame, random_terms, warn_fixed_design
from .errors import ArgumentError, DataError, FitError, SingularFitWarning
from .formula import parse_formula
from .optimize import DEFAULT_CONTROL, minimize_theta
from .results import LmerResult

__all__ = ["lmer", "lmer_stages", "fit_core", "check_control"]


def lmer_stages(formula: str, data, *, weights=None, offset=None):
    """Parse, build the design and form the crossproduct blocks; returns (parsed, frame, fixed, terms, core)."""
    parsed = parse_formula(formula)
    frame = model_frame(parsed, data, weights=weights, offset=offset)
    fixed = fixed_design(parsed, frame)
    terms = random_terms(parsed, frame)
    n = len(frame.y)
    check_terms(terms, n)
    _check_magnitude(parsed, frame.y)
    warn_fixed_design(fixed, stacklevel=4)
    core = LmmCore(terms, fixed.X, frame.y, weights=frame.weights, offset=frame.offset)
    return parsed, frame, fixed, terms, core


def check_control(control) -> dict | None:
    """Refuse a control that is not a dict of known settings with sensible values."""
    if control is None:
        return None
    if not isinstance(control, dict):
        raise ArgumentError(f"control must be a dict such as {{'optimizer': 'nelder_mead'}}, got "
                            f"{type(control).__name__}")
    for key, value in control.items():
        if key not in DEFAULT_CONTROL:
            continue  # the optimizer names unknown settings itself
        if key == "optimizer":
            if not isinstance(value, str):
                raise ArgumentError(f"control['optimizer'] must be a name such as 'bobyqa', got {value!r}")
        elif key == "maxeval":
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ArgumentError(f"control['maxeval'] must be a positive whole number, got {value!r}")
        elif (not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value)
              or value < 0):
            raise ArgumentError(f"control[{key!r}] must be a finite number >= 0, got {value!r}")
    return control


def _check_magnitude(parsed, y) -> None:
    big = float(np.max(np.abs(y)))
    if big > 1e100 or 0 < big < 1e-100:
        raise DataError(f"the response {parsed.response!r} has values of size {big:.3g}, beyond what double "
                        "precision crossproducts can hold; rescale it (e.g. multiply by a power of 10)")


def _check_response(parsed, frame, fixed, core) -> None:
    """A response that lmer cannot model, said plainly instead of a meaningless fit."""
    y = np.asarray(frame.y, dtype=float)
    X = fixed.X
    if np.ptp(y) == 0 and X.size and np.any((np.ptp(X, axis=0) == 0) & (X[0] != 0)):
        raise DataError(f"the response {parsed.response!r} is constant (every value is {y[0]:g}); a mixed "
                        "model needs variation in the response")
    w = frame.weights
    if w is not None and np.any(w == 0):
        k = int(np.sum(w == 0))
        raise DataError(f"{k} weight(s) are 0; lmer needs positive weights (lme4's criterion is infinite then): "
                        "drop the rows with weight 0, which carry no information")
    # theta = 0 is ordinary least squares: its residual sum of squares says if the fixed part is exact
    pieces = core.pieces(np.zeros(core.layout.size))
    yc = y if frame.offset is None else y - frame.offset
    total = float(np.sum(yc * yc * (1.0 if w is None else w)))
    if pieces is not None and pieces[2] <= 1e-20 * total or total == 0:
        raise DataError(f"the fixed effects reproduce the response {parsed.response!r} exactly (residual sum of "
                        "squares 0 to within rounding error), so no variance can be estimated; check that the "
                        "response is not one of the predictors or a function of them")


def _explain_start(terms) -> None:
    """The criterion is not finite at lme4's start (theta = 1 on the diagonal): name a random-effects
    column on a scale far from 1, the usual cause."""
    for t in terms:
        size = np.max(np.abs(t.z), axis=0)
        for c, a in zip(t.cnames, size):
            if a > 1e4 or 0 < a < 1e-4:
                raise DataError(f"the criterion is not finite at lme4's starting values: the random-effects term "
                                f"{t.term} has a column {c!r} of size {a:.3g}, far from the scale those values "
                                "assume; rescale it (e.g. scale() or other units)") from None


def lmer(formula: str, data, *, REML: bool = True, weights=None, offset=None, control=None,
         data_name: str | None = None) -> LmerResult:
    """Fit a linear mixed model with lme4's formula syntax, by REML (default) or ML.

    ``control`` takes optimizer settings: ``optimizer`` ("bobyqa", "nelder_mead", "sbplx", "cobyla",
    "praxis"), ``ftol_abs``, ``xtol_abs``, ``xtol_rel``, ``maxeval``, ``boundary_tol``.
    ``weights`` and ``offset`` are arrays (one value per row of ``data``) or column names.
    """
    if not isinstance(REML, (bool, np.bool_)):
        raise ArgumentError(f"REML must be True or False, got {REML!r}")
    check_control(control)
    parsed, frame, fixed, terms, core = lmer_stages(formula, data, weights=weights, offset=offset)
    if core.n <= core.p:
        raise ArgumentError(f"{core.n} observations cannot estimate {core.p} fixed effects and a residual variance")
    _check_response(parsed, frame, fixed, core)
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    return _optimize(parsed.text, bool(REML), str(name), parsed, frame, fixed, terms, core, control)


def fit_core(m: LmerResult, REML: bool, y=None, control=None) -> LmerResult:
    """Refit a fitted model's design with another criterion or a new response (no formula, no data pass
    for the random-effects blocks)."""
    check_control(control)
    core, frame = m.core, m.frame
    if y is not None:
        from dataclasses import replace

        y = np.asarray(y, dtype=float)
        frame = replace(frame, y=y)
        core = LmmCore(m.terms, m.fixed.X, y, weights=frame.weights, offset=frame.offset)
    return _optimize(m.formula, REML, m.data_name, m.parsed, frame, m.fixed, m.terms, core, control,
                     warn=y is None)


def _optimize(formula, REML, name, parsed, frame, fixed, terms, core, control, warn=True) -> LmerResult:
    layout = core.layout
    try:
        theta, _, info = minimize_theta(lambda th: core.objective(th, REML), layout.start(), layout.lower(),
                                        control, what="the REML criterion" if REML else "the deviance")
    except FitError as e:
        if "starting values" in str(e):
            _explain_start(terms)
        raise
    res = LmerResult(formula=formula, reml=REML, data_name=name, parsed=parsed, frame=frame,
                     fixed=fixed, terms=terms, core=core, theta=theta, optinfo=info, control=control)
    if warn and res.is_singular:
        warnings.warn("boundary (singular) fit: see help('isSingular') -- a variance is (nearly) zero or a "
                      "correlation is +-1; consider simplifying the random-effects terms", SingularFitWarning,
                      stacklevel=2)
    return res
