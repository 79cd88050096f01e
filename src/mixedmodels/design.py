"""From a parsed formula and a data frame to the model's matrices.

The model frame keeps the rows where every variable the formula uses is present (R's
``na.omit``). The fixed-effects matrix ``X`` comes from formulaic with R's column names; each
random-effects term becomes a :class:`ReTerm`: the level code of every row and the term's own
small model matrix, from which the core forms ``Z'Z`` and friends without ever building ``Z``
densely.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import DataError, FormulaError
from .formula import ParsedFormula, RandomTerm

__all__ = ["ReTerm", "ModelFrame", "FixedDesign", "model_frame", "fixed_design", "random_terms",
           "evaluate_numeric", "r_column_name", "grouping_codes"]

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
    """Rows used by the model, after R's na.omit on every variable the formula uses."""
    if not isinstance(data, pd.DataFrame):
        data = _as_pandas(data)
    exprs = [parsed.response, parsed.fixed, *parsed.offsets]
    for t in parsed.random:
        exprs.append(t.expr)
    missing = []
    for e in exprs:
        missing += [m for m in _missing_names(e, data.columns) if m not in missing]
    for t in parsed.random:
        missing += [f for f in t.factors if f not in data.columns and f not in missing]
    if missing:
        raise DataError(f"variable(s) {', '.join(map(repr, missing))} used in the formula are not columns of the "
                        f"data; the data have: {', '.join(map(str, data.columns[:20]))}"
                        f"{' ...' if len(data.columns) > 20 else ''}")
    used = []
    for e in exprs:
        used += [v for v in variables_in(e, data.columns) if v not in used]
    for t in parsed.random:
        used += [f for f in t.factors if f not in used]
    n_all = len(data)
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
    y = None
    if response_numeric:
        y = evaluate_numeric(parsed.response, frame, "the response")
    if w is not None:
        w = w[keep]
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise DataError("weights must be finite and non-negative")
    if o is not None:
        o = o[keep]
    for expr in parsed.offsets:
        extra = evaluate_numeric(expr, frame, "the offset")
        o = extra if o is None else o + extra
    return ModelFrame(frame, y, w, o, used)


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
    arr = np.asarray(v, dtype=float).ravel()
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
            out = pd.to_numeric(col).to_numpy(dtype=float)
    else:
        try:
            from formulaic import model_matrix
            mm = model_matrix(f"0 + {_to_python(expr)}", frame, context=_CONTEXT, na_action="ignore")
        except Exception as e:  # formulaic's errors are many; report them as ours
            raise FormulaError(f"cannot evaluate {what} {expr!r}: {e}") from None
        if mm.shape[1] != 1:
            raise DataError(f"{what} {expr!r} must be one numeric column, but it gives {mm.shape[1]} columns")
        out = np.asarray(mm, dtype=float).ravel()
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


def model_matrix(expr: str, frame: pd.DataFrame, what: str):
    """formulaic's model matrix of ``expr`` with R's semantics; returns (array, names, spec)."""
    from formulaic import model_matrix as mm_

    try:
        mm = mm_(_to_python(expr), frame, context=_CONTEXT, na_action="ignore")
    except Exception as e:
        raise FormulaError(f"cannot build {what} from {expr!r}: {e}") from None
    names = [r_column_name(str(c)) for c in mm.columns]
    X = np.asarray(mm, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] != len(frame):
        raise DataError(f"{what} {expr!r} produced {X.shape[0]} rows for {len(frame)} data rows")
    return X, names, mm.model_spec


def fixed_design(parsed: ParsedFormula, frame: ModelFrame) -> FixedDesign:
    """X with R's names; rank-deficient columns dropped as lme4 does (pivoted QR)."""
    X, names, spec = model_matrix(parsed.fixed, frame.data, "the fixed-effects model matrix")
    if not np.all(np.isfinite(X)):
        raise DataError("the fixed-effects model matrix has infinite or missing values "
                        "(e.g. log of zero or of a negative number); transform or drop those rows")
    keep = _independent_columns(X)
    dropped = [nm for j, nm in enumerate(names) if j not in keep]
    if dropped:
        X = X[:, keep]
        names = [names[j] for j in keep]
    return FixedDesign(X, names, spec, dropped)


def _independent_columns(X: np.ndarray, tol: float = 1e-7) -> list[int]:
    """Columns kept as R's qr() keeps them: a column that depends on earlier ones is dropped."""
    kept: list[int] = []
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        x = X[:, j]
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)  # second pass keeps Gram-Schmidt orthogonal
        norm = np.linalg.norm(r)
        if norm > tol * max(np.linalg.norm(x), 1e-300):
            kept.append(j)
            Q = np.column_stack([Q, r / norm])
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
        if not np.all(np.isfinite(z)):
            raise DataError(f"the random-effects term {t} has infinite values")
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
                        f"(problems: {', '.join(many)}); each group needs repeated observations")
    for t in terms:
        if t.q >= n:
            raise DataError(f"number of observations (={n}) <= number of random effects (={t.q}) for term "
                            f"{t.term}; the random-effects parameters and the residual variance are probably "
                            "unidentifiable: simplify the random-effects term")
