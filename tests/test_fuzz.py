"""Fuzzing lmer() with random formulas and random small data frames (hypothesis).

Whatever the input, lmer() either returns a fit with finite numbers or raises a MixedModelError;
the only warnings it gives are our own (MixedModelWarning and its subclasses, all UserWarnings with
lme4's messages). No bare KeyError, IndexError, LinAlgError, numpy RuntimeWarning or pandas warning.
"""
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

import mixedmodels as mm
from mixedmodels.errors import MixedModelError, MixedModelWarning

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# pieces of formulas: valid and broken terms, names that exist and names that do not
RESPONSES = ["log(y)", "x", "s", "b", "y + x", "", "foo(y)", "(y", "nope", "I(y^2)", "c"]
GOOD_FIXED = ["x", "z", "s", "b", "x * s", "x:z", "I(x^2)", "poly(x, 2)", "scale(x)", "0", "1", "C(z)", "cat",
              "np.exp(x)", "x - 1", "`x`", "s:b", "offset(z)", "c", "log(x)"]
BAD_FIXED = ["foo(x)", "(x", "x)", "()", "nope", "|", "||", "x |", "offset()", ".", "1e3", "x +", "* x"]
GOOD_RANDOM = ["(1 | g)", "(x | g)", "(x || g)", "(1 | g/h)", "(1 | g:h)", "(0 + x | g)", "(1 | s)", "(s | g)",
               "((1 | g))", "(z | h)", "(1 | b)", "(1 | cat)", "(1 | c)", "(1 | x)"]
BAD_RANDOM = ["(1 | )", "( | g)", "(1 | g", "1 | g", "(1 | nope)", "(1 | g | h)", "(1 | g + h)", "(1 ||| g)",
              "(1 | 3)"]
OPS = [" + ", " - ", " * ", " : ", " / ", " ", " ~ ", " | ", "+"]


