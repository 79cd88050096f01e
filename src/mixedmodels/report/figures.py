"""How the plots get matplotlib and hand their figures back: once, also in a notebook.

In Jupyter the inline backend shows every figure pyplot still holds at the end of a cell, and the
cell's value (the Figure a plot method returns) is shown as well: the same picture twice. A figure
handed back under an inline backend is therefore released from pyplot (``plt.close``), and shows
once, as the returned value; elsewhere (scripts, GUI backends) pyplot keeps it, so ``plt.show()``
and ``plt.savefig()`` work as usual.
"""
from __future__ import annotations

from ..errors import MixedModelError

__all__ = ["pyplot", "handed_back"]


def pyplot():
    """``matplotlib.pyplot``, or a clear error where matplotlib is not installed."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise MixedModelError("plots need matplotlib: pip install matplotlib (or mixedmodels[plots])") from None
    return plt


def handed_back(fig):
    """The figure a plot method returns; released from pyplot under an inline (notebook) backend.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The finished figure.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig`` itself.
    """
    import matplotlib

    if "inline" in str(matplotlib.get_backend()).lower():
        pyplot().close(fig)  # the cell's value shows it; pyplot's flush at the end of the cell would repeat it
    return fig
