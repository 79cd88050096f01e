r"""Inference on a glmer fit's fixed effects and parameters: vcov, Wald z tables, intervals, tests.

:class:`GlmerInference` is a mixin of :class:`~mixedmodels.results.glmer.GlmerResult`: the
covariance of the fixed effects (``vcov``), lme4's coefficient table with Wald z tests,
``confint`` (profile, Wald, bootstrap), car's ``Anova`` Wald chi-square tests and lme4's
likelihood-ratio ``anova``/``drop1``, emmeans' marginal means, and lme4's ``profile``. The tests of
a GLMM are asymptotic: no denominator degrees of freedom (``ddf``) apply.

``vcov`` inverts the finite-difference Hessian ``H`` of the deviance over ``(theta, beta)`` when
there is one (lme4's default for nAGQ >= 1), in the scaled units it was computed in (see
:mod:`mixedmodels.optim.scales`): ``V = 2 [H^-1]_{beta beta}``; else it falls back on
``sigma^2 (R_X' R_X)^-1`` of the final penalized weighted least-squares system, with lme4's
warning.

The examples use ``gm = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
mm.load_dataset("cbpp"), family="binomial")``.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..arguments import check_level
from ..core.lmm import LmmCore
from ..distributions import norm_ppf, norm_sf
from ..errors import ArgumentError, ConvergenceWarning, warn as _warn

__all__ = ["GlmerInference", "check_glmer_ddf"]


def check_glmer_ddf(ddf) -> None:
    """Raise unless ``ddf`` is None, "lme4" or "asymptotic": a glmer fit has Wald z tests, no ddf.

    Parameters
    ----------
    ddf : str or None
        What the caller passed as ``ddf``.

    Raises
    ------
    ArgumentError
        For any other value (Satterthwaite's or Kenward-Roger's df are lmer's).

    Examples
    --------
    >>> from mixedmodels.results.glmer_inference import check_glmer_ddf
    >>> check_glmer_ddf("lme4") is None
    True
    """
    if ddf is not None and str(ddf).lower() not in ("lme4", "asymptotic"):
        raise ArgumentError(f"ddf={ddf!r} applies to lmer fits (Satterthwaite, Kenward-Roger); a glmer fit has "
                            "Wald z tests without degrees of freedom: leave ddf out")


class GlmerInference:
    """Mixin of :class:`~mixedmodels.results.glmer.GlmerResult`: vcov, coefficient table,
    intervals, tests and profiles of a glmer fit.

    The class provides ``beta``, ``theta``, ``sigma``, ``hessian``, ``hessian_scale``, ``model``
    (the GLMM's design), ``pirls`` (the converged PIRLS state) and ``fixed``.
    """

    # ------------------------------------------------------------------ final factorization
    @cached_property
    def _final(self):
        """(core, factorization) of the penalized weighted least squares at the converged mode, with X."""
        m, r = self.model, self.pirls
        w, z = m.working(r.eta, r.mu, m.offset)
        core = LmmCore(m.terms, m.X, z, weights=w)
        f = core.factor(self.theta)
        return core, f

    @cached_property
    def _vcov_rx(self) -> np.ndarray:
        if len(self.beta) == 0:
            return np.zeros((0, 0))
        core, f = self._final
        if f is None:
            return np.full((len(self.beta), len(self.beta)), np.nan)
        return self.sigma ** 2 * core.rx_inverse(f)

    @cached_property
    def _vcov_hess(self):
        H = self.hessian
        if H is None or H.shape[0] <= self.theta.size:
            return None
        # invert in the scaled units of the finite differences: in the units of the data the
        # Hessian of a predictor measured in tiny units is ill-conditioned, its scaled form is not
        s = np.ones(H.shape[0]) if self.hessian_scale is None else self.hessian_scale
        # a structure's correlation at its bound (optim.structured puts r at 1e8) is a flat direction
        # of the deviance: its row and column are left out, as the parameter is fixed there
        lay = self.model.layout
        flat = np.concatenate([~lay.is_diagonal() & (np.abs(self.theta) >= 1e6)
                               & np.repeat([st.name != "us" for st in lay.structures], lay.sizes),
                               np.zeros(len(self.beta), bool)])
        keep = ~flat
        H, s = H[np.ix_(keep, keep)], s[keep]
        try:
            Hi = np.linalg.inv(H * np.outer(s, s))
        except np.linalg.LinAlgError:
            return None
        k = int(np.sum(keep[: self.theta.size]))
        V = Hi[k:, k:]
        V = V + V.T
        if not np.all(np.isfinite(V)):
            return None
        ev = np.linalg.eigvalsh(V) if V.size else np.ones(1)
        if ev.min() <= 0:
            return None
        return V * np.outer(s[k:], s[k:])

    @cached_property
    def vcov(self) -> pd.DataFrame:
        r"""The covariance matrix of the fixed effects, lme4's ``vcov(gm)``.

        With the finite-difference Hessian ``H`` of the deviance ``-2 log L(theta, beta)`` (lme4's
        default for nAGQ >= 1, ``use.hessian = TRUE``): ``V = 2 [H^-1]_{beta beta}``, the beta block
        of the inverse over ``(theta, beta)``, which accounts for the uncertainty of theta.
        Otherwise (nAGQ = 0, or a Hessian that is not positive definite, with lme4's warning):
        ``sigma^2 (R_X' R_X)^-1`` from the penalized weighted least-squares system at the
        converged mode, theta held fixed.

        Examples
        --------
        >>> gm.vcov.round(4).loc["period2"].tolist()
        [-0.0254, 0.0919, 0.0274, 0.0273]
        """
        names = list(self.fixed.names)
        V = self._vcov_hess
        if V is None:
            if self.hessian is not None and self.hessian.shape[0] > self.theta.size:
                _warn("variance-covariance matrix computed from finite-difference Hessian is not positive "
                      "definite or contains NA values: falling back to var-cov estimated from RX",
                      ConvergenceWarning, stacklevel=2)
            V = self._vcov_rx
        return pd.DataFrame(V, index=names, columns=names)

    # ------------------------------------------------------------------ tables and intervals
    def coef_table(self, ddf: str | None = None, conf_int: float | None = None) -> pd.DataFrame:
        """The fixed effects with Wald z tests, as the coefficient table of lme4's ``summary(gm)``.

        ``z value = Estimate / Std. Error`` with the standard errors of :attr:`vcov`, and
        ``Pr(>|z|) = 2 P(Z > |z|)`` from the standard normal.

        Parameters
        ----------
        ddf : str, optional
            Accepted for symmetry with lmer fits: only None, "lme4" or "asymptotic" (which all mean
            the z tests) are valid, since a GLMM's tests have no denominator degrees of freedom;
            anything else raises an ArgumentError.
        conf_int : float, optional
            A confidence level such as 0.95: adds the Wald limits ``Estimate -+ z_q Std. Error``
            (columns "2.5 %", "97.5 %", as ``confint(gm, method = "Wald")``).

        Returns
        -------
        pandas.DataFrame
            One row per fixed effect: ``Estimate, Std. Error, z value, Pr(>|z|)`` (and the limits).

        Examples
        --------
        >>> gm.coef_table().round(3).loc["period2"].tolist()
        [-0.992, 0.303, -3.272, 0.001]
        >>> list(gm.coef_table(conf_int=0.9).columns[-2:])
        ['5 %', '95 %']
        """
        if conf_int is not None:
            from ..inference.ddf import with_interval

            return with_interval(self.coef_table(ddf), conf_int)
        check_glmer_ddf(ddf)
        est = np.asarray(self.beta, dtype=float)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        p = 2.0 * norm_sf(np.abs(z))
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": z, "Pr(>|z|)": p},
                            index=list(self.fixed.names))

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500, seed=None,
                boot_type: str = "perc", n_jobs: int = 1, progress=None) -> pd.DataFrame:
        """Confidence intervals, as lme4's ``confint(gm, method = , oldNames = FALSE)``.

        Parameters
        ----------
        method : {"profile", "Wald", "boot"}, default "profile"
            "profile" (lme4's default): likelihood-profile intervals of the sd's, correlations and
            fixed effects, where the deviance rises by the chi-square(1) quantile (see
            :meth:`profile`; families without a scale parameter only: binomial, Poisson, negative
            binomial). "Wald": ``Estimate -+ z_q Std. Error`` for the fixed effects (lme4's NA rows
            of the variance parameters are left out). "boot": parametric-bootstrap intervals of the
            sd's and correlations, then the fixed effects (lme4's ``bootMer`` refits). The case is
            ignored.
        level : float, default 0.95
            The confidence level, in (0, 1).
        nsim : int, default 500
            "boot": the number of simulated responses refitted.
        seed : int, optional
            "boot": the random seed of the simulations.
        boot_type : {"perc", "basic", "norm"}, default "perc"
            "boot": the interval type (R's ``boot.ci`` types).
        n_jobs : int, default 1
            "boot": worker processes for the refits.
        progress : bool, optional
            "profile" and "boot": a progress bar (None: shown in a terminal or notebook when the
            work is long).

        Returns
        -------
        pandas.DataFrame
            One row per parameter (``sd_<term>|<group>``, ``cor_...``, then the fixed effects; the
            fixed effects only for "Wald"), columns named by the level ("2.5 %", "97.5 %").

        Examples
        --------
        >>> gm.confint(method="Wald").round(3).loc["period2"].tolist()
        [-1.586, -0.398]
        >>> gm.confint(method="boot", nsim=3, seed=1).shape
        (5, 2)
        """
        key = str(method).lower()
        if key not in ("wald", "boot", "profile"):
            raise ArgumentError(f"unknown method {method!r} for a glmer fit; use 'Wald', 'profile' or 'boot'")
        level = check_level(level)
        if key == "profile":
            return self.profile(progress=progress).confint(float(level))
        if key == "boot":
            from ..inference.confint import confint

            return confint(self, method="boot", level=level, nsim=nsim, seed=seed, boot_type=boot_type,
                           n_jobs=n_jobs, progress=progress)
        a = (1.0 - float(level)) / 2.0
        q = norm_ppf([a, 1.0 - a])
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        est = np.asarray(self.beta, dtype=float)
        from ..rformat import percent_labels

        lo, hi = percent_labels(float(level))
        return pd.DataFrame({lo: est + se * q[0], hi: est + se * q[1]}, index=list(self.fixed.names))

    def profile(self, which=None, alphamax: float = 0.01, maxpts: int = 100, delta=None,
                delta_cutoff: float = 1 / 8, maxmult: float = 10, progress=None):
        r"""The deviance profiled over each parameter, as lme4's ``profile(gm)``.

        Each parameter in turn is held at a value ``x`` while all the others, the fixed effects
        included, are optimized, with the fit's own deviance (Laplace or AGQ); the profile is
        ``zeta(x) = sign(x - x_hat) sqrt(d(x) - d(x_hat))``, on the scale of the sd's and
        correlations of the random effects. Families without a scale parameter (binomial,
        Poisson, negative binomial) and fits with nAGQ >= 1.

        Parameters
        ----------
        which : str, int or list, optional
            The parameters to profile: names (``"sd_(Intercept)|herd"``, ``"period2"``), 0-based
            positions, or ``"theta_"`` (the variance parameters) / ``"beta_"`` (the fixed effects);
            default all of them.
        alphamax : float, default 0.01
            The profile goes out to the ``1 - alphamax`` chi-square cutoff on both sides.
        maxpts : int, default 100
            At most this many points per side.
        delta : float, optional
            The step in zeta between points; default ``delta_cutoff`` times the cutoff.
        delta_cutoff : float, default 1/8
            The step as a fraction of the cutoff, when ``delta`` is not given.
        maxmult : float, default 10
            The largest step, as a multiple of the previous one (lme4's ``maxmult``).
        progress : bool, optional
            A progress bar over the parameters (None: where the work is long and a terminal or
            notebook shows it).

        Returns
        -------
        ProfileTable
            A DataFrame, lme4's ``as.data.frame(profile)``: ``parameter``, ``value``, ``zeta`` and
            every parameter at each point; ``.confint(level)`` gives the profile intervals.

        Examples
        --------
        >>> pr = gm.profile(which="theta_")
        >>> pr.confint(0.95).round(2)
                             2.5 %  97.5 %
        sd_(Intercept)|herd   0.35     1.1
        """
        from ..inference.glmm_profile import glmer_profile

        return glmer_profile(self, which=which, alphamax=alphamax, maxpts=maxpts, delta=delta,
                             delta_cutoff=delta_cutoff, maxmult=maxmult, progress=progress)

    # ------------------------------------------------------------------ tests
    def anova(self, *others, type: int | str = 3, **named):
        r"""Tests of the fixed effects: Wald chi-square per term, or likelihood-ratio tests of models.

        Alone, car's ``Anova(gm, type = 3)`` (the usual table for a GLMM; lme4 has no denominator
        df): ``Chisq = (L beta)' (L V L')^-1 (L beta)`` for each term's hypothesis matrix ``L``,
        with ``V`` = :attr:`vcov`, on ``rank(L)`` degrees of freedom.

        Parameters
        ----------
        *others, **named : fitted models, optional
            With other models, lme4's ``anova(gm, gm0, ...)``: likelihood-ratio tests between the
            nested fits (:func:`mixedmodels.anova`; rows labelled ``MODEL1``... by position, or by
            keyword).
        type : {1, 2, 3}, default 3
            Without other models, the type of the hypotheses of the Wald chi-square table.

        Returns
        -------
        AnovaTable
            Wald: ``Chisq, Df, Pr(>Chisq)`` per term (the intercept first for type 3). LRT:
            ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)`` per model, the smallest
            first.

        Examples
        --------
        >>> round(float(gm.anova().loc["period", "Chisq"]), 2)
        25.49
        >>> gm0 = mm.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
        ...                mm.load_dataset("cbpp"), family="binomial")
        >>> round(float(gm.anova(gm0).loc["MODEL1", "Chisq"]), 2)
        25.61
        """
        if others or named:
            from ..inference.lrt import anova

            return anova(self, *others, **named)
        from ..inference.anova import wald_chisq_table

        return wald_chisq_table(self, type=type)

    def drop1(self, test: str | None = None):
        """lme4's ``drop1(gm)``: refits without each marginal fixed-effect term.

        The refits keep the family, nAGQ and control of the fit. ``AIC = -2 logLik + 2 npar`` of
        each; the likelihood-ratio statistic is ``LRT = 2 (logLik_full - logLik_dropped)``.

        Parameters
        ----------
        test : {None, "Chisq"}, default None
            None: ``npar`` (the parameters dropped) and ``AIC`` per term, as lme4's default;
            ``"Chisq"`` (or ``"LRT"``): also the likelihood-ratio test, ``LRT`` and ``Pr(Chi)``.
            A GLMM has no F test.

        Returns
        -------
        AnovaTable
            One row for the full model (``<none>``) and one per term, printed as R prints it.

        Examples
        --------
        >>> round(float(gm.drop1(test="Chisq").loc["period", "LRT"]), 2)
        25.61
        """
        from ..inference.ranova import glmer_drop1

        return glmer_drop1(self, test=test)

    def emmeans(self, specs, by=None, pairwise: bool = False, adjust: str = "tukey", level: float = 0.95,
                type: str = "link"):
        """Estimated marginal means (and pairwise contrasts), as R's ``emmeans(gm, ...)``.

        The means of the reference grid (every combination of the factors' levels, numeric
        variables at their means) are ``L beta`` with ``SE = sqrt(diag(L V L'))``, V = :attr:`vcov`;
        a glmer fit's intervals and tests are asymptotic (``asymp.LCL``, ``asymp.UCL``,
        ``z.ratio``).

        Parameters
        ----------
        specs : str or list of str
            The factors whose means are wanted (``"A:B"`` means ``"A + B"``, as in emmeans).
        by : str or list of str, optional
            Factors within whose levels the means (and contrasts) are formed.
        pairwise : bool, default False
            Also the pairwise contrasts of the means.
        adjust : str, default "tukey"
            The p-value adjustment of the contrasts ("tukey", "sidak", "bonferroni", "holm", "none").
        level : float, default 0.95
            The confidence level of the intervals.
        type : {"link", "response"}, default "link"
            The link scale (emmeans' default), or back-transformed through the inverse link:
            probabilities or rates, with delta-method SE; contrasts of a log or logit link become
            ratios (``odds.ratio`` for logit).

        Returns
        -------
        EmmeansResult
            ``.emmeans``: a DataFrame of the factors' levels with ``emmean`` (``prob`` or ``rate``
            on the response scale), ``SE, df, asymp.LCL, asymp.UCL``; ``.contrasts`` with
            ``pairwise=True``.

        Examples
        --------
        >>> em = gm.emmeans("period", type="response")
        >>> em.emmeans["prob"].round(3).tolist()
        [0.198, 0.084, 0.074, 0.048]
        """
        from ..inference.emmeans import emmeans, to_response_scale

        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        res = emmeans(self, specs, by=by, pairwise=pairwise, adjust=adjust, level=level)
        return to_response_scale(res, self.family) if type == "response" else res
