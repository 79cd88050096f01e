"""A generalized linear mixed model fitted to a Dask frame: the in-memory result, its rows left on the cluster.

Everything the fit determines is the in-memory fit's, to the order of the sums: theta, beta, the
Laplace (or nAGQ = 0) deviance, the finite-difference Hessian and so ``vcov`` and the z tests,
the conditional modes and their variances. The linear predictor, the fitted means and the
residuals are lazy Dask Series, computed where the rows live; the summary's scaled residuals are
exact quantiles computed there too. What needs the rows in one place (leverage, simulation, refits,
profiles) raises a :class:`~mixedmodels.errors.FitError` that says so.

The examples use a fit of cbpp cut into two partitions::

    import dask.dataframe as dd
    ddf = dd.from_pandas(mm.load_dataset("cbpp"), npartitions=2)
    dg = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ddf, family="binomial")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import ArgumentError, FitError
from .dask_rows import DaskRows, live_rows, rows_needed
from .glmer import GlmerResult

__all__ = ["DaskGlmerResult"]

_RESID_TYPES = ("deviance", "pearson", "response", "working")


def _needs_rows(what: str):
    """A member of the in-memory fit that a Dask glmer fit replaces with a FitError."""
    return rows_needed(what, "DaskGlmerResult", "mm.glmer(formula, ddf.compute(), ...)", ">>> dg.{name}()")


@dataclass(frozen=True, eq=False)
class DaskGlmerResult(GlmerResult):
    """A fitted GLMM whose rows live on a Dask cluster (``mm.glmer(formula, ddf, family=...)``).

    Each PIRLS step of the fit is one map-reduce round over the partitions
    (:mod:`mixedmodels.glmm.dask_pirls`); the optimization is the in-memory one. The estimates,
    the deviance, ``vcov``, ``coef_table()``, ``ranef()``, ``varcorr`` and the summary equal those
    of the in-memory fit of the same rows (to the order of the sums); ``fitted``,
    ``linear_predictor``, ``residuals``, ``resid(type)`` and ``predict()`` are lazy Dask Series;
    members that need the rows in one place raise a FitError saying so. The members not
    documented here are :class:`~mixedmodels.results.glmer.GlmerResult`'s.

    Attributes
    ----------
    formula, family, nagq, data_name, parsed, theta, beta, objective, optinfo, hessian, gradient, control
        As :class:`~mixedmodels.results.glmer.GlmerResult`'s.
    weights_name, messages, lp0, nb_theta, hessian_scale, fitter, setup, reml, reml_criterion
        As :class:`~mixedmodels.results.glmer.GlmerResult`'s (``lp0`` a
        :class:`~mixedmodels.glmm.dask_pirls.RemoteEta`; ``setup`` holds no rows).
    frame, fixed, terms
        Stand-ins without rows: the data's columns, X's column names, the terms' global levels.
    model : DaskGlmmModel
        The family and the persisted chunks PIRLS runs on.
    pirls : DaskPirlsResult
        The conditional mode at the estimate: ``u``, the sums of the deviance residuals and aic.
    rows : DaskRows or None
        The fit's rows on the cluster (``rows.release()`` frees them).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> ddf = dd.from_pandas(mm.load_dataset("cbpp"), npartitions=2)
    >>> dg = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ddf, family="binomial")
    >>> round(dg.loglik, 2), dg.rows.partitions
    (-92.03, 2)
    """

    rows: DaskRows | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ what the fit holds
    @cached_property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: the sum of the squared deviance residuals, summed on the
        cluster.

        Examples
        --------
        >>> round(dg.deviance, 3)
        73.474
        """
        return float(self.pirls.dev)

    def _pearson_chisq(self) -> float:
        """The Pearson chi-square behind :attr:`sigma` (Gamma, inverse Gaussian), summed on the
        cluster: one round."""
        from ..glmm.dask_pirls import add, pearson_ss

        m = self.model
        return float(m.reduce(pearson_ss, add, m.family, m.many_trials, self.pirls.eta))

    @cached_property
    def _final(self):
        """(core, factorization) of the penalized weighted least squares with X at the mode: one
        more round on the cluster."""
        core = self.model.mode_system(self.pirls)
        return core, core.factor(self.theta)

    def _live_rows(self, what: str) -> DaskRows:
        return live_rows(self.rows, what)

    # ------------------------------------------------------------------ the rows' values, lazily
    def _row_series(self, what: str, name: str, scale: float = 1.0):
        import dask
        import dask.dataframe as dd
        import pandas as pd

        rows = self._live_rows(f"the {name}")
        m, eta = self.model, self.pirls.eta
        parts = [dask.delayed(_chunk_series, pure=True)(ch, m.family, m.many_trials, eta, what, name, scale)
                 for ch in rows.chunks]
        return dd.from_delayed(parts, meta=pd.Series(dtype=float, name=name), verify_meta=False)

    @property
    def fitted(self):
        """The fitted means (proportions for a binomial response), a lazy ``dask.dataframe.Series``
        indexed by the rows the fit kept, computed where they live.

        Examples
        --------
        >>> dg.fitted.compute().round(3).head(3).tolist()
        [0.308, 0.142, 0.126]
        """
        return self._row_series("mu", "fitted")

    @property
    def linear_predictor(self):
        """``eta = offset + X beta + Z b``, a lazy ``dask.dataframe.Series`` as :attr:`fitted`.

        Examples
        --------
        >>> dg.linear_predictor.compute().round(3).head(3).tolist()
        [-0.809, -1.801, -1.937]
        """
        return self._row_series("eta", "eta")

    @property
    def residuals(self):
        """The response residuals ``y - mu``, a lazy ``dask.dataframe.Series``.

        Examples
        --------
        >>> dg.residuals.compute().round(3).head(3).tolist()
        [-0.165, 0.108, 0.318]
        """
        return self._row_series("response", "residuals")

    def resid(self, type: str = "deviance", scaled: bool = False):
        """Residuals of a kind, as lme4's ``residuals(gm, type = )``, a lazy ``dask.dataframe.Series``.

        Parameters
        ----------
        type : {"deviance", "pearson", "response", "working"}, default "deviance"
            The kind, as in memory.
        scaled : bool, default False
            Divide by :attr:`sigma`.

        Returns
        -------
        dask.dataframe.Series
            One residual per row the fit kept, computed where the rows live.

        Examples
        --------
        >>> dg.resid("pearson").compute().round(3).head(3).tolist()
        [-1.34, 1.075, 2.879]
        """
        t = str(type).lower()
        if t not in _RESID_TYPES:
            raise ArgumentError(f"residual type must be 'deviance', 'pearson', 'response' or 'working', got {type!r}")
        return self._row_series(t, "residuals", self.sigma if scaled else 1.0)

    @cached_property
    def residual_quantiles(self) -> np.ndarray:
        """Minimum, quartiles and maximum of the scaled Pearson residuals (what the summary prints),
        exactly as R's ``quantile(type = 7)`` of all of them, computed on the cluster
        (:func:`~mixedmodels.core.dask_rows.exact_quantiles`).

        Examples
        --------
        >>> dg.residual_quantiles.round(4).tolist()
        [-2.3816, -0.7889, -0.2026, 0.5143, 2.8791]
        """
        from ..glmm.dask_pirls import sorted_values

        m = self.model
        rows = self._live_rows("the residual quantiles")
        return rows.quantiles(sorted_values, m.family, m.many_trials, self.pirls.eta, "pearson") / self.sigma

    def summary(self, correlation: bool | None = None, ddf: str | None = None):
        """lme4's ``print(summary(gm))``, as in memory; the scaled residuals' quantiles computed on
        the cluster (:attr:`residual_quantiles`).

        Parameters
        ----------
        correlation : bool, optional
            Print the fixed effects' correlations (lme4's rule when None: up to 12 of them).
        ddf : None
            As in memory: a GLMM's tests are z tests.

        Returns
        -------
        TextSummary
            A str as lme4 prints it; ``.data`` holds the numbers.

        Examples
        --------
        >>> print(str(dg.summary()).splitlines()[0])
        Generalized linear mixed model fit by maximum likelihood (Laplace
        """
        from ..report.summary import glmer_summary

        if ddf is not None and str(ddf).lower() not in ("lme4", "asymptotic"):
            raise ArgumentError(f"ddf={ddf!r} applies to lmer fits; a glmer fit has Wald z tests: leave ddf out")
        return glmer_summary(self, correlation, scaled_residuals=self.residual_quantiles)

    def predict(self, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False, **kwargs):
        """Predictions, as lme4's ``predict(gm, newdata, type, re.form)``.

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            The rows to predict, as in memory; None: the rows of the fit, a lazy Dask Series
            (where only the default ``re_form`` applies).
        type : {"link", "response"}, default "link"
            The linear predictor or the mean.
        re_form, allow_new_levels, **kwargs
            As :meth:`GlmerResult.predict <mixedmodels.results.glmer.GlmerResult.predict>`.

        Returns
        -------
        pandas.Series or dask.dataframe.Series

        Examples
        --------
        >>> dg.predict(type="response").compute().round(3).head(2).tolist()
        [0.308, 0.142]
        """
        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is None:
            if re_form is not None or kwargs:
                raise FitError("predict() of the fit's own rows with re_form or other options needs the rows in "
                               "memory, which a fit to a Dask frame does not hold; pass them as newdata")
            return self.linear_predictor if type == "link" else self.fitted
        return super().predict(newdata, type=type, re_form=re_form, allow_new_levels=allow_new_levels, **kwargs)

    @property
    def y(self):
        """Not available from a Dask fit: the response stays on the cluster (a FitError).

        Examples
        --------
        >>> dg.y
        Traceback (most recent call last):
            ...
        mixedmodels.errors.FitError: the response needs the model's rows in memory, ...
        """
        raise FitError("the response needs the model's rows in memory, which a fit to a Dask frame does not hold")

    @property
    def weights(self):
        """Not available from a Dask fit: the prior weights stay on the cluster (a FitError).

        Examples
        --------
        >>> dg.weights
        Traceback (most recent call last):
            ...
        mixedmodels.errors.FitError: the weights need the model's rows in memory, ...
        """
        raise FitError("the weights need the model's rows in memory, which a fit to a Dask frame does not hold")

    @property
    def plot(self):
        """Not available from a Dask fit: plots need the model's rows in memory (a FitError).

        Examples
        --------
        >>> dg.plot
        Traceback (most recent call last):
            ...
        mixedmodels.errors.FitError: plots need the model's rows in memory, ...
        """
        raise FitError("plots need the model's rows in memory, which a fit to a Dask frame does not hold; fit in "
                       "memory for them: mm.glmer(formula, ddf.compute(), ...)")

    def confint(self, method: str = "Wald", level: float = 0.95, **kwargs):
        """Wald intervals of the fixed effects, as in memory; profile and bootstrap intervals need
        the rows (a FitError).

        Parameters
        ----------
        method : {"Wald"}, default "Wald"
            The only one available from Dask.
        level : float, default 0.95
            The confidence level.
        **kwargs
            Not looked at (the bootstrap's options).

        Returns
        -------
        pandas.DataFrame
            Columns "2.5 %", "97.5 %" for level 0.95, one row per fixed effect.

        Examples
        --------
        >>> dg.confint().round(2).loc["period2"].tolist()
        [-1.59, -0.4]
        """
        if str(method).lower() != "wald":
            raise FitError(f"confint(method={method!r}) needs the model's rows in memory (profiles and bootstrap "
                           "refit the model), which a fit to a Dask frame does not hold; use method='Wald' or fit "
                           "in memory: mm.glmer(formula, ddf.compute(), ...)")
        return super().confint(method="Wald", level=level)

    hatvalues = _needs_rows("hatvalues()")
    simulate = _needs_rows("simulate()")
    bootstrap = _needs_rows("bootstrap()")
    refit = _needs_rows("refit()")
    profile = _needs_rows("profile()")
    drop1 = _needs_rows("drop1()")
    icc = _needs_rows("icc()")
    r2 = _needs_rows("r2()")
    emmeans = _needs_rows("emmeans()")
    save = _needs_rows("save()")
    augment = _needs_rows("augment()")
    check = _needs_rows("check()")

    def __repr__(self) -> str:
        return (f"<DaskGlmerResult {self.formula!r}: {self.family.label}({self.family.link}), "
                f"logLik {self.loglik:.4f}, nobs={self.nobs}>")


def _chunk_series(ch, family, many_trials, eta, what: str, name: str, scale: float):
    """A chunk's values of a kind (:func:`~mixedmodels.glmm.dask_pirls.chunk_values`) as a pandas
    Series with the chunk's row labels (runs on a worker)."""
    import pandas as pd

    from ..glmm.dask_pirls import chunk_values

    v = chunk_values(ch, family, many_trials, eta, what)
    if scale != 1.0:
        v = v / scale
    return pd.Series(v, index=ch.index, name=name)
