"""The data of a fit from Dask, as lmer and glmer both need it: the design found and each partition coded.

1. the levels pass (one ``dask.compute`` of a tree of per-partition summaries,
   :mod:`mixedmodels.design.dask_frame`): the rows kept by na.omit, the levels of every grouping
   factor and factor predictor, the moments of ``scale()``/``center()``;
2. each partition coded with the global levels to a chunk of rows
   (:class:`~mixedmodels.core.rows.RowChunk`, or glmer's
   :class:`~mixedmodels.glmm.dask_pirls.GlmmChunk`), persisted in the workers' memory (or, when they
   do not fit, formed afresh in every round);
3. the checks of the design (:func:`~mixedmodels.core.dask_rows.design_stats`: the distributed QR
   of X for the rank check, the columns' spread for lme4's scale check, the response's range), in
   one round with the fit's own first pass; the rank-deficient columns dropped where the chunks
   live, with lme4's warnings.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.dask_rows import (DaskReduce, as_row_chunk, combine_design_stats, design_stats, fits_in_memory,
                              select_columns, tree_reduce)
from ..design.dask_frame import combine_levels, dask_request, global_design, level_summary, partition_design
from ..design.fixed import independent_columns
from ..design.random import ReTerm
from ..errors import DataError, DataWarning, MixedModelError, RankDeficiencyWarning, ScaleWarning, warn

__all__ = ["import_dask", "as_dask_frame", "DaskData", "dask_data", "partition_chunk", "scale_problem"]


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


def scale_problem(stats: dict, tol: float = 1e3) -> bool:
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


@dataclass
class DaskData:
    """A model's rows on the cluster, coded, checked and reduced to what the fit needs next."""

    request: object        # design.dask_frame.DaskRequest
    design: object         # design.dask_frame.DaskDesign
    ddf: object            # the Dask frame, its columns those the model reads
    chunks: list           # delayed chunks, X with the kept columns
    partitions: int
    persisted: bool
    stats: dict            # design_stats over all rows (the kept columns)
    first: object          # the fit's own first pass (the ``first`` reduce), None after a column drop
    names: list            # the kept columns of X
    dropped: list          # the columns dropped for rank deficiency
    terms: list            # ReTerm stand-ins in lme4's order (levels and columns, no rows)
    scale_bad: bool

    @property
    def n(self) -> int:
        return int(self.design.n)


def dask_data(parsed, data, weights, offset, *, chunk=partition_chunk, chunk_args=(), first=None,
              response_numeric: bool = True, stacklevel: int = 4) -> DaskData:
    """The passes 1-3 of the module's docstring.

    Parameters
    ----------
    parsed : ParsedFormula
        The formula as the model frame reads it (glmer: a ``cbind`` response as the sum of its
        columns, which names the same variables).
    data : dask.dataframe.DataFrame or str
        The frame, or a Parquet path or glob.
    weights, offset : str or None
        Column names.
    chunk : callable
        ``chunk(partition, design, *chunk_args)``: a partition's chunk, run on its worker.
    first : (map, combine), optional
        The fit's own first pass, run in the round of the design's checks (its result is
        ``DaskData.first``; None again where a rank-deficient column was dropped after it).
    response_numeric : bool
        Whether the model frame reads the response as a number (lmer) or leaves it to the fit
        (glmer: factors, logicals).
    stacklevel : int
        Of the warnings, counted from here.
    """
    dask = import_dask()
    ddf = as_dask_frame(data)
    req = dask_request(parsed, ddf._meta, weights=weights, offset=offset, response_numeric=response_numeric)
    ddf = ddf[req.columns]
    parts = ddf.to_delayed()
    # 1. the levels pass: one compute of a tree of per-partition summaries
    summary = dask.compute(tree_reduce([dask.delayed(level_summary, pure=True)(p, req) for p in parts],
                                       combine_levels))[0]
    design = global_design(req, summary)
    if design.nan:
        warn(f"{design.nan} row(s) left out because the response or an offset is NaN there "
             "(e.g. log or sqrt of a negative number)", DataWarning, stacklevel=stacklevel)
    # 2. every partition coded with the global levels: persisted where it is when the chunks fit in the
    # workers' memory, else (bigger than the cluster) formed afresh from the source in every round
    design_d = dask.delayed(design, traverse=False)
    chunks = [dask.delayed(chunk, pure=True)(p, design_d, *chunk_args) for p in parts]
    width = len(design.names) + sum(len(c) + 1 for _, c in design.term_specs) + 3
    persisted = fits_in_memory(design.n * width * 8.0)
    if persisted:
        chunks = list(dask.persist(*chunks))
    # 3. the design's checks; the columns that depend on earlier ones dropped as in memory
    passes = [(design_stats, combine_design_stats)] + ([first] if first is not None else [])
    out = DaskReduce(chunks).many(*passes)
    stats, first_out = out[0], (out[1] if first is not None else None)
    if stats is None:
        raise DataError("no rows left after dropping the rows with missing values; check the data")
    keep = independent_columns(stats["R"])
    names = [design.names[j] for j in keep]
    dropped = [nm for j, nm in enumerate(design.names) if j not in keep]
    if dropped:
        first_out = None  # the first pass again, on the columns kept
        chunks = [dask.delayed(select_columns, pure=True)(ch, keep) for ch in chunks]
        chunks = list(dask.persist(*chunks)) if persisted else chunks
        stats = dict(stats, const=stats["const"][keep], x0=stats["x0"][keep], is01=stats["is01"][keep],
                     mom=(stats["mom"][0], stats["mom"][1][keep], stats["mom"][2][keep]))
        k = len(dropped)
        warn(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''}"
             f" / coefficient{'s' if k > 1 else ''} ({', '.join(dropped)})", RankDeficiencyWarning,
             stacklevel=stacklevel)
    scale_bad = scale_problem(stats)
    if scale_bad:
        warn("Some predictor variables are on very different scales: consider rescaling "
             "(e.g. scale(x) in the formula, or other units)", ScaleWarning, stacklevel=stacklevel)
    terms = [ReTerm(req.parsed.random[i], req.parsed.random[i].group, labels, np.empty(0, dtype=np.int64),
                    list(cnames), np.empty((0, len(cnames))), spec)
             for i, (spec, cnames), labels in zip(design.order, design.term_specs, design.labels)]
    return DaskData(req, design, ddf, chunks, len(parts), persisted, stats, first_out, names, dropped, terms,
                    scale_bad)
