"""Checks of the arguments that many methods share (a confidence level, a number of simulations).

One place for each rule, so that every method refuses a bad value with the same clear
:class:`~mixedmodels.errors.ArgumentError` (never a bare ``TypeError`` from a comparison).
"""
from __future__ import annotations

import math
import numbers

from .errors import ArgumentError

__all__ = ["check_level", "check_count"]


def check_level(level) -> float:
    """A confidence level strictly between 0 and 1, as a float.

    Raises
    ------
    ArgumentError
        For anything else (text, a bool, NaN, 0, 1, 95).
    """
    if isinstance(level, numbers.Real) and not isinstance(level, bool) and 0 < float(level) < 1:
        return float(level)
    hint = "; write 0.95 for 95%" if isinstance(level, numbers.Real) and 1 < level < 100 else ""
    raise ArgumentError(f"level must be a number between 0 and 1, got {level!r}{hint}")


def check_count(value, what: str) -> int:
    """A positive whole number (1, 2, ...; 10.0 is 10), as an int.

    Raises
    ------
    ArgumentError
        For text, a bool, a fraction, 0, a negative or a non-finite number.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
        and float(value) == int(value) and value >= 1
    if not ok:
        raise ArgumentError(f"{what} must be a positive whole number, got {value!r}")
    return int(value)
