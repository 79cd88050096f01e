"""lmer() on a Dask frame (or a Parquet path): the design and the blocks formed on the cluster.

The rows stay where Dask has them; what reaches the client is small:

1. the levels pass (one ``dask.compute`` of a tree of per-partition summaries,
   :mod:`mixedmodels.design.dask_frame`): the rows kept by na.omit, the levels of every grouping
   factor and factor predictor, the moments of ``scale()``/``center()``;
2. each partition coded with the global levels to a :class:`~mixedmodels.core.rows.RowChunk`,
   persisted in the workers' memory (or, when they do not fit, formed afresh in every round);
3. the checks of the design (:func:`~mixedmodels.core.dask_rows.design_stats`: the distributed QR
   of X for the rank check, the columns' spread for lme4's scale check, the response's range), in
   one round with the blocks' first pass; the rank-deficient columns dropped where the chunks live;
4. the passes of :func:`~mixedmodels.core.rows.blocks_from_passes` as map-reduce rounds on the
   persisted chunks; the core is set up from the summed blocks and the optimizer runs on the client,
   exactly as in memory.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..core.dask_rows import (DaskReduce, as_row_chunk, combine_design_stats, design_stats, select_columns,
                              tree_reduce)
from ..core.layout import ThetaLayout
from ..core.lmm import LmmCore
from ..core.rows import blocks_from_passes, chunk_stats, combine_stats
from ..design.dask_frame import (combine_levels, dask_request, global_design, level_summary, partition_design)
from ..design.fixed import FixedDesign, independent_columns
from ..design.frame import ModelFrame
from ..design.random import ReTerm, check_terms
from ..errors import (ArgumentError, DataError, DataWarning, MixedModelError, RankDeficiencyWarning, ScaleWarning,
                      warn)
from ..formula.parse import parse_formula
from ..optim.nlopt import check_control, check_start
from ..results.dask_lmer import DaskLmerResult, DaskRows

__all__ = ["lmer_dask", "import_dask", "as_dask_frame"]


def import_dask():
    """``dask`` (with ``dask.dataframe``), or a clear error where it is not installed."""
    try:
        import dask
        import dask.dataframe  # noqa: F401
    except ImportError:
        raise MixedModelError("fitting to a Dask frame or a Parquet path needs dask: pip install "
                              "'dask[dataframe]' distributed pyarrow (or mixedmodels[dask])") from None
    return dask


def as_dask_frame(data):
    """A Dask DataFrame: ``data`` itself, or a Parquet path (file, directory or glob) read lazily."""
    import os

    import dask.dataframe as dd

    if isinstance(data, (str, os.PathLike)):
        try:
            ddf = dd.read_parquet(os.fspath(data))
        except Exception as e:  # a missing file, not Parquet: say which path
            raise DataError(f"cannot read the Parquet data {os.fspath(data)!r}: {e}") from None
        if not len(ddf.columns):  # a glob that matches nothing reads as a frame without columns
            raise DataError(f"cannot read the Parquet data {os.fspath(data)!r}: no Parquet files with columns "
                            "there; check the path")
        return ddf
    return data


def partition_chunk(part: pd.DataFrame, design):
    """One partition's RowChunk, coded with the global design (runs on a worker)."""
    return as_row_chunk(partition_design(part, design))


PERSIST_FRACTION = 0.5  # of the workers' memory, that persisted chunks may take (the rest: the workers' own)


def _fits_in_memory(nbytes: float) -> bool:
    """Whether chunks of ``nbytes`` in all fit in :data:`PERSIST_FRACTION` of the distributed workers'
    memory limits; True without a distributed client (a local scheduler keeps them in this process,
    as the in-memory fit would) or where the workers have no limit."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return True
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info().get("workers", {}).values()]
    if not limits or not all(limits):
        return True
    return nbytes <= PERSIST_FRACTION * sum(limits)


def _scale_problem(stats: dict, tol: float = 1e3) -> bool:
    """lme4's check.scaleX (design.fixed.scale_problem) from the columns' moments over all rows."""
    k, _, ss = stats["mom"]
    if k < 2:
        return False
    cont = ~stats["is01"]
    if not cont.any():
        return False
    sd = np.sqrt(ss[cont] / (k - 1))
    with np.errstate(divide="ignore"):
        logsd = np.abs(np.log(sd))
    lim = math.log(tol)
    return bool(np.any(logsd > lim) or (np.ptp(np.log(sd)) > lim if np.all(sd > 0) else False))


def _check_response(parsed, stats: dict, core, weighted: bool) -> None:
    """fit.lmer's checks of the response, from the reduced statistics."""
    if stats["yabs"] > 1e100 or 0 < stats["yabs"] < 1e-100:
        raise DataError(f"the response {parsed.response!r} has values of size {stats['yabs']:.3g}, beyond what "
                        "double precision crossproducts can hold; rescale it (e.g. multiply by a power of 10)")
    if stats["ylo"] == stats["yhi"] and np.any(stats["const"] & (stats["x0"] != 0)):
        raise DataError(f"the response {parsed.response!r} is constant (every value is {stats['ylo']:g}); a mixed "
                        "model needs variation in the response")
    if weighted and stats["wzero"]:
        raise DataError(f"{stats['wzero']} weight(s) are 0; lmer needs positive weights (lme4's criterion is "
                        "infinite then): drop the rows with weight 0, which carry no information")
    pieces = core.pieces(np.zeros(core.layout.size))
    total = stats["total"]
    floor = 1e-20 * getattr(core, "y_ss", total) + 100 * np.finfo(float).eps ** 2 * total
    if pieces is not None and pieces[2] <= floor or total == 0:
        raise DataError(f"the fixed effects reproduce the response {parsed.response!r} exactly (residual sum of "
                        "squares 0 to within rounding error), so no variance can be estimated; check that the "
                        "response is not one of the predictors or a function of them")


