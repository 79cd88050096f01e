"""The tails and quantiles of the t, normal, chi-square and F distributions that tables print,
from scipy.special's cephes functions.

The same numbers as ``scipy.stats`` (which calls these functions), without importing it:
``import scipy.stats`` takes about 0.4 s, more than a small model's fit and summary together,
and a first summary in a fresh process should not wait for it.
"""
from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["t_sf", "t_ppf", "norm_sf", "norm_ppf", "chi2_sf", "chi2_ppf", "f_sf"]


def _out(r):
    """A scalar for scalar arguments (numpy's float64, as scipy.stats returns), else the array."""
    r = np.asarray(r)
    return r[()] if r.ndim == 0 else r


def t_sf(x, df):
    """P(T > x) for Student's t with ``df`` degrees of freedom (``scipy.stats.t.sf``); an infinite
    ``df`` is the normal distribution."""
    x, df = np.asarray(x, dtype=float), np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return _out(np.where(np.isinf(df), special.ndtr(-x), special.stdtr(np.where(np.isinf(df), 1.0, df), -x)))


def t_ppf(p, df):
    """The p-quantile of Student's t (``scipy.stats.t.ppf``); an infinite ``df`` is the normal's."""
    p, df = np.asarray(p, dtype=float), np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return _out(np.where(np.isinf(df), special.ndtri(p), special.stdtrit(np.where(np.isinf(df), 1.0, df), p)))


def norm_sf(x):
    """P(Z > x) for the standard normal."""
    return _out(special.ndtr(-np.asarray(x, dtype=float)))


def norm_ppf(p):
    """The p-quantile of the standard normal."""
    return _out(special.ndtri(np.asarray(p, dtype=float)))


def chi2_sf(x, df):
    """P(X > x) for the chi-square distribution with ``df`` degrees of freedom."""
    return _out(special.chdtrc(np.asarray(df, dtype=float), np.asarray(x, dtype=float)))


def f_sf(x, dfn, dfd):
    """P(F > x) for the F distribution with ``dfn`` and ``dfd`` degrees of freedom."""
    return _out(special.fdtrc(np.asarray(dfn, dtype=float), np.asarray(dfd, dtype=float), np.asarray(x, dtype=float)))


def chi2_ppf(q, df):
    """The q-quantile of the chi-square distribution with ``df`` degrees of freedom."""
    return _out(special.chdtri(np.asarray(df, dtype=float), 1.0 - np.asarray(q, dtype=float)))
