"""A linear mixed model fitted to a Dask frame: the in-memory result, its rows left on the cluster.

Everything that the crossproduct blocks determine is the in-memory fit's (theta, beta, sigma, the
criterion, vcov, Satterthwaite's tests, the conditional modes). The fitted values, the residuals
and ``predict`` on a Dask frame are lazy Dask Series, computed where the rows live. What needs the
rows in one place -- leverage, influence, simulation, refits -- is not computed from a Dask fit:
those methods raise a :class:`~mixedmodels.errors.FitError` that says so, never a number from
rows the result does not hold. The summary's scaled-residual quantiles are computed on the cluster,
exactly (:meth:`DaskLmerResult.residual_quantiles`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import FitError
from .lmer import LmerResult

__all__ = ["DaskLmerResult", "DaskRows"]


@dataclass
class DaskRows:
    """Where a Dask fit's rows are: the persisted chunks (one per partition, in the workers' memory),
    and what the fit learnt of them."""

    chunks: list                 # dask.delayed RowChunk (persisted unless too big), X with the kept columns
    n: int
    weighted: bool
    scale_problem: bool          # lme4's check.scaleX on all the rows
    partitions: int = 0
    persisted: bool = True       # False: chunks formed afresh from the source in each round (data beyond memory)

    def release(self) -> None:
        """Drop the references to the persisted chunks (the cluster frees their memory)."""
        self.chunks = []


def _rows_needed(what: str):
    def method(self, *args, **kwargs):
        raise FitError(f"{what} needs the model's rows in memory, which a fit to a Dask frame does not hold; "
                       "fit in memory for it: mm.lmer(formula, ddf.compute()) (or a sample of the rows)")
    method.__name__ = what
    method.__doc__ = f"Not available from a Dask fit: raises FitError ({what} needs the rows in memory)."
    return method


@dataclass(frozen=True, eq=False)
class DaskLmerResult(LmerResult):
    """A fitted linear mixed model whose rows live on a Dask cluster (``mm.lmer(formula, ddf)``).

    The estimates, the criterion, ``vcov``, ``coef_table()``, ``ranef()``, ``varcorr`` and the
    summary equal those of the in-memory fit of the same rows (to rounding); methods that need the
    rows raise a FitError saying so.
    """

    rows: DaskRows | None = field(default=None, repr=False)

    @cached_property
    def residual_quantiles(self) -> np.ndarray:
        r"""Minimum, quartiles and maximum of the scaled Pearson residuals ``sqrt(w_i) r_i / sigma``,
        exactly as R's ``quantile(type = 7)`` of all of them (what the summary prints).

        Each partition's residuals ``r = y - o - X beta - Z b`` are formed and sorted where its rows
        live; :func:`~mixedmodels.core.dask_rows.exact_quantiles` then finds the order statistics by
        counting values below a grid of edges on every partition, a few rounds, and sorts on the
        client only the few values left around each one: exact, not an approximate (t-digest or
        per-partition) quantile, and the residuals are never gathered.
        """
        import dask

        from ..core.dask_rows import chunk_residuals, exact_quantiles

        rows = self._live_rows("the residual quantiles")
        beta, b = np.asarray(self.beta, dtype=float), [np.asarray(x, dtype=float) for x in self.b]
        res = [dask.delayed(chunk_residuals, pure=True)(ch, beta, b) for ch in rows.chunks]
        if rows.persisted:  # else each round forms them afresh: the rows never held at once
            res = dask.persist(*res)
        try:
            q = exact_quantiles(list(res), rows.n)
        finally:
            del res
        return q / self.sigma

    def _live_rows(self, what: str) -> DaskRows:
        if self.rows is None or not self.rows.chunks:
            raise FitError(f"{what} needs the fit's rows on the Dask cluster, which were released; "
                           "fit again to compute it")
        return self.rows

    def summary(self, ddf: str = "Satterthwaite"):
        """lmerTest's summary, as in memory; the scaled residuals' quantiles computed on the cluster
        (:attr:`residual_quantiles`), exactly."""
        from ..report.lme4_print import LmerSummary, render_lmer_summary
        from ..report.summary import Summary, fit_messages, fixef_correlation, varcorr_groups, weights_name

        ddf = self._check_ddf(ddf)
        sigma = self.sigma
        warns = []
        k = len(self.fixed.dropped)
        if k:
            warns.append(f"fixed-effect model matrix is rank deficient so dropping {k} column{'s' if k > 1 else ''} "
                         f"/ coefficient{'s' if k > 1 else ''}")
        if self.rows is not None and self.rows.scale_problem:
            warns.append("Some predictor variables are on very different scales: consider rescaling")
        # the five quantiles themselves: R's type-7 quantiles of these five at 0, .25, .5, .75, 1 are them
        data = LmerSummary(
            reml=self.reml, ddf=ddf, formula=self.formula, data_name=self.data_name,
            reml_criterion=self.reml_criterion, aic=self.aic, bic=self.bic, loglik=self.loglik, deviance=self.deviance,
            df_resid=self.df_resid, scaled_residuals=self.residual_quantiles,
            varcorr=varcorr_groups(self.group_labels, self.terms, self.templates, sigma), residual_sd=sigma,
            nobs=self.nobs, ngroups=list(self.ngroups.items()), coef=self.coef_table(ddf),
            corr_fixef=fixef_correlation(self.vcov.to_numpy()), messages=fit_messages(self),
            weights=weights_name(self), fit_warnings=warns)
        return Summary(data, render_lmer_summary)

    def _repr_html_(self) -> str:
        from ..report.html import text_block

        return text_block(str(self.summary()))

    @property
    def fitted(self):
        """The fitted values ``o + X beta + Z b`` as a lazy ``dask.dataframe.Series`` (one partition per
        partition of the data, indexed by the rows the fit kept), computed where the rows live."""
        return self._row_series("fitted")

    @property
    def residuals(self):
        """The response residuals ``y - fitted``, a lazy ``dask.dataframe.Series`` as :attr:`fitted`."""
        return self._row_series("residuals")

    def _row_series(self, what: str):
        import dask
        import dask.dataframe as dd
        import pandas as pd

        rows = self._live_rows(f"the {what}")
        beta, b = np.asarray(self.beta, dtype=float), [np.asarray(x, dtype=float) for x in self.b]
        parts = [dask.delayed(_chunk_series, pure=True)(ch, beta, b, what) for ch in rows.chunks]
        return dd.from_delayed(parts, meta=pd.Series(dtype=float, name=what), verify_meta=False)

    @property
    def _eta_fixed(self):
        raise FitError("the linear predictor needs the model's rows in memory, which a fit to a Dask frame does "
                       "not hold; fit in memory for it: mm.lmer(formula, ddf.compute())")

    @property
    def plot(self):
        raise FitError("plots need the model's rows in memory, which a fit to a Dask frame does not hold; "
                       "fit in memory for them: mm.lmer(formula, ddf.compute())")

    resid = _rows_needed("resid()")
    hatvalues = _rows_needed("hatvalues()")
    influence = _rows_needed("influence()")
    cooks_distance = _rows_needed("cooks_distance()")
    dfbetas = _rows_needed("dfbetas()")
    simulate = _rows_needed("simulate()")
    bootstrap = _rows_needed("bootstrap()")
    refit = _rows_needed("refit()")
    allfit = _rows_needed("allfit()")
    ranova = _rows_needed("ranova()")
    drop1 = _rows_needed("drop1()")
    check = _rows_needed("check()")
    augment = _rows_needed("augment()")
    r2 = _rows_needed("r2()")
    emmeans = _rows_needed("emmeans()")
    save = _rows_needed("save()")
    profile = _rows_needed("profile()")
    icc = _rows_needed("icc()")

    def _check_ddf(self, ddf: str) -> str:
        from ..inference.ddf import normalize_ddf

        ddf = normalize_ddf(ddf)
        if ddf == "Kenward-Roger":
            raise FitError("Kenward-Roger's ddf needs the model's rows in memory (Z and X), which a fit to a "
                           "Dask frame does not hold; use ddf='Satterthwaite' or 'lme4', or fit in memory: "
                           "mm.lmer(formula, ddf.compute())")
        return ddf

    def coef_table(self, ddf: str = "Satterthwaite", conf_int: float | None = None):
        """The fixed-effects table as in memory (Satterthwaite or lme4; Kenward-Roger needs the rows)."""
        return super().coef_table(self._check_ddf(ddf), conf_int)

    def anova(self, type: int | str = 3, ddf: str = "Satterthwaite"):
        """lmerTest's ANOVA table as in memory, for fixed parts without interactions (R's coding of an
        interaction whose margin is missing reads the rows of X, which a Dask fit does not hold)."""
        ddf = self._check_ddf(ddf)
        if any(":" in nm for nm in self.fixed.all_names or self.fixed.names):
            raise FitError("anova() of a fixed part with interactions needs the model's rows in memory, which a "
                           "fit to a Dask frame does not hold; use coef_table(), or fit in memory: "
                           "mm.lmer(formula, ddf.compute())")
        return super().anova(type=type, ddf=ddf)

    def predict(self, newdata=None, **kwargs):
        """Predictions as in memory. ``newdata`` a pandas frame: a Series; a Dask frame: a lazy Dask
        Series, each partition predicted where it lives; none: the fitted values (:attr:`fitted`,
        lazy), where only the default ``re_form`` applies."""
        if newdata is None:
            if kwargs.get("re_form") not in (None,) or kwargs.get("se_fit") or kwargs.get("interval"):
                raise FitError("predict() of a Dask fit without newdata gives the fitted values only; pass the "
                               "Dask frame as newdata for other options (predict(ddf, re_form=...))")
            return self.fitted
        if type(newdata).__module__.split(".")[0] == "dask" and hasattr(newdata, "map_partitions"):
            import pandas as pd

            stub = _in_memory_view(self)
            meta = pd.Series(dtype=float, name="fit")
            return newdata.map_partitions(_predict_partition, stub, kwargs, meta=meta)
        return super().predict(newdata=newdata, **kwargs)

    def confint(self, method: str = "Wald", level: float = 0.95, **kwargs):
        """Wald intervals as in memory; "profile" and "boot" need refits to the rows (a FitError)."""
        if method != "Wald":
            raise FitError(f"confint(method={method!r}) refits the model to its rows, which a fit to a Dask frame "
                           "does not hold in memory; use method='Wald', or fit in memory: "
                           "mm.lmer(formula, ddf.compute())")
        return super().confint(method=method, level=level, **kwargs)

    def __repr__(self) -> str:
        return (f"<DaskLmerResult {self.formula!r}: {'REML' if self.reml else 'ML'} "
                f"{self.objective:.4f}, nobs={self.nobs}>")


def _chunk_series(ch, beta, b, what: str):
    """A chunk's fitted values or response residuals as a pandas Series on its rows' labels."""
    import pandas as pd

    from ..core.dask_rows import chunk_fitted

    f = chunk_fitted(ch, beta, b)
    values = f if what == "fitted" else np.asarray(ch.y, dtype=float) - f
    return pd.Series(values, index=ch.index, name=what)


def _in_memory_view(m: DaskLmerResult) -> LmerResult:
    """The fit without its cluster rows (what a worker needs to predict: specs, levels, b)."""
    from dataclasses import replace

    return replace(m, rows=None)


def _predict_partition(part, stub, kwargs):
    """One partition's predictions (run on a worker)."""
    return LmerResult.predict(stub, newdata=part, **kwargs).rename("fit")
