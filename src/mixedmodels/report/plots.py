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
from .figures import handed_back, pyplot
from .lowess import lowess

__all__ = ["ModelPlots", "lowess"]

_POINT = dict(s=14, color="#3b6ea8", alpha=0.75, linewidths=0)
_COND = dict(color="#c0392b", lw=1.8)
_POP = dict(color="#555555", lw=1.2, ls="--")
_OWN = dict(color="#e08a1e", lw=1.4, ls="-.")
_SMOOTH = dict(color="#c0392b", lw=1.5)


def _ppoints(n: int) -> np.ndarray:
    """R's ppoints: (i - a) / (n + 1 - 2a), a = 3/8 for n <= 10, else 1/2."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def _qq_panel(ax, values, title, color="#3b6ea8", label=None, line="quartiles"):

    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    q = norm_ppf(_ppoints(v.size))
    ax.scatter(q, v, s=14, color=color, alpha=0.8, linewidths=0, label=label)
    if v.size >= 2 and line == "quartiles":
        # R's qqline: through the first and third quartiles
        y1, y2 = np.quantile(v, [0.25, 0.75])
        x1, x2 = norm_ppf([0.25, 0.75])
        slope = (y2 - y1) / (x2 - x1)
        xs = np.array([q[0], q[-1]])
        ax.plot(xs, y1 + slope * (xs - x1), color="#555555", lw=1, ls="--")
    elif line == "identity" and v.size:
        lim = max(abs(q[0]), abs(q[-1]))
        ax.plot([-lim, lim], [-lim, lim], color="#555555", lw=1, ls="--")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("normal quantiles")
    ax.set_ylabel("sample quantiles")


def _is_numeric(col: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            and not isinstance(col.dtype, pd.CategoricalDtype))


# ---------------------------------------------------------------------------------------------- plots

class ModelPlots:
    """Plots of a fitted model ``m``; ``m.plot.groups()``, ``m.plot.ranef()``, ..."""

    def __init__(self, m):
        self.m = m

    def __repr__(self) -> str:
        return ("<ModelPlots: groups(), shrinkage(), ranef(), residuals(), scale_location(), leverage(), qq(), fitted(), "
                "diagnostics(), profile(), effects(), forest(), binned()>")

    # ------------------------------------------------------------------ helpers
    def _new(self, ax=None, figsize=(5.0, 4.0)):
        if ax is not None:
            return ax.figure, ax
        plt = pyplot()
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax

    def _fitted(self) -> np.ndarray:
        return np.asarray(self.m.fitted, dtype=float)

    def _y(self) -> np.ndarray:
        """The response on the scale of the fitted values (proportions for a binomial GLMM)."""
        y = getattr(self.m, "y", None)
        if y is None:
            y = self.m.frame.y
        return np.asarray(y, dtype=float)

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
        ``groups`` picks levels to show (in that order); ``x`` the predictor on the x axis.
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

        ``term`` selects a grouping factor (default: all). ``ax`` only when there is one panel.
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

    # ------------------------------------------------------------------ residual checks
    def residuals(self, ax=None, smooth: bool = True):
        """Residuals against fitted values with a lowess smoother (linearity, outliers)."""
        from ..postfit.leverage import residuals

        fig, ax = self._new(ax)
        f = self._fitted()
        r = residuals(self.m, type="pearson").to_numpy()
        ax.axhline(0, color="#999999", lw=0.8)
        ax.scatter(f, r, **_POINT)
        if smooth:
            ax.plot(*lowess(f, r), **_SMOOTH)
        ax.set_xlabel("fitted values")
        ax.set_ylabel("residuals")
        ax.set_title("Residuals vs fitted", fontsize=10)
        return handed_back(fig)

    def binned(self, ax=None, bins: int | None = None):
        """Binned residuals of a GLMM (:func:`~mixedmodels.report.binned.binned_plot`; the residual
        plot for a Bernoulli response)."""
        from .binned import binned_plot

        return binned_plot(self.m, ax=ax, bins=bins)

    def scale_location(self, ax=None, smooth: bool = True):
        """sqrt(|scaled residuals|) against fitted values (constant variance?)."""
        fig, ax = self._new(ax)
        f = self._fitted()
        r = np.sqrt(np.abs(self._scaled_resid()))
        ax.scatter(f, r, **_POINT)
        if smooth:
            ax.plot(*lowess(f, r), **_SMOOTH)
        ax.set_xlabel("fitted values")
        ax.set_ylabel(r"$\sqrt{|\mathrm{scaled\ residuals}|}$")
        ax.set_title("Scale-location", fontsize=10)
        return handed_back(fig)

    def leverage(self, ax=None, label: int = 3):
        """Scaled residuals against leverage (hat values); the ``label`` largest Cook's distances named."""
        from ..postfit.influence import cooks_distance
        from ..postfit.leverage import hatvalues

        fig, ax = self._new(ax)
        h = hatvalues(self.m)
        r = self._scaled_resid()
        ax.axhline(0, color="#999999", lw=0.8)
        ax.scatter(h, r, **_POINT)
        if label:
            d = cooks_distance(self.m, method="hat").to_numpy()
            idx = self.m.frame.data.index
            for i in np.argsort(np.nan_to_num(d, nan=-1))[::-1][:label]:
                ax.annotate(str(idx[i]), (h[i], r[i]), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax.set_xlabel("leverage (hat values)")
        ax.set_ylabel("scaled residuals")
        ax.set_title("Influential observations", fontsize=10)
        return handed_back(fig)

    def fitted(self, ax=None):
        """Observed against fitted values, with the identity line."""
        fig, ax = self._new(ax)
        f = self._fitted()
        y = self._y()
        ax.scatter(f, y, **_POINT)
        lo, hi = np.nanmin([f.min(), y.min()]), np.nanmax([f.max(), y.max()])
        ax.plot([lo, hi], [lo, hi], color="#555555", lw=1, ls="--")
        ax.set_xlabel("fitted values")
        ax.set_ylabel(f"observed {self.m.parsed.response}")
        ax.set_title("Observed vs fitted", fontsize=10)
        return handed_back(fig)

    def qq(self, ax=None, random: bool = True):
        """Normal QQ plots: scaled residuals, then each random effect's conditional modes.

        With ``ax=`` only the residuals' panel is drawn there.
        """
        if ax is not None:
            _qq_panel(ax, self._scaled_resid(), "Normal QQ: scaled residuals")
            return ax.figure
        tab = self.m.ranef_table() if random else None
        panels = [] if tab is None else list(dict.fromkeys(zip(tab["grpvar"], tab["term"])))
        plt = pyplot()
        k = 1 + len(panels)
        ncols = min(k, 3)
        nrows = math.ceil(k / ncols)
        fig, axs = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.3 * nrows), squeeze=False,
                                layout="constrained")
        flat = axs.ravel()
        for extra in flat[k:]:
            fig.delaxes(extra)
        _qq_panel(flat[0], self._scaled_resid(), "Scaled residuals")
        for a, (g, t) in zip(flat[1:], panels):
            sub = tab[(tab["grpvar"] == g) & (tab["term"] == t)]
            _qq_panel(a, sub["condval"].to_numpy(), f"Random effects {g}: {t}")
        return handed_back(fig)

    def _qq_random_panel(self, ax):
        """All random effects on one QQ panel, each column standardized (mean 0, SD 1)."""
        tab = self.m.ranef_table()
        colors = ["#3b6ea8", "#c0392b", "#27a060", "#8e44ad", "#d68910", "#16a085"]
        for i, ((g, t), sub) in enumerate(tab.groupby(["grpvar", "term"], sort=False)):
            v = sub["condval"].to_numpy()
            s = v.std(ddof=1) if v.size > 1 else 0.0
            v = (v - v.mean()) / s if s > 0 else v * 0
            _qq_panel(ax, v, "Normal QQ: random effects", color=colors[i % len(colors)],
                      label=f"{g}: {t}", line=None)
        lim = ax.get_xlim()
        ax.plot(lim, lim, color="#555555", lw=1, ls="--")
        ax.set_ylabel("standardized conditional modes")
        ax.legend(fontsize=7, frameon=False)

    def diagnostics(self, figsize=(12, 7.5)):
        """One figure with the checks: residuals vs fitted, scale-location, QQ of residuals and of
        the random effects, leverage, observed vs fitted (like ``performance::check_model``)."""
        plt = pyplot()
        fig, axs = plt.subplots(2, 3, figsize=figsize, layout="constrained")
        from .binned import is_bernoulli

        # a 0/1 response's raw residuals are two curves: binned residuals instead (arm's binnedplot)
        if is_bernoulli(self.m):
            self.binned(ax=axs[0, 0])
        else:
            self.residuals(ax=axs[0, 0])
        self.scale_location(ax=axs[0, 1])
        try:
            self.leverage(ax=axs[0, 2])
        except MixedModelError as e:  # e.g. no hat values for a GLMM
            axs[0, 2].text(0.5, 0.5, f"leverage not available:\n{e}", ha="center", va="center", wrap=True,
                           fontsize=8, transform=axs[0, 2].transAxes)
            axs[0, 2].set_axis_off()
        self.qq(ax=axs[1, 0])
        self._qq_random_panel(axs[1, 1])
        self.fitted(ax=axs[1, 2])
        fig.suptitle(f"Model diagnostics: {self.m.formula}", fontsize=11)
        return handed_back(fig)

    # ------------------------------------------------------------------ profile
    def effects(self, x: str, by: str | None = None, level: float = 0.95, groups: bool = False, **kwargs):
        """Population-level predictions over ``x`` with their confidence band, one line per level of
        ``by`` (:func:`~mixedmodels.report.effect_plots.effects`)."""
        from .effect_plots import effects

        return effects(self.m, x, by=by, level=level, groups=groups, **kwargs)

    def forest(self, level: float = 0.95, intercept: bool = False, **kwargs):
        """The fixed effects with their intervals (:func:`~mixedmodels.report.effect_plots.forest`)."""
        from .effect_plots import forest

        return forest(self.m, level=level, intercept=intercept, **kwargs)

    def profile(self, ncols: int | None = None, level: float = 0.95, prof=None, **kwargs):
        """Profile zeta against each parameter (lme4's ``xyplot(profile(m))``), from ``m.profile()``.

        ``prof`` takes an already computed profile DataFrame (long: columns ``.par``, ``.zeta`` and
        ``.focal``/``value``; or lme4's wide layout with one column per parameter).
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
