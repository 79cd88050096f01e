"""Effects and forest plots: what the model predicts over one predictor, and its coefficients.

* :func:`effects` is the picture of ggeffects' ``ggpredict`` and marginaleffects'
  ``plot_predictions``: the population-level prediction (random effects at 0, ``re_form = ~0``)
  over a predictor, with its confidence band from :func:`mixedmodels.postfit.predict.predict`
  (``interval="confidence"``: Student's t with Satterthwaite's df for lmer, normal quantiles for
  glmer, on the response scale of a GLMM), one line per level of ``by``; the other predictors at
  typical values: numbers at their mean, factors at their first level (ggpredict's
  convention). ``groups=True`` adds each group's own line (random effects included).
* :func:`forest` is the coefficient plot: each fixed effect with its Wald interval (t with the
  coefficient table's df where it has them, normal otherwise).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, t_ppf
from ..errors import ArgumentError
from .figures import handed_back, pyplot

__all__ = ["effects", "forest", "reference_rows"]

_COLORS = ("#3b6ea8", "#c0392b", "#2e8b57", "#e08a1e", "#7d3c98", "#17a2b8", "#8c564b", "#555555")


def _is_factor(col: pd.Series) -> bool:
    return (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col)
            or col.dtype == object or pd.api.types.is_string_dtype(col))


def _levels(col: pd.Series) -> list:
    if isinstance(col.dtype, pd.CategoricalDtype):
        used = set(col.dropna().unique())
        return [c for c in col.cat.categories if c in used]
    return sorted(col.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))


def _typical(col: pd.Series):
    """A number's mean, a factor's first level (ggpredict's reference values)."""
    return _levels(col)[0] if _is_factor(col) else float(pd.to_numeric(col).mean())


def reference_rows(m, x: str, by: str | None = None, n: int = 50) -> pd.DataFrame:
    """The rows to predict at: ``x`` over its range (``n`` points) or its levels, crossed with the
    levels of ``by``, every other variable of the model at its typical value.

    Parameters
    ----------
    m : LmerResult or GlmerResult
    x, by : str
        Variables of the fixed part (``by`` a factor).
    n : int
        Points along a numeric ``x``.

    Returns
    -------
    pandas.DataFrame
    """
    data = m.frame.data
    for v, what in ((x, "x"), (by, "by")):
        if v is not None and v not in data.columns:
            raise ArgumentError(f"{what}={v!r} is not a variable of the model; it uses "
                                f"{', '.join(map(str, data.columns))}")
    if by is not None and not _is_factor(data[by]):
        raise ArgumentError(f"by={by!r} must be a factor (one line per level); {by!r} is numeric: make it the x")
    col = data[x]
    xs = _levels(col) if _is_factor(col) else np.linspace(float(col.min()), float(col.max()), int(n))
    bys = _levels(data[by]) if by is not None else [None]
    rows = pd.DataFrame([(a, b) for b in bys for a in xs], columns=[x, "__by"])
    out = pd.DataFrame(index=range(len(rows)))
    for v in data.columns:
        if v == x:
            out[v] = rows[x].to_numpy()
        elif v == by:
            out[v] = rows["__by"].to_numpy()
        else:
            out[v] = _typical(data[v])
        if isinstance(data[v].dtype, pd.CategoricalDtype):
            out[v] = pd.Categorical(out[v], categories=data[v].cat.categories)
    return out


def effects(m, x: str, by: str | None = None, level: float = 0.95, groups: bool = False, data: bool = True,
            ax=None, n: int = 50, figsize=(5.5, 4.0)):
    """The model's predictions over ``x`` with their confidence band (see the module's docstring).

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.
    x : str
        The predictor along the horizontal axis: numeric (a line) or a factor (points with bars).
    by : str, optional
        A factor: one line (and band) per level.
    level : float, default 0.95
        The level of the confidence band.
    groups : bool, default False
        Also each group's own line (the first random-effects term's groups; no band).
    data : bool, default True
        Show the observations behind the lines (for a numeric ``x``).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes instead of a new figure.
    n : int, default 50
        Points along a numeric ``x``.
    figsize : tuple of float, default (5.5, 4.0)
        The size of a new figure, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (that of ``ax`` when given).

    Raises
    ------
    ArgumentError
        When ``x`` or ``by`` is not a variable of the model, or ``by`` is numeric.

    Examples
    --------
    >>> from mixedmodels.report.effect_plots import effects
    >>> fig = effects(m, "Days")
    >>> fig.axes[0].get_title()
    'Effect of Days (95% confidence band)'
    >>> effects(gm, "period").axes[0].get_ylabel()
    'predicted probability'
    """
    plt = pyplot()
    rows = reference_rows(m, x, by, n)
    glmm = getattr(m, "family", None) is not None
    kw = {"type": "response"} if glmm else {}
    pred = m.predict(rows, re_form="~0", interval="confidence", level=level, **kw)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    numeric = not _is_factor(m.frame.data[x])
    keys = [None] if by is None else list(dict.fromkeys(rows[by].tolist()))
    for i, key in enumerate(keys):
        sel = np.ones(len(rows), bool) if key is None else (rows[by] == key).to_numpy()
        color = _COLORS[i % len(_COLORS)]
        label = None if key is None else f"{by} = {key}"
        fit, lo, hi = (pred[c].to_numpy()[sel] for c in ("fit", "lwr", "upr"))
        if numeric:
            xv = rows[x].to_numpy(dtype=float)[sel]
            ax.fill_between(xv, lo, hi, color=color, alpha=0.2, lw=0)
            ax.plot(xv, fit, color=color, lw=2, label=label)
        else:
            pos = np.arange(sel.sum()) + (i - (len(keys) - 1) / 2) * 0.12
            ax.errorbar(pos, fit, yerr=[fit - lo, hi - fit], fmt="o", color=color, capsize=3, label=label)
            ax.set_xticks(np.arange(sel.sum()), [str(v) for v in rows[x][sel]])
    if groups and numeric:
        _group_lines(m, x, rows, by, keys, ax, kw)
    if data and numeric:
        y = np.asarray(getattr(m, "y", m.frame.y), dtype=float)
        ax.scatter(m.frame.data[x].to_numpy(dtype=float), y, s=10, color="#888888", alpha=0.4, lw=0, zorder=0)
    ax.set_xlabel(x)
    binomial = glmm and type(m.family).__name__ == "Binomial"
    ax.set_ylabel("predicted probability" if binomial else f"predicted {m.parsed.response}")
    ax.set_title(f"Effect of {x} ({round(100 * level)}% confidence {'band' if numeric else 'intervals'})",
                 fontsize=10)
    if by is not None:
        ax.legend(fontsize=8, frameon=False)
    return handed_back(fig)


def _group_lines(m, x, rows, by, keys, ax, kw) -> None:
    """Each level of the first random-effects term's grouping factor: its own predicted line."""
    term = m.terms[0]
    if len(term.term.factors) != 1:
        return
    g = term.term.factors[0]
    for lev in _levels(m.frame.data[g]):
        sub = rows if by is None else rows[rows[by] == keys[0]]
        nd = sub.assign(**{g: pd.Categorical([lev] * len(sub), categories=m.frame.data[g].cat.categories)
                           if isinstance(m.frame.data[g].dtype, pd.CategoricalDtype) else lev})
        f = np.asarray(m.predict(nd, **kw), dtype=float)
        ax.plot(nd[x].to_numpy(dtype=float), f, color="#888888", lw=0.7, alpha=0.6, zorder=1)


def forest(m, level: float = 0.95, intercept: bool = False, ax=None, figsize=None):
    """Each fixed effect with its Wald interval: t quantiles with the coefficient table's df where
    it has them (lmer: Satterthwaite's), normal quantiles otherwise (glmer).

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.
    level : float, default 0.95
        The level of the intervals.
    intercept : bool, default False
        Show the intercept too (it is often on another scale than the slopes).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes instead of a new figure.
    figsize : tuple of float, optional
        The size of a new figure, in inches; by default from the number of coefficients.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (that of ``ax`` when given).

    Raises
    ------
    ArgumentError
        When there is nothing to show (only an intercept, and ``intercept=False``).

    Examples
    --------
    >>> from mixedmodels.report.effect_plots import forest
    >>> fig = forest(gm, level=0.9)
    >>> fig.axes[0].get_title()
    'Fixed effects with 90% intervals'
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['period2', 'period3', 'period4']
    """
    plt = pyplot()
    tab = m.coef_table()
    if not intercept:
        tab = tab.drop(index=[i for i in tab.index if i == "(Intercept)"])
    if tab.empty:
        raise ArgumentError("no fixed effects to show (pass intercept=True to show the intercept)")
    est, se = tab["Estimate"].to_numpy(float), tab["Std. Error"].to_numpy(float)
    a = (1 + float(level)) / 2
    q = t_ppf(a, tab["df"].to_numpy(float)) if "df" in tab.columns else np.full(len(tab), norm_ppf(a))
    lo, hi = est - q * se, est + q * se
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize or (5.5, 0.45 * len(tab) + 1.4), layout="constrained")
    else:
        fig = ax.figure
    pos = np.arange(len(tab))[::-1]
    ax.errorbar(est, pos, xerr=[est - lo, hi - est], fmt="o", color=_COLORS[0], capsize=3)
    ax.axvline(0, color="#555555", lw=1, ls="--")
    ax.set_yticks(pos, [str(i) for i in tab.index])
    ax.set_xlabel("estimate" + (" (link scale)" if getattr(m, "family", None) is not None else ""))
    ax.set_title(f"Fixed effects with {round(100 * level)}% intervals", fontsize=10)
    return handed_back(fig)
