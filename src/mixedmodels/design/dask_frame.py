"""The design of a model on a Dask frame: the levels pass, and each partition's rows coded with them.

A model matrix codes a factor by its levels and ``scale(x)`` by the mean and standard deviation of
``x``: properties of all the rows, which no partition knows alone. So the rows are read twice:

1. the levels pass (:func:`level_summary` on each partition, merged pairwise by
   :func:`combine_levels` in a tree): the rows kept by R's ``na.omit`` (:func:`partition_frame`,
   the in-memory :func:`~mixedmodels.design.frame.model_frame` on the partition), the distinct
   combinations of every grouping factor, one row for each level of every factor predictor, the
   categories of categorical columns and the moments of every ``scale()``/``center()``;
2. :func:`global_design` turns the merged summary into the specs of the fit: formulaic's specs built
   on a small frame that holds every level (so the levels and their order are the in-memory ones: a
   categorical's categories in order, sorted values otherwise, unused levels dropped), with the
   transforms' state replaced by that of all the rows; :func:`partition_design` evaluates them on
   each partition, where the partition lives.

Every function here takes and returns pandas and numpy objects: none imports Dask, which runs them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ArgumentError, DataError, DataWarning, FormulaError, collected, warn as _warn
from ..formula.parse import ParsedFormula
from .coding import RCodedSpec
from .columns import check_predictor_columns, variables_in
from .fixed import r_model_matrix
from .frame import model_frame
from .matrix import check_finite_columns, drop_unused_levels, model_matrix, shield_intercept
from .newdata import spec_model_matrix
from .random import grouping_codes, warn_skipped_levels

__all__ = ["is_dask_data", "DaskRequest", "dask_request", "partition_frame", "level_summary", "combine_levels",
           "DaskDesign", "global_design", "partition_design"]

_STATEFUL = ("scale", "center")        # replayed with the state of all the rows
_UNSUPPORTED = ("poly", "bs")          # their state (orthogonal polynomials, knots) is not merged yet


_PARQUET = (".parquet", ".parq", ".pq")


def is_dask_data(data) -> bool:
    """Whether ``data`` is a Dask DataFrame or a Parquet path, without importing Dask.

    A path (a string or ``os.PathLike``) is taken for Parquet data when it names Parquet files
    (``.parquet``, ``.parq``, ``.pq``), is a glob (``*``), a URL (``s3://...``) or an existing
    directory; any other string is left to the in-memory path (which refuses it as data).
    """
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        if not isinstance(text, str):
            return False
        return (text.lower().rstrip("/").endswith(_PARQUET) or "*" in text or "://" in text
                or os.path.isdir(text))
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")


@dataclass
class DaskRequest:
    """What each partition is asked in both passes: the formula, the weights and offset columns, the
    factors of each random-effects term, the factor predictors, and whether transforms need state."""

    parsed: ParsedFormula
    weights: str | None
    offset: str | None
    groups: list               # per random term (formula order): its grouping columns
    factor_columns: list       # predictors (fixed or random part) that are factors
    categoricals: list         # columns (grouping or predictors) of categorical dtype
    transforms: bool           # scale()/center() somewhere: each partition reports its moments
    columns: list              # the columns the model reads
    response_numeric: bool = True  # the model frame reads the response as a number (glmer: False)


def _called(expr: str, names) -> list[str]:
    from ..formula import evaluate as evaluator

    toks = evaluator.tokenize(expr)
    return [t.text for t, nxt in zip(toks, toks[1:] + [None])
            if t.kind == "name" and t.text in names and nxt is not None and nxt.text == "("]


_FACTOR_CALLS = ("factor", "as.factor", "C")   # calls that make a factor of their argument


def _inside_calls(expr: str, names, cols) -> list[str]:
    """The columns read inside calls of ``names`` in ``expr`` (``Days`` of ``factor(Days)``)."""
    from ..formula import evaluate as evaluator

    toks = evaluator.tokenize(expr)
    out: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "name" and t.text in names and i + 1 < len(toks) and toks[i + 1].text == "(":
            depth, j = 0, i + 1
            while j < len(toks):
                depth += toks[j].text == "("
                depth -= toks[j].text == ")"
                if depth == 0:
                    break
                j += 1
            inner = expr[toks[i + 1].pos + 1: toks[j].pos] if j < len(toks) else expr[toks[i + 1].pos + 1:]
            out += [v for v in variables_in(inner, cols) if v not in out]
            i = j
        i += 1
    return out


def dask_request(parsed: ParsedFormula, meta: pd.DataFrame, weights=None, offset=None,
                 response_numeric: bool = True) -> DaskRequest:
    """The request of the passes, from the formula and the frame's empty ``meta`` (its columns and
    dtypes).

    Raises
    ------
    ArgumentError
        For weights or an offset given as arrays (a Dask fit takes column names), and for ``poly()``
        and ``bs()``, whose state is not merged over partitions yet.
    DataError
        For a variable that is not a column.
    """
    for what, v in (("weights", weights), ("offset", offset)):
        if v is not None and not isinstance(v, str):
            raise ArgumentError(f"{what} of a Dask fit must be the name of a column of the data, got "
                                f"{type(v).__name__}; add the values as a column (e.g. ddf.assign(...))")
    exprs = [parsed.response, parsed.fixed, *parsed.offsets, *(t.expr for t in parsed.random)]
    for e in exprs:
        bad = _called(e, _UNSUPPORTED)
        if bad:
            raise ArgumentError(f"{bad[0]}() is not supported from Dask yet (its state is not merged over "
                                "partitions); fit in memory (ddf.compute()), or add the columns to the frame")
    cols = list(map(str, meta.columns))
    used = []
    for e in exprs:
        used += [v for v in variables_in(e, cols) if v not in used]
    groups = [tuple(t.factors) for t in parsed.random]
    for g in groups:
        used += [f for f in g if f not in used]
    for what, v in (("weights", weights), ("offset", offset)):
        if v is not None and v not in cols:
            raise DataError(f"{what}={v!r} is not a column of the data")
    missing = [f for g in groups for f in g if f not in cols]
    if missing:
        raise DataError(f"variable(s) {', '.join(map(repr, missing))} used in the formula are not columns of "
                        f"the data; the data have: {', '.join(cols[:20])}")
    preds = []
    for e in [parsed.fixed, *(t.expr for t in parsed.random)]:
        preds += [v for v in variables_in(e, cols) if v not in preds]
    is_factor = (lambda dt: isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dt)
                 or dt == object or pd.api.types.is_string_dtype(dt))
    factor_columns = [v for v in preds if is_factor(meta[v].dtype)]
    # a numeric column made a factor in the formula (factor(Days)): its levels are its distinct
    # values over all rows, which no partition alone knows either
    for e in [parsed.fixed, *(t.expr for t in parsed.random)]:
        factor_columns += [v for v in _inside_calls(e, _FACTOR_CALLS, cols) if v not in factor_columns]
    cats = [v for v in used if isinstance(meta[v].dtype, pd.CategoricalDtype)]
    transforms = any(_called(e, _STATEFUL) for e in exprs)
    columns = used + [v for v in (weights, offset) if v is not None and v not in used]
    return DaskRequest(parsed, weights, offset, groups, factor_columns, cats, transforms, columns,
                       bool(response_numeric))


def partition_frame(part: pd.DataFrame, req: DaskRequest):
    """The model frame of one partition (R's na.omit on its rows, as in memory), or None when no row
    is left; and how many rows were left out because the response or an offset is NaN there (the
    client warns once for all partitions)."""
    if not len(part):
        return None, 0
    # the package's own warnings kept in a list, in this thread only (never the warning filters)
    with collected() as caught:
        try:
            frame = model_frame(req.parsed, part, weights=req.weights, offset=req.offset,
                                response_numeric=req.response_numeric)
        except DataError as e:
            msg = str(e)
            if msg.startswith("no rows left"):
                return None, 0
            if "NaN (not a number) in every row" in msg:
                return None, len(part)
            raise
    nan = sum(int(str(w).split()[0]) for w in caught
              if isinstance(w, DataWarning) and "left out because the response" in str(w))
    return frame, nan


def _moments(state: dict, k: int):
    """A formulaic scale/center state of k rows as (k, mean or None, sum of squares about it or None)."""
    c, s, ddof = state.get("center"), state.get("scale"), state.get("ddof", 1)
    ss = None if s is None else (np.asarray(s, dtype=float) ** 2 * (k - ddof) if k > ddof
                                 else np.zeros_like(np.asarray(s, dtype=float)))
    return (k, None if c is None else np.asarray(c, dtype=float), ss, ddof)


def _merge_moments(a, b):
    """Chan et al.'s pairwise update of counts, means and sums of squared deviations."""
    (ka, ma, sa, d), (kb, mb, sb, _) = a, b
    k = ka + kb
    if ma is None:
        return (k, None, None if sa is None else sa + sb, d)
    delta = mb - ma
    m = ma + delta * (kb / k)
    s = None if sa is None else sa + sb + delta * delta * (ka * kb / k)
    return (k, m, s, d)


def _states(data: pd.DataFrame, req: DaskRequest) -> dict:
    out = {}
    specs = [r_model_matrix(req.parsed.fixed, data, "the fixed-effects model matrix")[2]]
    specs += [model_matrix(t.expr, data, f"the random-effects term {t}")[2] for t in req.parsed.random]
    for spec in specs:
        inner = spec.inner if isinstance(spec, RCodedSpec) else spec
        for key, st in dict(inner.transform_state).items():
            if set(st) <= {"ddof", "center", "scale"}:
                out[key] = _moments(st, len(data))
    return out


def level_summary(part: pd.DataFrame, req: DaskRequest) -> dict:
    """The levels pass on one partition: its counts, the distinct combinations of each grouping
    factor, one row per level of each factor predictor (and its first row), the categories of its
    categorical columns and the moments of its transforms."""
    frame, nan = partition_frame(part, req)
    if frame is None:
        return dict(n=0, nan=nan, groups=[None] * len(req.groups), proto=None, states={},
                    factors=req.factor_columns, cats={})
    data = frame.data
    check_predictor_columns([req.parsed.fixed, *(t.expr for t in req.parsed.random)], data)
    groups = [data[list(g)].drop_duplicates() if g else None for g in req.groups]
    return dict(n=len(data), nan=nan, groups=groups,
                proto=_proto(data.loc[:, _proto_columns(req, data)], req.factor_columns),
                states=_states(data, req) if req.transforms else {}, factors=req.factor_columns,
                cats={c: tuple(data[c].cat.categories) for c in req.categoricals
                      if c in data.columns and isinstance(data[c].dtype, pd.CategoricalDtype)})


def _proto_columns(req: DaskRequest, data: pd.DataFrame) -> list[str]:
    return [c for c in req.columns if c in data.columns]


def _proto(data: pd.DataFrame, factor_columns) -> pd.DataFrame:
    """A few rows holding every level of every factor predictor of ``data``."""
    pieces = [data.iloc[:1]] + [data.drop_duplicates(subset=[f]) for f in factor_columns]
    out = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
    return out.reset_index(drop=True).drop_duplicates()


def _union_categories(frames: list) -> list:
    """The frames with each categorical column on the union of their categories (first seen, first)."""
    frames = [f for f in frames if f is not None]
    if len(frames) < 2:
        return frames
    for c in frames[0].columns:
        if all(isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames):
            cats = list(dict.fromkeys(x for f in frames for x in f[c].cat.categories))
            dt = pd.CategoricalDtype(cats, ordered=frames[0][c].cat.ordered)
            frames = [f.assign(**{c: f[c].astype(dt)}) if f[c].dtype != dt else f for f in frames]
    return frames


def _concat_distinct(a, b):
    fr = _union_categories([a, b])
    if not fr:
        return None
    return fr[0] if len(fr) == 1 else pd.concat(fr, ignore_index=True).drop_duplicates(ignore_index=True)


def combine_levels(a: dict, b: dict) -> dict:
    """The levels pass's reduce: two summaries as that of their rows together (associative)."""
    states = dict(a["states"])
    for k, v in b["states"].items():
        states[k] = v if k not in states else _merge_moments(states[k], v)
    proto = _concat_distinct(a["proto"], b["proto"])
    cats = dict(a["cats"])
    for c, v in b["cats"].items():   # a partition's categories, or None where two partitions' differ
        cats[c] = v if c not in cats or cats[c] == v else None
    return dict(n=a["n"] + b["n"], nan=a["nan"] + b["nan"], states=states,
                groups=[_concat_distinct(x, y) for x, y in zip(a["groups"], b["groups"])],
                proto=None if proto is None else _proto(proto, a["factors"]), factors=a["factors"], cats=cats)


@dataclass
class DaskDesign:
    """The global design every partition is coded with."""

    request: DaskRequest
    fixed_spec: object
    names: list            # every column of X, R's names, before rank-deficient ones are dropped
    term_specs: list       # per random term, lme4's order: (spec, cnames)
    order: list            # lme4's order of the formula's random terms
    group_frames: list     # per term (lme4's order): the distinct combinations of its factors
    labels: list           # per term: its levels, in lme4's order
    dtypes: dict           # categorical columns: their global dtype
    n: int                 # rows kept
    nan: int               # rows left out for a NaN response or offset


def _global_state(m) -> dict:
    k, mean, ss, ddof = m
    st = {"ddof": ddof, "center": None if mean is None else mean}
    st["scale"] = None if ss is None else np.sqrt(ss / (k - ddof))
    return st


def _with_states(spec, states: dict):
    inner = spec.inner if isinstance(spec, RCodedSpec) else spec
    ts = {}
    for key, st in dict(inner.transform_state).items():
        if not set(st) <= {"ddof", "center", "scale"}:
            raise ArgumentError(f"the transformation {key} is not supported from Dask yet (its state is not merged "
                                "over partitions); fit in memory (ddf.compute()), or add the column to the frame")
        if key not in states:
            raise FormulaError(f"the transformation {key} was not seen in the levels pass")
        ts[key] = _global_state(states[key])
    new = inner.update(transform_state=ts) if ts else inner
    return RCodedSpec(new, spec.columns) if isinstance(spec, RCodedSpec) else new


def global_design(req: DaskRequest, summary: dict) -> DaskDesign:
    """The specs of the fit from the merged levels summary (see the module's docstring).

    Raises
    ------
    DataError
        When no row is left after na.omit, or a random-effects term uses a numeric column named
        ``Intercept``.
    FormulaError
        For a random-effects term without columns.
    """
    if not summary["n"]:
        raise DataError("no rows left after dropping the rows with a missing value in "
                        f"{', '.join(req.columns)}; check the data for missing values")
    proto = summary["proto"]
    groups = [g for g in summary["groups"]]
    dtypes = {}
    for c in req.categoricals:
        seen = [f[c] for f in [proto, *[g for g in groups if g is not None]] if f is not None and c in f.columns]
        cats = list(dict.fromkeys(x for s in seen for x in s.cat.categories))
        dtypes[c] = pd.CategoricalDtype(_category_order(c, cats, summary["cats"].get(c)), ordered=seen[0].cat.ordered)
    proto = _aligned(proto, dtypes)
    groups = [None if g is None else _aligned(g, dtypes) for g in groups]
    for t in req.parsed.random:
        if shield_intercept(t.expr, proto) != t.expr:
            raise DataError(f"the random-effects term {t} uses a numeric column named "
                            "'Intercept', which cannot be told from the term's intercept; rename the column")
    _, names, fspec = r_model_matrix(req.parsed.fixed, proto, "the fixed-effects model matrix")
    fspec = _with_states(fspec, summary["states"])
    term_specs, labels = [], []
    for t, g, f in zip(req.parsed.random, groups, req.groups):
        used = drop_unused_levels(t.expr, proto)     # as in memory (random.random_terms)
        if t.structure in ("ar1", "toep"):
            warn_skipped_levels(t, proto, used)
        z, cnames, tspec = model_matrix(t.expr, used, f"the random-effects term {t}")
        if z.shape[1] == 0:
            raise FormulaError(f"the random-effects term {t} has no columns")
        term_specs.append((_with_states(tspec, summary["states"]), cnames))
        labels.append(grouping_codes(f, g if g is not None else proto.iloc[:1])[1])
    order = sorted(range(len(labels)), key=lambda i: -len(labels[i]))  # stable, like R's order()
    return DaskDesign(req, fspec, names, [term_specs[i] for i in order], order, [groups[i] for i in order],
                      [labels[i] for i in order], dtypes, int(summary["n"]), int(summary["nan"]))


def _category_order(column: str, seen: list, common) -> list:
    """The levels' order of a categorical column over all partitions.

    A categorical's categories are its levels' order in memory (the first is the baseline of the
    contrasts, a binomial response's failure). From Dask that order is the one every partition has
    (``common``, from the levels pass): the frame's where Dask knows the categories (every partition
    has them), or Parquet files written from one categorical. Where partitions list them in
    different orders (``common`` None) no order is the data's: the union is sorted, as R's
    ``factor()`` sorts, so that the fit does not depend on how the rows are split, with a
    DataWarning that says how to choose the order.
    """
    if common:
        return list(common) + [x for x in seen if x not in set(common)]
    try:
        order = sorted(seen)
    except TypeError:
        order = sorted(seen, key=str)
    _warn(f"the partitions of the Dask frame list the categories of column {column!r} in different orders "
          f"(categories Dask does not know); its levels are sorted, as R's factor() sorts them: "
          f"{', '.join(map(str, order[:5]))}{', ...' if len(order) > 5 else ''}. To choose the order (the first "
          f"level is the baseline), set it: ddf[{column!r}] = ddf[{column!r}].cat.set_categories([...])",
          DataWarning, stacklevel=5)
    return order


def _aligned(data: pd.DataFrame, dtypes: dict) -> pd.DataFrame:
    fix = {c: data[c].astype(dt) for c, dt in dtypes.items() if c in data.columns and data[c].dtype != dt}
    if not fix:
        return data
    data = data.copy()
    for c, v in fix.items():
        data[c] = v
    return data


def partition_design(part: pd.DataFrame, design: DaskDesign, response=None) -> dict:
    """One partition's rows of ``[X y]``, each term's z and global level codes, weights and offset,
    coded with the global design (every column of X; an empty chunk when no row is left).

    ``response``: None for the model frame's numeric response, or a function of the partition's
    model-frame rows (their categoricals with the global categories) that gives it (glmer's
    ``cbind(successes, failures)``, two-level factors).

    Raises
    ------
    DataError
        For NaN/infinite entries of X or z, as in memory.
    """
    req = design.request
    frame, _ = partition_frame(part, req)
    p = len(design.names)
    if frame is None:
        return dict(X=np.empty((0, p)), y=np.empty(0), z=[np.empty((0, len(c))) for _, c in design.term_specs],
                    codes=[np.empty(0, dtype=np.int64) for _ in design.term_specs],
                    weights=None if req.weights is None else np.empty(0),
                    offset=None if req.offset is None and not req.parsed.offsets else np.empty(0),
                    index=part.index[:0])
    data = _aligned(frame.data, design.dtypes)
    check_predictor_columns([req.parsed.fixed, *(t.expr for t in req.parsed.random)], data)
    what = "the fixed-effects model matrix"
    X = np.asarray(spec_model_matrix(design.fixed_spec, data, what, na_action="ignore"), dtype=float)
    X = X.reshape(len(data), -1)
    check_finite_columns(X, design.names, data.index, what)
    zs, codes = [], []
    for i, (spec, cnames), g, labels in zip(design.order, design.term_specs, design.group_frames, design.labels):
        t = req.parsed.random[i]
        what = f"the random-effects term {t}"
        z = np.asarray(spec_model_matrix(spec, data, what, na_action="ignore"), dtype=float)
        z = z.reshape(len(data), -1)
        check_finite_columns(z, cnames, data.index, what)
        zs.append(z)
        f = req.groups[i]
        if not f:
            codes.append(np.zeros(len(data), dtype=np.int64))
            continue
        # codes among all the rows' combinations: the partition's rows after the distinct ones
        both = pd.concat([g, data[list(f)]], ignore_index=True)
        c, lab = grouping_codes(f, both)
        if len(lab) != len(labels):
            raise DataError(f"the grouping factor {t.group} has levels the levels pass did not see; "
                            "the data changed between the passes")
        codes.append(c[len(g):])
    y = np.asarray(frame.y if response is None else response(data), dtype=float)
    return dict(X=X, y=y, z=zs, codes=codes, weights=frame.weights,
                offset=frame.offset, index=frame.data.index)
