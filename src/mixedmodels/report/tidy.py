"""broom.mixed's tables of a fit: ``tidy()`` (one row per parameter), ``glance()`` (one row per
model), ``augment()`` (the data with fitted values and diagnostics), and lme4's ``coef()``.

The columns are broom.mixed's, so that code and plots written for R's tidy frames carry over:

* tidy: ``effect`` ("fixed" or "ran_pars"), ``group``, ``term``, ``estimate``, ``std.error``,
  ``statistic``, ``df`` (lmer: lmerTest's Satterthwaite or Kenward-Roger), ``p.value``, and with
  ``conf_int=True`` ``conf.low``/``conf.high`` (Wald: estimate -+ z std.error, broom.mixed's default
  ``conf.method``). Random-effect parameters are named as broom.mixed names them: ``sd__(Intercept)``,
  ``cor__(Intercept).Days``, and the residual ``sd__Observation`` in group ``Residual``.
* glance: ``nobs, sigma, logLik, AIC, BIC, deviance, df.residual`` (and ``REMLcrit`` for REML fits),
  with lme4's values (``deviance`` as lme4's ``deviance()``).
* augment: the rows of the model frame, then ``.fitted``, ``.resid`` (response scale), ``.fixed``
  (X beta on the link scale, offset included) and, for lmer, ``.hat`` and ``.cooksd`` (lme4's
  ``hatvalues(m)`` and ``cooks.distance(m)``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..distributions import norm_ppf
from ..arguments import check_level
from ..errors import ArgumentError

__all__ = ["tidy", "glance", "augment", "coef"]

_FIXED = {"Estimate": "estimate", "Std. Error": "std.error", "t value": "statistic", "z value": "statistic",
          "df": "df", "Pr(>|t|)": "p.value", "Pr(>|z|)": "p.value"}


def _ran_pars(m) -> pd.DataFrame:
    """Random-effect parameters in broom.mixed's order: per term, each standard deviation followed by
    its correlations with the later columns (the lower triangle by column), the residual last."""
    rows = []
    for grp, block in m.varcorr.groupby("grp", sort=False):
        if grp == "Residual":
            if getattr(m, "has_scale", True):  # binomial, Poisson: no residual standard deviation
                rows.append(("Residual", "sd__Observation", float(block["sdcor"].iloc[0])))
            continue
        sds, cors = block[block["var2"] == ""], block[block["var2"] != ""]
        for r in sds.itertuples(index=False):
            rows.append((grp, f"sd__{r.var1}", r.sdcor))
            rows += [(grp, f"cor__{c.var1}.{c.var2}", c.sdcor) for c in cors.itertuples(index=False)
                     if c.var1 == r.var1]
    return pd.DataFrame({"effect": "ran_pars", "group": [g for g, _, _ in rows], "term": [t for _, t, _ in rows],
                         "estimate": [e for _, _, e in rows]})


def tidy(m, effects=("fixed", "ran_pars"), conf_int: bool = False, conf_level: float = 0.95,
         ddf: str = "Satterthwaite") -> pd.DataFrame:
    """One row per parameter, as broom.mixed's ``tidy()``.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.
    effects : str or sequence of str, default ("fixed", "ran_pars")
        Which rows: the fixed effects, the random-effect standard deviations and correlations.
    conf_int : bool, default False
        Add Wald intervals of the fixed effects (``conf.low``, ``conf.high``).
    conf_level : float, default 0.95
        Their level.
    ddf : str, default "Satterthwaite"
        lmer: the degrees of freedom of the t tests ("Satterthwaite", "Kenward-Roger", "lme4").

    Returns
    -------
    pandas.DataFrame
        Columns ``effect, group, term, estimate, std.error, statistic, df, p.value`` (``df`` for lmer
        only), and ``conf.low, conf.high`` when asked.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    >>> m.tidy()["term"].tolist()[:3]
    ['(Intercept)', 'Days', 'sd__(Intercept)']
    """
    want = [effects] if isinstance(effects, str) else list(effects)
    unknown = [e for e in want if e not in ("fixed", "ran_pars")]
    if unknown or not want:
        raise ArgumentError(f"effects must be 'fixed' and/or 'ran_pars', got {effects!r}")
    level = check_level(conf_level)
    parts = []
    if "fixed" in want:
        ct = m.coef_table(ddf) if hasattr(m, "core") else m.coef_table()  # lmer: a ddf; glmer: z tests
        fixed = ct.rename(columns=_FIXED).reset_index(names="term")
        fixed = fixed[[c for c in ("term", "estimate", "std.error", "statistic", "df", "p.value") if c in fixed]]
        fixed.insert(0, "group", np.nan)
        fixed.insert(0, "effect", "fixed")
        if conf_int:
            z = norm_ppf(0.5 + level / 2)
            fixed["conf.low"] = fixed["estimate"] - z * fixed["std.error"]
            fixed["conf.high"] = fixed["estimate"] + z * fixed["std.error"]
        parts.append(fixed)
    if "ran_pars" in want:
        parts.append(_ran_pars(m))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
    return out


def glance(m) -> pd.DataFrame:
    """One row of model statistics, as broom.mixed's ``glance()``.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.

    Returns
    -------
    pandas.DataFrame
        One row: ``nobs, sigma, logLik, AIC, BIC, deviance, df.residual``, and ``REMLcrit`` for a
        REML fit.
    """
    row = {"nobs": m.nobs, "sigma": m.sigma, "logLik": m.loglik, "AIC": m.aic, "BIC": m.bic,
           "deviance": m.deviance, "df.residual": m.nobs - m.npar}
    if m.reml_criterion is not None:
        row["REMLcrit"] = m.reml_criterion
    return pd.DataFrame([row])


def augment(m) -> pd.DataFrame:
    """The rows the model used with fitted values and diagnostics, as broom.mixed's ``augment()``.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.

    Returns
    -------
    pandas.DataFrame
        The model frame's columns (the data's row labels kept), then ``.fitted``, ``.resid``,
        ``.fixed`` and, for lmer, ``.hat`` and ``.cooksd``.
    """
    out = m.frame.data[list(m.frame.variables)].copy()
    out[".fitted"] = np.asarray(m.fitted, dtype=float)
    out[".resid"] = np.asarray(m.residuals, dtype=float)
    eta = np.asarray(m.fixed.X, dtype=float) @ np.asarray(m.beta, dtype=float)
    off = getattr(m.frame, "offset", None)
    out[".fixed"] = eta if off is None else eta + off
    if hasattr(m, "cooks_distance"):  # lmer; for a GLMM lme4 warns that the hat matrix may not make sense
        out[".hat"] = np.asarray(m.hatvalues(), dtype=float)
        out[".cooksd"] = np.asarray(m.cooks_distance(method="hat"), dtype=float)
    return out


def coef(m) -> dict:
    """lme4's ``coef()``: per grouping factor, each level's coefficients (fixed + random effects).

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.

    Returns
    -------
    dict
        Grouping factor -> DataFrame, one row per level (as in ``ranef()``), one column per fixed
        effect; a random-effect column without a fixed effect of its name comes first, with the
        fixed part 0, as lme4 puts it.
    """
    fixef = m.fixef
    out = {}
    for group, re in m.ranef().items():
        extra = [c for c in re.columns if c not in fixef.index]
        base = pd.concat([pd.Series(0.0, index=extra), fixef]) if extra else fixef
        frame = pd.DataFrame(np.tile(base.to_numpy(dtype=float), (len(re), 1)), index=re.index,
                             columns=list(base.index))
        for c in re.columns:
            frame[c] = frame[c] + re[c].to_numpy(dtype=float)
        out[group] = frame
    return out
