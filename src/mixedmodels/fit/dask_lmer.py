"""lmer() on a Dask frame (or a Parquet path): the design and the blocks formed on the cluster.

The rows stay where Dask has them; what reaches the client is small. The design is found and the
partitions coded and checked by :func:`~mixedmodels.fit.dask_data.dask_data` (the levels pass, the
persisted chunks, the rank and scale checks, in the round of the blocks' first pass); then the
passes of :func:`~mixedmodels.core.rows.blocks_from_passes` run as map-reduce rounds on the
persisted chunks, the core is set up from the summed blocks and the optimizer runs on the client,
exactly as in memory.
"""
from __future__ import annotations

import numpy as np

from ..core.dask_rows import DaskReduce
from ..core.layout import ThetaLayout
from ..core.lmm import LmmCore
from ..core.rows import blocks_from_passes, chunk_stats, combine_stats
from ..design.fixed import FixedDesign
from ..design.frame import ModelFrame
from ..design.random import check_terms
from ..errors import ArgumentError, DataError
from ..formula.parse import parse_formula
from ..optim.nlopt import check_control, check_start
from ..results.dask_lmer import DaskLmerResult
from ..results.dask_rows import DaskRows
from .dask_data import dask_data

__all__ = ["lmer_dask"]


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
    if not isinstance(REML, (bool, np.bool_)):
        raise ArgumentError(f"REML must be True or False, got {REML!r}")
    check_control(control)
    parsed = parse_formula(formula)
    d = dask_data(parsed, data, weights, offset, first=(chunk_stats, combine_stats))
    req, stats, terms, names = d.request, d.stats, d.terms, d.names
    n, p = d.n, len(names)
    check_terms(terms, n)
    # the blocks as map-reduce rounds on the chunks; the core and the optimizer as in memory
    layout = ThetaLayout.for_terms(terms)
    core = LmmCore.from_blocks(terms, layout, blocks_from_passes(terms, layout, p, DaskReduce(d.chunks), d.first))
    theta0 = check_start(start, terms, core.layout.lower())["theta"]
    if core.n <= core.p:
        raise ArgumentError(f"{core.n} observations cannot estimate {core.p} fixed effects and a residual variance")
    weighted = req.weights is not None
    _check_response(parsed, stats, core, weighted)
    # the frame and X are not held: empty stand-ins with the right columns (the result's row methods raise)
    frame = ModelFrame(d.ddf._meta.iloc[:0], np.empty(0), np.empty(0) if weighted else None,
                       np.empty(0) if (req.offset or parsed.offsets) else None, list(req.columns))
    fixed = FixedDesign(np.empty((0, p)), names, d.design.fixed_spec, d.dropped, list(d.design.names))
    name = data_name or (str(data) if isinstance(data, str) else None) or "data"
    res = optimize(parsed.text, bool(REML), str(name), parsed, frame, fixed, terms, core, control, theta0=theta0,
                   weights_name=req.weights)
    rows = DaskRows(d.chunks, n, weighted, d.scale_bad, partitions=d.partitions, persisted=d.persisted)
    from dataclasses import fields

    return DaskLmerResult(**{f.name: getattr(res, f.name) for f in fields(res)}, rows=rows)
