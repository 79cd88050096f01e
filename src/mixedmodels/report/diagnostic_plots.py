"""The residual checks of a fitted model: the diagnostic plots of :class:`~mixedmodels.report.plots.ModelPlots`.

:class:`DiagnosticPlots` draws residuals against fitted values, the scale-location plot, scaled
residuals against leverage, observed against fitted values, normal QQ plots of the scaled residuals
and of the random effects, the binned residuals of a Bernoulli GLMM, and all of them on one figure
(``diagnostics()``, like R's ``performance::check_model``). Residuals are Pearson residuals; scaled
ones are divided by sigma (lme4's ``residuals(m, type = "pearson", scaled = TRUE)``).
"""
from __future__ import annotations

import math

import numpy as np

from ..distributions import norm_ppf
from ..errors import MixedModelError
from .figures import handed_back, pyplot
from .lowess import lowess

__all__ = ["DiagnosticPlots", "POINT", "SMOOTH"]

#: the style of data points and of lowess smoothers, shared with ModelPlots
POINT = dict(s=14, color="#3b6ea8", alpha=0.75, linewidths=0)
SMOOTH = dict(color="#c0392b", lw=1.5)


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


class DiagnosticPlots:
    """Mixin of :class:`~mixedmodels.report.plots.ModelPlots`: the residual checks of the fit ``self.m``.

    Examples
    --------
    >>> fig = m.plot.diagnostics()
    >>> len(fig.axes)
    6
    """

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

    # ------------------------------------------------------------------ residual checks
    def residuals(self, ax=None, smooth: bool = True):
        """Pearson residuals against fitted values with a lowess smoother (linearity, outliers).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.
        smooth : bool, default True
            Add a lowess smoother (R's ``lowess``, f = 2/3).

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Examples
        --------
        >>> fig = m.plot.residuals()
        >>> fig.axes[0].get_title()
        'Residuals vs fitted'
        """
        from ..postfit.leverage import residuals

        fig, ax = self._new(ax)
        f = self._fitted()
        r = residuals(self.m, type="pearson").to_numpy()
        ax.axhline(0, color="#999999", lw=0.8)
        ax.scatter(f, r, **POINT)
        if smooth:
            ax.plot(*lowess(f, r), **SMOOTH)
        ax.set_xlabel("fitted values")
        ax.set_ylabel("residuals")
        ax.set_title("Residuals vs fitted", fontsize=10)
        return handed_back(fig)

    def binned(self, ax=None, bins: int | None = None):
        """Binned residuals of a GLMM (:func:`~mixedmodels.report.binned.binned_plot`; the residual
        plot for a Bernoulli response).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.
        bins : int, optional
            The number of bins; default as arm's ``binnedplot`` (sqrt(n) for n >= 100).

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Examples
        --------
        >>> fig = gm.plot.binned()
        >>> fig.axes[0].get_xlabel()
        'average fitted probability'
        """
        from .binned import binned_plot

        return binned_plot(self.m, ax=ax, bins=bins)

    def scale_location(self, ax=None, smooth: bool = True):
        """sqrt(|scaled residuals|) against fitted values (constant variance?).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.
        smooth : bool, default True
            Add a lowess smoother.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Examples
        --------
        >>> fig = m.plot.scale_location()
        >>> fig.axes[0].get_title()
        'Scale-location'
        """
        fig, ax = self._new(ax)
        f = self._fitted()
        r = np.sqrt(np.abs(self._scaled_resid()))
        ax.scatter(f, r, **POINT)
        if smooth:
            ax.plot(*lowess(f, r), **SMOOTH)
        ax.set_xlabel("fitted values")
        ax.set_ylabel(r"$\sqrt{|\mathrm{scaled\ residuals}|}$")
        ax.set_title("Scale-location", fontsize=10)
        return handed_back(fig)

    def leverage(self, ax=None, label: int = 3):
        """Scaled residuals against leverage (hat values); the ``label`` largest Cook's distances named.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.
        label : int, default 3
            How many points with the largest Cook's distance to name by their row label (0: none).

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Raises
        ------
        MixedModelError
            Where the model has no hat values.

        Examples
        --------
        >>> fig = m.plot.leverage()
        >>> fig.axes[0].get_xlabel()
        'leverage (hat values)'
        """
        from ..postfit.influence import cooks_distance
        from ..postfit.leverage import hatvalues

        fig, ax = self._new(ax)
        h = hatvalues(self.m)
        r = self._scaled_resid()
        ax.axhline(0, color="#999999", lw=0.8)
        ax.scatter(h, r, **POINT)
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
        """Observed against fitted values, with the identity line.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw into this Axes instead of a new figure.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Examples
        --------
        >>> fig = m.plot.fitted()
        >>> fig.axes[0].get_ylabel()
        'observed Reaction'
        """
        fig, ax = self._new(ax)
        f = self._fitted()
        y = self._y()
        ax.scatter(f, y, **POINT)
        lo, hi = np.nanmin([f.min(), y.min()]), np.nanmax([f.max(), y.max()])
        ax.plot([lo, hi], [lo, hi], color="#555555", lw=1, ls="--")
        ax.set_xlabel("fitted values")
        ax.set_ylabel(f"observed {self.m.parsed.response}")
        ax.set_title("Observed vs fitted", fontsize=10)
        return handed_back(fig)

    def qq(self, ax=None, random: bool = True):
        """Normal QQ plots: scaled residuals, then each random effect's conditional modes.

        Sample quantiles against R's ``ppoints`` normal quantiles, with R's ``qqline`` through the
        quartiles.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Draw only the residuals' panel, into this Axes.
        random : bool, default True
            Add a panel per random-effects column.

        Returns
        -------
        matplotlib.figure.Figure
            The figure (that of ``ax`` when given).

        Examples
        --------
        >>> fig = m.plot.qq()
        >>> [a.get_title() for a in fig.axes]
        ['Scaled residuals', 'Random effects Subject: (Intercept)', 'Random effects Subject: Days']
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
        the random effects, leverage, observed vs fitted (like ``performance::check_model``).

        A 0/1 response gets the binned residuals in place of residuals vs fitted; a model without
        hat values a note in the leverage panel.

        Parameters
        ----------
        figsize : tuple of float, default (12, 7.5)
            The figure's size in inches.

        Returns
        -------
        matplotlib.figure.Figure
            Six panels, two rows of three.

        Examples
        --------
        >>> fig = m.plot.diagnostics()
        >>> len(fig.axes)
        6
        """
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
