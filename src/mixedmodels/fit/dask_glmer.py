"""glmer() on a Dask frame (or a Parquet path): PIRLS as map-reduce rounds where the rows live.

The design is found and the partitions coded as for lmer (:func:`~mixedmodels.fit.dask_data.dask_data`);
each partition's chunk is the family's view of its rows (:func:`~mixedmodels.glmm.dask_pirls.glmm_chunk`:
the response, trials, prior weights and starting means, computed on the worker). The fit is the
in-memory one (:func:`~mixedmodels.fit.glmer.fit_glmm`: the initial PIRLS, stage 1, stage 2, the
finite-difference Hessian) on a :class:`~mixedmodels.glmm.dask_pirls.DaskGlmmModel`, whose every
PIRLS step is one round over the persisted chunks.
"""
from __future__ import annotations

import functools
from dataclasses import fields

import numpy as np
import pandas as pd

from ..core.dask_rows import DaskReduce, as_row_chunk
from ..design.dask_frame import partition_design
from ..design.fixed import FixedDesign
from ..design.frame import ModelFrame
from ..errors import ArgumentError, DataError
from ..formula.parse import parse_formula
from ..glmm import families as _families
from ..glmm.dask_pirls import DaskGlmmModel, combine_glmm_stats, glmm_chunk, glmm_stats
from ..optim.nlopt import check_start
from ..optim.scales import scales_of
from ..results.dask_glmer import DaskGlmerResult
from ..results.dask_rows import DaskRows
from .dask_data import as_dask_frame, dask_data, import_dask
from .glmer_control import split_control
from .glmer_setup import GlmerSetup, check_agq_terms, check_glmer_terms, frame_formula, laplace_at_mode, response_values

__all__ = ["glmer_dask"]

#: the families PIRLS runs on from Dask: their aic is summed over partitions (Family.aic_sums)
_ROW_FAMILIES = (_families.Binomial, _families.Poisson, _families.Gamma, _families.InverseGaussian)


def _response(parsed, family, data: pd.DataFrame) -> np.ndarray:
    """A partition's response as glmer reads it (cbind, a two-level factor, a logical, a number)."""
    return response_values(parsed, data, family)[0]


def glmer_chunk(part: pd.DataFrame, design, parsed, family):
    """One partition's GLMM chunk, coded with the global design (runs on a worker)."""
    d = partition_design(part, design, response=functools.partial(_response, parsed, family))
    return glmm_chunk(as_row_chunk(d), family)


def _check_response_column(parsed, ddf) -> None:
    """A factor response from Dask must be categorical with known categories: the levels of text,
    or of categories Dask does not know (a Parquet file's own dictionary), are each partition's own,
    and the first level is the binomial's failure."""
    meta = ddf._meta
    name = parsed.response.strip().strip("`")
    if name in meta.columns:
        dt = meta[name].dtype
        if isinstance(dt, pd.CategoricalDtype) and not ddf[name].cat.known:
            raise ArgumentError(f"the response {name!r} is categorical with categories Dask does not know (each "
                                "partition's own, so their order, and which level is 'failure', could differ); "
                                f"set them: ddf[{name!r}] = ddf[{name!r}].cat.set_categories(['no', 'yes'])")
        if not isinstance(dt, pd.CategoricalDtype) and (dt == object or pd.api.types.is_string_dtype(dt)):
            raise ArgumentError(f"the response {name!r} is text: from Dask a factor response must be categorical with "
                                "its levels known, so that every partition codes them alike; e.g. "
                                f"ddf[{name!r}] = ddf[{name!r}].astype(pd.CategoricalDtype(['no', 'yes'])) (the first "
                                "level is 'failure'), or a 0/1 column")


def glmer_dask(formula: str, data, *, family, nagq: int, weights=None, offset=None, control=None,
               data_name: str | None = None, start=None, fit=None, result=None) -> DaskGlmerResult:
    """:func:`~mixedmodels.fit.glmer.glmer` on a Dask DataFrame or a Parquet path (see the module's
    docstring); ``weights`` and ``offset`` are column names. ``fit`` and ``result`` are glmer's
    ``fit_glmm`` and ``glmer_result``, given by glmer() (held, not imported: fit/glmer.py imports
    this module, and the same fit runs on both paths).

    Returns
    -------
    DaskGlmerResult
        The in-memory result's numbers (to the order of the sums); the rows stay persisted on the
        cluster (``m.rows.release()`` frees them).

    Raises
    ------
    ArgumentError
        For another family (negative binomial: glmer_nb in memory), for nAGQ > 1 with other than
        one scalar term (as in memory), and for a text response.
    """
    if not isinstance(family, _ROW_FAMILIES):
        raise ArgumentError(f"glmer from Dask fits the binomial, Poisson, Gamma and inverse Gaussian families; the "
                            f"{family.name} family is not available from Dask yet: fit in memory (ddf.compute())")
    _, glmm_ctl = split_control(control)
    parsed = parse_formula(formula)
    import_dask()
    ddf = as_dask_frame(data)
    _check_response_column(parsed, ddf)
    d = dask_data(frame_formula(parsed), ddf, weights, offset, chunk=glmer_chunk, chunk_args=(parsed, family),
                  first=(glmm_stats, combine_glmm_stats), response_numeric=False)
    gs = d.first if d.first is not None else DaskReduce(d.chunks)(glmm_stats, combine_glmm_stats)
    if gs is None:
        raise DataError("no rows left after dropping the rows with missing values; check the data")
    if gs["ylo"] == gs["yhi"]:
        raise DataError(f"the response is constant (every value is {gs['ylo']:g}); a model needs variation in the "
                        "response")
    n, p, terms = d.n, len(d.names), d.terms
    check_glmer_terms(terms, n)
    check_agq_terms(nagq, terms)
    k, _, ss = d.stats["mom"]
    model = DaskGlmmModel(family, terms, d.chunks, n, p, scales_of(np.sqrt(ss / k), gs["big"], d.stats["is01"]),
                          gs["many"], tol=glmm_ctl.get("tol_pirls", 1e-7), maxit=glmm_ctl.get("maxit_pirls", 100),
                          at_mode=laplace_at_mode(terms, glmm_ctl))
    if n <= p:
        raise ArgumentError(f"{n} observations cannot estimate {p} fixed effects")
    start = check_start(start, terms, model.layout.lower(), p)
    found = fit(model, None, nagq, control, start)
    req = d.request
    weighted = req.weights is not None
    # the frame and X are not held: empty stand-ins with the right columns (the result's row methods raise)
    frame = ModelFrame(d.ddf._meta.iloc[:0], np.empty(0), np.empty(0) if weighted else None,
                       np.empty(0) if (req.offset or parsed.offsets) else None, list(req.columns))
    fixed = FixedDesign(np.empty((0, p)), d.names, d.design.fixed_spec, d.dropped, list(d.design.names))
    name = data_name or (str(data) if isinstance(data, str) else None) or "data"
    setup = GlmerSetup(parsed.text, parsed, frame, fixed, terms, np.empty(0), None, None, req.weights, str(name),
                       "dask")
    res = result(setup, family, nagq, control, model, found, True, stacklevel=4)
    rows = DaskRows(d.chunks, n, weighted, d.scale_bad, partitions=d.partitions, persisted=d.persisted)
    return DaskGlmerResult(**{f.name: getattr(res, f.name) for f in fields(res)}, rows=rows)
