"""LmerResult: the frozen outcome of a linear mixed model fit; derived values on demand.

This module holds the fit's data, its estimates and criteria (lme4's ``fixef``, ``sigma``,
``VarCorr``, ``logLik``, ``getME``), the convergence checks, refits and the summary. The tests and
intervals are in :mod:`mixedmodels.results.lmer_inference`, predictions and case diagnostics in
:mod:`mixedmodels.results.lmer_diagnostics` (mixins that :class:`LmerResult` inherits), the
optimizer's report (:class:`OptReport`) in :mod:`mixedmodels.results.lmer_optinfo`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import random_effects
from .common import ModelFace
from .criteria import InformationCriteria
from .lmer_diagnostics import LmerDiagnostics
from .lmer_inference import LmerInference
from .lmer_optinfo import OptReport
from ..optim.convergence import lmer_convergence

__all__ = ["LmerResult", "OptReport", "theta_names"]  # OptReport: from lmer_optinfo, kept importable here


def theta_names(terms) -> list[str]:
    """lme4's names of theta: "Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"."""
    out = []
    for t in terms:
        for j in range(t.p):
            for i in range(j, t.p):
                out.append(f"{t.group}.{t.cnames[i]}" if i == j else f"{t.group}.{t.cnames[i]}.{t.cnames[j]}")
    return out


