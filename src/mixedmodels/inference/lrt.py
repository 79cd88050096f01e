r"""Likelihood-ratio comparison of nested models: lme4's ``anova(m1, m2, ...)``.

For models ordered by their number of parameters ``npar_1 <= npar_2 <= ...``, row ``i`` tests
model ``i-1`` against model ``i``:

    Chisq_i = 2 max(0, logLik_i - logLik_{i-1}),   Df_i = npar_i - npar_{i-1},
    Pr(>Chisq)_i = P(chi^2_{Df_i} > Chisq_i)        (no p-value when Df_i = 0).

The log-likelihoods must be comparable: REML log-likelihoods of models with different fixed
effects are not, so (as lme4 does with ``refit=TRUE``) REML fits are refitted by ML first, and
:class:`RefitMLWarning` says so. Rows are sorted by ``npar`` (a stable sort, as R's ``order``),
so the row labels (``MODEL1``, ``MODEL2``, ... by position given, or the keyword names) may come
out of order, exactly as lme4 prints them.

Any object with ``loglik``, ``npar`` and ``nobs`` can take part (an ordinary linear model, say);
``reml``/``refit(REML=False)`` are used when present. The table is an
:class:`~mixedmodels.report.anova_table.AnovaTable`, which prints as R's ``print.anova`` (as the
tables of ``ranova``, ``drop1`` and the F tests do).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..distributions import chi2_sf
from ..errors import ArgumentError, DataError, MixedModelWarning, warn
from ..formula.deparse import r_deparse
from ..report.anova_table import AnovaTable

__all__ = ["anova", "AnovaTable", "RefitMLWarning"]


class RefitMLWarning(MixedModelWarning):
    """REML fits were refitted by maximum likelihood before a likelihood-ratio test.

    lme4 says this with ``message("refitting model(s) with ML (instead of REML)")``. Python has
    no separate channel for such notes, so it is a warning (shown once per call site by default;
    silence it with ``warnings.simplefilter("ignore", RefitMLWarning)`` or ``refit=False``).
    """


def anova(*models, refit: bool = True, **named_models) -> AnovaTable:
    """lme4's ``anova(m1, m2, ...)``: likelihood-ratio tests between nested models.

    ``mm.anova(m1, m2)`` labels the rows ``MODEL1``, ``MODEL2`` (position given);
    ``mm.anova(small=m1, big=m2)`` labels them with the keywords. Rows are sorted by ``npar``;
    row i has ``Chisq = 2 max(0, logLik_i - logLik_{i-1})`` on ``Df = npar_i - npar_{i-1}``
    (see the module's docstring). With one model, returns that model's own ANOVA table of the
    fixed effects (lmerTest's type III ``anova(m)``).

    Parameters
    ----------
    *models : LmerResult, GlmerResult, LmResult, ...
        Fitted models, labelled ``MODEL1``, ``MODEL2``, ... in the order given; any object with
        ``loglik``, ``npar`` and ``nobs`` can take part.
    refit : bool, default True
        Refit REML fits by ML first (lme4's ``refit = TRUE``, with a :class:`RefitMLWarning`);
        ``False`` keeps REML log-likelihoods (only meaningful for models with the same fixed
        effects).
    **named_models : LmerResult, GlmerResult, LmResult, ...
        Fitted models labelled by their keywords, after the positional ones.

    Returns
    -------
    AnovaTable
        Columns ``npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)``, one row per model
        (NaN where a row has no test), the data and the models' formulas in ``heading``; it
        prints as R's ``print.anova``.

    Raises
    ------
    ArgumentError
        Without models, for an object that is not a fitted model, or one model without an
        ``anova()`` of its own.
    DataError
        When the models were not fitted to the same observations (number of rows or response).

    Examples
    --------
    >>> m0 = mm.lmer("Reaction ~ Days + (1 | Subject)", mm.load_dataset("sleepstudy"))
    >>> tab = mm.anova(m0, m)
    >>> print(tab)
    Data: sleepstudy
    Models:
    MODEL1: Reaction ~ Days + (1 | Subject)
    MODEL2: Reaction ~ Days + (Days | Subject)
           npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)
    MODEL1    4 1802.1 1814.8 -897.04   1794.1
    MODEL2    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 ***
    ---
    Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1
    >>> round(float(tab.loc["MODEL2", "Chisq"]), 3)
    42.139
    >>> mm.anova(no_subject=mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")), intercepts=m0).index.tolist()
    ['no_subject', 'intercepts']
    """
    labelled = [(f"MODEL{i + 1}", m) for i, m in enumerate(models)] + list(named_models.items())
    if not labelled:
        raise ArgumentError("anova() needs at least one fitted model")
    if len(labelled) == 1:
        m = labelled[0][1]
        if not hasattr(m, "anova"):
            raise ArgumentError(f"anova() of a single {type(m).__name__} is not defined; give two or more models")
        return m.anova()
    for name, m in labelled:
        for attr in ("loglik", "npar", "nobs"):
            if not hasattr(m, attr):
                raise ArgumentError(f"{name} ({type(m).__name__}) is not a fitted model: it has no {attr!r}")
    _check_same_data(labelled)
    if refit:
        reml = [i for i, (_, m) in enumerate(labelled) if getattr(m, "reml", False)]
        if reml:
            warn("refitting model(s) with ML (instead of REML)", RefitMLWarning, stacklevel=2)
            for i in reml:
                name, m = labelled[i]
                labelled[i] = (name, m.refit(REML=False))
    order = sorted(range(len(labelled)), key=lambda i: float(labelled[i][1].npar))  # stable, as R's order()
    labelled = [labelled[i] for i in order]
    names = [n for n, _ in labelled]
    npar = np.array([float(m.npar) for _, m in labelled])
    ll = np.array([float(m.loglik) for _, m in labelled])
    nobs = float(labelled[0][1].nobs)
    chisq = np.full(len(ll), np.nan)
    df = np.full(len(ll), np.nan)
    chisq[1:] = 2.0 * np.maximum(0.0, np.diff(ll))
    df[1:] = np.diff(npar)
    p = np.full(len(ll), np.nan)
    ok = df > 0
    p[ok] = chi2_sf(chisq[ok], df[ok])
    tab = AnovaTable({"npar": npar.astype(int), "AIC": -2 * ll + 2 * npar, "BIC": -2 * ll + math.log(nobs) * npar,
                      "logLik": ll, "deviance": -2 * ll, "Chisq": chisq, "Df": df, "Pr(>Chisq)": p},
                     index=pd.Index(names))
    data_name = getattr(labelled[0][1], "data_name", None) or "data"
    tab.heading = [f"Data: {data_name}", "Models:"] + [f"{n}: {r_deparse(_formula(m))}" for n, m in labelled]
    return tab


def _formula(m) -> str:
    return str(getattr(m, "formula", type(m).__name__))


def _response(m):
    frame = getattr(m, "frame", None)
    y = getattr(frame, "y", None) if frame is not None else getattr(m, "y", None)
    return None if y is None else np.asarray(y, dtype=float)


def _check_same_data(labelled) -> None:
    """lme4 insists on the same data object; we check what matters: the rows and the response."""
    n0, m0 = labelled[0][1].nobs, labelled[0][1]
    for name, m in labelled[1:]:
        if m.nobs != n0:
            raise DataError(f"models were not all fitted to the same size of dataset: {labelled[0][0]} has "
                            f"{n0} observations, {name} has {m.nobs}; refit them to the same rows "
                            "(drop rows with missing values in any variable that either model uses)")
    y0 = _response(m0)
    for name, m in labelled[1:]:
        y = _response(m)
        if y0 is not None and y is not None and not np.allclose(y, y0, rtol=1e-12, atol=0, equal_nan=True):
            raise DataError(f"{labelled[0][0]} and {name} were fitted to different responses "
                            f"({_formula(m0)!r} vs {_formula(m)!r}); a likelihood-ratio test needs the same "
                            "response values in the same rows")
