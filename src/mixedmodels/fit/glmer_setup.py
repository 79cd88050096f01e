"""glmer's setup: the data, before any family parameter or fit (lme4's ``glFormula``).

The formula, the model frame (na.omit), ``X`` and the random-effects terms are those of ``lmer``;
what is glmer's own is the response: ``cbind(successes, failures)``, a two-level factor (the first
level is "failure"), a logical or a number, each checked against the family, and lme4's checks on
the grouping factors with ``allow.n = TRUE``. :func:`glmer_setup` gives a :class:`GlmerSetup`, which
does not depend on the family's parameters, so ``glmer_nb`` builds it once for all its refits;
:func:`family_model` gives the family's view of it (the PIRLS workspace and R's ``mustart``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..design.fixed import fixed_design, warn_fixed_design
from ..design.frame import model_frame
from ..design.matrix import evaluate_numeric
from ..design.random import random_terms
from ..errors import ArgumentError, DataError, FamilyError
from ..formula.parse import parse_formula, split_top
from ..glmm import families as _families
from ..glmm.pirls import GlmmModel

__all__ = ["GlmerSetup", "glmer_setup", "family_model", "response_values", "frame_formula", "check_glmer_terms",
           "laplace_at_mode", "check_agq_terms"]


@dataclass
class GlmerSetup:
    """Everything about the data that does not depend on the family's parameters."""

    formula: str
    parsed: object
    frame: object
    fixed: object
    terms: list
    y_raw: np.ndarray            # response as given (2 columns for cbind)
    prior_weights: np.ndarray | None
    offset: np.ndarray | None
    weights_name: str | None
    data_name: str
    response_kind: str           # "numeric", "cbind", "factor", "logical"
    fast: str | None = None      # the PIRLS solver chosen for this design (GlmmModel.fast), once known


def _split_args(s: str) -> list[str]:
    """The arguments of ``cbind(a, b)``: the formula's top-level splitter on ','."""
    return [piece.strip() for _, piece in split_top(s, ",")]


def response_values(parsed, data, family) -> tuple[np.ndarray, str]:
    """The response as a float vector (or two columns for cbind), checked against the family, from
    the model frame's rows ``data``; and its kind ("numeric", "cbind", "factor", "logical")."""
    expr = parsed.response.strip()
    is_binom = isinstance(family, _families.Binomial)
    if expr.startswith("cbind(") and expr.endswith(")"):
        args = _split_args(expr[len("cbind("):-1])
        if len(args) != 2:
            raise FamilyError(f"cbind() in the response needs two columns (successes, failures), got {len(args)}: "
                              f"{expr!r}")
        if not is_binom:
            raise FamilyError(f"a cbind(successes, failures) response is for the binomial family, not {family.name}")
        cols = [_evaluate_arith(a, data) for a in args]
        return np.column_stack(cols), "cbind"
    name = expr.strip("`")
    if name in data.columns:
        col = data[name]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
            if not is_binom:
                raise FamilyError(f"the response {name!r} is {_kind(col)}, but the {family.name} family needs "
                                  "a numeric response")
            if isinstance(col.dtype, pd.CategoricalDtype):
                levels = [c for c in col.cat.categories]
                codes = col.cat.codes.to_numpy()
                used = sorted(set(codes[codes >= 0].tolist()))
            else:
                levels = sorted(pd.unique(col.dropna()).tolist(), key=str)
                codes = col.map({v: i for i, v in enumerate(levels)}).to_numpy()
                used = list(range(len(levels)))
            if len(levels) > 2:
                raise FamilyError(f"the binomial response {name!r} is a factor with {len(levels)} levels "
                                  f"({', '.join(map(str, levels[:6]))}); it needs two levels (the first is "
                                  "'failure', the other 'success'). Recode it, e.g. as (y == 'level') > 0 in a "
                                  "new 0/1 column")
            if len(used) < 1:
                raise FamilyError(f"the binomial response {name!r} has no observed values")
            return (np.asarray(codes) != 0).astype(float), "factor"
        if pd.api.types.is_bool_dtype(col):
            return col.astype(float).to_numpy(), "logical"
    y = _evaluate_arith(expr, data)
    return y, "numeric"


def _evaluate_arith(expr: str, data) -> np.ndarray:
    """A numeric expression such as ``size - incidence`` (wrapped in I() so that formulaic reads
    '-' and '+' as arithmetic, not as removing or adding terms)."""
    e = expr.strip()
    if e.strip("`") in data.columns or e.startswith("I("):
        return evaluate_numeric(e, data, "the response")
    return evaluate_numeric(f"I({e})", data, "the response")


def _kind(col: pd.Series) -> str:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return f"a factor with levels {list(col.cat.categories)[:5]}"
    return f"of type {col.dtype}"


def check_agq_terms(nagq: int, terms) -> None:
    """lme4's rule: quadrature (nAGQ > 1) integrates one scalar random effect per group.

    Raises
    ------
    ArgumentError
        For nAGQ > 1 with several terms or a vector-valued one.
    """
    if nagq > 1 and (len(terms) != 1 or terms[0].p != 1):
        what = (f"{len(terms)} random-effects terms" if len(terms) != 1
                else f"the vector-valued term {terms[0].term}")
        raise ArgumentError(f"nAGQ > 1 is only available for models with a single, scalar random-effects term "
                            f"such as (1 | g); this model has {what}: use nAGQ=1 (Laplace) or nAGQ=0")


