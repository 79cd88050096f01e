"""From a parsed formula and a data frame to the model's matrices.

The model frame keeps the rows where every variable the formula uses is present (R's
``na.omit``). The fixed-effects matrix ``X`` comes from formulaic with R's column names; each
random-effects term becomes a :class:`ReTerm`: the level code of every row and the term's own
small model matrix, from which the core forms ``Z'Z`` and friends without ever building ``Z``
densely.
"""
from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..formula import evaluate as evaluator
from ..errors import DataError, DataWarning, FormulaError, warn
from ..formula.parse import ParsedFormula, RandomTerm

__all__ = ["ReTerm", "ModelFrame", "FixedDesign", "model_frame", "fixed_design", "random_terms",
           "evaluate_numeric", "r_column_name", "grouping_codes", "scale_problem", "contr_poly",
           "check_predictor_columns", "numbers_as_doubles", "shield_intercept", "fixed_matrix"]

@dataclass
class ReTerm:
    """One random-effects term: ``(expr | group)`` evaluated on the model frame.

    Z for this term has ``nlev * p`` columns, level-major (for each level its ``p`` columns),
    as lme4's ``Zt`` rows: row i of Z has ``z[i]`` in the columns of level ``codes[i]``.
    """

    term: RandomTerm
    group: str               # grouping factor's name, "Subject" or "cask:batch"
    levels: list[str]        # level labels in lme4's order
    codes: np.ndarray        # level index of each row (int64)
    cnames: list[str]        # column names of the term, e.g. ["(Intercept)", "Days"]
    z: np.ndarray            # n x p model matrix of the term
    spec: object = field(default=None, repr=False)  # formulaic ModelSpec, for new data

    @property
    def nlev(self) -> int:
        return len(self.levels)

    @property
    def p(self) -> int:
        return self.z.shape[1]

    @property
    def q(self) -> int:
        return self.nlev * self.p


@dataclass
class FixedDesign:
    X: np.ndarray
    names: list[str]
    spec: object             # formulaic ModelSpec (replays scale()/poly() on new data)
    dropped: list[str]       # columns dropped for rank deficiency
    all_names: list[str] | None = None  # every column before dropping, in R's order


@dataclass
class ModelFrame:
    data: pd.DataFrame       # the rows used, original index kept
    y: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None
    variables: list[str]


def variables_in(expr: str, columns) -> list[str]:
    """Column names mentioned in an expression (the names it uses as values that are columns)."""
    cols = set(map(str, columns))
    return [v for v in evaluator.variables(expr) if v in cols]


def _missing_names(expr: str, columns) -> list[str]:
    """Names an expression uses as values that are neither columns nor constants (pi, TRUE, ...)."""
    cols = set(map(str, columns))
    return [v for v in evaluator.variables(expr) if v not in cols and v not in evaluator.CONSTANTS]


def model_frame(parsed: ParsedFormula, data: pd.DataFrame, weights=None, offset=None,
                response_numeric: bool = True) -> ModelFrame:
    """Rows used by the model, after R's na.omit on every variable the formula uses.

    ``weights`` and ``offset`` are arrays with one value per row of ``data``, or column names.
    Rows where the response (or an offset) evaluates to NaN, e.g. ``log`` of a negative number,
    are left out as R's model frame leaves them out, with a :class:`DataWarning`.
    """
    if not isinstance(data, pd.DataFrame):
        data = _as_pandas(data)
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
    if w is not None:
        w = w[keep]
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise DataError(f"weights must be finite and non-negative; got {w[bad]:g} at row "
                            f"{frame.index[bad]!r}")
        pos = w[w > 0]
        if pos.size and (pos.max() > _HUGE or pos.min() < 1 / _HUGE):
            raise DataError(f"weights range from {pos.min():.3g} to {pos.max():.3g}, beyond what double precision "
                            "can hold in crossproducts; rescale them")
    if o is not None:
        o = o[keep]
        if np.any(np.isinf(o)):
            bad = int(np.flatnonzero(np.isinf(o))[0])
            raise DataError(f"offset has infinite values (first at row {frame.index[bad]!r}); remove or recode them")
        if o.size and np.max(np.abs(o)) > _HUGE:
            raise DataError(f"offset has values of size {np.max(np.abs(o)):.3g}, beyond what double precision "
                            "crossproducts can hold; rescale the response and the offset")
    # R evaluates transformations before na.omit: rows where log() etc. gives NaN are left out too
    y = evaluate_numeric(parsed.response, frame, "the response") if response_numeric else None
    extras = [evaluate_numeric(expr, frame, "the offset") for expr in parsed.offsets]
    nan = np.zeros(len(frame), dtype=bool)
    for what, v in [(parsed.response, y)] + list(zip(parsed.offsets, extras)):
        if v is not None and np.isnan(v).any():
            if np.isnan(v).all():
                raise DataError(f"{what!r} is NaN (not a number) in every row, e.g. log or sqrt of negative "
                                "numbers; transform the data differently")
            nan |= np.isnan(v)
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
            else _replace_columns(data, changed)
    return data


