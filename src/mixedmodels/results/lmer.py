"""LmerResult: the frozen outcome of a linear mixed model fit; derived values on demand."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import random_effects
from .common import ModelFace
from .criteria import InformationCriteria
from ..errors import ArgumentError
from ..optim.convergence import lmer_convergence

__all__ = ["LmerResult", "OptReport", "theta_names"]

_GRAD_STEP = 1e-4  # lme4's deriv12 step for the gradient check at the optimum

class _Objective:
    """The fitted criterion as a function of theta (a class, not a closure, so results stay picklable)."""

    def __init__(self, core, reml: bool):
        self.core, self.reml = core, reml

    def __call__(self, theta) -> float:
        return self.core.objective(np.asarray(theta, dtype=float), self.reml)


@dataclass(frozen=True, eq=False)
class OptReport:
    """The optimizer's own report on a fit, and the objective's gradient at the optimum (on demand).

    ``converged`` is what the optimizer said (NLopt's return code), nothing more: a flat gradient is
    a separate question, answered by ``gradient`` here and by ``m.check()``.
    """

    optimizer: str
    nevals: int
    code: int
    message: str
    converged: bool
    objective: object = field(default=None, repr=False)  # theta -> criterion
    theta: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, info, objective=None, theta=None) -> "OptReport":
        return cls(str(info.optimizer), int(info.nevals), int(info.code), str(info.message), bool(info.converged),
                   objective, None if theta is None else np.asarray(theta, dtype=float))

    @cached_property
    def gradient(self) -> np.ndarray:
        """Finite-difference gradient of the criterion at the optimum, as lme4 computes it for its
        convergence check (``m@optinfo$derivs$gradient``): central differences with step 1e-4, also at
        a bound (the criterion is defined below it too, and lme4 steps there as well). Two evaluations
        per theta entry."""
        if self.objective is None or self.theta is None:
            raise ArgumentError("this optimizer report carries no objective function to differentiate")
        x = self.theta
        g = np.empty(x.size)
        for i in range(x.size):
            e = np.zeros(x.size)
            e[i] = _GRAD_STEP
            g[i] = (float(self.objective(x + e)) - float(self.objective(x - e))) / (2 * _GRAD_STEP)
        return g

    def as_dict(self) -> dict:
        return {"optimizer": self.optimizer, "nevals": self.nevals, "code": self.code, "message": self.message,
                "converged": self.converged}

    def __repr__(self) -> str:
        return (f"OptReport(optimizer={self.optimizer!r}, nevals={self.nevals}, code={self.code}, "
                f"message={self.message!r}, converged={self.converged})")


def theta_names(terms) -> list[str]:
    """lme4's names of theta: "Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"."""
    out = []
    for t in terms:
        for j in range(t.p):
            for i in range(j, t.p):
                out.append(f"{t.group}.{t.cnames[i]}" if i == j else f"{t.group}.{t.cnames[i]}.{t.cnames[j]}")
    return out


@dataclass(frozen=True, eq=False)
class LmerResult(InformationCriteria, random_effects.RandomEffectsFace, ModelFace):
    """A fitted linear mixed model (lme4's ``lmerMod`` with lmerTest's inference)."""

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
        """The optimizer's report (lme4's ``optinfo``), able to give the criterion's gradient at theta."""
        return OptReport.of(self.optimizer_report, _Objective(self.core, self.reml), self.theta)

    @cached_property
    def convergence(self):
        """lme4's convergence checks at the estimate (``m@optinfo$conv$lme4``): see
        :func:`mixedmodels.optim.convergence.lmer_convergence`; computed once, on first use."""
        return lmer_convergence(self)

    @property
    def converged(self) -> bool:
        """Whether the optimizer reported success (see ``optinfo`` for its report, ``check()`` for more)."""
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
        r"""The blocked Cholesky factor L at theta-hat (a :class:`~mixedmodels.core.factor.Factorization`):
        ``L L' = Lambda'Z'WZ Lambda + I`` bordered by X, read through its public methods."""
        return self._factor

    @property
    def templates(self) -> list[np.ndarray]:
        """The relative covariance factors at theta-hat, one lower-triangular (p_k x p_k) ``T_k`` per
        term: ``Lambda = blockdiag(I_levels (x) T_k)``, ``Cov(b_k) = sigma^2 T_k T_k'`` per level."""
        return self._factor.T

    @property
    def nobs(self) -> int:
        return int(self.core.n)

    @property
    def beta(self) -> np.ndarray:
        return self._solution[0]

    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.fixed.names, name="Estimate")

    @cached_property
    def fixef_full(self) -> pd.Series:
        """Fixed effects with NaN for the columns dropped for rank deficiency, in the original column
        order (lme4's ``fixef(m, add.dropped=TRUE)``)."""
        names = self.fixed.all_names or list(self.fixed.names)
        est = dict(zip(self.fixed.names, self.beta))
        return pd.Series([est.get(nm, np.nan) for nm in names], index=names, name="Estimate")

    @property
    def theta_names(self) -> list[str]:
        return theta_names(self.terms)

    @cached_property
    def sigma(self) -> float:
        n, p = self.core.n, self.core.p
        return math.sqrt(self._factor.r2 / (n - p if self.reml else n))

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects, theta and sigma (R's logLik df)."""
        return self.core.p + self.theta.size + 1

    @cached_property
    def objective(self) -> float:
        return self.core.objective_from(self._factor, self.reml)

    @property
    def reml_criterion(self) -> float | None:
        return self.objective if self.reml else None

    @cached_property
    def deviance(self) -> float:
        """ML deviance: -2 log-likelihood (for a REML fit, at the REML theta, as lme4)."""
        return self.core.objective_from(self._factor, False)

    @property
    def loglik(self) -> float:
        """lme4's logLik: the REML log-likelihood for REML fits, the ML one otherwise."""
        return -self.objective / 2.0

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @cached_property
    def vcov(self) -> pd.DataFrame:
        # no fixed effects (y ~ 0 + (1 | g), which lme4 allows): an empty matrix, not a 0 x 0 LAPACK call
        V = np.zeros((0, 0)) if self.core.p == 0 else self.sigma ** 2 * self.core.rx_inverse(self._factor)
        return pd.DataFrame(V, index=self.fixed.names, columns=self.fixed.names)

    @cached_property
    def is_singular(self) -> bool:
        """lme4's isSingular: a diagonal element of Lambda below 1e-4 (for a structured term also
        where its correlation reaches a bound)."""
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
        """R's as.data.frame(VarCorr(m)): grp, var1, var2, vcov, sdcor."""
        return random_effects.varcorr_frame(self.terms, self._factor.T, self.sigma)

    # ------------------------------------------------------------------ fitted values
    @cached_property
    def _eta_fixed(self) -> np.ndarray:
        off = self.frame.offset
        eta = self.fixed.X @ self.beta
        return eta if off is None else eta + off

    @cached_property
    def fitted(self) -> pd.Series:
        mu = self._eta_fixed.copy()
        for t, b in zip(self.terms, self._b):
            mu += np.einsum("ij,ij->i", t.z, b[t.codes])
        return pd.Series(mu, index=self.frame.data.index, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        return pd.Series(self.frame.y - self.fitted.to_numpy(), index=self.frame.data.index, name="residuals")

    # ------------------------------------------------------------------ inference
    @cached_property
    def _varpar(self):
        """Satterthwaite's ingredients at the estimate (computed once per fit)."""
        from ..inference.satterthwaite import fit_varpar

        return fit_varpar(self)

    def coef_table(self, ddf: str = "Satterthwaite", conf_int: float | None = None) -> pd.DataFrame:
        """Fixed effects with Std. Error, df, t value and Pr(>|t|) (lmerTest's summary table); with
        ``conf_int=0.95`` also the limits of t intervals with the same df ("2.5 %", "97.5 %")."""
        from ..inference.ddf import coef_table, with_interval

        return with_interval(coef_table(self, ddf), conf_int)

    def anova(self, type: int | str = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """lmerTest's ANOVA table of the fixed-effect terms (types 1, 2, 3)."""
        from ..inference.ddf import normalize_ddf
        from ..inference.anova import anova_table

        return anova_table(self, type=type, ddf=normalize_ddf(ddf))

    def ranova(self) -> pd.DataFrame:
        """lmerTest's ranova: likelihood-ratio tests removing each random-effect term in turn."""
        from ..inference.ranova import ranova

        return ranova(self)

    def drop1(self, test: str = "F", ddf: str = "Satterthwaite") -> pd.DataFrame:
        """Test dropping each fixed-effect term (lmerTest's drop1)."""
        from ..inference.ddf import normalize_ddf
        from ..inference.ranova import drop1

        return drop1(self, test=test, ddf=normalize_ddf(ddf))

    def confint(self, method: str = "profile", level: float = 0.95, parm=None, nsim: int = 500, seed=None,
                boot_type: str = "perc", n_jobs: int = 1, progress=None, **profile_options) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint(m, oldNames = FALSE)``.

        Parameters
        ----------
        method : {"profile", "Wald", "boot"}
            Likelihood-profile intervals (lme4's default), Wald intervals of the fixed effects, or
            parametric-bootstrap intervals.
        level : float
            The confidence level.
        parm : list, optional
            Rows by name or position, or "theta_" / "beta_" (lme4's ``parm``).
        nsim, seed, boot_type, n_jobs, progress
            The bootstrap's refits, random seed, interval type ("perc", "basic", "norm"), worker
            processes and progress bar (None: shown in a terminal or notebook when it takes long).
        **profile_options
            For the profile: ``alphamax``, ``maxpts``, ``delta``, ``delta_cutoff``, ``maxmult``.

        Returns
        -------
        pandas.DataFrame
            One row per parameter (``sd_<col>|<group>``, ``cor_...``, ``sigma``, fixed effects),
            columns "2.5 %", "97.5 %" for level 0.95.

        Examples
        --------
        >>> import mixedmodels as mm
        >>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
        >>> m.confint(method="Wald").round(2).loc["Days"].tolist()
        [7.44, 13.5]
        """
        from ..inference.confint import confint

        return confint(self, method=method, level=level, parm=parm, nsim=nsim, seed=seed, boot_type=boot_type,
                       n_jobs=n_jobs, progress=progress, **profile_options)

    def profile(self, which=None, alphamax: float = 0.01, maxpts: int = 100, n_jobs: int = 1, progress=None,
                **options):
        """lme4's ``profile(m)``: the deviance profiled over each parameter, on the sd/correlation scale.

        Parameters
        ----------
        which : list, optional
            The parameters to profile (names, positions, "theta_" or "beta_"); default all.
        alphamax : float
            The profile reaches the ``1 - alphamax`` chi-square cutoff on both sides.
        maxpts : int
            At most this many points per side.
        n_jobs : int
            Worker processes.
        progress : bool, optional
            A progress bar (None: where the work is long and a terminal or notebook shows it).
        **options
            lme4's ``delta``, ``delta_cutoff``, ``maxmult``.

        Returns
        -------
        ProfileTable
            A DataFrame (lme4's ``as.data.frame(profile)``) with ``.confint(level)``.
        """
        from ..inference.confint import profile

        return profile(self, which=which, alphamax=alphamax, maxpts=maxpts, n_jobs=n_jobs, progress=progress,
                       **options)

    def emmeans(self, specs, by=None, pairwise: bool = False, adjust: str = "tukey",
                ddf: str | None = None, level: float = 0.95):
        """Estimated marginal means (and pairwise contrasts) as R's emmeans; ``ddf=None``: R's
        emmeans default (Kenward-Roger for REML fits up to 3000 observations, see
        :func:`mixedmodels.inference.emmeans.default_ddf`)."""
        from ..inference.emmeans import emmeans

        return emmeans(self, specs, by=by, pairwise=pairwise, adjust=adjust, ddf=ddf, level=level)

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, **kwargs):
        """Predictions as lme4's predict(): every random effect by default, re_form="~0" for none."""
        from ..postfit.predict import predict

        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, **kwargs)

    def hatvalues(self) -> np.ndarray:
        from ..postfit.leverage import hatvalues

        return hatvalues(self)

    def resid(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals of a type: "response", "pearson" (scaled=True divides by sigma)."""
        from ..postfit.leverage import residuals

        return residuals(self, type=type, scaled=scaled)

    def influence(self, group=None, units=None):
        """Leave-one-out (or leave-one-group-out) refits, as lme4's influence()."""
        from ..postfit.influence import influence

        return influence(self, group=group, units=units)

    def cooks_distance(self, group=None, method: str = "refit") -> pd.Series:
        from ..postfit.influence import cooks_distance

        return cooks_distance(self, group=group, method=method)

    def dfbetas(self, group=None) -> pd.DataFrame:
        from ..postfit.influence import dfbetas

        return dfbetas(self, group=group)

    # ------------------------------------------------------------------ refitting
    def refit(self, REML: bool | None = None, y=None, control=None) -> "LmerResult":
        """A new fit of the same model: with REML switched, or to a new response vector y.

        Reuses the design; with a new y only the [X y] crossproducts change.
        """
        return self.fitter(self, REML=self.reml if REML is None else bool(REML), y=y,
                           control=self.control if control is None else control)

    def allfit(self, optimizers=None, control=None, progress=None) -> pd.DataFrame:
        """Refit with several optimizers and compare them (lme4's ``allFit``): one row per optimizer
        with its objective, fixed effects, theta, sigma, convergence, evaluations and seconds."""
        from ..postfit.allfit import allfit

        return allfit(self, optimizers=optimizers, control=control, progress=progress)

    # ------------------------------------------------------------------ printing
    def summary(self, ddf: str = "Satterthwaite"):
        from ..inference.ddf import normalize_ddf
        from ..report.summary import lmer_summary

        return lmer_summary(self, normalize_ddf(ddf))

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)

    def __repr__(self) -> str:
        return (f"<LmerResult {self.formula!r}: {'REML' if self.reml else 'ML'} "
                f"{self.objective:.4f}, nobs={self.nobs}>")
