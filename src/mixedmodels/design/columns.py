"""The data's columns as a model reads them.

One converter takes every data frame the package accepts (pandas, polars, dicts, objects with
``to_pandas()``) to pandas; the column types then decide what R would do with them: logical
columns are factors, integers are doubles, object columns of numbers are numbers, dates are
refused. Level labels are written as R's ``as.character`` writes them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import DataError
from ..formula import evaluate as evaluator

__all__ = ["variables_in", "as_pandas", "replace_columns", "logicals_as_factors", "numbers_as_doubles",
           "object_numbers", "check_predictor_columns", "r_label"]


def variables_in(expr: str, columns) -> list[str]:
    """Column names mentioned in an expression.

    Parameters
    ----------
    expr : str
        A formula or an expression of one.
    columns : iterable
        The data's column names.

    Returns
    -------
    list of str
        The names ``expr`` uses as values that are columns, in order of first use (function
        names and constants such as ``pi`` are not).
    """
    cols = set(map(str, columns))
    return [v for v in evaluator.variables(expr) if v in cols]


def as_pandas(data, what: str = "data") -> pd.DataFrame:
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


def replace_columns(data: pd.DataFrame, changed: dict) -> pd.DataFrame:
    """A copy of ``data`` with some columns replaced.

    Parameters
    ----------
    data : pandas.DataFrame
    changed : dict
        Column name -> new values; names need not be identifiers (``DataFrame.assign`` would
        need them to be).

    Returns
    -------
    pandas.DataFrame
        A copy: the caller's frame is never changed.
    """
    data = data.copy()
    for k, v in changed.items():
        data[k] = v
    return data


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
            num = object_numbers(frame.iloc[:, i])
            if num is not None:
                changed[i] = num
    if not changed:
        return frame
    frame = frame.copy()
    for i, v in changed.items():
        frame.isetitem(i, v)
    return frame


_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal"}


def object_numbers(col: pd.Series) -> np.ndarray | None:
    """An object column's values as numbers, when they are numbers.

    Parameters
    ----------
    col : pandas.Series
        A column of dtype object.

    Returns
    -------
    numpy.ndarray or None
        float64 values (NaN for None, NaN and pd.NA) when every present value is a real number
        (int, float, Decimal; not a bool), else None.
    """
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


def r_label(v) -> str:
    """A level's label as R's ``as.character`` writes it.

    Parameters
    ----------
    v : object
        A level (a value of a grouping or factor column).

    Returns
    -------
    str
        ``TRUE``/``FALSE`` for booleans, ``2`` for 2.0 (also for a Decimal), ``str(v)`` otherwise.
    """
    from decimal import Decimal

    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating, Decimal)) and v == v and abs(v) != float("inf") \
            and float(v).is_integer():
        return str(int(v))
    return str(v)