@dataclass(frozen=True, eq=False)
class LmerResult(LmerInference, LmerDiagnostics, InformationCriteria, random_effects.RandomEffectsFace,
                 ModelFace):
    r"""A fitted linear mixed model: lme4's ``lmerMod`` with lmerTest's inference.

    ``mm.lmer(formula, data)`` returns it; it is frozen, and what is derived from the estimate
    (``sigma``, ``vcov``, the conditional modes, Satterthwaite's ingredients) is computed on first
    use and kept. In lme4's notation (Bates et al. 2015) the model is
    ``y = X beta + Z b + e``, ``b = Lambda_theta u``, ``u ~ N(0, sigma^2 I)``,
    ``e ~ N(0, sigma^2 W^-1)``; the fit minimizes the profiled REML criterion (or the ML
    deviance) over theta, with the blocked Cholesky factor ``L_theta`` of
    ``Lambda' Z' W Z Lambda + I`` (bordered by X), and gives beta, u and sigma in closed form.

    The members come from this class and its mixins: the tests and intervals from
    :class:`~mixedmodels.results.lmer_inference.LmerInference`, predictions and case diagnostics
    from :class:`~mixedmodels.results.lmer_diagnostics.LmerDiagnostics`, ``aic``/``bic`` from
    :class:`~mixedmodels.results.criteria.InformationCriteria`, the random effects from
    :class:`~mixedmodels.results.random_effects.RandomEffectsFace` and the tidy tables, checks,
    simulation, saving and plots from :class:`~mixedmodels.results.common.ModelFace`.

    The members' examples use one fit::

        m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))

    Attributes
    ----------
    formula : str
        The model formula as written (lme4's ``formula(m)``).
    reml : bool
        Whether the fit is by REML (lme4's ``isREML(m)``) or maximum likelihood.
    data_name : str
        The data's name, printed after "Data:" in the summary.
    parsed : ParsedFormula
        The parsed formula: response, fixed part and random-effects terms
        (:mod:`mixedmodels.formula.parse`).
    frame : ModelFrame
        The rows used (missing values dropped), with the response ``y``, ``weights`` and
        ``offset`` (:mod:`mixedmodels.design.frame`).
    fixed : FixedDesign
        The fixed-effects model matrix ``X`` (lme4's ``getME(m, "X")``) and its column ``names``
        (``all_names`` before dropping aliased columns).
    terms : list of ReTerm
        The random-effects terms in lme4's order (by decreasing number of levels), each with its grouping
        factor's ``codes``, model rows ``z`` (``Z`` in blocks), ``cnames`` and size ``p``.
    core : LmmCore
        The fit's numerical core: the crossproducts of ``[Z X y]`` and the criterion as a
        function of theta (:mod:`mixedmodels.core.lmm`).
    theta : numpy.ndarray
        The estimate of theta, lme4's ``getME(m, "theta")``: the lower triangles of the relative
        covariance factors ``T_k``, column by column (names: :attr:`theta_names`).
    optimizer_report : OptInfo
        The optimizer's own report (:class:`mixedmodels.optim.nlopt.OptInfo`); :attr:`optinfo`
        reads it.
    control : dict or None
        The optimizer settings of the fit (None: the defaults), reused by :meth:`refit`.
    weights_name : str or None
        What the prior weights were called, for the summary's "Weights:" line (None: unweighted).
    fitter : callable
        The fit stage's ``fit_core(m, REML=, y=, control=)``, by which :meth:`refit` fits the
        model again (held, so that results/ does not import fit/, which sits above it).
    """

    formula: str
    reml: bool
    data_name: str
    parsed: object = field(repr=False)
    frame: object = field(repr=False)        # design.ModelFrame
    fixed: object = field(repr=False)        # design.FixedDesign
    terms: list = field(repr=False)          # design.ReTerm, lme4's order
    core: object = field(repr=False)         # core.LmmCore
    theta: np.ndarray = field(repr=False)
    optimizer_report: object = field(repr=False)  # the optimizer's own report (optim.nlopt.OptInfo)
    control: dict | None = field(default=None, repr=False)
    # what the weights were called (a column, a Series' name), for the summary's "Weights:" line
    weights_name: str | None = field(default=None, repr=False)
    # the fit stage's fit_core(m, REML=, y=, control=): how refit() fits this model again. Held, not
    # imported: fit/ builds results and sits above them, so results/ importing it back would close a circle.
    fitter: object = field(default=None, repr=False)

    @cached_property
    def optinfo(self) -> OptReport:
        """The optimizer's report, lme4's ``m@optinfo``: optimizer, evaluations, return code, message.

        ``converged`` is what the optimizer said (NLopt's return code); ``gradient`` gives the
        criterion's finite-difference gradient at theta, as lme4's convergence check computes it.

        Examples
        --------
        >>> m.optinfo.optimizer, m.optinfo.converged
        ('bobyqa', True)
        >>> bool(abs(m.optinfo.gradient).max() < 2e-3)
        True
        """
        return OptReport.of_fit(self.optimizer_report, self.core, self.reml, self.theta)

    @cached_property
    def convergence(self):
        """lme4's convergence checks at the estimate, ``m@optinfo$conv$lme4``.

        The scaled gradient and the Hessian of the criterion in theta (skipped for a singular
        fit); its ``messages`` are lme4's warnings ("Model failed to converge with max|grad| ...",
        "Model is nearly unidentifiable ..."), empty when the checks pass. See
        :func:`mixedmodels.optim.convergence.lmer_convergence`; computed once, on first use.

        Examples
        --------
        >>> m.convergence.messages
        []
        """
        return lmer_convergence(self)

    @property
    def converged(self) -> bool:
        """Whether the optimizer reported success (see :attr:`optinfo` for its report, ``check()`` for more).

        Examples
        --------
        >>> m.converged
        True
        """
        return bool(self.optinfo.converged)

    # ------------------------------------------------------------------ basics
    @cached_property
    def _factor(self):
        return self.core.factor(self.theta)

    @cached_property
    def _solution(self):
        return self.core.solve(self._factor)

    # ------------------------------------------------------------------ public read-only views
    @property
    def factor(self):
        r"""The blocked Cholesky factor L at theta-hat, lme4's ``getME(m, "L")`` with ``R_ZX`` and ``R_X``.

        A :class:`~mixedmodels.core.factor.Factorization`:
        ``L L' = Lambda'Z'WZ Lambda + I`` bordered by X, read through its public face (``T``,
        ``r2`` the penalized residual sum of squares, ``ldL2 = log|L_theta|^2``,
        ``ldRX2 = log|R_X|^2``, solves).

        Examples
        --------
        >>> round(float(m.factor.r2), 2), round(float(m.factor.ldL2), 3)
        (116579.32, 75.961)
        """
        return self._factor

    @property
    def templates(self) -> list[np.ndarray]:
        r"""The relative covariance factors at theta-hat, one lower-triangular (p_k x p_k) ``T_k`` per term.

        ``Lambda = blockdiag(I_levels (x) T_k)``, ``Cov(b_k) = sigma^2 T_k T_k'`` per level
        (lme4's ``getME(m, "Tlist")``).

        Examples
        --------
        >>> m.templates[0].round(3).tolist()
        [[0.967, 0.0], [0.015, 0.231]]
        """
        return self._factor.T

    @property
    def nobs(self) -> int:
        """The number of observations used in the fit (rows with missing values dropped), R's ``nobs(m)``.

        Examples
        --------
        >>> m.nobs
        180
        """
        return int(self.core.n)

    @property
    def beta(self) -> np.ndarray:
        """The fixed-effects estimate as an array, lme4's ``getME(m, "beta")`` (:attr:`fixef` names it).

        Beta solves the penalized least-squares problem at theta-hat: ``R_X beta = c_beta`` with the
        last block of the Cholesky factor.

        Examples
        --------
        >>> m.beta.round(3).tolist()
        [251.405, 10.467]
        """
        return self._solution[0]

    @cached_property
    def fixef(self) -> pd.Series:
        """The fixed-effects estimates, lme4's ``fixef(m)``: a Series indexed by the columns of X.

        Columns dropped for rank deficiency are left out (see :attr:`fixef_full`).

        Examples
        --------
        >>> m.fixef.round(3)
        (Intercept)    251.405
        Days            10.467
        Name: Estimate, dtype: float64
        """
        return pd.Series(self.beta, index=self.fixed.names, name="Estimate")

    @cached_property
    def fixef_full(self) -> pd.Series:
        """Fixed effects with NaN for the columns dropped for rank deficiency, lme4's ``fixef(m, add.dropped=TRUE)``.

        In the original column order of X.

        Examples
        --------
        >>> m.fixef_full.index.tolist()
        ['(Intercept)', 'Days']
        """
        names = self.fixed.all_names or list(self.fixed.names)
        est = dict(zip(self.fixed.names, self.beta))
        return pd.Series([est.get(nm, np.nan) for nm in names], index=names, name="Estimate")

    @property
    def theta_names(self) -> list[str]:
        """lme4's names of theta's entries: ``"<group>.<row>"`` on a diagonal, ``"<group>.<row>.<column>"`` below.

        In theta's order (each term's lower triangle of ``T_k``, column by column).

        Examples
        --------
        >>> m.theta_names
        ['Subject.(Intercept)', 'Subject.Days.(Intercept)', 'Subject.Days']
        """
        return theta_names(self.terms)

    @cached_property
    def sigma(self) -> float:
        r"""The residual standard deviation, lme4's ``sigma(m)``.

        ``sigma^2 = r^2 / (n - p)`` for a REML fit and ``r^2 / n`` for an ML fit, where ``r^2`` is
        the penalized residual sum of squares ``||y - X beta - Z Lambda u||^2 + ||u||^2`` at
        theta-hat (weighted by W).

        Examples
        --------
        >>> round(m.sigma, 3)
        25.592
        """
        n, p = self.core.n, self.core.p
        return math.sqrt(self._factor.r2 / (n - p if self.reml else n))

    @property
    def npar(self) -> int:
        """The number of parameters: fixed effects, theta and sigma (R's ``logLik`` df).

        Examples
        --------
        >>> m.npar
        6
        """
        return self.core.p + self.theta.size + 1

    @cached_property
    def objective(self) -> float:
        r"""The minimized criterion: the REML criterion of a REML fit, the ML deviance otherwise.

        lme4's ``deviance`` functions of theta, profiled over beta and sigma:
        ``d(theta) = log|L|^2 + n (1 + log(2 pi r^2 / n))`` (ML) and
        ``d_R(theta) = log|L|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))`` (REML).

        Examples
        --------
        >>> round(m.objective, 3)
        1743.628
        """
        return self.core.objective_from(self._factor, self.reml)

    @property
    def reml_criterion(self) -> float | None:
        """lme4's ``REMLcrit(m)``: the REML criterion at the estimate, None for an ML fit.

        Examples
        --------
        >>> round(m.reml_criterion, 1)
        1743.6
        >>> m.refit(REML=False).reml_criterion is None
        True
        """
        return self.objective if self.reml else None

    @cached_property
    def deviance(self) -> float:
        """The ML deviance, -2 log-likelihood; for a REML fit at the REML estimate, as lme4's devcomp "dev".

        Examples
        --------
        >>> round(m.deviance, 2)
        1751.99
        """
        return self.core.objective_from(self._factor, False)

    @property
    def loglik(self) -> float:
        """lme4's ``logLik(m)``: the REML log-likelihood for a REML fit, the ML one otherwise (``-objective / 2``).

        Examples
        --------
        >>> round(m.loglik, 3)
        -871.814
        """
        return -self.objective / 2.0

    @property
    def df_resid(self) -> int:
        """The residual degrees of freedom, lme4's ``df.residual(m)``: ``nobs - npar``.

        Examples
        --------
        >>> m.df_resid
        174
        """
        return self.nobs - self.npar

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """The covariance of the fixed-effects estimates, lme4's ``vcov(m)``: ``sigma^2 (R_X' R_X)^-1``.

        Conditional on theta-hat; a DataFrame indexed by the fixed effects' names (0 x 0 for a
        model without fixed effects).

        Examples
        --------
        >>> m.vcov.round(3)
                     (Intercept)   Days
        (Intercept)       46.575 -1.451
        Days              -1.451  2.389
        """
        # no fixed effects (y ~ 0 + (1 | g), which lme4 allows): an empty matrix, not a 0 x 0 LAPACK call
        V = np.zeros((0, 0)) if self.core.p == 0 else self.sigma ** 2 * self.core.rx_inverse(self._factor)
        return pd.DataFrame(V, index=self.fixed.names, columns=self.fixed.names)

    @cached_property
    def is_singular(self) -> bool:
        """lme4's ``isSingular(m)``: a diagonal element of Lambda below 1e-4.

        For a structured term also where its correlation reaches a bound. A singular fit has a
        variance estimated at (nearly) zero or a correlation at -+1.

        Examples
        --------
        >>> m.is_singular
        False
        """
        return bool(np.any(self.core.layout.template_diagonals(self.theta) < 1e-4))

    # ------------------------------------------------------------------ random effects
    @cached_property
    def _b(self) -> list[np.ndarray]:
        """Conditional modes b = Lambda u, one (nlev, p) array per term."""
        _, us = self._solution
        return [u @ T.T for u, T in zip(us, self._factor.T)]

    @cached_property
    def _b_condvar(self) -> list[np.ndarray]:
        """Conditional covariance of b per level: sigma^2 T (L L')^-1_jj T' (lme4's condVar)."""
        blocks = self.core.cond_var_u(self._factor)
        s2 = self.sigma ** 2
        return [s2 * (T @ B @ T.T) for B, T in zip(blocks, self._factor.T)]

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """The estimated variances and correlations, R's ``as.data.frame(VarCorr(m))``.

        Columns ``grp, var1, var2, vcov, sdcor``: one row per variance (``sdcor`` its standard
        deviation) and per covariance (``sdcor`` the correlation), then the residual's.

        Examples
        --------
        >>> m.varcorr[["grp", "var1", "var2", "sdcor"]].round(3)
                grp         var1  var2   sdcor
        0   Subject  (Intercept)        24.741
        1   Subject         Days         5.922
        2   Subject  (Intercept)  Days   0.066
        3  Residual                     25.592
        """
        return random_effects.varcorr_frame(self.terms, self._factor.T, self.sigma)

    # ------------------------------------------------------------------ fitted values
    @cached_property
    def _eta_fixed(self) -> np.ndarray:
        off = self.frame.offset
        eta = self.fixed.X @ self.beta
        return eta if off is None else eta + off

    @cached_property
    def fitted(self) -> pd.Series:
        """The fitted values ``X beta + Z b`` (and the offset), lme4's ``fitted(m)``.

        One per observation used, with the data's index.

        Examples
        --------
        >>> m.fitted.round(2).head(3).tolist()
        [253.66, 273.33, 293.0]
        """
        mu = self._eta_fixed.copy()
        for t, b in zip(self.terms, self._b):
            mu += np.einsum("ij,ij->i", t.z, b[t.codes])
        return pd.Series(mu, index=self.frame.data.index, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        """The response residuals ``y - fitted``, lme4's ``residuals(m)`` (:meth:`resid` for other kinds).

        Examples
        --------
        >>> m.residuals.round(2).head(3).tolist()
        [-4.1, -14.63, -42.2]
        """
        return pd.Series(self.frame.y - self.fitted.to_numpy(), index=self.frame.data.index, name="residuals")

    # ------------------------------------------------------------------ refitting
    def refit(self, REML: bool | None = None, y=None, control=None) -> "LmerResult":
        """A new fit of the same model: with REML switched, to a new response, or with other settings.

        lme4's ``refitML(m)`` (``REML=False``) and ``refit(m, newresp)``. The design is reused;
        with a new y only the ``[X y]`` crossproducts change.

        Parameters
        ----------
        REML : bool, optional
            Fit by REML (True) or ML (False); None (default): as this fit.
        y : array_like, optional
            A new response, one value per observation used (:attr:`nobs`); None: this fit's.
        control : dict, optional
            Optimizer settings as ``mm.lmer``'s ``control`` (``optimizer``, ``ftol_abs``,
            ``xtol_abs``, ``xtol_rel``, ``maxeval``, ``boundary_tol``); None: this fit's.

        Returns
        -------
        LmerResult
            The new fit; this one is unchanged.

        Examples
        --------
        >>> ml = m.refit(REML=False)
        >>> ml.reml, round(ml.deviance, 2)
        (False, 1751.94)
        """
        return self.fitter(self, REML=self.reml if REML is None else bool(REML), y=y,
                           control=self.control if control is None else control)

    # ------------------------------------------------------------------ printing
    def summary(self, ddf: str = "Satterthwaite"):
        """lmerTest's ``summary(m, ddf = ddf)``: the fit, random effects and fixed-effects t tests.

        Parameters
        ----------
        ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}, default "Satterthwaite"
            The df of the fixed effects' t tests (case-insensitive, "KR" and "none" accepted);
            "lme4" prints lme4's summary, without df and p-values.

        Returns
        -------
        Summary
            ``str()`` (and ``print``) gives R's printed text, ``.data`` the numbers behind it
            (:class:`~mixedmodels.report.lme4_print.LmerSummary`), ``.to_frame()`` the fixed-effects
            table (:meth:`coef_table`).

        Examples
        --------
        >>> print(m.summary())
        Linear mixed model fit by REML. t-tests use Satterthwaite's method [
        lmerModLmerTest]
        Formula: Reaction ~ Days + (Days | Subject)
        ...
        REML criterion at convergence: 1743.6
        ...
        Fixed effects:
                    Estimate Std. Error      df t value Pr(>|t|)
        (Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***
        Days          10.467      1.546  17.000   6.771 3.26e-06 ***
        ...
        """
        from ..inference.ddf import normalize_ddf
        from ..report.summary import lmer_summary

        return lmer_summary(self, normalize_ddf(ddf))

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)

    def __repr__(self) -> str:
        return (f"<LmerResult {self.formula!r}: {'REML' if self.reml else 'ML'} "
                f"{self.objective:.4f}, nobs={self.nobs}>")
