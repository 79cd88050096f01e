r"""Ordinary linear models: R's ``lm()`` and ``summary.lm``.

With prior weights w_i > 0 (all 1 by default) and the model matrix X of rank p (a column that
is a linear combination of earlier ones is *aliased*: R reports its coefficient as NA):

    beta    = argmin  sum_i w_i (y_i - x_i' beta)^2       (QR decomposition of W^1/2 X)
    sigma^2 = RSS / (n - p)
    Var(beta) = sigma^2 (X' W X)^-1

A response far from 0 (1e12 + y) with the constant in the span of X is fitted as y - c (c a
constant, as lmer's core does), so every number but the coefficient of the constant is that of the
shifted problem rather than of a response rounded to the ulps of 1e12.

The log-likelihood is the ML one, as R's ``logLik.lm``, with p + 1 parameters (the
coefficients and sigma):

    logLik = ( sum_i log w_i  -  n (log 2 pi + 1 - log n + log RSS) ) / 2

That is what lme4's ``anova(lmer_fit, lm_fit)`` compares with the ML refit of the mixed model, so
an ``LmResult`` can be passed to ``mixedmodels.anova`` beside mixed models.

This module holds :func:`lm`, the fitting; the result lives in :mod:`.lm_result` (the least-squares
fit), :mod:`.lm_inference` (tests, intervals, R-squared, F, predictions) and :mod:`.lm_summary`
(R's ``summary.lm``), and is imported here: ``from mixedmodels.linear.lm import LmResult, LmSummary``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from ..formula.parse import has_random_terms, parse_lm_formula  # in __all__: lm's formulas, parsed there
from .lm_result import LmResult
from .lm_summary import LmSummary

__all__ = ["lm", "LmResult", "LmSummary", "parse_lm_formula", "has_random_terms"]


# --------------------------------------------------------------------------- fitting
def lm(formula: str, data, weights=None, offset=None, *, data_name: str | None = None) -> "LmResult":
    """Fit an ordinary linear model by (weighted) least squares, as R's ``lm()``.

    Parameters
    ----------
    formula : str
        ``"y ~ x + f"``, without random-effects terms; ``offset()`` terms are allowed.
    data : pandas.DataFrame, polars.DataFrame, dict, ...
        The data; rows with a missing value in any variable the formula uses are left out
        (``na.omit``).
    weights : array_like or str, optional
        Prior weights, one value per row of ``data``, or the name of a column.
    offset : array_like or str, optional
        A known term of the linear predictor, one value per row, or the name of a column.
    data_name : str, optional
        How the printed call names the data (``data.attrs["name"]`` or "data" otherwise).

    Returns
    -------
    LmResult
        Aliased columns (linear combinations of earlier ones) get an NA coefficient, as in R.

    Raises
    ------
    DataError
        When ``weights`` names no column, the model matrix has infinite or missing values, or
        every weight is zero.
    FormulaError
        For a formula that cannot be read (or that has random-effects terms).

    Examples
    --------
    >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
    >>> fit.coefficients.round(3).to_dict()
    {'(Intercept)': 251.405, 'Days': 10.467}
    >>> round(fit.sigma, 3), fit.df_resid
    (47.715, 178)
    """
    from ..design.columns import as_pandas, check_predictor_columns
    from ..design.fixed import independent_columns, r_model_matrix
    from ..design.frame import model_frame

    parsed = parse_lm_formula(formula)
    data = as_pandas(data)  # polars (also lazy) without pyarrow, dicts
    weights_label = None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise DataError(f"weights {weights!r} is not a column of the data")
        weights_label, weights = weights, data[weights].to_numpy(dtype=float)
    elif weights is not None:
        weights_label = "weights"
    frame = model_frame(parsed, data, weights=weights, offset=offset)
    # the same design as lmer's fixed part: R's coding of factors (ordered: contr.poly), integer
    # columns as doubles, a column named Intercept beside (Intercept), dates refused
    check_predictor_columns([parsed.fixed], frame.data)
    X, names, spec = r_model_matrix(parsed.fixed, frame.data, "the model matrix")
    if not np.all(np.isfinite(X)):
        raise DataError("the model matrix has infinite or missing values (e.g. log of zero or of a negative "
                        "number); transform or drop those rows")
    w = frame.weights
    pos = np.ones(len(frame.y), dtype=bool) if w is None else w > 0
    if not pos.any():
        raise DataError("every weight is zero: nothing to fit")
    sw = np.ones(len(frame.y)) if w is None else np.sqrt(w)
    kept = independent_columns(X[pos] * sw[pos, None]) if X.shape[1] else []
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    r_rownames = isinstance(data.index, pd.RangeIndex) and data.index.start == 0 and data.index.step == 1
    return LmResult(formula=parsed.text, data_name=str(name), parsed=parsed, frame=frame, X=X, names=names,
                    spec=spec, kept=tuple(kept), weights_label=weights_label, n_omitted=len(data) - len(frame.y),
                    r_rownames=r_rownames)