@st.composite
def formulas(draw):
    """Mostly lme4 formulas that could be fitted, then zero to two mutations; now and then pure noise."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.text(alphabet="yxgh~+|()*:-/ 01", max_size=25))
    fixed = draw(st.lists(st.sampled_from(GOOD_FIXED), min_size=0, max_size=3))
    random = draw(st.lists(st.sampled_from(GOOD_RANDOM), min_size=1, max_size=2))
    terms = fixed + random
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        what = draw(st.sampled_from(["replace", "insert", "op"]))
        k = draw(st.integers(0, len(terms) - 1))
        if what == "replace":
            terms[k] = draw(st.sampled_from(BAD_FIXED + BAD_RANDOM + GOOD_FIXED))
        elif what == "insert":
            terms.insert(k, draw(st.sampled_from(BAD_FIXED + BAD_RANDOM)))
        else:
            terms[k] = terms[k] + draw(st.sampled_from(OPS)) + draw(st.sampled_from(GOOD_FIXED + GOOD_RANDOM))
    response = "y" if draw(st.integers(0, 3)) else draw(st.sampled_from(RESPONSES))
    tilde = " ~ " if draw(st.integers(0, 5)) else draw(st.sampled_from(["~", " ", " ~ ~ ", "~~"]))
    return response + tilde + " + ".join(terms)


def _numeric(draw, n, name, rng):
    kind = draw(st.sampled_from(["normal"] * 6 + ["int", "constant", "nan", "nan", "inf", "huge", "tiny", "zero"]))
    v = rng.normal(size=n)
    if kind == "int":
        v = np.round(v * 3)
    elif kind == "constant":
        v = np.full(n, 1.5)
    elif kind == "zero":
        v = np.zeros(n)
    elif kind == "huge":
        v = v * 1e12
    elif kind == "tiny":
        v = v * 1e-12
    if n and kind in ("nan", "inf"):
        k = draw(st.integers(1, n))
        v[rng.choice(n, size=k, replace=False)] = np.nan if kind == "nan" else np.inf
    return v


@st.composite
def frames(draw):
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 15, 30, 40, 40]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ng = draw(st.integers(1, 6))
    d = {"y": _numeric(draw, n, "y", rng), "x": _numeric(draw, n, "x", rng),
         "z": rng.integers(0, 4, n),
         "s": rng.choice(["a", "b", "c"], n).astype(object),
         "g": rng.choice([f"g{i}" for i in range(ng)], n).astype(object),
         "h": rng.integers(0, draw(st.integers(1, 4)), n),
         "b": rng.random(n) < 0.5, "c": np.full(n, 2.0),
         "cat": pd.Categorical(rng.choice(["u", "v"], n), categories=["u", "v", "w"])}
    d = pd.DataFrame(d)
    if n and draw(st.booleans()):
        col = draw(st.sampled_from(["s", "g", "b", "cat"]))
        if col == "b":
            d["b"] = d["b"].astype("boolean")  # a nullable boolean column can hold the missing values
        d.loc[d.index[: draw(st.integers(1, n))], col] = None  # missing values in a factor
    if draw(st.integers(0, 9)) == 0:
        d["s"] = d["s"].astype("string")
    if draw(st.integers(0, 14)) == 0:
        d = pd.concat([d, d[["x"]]], axis=1)  # duplicated column name
    return d


def _fit_or_refuse(formula, data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m = mm.lmer(formula, data)
            if m is not None:
                ct = m.coef_table()  # inference on a strange fit: numbers or NaN, never a crash
                assert list(ct.index) == list(m.fixef.index)
        except MixedModelError as e:
            assert str(e), "an error must say something"
            m = None
    foreign = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, MixedModelWarning)]
    assert not foreign, f"{formula!r}: warnings that are not ours: {foreign}"
    if m is not None:
        assert m.nobs > 0
        assert np.isfinite(m.objective), formula
        assert np.all(np.isfinite(m.fixef.to_numpy())), formula
        assert np.all(np.isfinite(m.theta)) and m.sigma > 0, formula
    return m


_GOOD = None


def _good_data():
    global _GOOD
    if _GOOD is None:
        rng = np.random.default_rng(7)
        n = 60
        g = rng.integers(0, 6, n)
        _GOOD = pd.DataFrame({"y": rng.normal(size=n) + g * 0.5, "x": rng.normal(size=n), "z": rng.integers(0, 4, n),
                              "s": rng.choice(["a", "b", "c"], n).astype(object), "g": [f"g{i}" for i in g],
                              "h": rng.integers(0, 3, n), "b": rng.random(n) < 0.5, "c": np.full(n, 2.0),
                              "cat": pd.Categorical(rng.choice(["u", "v"], n), categories=["u", "v", "w"])})
        _GOOD["y"] = _GOOD["y"] + 3.0  # log(y) mostly defined
    return _GOOD


@settings(max_examples=200, **SETTINGS)
@given(formula=formulas())
def test_random_formulas_on_good_data(formula):
    _fit_or_refuse(formula, _good_data())


@settings(max_examples=150, **SETTINGS)
@given(data=frames(), formula=st.sampled_from(["y ~ x + (1 | g)", "y ~ x + s + (1 | g)", "y ~ b + (x | g)",
                                               "y ~ x + (1 | g) + (1 | h)", "y ~ cat + (1 | g:h)",
                                               "log(y) ~ x + (1 | g)", "y ~ z + (1 | s)", "y ~ x + (x || g)"]))
def test_random_data_with_valid_formulas(data, formula):
    _fit_or_refuse(formula, data)


@settings(max_examples=100, **SETTINGS)
@given(data=frames(), formula=formulas())
def test_random_data_and_random_formulas(data, formula):
    _fit_or_refuse(formula, data)


def test_random_weights_and_offsets():
    rng = np.random.default_rng(11)
    d = _good_data()
    cases = [rng.normal(size=60), np.r_[np.nan, np.ones(59)], np.r_[np.inf, np.ones(59)], np.ones(59),
             np.zeros(60), np.full(60, 1e-300), "x", "nope", [None] * 60, np.ones(60) * 1e200]
    for v in cases:
        for kw in ("weights", "offset"):
            _fit_or_refuse_kw = {kw: v}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    mm.lmer("y ~ x + (1 | g)", d, **_fit_or_refuse_kw)
                except MixedModelError:
                    pass
            assert all(issubclass(w.category, MixedModelWarning) for w in caught), \
                [f"{w.category.__name__}: {w.message}" for w in caught]
