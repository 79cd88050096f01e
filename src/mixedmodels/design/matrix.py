"""Model matrices from formula texts, through the closed evaluator's gate.

Every expression is rewritten by :mod:`mixedmodels.formula.evaluate` (which refuses what it does
not allow) before formulaic evaluates it; the columns formulaic names are renamed as R names
them (``recipe[T.B]:temp`` -> ``recipeB:temp``), and interactions are written in R's order.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError
from ..formula import evaluate as evaluator
from .columns import logicals_as_factors, numbers_as_doubles, object_numbers, replace_columns, variables_in

__all__ = ["evaluate_numeric", "formulaic_text", "r_column_name", "split_colon", "model_matrix", "plain_numeric",
           "LazySpec", "drop_unused_levels", "quiet",
           "check_finite_columns", "HUGE", "r_term_order", "formula_level_values", "shield_intercept"]


def evaluate_numeric(expr: str, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate an expression such as ``Reaction`` or ``log(y)`` to a float vector.

    Parameters
    ----------
    expr : str
        A column name or an expression of columns (through the evaluator's gate).
    frame : pandas.DataFrame
        The rows to evaluate it on.
    what : str
        How error messages name it ("the response", "the offset").

    Returns
    -------
    numpy.ndarray
        One float per row; NaN where the expression is undefined (``log`` of a negative number).

    Raises
    ------
    DataError
        For a column that is not numeric (a factor, text), several columns, or infinite values.
    FormulaError
        When formulaic cannot evaluate the expression.
    """
    name = expr.strip().strip("`")
    if name in frame.columns:
        col = frame[name]
        numbers = object_numbers(col) if col.dtype == object else None
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
    elif (out := _plain_arithmetic(expr, frame)) is not None:
        pass
    else:
        try:
            from formulaic import model_matrix
            # only the expression's columns, integers as doubles: R's arithmetic (I(y^2) on int8 data)
            data = numbers_as_doubles(frame[variables_in(expr, frame.columns)])
            with quiet():
                mm = model_matrix(f"0 + {formulaic_text(f'I({expr})', data.columns)}", data,
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


_OPERAND = r"\s*([A-Za-z_.][A-Za-z0-9_.]*|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
_ARITH = re.compile(rf"\s*(?:I\()?{_OPERAND}([-+*/]){_OPERAND}\)?\s*")
_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _plain_arithmetic(expr: str, frame: pd.DataFrame):
    """``a - b`` (or ``I(a - b)``, with + * / too) of two numeric columns or a column and a number,
    computed directly in doubles, as R computes it; None for anything else, which formulaic
    evaluates through the gate (``cbind(incidence, size - incidence)``'s second column cost 6 ms
    there, a tenth of cbpp's fit)."""
    m = _ARITH.fullmatch(expr)
    if m is None or (expr.strip().startswith("I(") != expr.strip().endswith(")")):
        return None
    vals = []
    for tok in (m.group(1), m.group(3)):
        if tok[0].isdigit() or tok[0] == "." and tok[1:2].isdigit():
            vals.append(float(tok))
            continue
        if tok in evaluator.CONSTANTS or tok not in frame.columns or list(frame.columns).count(tok) != 1:
            return None
        dt = frame[tok].dtype
        if not (isinstance(dt, np.dtype) and dt.kind in "iuf"):
            return None
        vals.append(frame[tok].to_numpy(dtype=float))
    if not any(isinstance(v, np.ndarray) for v in vals):
        return None
    with np.errstate(all="ignore"):  # x / 0: infinite, reported by the caller as formulaic's would be
        out = _OPS[m.group(2)](vals[0], vals[1])
    return np.broadcast_to(out, (len(frame),)).astype(float)


def _kind(col: pd.Series) -> str:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return f"a factor with levels {list(col.cat.categories)[:5]}"
    return f"of type {col.dtype}"


def formulaic_text(expr: str, columns=None) -> str:
    """``expr`` through the closed evaluator, as formulaic reads it.

    Parameters
    ----------
    expr : str
        R's text of a formula or an expression.
    columns : iterable of str, optional
        The data's columns; without them every name the expression uses as a value is taken for a
        column, which is right only for texts that formulaic parses but does not evaluate.

    Returns
    -------
    str
        The text formulaic gets (:func:`mixedmodels.formula.evaluate.to_formulaic`, which refuses
        what the gate does not allow).
    """
    if columns is None:
        columns = [v for v in evaluator.variables(expr) if v not in evaluator.CONSTANTS]
    return evaluator.to_formulaic(expr, columns)


def r_column_name(name: str) -> str:
    """R's name of a formulaic column.

    Parameters
    ----------
    name : str
        formulaic's name, e.g. ``recipe[T.B]:temp``, ``Intercept``, ``x ** 2``.

    Returns
    -------
    str
        R's name, e.g. ``recipeB:temp``, ``(Intercept)``, ``x^2``.
    """
    if name == "Intercept":
        return "(Intercept)"
    parts = []
    for part in split_colon(name):
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


def split_colon(name: str) -> list[str]:
    """The factors of a column name: split on ':' outside brackets.

    Parameters
    ----------
    name : str
        formulaic's column name, e.g. ``f[T.b]:log(x)``.

    Returns
    -------
    list of str
        ``["f[T.b]", "log(x)"]``; a ':' inside a call or a level's brackets does not split.
    """
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


def model_matrix(expr: str, frame: pd.DataFrame, what: str):
    """formulaic's model matrix of ``expr`` with R's semantics.

    Parameters
    ----------
    expr : str
        R's text of the model formula's right-hand side, e.g. ``"1 + Days"``.
    frame : pandas.DataFrame
        The rows; logical and integer columns are read as R reads them (:func:`logicals_as_factors`).
    what : str
        How error messages name the matrix.

    Returns
    -------
    tuple
        (n x p float array, R's column names, formulaic's ModelSpec for new data).

    Raises
    ------
    FormulaError
        When formulaic cannot build the matrix.
    DataError
        For a column that is not numeric or a row count that does not match the data.
    """
    plain = plain_numeric(expr, frame)
    if plain is not None:
        return plain
    return _formulaic_matrix(expr, frame, what)


_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


def plain_numeric(expr: str, frame: pd.DataFrame):
    """The matrix of an additive formula of plain columns (``"1 + Days"``, ``"0 + x + z"``,
    ``"1 + period + x"``), built from the columns, with a :class:`LazySpec`; None for anything else
    (calls, interactions, ``-``, ordered factors, a factor without the intercept), which formulaic
    builds. formulaic spends 2-9 ms on such a matrix, a quarter of a small model's whole fit; its
    spec is only needed for new data, and then built.

    A numeric column is itself; an unordered categorical with text categories, beside the
    intercept, is coded as R codes it (treatment contrasts on its used levels: one column per level
    but the first, named ``f`` + level as formulaic's names become R's, :func:`r_column_name`).
    Anything else (bool, text, object columns, a categorical with a missing value or fewer than two
    used levels) goes to formulaic.
    """
    if any(ch in expr for ch in "()`*:^/%-~|[]{}\\"):
        return None
    terms = [t.strip() for t in expr.split("+")]
    if not terms or any(not t for t in terms):
        return None
    intercept, cols = True, []
    for t in terms:
        if t in ("0", "1"):
            intercept = intercept and t == "1"
            continue
        if (not _NAME.fullmatch(t) or t in evaluator.CONSTANTS or t == "Intercept" or t not in frame.columns
                or list(frame.columns).count(t) != 1):
            return None
        if t not in cols:
            cols.append(t)
    blocks, names, factors = [], ["(Intercept)"] if intercept else [], False
    for c in cols:
        col = frame[c]
        dt = col.dtype
        if isinstance(dt, np.dtype) and dt.kind in "iuf":
            blocks.append(col.to_numpy(dtype=float)[:, None])
            names.append(c)
            continue
        coded = _treatment_columns(c, col) if intercept else None
        if coded is None:
            return None
        blocks.append(coded[0])
        names += coded[1]
        factors = True
    n = len(frame)
    X = np.empty((n, len(names)))
    j = 0
    if intercept:
        X[:, 0] = 1.0
        j = 1
    for b in blocks:
        X[:, j: j + b.shape[1]] = b
        j += b.shape[1]
    # the spec for new data: formulaic's on the same rows, with the unused levels dropped as the
    # formulaic path drops them (r_model_matrix), so that both paths give the same spec
    return X, names, LazySpec(expr, drop_unused_levels(expr, frame) if factors else frame)


_PLAIN_LEVEL = re.compile(r"[^\[\]:`\\]*")


def _treatment_columns(name: str, col: pd.Series):
    """An unordered categorical's treatment-contrast columns on its used levels and their R names;
    None where the column is anything else (see :func:`plain_numeric`)."""
    dt = col.dtype
    if not isinstance(dt, pd.CategoricalDtype) or dt.ordered:
        return None
    cats = list(dt.categories)
    if not all(isinstance(v, str) and _PLAIN_LEVEL.fullmatch(v) for v in cats):
        return None
    codes = col.cat.codes.to_numpy()
    if codes.size and codes.min() < 0:
        return None
    used = np.flatnonzero(np.bincount(codes, minlength=len(cats)))
    if used.size < 2:
        return None
    # the code of each row among the used levels; the first used level is the baseline
    rank = np.full(len(cats), -1, dtype=np.int64)
    rank[used] = np.arange(used.size)
    r = rank[codes]
    D = np.zeros((len(codes), used.size - 1))
    rows = np.flatnonzero(r > 0)
    D[rows, r[rows] - 1] = 1.0
    return D, [r_column_name(f"{name}[T.{cats[k]}]") for k in used[1:]]


class LazySpec:
    """formulaic's ModelSpec of an additive formula of plain columns (:func:`plain_numeric`), built from the
    same rows on first use (new data, emmeans' grid); every attribute is the real spec's."""

    def __init__(self, expr: str, frame: pd.DataFrame):
        self._expr, self._frame, self._spec = expr, frame, None

    def _real(self):
        if self._spec is None:
            self._spec = _formulaic_matrix(self._expr, self._frame, "the model matrix")[2]
        return self._spec

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_expr", "_frame", "_spec"):
            raise AttributeError(name)
        return getattr(self._real(), name)


def _formulaic_matrix(expr: str, frame: pd.DataFrame, what: str):
    from formulaic import model_matrix as mm_

    frame = logicals_as_factors(frame)
    try:
        with quiet():  # log(0) and friends: reported below, by column
            mm = mm_(formulaic_text(expr, frame.columns), frame, context=evaluator.context(), na_action="ignore")
    except Exception as e:
        if re.search(r"\bC\([^,()]+,", expr):   # C(f, "contr.sum"), C(f, contr.helmert), ...
            raise FormulaError(f"cannot build {what} from {expr!r}: contrasts in C() other than R's default are "
                               "not supported yet; factors get treatment contrasts (contr.poly for ordered "
                               "ones). For sum-to-zero coding, add the coded columns to the data") from None
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
def quiet():
    """A context in which user expressions are evaluated without numpy's floating-point warnings.

    Yields
    ------
    None

    Notes
    -----
    The values the warnings concern (NaN, inf) are reported as our own errors, by column.
    ``np.errstate`` is local to the thread (the warning filters are not, so they are left alone).
    """
    with np.errstate(all="ignore"):
        yield


def _plain(e: Exception) -> str:
    """formulaic's message without its terminal colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()


def check_finite_columns(X: np.ndarray, names: list[str], index, what: str) -> None:
    """Refuse a model matrix that crossproducts cannot use.

    Parameters
    ----------
    X : numpy.ndarray
        The matrix.
    names : list of str
        Its column names.
    index : sequence
        The data rows' labels, for the message.
    what : str
        How the message names the matrix.

    Raises
    ------
    DataError
        Naming the first column with NaN/infinite entries, or with values too large or small
        (beyond ``HUGE`` or below its inverse) for X'X.
    """
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
            if a > HUGE or 0 < a < 1 / HUGE:
                raise DataError(f"{what}: column {names[j]!r} has values of size {a:.3g}, beyond what double "
                                "precision crossproducts can hold; rescale it (e.g. multiply by a power of 10)")


# the largest size (and the inverse of the smallest) of a column, weight or offset: its square, 1e200,
# leaves room for sums over many rows before doubles overflow (1.8e308); model_frame checks it too
HUGE = 1e100


def r_term_order(expr: str) -> str:
    """Write interactions with their variables in R's order, the order of first appearance in the
    formula: R names ``x + f + f:x``'s interaction ``x:fb`` where formulaic would say ``fb:x``.

    Returns ``expr`` unchanged when every interaction already follows that order (or when the
    formula is beyond this simple rewrite), so formulaic sees the user's text whenever it can.
    """
    try:
        from formulaic import Formula

        terms = list(Formula(formulaic_text(expr)))
    except Exception:  # formulaic reports the problem itself when it builds the matrix
        return expr
    text = re.sub(r"\s+", "", formulaic_text(expr))  # formulaic respaces expressions: compare without

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


def formula_level_values(expr: str) -> list[str]:
    """The names ``expr`` uses as terms or factors of terms.

    Parameters
    ----------
    expr : str
        R's text of a formula's right-hand side.

    Returns
    -------
    list of str
        Each name once, in order: ``x`` and ``f`` in ``x + f:x``; names inside a call's
        brackets (``x`` in ``log(x)``) are not among them.
    """
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
    """A numeric column named ``Intercept`` kept apart from formulaic's intercept.

    Parameters
    ----------
    expr : str
        R's text of a formula's right-hand side.
    data : pandas.DataFrame
        The data it is evaluated on.

    Returns
    -------
    str
        ``expr`` with the column written ``I(Intercept + 0)`` where it stands as a term or factor
        of one (formulaic names its intercept column ``Intercept`` and would merge the two;
        :func:`r_column_name` names the column ``Intercept`` again, as R does); ``expr`` itself
        when there is no such numeric column.
    """
    if "Intercept" not in data.columns or "Intercept" not in evaluator.variables(expr):
        return expr
    col = data["Intercept"]
    if not isinstance(col, pd.Series) or not (
            (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype))
            or (col.dtype == object and object_numbers(col) is not None)):
        return expr  # a factor: its columns are InterceptA, ... and cannot collide
    out, last = [], 0
    for name, start, end in _formula_level_tokens(expr):
        if name == "Intercept":
            out += [expr[last:start], _SHIELDED_INTERCEPT]
            last = end
    return "".join(out) + expr[last:]


def drop_unused_levels(expr: str, data: pd.DataFrame) -> pd.DataFrame:
    """The factors of ``expr`` without their unused levels, as R's model frame has them
    (drop.unused.levels): no all-zero column for a level without rows (and no rank-deficiency
    warning R would not give), and an ordered factor's polynomial contrasts on the levels used."""
    # only factors standing as terms: inside a call (as.numeric(f)) R evaluates the original factor
    fix = {v: data[v].cat.remove_unused_categories() for v in formula_level_values(expr)
           if v in data.columns and isinstance(data[v], pd.Series)
           and isinstance(data[v].dtype, pd.CategoricalDtype)
           and len(data[v].cat.categories) > data[v].nunique(dropna=True)}
    return replace_columns(data, fix) if fix else data
