"""The binned residual plot of a Bernoulli GLMM (Gelman and Hill's ``arm::binnedplot``).

With a 0/1 response every raw residual is ``-mu`` or ``1 - mu``: a plot of them against the
fitted values shows two curves and nothing else. Binned, they show what a residual plot should:
the rows sorted by fitted value and cut into bins of equal size (``floor(sqrt(n))`` bins for
n >= 100, 10 for 10 < n < 100, n/2 below, as arm), each bin's average response residual
``y - mu`` against its average fitted value, and +-2 standard errors of a bin's average
(``2 sd / sqrt(n_bin)``): about 95% of the points should fall inside when the model fits.
"""
from __future__ import annotations

import numpy as np

from .figures import handed_back, pyplot

__all__ = ["is_bernoulli", "binned_residuals", "binned_plot"]


def is_bernoulli(m) -> bool:
    """A binomial GLMM of a 0/1 response with one trial per row."""
    if type(getattr(m, "family", None)).__name__ != "Binomial":
        return False
    y = np.asarray(getattr(m, "y", m.frame.y), dtype=float)
    w = getattr(m.model, "ntrials", None)
    return bool(np.all((y == 0) | (y == 1)) and (w is None or np.all(np.asarray(w) == 1)))


def binned_residuals(fitted: np.ndarray, resid: np.ndarray, bins: int | None = None):
    """(mean fitted, mean residual, 2 SE) of each bin (see the module's docstring)."""
    n = len(fitted)
    if bins is None:
        bins = int(np.floor(np.sqrt(n))) if n >= 100 else (10 if n > 10 else max(1, n // 2))
    order = np.argsort(fitted, kind="stable")
    parts = np.array_split(order, bins)
    xbar = np.array([fitted[p].mean() for p in parts])
    ybar = np.array([resid[p].mean() for p in parts])
    se2 = np.array([2 * resid[p].std(ddof=1) / np.sqrt(len(p)) if len(p) > 1 else np.nan for p in parts])
    return xbar, ybar, se2


def binned_plot(m, ax=None, bins: int | None = None, figsize=(5.0, 4.0)):
    """The binned residual plot of a GLMM (response residuals ``y - mu``).

    Parameters
    ----------
    m : GlmerResult
        The fit (any model with ``fitted`` and a response; meant for a Bernoulli GLMM).
    ax : matplotlib.axes.Axes, optional
        Draw into this Axes instead of a new figure.
    bins : int, optional
        Number of bins; default as arm's ``binnedplot`` (see the module's docstring).
    figsize : tuple of float, default (5.0, 4.0)
        The size of a new figure, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (that of ``ax`` when given); the title says which share of the bins lies
        within +-2 SE.

    Examples
    --------
    >>> from mixedmodels.report.binned import binned_plot
    >>> fig = binned_plot(gm, bins=8)
    >>> fig.axes[0].get_title()
    'Binned residuals (75% of bins within 2 SE)'
    """
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    f = np.asarray(m.fitted, dtype=float)
    y = np.asarray(getattr(m, "y", m.frame.y), dtype=float)
    xbar, ybar, se2 = binned_residuals(f, y - f, bins)
    ax.axhline(0, color="#999999", lw=0.8)
    ax.plot(xbar, se2, color="#888888", lw=1)
    ax.plot(xbar, -se2, color="#888888", lw=1)
    inside = np.abs(ybar) <= se2
    ax.scatter(xbar[inside], ybar[inside], s=16, color="#3b6ea8")
    ax.scatter(xbar[~inside], ybar[~inside], s=16, color="#c0392b")
    ax.set_xlabel("average fitted probability")
    ax.set_ylabel("average residual")
    ax.set_title(f"Binned residuals ({inside.mean():.0%} of bins within 2 SE)", fontsize=10)
    return handed_back(fig)
