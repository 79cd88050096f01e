"""GlmerResult: the frozen outcome of a generalized linear mixed model fit (lme4's ``glmerMod``).

What the fit found (theta, beta, the final PIRLS state, the optimizer's report, the Hessian over
``(theta, beta)``, lme4's convergence messages) is set when the result is built, by
:mod:`mixedmodels.fit.glmer`, and never changed; the derived values (sigma, vcov, the random
effects, residuals) are computed on demand. The inference, diagnostics and printouts live in their
concept modules, which the methods call with one-line lazy imports, as :class:`LmerResult`'s do.

``vcov`` inverts the finite-difference Hessian of the deviance over ``(theta, beta)`` when there is
one (lme4's default for nAGQ >= 1), in the scaled units it was computed in (see
:mod:`mixedmodels.optim.scales`), and falls back on ``sigma^2 (R_X' R_X)^-1`` with lme4's warning.
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
from ..distributions import norm_ppf, norm_sf
from ..arguments import check_level
from ..core.lmm import LmmCore
from ..design.frame import check_new_response
from ..errors import ArgumentError, ConvergenceWarning, MixedModelWarning, warn as _warn
from ..glmm import families as _families
from ..glmm.pirls import GlmmModel, PirlsResult
from ..optim.nlopt import OptInfo

__all__ = ["GlmerResult"]


def _check_glmer_ddf(ddf) -> None:
    """A glmer fit has asymptotic (z) tests: no ddf method applies."""
    if ddf is not None and str(ddf).lower() not in ("lme4", "asymptotic"):
        raise ArgumentError(f"ddf={ddf!r} applies to lmer fits (Satterthwaite, Kenward-Roger); a glmer fit has "
                            "Wald z tests without degrees of freedom: leave ddf out")


@dataclass(frozen=True, eq=False)
class GlmerResult(InformationCriteria, random_effects.RandomEffectsFace, ModelFace):
    """A fitted generalized linear mixed model (lme4's ``glmerMod``)."""

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
        """The number of observations (rows of the model frame)."""
        return int(self.model.n)

    @cached_property
    def fixef(self) -> pd.Series:
        """The fixed effects, named."""
        return pd.Series(np.asarray(self.beta, dtype=float), index=list(self.fixed.names), name="Estimate")

    @property
    def has_scale(self) -> bool:
        """Whether the family has a dispersion (Gamma, inverse Gaussian, Gaussian)."""
        return bool(self.family.has_scale)

    @cached_property
    def sigma(self) -> float:
        """1 for binomial, Poisson and negative binomial; else lme4's sqrt(pearson chi^2 + ||u||^2) / n)."""
        if not self.has_scale:
            return 1.0
        m, r = self.model, self.pirls
        wrss = float(np.sum(m.pw * (m.y - r.mu) ** 2 / self.family.variance(r.mu)))
        return math.sqrt((wrss + r.sqr_u) / m.n)

    @property
    def npar(self) -> int:
        """Fixed effects + theta (+ a scale; + theta of a negative binomial), R's logLik df."""
        k = len(self.beta) + self.theta.size + int(self.has_scale)
        if isinstance(self.family, _families.NegativeBinomial):
            k += 1
        return k

    @property
    def loglik(self) -> float:
        """lme4's logLik: minus half the final deviance (Laplace or AGQ)."""
        return -self.objective / 2.0

    @cached_property
    def deviance(self) -> float:
        """lme4's deviance() for a GLMM: the sum of squared deviance residuals (not -2 logLik)."""
        return float(np.sum(self.pirls.devres))

    @property
    def df_resid(self) -> int:
        """Observations minus parameters, as lme4's df.residual."""
        return self.nobs - self.npar

    @cached_property
    def is_singular(self) -> bool:
        """lme4's isSingular: a diagonal element of Lambda below 1e-4 (for a structured term also
        where its correlation reaches a bound)."""
        return bool(np.any(self.model.layout.template_diagonals(self.theta) < 1e-4))

    def refit(self, REML: bool | None = None, y=None, **kwargs) -> "GlmerResult":
        """The same model fitted to a new response ``y`` (lme4's ``refit(m, newresp)``), on the scale
        of :meth:`simulate`: proportions of successes for a binomial family. Without ``y`` the fit
        itself (a GLMM is fitted by maximum likelihood: there is no REML refit)."""
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
        """lme4's convergence part of ``m@optinfo`` for this fit: the stage-2 optimizer's name and
        code, lme4's checkConv messages, and the finite-difference gradient and Hessian over
        ``(theta, beta)`` (in the units they were taken in; the checks use the gradient scaled by
        the Hessian, which does not depend on them).

        Returns
        -------
        LmerConvergence
            The same record as an lmer fit's ``m.convergence`` (``optimizer``, ``code``,
            ``message``, ``messages``, ``gradient``, ``hessian``).
        """
        from ..optim.convergence import LmerConvergence

        info = self.optinfo
        return LmerConvergence(optimizer=str(getattr(info, "optimizer", "")), code=int(getattr(info, "code", 0)),
                               message=str(getattr(info, "message", "")), messages=list(self.messages),
                               gradient=self.gradient, hessian=self.hessian)

    def drop1(self, test: str | None = None):
        """lme4's ``drop1``: refits without each marginal fixed-effect term.

        Parameters
        ----------
        test : {None, "Chisq"}
            None: ``npar`` (the parameters dropped) and ``AIC`` per term, as lme4's default;
            ``"Chisq"``: also the likelihood-ratio test, ``LRT`` and ``Pr(Chi)``.

        Returns
        -------
        AnovaTable
            One row for the full model (``<none>``) and one per term, printed as R prints it.

        Examples
        --------
        >>> import mixedmodels as mm
        >>> cbpp = mm.load_dataset("cbpp")
        >>> m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
        >>> round(float(m.drop1(test="Chisq").loc["period", "LRT"]), 2)
        25.61
        """
        from ..inference.ranova import glmer_drop1

        return glmer_drop1(self, test=test)

    def anova(self, *others, type: int | str = 3, **named):
        """Tests of the fixed effects: Wald chi-square per term, or likelihood-ratio tests.

        Parameters
        ----------
        *others, **named : fitted models, optional
            With other models, lme4's ``anova(m1, m2, ...)``: likelihood-ratio tests between the
            nested fits (:func:`mixedmodels.anova`; rows labelled ``MODEL1``... or by keyword).
        type : {1, 2, 3}
            Without other models, the hypotheses' type of the Wald chi-square table (car's
            ``Anova(m, type = 3)``, the usual table for a GLMM: R's lme4 has no denominator df).

        Returns
        -------
        AnovaTable
            Wald: ``Chisq, Df, Pr(>Chisq)`` per term. LRT: ``npar, AIC, BIC, logLik, deviance,
            Chisq, Df, Pr(>Chisq)`` per model.

        Examples
        --------
        >>> import mixedmodels as mm
        >>> cbpp = mm.load_dataset("cbpp")
        >>> f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
        >>> g = mm.glmer(f, cbpp, family="binomial")
        >>> round(float(g.anova().loc["period", "Chisq"]), 2)
        25.49
        """
        if others or named:
            from ..inference.lrt import anova

            return anova(self, *others, **named)
        from ..inference.anova import wald_chisq_table

        return wald_chisq_table(self, type=type)

    def emmeans(self, specs, by=None, pairwise: bool = False, adjust: str = "tukey", level: float = 0.95,
                type: str = "link"):
        """Estimated marginal means (and pairwise contrasts) as R's emmeans for a glmer fit:
        asymptotic (z) intervals and tests from vcov, on the link scale, or with ``type="response"``
        back-transformed (probabilities or rates; contrasts of a log or logit link as ratios)."""
        from ..inference.emmeans import emmeans, to_response_scale

        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        res = emmeans(self, specs, by=by, pairwise=pairwise, adjust=adjust, level=level)
        return to_response_scale(res, self.family) if type == "response" else res

    def profile(self, which=None, **kwargs):
        """lme4's ``profile(gm)``: the deviance profiled over each sd, correlation and fixed effect,
        as a ProfileTable (its ``confint(level)`` gives the profile intervals). Families without a
        scale parameter (binomial, Poisson, negative binomial)."""
        from ..inference.glmm_profile import glmer_profile

        return glmer_profile(self, which=which, **kwargs)

    def hatvalues(self) -> np.ndarray:
        """lme4's ``hatvalues()`` of a glmer fit: the rows ``sqrt(w_i) [Lambda' z_i; x_i]``, with the
        *prior* weights w, in the metric of the final penalized weighted least-squares system.
        lme4 warns that this "may not make sense for GLMMs", and so do we: the values are not
        bounded by 1 (with binomial trials as weights they are not even leverages)."""
        from ..postfit.leverage import penalized_quadform

        _warn("the hat matrix may not make sense for GLMMs", MixedModelWarning, stacklevel=2)
        # lme4's factor is that of the last PIRLS step: working weights at the mean before it
        m, r = self.model, self.pirls
        eta = r.eta if r.eta_w is None else r.eta_w
        w, _ = m.working(eta, m.linkinv(eta), m.offset)
        core = LmmCore(m.terms, m.X, np.zeros(m.n), weights=w)
        f = core.factor(self.theta)
        sw = np.sqrt(np.asarray(m.pw, dtype=float))
        return penalized_quadform(self, m.X * sw[:, None], [t.z * sw[:, None] for t in self.terms],
                                  [t.codes for t in self.terms], core=core, f=f)

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
        """Covariance of the fixed effects: from the finite-difference Hessian of the deviance over
        (theta, beta) when it is available (lme4's default for nAGQ >= 1), else sigma^2 (R_X'R_X)^-1."""
        names = list(self.fixed.names)
        V = self._vcov_hess
        if V is None:
            if self.hessian is not None and self.hessian.shape[0] > self.theta.size:
                _warn("variance-covariance matrix computed from finite-difference Hessian is not positive "
                      "definite or contains NA values: falling back to var-cov estimated from RX",
                      ConvergenceWarning, stacklevel=2)
            V = self._vcov_rx
        return pd.DataFrame(V, index=names, columns=names)

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
        """The relative covariance factors at theta-hat, one lower-triangular ``T_k`` per term."""
        return self._T

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """R's as.data.frame(VarCorr(m)): grp, var1, var2, vcov, sdcor (a Residual row only for
        families with a scale)."""
        return random_effects.varcorr_frame(self.terms, self._T, self.sigma, residual=self.has_scale)

    # ------------------------------------------------------------------ fitted values and residuals
    @property
    def _index(self):
        return self.frame.data.index

    @cached_property
    def fitted(self) -> pd.Series:
        """Fitted means on the response scale (proportions for a binomial response)."""
        return pd.Series(self.pirls.mu, index=self._index, name="fitted")

    @cached_property
    def linear_predictor(self) -> pd.Series:
        """eta = offset + X beta + Z b."""
        return pd.Series(self.pirls.eta, index=self._index, name="eta")

    @property
    def y(self) -> np.ndarray:
        """The response as the family sees it (proportions for cbind)."""
        return self.model.y

    @property
    def weights(self) -> np.ndarray:
        """Prior weights (times the trials for a cbind response), as lme4's weights(m)."""
        return self.model.pw

    @property
    def residuals(self) -> pd.Series:
        """Response residuals y - mu (API.md); ``resid(type)`` gives lme4's other kinds."""
        return self.resid("response")

    def resid(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        """lme4's residuals(): "deviance" (default), "pearson", "response" or "working";
        ``scaled=True`` divides by sigma."""
        m, r = self.model, self.pirls
        fam = self.family
        t = str(type).lower()
        if t == "deviance":
            d = np.sqrt(np.maximum(r.devres, 0.0))
            res = np.where(m.y > r.mu, d, -d)
        elif t == "pearson":
            res = np.sqrt(m.pw / fam.variance(r.mu)) * (m.y - r.mu)
        elif t == "response":
            res = m.y - r.mu
        elif t == "working":
            res = (m.y - r.mu) / fam.mu_eta(r.eta)
        else:
            raise ArgumentError(f"residual type must be 'deviance', 'pearson', 'response' or 'working', got {type!r}")
        if scaled:
            res = res / self.sigma
        return pd.Series(res, index=self._index, name="residuals")

    # ------------------------------------------------------------------ inference
    def coef_table(self, ddf: str | None = None, conf_int: float | None = None) -> pd.DataFrame:
        """Fixed effects with Std. Error, z value and Pr(>|z|) (Wald tests, as lme4's summary); with
        ``conf_int=0.95`` also Wald limits ("2.5 %", "97.5 %", as ``confint(m, method="Wald")``).

        ``ddf`` is accepted for symmetry with lmer fits: only None (or "lme4", "asymptotic", which
        mean the same z tests) is valid, since a GLMM's tests have no denominator degrees of freedom.
        """
        if conf_int is not None:
            from ..inference.ddf import with_interval

            return with_interval(self.coef_table(ddf), conf_int)
        _check_glmer_ddf(ddf)
        est = np.asarray(self.beta, dtype=float)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        p = 2.0 * norm_sf(np.abs(z))
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": z, "Pr(>|z|)": p},
                            index=list(self.fixed.names))

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500, seed=None,
                boot_type: str = "perc", n_jobs: int = 1, progress=None) -> pd.DataFrame:
        """Confidence intervals as lme4's confint(method=, oldNames=FALSE).

        "profile" (the default, as lme4's): likelihood-profile intervals of the sd's, correlations
        and fixed effects (see :meth:`profile`; families without a scale parameter). "Wald": the
        fixed effects (lme4's rows for the variance parameters are NA and are left out).
        "boot": parametric bootstrap percentile intervals (``nsim`` refits, ``seed``, ``boot_type``
        "perc", "basic" or "norm", ``n_jobs`` worker processes, ``progress`` bar) for the sd's and
        correlations of the random effects, then the fixed effects.
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

    def predict(self, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False, **kwargs):
        """lme4's predict(): on the link scale (default) or the response scale (type="response");
        ``re_form=None`` includes every random effect, ``"~0"`` none, ``"~(1|g)"`` those named."""
        from ..postfit.predict import predict

        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is None and re_form is None and not kwargs:
            vals = self.pirls.eta if type == "link" else self.pirls.mu
            return pd.Series(vals, index=self._index, name="fit")
        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type,
                       **kwargs)

    # ------------------------------------------------------------------ printing
    def summary(self, correlation: bool | None = None, ddf: str | None = None):
        """lme4's print(summary(m)) for a glmerMod, as a str (``.data`` holds the numbers).

        ``correlation`` prints the fixed effects' correlations (lme4's rule: up to 12 of them when
        None); ``ddf`` must be None, as for :meth:`coef_table`.
        """
        _check_glmer_ddf(ddf)
        from ..report.summary import glmer_summary

        return glmer_summary(self, correlation)

    def __repr__(self) -> str:
        return (f"<GlmerResult {self.formula!r}: {self.family.label}({self.family.link}), "
                f"logLik {self.loglik:.4f}, nobs={self.nobs}>")
