r"""GlmerResult: the frozen outcome of a generalized linear mixed model fit (lme4's ``glmerMod``).

What the fit found (theta, beta, the final PIRLS state, the optimizer's report, the Hessian over
``(theta, beta)``, lme4's convergence messages) is set when the result is built, by
:mod:`mixedmodels.fit.glmer`, and never changed; the derived values (sigma, vcov, the random
effects, residuals) are computed on demand. The inference, diagnostics and printouts live in their
concept modules, which the methods call with one-line lazy imports, as :class:`LmerResult`'s do.

The members are grouped by concept: this module holds the fields, the fit's summary statistics,
the random effects' covariance and the printout; :mod:`mixedmodels.results.glmer_inference` the
covariance of the fixed effects, tests, intervals and profiles (:class:`GlmerInference`);
:mod:`mixedmodels.results.glmer_residuals` the fitted values, residuals, predictions and hat values
(:class:`GlmerResiduals`); :mod:`~mixedmodels.results.common` and
:mod:`~mixedmodels.results.random_effects` what lmer and glmer fits share.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from . import random_effects
from .common import ModelFace
from .criteria import InformationCriteria
from .glmer_inference import GlmerInference, check_glmer_ddf
from .glmer_residuals import GlmerResiduals
from ..design.frame import check_new_response
from ..errors import ArgumentError
from ..glmm import families as _families
from ..glmm.pirls import GlmmModel, PirlsResult
from ..optim.nlopt import OptInfo

__all__ = ["GlmerResult"]


@dataclass(frozen=True, eq=False)
class GlmerResult(GlmerInference, GlmerResiduals, InformationCriteria, random_effects.RandomEffectsFace,
                  ModelFace):
    r"""A fitted generalized linear mixed model (lme4's ``glmerMod``), as ``mm.glmer()`` returns it.

    The model: ``g(E[y | b]) = eta = offset + X beta + Z b`` with ``b = Lambda(theta) u``,
    ``u ~ N(0, I)`` (``Cov(b) = Lambda Lambda'``, no residual scale in it), and ``y | b`` from the
    family. For a given ``(theta, beta)`` PIRLS (penalized iteratively reweighted least squares)
    finds the conditional mode ``u~``, and the fit minimizes lme4's deviance ``-2 log L``: the
    Laplace approximation (nAGQ = 1)

        ``-2 log L ~ sum_i d_i(y_i, mu_i) + ||u~||^2 + log |L|^2``,

    with ``d_i`` the family's deviance residuals and ``L`` the Cholesky factor of
    ``Lambda' Z' W Z Lambda + I`` at the working weights ``W``; or adaptive Gauss-Hermite
    quadrature with nAGQ > 1 points (one scalar random-effect term); nAGQ = 0 optimizes theta
    with beta inside PIRLS. The result is frozen: a refit gives a new one.

    The members come from this class and its mixins: vcov, tests, intervals and profiles from
    :class:`~mixedmodels.results.glmer_inference.GlmerInference`, fitted values, residuals,
    predictions and hat values from :class:`~mixedmodels.results.glmer_residuals.GlmerResiduals`,
    ``aic``/``bic`` from :class:`~mixedmodels.results.criteria.InformationCriteria`, the random
    effects from :class:`~mixedmodels.results.random_effects.RandomEffectsFace` and the tidy
    tables, checks, simulation, saving and plots from :class:`~mixedmodels.results.common.ModelFace`.

    Attributes
    ----------
    formula : str
        The model formula, as given.
    family : Family
        The response's family and link (``family.label``, ``family.link``; lme4's ``family(gm)``).
    nagq : int
        lme4's nAGQ: 0, 1 (Laplace) or the number of adaptive Gauss-Hermite points.
    data_name : str
        What the summary's "Data:" line calls the data.
    parsed : ParsedFormula
        The parsed formula (response, fixed part, random-effect terms).
    frame : ModelFrame
        The model frame: the rows used (``frame.data``, with the data's index), response, weights.
    fixed : FixedDesign
        The fixed-effects design: ``X``, the column ``names``, the columns dropped for rank
        deficiency.
    terms : list of ReTerm
        The random-effect terms in lme4's order (grouping factor, columns ``z``, level codes).
    model : GlmmModel
        The GLMM's data as PIRLS sees it: family, ``y`` (proportions for ``cbind``), prior weights
        ``pw``, offset, ``X``, the theta layout.
    theta : numpy.ndarray
        The estimated relative covariance parameters (lme4's ``getME(gm, "theta")``): the
        lower-triangular entries of each term's ``T_k``, ``Lambda = blockdiag(I (x) T_k)``.
    beta : numpy.ndarray
        The estimated fixed effects (lme4's ``fixef(gm)``, unnamed; :attr:`fixef` names them).
    objective : float
        The deviance ``-2 log L`` at the estimate (Laplace or AGQ): ``-2 logLik(gm)``.
    pirls : PirlsResult
        The converged PIRLS state: ``u``, ``eta``, ``mu``, the squared deviance residuals
        ``devres``, the penalized deviance ``pdev``.
    optinfo : OptInfo
        The stage-2 optimizer's report (``optimizer``, ``nevals``, ``code``, ``message``,
        ``converged``).
    hessian, gradient : numpy.ndarray or None
        The finite-difference Hessian and gradient of the deviance over ``(theta, beta)`` at the
        estimate (lme4's ``optinfo$derivs``; in the units of :attr:`hessian_scale`), None without
        them (nAGQ = 0, or lme4's ``calc.derivs = FALSE``).
    control : dict or None
        The control options of the fit (optimizers, tolerances, checks).
    weights_name : str or None
        What the prior weights were called (the summary's "Weights:" line); None without weights.
    setup : GlmerSetup
        The data of the fit independent of the family (response as given, weights, offset,
        design): what :meth:`refit` and :meth:`drop1` fit again.
    messages : list of str
        lme4's convergence messages of the fit (its ``checkConv``), set when the result is built.
    lp0 : numpy.ndarray or None
        The linear predictor that stage 2's deviance function starts every PIRLS from (what
        :meth:`profile` evaluates the same deviance with).
    nb_theta : float or None
        ``glmer_nb``'s estimate of the negative binomial's theta; None for other fits.
    hessian_scale : numpy.ndarray or None
        The scales of ``(theta, beta)`` in which :attr:`hessian` was computed: :attr:`vcov`
        inverts it in those units (see :mod:`mixedmodels.optim.scales`).
    fitter : callable
        The fit stage's ``fit_setup(setup, family, nagq, control, start=, warn=, stacklevel=)``:
        how :meth:`refit` and the null model of :meth:`icc`/:meth:`r2` fit this model again (held,
        not imported: fit/ sits above results/).
    reml : bool
        False: a GLMM is fitted by maximum likelihood.
    reml_criterion : None
        None: there is no REML criterion.

    Examples
    --------
    The members' examples use this fit, ``gm`` (and ``mm``, the package)::

        import mixedmodels as mm
        gm = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                      mm.load_dataset("cbpp"), family="binomial")

    >>> gm
    <GlmerResult 'cbind(incidence, size - incidence) ~ period + (1 | herd)': binomial(logit), logLik -92.0266, nobs=56>
    """

    formula: str
    family: object
    nagq: int
    data_name: str
    parsed: object = field(repr=False)
    frame: object = field(repr=False)
    fixed: object = field(repr=False)
    terms: list = field(repr=False)
    model: GlmmModel = field(repr=False)
    theta: np.ndarray = field(repr=False)
    beta: np.ndarray = field(repr=False)
    objective: float = field(repr=False)
    pirls: PirlsResult = field(repr=False)
    optinfo: OptInfo = field(repr=False)
    hessian: np.ndarray | None = field(default=None, repr=False)
    gradient: np.ndarray | None = field(default=None, repr=False)
    control: dict | None = field(default=None, repr=False)
    weights_name: str | None = field(default=None, repr=False)
    setup: object = field(default=None, repr=False)
    messages: list = field(default_factory=list, repr=False)  # lme4's convergence messages, set when built
    lp0: np.ndarray | None = field(default=None, repr=False)  # stage 2's start: its deviance function
    nb_theta: float | None = field(default=None, repr=False)  # glmer_nb's estimate of theta
    # scales of (theta, beta) in which the Hessian was computed: vcov inverts it in those units
    hessian_scale: np.ndarray | None = field(default=None, repr=False)
    # the fit stage's fit_setup(setup, family, nagq, control, start=, warn=, stacklevel=): how refit()
    # and the null model of icc()/r2() fit this model again. Held, not imported: fit/ builds results
    # and sits above them, so results/ importing it back would close a circle.
    fitter: object = field(default=None, repr=False)

    reml = False
    reml_criterion = None

    # ------------------------------------------------------------------ basics
    @property
    def nobs(self) -> int:
        """The number of observations: rows of the model frame (lme4's ``nobs(gm)``).

        Examples
        --------
        >>> gm.nobs
        56
        """
        return int(self.model.n)

    @cached_property
    def fixef(self) -> pd.Series:
        """The fixed effects ``beta``, named by the columns of X (lme4's ``fixef(gm)``).

        Examples
        --------
        >>> gm.fixef.round(3).to_dict()
        {'(Intercept)': -1.398, 'period2': -0.992, 'period3': -1.128, 'period4': -1.58}
        """
        return pd.Series(np.asarray(self.beta, dtype=float), index=list(self.fixed.names), name="Estimate")

    @property
    def has_scale(self) -> bool:
        """Whether the family has a dispersion parameter (Gamma, inverse Gaussian, Gaussian); not
        binomial, Poisson or negative binomial.

        Examples
        --------
        >>> gm.has_scale
        False
        """
        return bool(self.family.has_scale)

    @cached_property
    def sigma(self) -> float:
        r"""The residual scale, lme4's ``sigma(gm)``: 1 for binomial, Poisson and negative binomial
        families; else ``sqrt((sum_i w_i (y_i - mu_i)^2 / V(mu_i) + ||u||^2) / n)``, the Pearson
        chi-square and the penalty over the observations.

        Examples
        --------
        >>> gm.sigma
        1.0
        """
        if not self.has_scale:
            return 1.0
        return math.sqrt((self._pearson_chisq() + self.pirls.sqr_u) / self.model.n)

    def _pearson_chisq(self) -> float:
        """``sum_i w_i (y_i - mu_i)^2 / V(mu_i)`` at the mode (a Dask fit sums it on the cluster)."""
        m, r = self.model, self.pirls
        return float(np.sum(m.pw * (m.y - r.mu) ** 2 / self.family.variance(r.mu)))

    @property
    def npar(self) -> int:
        """The number of parameters, R's ``attr(logLik(gm), "df")``: the fixed effects and theta,
        plus a scale for a family with one, plus the negative binomial's theta.

        Examples
        --------
        >>> gm.npar
        5
        """
        k = len(self.beta) + self.theta.size + int(self.has_scale)
        if isinstance(self.family, _families.NegativeBinomial):
            k += 1
        return k

    @property
    def loglik(self) -> float:
        """lme4's ``logLik(gm)``: minus half the final deviance :attr:`objective` (Laplace or AGQ).

        Examples
        --------
        >>> round(gm.loglik, 3)
        -92.027
        """
        return -self.objective / 2.0

    @cached_property
    def deviance(self) -> float:
        """lme4's ``deviance(gm)`` of a GLMM: the sum of the squared deviance residuals
        ``sum_i d_i`` at the conditional modes (not ``-2 logLik``, which the summary prints as
        "deviance").

        Examples
        --------
        >>> round(gm.deviance, 3)
        73.474
        """
        return float(np.sum(self.pirls.devres))

    @property
    def df_resid(self) -> int:
        """The residual degrees of freedom, ``nobs - npar`` (lme4's ``df.residual(gm)``).

        Examples
        --------
        >>> gm.df_resid
        51
        """
        return self.nobs - self.npar

    @cached_property
    def is_singular(self) -> bool:
        """lme4's ``isSingular(gm)``: a diagonal element of Lambda below 1e-4 (for a structured term
        also where its correlation reaches a bound).

        Examples
        --------
        >>> gm.is_singular
        False
        """
        return bool(np.any(self.model.layout.template_diagonals(self.theta) < 1e-4))

    def refit(self, REML: bool | None = None, y=None, **kwargs) -> "GlmerResult":
        """The same model fitted to a new response, lme4's ``refit(gm, newresp)``.

        The fit starts from the fitted theta, as lme4's refit does, with the same family, nAGQ and
        control.

        Parameters
        ----------
        REML : bool, optional
            Only None or False: a GLMM is fitted by maximum likelihood (True raises an
            ArgumentError).
        y : array_like, optional
            The new response, one value per row of the model frame, on the scale of
            :meth:`simulate`: proportions of successes for a binomial ``cbind`` response (turned
            back into counts of the same trials). None: the fit itself is returned.
        **kwargs
            None accepted: any other keyword (such as lmer's ``control=``) raises an
            ArgumentError.

        Returns
        -------
        GlmerResult
            The new fit (or this one, without ``y``).

        Examples
        --------
        >>> round(gm.refit(y=gm.y).loglik, 3)
        -92.027
        """
        if REML:
            raise ArgumentError("a GLMM has no REML criterion; glmer fits are maximum likelihood")
        if kwargs:
            raise ArgumentError(f"refit() of a GLMM takes REML=False and y=, got {sorted(kwargs)}")
        if y is None:
            return self
        y = check_new_response(y, self.nobs)
        setup, raw = self.setup, y
        if setup.response_kind == "cbind":  # proportions back to counts of the trials
            trials = setup.y_raw.sum(axis=1)
            succ = np.round(y * trials)
            raw = np.column_stack([succ, trials - succ])
        new = replace(setup, y_raw=raw, response_kind="cbind" if raw.ndim == 2 else "numeric")
        # from the fitted theta, as lme4's refit starts from the fit's parameters; stacklevel 6: one
        # frame more than glmer()'s, so that warnings point at the caller of m.refit
        return self.fitter(new, self.family, self.nagq, self.control, start={"theta": self.theta}, stacklevel=6)

    @cached_property
    def convergence(self):
        """lme4's convergence part of ``gm@optinfo``: the stage-2 optimizer's name and code, lme4's
        checkConv messages, and the finite-difference gradient and Hessian over ``(theta, beta)``
        (in the units they were taken in; the checks use the gradient scaled by the Hessian, which
        does not depend on them).

        The record is the same as an lmer fit's ``m.convergence``: ``optimizer``, ``code``,
        ``message``, ``messages``, ``warnings``, ``gradient``, ``hessian``
        (:class:`~mixedmodels.optim.convergence.LmerConvergence`).

        Examples
        --------
        >>> gm.convergence.optimizer, gm.convergence.messages
        ('bobyqa', [])
        """
        from ..optim.convergence import LmerConvergence

        info = self.optinfo
        return LmerConvergence(optimizer=str(getattr(info, "optimizer", "")), code=int(getattr(info, "code", 0)),
                               message=str(getattr(info, "message", "")), messages=list(self.messages),
                               gradient=self.gradient, hessian=self.hessian)

    # ------------------------------------------------------------------ random effects
    @cached_property
    def _b(self) -> list[np.ndarray]:
        return self.model.b_list(self.theta, self.pirls.u)

    @cached_property
    def _T(self) -> list[np.ndarray]:
        return self.model.layout.templates(self.theta)

    @cached_property
    def _b_condvar(self) -> list[np.ndarray]:
        core, f = self._final
        blocks = core.cond_var_u(f)
        s2 = self.sigma ** 2
        return [s2 * (T @ B @ T.T) for B, T in zip(blocks, self._T)]

    @property
    def templates(self) -> list[np.ndarray]:
        """The relative covariance factors at theta-hat, one lower-triangular (p_k x p_k) ``T_k`` per
        term: ``Lambda = blockdiag(I_levels (x) T_k)``, ``Cov(b_k) = T_k T_k'`` per level (times
        sigma^2 for a family with a scale).

        Examples
        --------
        >>> [t.round(3).tolist() for t in gm.templates]
        [[[0.642]]]
        """
        return self._T

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """The variances and covariances of the random effects, R's ``as.data.frame(VarCorr(gm))``.

        Columns ``grp, var1, var2, vcov, sdcor``: each term's variances (``sdcor`` the sd), then its
        covariances (``sdcor`` the correlation); a ``Residual`` row only for a family with a scale.

        Examples
        --------
        >>> gm.varcorr.round(3)
            grp         var1 var2   vcov  sdcor
        0  herd  (Intercept)       0.412  0.642
        """
        return random_effects.varcorr_frame(self.terms, self._T, self.sigma, residual=self.has_scale)

    # ------------------------------------------------------------------ printing
    def summary(self, correlation: bool | None = None, ddf: str | None = None):
        """lme4's ``print(summary(gm))`` for a glmerMod: family, fit criteria, scaled Pearson
        residuals, random effects, the Wald z table of the fixed effects, their correlations.

        Parameters
        ----------
        correlation : bool, optional
            Print the fixed effects' correlations; None: lme4's rule, when there are at most 12
            fixed effects.
        ddf : str, optional
            Only None, "lme4" or "asymptotic", as for :meth:`coef_table`: a GLMM's tests are z tests.

        Returns
        -------
        TextSummary
            A str, printed as R prints it; ``.data`` holds the numbers
            (:class:`~mixedmodels.report.summary.GlmerSummary`).

        Examples
        --------
        >>> s = gm.summary()
        >>> print(s.splitlines()[2])
         Family: binomial  ( logit )
        >>> round(s.data.aic, 2)
        194.05
        """
        check_glmer_ddf(ddf)
        from ..report.summary import glmer_summary

        return glmer_summary(self, correlation)

    def __repr__(self) -> str:
        return (f"<GlmerResult {self.formula!r}: {self.family.label}({self.family.link}), "
                f"logLik {self.loglik:.4f}, nobs={self.nobs}>")
