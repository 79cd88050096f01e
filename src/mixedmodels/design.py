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
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError, DataWarning, FormulaError
from .formula import ParsedFormula, RandomTerm

__all__ = ["ReTerm", "ModelFrame", "FixedDesign", "model_frame", "fixed_design", "random_terms",
           "evaluate_numeric", "r_column_name", "grouping_codes", "scale_problem"]

_IDENT = re.compile(r"`([^`]+)`|([A-Za-z_.][A-Za-z0-9_.]*)")
# functions R users write in formulas, evaluated by formulaic in this context
_CONTEXT = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log10": np.log10, "log2": np.log2,
            "log1p": np.log1p, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan,
            "np": np, "numpy": np}


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
    """Column names mentioned in an expression (identifiers that are columns)."""
    cols = set(map(str, columns))
    out = []
    for m in _IDENT.finditer(expr):
        name = m.group(1) or m.group(2)
        if name in cols and name not in out:
            out.append(name)
    return out


def _missing_names(expr: str, columns) -> list[str]:
    """Identifiers that look like variables but are neither columns nor known functions."""
    cols = set(map(str, columns))
    out = []
    for m in _IDENT.finditer(expr):
        name = m.group(1) or m.group(2)
        after = expr[m.end():].lstrip()
        if name in cols or after.startswith("(") or name in _CONTEXT:
            continue
        if re.fullmatch(r"\d.*|T|F|TRUE|FALSE|True|False|pi", name):
            continue
        if name not in out:
            out.append(name)
    return out


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
        warnings.warn(f"{int(nan.sum())} row(s) left out because the response or an offset is NaN there "
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


# functions that formulaic knows besides those in _CONTEXT (R's I(), C(), poly(), scale()...)
_FORMULA_FUNCTIONS = {"I", "C", "Q", "offset", "poly", "scale", "center", "standardize", "bs", "cr", "cs", "cc",
                      "te", "hashed", "lag", "contr", "Treatment", "Sum", "Helmert", "Diff", "Poly", "exp2",
                      "exp10"}


def _check_functions(expr: str, columns) -> None:
    """Refuse a call to a function that neither formulaic, numpy nor Python knows, naming it."""
    import builtins

    cols = set(map(str, columns))
    for m in _IDENT.finditer(expr):
        name = m.group(2)
        if not name or not expr[m.end():].lstrip().startswith("(") or name in cols:
            continue
        if name in _CONTEXT or name in _FORMULA_FUNCTIONS or hasattr(builtins, name):
            continue
        head, _, attr = name.partition(".")
        if head in ("np", "numpy") and attr and hasattr(np, attr):
            continue
        known = ", ".join(sorted(k for k in _CONTEXT if k not in ("np", "numpy")))
        raise FormulaError(f"unknown function {name!r} in {expr!r}; use one of {known}, I(), poly(), scale(), "
                           "center(), C(), or a numpy function as np.name()")


def _as_pandas(data) -> pd.DataFrame:
    if type(data).__module__.startswith("polars"):
        # column by column: polars' own to_pandas() needs pyarrow
        out = pd.DataFrame({c: data[c].to_list() for c in data.columns})
        for c, dtype in zip(data.columns, data.dtypes):
            if str(dtype) in ("Categorical", "Enum") or str(dtype).startswith(("Categorical", "Enum")):
                out[c] = pd.Categorical(out[c], categories=data[c].cat.get_categories().to_list())
        return out
    if hasattr(data, "to_pandas"):  # pyarrow tables
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise DataError(f"data must be a pandas or polars DataFrame, got {type(data).__name__}")


def _row_vector(v, n, what):
    if v is None:
        return None
    try:
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
            with _quiet():
                mm = model_matrix(f"0 + {_to_python(f'I({expr})')}", frame, context=_CONTEXT, na_action="ignore")
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


def _to_python(expr: str) -> str:
    """R's ``^`` inside I() and other calls is Python's ``**``; formula-level ``^`` stays."""
    out, depth = [], 0
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        out.append("**" if ch == "^" and depth > 0 else ch)
    return "".join(out)


def r_column_name(name: str) -> str:
    """formulaic's column name -> R's: ``recipe[T.B]:temp`` -> ``recipeB:temp``."""
    if name == "Intercept":
        return "(Intercept)"
    parts = []
    for part in _split_colon(name):
        m = re.fullmatch(r"(.*)\[(?:T\.)?(.*)\]", part, flags=re.S)
        if m:
            level = {"True": "TRUE", "False": "FALSE"}.get(m.group(2), m.group(2))
            part = m.group(1) + level
        part = part.replace(" ** ", "^").replace("**", "^")
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
    """R codes a logical predictor as a factor (column ``xTRUE``); formulaic would use 0/1."""
    logical = [i for i, dt in enumerate(frame.dtypes) if pd.api.types.is_bool_dtype(dt)]
    if not logical:
        return frame
    frame = frame.copy()
    for i in logical:  # by position: column names may repeat
        frame.isetitem(i, pd.Categorical(frame.iloc[:, i].astype(object), categories=[False, True]))
    return frame


def model_matrix(expr: str, frame: pd.DataFrame, what: str):
    """formulaic's model matrix of ``expr`` with R's semantics; returns (array, names, spec)."""
    from formulaic import model_matrix as mm_

    frame = logicals_as_factors(frame)
    try:
        with _quiet():  # log(0) and friends: reported below, by column
            mm = mm_(_to_python(expr), frame, context=_CONTEXT, na_action="ignore")
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
    """Evaluate user expressions without numpy's floating-point warnings or Python's syntax hints:
    the values they concern (NaN, inf) and broken expressions are reported as our own errors."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        for cat in (SyntaxWarning, RuntimeWarning, DeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", cat)
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
        rebuilt.append(":".join(factors))
    if not changed:
        return expr
    intercept = "1" in rebuilt
    body = [t for t in rebuilt if t != "1"]
    return " + ".join((["1"] if intercept else ["0"]) + body)


def fixed_design(parsed: ParsedFormula, frame: ModelFrame) -> FixedDesign:
    """X with R's names; rank-deficient columns dropped as lme4 does (pivoted QR)."""
    expr = r_term_order(parsed.fixed)
    X, names, spec = model_matrix(expr, frame.data, "the fixed-effects model matrix")
    coded = _r_coding(expr, frame.data, spec, names)
    if coded is not None:
        X, names, spec = coded
    check_finite_columns(X, names, frame.data.index, "the fixed-effects model matrix")
    all_names = list(names)
    keep = _independent_columns(X)
    dropped = [nm for j, nm in enumerate(names) if j not in keep]
    if dropped:
        X = X[:, keep]
        names = [names[j] for j in keep]
    return FixedDesign(X, names, spec, dropped, all_names)


class RCodedSpec:
    """A formulaic ModelSpec that codes every factor by dummies for all levels, restricted to the
    columns R's ``model.matrix`` keeps: new data get exactly the columns of the fit."""

    def __init__(self, inner, columns):
        self.inner = inner
        self.columns = list(columns)  # formulaic's names of the columns kept, in order

    def get_model_matrix(self, data, *args, **kwargs):
        mm = self.inner.get_model_matrix(data, *args, **kwargs)
        pos = {str(c): j for j, c in enumerate(mm.columns)}
        idx = [pos[c] for c in self.columns]
        return mm.iloc[:, idx] if hasattr(mm, "iloc") else mm[:, idx]

    @property
    def column_names(self) -> tuple:
        return tuple(self.columns)

    def __getattr__(self, name):  # everything else (structure, encoder_state, ...) is the inner spec's
        if name.startswith("__") or name in ("inner", "columns"):
            raise AttributeError(name)
        return getattr(self.inner, name)


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
    codes = _r_factor_codes(terms, set(cats), intercept)
    try:
        with _quiet():
            full = mm_(_to_python(expr), logicals_as_factors(data), context=_CONTEXT, na_action="ignore",
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
    if rnames == list(names) or len(set(rnames)) != len(rnames):
        return None
    pos = {str(col): j for j, col in enumerate(full.columns)}
    if any(col not in pos for col in keep):
        return None
    X = np.asarray(full, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] != len(data):
        return None
    return X[:, [pos[col] for col in keep]], rnames, RCodedSpec(fspec, keep)


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
    import warnings

    from .errors import RankDeficiencyWarning, ScaleWarning

    if fixed.dropped:
        k = len(fixed.dropped)
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
                      f" / coefficient{'s' if k > 1 else ''} ({', '.join(fixed.dropped)})", RankDeficiencyWarning,
                      stacklevel=stacklevel)
    if scale_problem(fixed.X):
        warnings.warn("Some predictor variables are on very different scales: consider rescaling "
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
    labels: list[str] = [""]
    for k, f in enumerate(factors):
        c, lab = _factor(data[f])
        codes = codes * len(lab) + c
        labels = [f"{a}:{b}" if k else b for a in labels for b in lab]
    used, codes = np.unique(codes, return_inverse=True)
    return codes.astype(np.int64), [labels[i] for i in used]


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
    if isinstance(v, (bool, np.bool_)):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
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
