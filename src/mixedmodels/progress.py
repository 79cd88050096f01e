"""Progress bars (tqdm) for long work: bootstrap refits, profiles, refits with several optimizers.

``progress=None`` shows a bar when stderr is a terminal or the code runs in a Jupyter kernel (where
stderr is no terminal but the notebook shows it: ``tqdm.auto`` draws a widget where ipywidgets is
installed, a text bar otherwise), and tqdm is installed; ``False`` never; ``True`` always (with a
warning when tqdm is missing). The bar is optional: without tqdm the work runs the same, silently.
"""
from __future__ import annotations

import sys

from .errors import MixedModelWarning, warn

__all__ = ["progress_bar", "NoBar", "in_jupyter"]


class NoBar:
    """Stands in for a bar: update() and close() do nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell), whose stderr reaches the notebook."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(total: int, progress, desc: str, unit: str = "fit"):
    """A tqdm bar, or a NoBar when no bar should or can be shown."""
    if progress is False:
        return NoBar()
    if progress is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) and not in_jupyter():
        return NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            warn("progress=True needs the tqdm package (pip install tqdm); running without a bar",
                 MixedModelWarning, stacklevel=3)
        return NoBar()
    return tqdm(total=total, desc=desc, unit=unit)