def lmer_dask(formula: str, data, *, REML: bool = True, weights=None, offset=None, control=None,
              data_name: str | None = None, start=None, optimize=None) -> DaskLmerResult:
    """:func:`~mixedmodels.fit.lmer.lmer` on a Dask DataFrame or a Parquet path (see the module's
    docstring for the passes); ``weights`` and ``offset`` are column names. ``optimize`` is lmer's
    optimizer stage, given by lmer() (the same for both paths).

    Returns
    -------
    DaskLmerResult
        The in-memory result's numbers; the rows stay persisted on the cluster for the summary's
        residual quantiles (``m.rows.release()`` frees them).
    """
    dask = import_dask()
    if not isinstance(REML, (bool, np.bool_)):
        raise ArgumentError(f"REML must be True or False, got {REML!r}")
    check_control(control)
    parsed = parse_formula(formula)
    ddf = as_dask_frame(data)
    req = dask_request(parsed, ddf._meta, weights=weights, offset=offset)
    ddf = ddf[req.columns]
    parts = ddf.to_delayed()
    # 1. the levels pass: one compute of a tree of per-partition summaries
    summary = dask.compute(tree_reduce([dask.delayed(level_summary, pure=True)(p, req) for p in parts],
                                       combine_levels))[0]
    design = global_design(req, summary)
    if design.nan:
        warn(f"{design.nan} row(s) left out because the response or an offset is NaN there "
             "(e.g. log or sqrt of a negative number)", DataWarning, stacklevel=3)
    # 2. every partition coded with the global levels: persisted where it is when the chunks fit in the
    # workers' memory, else (bigger than the cluster) formed afresh from the source in every round
    design_d = dask.delayed(design, traverse=False)
    chunks = [dask.delayed(partition_chunk, pure=True)(p, design_d) for p in parts]
    width = len(design.names) + sum(len(c) + 1 for _, c in design.term_specs) + 3
    persisted = _fits_in_memory(design.n * width * 8.0)
    if persisted:
        chunks = list(dask.persist(*chunks))
    # 3. the design's checks; the columns that depend on earlier ones dropped as in memory
    stats, first = DaskReduce(chunks).many((design_stats, combine_design_stats), (chunk_stats, combine_stats))
    if stats is None:
        raise DataError("no rows left after dropping the rows with missing values; check the data")
    keep = independent_columns(stats["R"])
    names = [design.names[j] for j in keep]
    dropped = [nm for j, nm in enumerate(design.names) if j not in keep]
    if dropped:
        first = None  # the first pass again, on the columns kept
        chunks = [dask.delayed(select_columns, pure=True)(ch, keep) for ch in chunks]
        chunks = list(dask.persist(*chunks)) if persisted else chunks
        stats = dict(stats, const=stats["const"][keep], x0=stats["x0"][keep], is01=stats["is01"][keep],
                     mom=(stats["mom"][0], stats["mom"][1][keep], stats["mom"][2][keep]))
        k = len(dropped)
        warn(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
             f" / coefficient{'s' if k > 1 else ''} ({', '.join(dropped)})", RankDeficiencyWarning, stacklevel=3)
    scale_bad = _scale_problem(stats)
    if scale_bad:
        warn("Some predictor variables are on very different scales: consider rescaling "
             "(e.g. scale(x) in the formula, or other units)", ScaleWarning, stacklevel=3)
    n, p = design.n, len(names)
    terms = [ReTerm(req.parsed.random[i], req.parsed.random[i].group, labels, np.empty(0, dtype=np.int64),
                    list(cnames), np.empty((0, len(cnames))), spec)
             for i, (spec, cnames), labels in zip(design.order, design.term_specs, design.labels)]
    check_terms(terms, n)
    # 4. the blocks as map-reduce rounds on the chunks; the core and the optimizer as in memory
    layout = ThetaLayout.for_terms(terms)
    core = LmmCore.__new__(LmmCore)
    core._setup(terms, layout, blocks_from_passes(terms, layout, p, DaskReduce(chunks), first), "auto")
    theta0 = check_start(start, terms, core.layout.lower())["theta"]
    if core.n <= core.p:
        raise ArgumentError(f"{core.n} observations cannot estimate {core.p} fixed effects and a residual variance")
    weighted = req.weights is not None
    _check_response(parsed, stats, core, weighted)
    # the frame and X are not held: empty stand-ins with the right columns (the result's row methods raise)
    frame = ModelFrame(ddf._meta.iloc[:0], np.empty(0), np.empty(0) if weighted else None,
                       np.empty(0) if (req.offset or parsed.offsets) else None, list(req.columns))
    fixed = FixedDesign(np.empty((0, p)), names, design.fixed_spec, dropped, list(design.names))
    name = data_name or (str(data) if isinstance(data, str) else None) or "data"
    res = optimize(parsed.text, bool(REML), str(name), parsed, frame, fixed, terms, core, control, theta0=theta0,
                   weights_name=req.weights)
    rows = DaskRows(chunks, n, weighted, scale_bad, partitions=len(parts), persisted=persisted)
    from dataclasses import fields

    return DaskLmerResult(**{f.name: getattr(res, f.name) for f in fields(res)}, rows=rows)