def _replace_columns(data: pd.DataFrame, changed: dict) -> pd.DataFrame:
    data = data.copy()
    for k, v in changed.items():
        data[k] = v
    return data


def _named_column(name: str, data: pd.DataFrame, what: str) -> pd.Series:
    if name not in data.columns:
        raise DataError(f"{what}={name!r} is not a column of the data")
    return data[name]


def _check_functions(expr: str, columns) -> None:
    """The evaluator's gate: only allowed functions, keywords and characters (FormulaError otherwise)."""
    evaluator.check(expr)


def _as_pandas(data, what: str = "data") -> pd.DataFrame:
    """Any data frame the package accepts as a pandas DataFrame: the single converter for model data
    and new data.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, polars.LazyFrame, dict, or an object with ``to_pandas()``
        The data. A pandas frame is returned as it is.
    what : str
        How error messages name the argument ("data", "newdata").

    Returns
    -------
    pandas.DataFrame

    Notes
    -----
    polars frames are converted column by column without pyarrow (which polars' own
    ``to_pandas()`` needs): numbers through numpy (an integer column with nulls becomes float64
    with NaN), booleans with nulls as pandas' nullable boolean, dates and times as Python/pandas
    date-times (NaT/None for nulls), Decimal and text as Python objects, Enum columns as
    categoricals with their declared levels in order, Categorical columns with their values in
    sorted order (polars 2 orders categoricals lexically, as R's ``factor()`` orders levels). A
    LazyFrame is collected.
    """
    if isinstance(data, pd.DataFrame):
        return data
    if type(data).__module__.startswith("polars"):
        if type(data).__name__ == "LazyFrame":
            try:
                data = data.collect()
            except Exception as e:
                raise DataError(f"{what} is a polars LazyFrame that cannot be collected ({e}); "
                                "collect it yourself and pass the DataFrame") from None
        if not hasattr(data, "columns") or not hasattr(data, "get_column"):
            raise DataError(f"{what} must be a pandas or polars DataFrame, got polars {type(data).__name__}")
        names = list(data.columns)
        if len(set(names)) != len(names):  # polars forbids this; a dict would silently merge
            raise DataError(f"{what} has repeated column names")
        return pd.DataFrame({c: _polars_column(data.get_column(c)) for c in names},
                            index=pd.RangeIndex(data.height))
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if hasattr(data, "to_pandas"):  # pyarrow tables and other frames that convert themselves
        try:
            out = data.to_pandas()
        except Exception as e:
            raise DataError(f"cannot convert {what} ({type(data).__name__}) to a pandas DataFrame: {e}") from None
        if isinstance(out, pd.DataFrame):
            return out
    raise DataError(f"{what} must be a pandas or polars DataFrame, got {type(data).__name__}")


def _polars_column(s):
    """One polars Series as a pandas Series (or array), without pyarrow."""
    import polars as pl

    dt = s.dtype
    if isinstance(dt, pl.Enum):
        # Enum: the declared levels, in their order (R's factor(levels=...))
        return pd.Categorical(s.cast(pl.String).to_list(), categories=dt.categories.to_list())
    if isinstance(dt, pl.Categorical):
        values = s.cast(pl.String).to_list()
        return pd.Categorical(values, categories=sorted({v for v in values if v is not None}))
    if dt.is_numeric() and not dt.is_decimal():
        # to_numpy gives NaN for nulls of integer columns (then float64) and keeps ints otherwise
        return s.to_numpy()
    if dt == pl.Boolean:
        return pd.array(s.to_list(), dtype="boolean") if s.null_count() else s.to_numpy()
    if dt.is_temporal():
        values = s.to_list()  # datetime/date/timedelta objects, tz kept; None for nulls
        return pd.Series(values, dtype=object).infer_objects() if values else pd.Series(values, dtype=object)
    return pd.Series(s.to_list(), dtype=object)  # strings, decimals, nulls: Python objects


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


