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

__all__ = ["lmer", "lmer_stages", "fit_core"]


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
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    return _optimize(parsed.text, bool(REML), str(name), parsed, frame, fixed, terms, core, control)


def fit_core(m: LmerResult, REML: bool, y=None, control=None) -> LmerResult:
    """Refit a fitted model's design with another criterion or a new response (no formula, no data pass
    for the random-effects blocks)."""
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
    theta, _, info = minimize_theta(lambda th: core.objective(th, REML), layout.start(), layout.lower(),
                                    control, what="the REML criterion" if REML else "the deviance")
    res = LmerResult(formula=formula, reml=REML, data_name=name, parsed=parsed, frame=frame,
                     fixed=fixed, terms=terms, core=core, theta=theta, optinfo=info, control=control)
    if warn and res.is_singular:
        warnings.warn("boundary (singular) fit: see help('isSingular') -- a variance is (nearly) zero or a "
                      "correlation is +-1; consider simplifying the random-effects terms", SingularFitWarning,
                      stacklevel=2)
    return res
