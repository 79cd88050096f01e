"""The model frame: the rows a model uses, as R's ``model.frame`` with ``na.omit`` keeps them.

Every variable the formula uses must be a column; rows with a missing value in any of them, in
the weights or in the offset are left out, and so are rows where the response or an offset
evaluates to NaN (``log`` of a negative number), as R evaluates transformations before na.omit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning, FormulaError, warn
from ..formula import evaluate as evaluator
from ..formula.parse import ParsedFormula
from .columns import as_pandas, replace_columns, variables_in
from .matrix import HUGE, evaluate_numeric

__all__ = ["ModelFrame", "model_frame", "check_new_response"]


@dataclass
class ModelFrame:
    """The rows a model uses and its response, weights and offset on them."""

    data: pd.DataFrame       # the rows used, original index kept
    y: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None
    variables: list[str]


def _missing_names(expr: str, columns) -> list[str]:
    """Names an expression uses as values that are neither columns nor constants (pi, TRUE, ...)."""
    cols = set(map(str, columns))
    return [v for v in evaluator.variables(expr) if v not in cols and v not in evaluator.CONSTANTS]


def model_frame(parsed: ParsedFormula, data: pd.DataFrame, weights=None, offset=None,
                response_numeric: bool = True) -> ModelFrame:
    """Rows used by the model, after R's na.omit on every variable the formula uses.

    Parameters
    ----------
    parsed : ParsedFormula
        The model formula.
    data : pandas.DataFrame or any frame :func:`as_pandas` converts
        The data.
    weights, offset : array_like or str, optional
        One value per row of ``data``, or the name of a column.
    response_numeric : bool, optional
        Evaluate the response as numbers (False for glmer's factor responses, coded later).

    Returns
    -------
    ModelFrame
        The rows used (original index kept), the response, weights and offset on them (the
        offset including every ``offset()`` term of the formula) and the variables used.

    Raises
    ------
    DataError
        For a variable that is not a column, no rows left, weights or offsets that are not
        finite numbers of a size double precision can hold.

    Notes
    -----
    Rows where the response (or an offset) evaluates to NaN, e.g. ``log`` of a negative number,
    are left out as R's model frame leaves them out, with a :class:`DataWarning`.
    """
    if not isinstance(data, pd.DataFrame):
        data = as_pandas(data)
    used = _used_variables(parsed, data)
    data = _clean_columns(data, used)
    n_all = len(data)
    if n_all == 0:
        raise DataError("the data have no rows; pass a data frame with observations")
    if isinstance(weights, str):
        weights = _named_column(weights, data, "weights")
    if isinstance(offset, str):
        offset = _named_column(offset, data, "offset")
    keep = np.ones(n_all, dtype=bool)
    for v in used:
        keep &= ~pd.isna(data[v]).to_numpy()
    w = _row_vector(weights, n_all, "weights")
    o = _row_vector(offset, n_all, "offset")
    if w is not None:
        keep &= ~np.isnan(w)
    if o is not None:
        keep &= ~np.isnan(o)
    if not keep.any():
        raise DataError(f"no rows left after dropping the {n_all} rows with a missing value in "
                        f"{', '.join(used)}; check the data for missing values")
    frame = data.loc[keep] if not keep.all() else data
    w = None if w is None else _checked_weights(w[keep], frame.index)
    o = None if o is None else _checked_offset(o[keep], frame.index)
    # R evaluates transformations before na.omit: rows where log() etc. gives NaN are left out too
    y, extras, nan = _evaluated(parsed, frame, response_numeric)
    if nan.any():
        warn(f"{int(nan.sum())} row(s) left out because the response or an offset is NaN there "
             "(e.g. log or sqrt of a negative number)", DataWarning, stacklevel=3)
        ok = ~nan
        frame = frame.loc[ok]
        y = None if y is None else y[ok]
        w = None if w is None else w[ok]
        o = None if o is None else o[ok]
        extras = [v[ok] for v in extras]
    for extra in extras:
        o = extra if o is None else o + extra
    return ModelFrame(frame, y, w, o, used)


def _used_variables(parsed: ParsedFormula, data: pd.DataFrame) -> list[str]:
    """The columns the formula uses, in order of first use, after every expression passed the
    evaluator's gate; a DataError names the variables that are not columns."""
    exprs = [parsed.response, parsed.fixed, *parsed.offsets]
    for t in parsed.random:
        exprs.append(t.expr)
    for e in exprs:
        _check_functions(e, data.columns)
    missing = []
    for e in exprs:
        missing += [m for m in _missing_names(e, data.columns) if m not in missing]
    for t in parsed.random:
        missing += [f for f in t.factors if f not in data.columns and f not in missing]
    contrasts = [v for v in missing if str(v).startswith("contr.")]
    if contrasts:
        raise FormulaError(f"{contrasts[0]} in C(): contrasts other than R's default are not supported yet; "
                           "factors get treatment contrasts (R's contr.treatment, and contr.poly for ordered "
                           "ones). For sum-to-zero coding, add the coded columns to the data")
    if missing:
        have = (f"the data have: {', '.join(map(str, data.columns[:20]))}{' ...' if len(data.columns) > 20 else ''}"
                if len(data.columns) else "the data have no columns")
        raise DataError(f"variable(s) {', '.join(map(repr, missing))} used in the formula are not columns of the "
                        f"data; {have}")
    used = []
    for e in exprs:
        used += [v for v in variables_in(e, data.columns) if v not in used]
    for t in parsed.random:
        used += [f for f in t.factors if f not in used]
    return used


def _checked_weights(w: np.ndarray, index) -> np.ndarray:
    """The weights of the rows kept, refused when not finite and non-negative or out of range."""
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise DataError(f"weights must be finite and non-negative; got {w[bad]:g} at row "
                        f"{index[bad]!r}")
    pos = w[w > 0]
    if pos.size and (pos.max() > HUGE or pos.min() < 1 / HUGE):
        raise DataError(f"weights range from {pos.min():.3g} to {pos.max():.3g}, beyond what double precision "
                        "can hold in crossproducts; rescale them")
    return w


def _checked_offset(o: np.ndarray, index) -> np.ndarray:
    """The offset of the rows kept, refused when infinite or too large for crossproducts."""
    if np.any(np.isinf(o)):
        bad = int(np.flatnonzero(np.isinf(o))[0])
        raise DataError(f"offset has infinite values (first at row {index[bad]!r}); remove or recode them")
    if o.size and np.max(np.abs(o)) > HUGE:
        raise DataError(f"offset has values of size {np.max(np.abs(o)):.3g}, beyond what double precision "
                        "crossproducts can hold; rescale the response and the offset")
    return o


def _evaluated(parsed: ParsedFormula, frame: pd.DataFrame, response_numeric: bool):
    """(response or None, the offset() terms, rows where one of them is NaN); a DataError when
    one is NaN in every row."""
    y = evaluate_numeric(parsed.response, frame, "the response") if response_numeric else None
    extras = [evaluate_numeric(expr, frame, "the offset") for expr in parsed.offsets]
    nan = np.zeros(len(frame), dtype=bool)
    for what, v in [(parsed.response, y)] + list(zip(parsed.offsets, extras)):
        if v is not None and np.isnan(v).any():
            if np.isnan(v).all():
                raise DataError(f"{what!r} is NaN (not a number) in every row, e.g. log or sqrt of negative "
                                "numbers; transform the data differently")
            nan |= np.isnan(v)
    return y, extras, nan


def _clean_columns(data: pd.DataFrame, used: list[str]) -> pd.DataFrame:
    """Refuse duplicated, complex and infinite columns; text columns with pd.NA become plain objects."""
    cols = data.columns
    dup = [v for v in used if int(np.sum(cols == v)) > 1]
    if dup:
        raise DataError(f"column name(s) {', '.join(map(repr, dup))} appear more than once in the data; "
                        "give every column a unique name (e.g. data.columns = [...])")
    changed = {}
    for v in used:
        col = data[v]
        if pd.api.types.is_complex_dtype(col.dtype):
            raise DataError(f"column {v!r} holds complex numbers; a model needs real numbers or categories")
        if isinstance(col.dtype, pd.StringDtype) and col.dtype.na_value is pd.NA:
            # formulaic takes object columns for categories, not the pd.NA string dtype
            changed[v] = pd.Series(np.where(col.isna(), None, col.astype(object)), index=col.index, dtype=object)
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            vals = col.to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(vals).any():
                bad = int(np.flatnonzero(np.isinf(vals))[0])
                raise DataError(f"variable {v!r} has infinite values (first at row {data.index[bad]!r}); "
                                "remove or recode them (missing values, NaN, are left out; infinite ones are not)")
    if changed:
        data = data.assign(**changed) if all(isinstance(k, str) and k.isidentifier() for k in changed) \
            else replace_columns(data, changed)
    return data


def _named_column(name: str, data: pd.DataFrame, what: str) -> pd.Series:
    if name not in data.columns:
        raise DataError(f"{what}={name!r} is not a column of the data")
    return data[name]


def _check_functions(expr: str, columns) -> None:
    """The evaluator's gate: only allowed functions, keywords and characters (FormulaError otherwise)."""
    evaluator.check(expr)


def _row_vector(v, n, what):
    """Weights or an offset as n floats (NaN where missing); text, dates and booleans are refused,
    as R's ``model.frame`` refuses non-numeric weights (numpy would read "2" as 2.0)."""
    if v is None:
        return None
    raw = np.asarray(v.to_numpy() if hasattr(v, "to_numpy") and not isinstance(v, np.ndarray) else v)
    bad_kind = raw.dtype.kind in "USbMm" or (raw.dtype == object and any(
        isinstance(x, (str, bytes, bool, np.bool_)) for x in raw.ravel()))
    try:
        if bad_kind:
            raise TypeError
        arr = np.asarray(v, dtype=float).ravel()
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers, one per row of the data (or a column name); got "
                        f"{type(v).__name__} {str(v)[:40]!r}") from None
    if arr.shape[0] != n:
        raise DataError(f"{what} has {arr.shape[0]} values but the data have {n} rows")
    return arr


def check_new_response(y, n: int) -> np.ndarray:
    """A new response for ``refit(y=...)``: n finite numbers, or a DataError saying what is wrong.

    Parameters
    ----------
    y : array_like
        The new response, one value per observation used in the fit (rows with missing values
        were left out of the fit, and are left out here).
    n : int
        The number of observations of the fit.

    Returns
    -------
    numpy.ndarray
        ``y`` as a 1-d float array.
    """
    if isinstance(y, (str, bytes, dict)):
        raise DataError(f"refit(y=...) needs an array of {n} numbers, got {type(y).__name__}")
    a = np.asarray(y)
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.dtype.kind not in "biuf":
        raise DataError(f"refit(y=...) needs numbers, got values of type {a.dtype} (e.g. {a.ravel()[:1].tolist()}); "
                        "convert them, e.g. with pd.to_numeric")
    if a.ndim != 1 or a.size != n:
        raise DataError(f"refit(y=...) needs one response per observation used in the fit ({n}), got shape "
                        f"{a.shape}")
    a = a.astype(float)
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise DataError(f"refit(y=...) has {bad.size} missing or infinite value(s) (first at position {bad[0]}); "
                        "refit() keeps the fit's observations, so give a finite value for each")
    return a