def evaluate_numeric(expr: str, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate an expression such as ``Reaction`` or ``log(y)`` to a float vector."""
    name = expr.strip().strip("`")
    if name in frame.columns:
        col = frame[name]
        numbers = _object_numbers(col) if col.dtype == object else None
        if numbers is not None:  # numbers stored as Python objects are numbers
            col = pd.Series(numbers, index=col.index)
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
            raise DataError(f"{what} {name!r} must be numeric, but it is {_kind(col)}; "
                            "convert it, or use glmer() for a binary response")
        if pd.api.types.is_bool_dtype(col):
            out = col.astype(float).to_numpy()
        else:
            try:
                out = pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                raise DataError(f"{what} {name!r} must be numeric, but it is {_kind(col)}") from None
    else:
        try:
            from formulaic import model_matrix
            # only the expression's columns, integers as doubles: R's arithmetic (I(y^2) on int8 data)
            data = numbers_as_doubles(frame[variables_in(expr, frame.columns)])
            with _quiet():
                mm = model_matrix(f"0 + {_to_python(f'I({expr})', data.columns)}", data,
                                  context=evaluator.context(), na_action="ignore")
        except Exception as e:  # formulaic's errors are many; report them as ours
            raise FormulaError(f"cannot evaluate {what} {expr!r}: {_plain(e)}") from None
        if mm.shape[1] != 1:
            raise DataError(f"{what} {expr!r} must be one numeric column, but it gives {mm.shape[1]} columns")
        try:
            out = np.asarray(mm, dtype=float).ravel()
        except (TypeError, ValueError):
            raise DataError(f"{what} {expr!r} must be numeric") from None
    if np.any(np.isinf(out)):
        bad = int(np.flatnonzero(np.isinf(out))[0])
        raise DataError(f"{what} {expr!r} has infinite values (first at row {frame.index[bad]!r}); "
                        "remove or recode them")
    return out


def _kind(col: pd.Series) -> str:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return f"a factor with levels {list(col.cat.categories)[:5]}"
    return f"of type {col.dtype}"


def _to_python(expr: str, columns=None) -> str:
    """``expr`` through the closed evaluator, as formulaic reads it (see :mod:`.evaluator`).

    ``columns`` are the data's columns; without them every name the expression uses as a value is
    taken for a column, which is right only for texts that formulaic parses but does not evaluate.
    """
    if columns is None:
        columns = [v for v in evaluator.variables(expr) if v not in evaluator.CONSTANTS]
    return evaluator.to_formulaic(expr, columns)


def r_column_name(name: str) -> str:
    """formulaic's column name -> R's: ``recipe[T.B]:temp`` -> ``recipeB:temp``."""
    if name == "Intercept":
        return "(Intercept)"
    parts = []
    for part in _split_colon(name):
        m = re.fullmatch(r"(.*)\[(?:T\.)?(.*)\]", part, flags=re.S)
        if m:
            level = {"True": "TRUE", "False": "FALSE"}.get(m.group(2), m.group(2))
            # R's as.character(2) is "2": a float level 2.0 (an integer column is double here) too
            level = re.sub(r"^(-?\d+)\.0$", r"\1", level)
            part = evaluator.r_name(m.group(1)) + evaluator.r_level(m.group(1), level)
        elif evaluator.r_name(part) == _SHIELDED_INTERCEPT:
            part = "Intercept"  # a column named Intercept (shield_intercept)
        else:
            part = evaluator.r_name(part)  # x ** 2 -> x^2, as_numeric(f) -> as.numeric(f), ...
        parts.append(part)
    return ":".join(parts)


def _split_colon(name: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in name:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == ":" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def logicals_as_factors(frame: pd.DataFrame) -> pd.DataFrame:
    """The data as formulaic must see them to compute what R computes.

    Parameters
    ----------
    frame : pandas.DataFrame
        Model data or new data.

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself when nothing needs changing, else a copy where

        * a logical column is a factor with levels FALSE, TRUE (R's column ``xTRUE``; formulaic
          would use 0/1);
        * an integer column (numpy's or pandas' nullable one, any width) is float64: R's
          arithmetic is double, and numpy's int8 ``x**2`` would wrap around silently;
        * an object column that holds only numbers (ints, floats, Decimals, None) is float64, a
          number and not a factor; text, or numbers mixed with text, is left for formulaic's
          categorical coding (:func:`check_predictor_columns` refuses the mix for model variables).

    Notes
    -----
    Grouping factors are taken from the model frame itself (:func:`grouping_codes`), never from
    this copy, so an integer grouping column keeps exact values and numeric level order.
    """
    return _convert_columns(frame, logical_factors=True)


def numbers_as_doubles(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with integer columns and object columns of numbers as float64 (logical columns
    left as they are): what an expression of the response or an offset must be evaluated on, so
    that ``I(y^2)`` on an int8 column is R's double arithmetic, not numpy's wrap-around.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself when nothing needs converting, else a converted copy.
    """
    return _convert_columns(frame, logical_factors=False)


def _convert_columns(frame: pd.DataFrame, logical_factors: bool) -> pd.DataFrame:
    changed = {}
    for i, dt in enumerate(frame.dtypes):  # by position: column names may repeat
        if pd.api.types.is_bool_dtype(dt):
            if logical_factors:
                changed[i] = pd.Categorical(frame.iloc[:, i].astype(object), categories=[False, True])
        elif pd.api.types.is_integer_dtype(dt):
            changed[i] = frame.iloc[:, i].to_numpy(dtype=np.float64, na_value=np.nan)
        elif dt == object:
            num = _object_numbers(frame.iloc[:, i])
            if num is not None:
                changed[i] = num
    if not changed:
        return frame
    frame = frame.copy()
    for i, v in changed.items():
        frame.isetitem(i, v)
    return frame


_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal"}


def _object_numbers(col: pd.Series) -> np.ndarray | None:
    """An object column's values as float64 when every present value is a real number (not a bool),
    else None."""
    kind = pd.api.types.infer_dtype(col, skipna=True)
    if kind == "mixed":  # e.g. Decimals with floats; text among them stays not-a-number
        vals = col.dropna().to_numpy()
        if not all(_is_number(v) for v in vals):
            return None
    elif kind not in _NUMBER_KINDS:
        return None
    try:
        return np.array([np.nan if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
                         else float(v) for v in col.to_numpy()], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _is_number(v) -> bool:
    import numbers
    from decimal import Decimal

    return isinstance(v, (numbers.Real, Decimal)) and not isinstance(v, (bool, np.bool_))


def check_predictor_columns(exprs, data: pd.DataFrame) -> None:
    """Refuse predictor columns whose values R could not use in a model matrix either.

    Parameters
    ----------
    exprs : iterable of str
        The expressions whose variables are predictors (fixed part, random-effects terms).
    data : pandas.DataFrame
        The model frame's data.

    Raises
    ------
    DataError
        For a date, date-time (tz-aware or not), time difference or period column, which R's
        model.matrix cannot code either: it says to convert it to numbers; and for an object column
        mixing numbers with text, which would otherwise become a factor without a word.
    """
    names: list[str] = []
    for e in exprs:
        names += [v for v in variables_in(e, data.columns) if v not in names]
    for v in names:
        col = data[v]
        if isinstance(col, pd.DataFrame):
            continue  # a repeated name: model_frame reports it
        dt = col.dtype
        temporal = (pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt)
                    or isinstance(dt, pd.PeriodDtype))
        kind = pd.api.types.infer_dtype(col, skipna=True) if dt == object else ""
        if temporal or kind in ("datetime", "datetime64", "date", "timedelta", "timedelta64", "period", "time"):
            raise DataError(f"column {v!r} holds dates or times ({dt if temporal else kind}), which a model "
                            "matrix cannot use (R's model.matrix fails too); convert it to numbers, e.g. days "
                            "since the first date: (d - d.min()).dt.days, or to a factor of its values")
        if kind in ("mixed", "mixed-integer"):
            vals = col.dropna().to_numpy()
            num = [x for x in vals if _is_number(x)]
            text = [x for x in vals if isinstance(x, str)]
            if num and text:
                raise DataError(f"column {v!r} mixes numbers and text (e.g. {num[0]!r} and {text[0]!r}); "
                                "make it all numbers (pd.to_numeric) or all text (a factor) before fitting")


def model_matrix(expr: str, frame: pd.DataFrame, what: str):
    """formulaic's model matrix of ``expr`` with R's semantics; returns (array, names, spec)."""
    from formulaic import model_matrix as mm_

    frame = logicals_as_factors(frame)
    try:
        with _quiet():  # log(0) and friends: reported below, by column
            mm = mm_(_to_python(expr, frame.columns), frame, context=evaluator.context(), na_action="ignore")
    except Exception as e:
        raise FormulaError(f"cannot build {what} from {expr!r}: {_plain(e)}") from None
    names = [r_column_name(str(c)) for c in mm.columns]
    try:
        X = np.asarray(mm, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} {expr!r} has a column that is not numeric ({_plain(e)}); convert it to numbers "
                        "or to a categorical column") from None
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] != len(frame):
        raise DataError(f"{what} {expr!r} produced {X.shape[0]} rows for {len(frame)} data rows")
    return X, names, mm.model_spec


