"""LmerResult: the frozen outcome of a linear mixed model fit; derived values on demand."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from .errors import ArgumentError

__all__ = ["LmerResult"]

_DDF = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "kr": "Kenward-Roger",
        "lme4": "lme4", "none": "lme4"}


def normalize_ddf(ddf: str) -> str:
    key = str(ddf).lower().replace("_", "-").replace(" ", "-")
    if key not in _DDF:
        raise ArgumentError(f"unknown ddf {ddf!r}; use 'Satterthwaite', 'Kenward-Roger' or 'lme4'")
    return _DDF[key]


@dataclass(frozen=True, eq=False)
class LmerResult:
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
    optinfo: object = field(repr=False)
    control: dict | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ basics
    @cached_property
    def _factor(self):
        return self.core.factor(self.theta)

    @cached_property
    def _solution(self):
        return self.core.solve(self._factor)

    @property
    def nobs(self) -> int:
        return int(self.core.n)

    @cached_property
    def ngroups(self) -> dict:
        out = {}
        for t in self.terms:
            out.setdefault(t.group, t.nlev)
        return out

    @property
    def beta(self) -> np.ndarray:
        return self._solution[0]

    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.fixed.names, name="Estimate")

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
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @cached_property
    def vcov(self) -> pd.DataFrame:
        V = self.sigma ** 2 * self.core.rx_inverse(self._factor)
        return pd.DataFrame(V, index=self.fixed.names, columns=self.fixed.names)

    @cached_property
    def is_singular(self) -> bool:
        """lme4's isSingular: a diagonal element of Lambda below 1e-4."""
        diag = self.core.layout.is_diagonal()
        return bool(np.any(self.theta[diag] < 1e-4))

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

    def _groups(self):
        """Grouping factor -> indices of its terms, in lme4's order."""
        g: dict[str, list[int]] = {}
        for i, t in enumerate(self.terms):
            g.setdefault(t.group, []).append(i)
        return g

    def ranef(self) -> dict:
        """Conditional modes: grouping factor -> DataFrame (levels x term columns)."""
        out = {}
        for g, idx in self._groups().items():
            frames = [pd.DataFrame(self._b[i], index=self.terms[i].levels, columns=self.terms[i].cnames)
                      for i in idx]
            out[g] = pd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
        return out

    def ranef_table(self) -> pd.DataFrame:
        """R's as.data.frame(ranef(m, condVar=TRUE)): grpvar, term, grp, condval, condsd."""
        rows = []
        for g, idx in self._groups().items():
            for i in idx:
                t = self.terms[i]
                sd = np.sqrt(np.maximum(np.diagonal(self._b_condvar[i], axis1=1, axis2=2), 0))
                for k, name in enumerate(t.cnames):
                    rows.append(pd.DataFrame({"grpvar": g, "term": name, "grp": t.levels,
                                              "condval": self._b[i][:, k], "condsd": sd[:, k]}))
        return pd.concat(rows, ignore_index=True)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """R's as.data.frame(VarCorr(m)): grp, var1, var2, vcov, sdcor."""
        rows = []
        s2 = self.sigma ** 2
        for name, t, T in zip(self._group_labels, self.terms, self._factor.T):
            C = s2 * (T @ T.T)
            sd = np.sqrt(np.diag(C))
            for k, c in enumerate(t.cnames):
                rows.append((name, c, "", C[k, k], sd[k]))
            for j in range(t.p):
                for k in range(j + 1, t.p):
                    corr = C[k, j] / (sd[k] * sd[j]) if sd[k] > 0 and sd[j] > 0 else np.nan
                    rows.append((name, t.cnames[j], t.cnames[k], C[k, j], corr))
        rows.append(("Residual", "", "", s2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    @cached_property
    def _group_labels(self) -> list[str]:
        """Group names as VarCorr prints them: repeated factors get .1, .2 (R's make.unique)."""
        seen: dict[str, int] = {}
        out = []
        for t in self.terms:
            k = seen.get(t.group, 0)
            out.append(t.group if k == 0 else f"{t.group}.{k}")
            seen[t.group] = k + 1
        return out

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
        from .satterthwaite import varpar_info

        return varpar_info(self.core, self.theta, self.sigma, self.reml)

    def coef_table(self, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """Fixed effects with Std. Error, df, t value and Pr(>|t|) (lmerTest's summary table)."""
        ddf = normalize_ddf(ddf)
        est = self.beta
        if ddf == "Kenward-Roger":
            from .kenward_roger import kr_coef_table  # inference issue

            return kr_coef_table(self)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        t = est / se
        if ddf == "lme4":
            return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t}, index=self.fixed.names)
        from .satterthwaite import contrast_df

        df = np.array([contrast_df(self._varpar, np.eye(len(est))[i])[1] for i in range(len(est))])
        p = 2.0 * stats.t.sf(np.abs(t), df)
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p},
                            index=self.fixed.names)

    def anova(self, type: int | str = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """lmerTest's ANOVA table of the fixed-effect terms (types 1, 2, 3)."""
        from .anova_table import anova_table

        return anova_table(self, type=type, ddf=normalize_ddf(ddf))

    def ranova(self) -> pd.DataFrame:
        """lmerTest's ranova: likelihood-ratio tests removing each random-effect term in turn."""
        from .ranova import ranova

        return ranova(self)

    def drop1(self, test: str = "F", ddf: str = "Satterthwaite") -> pd.DataFrame:
        """Test dropping each fixed-effect term (lmerTest's drop1)."""
        from .ranova import drop1

        return drop1(self, test=test, ddf=normalize_ddf(ddf))

    def confint(self, method: str = "profile", level: float = 0.95, **kwargs) -> pd.DataFrame:
        """lme4's confint(oldNames=FALSE): "profile", "Wald" or "boot" intervals."""
        from .confint import confint

        return confint(self, method=method, level=level, **kwargs)

    def profile(self, **kwargs) -> pd.DataFrame:
        """The likelihood profile behind the profile intervals, as a DataFrame."""
        from .confint import profile

        return profile(self, **kwargs)

    def emmeans(self, specs, by=None, pairwise: bool = False, adjust: str = "tukey",
                ddf: str = "Satterthwaite", level: float = 0.95):
        """Estimated marginal means (and pairwise contrasts) as R's emmeans."""
        from .emmeans import emmeans

        return emmeans(self, specs, by=by, pairwise=pairwise, adjust=adjust, ddf=normalize_ddf(ddf), level=level)

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, **kwargs):
        """Predictions as lme4's predict(): every random effect by default, re_form="~0" for none."""
        from .predict import predict

        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, **kwargs)

    def simulate(self, nsim: int = 1, seed=None, **kwargs) -> pd.DataFrame:
        """New responses drawn from the fitted model, one column per simulation."""
        from .simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, **kwargs)

    def bootstrap(self, func, nsim: int = 100, seed=None, **kwargs):
        """Parametric bootstrap (lme4's bootMer): func(refit) on nsim simulated responses."""
        from .simulate import bootstrap

        return bootstrap(self, func, nsim=nsim, seed=seed, **kwargs)

    def hatvalues(self) -> np.ndarray:
        from .diagnostics import hatvalues

        return hatvalues(self)

    def resid(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals of a type: "response", "pearson" (scaled=True divides by sigma)."""
        from .diagnostics import residuals

        return residuals(self, type=type, scaled=scaled)

    def influence(self, group=None, units=None):
        """Leave-one-out (or leave-one-group-out) refits, as lme4's influence()."""
        from .diagnostics import influence

        return influence(self, group=group, units=units)

    def cooks_distance(self, group=None, method: str = "refit") -> pd.Series:
        from .diagnostics import cooks_distance

        return cooks_distance(self, group=group, method=method)

    def dfbetas(self, group=None) -> pd.DataFrame:
        from .diagnostics import dfbetas

        return dfbetas(self, group=group)

    def icc(self) -> dict:
        from .diagnostics import icc

        return icc(self)

    def r2(self) -> dict:
        from .diagnostics import r2

        return r2(self)

    def check(self):
        """A plain-language report on convergence, singularity and scaling."""
        from .diagnostics import check

        return check(self)

    @cached_property
    def plot(self):
        """Plots: m.plot.groups(), .ranef(), .residuals(), .qq(), .diagnostics() (matplotlib)."""
        from .plots import ModelPlots

        return ModelPlots(self)

    # ------------------------------------------------------------------ refitting
    def refit(self, REML: bool | None = None, y=None, control=None) -> "LmerResult":
        """A new fit of the same model: with REML switched, or to a new response vector y.

        Reuses the design; with a new y only the [X y] crossproducts change.
        """
        from .fit import fit_core

        return fit_core(self, REML=self.reml if REML is None else bool(REML), y=y,
                        control=self.control if control is None else control)

    # ------------------------------------------------------------------ printing
    def summary(self, ddf: str = "Satterthwaite"):
        from .summary import lmer_summary

        return lmer_summary(self, normalize_ddf(ddf))

    def _repr_html_(self) -> str:
        from .html import to_html

        return to_html(self)

    def __repr__(self) -> str:
        return (f"<LmerResult {self.formula!r}: {'REML' if self.reml else 'ML'} "
                f"{self.objective:.4f}, nobs={self.nobs}>")
