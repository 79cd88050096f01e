"""A linear mixed model fitted to a Dask frame: the in-memory result, its rows left on the cluster.

Everything that the crossproduct blocks determine is the in-memory fit's (theta, beta, sigma, the
criterion, vcov, Satterthwaite's tests, the conditional modes). The fitted values, the residuals
and ``predict`` on a Dask frame are lazy Dask Series, computed where the rows live. What needs the
rows in one place -- leverage, influence, simulation, refits -- is not computed from a Dask fit:
those methods raise a :class:`~mixedmodels.errors.FitError` that says so, never a number from
rows the result does not hold. The summary's scaled-residual quantiles are computed on the cluster,
exactly (:meth:`DaskLmerResult.residual_quantiles`).

The examples build a small Dask fit (no distributed Client is needed: Dask's default scheduler
runs it in this process)::

    import dask.dataframe as dd
    ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
    dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import ArgumentError, FitError
from .dask_rows import DaskRows, live_rows, rows_needed
from .lmer import LmerResult

__all__ = ["DaskLmerResult"]


@dataclass(frozen=True, eq=False)
class DaskLmerResult(LmerResult):
    """A fitted linear mixed model whose rows live on a Dask cluster (``mm.lmer(formula, ddf)``).

    The fit reduces the rows to the crossproduct blocks of ``[Z X y]`` on the cluster, partition by
    partition, and optimizes the same criterion as in memory. The estimates, the criterion,
    ``vcov``, ``coef_table()``, ``ranef()``, ``varcorr`` and the summary equal those of the
    in-memory fit of the same rows (to rounding); ``fitted``, ``residuals`` and ``predict(ddf)``
    are lazy Dask Series; methods that need the rows in one place raise a FitError saying so. The
    members not documented here are :class:`~mixedmodels.results.lmer.LmerResult`'s.

    Attributes
    ----------
    formula, reml, data_name, parsed, control, weights_name, fitter
        As :class:`~mixedmodels.results.lmer.LmerResult`'s (``data_name`` is "data" unless
        ``data_name=`` or a Parquet path names it).
    frame : ModelFrame
        An empty stand-in with the data's columns: the rows stay on the cluster (:attr:`rows`).
    fixed : FixedDesign
        The fixed-effects columns' ``names`` and what was dropped; ``X`` has no rows here.
    terms : list of ReTerm
        The random-effects terms with their global levels; no rows (``codes``, ``z``) here.
    core : LmmCore
        The numerical core, built from the crossproduct blocks reduced on the cluster.
    theta : numpy.ndarray
        The estimate of theta, as in memory.
    optimizer_report : OptInfo
        The optimizer's own report.
    rows : DaskRows or None
        The fit's rows on the cluster: the persisted chunks, their number and checks; what
        :attr:`fitted`, :attr:`residuals`, :attr:`residual_quantiles` and ``predict`` compute
        with (``rows.release()`` frees them).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
    >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
    >>> dm
    <DaskLmerResult 'Reaction ~ Days + (Days | Subject)': REML 1743.6283, nobs=180>
    >>> dm.rows.n, dm.rows.partitions
    (180, 2)
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

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.residual_quantiles.round(3).tolist()
        [-3.954, -0.463, 0.023, 0.463, 5.179]
        """
        from ..core.dask_rows import chunk_residuals

        rows = self._live_rows("the residual quantiles")
        beta, b = np.asarray(self.beta, dtype=float), [np.asarray(x, dtype=float) for x in self.b]
        return rows.quantiles(chunk_residuals, beta, b) / self.sigma

    def _live_rows(self, what: str) -> DaskRows:
        return live_rows(self.rows, what)

    def summary(self, ddf: str = "Satterthwaite"):
        """lmerTest's ``summary(m)``, as in memory; the scaled residuals' quantiles computed on the
        cluster (:attr:`residual_quantiles`), exactly.

        Parameters
        ----------
        ddf : {"Satterthwaite", "lme4"}, default "Satterthwaite"
            The df of the t tests; "Kenward-Roger" from the blocks, as in memory (with prior
            weights, pbkrtest's unweighted blocks are one more pass on the cluster).

        Returns
        -------
        Summary
            Prints as lmerTest prints it; ``.data`` holds the numbers (``LmerSummary``).

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> print(str(dm.summary()).splitlines()[0])
        Linear mixed model fit by REML. t-tests use Satterthwaite's method [
        """
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
        partition of the data, indexed by the rows the fit kept), computed where the rows live.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.fitted.compute().round(2).head(3).tolist()
        [253.66, 273.33, 293.0]
        """
        return self._row_series("fitted")

    @property
    def residuals(self):
        """The response residuals ``y - fitted``, a lazy ``dask.dataframe.Series`` as :attr:`fitted`.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.residuals.compute().round(2).head(3).tolist()
        [-4.1, -14.63, -42.2]
        """
        return self._row_series("residuals")

    def resid(self, type: str = "response", scaled: bool = False):
        """Residuals of a kind, lme4's ``residuals(m, type, scaled)``, as a lazy ``dask.dataframe.Series``.

        Parameters
        ----------
        type : {"response", "working", "pearson", "deviance"}, default "response"
            ``"response"`` and ``"working"``: ``y - fitted``; ``"pearson"`` and ``"deviance"``:
            ``sqrt(w) (y - fitted)`` with the prior weights, as in memory.
        scaled : bool, default False
            Divide by sigma.

        Returns
        -------
        dask.dataframe.Series
            One residual per row the fit kept, computed where the rows live.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.resid("pearson", scaled=True).compute().round(3).head(3).tolist()
        [-0.16, -0.571, -1.649]
        """
        types = ("response", "working", "pearson", "deviance")
        if type not in types:
            raise ArgumentError(f"type must be one of {', '.join(types)}; got {type!r}")
        return self._row_series("residuals", pearson=type in ("pearson", "deviance"),
                                scale=float(self.sigma) if scaled else 1.0)

    def _row_series(self, what: str, pearson: bool = False, scale: float = 1.0):
        import dask
        import dask.dataframe as dd
        import pandas as pd

        rows = self._live_rows(f"the {what}")
        beta, b = np.asarray(self.beta, dtype=float), [np.asarray(x, dtype=float) for x in self.b]
        parts = [dask.delayed(_chunk_series, pure=True)(ch, beta, b, what, pearson, scale) for ch in rows.chunks]
        return dd.from_delayed(parts, meta=pd.Series(dtype=float, name=what), verify_meta=False)

    @property
    def _eta_fixed(self):
        raise FitError("the linear predictor needs the model's rows in memory, which a fit to a Dask frame does "
                       "not hold; fit in memory for it: mm.lmer(formula, ddf.compute())")

    @property
    def plot(self):
        """Not available from a Dask fit: plots need the model's rows in memory (a FitError).

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.plot
        Traceback (most recent call last):
            ...
        mixedmodels.errors.FitError: plots need the model's rows in memory, ...
        """
        raise FitError("plots need the model's rows in memory, which a fit to a Dask frame does not hold; "
                       "fit in memory for them: mm.lmer(formula, ddf.compute())")

    hatvalues = rows_needed("hatvalues()")
    influence = rows_needed("influence()")
    cooks_distance = rows_needed("cooks_distance()")
    dfbetas = rows_needed("dfbetas()")
    simulate = rows_needed("simulate()")
    bootstrap = rows_needed("bootstrap()")
    refit = rows_needed("refit()")
    allfit = rows_needed("allfit()")
    ranova = rows_needed("ranova()")
    drop1 = rows_needed("drop1()")
    check = rows_needed("check()")
    augment = rows_needed("augment()")
    r2 = rows_needed("r2()")
    emmeans = rows_needed("emmeans()")
    save = rows_needed("save()")
    profile = rows_needed("profile()")
    icc = rows_needed("icc()")

    def _check_ddf(self, ddf: str) -> str:
        from ..inference.ddf import normalize_ddf

        return normalize_ddf(ddf)

    def coef_table(self, ddf: str = "Satterthwaite", conf_int: float | None = None):
        """The fixed effects with t tests, lmerTest's summary table, as in memory.

        Parameters
        ----------
        ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}, default "Satterthwaite"
            The df of the t tests (lme4: none, normal p-values not given); Kenward-Roger's from the
            crossproduct blocks, as in memory (with prior weights: one more pass for the unweighted ones).
        conf_int : float, optional
            A level such as 0.95: adds the limits of t intervals with the same df.

        Returns
        -------
        pandas.DataFrame
            ``Estimate, Std. Error, df, t value, Pr(>|t|)`` per fixed effect (and the limits).

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.coef_table().round(3).loc["Days"].tolist()
        [10.467, 1.546, 17.0, 6.771, 0.0]
        """
        return super().coef_table(self._check_ddf(ddf), conf_int)

    def anova(self, type: int | str = 3, ddf: str = "Satterthwaite"):
        """lmerTest's ANOVA table of the fixed-effect terms, as in memory, for fixed parts without
        interactions (R's coding of an interaction whose margin is missing reads the rows of X,
        which a Dask fit does not hold: a FitError).

        Parameters
        ----------
        type : {1, 2, 3}, default 3
            The type of the hypotheses.
        ddf : {"Satterthwaite", "lme4"}, default "Satterthwaite"
            The denominator df; "Kenward-Roger" from the blocks.

        Returns
        -------
        AnovaTable
            ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)`` per term.

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> round(float(dm.anova().loc["Days", "F value"]), 2)
        45.85
        """
        ddf = self._check_ddf(ddf)
        if any(":" in nm for nm in self.fixed.all_names or self.fixed.names):
            raise FitError("anova() of a fixed part with interactions needs the model's rows in memory, which a "
                           "fit to a Dask frame does not hold; use coef_table(), or fit in memory: "
                           "mm.lmer(formula, ddf.compute())")
        return super().anova(type=type, ddf=ddf)

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, se_fit: bool = False,
                interval: str | None = None, level: float = 0.95, type: str = "link", offset=None,
                random_only: bool = False, ddf: str = "Satterthwaite"):
        """Predictions, as lme4's ``predict(m, newdata, re.form)`` in memory.

        ``newdata`` a pandas frame: a pandas Series (or DataFrame), as in memory; a Dask frame: a
        lazy Dask Series, each partition predicted where it lives; None: the fitted values
        (:attr:`fitted`, lazy), where only the default ``re_form`` applies.

        Parameters
        ----------
        newdata : pandas.DataFrame, dask.dataframe.DataFrame or dict, optional
            The rows to predict; None: the rows of the fit.
        re_form, allow_new_levels, se_fit, interval, level, type, offset, random_only, ddf
            As :meth:`LmerResult.predict <mixedmodels.results.lmer.LmerResult.predict>`:
            the random-effects terms included (None every term, ``"~0"`` none), new levels at
            the population level, standard errors, ``"confidence"``/``"prediction"`` limits and
            their level, an offset for newdata, the random part alone, and the df of the
            intervals. Without newdata only ``re_form=None`` and no ``se_fit``/``interval``.

        Returns
        -------
        pandas.Series, pandas.DataFrame or dask.dataframe.Series
            The predictions ``fit`` (with ``se``, ``lwr``, ``upr`` where asked, in memory).

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.predict(ddf).compute().round(2).head(3).tolist()
        [253.66, 273.33, 293.0]
        >>> dm.predict(mm.load_dataset("sleepstudy").head(2), re_form="~0").round(2).tolist()
        [251.41, 261.87]
        """
        opts = {"re_form": re_form, "allow_new_levels": allow_new_levels, "se_fit": se_fit, "interval": interval,
                "level": level, "type": type, "offset": offset, "random_only": random_only, "ddf": ddf}
        if newdata is None:
            if re_form is not None or se_fit or interval:
                raise FitError("predict() of a Dask fit without newdata gives the fitted values only; pass the "
                               "Dask frame as newdata for other options (predict(ddf, re_form=...))")
            return self.fitted
        if newdata.__class__.__module__.split(".")[0] == "dask" and hasattr(newdata, "map_partitions"):
            import pandas as pd

            stub = _in_memory_view(self)
            meta = pd.Series(dtype=float, name="fit")
            return newdata.map_partitions(_predict_partition, stub, opts, meta=meta)
        return super().predict(newdata=newdata, **opts)

    def confint(self, method: str = "Wald", level: float = 0.95, **kwargs):
        """Wald confidence intervals of the fixed effects, as in memory (``beta -+ z se``);
        "profile" and "boot" refit the model to its rows (a FitError).

        Parameters
        ----------
        method : {"Wald"}, default "Wald"
            Only "Wald"; any other method raises a FitError.
        level : float, default 0.95
            The confidence level, in (0, 1).
        **kwargs
            :meth:`LmerResult.confint <mixedmodels.results.lmer.LmerResult.confint>`'s other
            options; only ``parm`` (the rows) changes Wald intervals.

        Returns
        -------
        pandas.DataFrame
            One row per fixed effect, columns named as R names them ("2.5 %", "97.5 %").

        Examples
        --------
        >>> import dask.dataframe as dd
        >>> ddf = dd.from_pandas(mm.load_dataset("sleepstudy"), npartitions=2)
        >>> dm = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        >>> dm.confint().round(2).loc["Days"].tolist()
        [7.44, 13.5]
        """
        if method != "Wald":
            raise FitError(f"confint(method={method!r}) refits the model to its rows, which a fit to a Dask frame "
                           "does not hold in memory; use method='Wald', or fit in memory: "
                           "mm.lmer(formula, ddf.compute())")
        return super().confint(method=method, level=level, **kwargs)

    def __repr__(self) -> str:
        return (f"<DaskLmerResult {self.formula!r}: {'REML' if self.reml else 'ML'} "
                f"{self.objective:.4f}, nobs={self.nobs}>")


def _chunk_series(ch, beta, b, what: str, pearson: bool = False, scale: float = 1.0):
    """A chunk's fitted values or residuals as a pandas Series on its rows' labels; ``pearson``
    multiplies the residuals by the square roots of the prior weights, ``scale`` divides them."""
    import pandas as pd

    from ..core.dask_rows import chunk_fitted

    f = chunk_fitted(ch, beta, b)
    if what == "fitted":
        return pd.Series(f, index=ch.index, name=what)
    values = np.asarray(ch.y, dtype=float) - f
    if pearson and ch.weights is not None:
        values = values * np.sqrt(np.asarray(ch.weights, dtype=float))
    return pd.Series(values / scale if scale != 1.0 else values, index=ch.index, name=what)


def _in_memory_view(m: DaskLmerResult) -> LmerResult:
    """The fit without its cluster rows (what a worker needs to predict: specs, levels, b)."""
    from dataclasses import replace

    return replace(m, rows=None)


def _predict_partition(part, stub, kwargs):
    """One partition's predictions (run on a worker)."""
    return LmerResult.predict(stub, newdata=part, **kwargs).rename("fit")
