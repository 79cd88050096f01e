"""The plots people look at after fitting a mixed model (matplotlib, imported on first use).

``m.plot`` is a :class:`ModelPlots`; each method returns its matplotlib ``Figure``:

* ``groups()``: a panel per group with the data and the model's line for that group (partial
  pooling), optionally the population line (complete pooling) and the group's own least-squares
  line (no pooling): the picture of shrinkage;
* ``shrinkage()``: each group's own least-squares coefficients against the model's;
* ``ranef()``: caterpillar plot of the conditional modes with +-1.96 conditional SD;
* ``residuals()``, ``scale_location()``, ``leverage()``, ``qq()``, ``fitted()``: the usual checks;
* ``diagnostics()``: those panels on one figure (like R's ``performance::check_model``);
* ``profile()``: the likelihood profiles (zeta against each parameter) from ``m.profile()``;
* ``effects()``, ``forest()``: predictions over a predictor with their band, and the
  coefficients with their intervals (:mod:`.effect_plots`).

Single-panel methods take ``ax=`` to draw into an existing Axes.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..distributions import norm_ppf
from ..errors import ArgumentError, MixedModelError
from .diagnostic_plots import POINT as _POINT, DiagnosticPlots
from .figures import handed_back, pyplot
from .lowess import lowess  # in __all__: the smoother of the residual plots

__all__ = ["ModelPlots", "lowess"]

_COND = dict(color="#c0392b", lw=1.8)
_POP = dict(color="#555555", lw=1.2, ls="--")
_OWN = dict(color="#e08a1e", lw=1.4, ls="-.")


def _is_numeric(col: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            and not isinstance(col.dtype, pd.CategoricalDtype))


# ---------------------------------------------------------------------------------------------- plots

class ModelPlots(DiagnosticPlots):
    """Plots of a fitted model ``m``: ``m.plot.groups()``, ``m.plot.ranef()``, ...

    ``m.plot`` of an lmer or glmer fit is a ModelPlots. Every method returns its matplotlib
    ``Figure`` (released from pyplot under a notebook's inline backend, so that it shows once);
    the single-panel ones draw into ``ax=`` when given. The residual checks come from
    :class:`~mixedmodels.report.diagnostic_plots.DiagnosticPlots`.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fitted model.

    Attributes
    ----------
    m : LmerResult or GlmerResult
        The fitted model the plots show.

    Examples
    --------
    >>> m.plot
    <ModelPlots: groups(), shrinkage(), ranef(), residuals(), scale_location(), leverage(), qq(), fitted(), diagnostics(), profile(), effects(), forest(), binned()>
    >>> fig = m.plot.ranef()
    >>> type(fig).__name__, len(fig.axes)
    ('Figure', 2)
    """

    def __init__(self, m):
        self.m = m

    def __repr__(self) -> str:
        return ("<ModelPlots: groups(), shrinkage(), ranef(), residuals(), scale_location(), leverage(), qq(), fitted(), "
                "diagnostics(), profile(), effects(), forest(), binned()>")

    def _predict(self, newdata=None, re_form=None):
        kw = {"type": "response"} if getattr(self.m, "family", None) is not None else {}
        return np.asarray(self.m.predict(newdata, re_form=re_form, **kw), dtype=float)

    def _scaled_resid(self) -> np.ndarray:
        from ..postfit.leverage import residuals

        return residuals(self.m, type="pearson", scaled=True).to_numpy()

    def _default_x(self) -> str:
        from ..design.columns import variables_in

        data = self.m.frame.data
        for v in variables_in(self.m.parsed.fixed, data.columns):
            if _is_numeric(data[v]):
                return v
        for t in self.m.parsed.random:
            for v in variables_in(t.expr, data.columns):
                if _is_numeric(data[v]):
                    return v
        # no numeric predictor in the model (e.g. y ~ 1 + (1|g)): the first other numeric column
        resp = set(variables_in(self.m.parsed.response, data.columns))
        for v in data.columns:
            if v not in resp and _is_numeric(data[v]):
                return v
        raise ArgumentError("the model has no numeric predictor to put on the x axis; pass x='column'")

    # ------------------------------------------------------------------ groups
    def groups(self, groups=None, pooled: bool = False, own_fit: bool = False, ncols: int | None = None,
               x: str | None = None, group: str | None = None, points: bool = True, legend: bool = True,
               figsize=None):
        """A panel per level of ``group`` (default: the first grouping factor of the formula).

        Each panel shows the group's data and the model's conditional line for the group (partial
        pooling); ``pooled=True`` adds the population-level line (fixed effects only: complete
        pooling) and ``own_fit=True`` the group's own least-squares fit of the fixed-effects formula
        (no pooling). The distance between the last two and the model's line is the shrinkage.
        Where ``x`` is the only variable of the model, the lines are drawn on a grid of 40 points;
        otherwise through the fitted values of the group's rows.

        Parameters
        ----------
        groups : str or list of str, optional
            The levels to show, in that order; default all.
        pooled : bool, default False
            Add the population-level line (``re_form = ~0``).
        own_fit : bool, default False
            Add each group's own least-squares fit of the fixed-effects formula.
        ncols : int, optional
            Panels per row; default ``min(number of panels, 6)``.
        x : str, optional
            The predictor on the x axis; default the first numeric variable of the fixed part (then
            of the random part).
        group : str, optional
            The grouping factor; default the first of the formula.
        points : bool, default True
            Draw the observations.
        legend : bool, default True
            A legend below the panels (when ``pooled`` or ``own_fit`` adds lines).
        figsize : tuple of float, optional
            The figure's size in inches; by default from the grid of panels.

        Returns
        -------
        matplotlib.figure.Figure
            One panel per group shown.

        Raises
        ------
        ArgumentError
            For an unknown level, grouping factor or ``x``, or a model without a numeric predictor
            (pass ``x=``).

        Examples
        --------
        >>> fig = m.plot.groups(groups=["308", "309"], pooled=True, own_fit=True)
        >>> len(fig.axes)
        2
        """
        from ..design.columns import variables_in

        m = self.m
        data = m.frame.data
        y = self._y()
        term = self._group_term(group)
        x = x or self._default_x()
        if x not in data.columns:
            raise ArgumentError(f"x={x!r} is not a column of the data")
        xv = pd.to_numeric(data[x], errors="coerce").to_numpy(dtype=float)
        levels = list(term.levels)
        show = _shown_levels(levels, groups, term.group)
        # lines on a grid when x is the only variable of the model (besides grouping factors)
        used = set(variables_in(m.parsed.fixed, data.columns))
        for t in m.parsed.random:
            used |= set(variables_in(t.expr, data.columns))
        grid_ok = used <= {x} and not m.parsed.offsets
        X = np.asarray(m.fixed.X, dtype=float)
        pop_fit = self._predict(re_form="~0") if pooled else None
        fit = self._fitted()
        plt = pyplot()
        n = len(show)
        ncols = int(ncols or min(n, 6))
        nrows = math.ceil(n / ncols)
        figsize = figsize or (2.3 * ncols + 0.6, 2.1 * nrows + 0.8)
        fig, axes = plt.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False, figsize=figsize,
                                 layout="constrained")
        flat = axes.ravel()
        for extra in flat[n:]:
            fig.delaxes(extra)
        for ax, j in zip(flat, show):
            rows = np.flatnonzero(term.codes == j)
            xs, ys = xv[rows], y[rows]
            if points:
                ax.scatter(xs, ys, **_POINT)
            order = rows[np.argsort(xs, kind="mergesort")]
            if grid_ok and np.isfinite(xs).any():
                g = np.linspace(np.nanmin(xs), np.nanmax(xs), 40)
                nd = pd.DataFrame({x: g})
                first = data.iloc[rows[0]]
                for f in term.term.factors:
                    nd[f] = pd.Series([first[f]] * len(g), dtype=data[f].dtype)
                cond_line = (g, self._predict(nd))
                pop_line = (g, self._predict(nd, re_form="~0")) if pooled else None
                Xg = None
                if own_fit:
                    from ..postfit.predict import new_design

                    Xg = new_design(m, nd, []).X
            else:
                g = xv[order]
                cond_line = (g, fit[order])
                pop_line = (g, pop_fit[order]) if pooled else None
                Xg = X[order] if own_fit else None
            if pooled:
                ax.plot(*pop_line, label="population (complete pooling)", **_POP)
            if own_fit and rows.size >= 2:
                coef, *_ = np.linalg.lstsq(X[rows], y[rows], rcond=None)
                ax.plot(cond_line[0], Xg @ coef, label="own fit (no pooling)", **_OWN)
            ax.plot(*cond_line, label="mixed model (partial pooling)", **_COND)
            ax.set_title(str(levels[j]), fontsize=9, pad=2)
            ax.tick_params(labelsize=8)
        _label_panels(fig, flat[:n], ncols, x, m.parsed.response, legend and (pooled or own_fit))
        fig.suptitle(f"{m.parsed.response} by {x}, one panel per {term.group}", fontsize=11)
        return handed_back(fig)

    def _group_term(self, group):
        m = self.m
        if group is None:
            group = m.parsed.random[0].group
        hits = [t for t in m.terms if t.group == group]
        if not hits:
            raise ArgumentError(f"{group!r} is not a grouping factor of the model; it has "
                                f"{', '.join(dict.fromkeys(t.group for t in m.terms))}")
        return hits[0]

    # ------------------------------------------------------------------ shrinkage
    def shrinkage(self, group: str | None = None, ax=None, arrows: bool = True, figsize=(6.2, 5.0)):
        """Each group's coefficients: its own least-squares fit (no pooling) against the mixed model's
        (fixed effect + conditional mode: partial pooling), with the population estimate.

        Uses the first two columns of the group's random-effects term (intercept and slope) as the
        axes; with one column (a random intercept) the groups are stacked on the y axis. Arrows
        point from the own fit to the mixed model's estimate.

        The own fit is the same model without pooling: per group, least squares over the term's
        columns, the other fixed effects held at their estimates. For ``Reaction ~ Days + (1 |
        Subject)`` that is ``mean(y - beta_Days Days)``, the intercept under the common slope.

        Parameters
        ----------
        group : str, optional
            The grouping factor; default the first of the formula.
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.
        arrows : bool, default True
            Arrows from each group's own fit to the mixed model's estimate.
        figsize : tuple of float, default (6.2, 5.0)
            The size of a new figure, in inches.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Raises
        ------
        ArgumentError
            For an unknown grouping factor, or random-effects columns that are not fixed effects.

        Examples
        --------
        >>> fig = m.plot.shrinkage()
        >>> fig.axes[0].get_title()
        'Shrinkage of the Subject estimates'
        """
        m = self.m
        term = self._group_term(group)
        k = term.p
        names = list(term.cnames[:2])
        fixed_names = list(m.fixed.names)
        missing = [c for c in names if c not in fixed_names]
        if missing:
            raise ArgumentError(f"the random-effects column(s) {missing} of {term.group} are not fixed effects, "
                                "so there is no own fit to compare them with")
        idx = [fixed_names.index(c) for c in names]
        X = np.asarray(m.fixed.X, dtype=float)
        y = self._y()
        b = m.b[m.terms.index(term)][:, :2]
        beta = np.asarray(m.fixef, dtype=float)
        mixed = beta[idx][None, :] + b
        # the term's columns are fitted per group; the other fixed effects stay at their estimates
        fit_cols = [fixed_names.index(c) for c in term.cnames if c in fixed_names]
        held = [i for i in range(len(fixed_names)) if i not in fit_cols]
        y_own = y - X[:, held] @ beta[held] if held else y
        offset = getattr(getattr(m, "frame", None), "offset", None)
        if offset is not None:
            y_own = y_own - np.asarray(offset, dtype=float)
        at = [fit_cols.index(i) for i in idx]
        own = np.full_like(mixed, np.nan)
        for j in range(term.nlev):
            rows = np.flatnonzero(term.codes == j)
            if rows.size >= len(fit_cols):
                coef, *_ = np.linalg.lstsq(X[np.ix_(rows, fit_cols)], y_own[rows], rcond=None)
                own[j] = coef[at]
        fig, ax = self._new(ax, figsize=figsize)
        if k == 1 or len(names) == 1:
            order = np.argsort(np.where(np.isnan(own[:, 0]), mixed[:, 0], own[:, 0]))
            pos = np.arange(term.nlev)
            o, mx = own[order, 0], mixed[order, 0]
            if arrows:
                for yy, a0, a1 in zip(pos, o, mx):
                    if np.isfinite(a0):
                        ax.annotate("", xy=(a1, yy), xytext=(a0, yy),
                                    arrowprops=dict(arrowstyle="->", color="#888888", lw=0.9))
            ax.scatter(o, pos, color=_OWN["color"], s=22, label="own fit (no pooling)", zorder=3)
            ax.scatter(mx, pos, color=_COND["color"], s=22, label="mixed model (partial pooling)", zorder=3)
            ax.axvline(beta[idx[0]], color="#333333", lw=1, ls="--", label="population")
            if term.nlev <= 60:
                ax.set_yticks(pos, [term.levels[i] for i in order], fontsize=7)
            ax.set_xlabel(names[0])
            ax.set_ylabel(term.group)
        else:
            if arrows:
                for (a0, b0), (a1, b1) in zip(own, mixed):
                    if np.isfinite(a0) and np.isfinite(b0):
                        ax.annotate("", xy=(a1, b1), xytext=(a0, b0),
                                    arrowprops=dict(arrowstyle="->", color="#888888", lw=0.9))
            ax.scatter(own[:, 0], own[:, 1], color=_OWN["color"], s=22, label="own fit (no pooling)", zorder=3)
            ax.scatter(mixed[:, 0], mixed[:, 1], color=_COND["color"], s=22, label="mixed model (partial pooling)",
                       zorder=3)
            ax.scatter([beta[idx[0]]], [beta[idx[1]]], marker="X", s=90, color="#333333", label="population",
                       zorder=4)
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
        ax.set_title(f"Shrinkage of the {term.group} estimates", fontsize=11)
        ax.legend(fontsize=8, frameon=False)
        return handed_back(fig)

    # ------------------------------------------------------------------ random effects
    def ranef(self, term: str | None = None, ax=None, level: float = 0.95, figsize=None):
        """Caterpillar plot: conditional modes with +-z conditional SD, sorted, a panel per column.

        The values are those of ``m.ranef_table()`` (lme4's ``as.data.frame(ranef(m, condVar =
        TRUE))``), with z the normal quantile of ``level`` (1.96 for 0.95).

        Parameters
        ----------
        term : str, optional
            A grouping factor to show; default all.
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes; only when there is one panel.
        level : float, default 0.95
            The level of the intervals.
        figsize : tuple of float, optional
            The size of a new figure, in inches; by default from the number of levels and panels.

        Returns
        -------
        matplotlib.figure.Figure
            One panel per (grouping factor, random-effects column).

        Raises
        ------
        ArgumentError
            For an unknown grouping factor, or ``ax`` with more than one panel.

        Examples
        --------
        >>> fig = m.plot.ranef()
        >>> [a.get_title() for a in fig.axes]
        ['Subject: (Intercept)', 'Subject: Days']
        """
        tab = self.m.ranef_table()
        if term is not None:
            if term not in set(tab["grpvar"]):
                raise ArgumentError(f"{term!r} is not a grouping factor of the model; it has "
                                    f"{', '.join(dict.fromkeys(tab['grpvar']))}")
            tab = tab[tab["grpvar"] == term]
        panels = list(dict.fromkeys(zip(tab["grpvar"], tab["term"])))
        z = norm_ppf(0.5 + level / 2)
        if ax is not None:
            if len(panels) != 1:
                raise ArgumentError(f"ax= takes one panel, but there are {len(panels)}; pick a term=, or leave ax out")
            fig, axes = ax.figure, [ax]
        else:
            plt = pyplot()
            nlev = max(int(((tab["grpvar"] == g) & (tab["term"] == t)).sum()) for g, t in panels)
            height = min(0.2 * nlev + 1.2, 14)
            figsize = figsize or (3.4 * len(panels) + 0.6, height)
            fig, axs = plt.subplots(1, len(panels), figsize=figsize, squeeze=False, layout="constrained")
            axes = list(axs.ravel())
        for a, (g, t) in zip(axes, panels):
            sub = tab[(tab["grpvar"] == g) & (tab["term"] == t)]
            order = np.argsort(sub["condval"].to_numpy(), kind="mergesort")
            val = sub["condval"].to_numpy()[order]
            sd = sub["condsd"].to_numpy()[order]
            labs = sub["grp"].astype(str).to_numpy()[order]
            pos = np.arange(len(val))
            a.axvline(0, color="#999999", lw=0.8)
            a.errorbar(val, pos, xerr=z * sd, fmt="o", ms=3.5, color="#3b6ea8", ecolor="#8aa9cf", elinewidth=1.2,
                       capsize=0)
            if len(pos) <= 60:
                a.set_yticks(pos, labs, fontsize=7)
            else:
                a.set_yticks([])
            a.set_ylim(-0.8, len(pos) - 0.2)
            a.set_title(f"{g}: {t}", fontsize=10)
            a.set_xlabel("conditional mode")
        return handed_back(fig)

    # ------------------------------------------------------------------ profile
    def effects(self, x: str, by: str | None = None, level: float = 0.95, groups: bool = False, *,
                data: bool = True, ax=None, n: int = 50, figsize=(5.5, 4.0)):
        """Population-level predictions over ``x`` with their confidence band, one line per level of
        ``by`` (:func:`~mixedmodels.report.effect_plots.effects`, ggeffects' ``ggpredict``).

        Parameters
        ----------
        x : str
            The predictor along the horizontal axis: numeric (a line and band) or a factor (points
            with bars).
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

        Examples
        --------
        >>> fig = m.plot.effects("Days")
        >>> fig.axes[0].get_title()
        'Effect of Days (95% confidence band)'
        """
        from .effect_plots import effects

        return effects(self.m, x, by=by, level=level, groups=groups, data=data, ax=ax, n=n, figsize=figsize)

    def forest(self, level: float = 0.95, intercept: bool = False, *, ax=None, figsize=None):
        """The fixed effects with their intervals (:func:`~mixedmodels.report.effect_plots.forest`).

        Parameters
        ----------
        level : float, default 0.95
            The level of the Wald intervals (t with the coefficient table's df for lmer, normal for
            glmer).
        intercept : bool, default False
            Show the intercept too.
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.
        figsize : tuple of float, optional
            The size of a new figure, in inches; by default from the number of coefficients.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Examples
        --------
        >>> fig = m.plot.forest()
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ['Days']
        """
        from .effect_plots import forest

        return forest(self.m, level=level, intercept=intercept, ax=ax, figsize=figsize)

    def profile(self, ncols: int | None = None, level: float = 0.95, prof=None, **kwargs):
        """Profile zeta against each parameter (lme4's ``xyplot(profile(m))``), from ``m.profile()``.

        zeta is the signed square root of the deviance's increase, so that the dashed lines at
        +-z (the normal quantile of ``level``) cut the profile at the profile interval's ends.

        Parameters
        ----------
        ncols : int, optional
            Panels per row; default ``min(number of parameters, 3)``.
        level : float, default 0.95
            The level whose cutoffs +-z are drawn.
        prof : pandas.DataFrame, optional
            An already computed profile (long: columns ``.par``, ``.zeta`` and ``.focal``/``value``;
            or lme4's wide layout with one column per parameter); by default ``m.profile(**kwargs)``.
        **kwargs
            Passed to ``m.profile()`` when ``prof`` is None (e.g. ``which=``).

        Returns
        -------
        matplotlib.figure.Figure
            One panel per parameter.

        Raises
        ------
        MixedModelError
            When the profile cannot be computed or read.

        Examples
        --------
        >>> import pandas as pd
        >>> prof = pd.DataFrame({".par": ["sigma"] * 3, ".zeta": [-1.0, 0.0, 1.0], ".focal": [20.0, 25.0, 31.0]})
        >>> fig = m.plot.profile(prof=prof)
        >>> [a.get_title() for a in fig.axes]
        ['sigma']
        """
        if prof is None:
            try:
                prof = self.m.profile(**kwargs)
            except (ImportError, AttributeError, NotImplementedError) as e:
                raise MixedModelError(f"profile plots need m.profile(), which is not available here ({e})") from None
        if not isinstance(prof, pd.DataFrame):
            raise MixedModelError(f"m.profile() returned {type(prof).__name__}, not a DataFrame")
        cols = set(prof.columns)
        zc = next((c for c in (".zeta", "zeta") if c in cols), None)
        pc = next((c for c in (".par", "par", "parameter", "param") if c in cols), None)
        if zc is None or pc is None:
            raise MixedModelError(f"cannot read the profile: expected columns .zeta and .par, got {list(prof.columns)}")
        vc = next((c for c in (".focal", "focal", "value", "estimate") if c in cols), None)
        params = list(dict.fromkeys(prof[pc]))
        plt = pyplot()
        k = len(params)
        ncols = int(ncols or min(k, 3))
        nrows = math.ceil(k / ncols)
        fig, axs = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.9 * nrows), squeeze=False,
                                layout="constrained")
        flat = axs.ravel()
        for extra in flat[k:]:
            fig.delaxes(extra)
        zq = norm_ppf(0.5 + level / 2)
        for a, par in zip(flat, params):
            sub = prof[prof[pc] == par]
            xcol = vc if vc is not None else (par if par in sub.columns else None)
            if xcol is None:
                raise MixedModelError(f"cannot find the values of {par!r} in the profile")
            xv = pd.to_numeric(sub[xcol], errors="coerce").to_numpy(dtype=float)
            zv = pd.to_numeric(sub[zc], errors="coerce").to_numpy(dtype=float)
            o = np.argsort(xv)
            a.plot(xv[o], zv[o], color="#3b6ea8", lw=1.5, marker="o", ms=2.5)
            for zz in (-zq, zq):
                a.axhline(zz, color="#999999", lw=0.8, ls="--")
            a.axhline(0, color="#cccccc", lw=0.6)
            a.set_title(str(par), fontsize=9)
            a.set_ylabel(r"$\zeta$")
        return handed_back(fig)


def _shown_levels(levels: list, groups, group_name: str) -> list[int]:
    """The indices of the levels ModelPlots.groups shows: those asked for, in that order, or all."""
    if groups is not None:
        wanted = [str(g) for g in (groups if isinstance(groups, (list, tuple, np.ndarray, pd.Index)) else [groups])]
        unknown = [g for g in wanted if g not in levels]
        if unknown:
            raise ArgumentError(f"unknown level(s) {unknown} of {group_name}; levels: {', '.join(levels[:20])}")
        show = [levels.index(g) for g in wanted]
    else:
        show = list(range(len(levels)))
    if not show:
        raise ArgumentError("no groups to show")
    return show


def _label_panels(fig, panels, ncols: int, x: str, response: str, legend: bool) -> None:
    """Axis labels on the outer panels of a grid, and one legend below it for all panels."""
    n = len(panels)
    for i, ax in enumerate(panels):
        if i + ncols >= n:  # no panel below: x label and tick labels
            ax.set_xlabel(x, fontsize=9)
            ax.xaxis.set_tick_params(labelbottom=True)
        if i % ncols == 0:
            ax.set_ylabel(response, fontsize=9)
    if legend:
        h, lab = panels[0].get_legend_handles_labels()
        keep = [i for i in range(len(lab)) if lab[i]]
        fig.legend([h[i] for i in keep], [lab[i] for i in keep], loc="outside lower center",
                   ncols=len(keep), fontsize=9, frameon=False)