@contextmanager
def _quiet():
    """Evaluate user expressions without numpy's floating-point warnings: the values they concern
    (NaN, inf) are reported as our own errors, by column. ``np.errstate`` is local to the thread
    (the warning filters are not, so they are left alone)."""
    with np.errstate(all="ignore"):
        yield


def _plain(e: Exception) -> str:
    """formulaic's message without its terminal colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()


def check_finite_columns(X: np.ndarray, names: list[str], index, what: str) -> None:
    """Name the first column with NaN/infinite entries, or with values too large or small for X'X."""
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        i = int(np.flatnonzero(bad[:, j])[0])
        kind = "missing (NaN)" if np.isnan(X[i, j]) else "infinite"
        raise DataError(f"{what} has {kind} values in column {names[j]!r} (first at row {index[i]!r}), e.g. from "
                        "log of zero or of a negative number, or 1/0; transform the variable or drop those rows")
    if X.size:
        amax = np.max(np.abs(X), axis=0)
        for j, a in enumerate(amax):
            if a > _HUGE or 0 < a < 1 / _HUGE:
                raise DataError(f"{what}: column {names[j]!r} has values of size {a:.3g}, beyond what double "
                                "precision crossproducts can hold; rescale it (e.g. multiply by a power of 10)")


_HUGE = 1e100


