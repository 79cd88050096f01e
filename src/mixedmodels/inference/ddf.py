"""Denominator degrees of freedom: which method a ``ddf=`` argument names, and the table of the
fixed effects under each (lmerTest's ``summary`` coefficients: Satterthwaite, Kenward-Roger, or
lme4's table without df and p-values)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, t_ppf, t_sf
from ..arguments import check_level
from ..errors import ArgumentError
from ..rformat import percent_labels

__all__ = ["normalize_ddf", "coef_table", "with_interval"]

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
    p = 2.0 * t_sf(np.abs(t), df)
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p},
                        index=m.fixed.names)


def with_interval(table: pd.DataFrame, conf_int) -> pd.DataFrame:
    """A coefficient table with confidence limits added (``conf_int``: a level such as 0.95, or None).

    ``Estimate -+ q * Std. Error``, where q is the t quantile with the table's ``df`` (Satterthwaite or
    Kenward-Roger: the same df as the test, so the interval excludes 0 exactly when p < 1 - level)
    or, in a table without df (lme4's, a GLMM's z tests), the normal quantile, as R's Wald
    ``confint``. The columns are named as R names them: "2.5 %", "97.5 %".

    Parameters
    ----------
    table : pandas.DataFrame
        A coefficient table (``Estimate``, ``Std. Error``, optionally ``df``).
    conf_int : float or None
        The confidence level, in (0, 1); None leaves the table as it is.

    Returns
    -------
    pandas.DataFrame
        The table, with the two limits as its last columns.
    """
    if conf_int is None or conf_int is False:
        return table
    level = check_level(0.95 if conf_int is True else conf_int)
    a = (1 - level) / 2
    q = t_ppf(1 - a, table["df"].to_numpy(float)) if "df" in table else norm_ppf(1 - a)
    lo, hi = percent_labels(level)
    out = table.copy()
    out[lo] = table["Estimate"] - q * table["Std. Error"]
    out[hi] = table["Estimate"] + q * table["Std. Error"]
    return out
