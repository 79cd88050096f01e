"""The members that lmer and glmer results offer alike, each written (and documented) once.

Every method here delegates to its concept module below results/ (postfit/, report/, inference/,
io/) with a lazy import, as the result classes' own methods do; the class provides what those
modules read (``terms``, ``_b``, ``_b_condvar``, ``fixef``, ``frame``...).

The examples use two fits::

    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    gm = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                  mm.load_dataset("cbpp"), family="binomial")
"""
from __future__ import annotations

from functools import cached_property

import pandas as pd

__all__ = ["ModelFace"]


class ModelFace:
    """Mixin of :class:`~mixedmodels.results.lmer.LmerResult` and
    :class:`~mixedmodels.results.glmer.GlmerResult`: tidy tables, variance summaries, checks,
    simulation, saving and plots."""

    # ------------------------------------------------------------------ tidy tables (broom.mixed)
    def tidy(self, effects=("fixed", "ran_pars"), conf_int: bool = False, conf_level: float = 0.95,
             ddf: str = "Satterthwaite") -> pd.DataFrame:
        """One row per parameter, as broom.mixed's ``tidy()``.

        Parameters
        ----------
        effects : str or sequence of str, default ("fixed", "ran_pars")
            The fixed effects, the random-effect standard deviations and correlations, or both.
        conf_int : bool, default False
            Add Wald intervals of the fixed effects (``conf.low``, ``conf.high``).
        conf_level : float, default 0.95
            Their level.
        ddf : str, default "Satterthwaite"
            lmer fits: the df of the t tests ("Satterthwaite", "Kenward-Roger", "lme4"); a glmer
            fit has z tests and ignores it.

        Returns
        -------
        pandas.DataFrame
            ``effect, group, term, estimate, std.error, statistic, df, p.value`` (no ``df`` for a
            GLMM), see :func:`mixedmodels.report.tidy.tidy`.

        Examples
        --------
        >>> m.tidy()[["term", "estimate"]].round(3).head(2)
                  term  estimate
        0  (Intercept)   251.405
        1         Days    10.467
        """
        from ..report.tidy import tidy

        return tidy(self, effects=effects, conf_int=conf_int, conf_level=conf_level, ddf=ddf)

    def glance(self) -> pd.DataFrame:
        """One row of model statistics, as broom.mixed's ``glance()``.

        Returns
        -------
        pandas.DataFrame
            ``nobs, sigma, logLik, AIC, BIC, deviance, df.residual`` (and ``REMLcrit`` for a REML
            fit), see :func:`mixedmodels.report.tidy.glance`.

        Examples
        --------
        >>> round(float(m.glance()["AIC"].iloc[0]), 1)
        1755.6
        """
        from ..report.tidy import glance

        return glance(self)

    def augment(self) -> pd.DataFrame:
        """The model frame's rows with ``.fitted``, ``.resid``, ``.fixed`` and, for lmer fits,
        ``.hat`` and ``.cooksd`` (broom.mixed's ``augment()``).

        Returns
        -------
        pandas.DataFrame
            The rows used in the fit, in their order, with the data's index.

        Examples
        --------
        >>> round(float(m.augment()[".fitted"].iloc[0]), 2)
        253.66
        """
        from ..report.tidy import augment

        return augment(self)

    # ------------------------------------------------------------------ variance summaries
    def icc(self) -> dict:
        """The intraclass correlation, as R's ``performance::icc``.

        ``adjusted`` is ``var_random / (var_random + var_residual)``; ``conditional`` also counts
        the fixed effects' variance in the denominator (performance's "unadjusted"). A GLMM's
        residual variance is that of its latent scale: ``pi^2 / 3`` for a logit link, the
        lognormal approximation for Poisson and negative binomial fits with a log link.

        Returns
        -------
        dict
            ``{"adjusted": float, "conditional": float}``.

        Examples
        --------
        >>> round(m.icc()["adjusted"], 3)
        0.722
        """
        from ..postfit.icc import icc

        return icc(self)

    def r2(self) -> dict:
        """Nakagawa's R², as R's ``performance::r2_nakagawa``.

        Returns
        -------
        dict
            ``{"marginal": float, "conditional": float}``: the variance explained by the fixed
            effects, and by fixed and random effects together. For a singular fit the conditional
            R² is NaN, as performance reports.

        Examples
        --------
        >>> round(m.r2()["marginal"], 3)
        0.279
        """
        from ..postfit.icc import r2

        return r2(self)

    def check(self):
        """A plain-language report on convergence, singularity and scaling.

        Returns
        -------
        ModelCheck
            ``str()`` is the report (lme4's convergence checks, ``isSingular``, predictors on very
            different scales); ``ok`` is True when no line reports a problem, ``issues`` lists
            those that do.

        Examples
        --------
        >>> m.check().ok
        True
        >>> gm.check().ok
        True
        """
        from ..postfit.check import check

        return check(self)

    # ------------------------------------------------------------------ simulation
    def simulate(self, nsim: int = 1, seed=None, re_form="~0", use_u: bool = False) -> pd.DataFrame:
        """New responses drawn from the fitted model, as lme4's ``simulate()``.

        Parameters
        ----------
        nsim : int, default 1
            The number of simulated responses.
        seed : int, numpy.random.Generator or None
            The random numbers' source.
        re_form : str or None, default "~0"
            The random effects kept at their conditional modes: ``"~0"`` none (all drawn anew),
            None all, ``"~(1|g)"`` those named.
        use_u : bool, default False
            lme4's shorthand for ``re_form=None``.

        Returns
        -------
        pandas.DataFrame
            Columns ``sim_1 ... sim_nsim``, one row per observation of the fit; a binomial response
            as proportions of its trials, counts for Poisson and negative binomial families.

        Examples
        --------
        >>> m.simulate(nsim=2, seed=1).shape
        (180, 2)
        """
        from ..inference.simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, re_form=re_form, use_u=use_u)

    def bootstrap(self, func, nsim: int = 100, seed=None, n_jobs: int = 1, progress=None, re_form="~0",
                  use_u: bool = False):
        """A parametric bootstrap, as lme4's ``bootMer(type = "parametric")``.

        Simulates ``nsim`` responses (as :meth:`simulate`), refits the model to each with the same
        criterion and design, and records ``func(refit)``.

        Parameters
        ----------
        func : callable
            Fit -> a number, an array or a Series (its index names the statistics).
        nsim : int, default 100
            The number of refits.
        seed : int, numpy.random.Generator or None
            The random numbers' source.
        n_jobs : int, default 1
            Worker processes for the refits (-1: one per CPU).
        progress : bool or None
            A progress bar; None shows one in a terminal or notebook when the work is long.
        re_form, use_u
            As in :meth:`simulate`.

        Returns
        -------
        BootResult
            ``t0`` (the statistic on this fit), ``t`` (one row per refit, NaN where a refit
            failed), ``warnings`` (counts of the refits' warnings), ``failures``.

        Examples
        --------
        >>> b = m.bootstrap(lambda f: f.fixef["Days"], nsim=3, seed=1)
        >>> b.t.shape
        (3, 1)
        """
        from ..inference.simulate import bootstrap

        return bootstrap(self, func, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress, re_form=re_form,
                         use_u=use_u)

    # ------------------------------------------------------------------ saving and plots
    def save(self, path):
        """Write the fit to a JSON file: data, never code.

        ``mm.load_result(path)`` gives it back with every estimate, criterion, conditional mode and
        standard error identical. A glmer fit with ``nAGQ=0`` cannot be saved (a PersistError).

        Parameters
        ----------
        path : str or os.PathLike
            The file; a name ending in ``.gz`` is gzip-compressed.

        Returns
        -------
        pathlib.Path
            The file written.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "sleep.json.gz")
        >>> _ = m.save(path)
        >>> mm.load_result(path).fixef.equals(m.fixef)
        True
        """
        from ..io.save import save_result

        return save_result(self, path)

    @cached_property
    def plot(self):
        """The fit's plots (matplotlib), as methods of a :class:`~mixedmodels.report.plots.ModelPlots`.

        ``m.plot.ranef()`` (caterpillar), ``.qq()``, ``.residuals()``, ``.diagnostics()``,
        ``.effects(x)``, ``.forest()``, ``.profile()``; for lmer fits also ``.groups()`` and
        ``.shrinkage()``; ``.binned()`` for Bernoulli GLMMs. A GLMM's residuals are Pearson
        residuals, as in lme4's ``plot(m)``.

        Examples
        --------
        >>> fig = m.plot.qq()
        >>> type(fig).__name__
        'Figure'
        """
        from ..report.plots import ModelPlots

        return ModelPlots(self)