def r_term_order(expr: str) -> str:
    """Write interactions with their variables in R's order, the order of first appearance in the
    formula: R names ``x + f + f:x``'s interaction ``x:fb`` where formulaic would say ``fb:x``.

    Returns ``expr`` unchanged when every interaction already follows that order (or when the
    formula is beyond this simple rewrite), so formulaic sees the user's text whenever it can.
    """
    try:
        from formulaic import Formula

        terms = list(Formula(_to_python(expr)))
    except Exception:  # formulaic reports the problem itself when it builds the matrix
        return expr
    text = re.sub(r"\s+", "", _to_python(expr))  # formulaic respaces expressions: compare without

    def first(factor) -> int:
        key = re.sub(r"\s+", "", str(factor))
        m = re.search(r"(?<![\w.])" + re.escape(key) + r"(?![\w.(])", text)
        return m.start() if m else len(text)

    changed = False
    rebuilt = []
    for t in terms:
        factors = [str(f) for f in t.factors]
        if len(factors) > 1:
            ordered = sorted(factors, key=lambda f: first(f))
            changed |= ordered != factors
            factors = ordered
        rebuilt.append(":".join(evaluator.r_name(f) for f in factors))  # R's text, for the gate again
    if not changed:
        return expr
    intercept = "1" in rebuilt
    body = [t for t in rebuilt if t != "1"]
    return " + ".join((["1"] if intercept else ["0"]) + body)


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
    expr = r_term_order(parsed.fixed)
    data = _drop_unused_levels(expr, frame.data)
    expr = shield_intercept(expr, data)
    X, names, spec = fixed_matrix(expr, data, "the fixed-effects model matrix")
    check_finite_columns(X, names, frame.data.index, "the fixed-effects model matrix")
    all_names = list(names)
    keep = _independent_columns(X)
    dropped = [nm for j, nm in enumerate(names) if j not in keep]
    if dropped:
        X = X[:, keep]
        names = [names[j] for j in keep]
    return FixedDesign(X, names, spec, dropped, all_names)


def fixed_matrix(expr: str, data: pd.DataFrame, what: str):
    """formulaic's matrix of ``expr`` recoded as R's model.matrix codes it (:func:`_r_coding`):
    returns (array, R's names, spec for new data)."""
    used = variables_in(expr, data.columns)
    if len(used) < data.shape[1] and len(set(data.columns)) == data.shape[1]:
        # only the formula's columns: logicals_as_factors converts every integer column it is given
        data = data.loc[:, used]
    X, names, spec = model_matrix(expr, data, what)
    coded = _r_coding(expr, data, spec, names)
    if coded is not None:
        X, names, spec = coded
    return X, names, spec


def _drop_unused_levels(expr: str, data: pd.DataFrame) -> pd.DataFrame:
    """The factors of ``expr`` without their unused levels, as R's model frame has them
    (drop.unused.levels): no all-zero column for a level without rows (and no rank-deficiency
    warning R would not give), and an ordered factor's polynomial contrasts on the levels used."""
    # only factors standing as terms: inside a call (as.numeric(f)) R evaluates the original factor
    fix = {v: data[v].cat.remove_unused_categories() for v in _formula_level_values(expr)
           if v in data.columns and isinstance(data[v], pd.Series)
           and isinstance(data[v].dtype, pd.CategoricalDtype)
           and len(data[v].cat.categories) > data[v].nunique(dropna=True)}
    return _replace_columns(data, fix) if fix else data


def _formula_level_values(expr: str) -> list[str]:
    """The names ``expr`` uses as terms or factors of terms, outside any call's brackets."""
    return list(dict.fromkeys(name for name, _, _ in _formula_level_tokens(expr)))


