"""The model matrix of a fitted spec on other data (new data, a reference grid), the fit untouched.

predict() evaluates the fit's specs on newdata, emmeans on its reference grid, lm's predict on its
newdata: all through :func:`spec_model_matrix`, which works on a :func:`private_spec` copy.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..errors import DataError
from .coding import RCodedSpec
from .columns import logicals_as_factors

__all__ = ["private_spec", "spec_model_matrix"]


def private_spec(spec):
    """A copy of a fitted formulaic ModelSpec that formulaic may write to without touching the fit.

    formulaic's ``get_model_matrix`` writes each factor's encoder state (its kind and levels) and
    the stateful transforms' state back into the spec it is given, in place (``ModelSpec.update``
    copies only shallowly). On data that do not match the fit -- a string column where the fit had
    numbers, say -- that rewrites the fitted spec, and every later anova() or predict() is wrong.
    The copy holds deep copies of both states, so ``scale()``, ``poly()`` and ``center()`` replay
    the values of the fit and nothing formulaic writes reaches the fitted model.

    Parameters
    ----------
    spec : formulaic.ModelSpec or design.RCodedSpec
        The spec kept by a fitted model.

    Returns
    -------
    object
        A spec of the same kind, with the same structure and its own state.
    """
    if isinstance(spec, RCodedSpec):
        return RCodedSpec(private_spec(spec.inner), spec.columns)
    try:
        return spec.update(encoder_state=copy.deepcopy(dict(spec.encoder_state)),
                           transform_state=copy.deepcopy(dict(spec.transform_state)))
    except Exception:  # not a formulaic ModelSpec: copy all of it
        return copy.deepcopy(spec)


def spec_model_matrix(spec, data: pd.DataFrame, what: str, error=DataError, **kwargs):
    """The model matrix of a fitted spec on ``data``, leaving the fitted spec untouched.

    Parameters
    ----------
    spec : formulaic.ModelSpec or design.RCodedSpec
        The spec kept by a fitted model; evaluated through :func:`private_spec`.
    data : pandas.DataFrame
        The new data; logical columns are coded as factors, as in the fit.
    what : str
        What is evaluated, for the error message ("the fixed-effects model matrix on newdata").
    error : type, optional
        The MixedModelError subclass raised when formulaic cannot evaluate the spec on ``data``.
    **kwargs
        Passed to ``get_model_matrix`` (e.g. ``na_action="ignore"``).

    Returns
    -------
    formulaic.ModelMatrix
        formulaic's matrix, with formulaic's column names.

    Raises
    ------
    DataError
        (or ``error``) when the data do not fit the spec: a missing column, a value of another kind.
    """
    from ..formula.evaluate import context  # the functions the fit could call: log(), sqrt(), ... and nothing else

    try:
        with np.errstate(all="ignore"):  # NaN and inf are reported by the caller, by column
            return private_spec(spec).get_model_matrix(logicals_as_factors(data), context=context(), **kwargs)
    except Exception as e:  # formulaic's errors are many: report one of ours
        raise error(f"cannot evaluate {what}: {str(e).rstrip('. ')}; the data must have the columns of "
                    "the fit, with values of the same kind (numbers for numeric variables, the fit's "
                    "levels for factors)") from None