def check_glmer_terms(terms, n: int) -> None:
    """lme4's checks for glmer (allow.n = TRUE: a factor may have as many levels as observations)."""
    one = [t.group for t in terms if t.nlev < 2]
    if one:
        raise DataError(f"grouping factors must have > 1 sampled level (problems: {', '.join(one)}); "
                        "a random effect needs several groups to estimate a variance")
    many = sorted({t.group for t in terms if t.nlev > n})
    if many:
        raise DataError("number of levels of each grouping factor must be <= number of observations "
                        f"(problems: {', '.join(many)})")
    for t in terms:
        if t.q > n:
            raise DataError(f"number of observations (={n}) < number of random effects (={t.q}) for term "
                            f"{t.term}; the random-effects parameters are probably unidentifiable: simplify "
                            "the random-effects term")


def frame_formula(parsed):
    """The formula as model_frame sees it: a cbind(a, b) response becomes (a) + (b), which names the
    same variables (for na.omit) without a call model_frame does not know."""
    expr = parsed.response.strip()
    if expr.startswith("cbind(") and expr.endswith(")"):
        args = _split_args(expr[len("cbind("):-1])
        return replace(parsed, response=" + ".join(f"({a})" for a in args))
    return parsed


def glmer_setup(formula, data, family, weights, offset, data_name) -> GlmerSetup:
    """The data of a glmer fit, checked: formula, model frame, X, random-effects terms, response.

    Parameters
    ----------
    formula : str
        lme4's formula, e.g. ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"``.
    data : pandas.DataFrame
        The data.
    family : Family
        The family the response is checked against (a binomial one for cbind or a factor).
    weights, offset : array_like, str or None
        Prior weights and offset: arrays (one value per row of ``data``) or column names.
    data_name : str or None
        The data's name in printouts (else ``data.attrs["name"]`` or "data").

    Returns
    -------
    GlmerSetup
    """
    parsed = parse_formula(formula)
    from ..formula.deparse import weights_label

    weights_name = weights_label(weights)  # the summary's "Weights:" line (a column, a Series' name, <array>)
    if isinstance(weights, str):
        if not hasattr(data, "columns") or weights not in data.columns:
            raise DataError(f"weights={weights!r} is not a column of the data")
        weights_name = weights
        weights = np.asarray(data[weights], dtype=float)
    if isinstance(offset, str):
        if not hasattr(data, "columns") or offset not in data.columns:
            raise DataError(f"offset={offset!r} is not a column of the data")
        offset = np.asarray(data[offset], dtype=float)
    frame = model_frame(frame_formula(parsed), data, weights=weights, offset=offset, response_numeric=False)
    y_raw, kind = response_values(parsed, frame.data, family)
    fixed = fixed_design(parsed, frame)
    terms = random_terms(parsed, frame)
    n = len(frame.data)
    check_glmer_terms(terms, n)
    warn_fixed_design(fixed, stacklevel=4)
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    return GlmerSetup(parsed.text, parsed, frame, fixed, terms, y_raw, frame.weights, frame.offset, weights_name,
                  str(name), kind)


def family_model(setup: GlmerSetup, family, control) -> tuple[GlmmModel, np.ndarray]:
    """The family's view of the response and the PIRLS workspace.

    Parameters
    ----------
    setup : GlmerSetup
        The data (:func:`glmer_setup`).
    family : Family
        The family, with its parameters (a negative binomial's theta).
    control : dict or None
        glmer's control; ``tol_pirls`` and ``maxit_pirls`` are used here.

    Returns
    -------
    (model, mustart) : tuple
        The :class:`~mixedmodels.glmm.pirls.GlmmModel` and R's starting means.
    """
    y, ntrials, w, mustart = family.initialize(setup.y_raw, setup.prior_weights)
    if w is None:
        w = np.ones(len(y))
    if len(y) and np.all(y == y[0]):
        raise DataError(f"the response is constant (every value is {y[0]:g}); a model needs variation in the "
                        "response")
    ctl = control or {}
    model = _SetupModel(family, setup.terms, setup.fixed.X, y, ntrials, w, setup.offset,
                        tol=float(ctl.get("tol_pirls", 1e-7)), maxit=int(ctl.get("maxit_pirls", 100)),
                        fast=setup.fast, at_mode=laplace_at_mode(setup.terms, ctl))
    model.setup = setup
    return model, mustart


def laplace_at_mode(terms, control: dict) -> bool:
    """Whether the Laplace deviance factors PIRLS's system at the mode (``control["laplace"]``:
    ``"mode"``) or keeps lme4's last-step factor (``"lme4"``). The default is lme4's, so that
    glmer's digits are R's, except for a model with a structured term (``ar1()``, ``cs()``...),
    which lme4 1.x cannot fit and whose reference is glmmTMB's Laplace at the mode."""
    how = control.get("laplace")
    if how is None:
        return any(t.term.structure != "us" for t in terms)
    return how == "mode"


class _SetupModel(GlmmModel):
    """A GlmmModel that records its PIRLS solver on the setup, so refits (glmer_nb) skip the check."""

    setup = None

    def make_core(self, w, z, with_x: bool):
        c = super().make_core(w, z, with_x)
        if self.setup is not None and self.setup.fast is None:
            self.setup.fast = self.fast
        return c
