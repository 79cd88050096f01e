"""An lmer fit's inference: lmerTest's tests of the fixed and random effects, intervals, profiles.

The members of :class:`LmerInference`, a mixin of :class:`~mixedmodels.results.lmer.LmerResult`,
delegate with a lazy import to :mod:`mixedmodels.inference` (``ddf``, ``anova``, ``ranova``,
``confint``, ``emmeans``, ``satterthwaite``) and to :mod:`mixedmodels.postfit.allfit`, which read the
fit through its attributes. Satterthwaite's ingredients are computed once per fit (``_varpar``).

The examples use ``m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))``.
"""
from __future__ import annotations

from functools import cached_property

import pandas as pd

__all__ = ["LmerInference"]


class LmerInference:
    """Mixin of :class:`~mixedmodels.results.lmer.LmerResult`: t and F tests with Satterthwaite's
    or Kenward-Roger's df (lmerTest), likelihood-ratio tests of terms, confidence intervals and
    profiles (lme4), marginal means (emmeans) and the comparison of optimizers (``allFit``)."""

    @cached_property
    def _varpar(self):
        """Satterthwaite's ingredients at the estimate (computed once per fit)."""
        from ..inference.satterthwaite import fit_varpar

        return fit_varpar(self)

    def coef_table(self, ddf: str = "Satterthwaite", conf_int: float | None = None) -> pd.DataFrame:
        r"""The fixed-effects table of lmerTest's ``summary(m, ddf = ddf)``: t tests of ``beta_j = 0``.

        ``Std. Error`` is the square root of the diagonal of :attr:`vcov`
        (``sigma^2 (R_X' R_X)^-1``), ``t value = Estimate / Std. Error``. Satterthwaite's df of
        ``l' beta`` is ``2 v^2 / (g' A g)``, ``v = l' V l``, ``g_k = l' (dV / d varpar_k) l`` and
        ``A = 2 H^-1`` the covariance of ``varpar = (theta, sigma)`` from the deviance's Hessian
        (Kuznetsova et al. 2017); Kenward-Roger's (pbkrtest) also adjusts the standard errors.

        Parameters
        ----------
        ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}, default "Satterthwaite"
            The denominator df (case-insensitive; "KR" and "none" are accepted too); "lme4" gives
            lme4's table, without ``df`` and ``Pr(>|t|)``.
        conf_int : float, optional
            Add the limits of t intervals at this level (``Estimate -+ q Std. Error`` with the
            test's df, normal quantiles without df), columns named as R names them ("2.5 %",
            "97.5 %" for 0.95). None (default): no intervals.

        Returns
        -------
        pandas.DataFrame
            One row per fixed effect (:attr:`fixef`'s names): ``Estimate, Std. Error, df,
            t value, Pr(>|t|)`` (lme4: ``Estimate, Std. Error, t value``), then the limits.

        Examples
        --------
        >>> m.coef_table().round(3)
                     Estimate  Std. Error    df  t value  Pr(>|t|)
        (Intercept)   251.405       6.825  17.0   36.838       0.0
        Days           10.467       1.546  17.0    6.771       0.0
        >>> m.coef_table(conf_int=0.95).loc["Days", ["2.5 %", "97.5 %"]].round(2).tolist()
        [7.21, 13.73]
        """
        from ..inference.ddf import coef_table, with_interval

        return with_interval(coef_table(self, ddf), conf_int)

    def anova(self, type: int | str = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """lmerTest's ``anova(m, type, ddf)``: one F test per fixed-effect term.

        Each term gets a hypothesis matrix ``L`` (rows: contrasts of beta) and the F test of
        ``L beta = 0``, ``F = (L beta)' (L V L')^-1 (L beta) / rank(L)`` with ``V`` = :attr:`vcov`
        (Kenward-Roger: the adjusted one) and the denominator df of ``ddf``; ``Sum Sq = F NumDF
        sigma^2``. The types differ in ``L``, see :mod:`mixedmodels.inference.anova`. To compare
        two fits, use ``mm.anova(m1, m2)`` (likelihood-ratio test).

        Parameters
        ----------
        type : {1, 2, 3, "I", "II", "III"}, default 3
            Sequential (I), marginal with containment (II) or lmerTest's type III hypotheses (which
            do not depend on the factors' coding).
        ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}, default "Satterthwaite"
            The denominator df (case-insensitive, "KR" and "none" accepted); "lme4" gives lme4's
            sequential table ``npar, Sum Sq, Mean Sq, F value`` without df or p-values (``type``
            is then not used).

        Returns
        -------
        pandas.DataFrame
            An AnovaTable (prints as R prints it, with its heading): one row per term (R's term
            labels), columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``. Empty when the
            model has no term besides the intercept.

        Examples
        --------
        >>> a = m.anova()
        >>> a.columns.tolist()
        ['Sum Sq', 'Mean Sq', 'NumDF', 'DenDF', 'F value', 'Pr(>F)']
        >>> round(float(a.loc["Days", "F value"]), 3), round(float(a.loc["Days", "DenDF"]), 1)
        (45.853, 17.0)
        """
        from ..inference.ddf import normalize_ddf
        from ..inference.anova import anova_table

        return anova_table(self, type=type, ddf=normalize_ddf(ddf))

    def ranova(self) -> pd.DataFrame:
        """lmerTest's ``ranova(m)``: likelihood-ratio tests reducing each random-effects term in turn.

        Each reduced model is fitted by this fit's criterion (REML or ML) and compared with the
        full one: ``LRT = 2 (logLik_full - logLik_reduced)`` on ``Df = npar_full - npar_reduced``,
        ``Pr(>Chisq)`` from the chi-square distribution (conservative where a variance is tested at
        its bound of 0). A term ``(1 | g)`` is removed; a term with variables on its left drops each
        that marginality allows (row ``"Days in (Days | Subject)"``), and becomes ``(1 | g)`` when
        nothing would be left. Without random effects the reduced model is R's ``lm``.

        Returns
        -------
        pandas.DataFrame
            An AnovaTable: the row ``<none>`` (the full model), then one row per reduction; columns
            ``npar, logLik, AIC, LRT, Df, Pr(>Chisq)``.

        Examples
        --------
        >>> r = m.ranova()
        >>> r.index.tolist()
        ['<none>', 'Days in (Days | Subject)']
        >>> r["logLik"].round(2).tolist(), r["LRT"].round(2).tolist(), r["Df"].tolist()
        ([-871.81, -893.23], [nan, 42.84], [nan, 2.0])
        """
        from ..inference.ranova import ranova

        return ranova(self)

    def drop1(self, test: str = "F", ddf: str = "Satterthwaite") -> pd.DataFrame:
        """Tests of dropping each fixed-effect term that marginality allows (lmerTest's ``drop1``).

        Parameters
        ----------
        test : {"F", "Chisq", None}, default "F"
            ``"F"``: lmerTest's marginal F test of the term's coefficients being zero, with the df
            of ``ddf``. ``"Chisq"`` (or ``"LRT"``): lme4's ``drop1(m, test = "Chisq")``,
            likelihood-ratio tests of ML refits without each term. None: lme4's table of
            ``npar, AIC`` of those refits, no test.
        ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}, default "Satterthwaite"
            The denominator df of the F tests (case-insensitive, "KR" and "none" accepted);
            "lme4" gives lme4's ML-refit table instead (``npar, AIC``, with the tests for
            ``test="Chisq"``).

        Returns
        -------
        pandas.DataFrame
            An AnovaTable, one row per term: ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``
            for F tests; ``npar, AIC, LRT, Pr(Chi)`` (the first row ``<none>``) for
            likelihood-ratio tests.

        Examples
        --------
        >>> round(float(m.drop1().loc["Days", "F value"]), 3)
        45.853
        >>> d = m.drop1(test="Chisq")
        >>> d.index.tolist(), d["AIC"].round(2).tolist(), d["LRT"].round(2).tolist()
        (['<none>', 'Days'], [1763.94, 1785.48], [nan, 23.54])
        """
        from ..inference.ddf import normalize_ddf
        from ..inference.ranova import drop1

        return drop1(self, test=test, ddf=normalize_ddf(ddf))

    def confint(self, method: str = "profile", level: float = 0.95, parm=None, nsim: int = 500, seed=None,
                boot_type: str = "perc", n_jobs: int = 1, progress=None, **profile_options) -> pd.DataFrame:
        """Confidence intervals, as lme4's ``confint(m, method, level, oldNames = FALSE)``.

        The parameters, in lme4's order: each random-effects term's standard deviations and
        correlations (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
        ``sd_Days|Subject``), ``sigma``, then the fixed effects. Profile intervals invert the
        signed square root ``zeta`` of the ML deviance's increase (a REML fit is refitted by ML,
        as lme4 does) at ``zeta = qnorm((1 -+ level) / 2)``, see :meth:`profile`; Wald intervals
        are ``beta -+ z se``; bootstrap intervals come from :meth:`bootstrap` refits.

        Parameters
        ----------
        method : {"profile", "Wald", "boot"}, default "profile"
            Likelihood-profile intervals (lme4's default), Wald intervals of the fixed effects
            only (case-insensitive), or parametric-bootstrap intervals.
        level : float, default 0.95
            The confidence level, in (0, 1).
        parm : str, int or list, optional
            The rows, by name or 0-based position in the order above, or ``"theta_"`` (the sd's,
            correlations and sigma) or ``"beta_"`` (the fixed effects), as lme4's ``parm``;
            default all. For the profile only these parameters are profiled.
        nsim : int, default 500
            The bootstrap's refits.
        seed : int, numpy.random.Generator or None
            The bootstrap's random numbers.
        boot_type : {"perc", "basic", "norm"}, default "perc"
            The bootstrap interval (lme4's ``boot.type``).
        n_jobs : int, default 1
            Worker processes for the profile's parameters or the bootstrap's refits.
        progress : bool, optional
            The bootstrap's progress bar (None: shown in a terminal or notebook when it takes
            long).
        **profile_options
            For ``method="profile"``, :meth:`profile`'s ``alphamax``, ``maxpts``, ``delta``,
            ``delta_cutoff``, ``maxmult``; for ``method="boot"``, the bootstrap's ``re_form`` and
            ``use_u``.

        Returns
        -------
        pandas.DataFrame
            One row per parameter, columns of the lower and upper limits named as R names them
            ("2.5 %", "97.5 %" for level 0.95). Where a profile reaches a bound first (an sd at 0,
            a correlation at -+1), the bound is the limit.

        Examples
        --------
        >>> m.confint(method="Wald").round(2)
                      2.5 %  97.5 %
        (Intercept)  238.03  264.78
        Days           7.44   13.50
        >>> m.confint(parm=["sigma"]).round(2)
               2.5 %  97.5 %
        sigma   22.9   28.86
        >>> m.confint(method="boot", nsim=3, seed=1).shape
        (6, 2)
        """
        from ..inference.confint import confint

        return confint(self, method=method, level=level, parm=parm, nsim=nsim, seed=seed, boot_type=boot_type,
                       n_jobs=n_jobs, progress=progress, **profile_options)

    def profile(self, which=None, alphamax: float = 0.01, maxpts: int = 100, n_jobs: int = 1, progress=None,
                *, delta=None, delta_cutoff: float = 1 / 8, maxmult: float = 10):
        """lme4's ``profile(m, signames = FALSE)``: the ML deviance profiled over each parameter.

        For a parameter ``phi`` held at ``x``, the deviance ``d(x)`` is minimized over all the
        others (a REML fit is first refitted by ML); the table holds the signed square root
        ``zeta(x) = sign(x - phi_hat) sqrt(d(x) - d(phi_hat))``, nearly linear in ``x`` where the
        likelihood is nearly quadratic. The variance parameters are profiled on the sd/correlation
        scale; points are placed outward from the estimate in steps of about ``delta`` in zeta
        until ``|zeta|`` passes ``sqrt(qchisq(1 - alphamax, npar))`` or a bound. See
        :mod:`mixedmodels.inference.confint`.

        Parameters
        ----------
        which : str, int or list, optional
            The parameters to profile: names or 0-based positions as in :meth:`confint`, or
            ``"theta_"`` / ``"beta_"``; default all.
        alphamax : float, default 0.01
            The profile reaches the ``1 - alphamax`` chi-square cutoff on both sides.
        maxpts : int, default 100
            At most this many points per side.
        n_jobs : int, default 1
            Worker processes, one parameter each.
        progress : bool, optional
            A progress bar per parameter (None: where a terminal or notebook shows it).
        delta : float, optional
            The step in zeta; default ``delta_cutoff`` times the cutoff.
        delta_cutoff : float, default 1/8
            lme4's ``delta.cutoff``.
        maxmult : float, default 10
            lme4's ``maxmult``: the largest factor by which a step may grow.

        Returns
        -------
        ProfileTable
            A DataFrame (lme4's ``as.data.frame(profile(m))``): columns ``parameter`` (the one held
            fixed), ``value``, ``zeta``, then every parameter at that point;
            ``.confint(level, parm)`` gives the profile intervals.

        Examples
        --------
        >>> p = m.profile(which=["sigma"])
        >>> p.columns[:3].tolist(), p["parameter"].unique().tolist()
        (['parameter', 'value', 'zeta'], ['sigma'])
        >>> p.confint(0.95).round(2)
               2.5 %  97.5 %
        sigma   22.9   28.86
        """
        from ..inference.confint import profile

        return profile(self, which=which, alphamax=alphamax, maxpts=maxpts, delta=delta, delta_cutoff=delta_cutoff,
                       maxmult=maxmult, n_jobs=n_jobs, progress=progress)

    def emmeans(self, specs, by=None, pairwise: bool = False, adjust: str = "tukey",
                ddf: str | None = None, level: float = 0.95):
        """Estimated marginal means and their pairwise contrasts, as R's ``emmeans``.

        The reference grid crosses the levels of the fixed part's factors and puts each numeric
        variable at its mean; a marginal mean of ``specs`` is the equally weighted average of the
        grid's predictions ``X_g beta`` with that level, a row ``l`` of ``L`` with variance
        ``l V l'``. See :mod:`mixedmodels.inference.emmeans`.

        Parameters
        ----------
        specs : str or list of str
            The factors (or numeric variables with two values) whose means are wanted;
            ``"A:B"`` is ``["A", "B"]``, as in emmeans.
        by : str or list of str, optional
            Factors within whose levels the means (and contrasts) are formed.
        pairwise : bool, default False
            Also the pairwise differences of the means (within ``by`` groups), emmeans'
            ``pairwise ~ specs``.
        adjust : {"tukey", "none", "bonferroni", "holm", "sidak"}, default "tukey"
            The contrasts' p-value adjustment.
        ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}, optional
            The df; None: emmeans' default, :func:`mixedmodels.inference.emmeans.default_ddf`
            (up to 3000 observations Kenward-Roger for REML fits, Satterthwaite for ML fits and
            nonlinear structures; asymptotic beyond). "lme4": asymptotic (z).
        level : float, default 0.95
            The confidence level of the means' intervals.

        Returns
        -------
        EmmeansResult
            ``.emmeans``: ``<factors>, emmean, SE, df, lower.CL, upper.CL``; ``.contrasts`` (with
            ``pairwise=True``): ``contrast, <by>, estimate, SE, df, t.ratio, p.value``. With
            asymptotic df the columns are ``asymp.LCL, asymp.UCL`` and ``z.ratio``.

        Examples
        --------
        sleepstudy's fixed part has no factor, so this example fits cake's:

        >>> cake = mm.lmer("angle ~ recipe + (1 | replicate)", mm.load_dataset("cake"))
        >>> e = cake.emmeans("recipe", pairwise=True, adjust="none", ddf="Satterthwaite")
        >>> e.emmeans[["recipe", "emmean", "SE"]].round(2)
          recipe  emmean    SE
        0      A   33.12  1.71
        1      B   31.64  1.71
        2      C   31.60  1.71
        >>> e.contrasts[["contrast", "estimate"]].round(3)
          contrast  estimate
        0    A - B     1.478
        1    A - C     1.522
        2    B - C     0.044
        """
        from ..inference.emmeans import emmeans

        return emmeans(self, specs, by=by, pairwise=pairwise, adjust=adjust, ddf=ddf, level=level)

    def allfit(self, optimizers=None, control=None, progress=None) -> pd.DataFrame:
        """Refit with several optimizers and compare them, as lme4's ``allFit(m)``.

        When the optimizers agree on the criterion and the estimates, a convergence warning of
        one of them is a false alarm; when they disagree, the data determine the model poorly.

        Parameters
        ----------
        optimizers : str or list of str, optional
            Among "bobyqa", "nelder_mead", "sbplx", "cobyla", "praxis" (default: all of them).
        control : dict, optional
            Settings merged over this fit's ``control`` for every refit (``ftol_abs``,
            ``xtol_abs``, ``xtol_rel``, ``maxeval``, ``boundary_tol``); ``optimizer`` is set per row.
        progress : bool, optional
            A progress bar (None: shown in a terminal or notebook when it takes long).

        Returns
        -------
        pandas.DataFrame
            One row per optimizer: ``optimizer, objective``, the fixed effects, theta (lme4's names,
            :attr:`theta_names`), ``sigma, converged, nevals, seconds, messages``. A refit that fails
            gets NaN, ``converged=False`` and its error in ``messages``.

        Examples
        --------
        >>> a = m.allfit(optimizers=["bobyqa", "nelder_mead"])
        >>> a[["optimizer", "objective", "Days"]].round(2)
             optimizer  objective   Days
        0       bobyqa    1743.63  10.47
        1  nelder_mead    1743.63  10.47
        """
        from ..postfit.allfit import allfit

        return allfit(self, optimizers=optimizers, control=control, progress=progress)