def _formula_level_tokens(expr: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of each value name of ``expr`` outside any call's brackets (``x`` in
    ``x + f:x``, not in ``log(x)``); back-quoted names unquoted."""
    tokens = evaluator.tokenize(expr)
    roles = evaluator._roles(tokens)
    calls: list[bool] = []  # for each open bracket: is it a call's?
    out = []
    for i, (t, role) in enumerate(zip(tokens, roles)):
        if t.kind == "op" and t.text == "(":
            calls.append(i > 0 and tokens[i - 1].kind in ("name", "quoted"))
        elif t.kind == "op" and t.text == ")" and calls:
            calls.pop()
        value = t.kind == "quoted" or (t.kind == "name" and role.kind == "value")
        if value and not any(calls):
            out.append((t.text[1:-1] if t.kind == "quoted" else t.text, t.pos, t.pos + len(t.text)))
    return out


# a numeric column named Intercept is written so for formulaic, whose intercept has that name
_SHIELDED_INTERCEPT = "I(Intercept + 0)"


def shield_intercept(expr: str, data: pd.DataFrame) -> str:
    """``expr`` with a numeric column named ``Intercept`` written ``I(Intercept + 0)`` where it
    stands as a term or factor of one: formulaic names its intercept column ``Intercept`` and
    would merge the two; :func:`r_column_name` names the column ``Intercept`` again, as R does."""
    if "Intercept" not in data.columns or "Intercept" not in evaluator.variables(expr):
        return expr
    col = data["Intercept"]
    if not isinstance(col, pd.Series) or not (
            (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype))
            or (col.dtype == object and _object_numbers(col) is not None)):
        return expr  # a factor: its columns are InterceptA, ... and cannot collide
    out, last = [], 0
    for name, start, end in _formula_level_tokens(expr):
        if name == "Intercept":
            out += [expr[last:start], _SHIELDED_INTERCEPT]
            last = end
    return "".join(out) + expr[last:]


class RCodedSpec:
    """A formulaic ModelSpec that codes every factor by dummies for all levels, restricted to the
    columns R's ``model.matrix`` keeps: new data get exactly the columns of the fit.

    An entry of ``columns`` is formulaic's name of a column kept as it is, or a :class:`_Combo`:
    a column R forms from several of them (an ordered factor's polynomial contrasts), with its
    weights; so the contrasts of the fit are replayed on new data.
    """

    def __init__(self, inner, columns):
        self.inner = inner
        self.columns = list(columns)  # formulaic's names of the columns kept (or _Combo), in order

    def get_model_matrix(self, data, *args, **kwargs):
        mm = self.inner.get_model_matrix(data, *args, **kwargs)
        pos = {str(c): j for j, c in enumerate(mm.columns)}
        if not any(isinstance(c, _Combo) for c in self.columns):
            idx = [pos[c] for c in self.columns]
            return mm.iloc[:, idx] if hasattr(mm, "iloc") else mm[:, idx]
        A = np.asarray(mm, dtype=float)
        if A.ndim == 1:
            A = A.reshape(-1, 1)
        out = np.empty((A.shape[0], len(self.columns)))
        for j, c in enumerate(self.columns):
            if isinstance(c, _Combo):
                out[:, j] = sum(w * A[:, pos[k]] for k, w in c.weights.items())
            else:
                out[:, j] = A[:, pos[c]]
        index = mm.index if hasattr(mm, "index") else None
        return pd.DataFrame(out, columns=[str(c) for c in self.columns], index=index)

    @property
    def column_names(self) -> tuple:
        return tuple(str(c) for c in self.columns)

    @property
    def structure(self):
        """The inner spec's terms, each with the columns kept for it (anova() groups by these)."""
        out = []
        for st in self.inner.structure:
            own = set(map(str, st.columns))
            cols = [str(c) for c in self.columns
                    if (set(c.weights) <= own if isinstance(c, _Combo) else c in own)]
            out.append(st._replace(columns=cols) if hasattr(st, "_replace") else st)
        return out

    def __getattr__(self, name):  # everything else (encoder_state, ...) is the inner spec's
        if name.startswith("__") or name in ("inner", "columns"):
            raise AttributeError(name)
        return getattr(self.inner, name)


class _Combo(str):
    """A model-matrix column that is a weighted sum of formulaic's columns; its text is its name."""

    def __new__(cls, name: str, weights: dict):
        obj = super().__new__(cls, name)
        obj.weights = dict(weights)
        return obj

    def __reduce__(self):  # pickle and deepcopy keep the weights
        return (_Combo, (str(self), self.weights))


def contr_poly(k: int) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts on the scores 1..k, and R's names.

    Parameters
    ----------
    k : int
        Number of levels, at least 2.

    Returns
    -------
    numpy.ndarray
        k x (k-1) matrix; column j is the degree-(j+1) polynomial, orthogonal to the lower ones
        and to the constant, of unit length, signed as R signs it.
    list of str
        ``[".L", ".Q", ".C", "^4", "^5", ...]``.
    """
    x = np.arange(1, k + 1, dtype=float)
    V = np.vander(x - x.mean(), k, increasing=True)
    Q, R = np.linalg.qr(V)
    # R's make.poly: qr.qy(QR, diag(R)) normalised, i.e. each Q column times the sign of R's diagonal
    Z = Q * np.sign(np.diag(R))
    names = [".L", ".Q", ".C"][: k - 1] + [f"^{d}" for d in range(4, k)]
    return Z[:, 1:], names


def _r_factor_codes(terms: list[list[str]], categorical: set, intercept: bool) -> list[dict]:
    """R's ``attr(terms, "factors")`` coding of each factor in each term: 1 by contrasts, 2 by
    dummies for all levels. A variable is coded by contrasts when the term without it is empty or
    lies within an earlier term; without an intercept, model.matrix codes the first factor of the
    first term that has one by dummies (Chambers & Hastie 1992, ch. 5)."""
    codes = []
    for j, t in enumerate(terms):
        c = {}
        for v in t:
            rest = set(t) - {v}
            c[v] = 1 if (not rest or any(rest <= set(b) for b in terms[:j])) else 2
        codes.append(c)
    if not intercept:
        for j, t in enumerate(terms):
            first = next((v for v in t if v in categorical), None)
            if first is not None:
                codes[j][first] = 2
                break
    return codes


def _r_coding(expr: str, data: pd.DataFrame, spec, names: list[str]):
    """X coded as R's model.matrix codes it, where that differs from formulaic's full-rank coding
    (a factor whose margin is missing from the formula: ``f:g``, ``0 + x + x:f``); None where the
    two agree or where the formula is beyond this (non-treatment contrasts, a one-level factor).

    Built from formulaic's coding by dummies for all levels, leaving out each contrast-coded
    factor's first level; lme4 then drops the columns that depend on earlier ones."""
    try:
        from formulaic import model_matrix as mm_
        from formulaic.transforms.contrasts import TreatmentContrasts
        from formulaic.utils.sentinels import UNSET

        enc = spec.encoder_state
    except Exception:
        return None

    def kinds(sp):
        terms, intercept = [], False
        for st in sp.structure:
            facs = [str(f.expr) for f in st.term.factors if str(f.expr) != "1"]
            if facs:
                terms.append(facs)
            else:
                intercept = True
        return terms, intercept

    terms, intercept = kinds(spec)
    cats = {}
    for t in terms:
        for v in t:
            kind, state = enc.get(v, (None, None))
            if getattr(kind, "value", kind) != "categorical":
                continue
            if not isinstance(state, dict):
                return None
            contr = getattr(state.get("contrasts"), "contrasts", None)
            levels = list(state.get("categories") or [])
            if not isinstance(contr, TreatmentContrasts) or contr.base is not UNSET or len(levels) < 2:
                return None
            cats[v] = levels
    if not cats:
        return None
    # ordered factors get R's polynomial contrasts (contr.poly), formulaic's coding never does
    ordered = {v for v in cats if v in data.columns and isinstance(data[v].dtype, pd.CategoricalDtype)
               and data[v].cat.ordered}
    codes = _r_factor_codes(terms, set(cats), intercept)
    try:
        with _quiet():
            full = mm_(_to_python(expr, data.columns), logicals_as_factors(data), context=evaluator.context(),
                       na_action="ignore",
                       ensure_full_rank=False)
    except Exception:
        return None
    fspec = full.model_spec
    fterms, fintercept = kinds(fspec)
    if fterms != terms or fintercept != intercept:
        return None
    keep: list[str] = ["Intercept"] if intercept else []
    for t, c, st in zip(terms, codes, [st for st in fspec.structure if str(st.term) != "1"]):
        cols = [str(col) for col in st.columns]
        if any(v in ordered and c[v] == 1 for v in t):
            combos = _contrast_columns(t, c, cats, ordered, cols)
            if combos is None:
                return None
            keep += combos
            continue
        drop = set()
        for p, v in enumerate(t):
            if v not in cats or c[v] != 1:
                continue
            ref = f"{v}[{cats[v][0]}]"
            hit = [col for col in cols if len(_split_colon(col)) == len(t) and _split_colon(col)[p] == ref]
            if len(hit) * len(cats[v]) != len(cols):
                return None  # columns not as expected: leave formulaic's coding
            drop.update(hit)
        keep += [col for col in cols if col not in drop]
    rnames = [r_column_name(col) for col in keep]
    if (rnames == list(names) and not ordered) or len(set(rnames)) != len(rnames):
        return None
    pos = {str(col): j for j, col in enumerate(full.columns)}
    if any(k not in pos for col in keep for k in (col.weights if isinstance(col, _Combo) else [col])):
        return None
    X = np.asarray(full, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] != len(data):
        return None
    out = np.empty((X.shape[0], len(keep)))
    for j, col in enumerate(keep):
        if isinstance(col, _Combo):
            out[:, j] = sum(w * X[:, pos[k]] for k, w in col.weights.items())
        else:
            out[:, j] = X[:, pos[col]]
    return out, rnames, RCodedSpec(fspec, keep)


def _contrast_columns(t: list[str], c: dict, cats: dict, ordered: set, cols: list[str]):
    """The columns of one term with R's coding when it has an ordered factor coded by contrasts:
    for each factor its basis (polynomial contrasts, treatment contrasts, or dummies for all
    levels; a numeric variable is itself), and the term's columns their products, the first factor
    varying fastest as in R. None when formulaic's columns are not as expected."""
    import itertools

    bases = []
    for v in t:
        if v not in cats:
            bases.append([(v, {v: 1.0})])
            continue
        levels = cats[v]
        ind = [(f"{v}[{lev}]", {f"{v}[{lev}]": 1.0}) for lev in levels]
        if c[v] == 2:
            bases.append(ind)
        elif v in ordered:
            P, suffix = contr_poly(len(levels))
            bases.append([(f"{v}{suffix[j]}", {f"{v}[{lev}]": float(P[i, j]) for i, lev in enumerate(levels)})
                          for j in range(P.shape[1])])
        else:
            bases.append(ind[1:])
    have = set(cols)
    out = []
    for combo in itertools.product(*reversed(bases)):
        combo = combo[::-1]  # first factor fastest
        name = ":".join(nm for nm, _ in combo)
        weights = {}
        for parts in itertools.product(*[list(w.items()) for _, w in combo]):
            key = ":".join(k for k, _ in parts)
            if key not in have:
                return None
            w = float(np.prod([x for _, x in parts]))
            if w != 0.0:
                weights[key] = weights.get(key, 0.0) + w
        if len(weights) == 1 and name in weights and weights[name] == 1.0:
            out.append(name)  # an indicator or numeric column: formulaic's own
        else:
            out.append(_Combo(name, weights))
    return out


_SCALE_TOL = 1e3  # lme4's lmerControl(check.scaleX) tolerance


def scale_problem(X: np.ndarray, tol: float = _SCALE_TOL) -> bool:
    """lme4's check.scaleX rule: among the columns that are not all 0/1, an SD beyond [1/tol, tol]
    or two SDs more than a factor tol apart."""
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
    """lme4's two warnings about X: dropped aliased columns, and predictors on very different scales."""

    from ..errors import RankDeficiencyWarning, ScaleWarning

    if fixed.dropped:
        k = len(fixed.dropped)
        warn(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
             f" / coefficient{'s' if k > 1 else ''} ({', '.join(fixed.dropped)})", RankDeficiencyWarning,
             stacklevel=stacklevel)
    if scale_problem(fixed.X):
        warn("Some predictor variables are on very different scales: consider rescaling "
             "(e.g. scale(x) in the formula, or other units)", ScaleWarning, stacklevel=stacklevel)


def _independent_columns(X: np.ndarray, tol: float = 1e-7) -> list[int]:
    """Columns kept as R's qr() keeps them: a column that depends on earlier ones is dropped."""
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


def grouping_codes(factors: tuple[str, ...], data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Level codes and labels of a grouping factor (an interaction ``a:b`` for several names).

    Levels follow R: a factor's own level order (unused levels dropped), sorted values for other
    columns; for ``a:b`` the combinations seen, ``a`` varying slowest, labelled ``"a1:b1"``.
    """
    codes = np.zeros(len(data), dtype=np.int64)
    if not factors:
        return codes, [""]
    labels: list[str] = []
    for k, f in enumerate(factors):
        c, lab = _factor(data[f])
        # only the combinations that occur: the codes so far (ranks of the used combinations in
        # sorted order) times this factor's level count keep that order, and never the full
        # product of labels (1000 schools x 50,000 students would be 50 million labels)
        used, codes = np.unique(codes * len(lab) + c, return_inverse=True)
        codes = codes.reshape(-1)
        prev = labels
        labels = [f"{prev[u // len(lab)]}:{lab[u % len(lab)]}" if k else lab[u] for u in used.tolist()]
    return codes.astype(np.int64), labels


def _factor(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [_label(c) for c in col.cat.categories]
        return col.cat.codes.to_numpy().astype(np.int64), cats
    values = col.to_numpy()
    try:
        uniq, inv = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types: compare as text
        uniq, inv = np.unique(values.astype(str), return_inverse=True)
    return inv.astype(np.int64), [_label(u) for u in uniq]


def _label(v) -> str:
    """A level's label as R's ``as.character`` writes it: TRUE/FALSE, 2 for 2.0 (also a Decimal)."""
    from decimal import Decimal

    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating, Decimal)) and v == v and abs(v) != float("inf") \
            and float(v).is_integer():
        return str(int(v))
    return str(v)


def random_terms(parsed: ParsedFormula, frame: ModelFrame) -> list[ReTerm]:
    """The random-effects terms, ordered as lme4 orders them: by decreasing number of levels."""
    terms = []
    for t in parsed.random:
        codes, levels = grouping_codes(t.factors, frame.data)
        z, cnames, spec = model_matrix(t.expr, frame.data, f"the random-effects term {t}")
        if z.shape[1] == 0:
            raise FormulaError(f"the random-effects term {t} has no columns")
        check_finite_columns(z, cnames, frame.data.index, f"the random-effects term {t}")
        terms.append(ReTerm(t, t.group, levels, codes, cnames, z, spec))
    order = sorted(range(len(terms)), key=lambda i: -terms[i].nlev)  # stable, like R's order()
    return [terms[i] for i in order]


def check_terms(terms: list[ReTerm], n: int) -> None:
    """lme4's checks of the random-effects structure against the number of observations."""
    one = [t.group for t in terms if t.nlev < 2]
    if one:
        raise DataError(f"grouping factors must have > 1 sampled level (problems: {', '.join(one)}); "
                        "a random effect needs several groups to estimate a variance")
    many = sorted({t.group for t in terms if t.nlev >= n})
    if many:
        raise DataError("number of levels of each grouping factor must be < number of observations "
                        f"(problems: {', '.join(many)}); each group needs repeated observations (a continuous "
                        "variable with a different value in every row cannot be a grouping factor)")
    for t in terms:
        if t.q >= n:
            raise DataError(f"number of observations (={n}) <= number of random effects (={t.q}) for term "
                            f"{t.term}; the random-effects parameters and the residual variance are probably "
                            "unidentifiable: simplify the random-effects term")
