"""The direct paths past formulaic: an additive formula of plain columns, and ``a - b`` responses.

Both must give exactly what the formulaic path gives (the matrix, R's column names, the spec's
matrix on new data); anything else must go to formulaic.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design.fixed import r_model_matrix
from mixedmodels.design.matrix import (
    LazySpec,
    _formulaic_matrix,
    _plain_arithmetic,
    drop_unused_levels,
    evaluate_numeric,
    plain_numeric,
)
from mixedmodels.design.newdata import spec_model_matrix


def _frame(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "k": rng.integers(-3, 9, n),
        # an unused category, a label with a space, categories not in sorted order
        "f": pd.Categorical(rng.choice(["b", "a", "c d"], n), categories=["z", "c d", "b", "a"]),
        "g": pd.Categorical(rng.choice(["1", "2", "10"], n)),
        "o": pd.Categorical(rng.choice(["lo", "hi"], n), categories=["lo", "hi"], ordered=True),
        "t": rng.choice(["u", "v"], n),
        "b": rng.random(n) > 0.5,
    })


# formulaic's own note on new data with a category the fit did not use (both specs alike)
@pytest.mark.filterwarnings("ignore:Constructing a Categorical")
@pytest.mark.parametrize("expr", ["1 + x", "0 + x + k", "1 + f", "f", "1 + x + f + k", "f + g", "x + g + f",
                                  "1 + g + x + g"])
@pytest.mark.parametrize("seed", [0, 1])
def test_additive_plain_columns_as_formulaic_codes_them(expr, seed):
    d = _frame(seed)
    plain = plain_numeric(expr, d)
    assert plain is not None
    X, names, spec = plain
    X2, names2, spec2 = _formulaic_matrix(expr, drop_unused_levels(expr, d), "the model matrix")
    assert names == names2
    np.testing.assert_array_equal(X, X2)
    # the spec replays the coding on new data (here: rows in another order, a level left out)
    assert isinstance(spec, LazySpec)
    new = d.iloc[::-3]
    a = np.asarray(spec_model_matrix(spec, new, "new"), dtype=float)
    b = np.asarray(spec_model_matrix(spec2, new, "new"), dtype=float)
    np.testing.assert_array_equal(a, b)
    # and the full fixed-effects path, through which lmer and glmer build X, gives the same
    X3, names3, _ = r_model_matrix(expr, d, "the fixed-effects model matrix")
    assert names3 == names2
    np.testing.assert_array_equal(X3, X2)


@pytest.mark.parametrize("expr", ["0 + f", "1 + o", "1 + t", "1 + b", "f:g", "f * x", "log(x)", "1 + x - 1"])
def test_everything_else_goes_to_formulaic(expr):
    assert plain_numeric(expr, _frame(0)) is None


def test_a_categorical_with_one_used_level_or_a_missing_value_goes_to_formulaic():
    d = _frame(0)
    assert plain_numeric("1 + f", d.assign(f=pd.Categorical(["a"] * len(d), categories=["a", "b"]))) is None
    f = d["f"].copy()
    f.iloc[3] = np.nan
    assert plain_numeric("1 + f", d.assign(f=f)) is None


@pytest.mark.parametrize("expr", ["size - incidence", "I(size - incidence)", "size/2", "2 * size", " .5*size ",
                                  "1e3 - size", "size + incidence", "size / w"])
def test_arithmetic_of_two_operands_as_formulaic_evaluates_it(expr):
    cb = mm.load_dataset("cbpp").assign(w=lambda d: d["size"].astype(float).where(d["size"] > 5))  # NaN too
    got = _plain_arithmetic(expr, cb)
    assert got is not None
    from formulaic import model_matrix

    from mixedmodels.formula import evaluate as evaluator
    e = expr.strip()
    e = e if e.startswith("I(") else f"I({e})"
    ref = np.asarray(model_matrix(f"0 + {e}", cb, context=evaluator.context(), na_action="ignore"),
                     dtype=float).ravel()
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(evaluate_numeric(e, cb, "the response"), ref)


@pytest.mark.parametrize("expr", ["size - pi", "log(size)", "2 - 3", "size - herd", "size - incidence - 1",
                                  "I(size - incidence", "size - nothere"])
def test_other_expressions_are_not_computed_directly(expr):
    assert _plain_arithmetic(expr, mm.load_dataset("cbpp")) is None


def test_a_division_by_zero_is_reported_as_before():
    cb = mm.load_dataset("cbpp").assign(z=0)
    with pytest.raises(mm.errors.DataError, match="infinite values"):
        evaluate_numeric("I(size / z)", cb, "the response")


def test_cbpp_fit_unchanged_by_the_direct_paths():
    """The fit's numbers do not depend on which path built X and the response: lme4's values."""
    m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mm.load_dataset("cbpp"),
                 family="binomial")
    assert list(m.fixef.index) == ["(Intercept)", "period2", "period3", "period4"]
    np.testing.assert_allclose(m.fixef.to_numpy(), [-1.3983, -0.9919, -1.1282, -1.5797], atol=2e-4)
    p = m.predict(mm.load_dataset("cbpp").iloc[:4], re_form=None)
    assert np.all(np.isfinite(np.asarray(p)))
