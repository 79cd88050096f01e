"""The fixed-effects model matrix X as lme4 builds it.

R's coding and names (:mod:`.coding`), the unused levels of factors dropped, the columns that
depend on earlier ones dropped as R's ``qr()`` drops them (the one rank check of the package:
ANOVA tables, diagnostics and ``lm()`` call :func:`independent_columns` too), and lme4's warnings
about rank deficiency and scaling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, warn
from ..formula.parse import ParsedFormula
from .coding import fixed_matrix
from .columns import check_predictor_columns
from .frame import ModelFrame
from .matrix import check_finite_columns, drop_unused_levels, plain_numeric, r_term_order, shield_intercept

__all__ = ["FixedDesign", "fixed_design", "r_model_matrix", "independent_columns", "scale_problem",
           "warn_fixed_design"]


@dataclass
class FixedDesign:
    """X with R's column names, after lme4 dropped the columns that depend on earlier ones."""

    X: np.ndarray
    names: list[str]
    spec: object             # formulaic ModelSpec (replays scale()/poly() on new data)
    dropped: list[str]       # columns dropped for rank deficiency
    all_names: list[str] | None = None  # every column before dropping, in R's order


def fixed_design(parsed: ParsedFormula, frame: ModelFrame) -> FixedDesign:
    """The fixed-effects model matrix X as R's ``model.matrix`` builds it.

    Parameters
    ----------
    parsed : ParsedFormula
        The model formula.
    frame : ModelFrame
        The rows used (:func:`model_frame`).

    Returns
    -------
    FixedDesign
        X with R's column names, the columns that depend on earlier ones dropped as lme4 drops
        them (pivoted QR), and the spec that replays the coding on new data.

    Raises
    ------
    DataError
        When a predictor (of the fixed or the random part) is a date/time column, or an object
        column mixing numbers with text (:func:`check_predictor_columns`), or X has NaN/infinite
        entries.

    Notes
    -----
    Integer columns are doubles in the arithmetic (:func:`logicals_as_factors`), an ordered factor
    gets R's polynomial contrasts ``g.L, g.Q, ...`` on its used levels, and a numeric column named
    ``Intercept`` is a predictor beside R's ``(Intercept)``.
    """
    check_predictor_columns([parsed.fixed, *(t.expr for t in parsed.random)], frame.data)
    for t in parsed.random:
        # random_terms builds Z without shield_intercept: formulaic would merge the column with the
        # term's intercept, a silently wrong Z; refuse until it writes t.expr through shield_intercept
        if shield_intercept(t.expr, frame.data) != t.expr:
            raise DataError(f"the random-effects term {t} uses a numeric column named "
                            "'Intercept', which cannot be told from the term's intercept; rename the column")
    X, names, spec = r_model_matrix(parsed.fixed, frame.data, "the fixed-effects model matrix")
    check_finite_columns(X, names, frame.data.index, "the fixed-effects model matrix")
    all_names = list(names)
    keep = independent_columns(X)
    dropped = [nm for j, nm in enumerate(names) if j not in keep]
    if dropped:
        X = X[:, keep]
        names = [names[j] for j in keep]
    return FixedDesign(X, names, spec, dropped, all_names)


def r_model_matrix(fixed: str, data: pd.DataFrame, what: str):
    """R's ``model.matrix`` of a fixed part on the model frame's rows, every column kept.

    Parameters
    ----------
    fixed : str
        The fixed part of a formula, e.g. ``"1 + f * x"``.
    data : pandas.DataFrame
        The model frame's data (:func:`model_frame`).
    what : str
        How error messages name the matrix.

    Returns
    -------
    tuple
        (X, R's column names, spec for new data): interactions in R's order, the unused levels of
        factors dropped, a numeric column named ``Intercept`` kept beside ``(Intercept)``, factors
        coded as R codes them. Columns that depend on earlier ones are still there
        (:func:`independent_columns` finds them): lmer drops them, lm() reports them as NA.
    """
    plain = plain_numeric(fixed, data)     # numeric columns only: no factor, no reordering
    if plain is not None:
        return plain
    expr = r_term_order(fixed)
    data = drop_unused_levels(expr, data)
    return fixed_matrix(shield_intercept(expr, data), data, what)


def independent_columns(X: np.ndarray, tol: float = 1e-7) -> list[int]:
    """Columns kept as R's qr() keeps them: a column that depends on earlier ones is dropped.

    Parameters
    ----------
    X : numpy.ndarray
        n x p matrix.
    tol : float, optional
        A column is dropped when what remains of it, orthogonal to the columns kept before it,
        is shorter than ``tol`` times its own length (R's ``qr(tol = 1e-7)``).

    Returns
    -------
    list of int
        Indices of the columns kept, in order.

    Notes
    -----
    Gram-Schmidt with a second pass, column by column in the given order: R's LINPACK ``qr()``
    with its limited pivoting (a dependent column moves to the end and the others keep their
    order), as lme4 and lmerTest use it.
    """
    kept: list[int] = []
    Qbuf = np.empty((X.shape[0], X.shape[1]), order="F")  # preallocated: no copy per column
    for j in range(X.shape[1]):
        Q = Qbuf[:, : len(kept)]
        x = X[:, j]
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)  # second pass keeps Gram-Schmidt orthogonal
        norm = np.linalg.norm(r)
        if norm > tol * max(np.linalg.norm(x), 1e-300):
            Qbuf[:, len(kept)] = r / norm
            kept.append(j)
    return kept


_SCALE_TOL = 1e3  # lme4's lmerControl(check.scaleX) tolerance


def scale_problem(X: np.ndarray, tol: float = _SCALE_TOL) -> bool:
    """lme4's ``check.scaleX`` rule: are the predictors on very different scales?

    Parameters
    ----------
    X : array_like
        The fixed-effects model matrix.
    tol : float, optional
        lme4's tolerance, 1e3.

    Returns
    -------
    bool
        True when, among the columns that are not all 0/1, an SD lies beyond [1/tol, tol] or two
        SDs are more than a factor tol apart.
    """
    X = np.asarray(X, dtype=float)
    if X.shape[0] < 2:
        return False
    cont = [j for j in range(X.shape[1]) if not np.all((X[:, j] == 0) | (X[:, j] == 1))]
    if not cont:
        return False
    sd = np.std(X[:, cont], axis=0, ddof=1)
    with np.errstate(divide="ignore"):
        logsd = np.abs(np.log(sd))  # an SD of 0 gives inf: a constant column is badly scaled too
    lim = math.log(tol)
    return bool(np.any(logsd > lim) or (np.ptp(np.log(sd)) > lim if np.all(sd > 0) else False))


def warn_fixed_design(fixed: FixedDesign, stacklevel: int = 3) -> None:
    """lme4's two warnings about X: dropped aliased columns, and predictors on very different scales.

    Parameters
    ----------
    fixed : FixedDesign
        The fixed-effects design (:func:`fixed_design`).
    stacklevel : int, optional
        Passed to :func:`mixedmodels.errors.warn`, so the warning names the user's call.
    """
    from ..errors import RankDeficiencyWarning, ScaleWarning

    if fixed.dropped:
        k = len(fixed.dropped)
        warn(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
             f" / coefficient{'s' if k > 1 else ''} ({', '.join(fixed.dropped)})", RankDeficiencyWarning,
             stacklevel=stacklevel)
    if scale_problem(fixed.X):
        warn("Some predictor variables are on very different scales: consider rescaling "
             "(e.g. scale(x) in the formula, or other units)", ScaleWarning, stacklevel=stacklevel)
