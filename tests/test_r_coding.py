"""R's coding of factors in the fixed-effects model matrix (``attr(terms, "factors")``: contrasts
or dummies for all levels, by which margins the formula has), and lme4's dropping of aliased columns.

The expectations were made once with R 4.2 and lme4 (``colnames(model.matrix(f, d))`` and
``names(fixef(lmer(update(f, . ~ . + (1 | s)), d)))``) on the data frame below, built the same way:

    n <- 48; i <- 1:n
    d <- data.frame(f = rep(c("a","b","c"), 16), g = rep(rep(c("a","b"), each = 3), 8),
      h = rep(rep(c("u","v"), each = 6), 4), s = paste0("s", rep(1:6, 8)),
      x = round(sin(i) * 3 + 5, 3), z = (i %% 5) + 1, l = (i %% 4) == 0)
    d$y <- round(cos(i * 1.7) * 2 + d$x * 0.5 + (i %% 7) / 3, 3)
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def data():
    n = 48
    i = np.arange(1, n + 1)
    d = pd.DataFrame({"f": ["a", "b", "c"] * 16, "g": (["a"] * 3 + ["b"] * 3) * 8,
                      "h": (["u"] * 6 + ["v"] * 6) * 4, "s": [f"s{k}" for k in list(range(1, 7)) * 8],
                      "x": np.round(np.sin(i) * 3 + 5, 3), "z": (i % 5) + 1.0, "l": (i % 4) == 0})
    d["y"] = np.round(np.cos(i * 1.7) * 2 + d["x"] * 0.5 + (i % 7) / 3, 3)
    return d


# formula, R's model.matrix column names, lme4's fixef names (after dropping aliased columns)
CASES = [
    ('y ~ x',
     ['(Intercept)', 'x'],
     ['(Intercept)', 'x']),
    ('y ~ f',
     ['(Intercept)', 'fb', 'fc'],
     ['(Intercept)', 'fb', 'fc']),
    ('y ~ 0 + f',
     ['fa', 'fb', 'fc'],
     ['fa', 'fb', 'fc']),
    ('y ~ f + x',
     ['(Intercept)', 'fb', 'fc', 'x'],
     ['(Intercept)', 'fb', 'fc', 'x']),
    ('y ~ 0 + f + x',
     ['fa', 'fb', 'fc', 'x'],
     ['fa', 'fb', 'fc', 'x']),
    ('y ~ f * x',
     ['(Intercept)', 'fb', 'fc', 'x', 'fb:x', 'fc:x'],
     ['(Intercept)', 'fb', 'fc', 'x', 'fb:x', 'fc:x']),
    ('y ~ f * g',
     ['(Intercept)', 'fb', 'fc', 'gb', 'fb:gb', 'fc:gb'],
     ['(Intercept)', 'fb', 'fc', 'gb', 'fb:gb', 'fc:gb']),
    ('y ~ f:g',
     ['(Intercept)', 'fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb', 'fc:gb'],
     ['(Intercept)', 'fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb']),
    ('y ~ 0 + f:g',
     ['fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb', 'fc:gb'],
     ['fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb', 'fc:gb']),
    ('y ~ f + f:g',
     ['(Intercept)', 'fb', 'fc', 'fa:gb', 'fb:gb', 'fc:gb'],
     ['(Intercept)', 'fb', 'fc', 'fa:gb', 'fb:gb', 'fc:gb']),
    ('y ~ g + f:g',
     ['(Intercept)', 'gb', 'ga:fb', 'gb:fb', 'ga:fc', 'gb:fc'],
     ['(Intercept)', 'gb', 'ga:fb', 'gb:fb', 'ga:fc', 'gb:fc']),
    ('y ~ 0 + x + f:x',
     ['x', 'x:fa', 'x:fb', 'x:fc'],
     ['x', 'x:fa', 'x:fb']),
    ('y ~ x + x:f',
     ['(Intercept)', 'x', 'x:fb', 'x:fc'],
     ['(Intercept)', 'x', 'x:fb', 'x:fc']),
    ('y ~ f + f:x',
     ['(Intercept)', 'fb', 'fc', 'fa:x', 'fb:x', 'fc:x'],
     ['(Intercept)', 'fb', 'fc', 'fa:x', 'fb:x', 'fc:x']),
    ('y ~ 0 + f + f:x',
     ['fa', 'fb', 'fc', 'fa:x', 'fb:x', 'fc:x'],
     ['fa', 'fb', 'fc', 'fa:x', 'fb:x', 'fc:x']),
    ('y ~ f:x',
     ['(Intercept)', 'fa:x', 'fb:x', 'fc:x'],
     ['(Intercept)', 'fa:x', 'fb:x', 'fc:x']),
    ('y ~ 0 + f:x',
     ['fa:x', 'fb:x', 'fc:x'],
     ['fa:x', 'fb:x', 'fc:x']),
    ('y ~ f * g * h',
     ['(Intercept)', 'fb', 'fc', 'gb', 'hv', 'fb:gb', 'fc:gb', 'fb:hv', 'fc:hv', 'gb:hv', 'fb:gb:hv', 'fc:gb:hv'],
     ['(Intercept)', 'fb', 'fc', 'gb', 'hv', 'fb:gb', 'fc:gb', 'fb:hv', 'fc:hv', 'gb:hv', 'fb:gb:hv', 'fc:gb:hv']),
    ('y ~ f:g:h',
     ['(Intercept)', 'fa:ga:hu', 'fb:ga:hu', 'fc:ga:hu', 'fa:gb:hu', 'fb:gb:hu', 'fc:gb:hu', 'fa:ga:hv', 'fb:ga:hv', 'fc:ga:hv', 'fa:gb:hv', 'fb:gb:hv', 'fc:gb:hv'],
     ['(Intercept)', 'fa:ga:hu', 'fb:ga:hu', 'fc:ga:hu', 'fa:gb:hu', 'fb:gb:hu', 'fc:gb:hu', 'fa:ga:hv', 'fb:ga:hv', 'fc:ga:hv', 'fa:gb:hv', 'fb:gb:hv']),
    ('y ~ f + g + f:g:h',
     ['(Intercept)', 'fb', 'fc', 'gb', 'fa:ga:hu', 'fb:ga:hu', 'fc:ga:hu', 'fa:gb:hu', 'fb:gb:hu', 'fc:gb:hu', 'fa:ga:hv', 'fb:ga:hv', 'fc:ga:hv', 'fa:gb:hv', 'fb:gb:hv', 'fc:gb:hv'],
     ['(Intercept)', 'fb', 'fc', 'gb', 'fa:ga:hu', 'fb:ga:hu', 'fc:ga:hu', 'fa:gb:hu', 'fb:gb:hu', 'fc:gb:hu', 'fa:ga:hv', 'fb:ga:hv']),
    ('y ~ f + g + f:g + f:g:h',
     ['(Intercept)', 'fb', 'fc', 'gb', 'fb:gb', 'fc:gb', 'fa:ga:hv', 'fb:ga:hv', 'fc:ga:hv', 'fa:gb:hv', 'fb:gb:hv', 'fc:gb:hv'],
     ['(Intercept)', 'fb', 'fc', 'gb', 'fb:gb', 'fc:gb', 'fa:ga:hv', 'fb:ga:hv', 'fc:ga:hv', 'fa:gb:hv', 'fb:gb:hv', 'fc:gb:hv']),
    ('y ~ f + f:g:x',
     ['(Intercept)', 'fb', 'fc', 'fa:ga:x', 'fb:ga:x', 'fc:ga:x', 'fa:gb:x', 'fb:gb:x', 'fc:gb:x'],
     ['(Intercept)', 'fb', 'fc', 'fa:ga:x', 'fb:ga:x', 'fc:ga:x', 'fa:gb:x', 'fb:gb:x', 'fc:gb:x']),
    ('y ~ log(z) + f:log(z)',
     ['(Intercept)', 'log(z)', 'log(z):fb', 'log(z):fc'],
     ['(Intercept)', 'log(z)', 'log(z):fb', 'log(z):fc']),
    ('y ~ poly(x, 2) * f',
     ['(Intercept)', 'poly(x, 2)1', 'poly(x, 2)2', 'fb', 'fc', 'poly(x, 2)1:fb', 'poly(x, 2)2:fb', 'poly(x, 2)1:fc', 'poly(x, 2)2:fc'],
     ['(Intercept)', 'poly(x, 2)1', 'poly(x, 2)2', 'fb', 'fc', 'poly(x, 2)1:fb', 'poly(x, 2)2:fb', 'poly(x, 2)1:fc', 'poly(x, 2)2:fc']),
    ('y ~ poly(x, 2):f',
     ['(Intercept)', 'poly(x, 2)1:fa', 'poly(x, 2)2:fa', 'poly(x, 2)1:fb', 'poly(x, 2)2:fb', 'poly(x, 2)1:fc', 'poly(x, 2)2:fc'],
     ['(Intercept)', 'poly(x, 2)1:fa', 'poly(x, 2)2:fa', 'poly(x, 2)1:fb', 'poly(x, 2)2:fb', 'poly(x, 2)1:fc', 'poly(x, 2)2:fc']),
    ('y ~ I(x^2) + f:I(x^2)',
     ['(Intercept)', 'I(x^2)', 'I(x^2):fb', 'I(x^2):fc'],
     ['(Intercept)', 'I(x^2)', 'I(x^2):fb', 'I(x^2):fc']),
    ('y ~ scale(x) * g',
     ['(Intercept)', 'scale(x)', 'gb', 'scale(x):gb'],
     ['(Intercept)', 'scale(x)', 'gb', 'scale(x):gb']),
    ('y ~ x:z + f',
     ['(Intercept)', 'fb', 'fc', 'x:z'],
     ['(Intercept)', 'fb', 'fc', 'x:z']),
    ('y ~ f:g + g:h',
     ['(Intercept)', 'fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb', 'fc:gb', 'ga:hv', 'gb:hv'],
     ['(Intercept)', 'fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb', 'ga:hv', 'gb:hv']),
    ('y ~ 0 + x:f + g',
     ['ga', 'gb', 'x:fa', 'x:fb', 'x:fc'],
     ['ga', 'gb', 'x:fa', 'x:fb', 'x:fc']),
    ('y ~ (f + g + h)^2',
     ['(Intercept)', 'fb', 'fc', 'gb', 'hv', 'fb:gb', 'fc:gb', 'fb:hv', 'fc:hv', 'gb:hv'],
     ['(Intercept)', 'fb', 'fc', 'gb', 'hv', 'fb:gb', 'fc:gb', 'fb:hv', 'fc:hv', 'gb:hv']),
    ('y ~ f + x:g',
     ['(Intercept)', 'fb', 'fc', 'x:ga', 'x:gb'],
     ['(Intercept)', 'fb', 'fc', 'x:ga', 'x:gb']),
    ('y ~ x * z * f',
     ['(Intercept)', 'x', 'z', 'fb', 'fc', 'x:z', 'x:fb', 'x:fc', 'z:fb', 'z:fc', 'x:z:fb', 'x:z:fc'],
     ['(Intercept)', 'x', 'z', 'fb', 'fc', 'x:z', 'x:fb', 'x:fc', 'z:fb', 'z:fc', 'x:z:fb', 'x:z:fc']),
    ('y ~ x + l:x',
     ['(Intercept)', 'x', 'x:lTRUE'],
     ['(Intercept)', 'x', 'x:lTRUE']),
    ('y ~ 0 + g:h + f',
     ['fa', 'fb', 'fc', 'ga:hu', 'gb:hu', 'ga:hv', 'gb:hv'],
     ['fa', 'fb', 'fc', 'ga:hu', 'gb:hu', 'ga:hv']),
    ('y ~ h + f:g',
     ['(Intercept)', 'hv', 'fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb', 'fc:gb'],
     ['(Intercept)', 'hv', 'fa:ga', 'fb:ga', 'fc:ga', 'fa:gb', 'fb:gb']),
    ('y ~ x + f:g:x',
     ['(Intercept)', 'x', 'x:fa:ga', 'x:fb:ga', 'x:fc:ga', 'x:fa:gb', 'x:fb:gb', 'x:fc:gb'],
     ['(Intercept)', 'x', 'x:fa:ga', 'x:fb:ga', 'x:fc:ga', 'x:fa:gb', 'x:fb:gb']),
]


def _fit(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula + " + (1 | s)", data)


@pytest.mark.parametrize("formula,all_names,names", CASES, ids=[c[0] for c in CASES])
def test_r_column_names(data, formula, all_names, names):
    m = _fit(formula, data)
    assert list(m.fixed.all_names) == all_names
    assert list(m.fixed.names) == names
    assert m.fixed.X.shape == (len(data), len(names))
    assert m.fixed.dropped == [c for c in all_names if c not in names]


@pytest.mark.parametrize("formula", ["y ~ f:g", "y ~ 0 + x + f:x", "y ~ h + f:g", "y ~ x + f:g:x",
                                     "y ~ 0 + g:h + f", "y ~ x + l:x + f:g"])
def test_predict_new_data_uses_the_same_columns(data, formula):
    m = _fit(formula, data)
    np.testing.assert_allclose(np.asarray(m.predict(data.iloc[5:17])), np.asarray(m.fitted)[5:17],
                               rtol=1e-8, atol=1e-8)
    one = data.iloc[[3]].copy()
    np.testing.assert_allclose(np.asarray(m.predict(one, re_form="~0")),
                               m.fixed.X[3] @ np.asarray(m.fixef), rtol=1e-8, atol=1e-8)


def test_dummy_columns_span_the_same_space_as_formulaic(data):
    """R's coding of ``f:g`` and formulaic's full-rank one fit the same model."""
    a = _fit("y ~ f:g", data)
    b = _fit("y ~ f * g", data)
    assert a.fixed.X.shape[1] == b.fixed.X.shape[1]
    np.testing.assert_allclose(np.asarray(a.fitted), np.asarray(b.fitted), rtol=1e-6, atol=1e-6)
