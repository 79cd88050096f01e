"""Every error and warning the package raises on purpose.

Messages say what was wrong, where, the value received and what to do.
"""


class MixedModelError(Exception):
    """Base of all errors raised on purpose by mixedmodels."""


class FormulaError(MixedModelError, ValueError):
    """The model formula cannot be parsed or does not describe a mixed model."""


class DataError(MixedModelError, ValueError):
    """The data do not fit the formula (missing columns, bad values, too few rows or levels)."""


class FamilyError(MixedModelError, ValueError):
    """Unknown family or link, or a response that the family cannot model."""


class FitError(MixedModelError, RuntimeError):
    """The model could not be fitted (e.g. the objective is not finite at the start)."""


class ArgumentError(MixedModelError, ValueError):
    """An argument has an invalid value."""


class MixedModelWarning(UserWarning):
    """Base of all warnings issued by mixedmodels."""


class SingularFitWarning(MixedModelWarning):
    """The fit is on the boundary: some variance is (nearly) zero or a correlation is +-1."""


class ConvergenceWarning(MixedModelWarning):
    """The optimizer did not report success or stopped at a doubtful point."""


class PersistError(MixedModelError, ValueError):
    """A saved result cannot be loaded: not a mixedmodels file, another version, or altered since saved."""


class RankDeficiencyWarning(MixedModelWarning):
    """Columns of the fixed-effects matrix depend on earlier ones and were dropped (lme4's message)."""


class ScaleWarning(MixedModelWarning):
    """Predictors on very different scales (lme4's check.scaleX): the fit may be poorly conditioned."""


class DataWarning(MixedModelWarning):
    """Rows were left out for a reason other than a missing value in the data (e.g. log of a negative number)."""


# ------------------------------------------------------------------ issuing warnings, thread-safely
#
# ``warnings.catch_warnings`` swaps the process-wide filter list: two threads that use it at once
# can leave an "ignore" filter behind for the whole process, so that later fits are silent. The
# package therefore never touches the filters. Its own warnings go through :func:`warn`, which a
# caller can silence or collect for the code it runs, and only there, with :func:`silenced` and
# :func:`collected`: their state is a context variable, so each thread (and each asyncio task)
# has its own.
from contextlib import contextmanager as _contextmanager
from contextvars import ContextVar as _ContextVar
import warnings as _warnings

_SILENCED: _ContextVar[tuple] = _ContextVar("mixedmodels_silenced", default=())
_SINK: _ContextVar[list | None] = _ContextVar("mixedmodels_sink", default=None)


def warn(message: str, category: type[Warning] = MixedModelWarning, stacklevel: int = 1) -> None:
    """Issue one of the package's warnings, unless the calling context silences or collects it.

    Parameters
    ----------
    message : str
        What happened and what to do.
    category : type of Warning
        A :class:`MixedModelWarning` subclass (or ``RuntimeWarning`` and the like for numerical notes).
    stacklevel : int
        As for :func:`warnings.warn`, counted from the caller of this function.
    """
    if any(issubclass(category, c) for c in _SILENCED.get()):
        return
    sink = _SINK.get()
    if sink is not None:
        sink.append(category(message))
        return
    _warnings.warn(message, category, stacklevel=stacklevel + 1)


@_contextmanager
def silenced(*categories: type[Warning]):
    """Within the block, and in this thread only, drop the package's warnings of ``categories``
    (all of the package's warnings when none are given)."""
    token = _SILENCED.set(_SILENCED.get() + (categories or (Warning,)))
    try:
        yield
    finally:
        _SILENCED.reset(token)


@_contextmanager
def collected():
    """Within the block, and in this thread only, keep the package's warnings in a list (yielded)
    instead of issuing them: for refits whose warnings are results (bootstrap, allfit, the CLI)."""
    sink: list = []
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)
