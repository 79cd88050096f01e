"""Denominator degrees of freedom: which method a ``ddf=`` argument names, and the table of the
fixed effects under each (lmerTest's ``summary`` coefficients: Satterthwaite, Kenward-Roger, or
lme4's table without df and p-values)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ArgumentError

__all__ = ["normalize_ddf", "coef_table"]

_DDF = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger", "kr": "Kenward-Roger",
        "lme4": "lme4", "none": "lme4"}


def normalize_ddf(ddf: str) -> str:
    key = str(ddf).lower().replace("_", "-").replace(" ", "-")
    if key not in _DDF:
        raise ArgumentError(f"unknown ddf {ddf!r}; use 'Satterthwaite', 'Kenward-Roger' or 'lme4'")
    return _DDF[key]


def coef_table(m, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """Fixed effects of an lmer fit with Std. Error, df, t value and Pr(>|t|) (lmerTest's summary table)."""
    ddf = normalize_ddf(ddf)
    est = m.beta
    if est.size == 0:  # y ~ 0 + (1 | g): nothing to test
        cols = ["Estimate", "Std. Error", "t value"] if ddf == "lme4" else \
            ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    if ddf == "Kenward-Roger":
        from .kenward_roger import kr_coef_table

        return kr_coef_table(m)
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    t = est / se
    if ddf == "lme4":
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t}, index=m.fixed.names)
    from .satterthwaite import contrast_df

    df = np.array([contrast_df(m._varpar, np.eye(len(est))[i])[1] for i in range(len(est))])
    if not np.all(np.isfinite(m._varpar.A)):
        df = np.full(len(est), np.nan)  # unknown, not infinite
    p = 2.0 * stats.t.sf(np.abs(t), df)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p},
                        index=m.fixed.names)
