"""lmer(): the composition of the stages formula -> design -> core -> optimizer -> result."""
from __future__ import annotations

import warnings

import numpy as np

from .core import LmmCore
from .design import check_terms, fixed_design, model_frame, random_terms
from .errors import ArgumentError, SingularFitWarning
from .formula import parse_formula
from .optimize import minimize_theta
from .results import LmerResult

__all__ = ["lmer", "lmer_stages"]


def lmer_stages(formula: str, data, *, weights=None, offset=None):
    """Parse, build the design and form the crossproduct blocks; returns (parsed, frame, fixed, terms, core)."""
    parsed = parse_formula(formula)
    frame = model_frame(parsed, data, weights=weights, offset=offset)
    fixed = fixed_design(parsed, frame)
    terms = random_terms(parsed, frame)
    n = len(frame.y)
    check_terms(terms, n)
    if fixed.dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(fixed.dropped)} column"
                      f"{'s' if len(fixed.dropped) > 1 else ''} / coefficient{'s' if len(fixed.dropped) > 1 else ''}"
                      f" ({', '.join(fixed.dropped)})", UserWarning, stacklevel=3)
    core = LmmCore(terms, fixed.X, frame.y, weights=frame.weights, offset=frame.offset)
    return parsed, frame, fixed, terms, core


def lmer(formula: str, data, *, REML: bool = True, weights=None, offset=None, control=None,
         data_name: str | None = None) -> LmerResult:
    """Fit a linear mixed model with lme4's formula syntax, by REML (default) or ML.

    ``control`` takes optimizer settings: ``optimizer`` ("bobyqa", "nelder_mead", ...),
    ``ftol_abs``, ``xtol_abs``, ``maxeval``, ``boundary_tol``.
    """
    if not isinstance(REML, (bool, np.bool_)):
        raise ArgumentError(f"REML must be True or False, got {REML!r}")
    parsed, frame, fixed, terms, core = lmer_stages(formula, data, weights=weights, offset=offset)
    if core.n <= core.p:
        raise ArgumentError(f"{core.n} observations cannot estimate {core.p} fixed effects and a residual variance")
    layout = core.layout
    theta, _, info = minimize_theta(lambda th: core.objective(th, bool(REML)), layout.start(), layout.lower(),
                                    control, what="the REML criterion" if REML else "the deviance")
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    res = LmerResult(formula=parsed.text, reml=bool(REML), data_name=str(name), parsed=parsed, frame=frame,
                     fixed=fixed, terms=terms, core=core, theta=theta, optinfo=info, control=control)
    if res.is_singular:
        warnings.warn("boundary (singular) fit: see help('isSingular') -- a variance is (nearly) zero or a "
                      "correlation is +-1; consider simplifying the random-effects terms", SingularFitWarning,
                      stacklevel=2)
    return res
