"""Column types as a user's data bring them: no silent wrong numbers in the design, as R does it.

R is not run here; the expected values are R facts (its ``^`` is double arithmetic, contr.poly's
values and names, model.matrix's names, factor() level order) or the same model fitted on an
equivalent float / renamed / explicit-column copy of the data.
"""
import importlib.util
import time
import tracemalloc
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.design.coding import contr_poly
from mixedmodels.design.random import grouping_codes
from mixedmodels.errors import DataError


def _data(seed=1, n=120, ngroup=12):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ngroup), n // ngroup)
    x = rng.integers(1, 20, n)            # x^2 up to 361: past int8's 127, int16 is fine
    y = 1 + 0.05 * x.astype(float) ** 2 + rng.normal(size=ngroup)[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def _same_fit(a, b):
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-10, atol=1e-12)
    assert list(a.fixef.index) == list(b.fixef.index)


# ------------------------------------------------------------------ 1. integers are doubles
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint8", "Int8", "int64"])
@pytest.mark.parametrize("formula", ["y ~ I(x^2) + (1|g)", "y ~ I(x*x) + (1|g)", "y ~ log(x) + (1|g)",
                                     "y ~ I(x^3/100) + x + (1|g)", "y ~ I(x^-1) + (1|g)"])
def test_integer_columns_are_doubles_in_arithmetic(dtype, formula):
    d = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.errors.SingularFitWarning)  # the same in both fits
        ref = mm.lmer(formula, d.assign(x=d.x.astype(float)))
        fit = mm.lmer(formula, d.assign(x=d.x.astype(dtype)))
    _same_fit(fit, ref)


def test_int8_square_does_not_wrap_around():
    # R: x <- c(12L, ...); I(x^2) is 144 (double), where numpy's int8 gives -112
    d = _data().assign(x=lambda t: t.x.astype("int8"))
    fit = mm.lmer("y ~ I(x^2) + (1|g)", d)
    assert fit.fixed.X[:, 1].max() == pytest.approx(float(d.x.max()) ** 2)
    assert (fit.fixed.X[:, 1] > 0).all()


def test_integer_random_slope_and_prediction():
    d = _data(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.errors.MixedModelWarning)  # scale/singular: the same in both fits
        ref = mm.lmer("y ~ I(x^2) + (I(x^2)|g)", d.assign(x=d.x.astype(float)))
        fit = mm.lmer("y ~ I(x^2) + (I(x^2)|g)", d.assign(x=d.x.astype("int8")))
    _same_fit(fit, ref)
    nd = d.iloc[:10].assign(x=d.x.iloc[:10].astype("int8"))
    np.testing.assert_allclose(np.asarray(fit.predict(nd)), np.asarray(ref.predict(d.iloc[:10].astype({"x": float}))),
                               rtol=1e-8)


def test_integer_grouping_column_keeps_numeric_levels():
    # R: factor(c(1L, 2L, 10L)) has levels "1" "2" "10", in numeric order
    d = _data(n=90, ngroup=3)
    d["g"] = np.array([1, 2, 10])[d.g].astype("int16")
    fit = mm.lmer("y ~ x + (1|g)", d)
    assert fit.terms[0].levels == ["1", "2", "10"]
    codes, labels = grouping_codes(("g",), d)
    assert labels == ["1", "2", "10"]


def test_factor_of_an_integer_column_names_levels_as_r():
    # R: model.matrix(~ factor(x)) with x integer: factor(x)2, factor(x)10 (not 2.0)
    d = _data(n=60, ngroup=6)
    d["x"] = np.array([1, 2, 10])[np.arange(60) % 3].astype("int8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.errors.SingularFitWarning)
        fit = mm.lmer("y ~ factor(x) + (1|g)", d)
    assert list(fit.fixef.index) == ["(Intercept)", "factor(x)2", "factor(x)10"]


def test_lm_integer_square():
    d = _data()
    a = mm.lm("y ~ I(x^2)", d.assign(x=d.x.astype("int8")))
    b = mm.lm("y ~ I(x^2)", d.assign(x=d.x.astype(float)))
    np.testing.assert_allclose(a.coefficients.to_numpy(), b.coefficients.to_numpy(), rtol=1e-12)


def test_integer_response_expression_is_double():
    d = _data(seed=16)
    d["y"] = np.round(np.abs(d.y) * 4).astype("int8")   # y^2 past 127
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.errors.SingularFitWarning)
        _same_fit(mm.lmer("I(y^2) ~ x + (1|g)", d), mm.lmer("I(y^2) ~ x + (1|g)", d.astype({"y": float})))


def test_as_numeric_of_a_logical_is_zero_one():
    d = _data(seed=17)
    d["b"] = d.x > 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mm.errors.SingularFitWarning)
        a = mm.lmer("y ~ as.numeric(b) + (1|g)", d)
        ref = mm.lmer("y ~ b01 + (1|g)", d.assign(b01=d.b.astype(float)))
    np.testing.assert_allclose(a.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-10)


# ------------------------------------------------------------------ 2. a column named Intercept
def test_column_named_intercept_is_a_predictor():
    rng = np.random.default_rng(3)
    d = _data(seed=3).assign(Intercept=rng.normal(size=120))
    fit = mm.lmer("y ~ Intercept + x + (1|g)", d)
    ref = mm.lmer("y ~ z + x + (1|g)", d.rename(columns={"Intercept": "z"}))
    assert list(fit.fixef.index) == ["(Intercept)", "Intercept", "x"]
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(fit.predict(d.iloc[:5])),
                               np.asarray(ref.predict(d.rename(columns={"Intercept": "z"}).iloc[:5])), rtol=1e-10)


def test_column_named_intercept_in_interaction_and_lm():
    rng = np.random.default_rng(4)
    d = _data(seed=4).assign(Intercept=rng.normal(size=120))
    a = mm.lm("y ~ Intercept * x", d)
    b = mm.lm("y ~ z * x", d.rename(columns={"Intercept": "z"}))
    assert list(a.coefficients.index) == ["(Intercept)", "Intercept", "x", "Intercept:x"]
    np.testing.assert_allclose(a.coefficients.to_numpy(), b.coefficients.to_numpy(), rtol=1e-10)


def test_column_named_intercept_in_a_random_term_is_not_merged():
    # formulaic would give the term one column, the Intercept values named "(Intercept)"
    rng = np.random.default_rng(5)
    d = _data(seed=5).assign(Intercept=rng.normal(size=120))
    with pytest.raises(DataError, match="Intercept"):
        mm.lmer("y ~ Intercept + (Intercept|g)", d)


# ------------------------------------------------------------------ 3. numbers stored as objects
def test_object_numbers_are_numbers():
    d = _data(seed=5)
    ref = mm.lmer("y ~ x + (1|g)", d.assign(x=d.x.astype(float)))
    fit = mm.lmer("y ~ x + (1|g)", d.assign(x=d.x.astype(object)))
    _same_fit(fit, ref)
    assert list(fit.fixef.index) == ["(Intercept)", "x"]  # not x2, x3, ... as a factor


def test_decimal_and_none_column_is_numbers_with_a_missing_value():
    d = _data(seed=6)
    xs = d.x.astype(float) / 4
    obj = pd.Series([Decimal(str(v)) for v in xs], dtype=object)
    obj[7] = None
    fit = mm.lmer("y ~ x + (1|g)", d.assign(x=obj))
    ref = mm.lmer("y ~ x + (1|g)", d.assign(x=xs.where(xs.index != 7)))
    _same_fit(fit, ref)
    assert fit.nobs == 119


def test_object_number_response_is_numbers():
    d = _data(seed=18)
    _same_fit(mm.lmer("y ~ x + (1|g)", d.assign(y=d.y.astype(object))), mm.lmer("y ~ x + (1|g)", d))


def test_numbers_mixed_with_text_is_an_error():
    d = _data(seed=7)
    x = d.x.astype(object)
    x[3] = "n/a"
    with pytest.raises(DataError, match="mixes numbers and text"):
        mm.lmer("y ~ x + (1|g)", d.assign(x=x))
    with pytest.raises(DataError, match="mixes numbers and text"):
        mm.lm("y ~ x", d.assign(x=x))


def test_text_column_stays_a_factor():
    d = _data(seed=8)
    d["f"] = np.array(["b", "a", "c"])[np.arange(120) % 3]
    fit = mm.lmer("y ~ f + (1|g)", d)
    assert list(fit.fixef.index) == ["(Intercept)", "fb", "fc"]


def test_object_typed_grouping_numbers_are_levels():
    d = _data(seed=9, n=90, ngroup=3)
    g = pd.Series([[1, 2, 10][k] for k in d.g], dtype=object)
    fit = mm.lmer("y ~ x + (1|g)", d.assign(g=g))
    ref = mm.lmer("y ~ x + (1|g)", d.assign(g=np.array([1, 2, 10])[d.g]))
    assert fit.terms[0].levels == ["1", "2", "10"]
    _same_fit(fit, ref)


@pytest.mark.parametrize("bad", [lambda n: np.array(["1"] * n), lambda n: [True] * n,
                                 lambda n: pd.Series(pd.date_range("2020-01-01", periods=n))])
def test_weights_that_are_not_numbers_are_refused(bad):
    # R: model.frame(..., weights = "1") -> "variable lengths differ" / "'weights' must be a numeric vector"
    d = _data(seed=14)
    with pytest.raises(DataError, match="weights must be numbers"):
        mm.lmer("y ~ x + (1|g)", d, weights=bad(len(d)))


def test_object_number_weights_are_numbers():
    d = _data(seed=15)
    w = np.linspace(0.5, 2, len(d))
    _same_fit(mm.lmer("y ~ x + (1|g)", d, weights=pd.Series(w, dtype=object)),
              mm.lmer("y ~ x + (1|g)", d, weights=w))


# ------------------------------------------------------------------ 4. ordered factors: contr.poly
def test_contr_poly_values_are_rs():
    P, names = contr_poly(3)
    np.testing.assert_allclose(P[:, 0], [-0.7071068, 0, 0.7071068], atol=1e-7)
    np.testing.assert_allclose(P[:, 1], [0.4082483, -0.8164966, 0.4082483], atol=1e-7)
    assert names == [".L", ".Q"]
    P, names = contr_poly(5)  # R: contr.poly(5)
    np.testing.assert_allclose(P, [[-0.6324555, 0.5345225, -0.3162278, 0.1195229],
                                   [-0.3162278, -0.2672612, 0.6324555, -0.4780914],
                                   [0.0000000, -0.5345225, 0.0000000, 0.7171372],
                                   [0.3162278, -0.2672612, -0.6324555, -0.4780914],
                                   [0.6324555, 0.5345225, 0.3162278, 0.1195229]], atol=1e-7)
    assert names == [".L", ".Q", ".C", "^4"]
    P, names = contr_poly(7)
    assert names == [".L", ".Q", ".C", "^4", "^5", "^6"]
    np.testing.assert_allclose(P.T @ P, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(P.sum(axis=0), 0, atol=1e-12)


def _ordered_data(seed=10, k=4, unused=False):
    rng = np.random.default_rng(seed)
    n = 120
    g = np.repeat(np.arange(12), 10)
    levels = ["lo", "mid", "hi", "top", "max"][:k]
    cats = levels + (["never"] if unused else [])
    o = pd.Categorical(np.array(levels)[rng.integers(0, k, n)], categories=cats, ordered=True)
    x = rng.normal(size=n)
    y = rng.normal(size=n) + np.asarray(o.codes) + 0.5 * x + rng.normal(size=12)[g]
    return pd.DataFrame({"y": y, "o": o, "x": x, "g": g}), levels


def _explicit(d, levels):
    P, names = contr_poly(len(levels))
    codes = pd.Categorical(d.o.astype(str), categories=levels).codes
    cols = {f"p{j}": P[codes, j] for j in range(P.shape[1])}
    return d.assign(**cols), list(cols)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_ordered_factor_gets_polynomial_contrasts(k):
    d, levels = _ordered_data(k=k)
    fit = mm.lmer("y ~ o * x + (1|g)", d)
    e, cols = _explicit(d, levels)
    ref = mm.lmer(f"y ~ {' + '.join(cols)} + x + {' + '.join(c + ':x' for c in cols)} + (1|g)", e)
    suffix = [".L", ".Q", ".C", "^4"][: k - 1]
    assert list(fit.fixef.index) == (["(Intercept)"] + [f"o{s}" for s in suffix] + ["x"]
                                     + [f"o{s}:x" for s in suffix])
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-8, atol=1e-10)
    # new data: the same contrasts
    np.testing.assert_allclose(np.asarray(fit.predict(d.iloc[:8])), np.asarray(ref.predict(e.iloc[:8])), rtol=1e-8)


def test_ordered_factor_unused_level_is_dropped_first():
    # R's model frame drops unused levels before contr.poly: 4 used levels -> contr.poly(4)
    d, levels = _ordered_data(k=4, unused=True)
    fit = mm.lmer("y ~ o + (1|g)", d)
    assert list(fit.fixef.index) == ["(Intercept)", "o.L", "o.Q", "o.C"]
    e, cols = _explicit(d, levels)
    ref = mm.lmer(f"y ~ {' + '.join(cols)} + (1|g)", e)
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-8)


def test_unused_level_of_a_factor_is_dropped_as_r_does():
    # R's model.frame(drop.unused.levels = TRUE): no column "onever", no rank-deficiency warning,
    # and a prediction for the unused level is refused (R: "factor o has new level never")
    d, levels = _ordered_data(k=4, unused=True)
    d = d.assign(o=d.o.cat.as_unordered())
    with warnings.catch_warnings():
        warnings.simplefilter("error", mm.errors.RankDeficiencyWarning)
        fit = mm.lmer("y ~ o + (1|g)", d)
        lm_fit = mm.lm("y ~ o", d)
    assert list(fit.fixef.index) == ["(Intercept)", "omid", "ohi", "otop"]
    assert list(lm_fit.coefficients.index) == ["(Intercept)", "omid", "ohi", "otop"]
    nd = d.iloc[:2].copy()
    nd["o"] = pd.Categorical(["lo", "never"], categories=d.o.cat.categories)
    with pytest.raises(DataError, match="never"):
        fit.predict(nd)


def test_unused_level_kept_inside_a_call():
    # R: as.numeric(f) is evaluated on the factor as it is (levels "never", "lo", ...): codes 2, 3, ...
    d, levels = _ordered_data(k=3)
    d["o"] = pd.Categorical(d.o.astype(str), categories=["never"] + levels)
    fit = mm.lmer("y ~ as.numeric(o) + (1|g)", d)
    np.testing.assert_array_equal(fit.fixed.X[:, 1], d.o.cat.codes.to_numpy() + 1.0)
    assert fit.fixed.X[:, 1].min() == 2


def test_ordered_factor_in_lm_and_unordered_stays_treatment():
    d, levels = _ordered_data(k=3)
    a = mm.lm("y ~ o", d)
    assert list(a.coefficients.index) == ["(Intercept)", "o.L", "o.Q"]
    e, cols = _explicit(d, levels)
    np.testing.assert_allclose(a.coefficients.to_numpy(), mm.lm("y ~ p0 + p1", e).coefficients.to_numpy(),
                               rtol=1e-10)
    u = d.assign(o=d.o.cat.as_unordered())
    assert list(mm.lm("y ~ o", u).coefficients.index) == ["(Intercept)", "omid", "ohi"]


def test_ordered_factor_without_intercept_is_dummies():
    # R: model.matrix(~ 0 + o) codes the first factor by indicators even when ordered
    d, levels = _ordered_data(k=3)
    fit = mm.lmer("y ~ 0 + o + (1|g)", d)
    assert list(fit.fixef.index) == ["olo", "omid", "ohi"]


def test_ordered_factor_anova_has_its_term():
    d, _ = _ordered_data(k=4)
    fit = mm.lmer("y ~ o + x + (1|g)", d)
    tab = mm.anova(fit)
    assert list(tab.index)[:2] == ["o", "x"]
    assert tab.loc["o", "NumDF"] == 3


def test_ordered_factor_and_int8_survive_save_and_load(tmp_path):
    d, _ = _ordered_data(k=4)
    d["k"] = (np.arange(len(d)) % 15).astype("int8")
    fit = mm.lmer("y ~ o + I(k^2) + (1|g)", d)
    path = tmp_path / "m.json"
    fit.save(path)
    back = mm.load_result(path)
    assert list(back.fixef.index) == ["(Intercept)", "o.L", "o.Q", "o.C", "I(k^2)"]
    np.testing.assert_allclose(back.fixef.to_numpy(), fit.fixef.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(back.predict(d.iloc[:6])), np.asarray(fit.predict(d.iloc[:6])),
                               rtol=1e-12)


# ------------------------------------------------------------------ 5. dates are not numbers
@pytest.mark.parametrize("kind", ["datetime", "tz", "timedelta", "date_objects"])
def test_datetime_predictor_is_an_error(kind):
    d = _data(seed=11)
    t = pd.Series(pd.date_range("2021-03-01", periods=len(d), freq="D"))
    col = {"datetime": t, "tz": t.dt.tz_localize("Europe/Paris"), "timedelta": t - t.min(),
           "date_objects": pd.Series(t.dt.date, dtype=object)}[kind]
    d = d.assign(when=col)
    with pytest.raises(DataError, match="convert it to numbers"):
        mm.lmer("y ~ when + (1|g)", d)
    with pytest.raises(DataError, match="convert it to numbers"):
        mm.lmer("y ~ x + (when|g)", d)
    with pytest.raises(DataError, match="convert it to numbers"):
        mm.lm("y ~ when", d)


def test_days_since_first_date_works():
    d = _data(seed=12)
    t = pd.Series(pd.date_range("2021-03-01", periods=len(d), freq="D"))
    d = d.assign(days=(t - t.min()).dt.days)
    assert "days" in mm.lmer("y ~ days + (1|g)", d).fixef.index


# ------------------------------------------------------------------ 6. polars without pyarrow
pl = pytest.importorskip("polars")


def _no_pyarrow():
    if importlib.util.find_spec("pyarrow") is not None:
        pytest.skip("pyarrow is installed: this checks the path without it")


def _polars_data(seed=13):
    rng = np.random.default_rng(seed)
    n = 120
    g = np.repeat(np.arange(12), 10)
    f = np.array(["b", "a", "c"])[rng.integers(0, 3, n)]
    x = rng.integers(-12, 12, n)
    y = rng.normal(size=n) + 0.02 * x.astype(float) ** 2 + (f == "c") + rng.normal(size=12)[g]
    y[5] = np.nan
    b = rng.random(n) < 0.5
    p = pl.DataFrame({
        "y": pl.Series(y).fill_nan(None),                 # a polars null
        "x": pl.Series(x, dtype=pl.Int8),
        "g": pl.Series(g, dtype=pl.Int32),
        "f": pl.Series(f, dtype=pl.Categorical),
        "e": pl.Series(f, dtype=pl.Enum(["c", "b", "a"])),
        "b": pl.Series(b),
    })
    pdf = pd.DataFrame({"y": y, "x": x.astype(float), "g": g, "f": pd.Categorical(f),
                        "e": pd.Categorical(f, categories=["c", "b", "a"]), "b": b})
    return p, pdf


def test_polars_lmer_levels_nulls_integers():
    _no_pyarrow()
    p, pdf = _polars_data()
    fit = mm.lmer("y ~ I(x^2) + f + b + (1|g)", p)
    ref = mm.lmer("y ~ I(x^2) + f + b + (1|g)", pdf)
    _same_fit(fit, ref)
    assert list(fit.fixef.index) == ["(Intercept)", "I(x^2)", "fb", "fc", "bTRUE"]  # Categorical: sorted
    fit_e = mm.lmer("y ~ e + (1|g)", p)
    assert list(fit_e.fixef.index) == ["(Intercept)", "eb", "ea"]  # Enum: declared order
    assert fit.nobs == 119  # the null response left out


def test_polars_lazyframe_glmer_lm_lmlist():
    _no_pyarrow()
    p, pdf = _polars_data()
    _same_fit(mm.lmer("y ~ x + f + (1|g)", p.lazy()), mm.lmer("y ~ x + f + (1|g)", pdf))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mm.glmer("b ~ x + (1|g)", p, family="binomial")
        b = mm.glmer("b ~ x + (1|g)", pdf, family="binomial")
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(mm.lm("y ~ x * f", p).coefficients.to_numpy(),
                               mm.lm("y ~ x * f", pdf).coefficients.to_numpy(), rtol=1e-10)
    la, lb = mm.lmlist("y ~ x | g", p), mm.lmlist("y ~ x | g", pdf)
    pd.testing.assert_frame_equal(la.coef(), lb.coef())


def test_polars_dates_convert_then_refused_as_predictor():
    import datetime as dt

    _no_pyarrow()
    p, _ = _polars_data()
    p = p.with_columns(pl.Series("day", [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(p.height)]))
    with pytest.raises(DataError, match="convert it to numbers"):
        mm.lmer("y ~ day + (1|g)", p)


def test_polars_lazyframe_that_cannot_collect_is_a_data_error():
    _no_pyarrow()
    lazy = pl.LazyFrame({"a": [1, 2]}).select(pl.col("nope"))
    with pytest.raises(DataError, match="LazyFrame"):
        mm.lmer("y ~ x + (1|g)", lazy)


def test_polars_newdata_predict():
    _no_pyarrow()
    p, pdf = _polars_data()
    fit = mm.lmer("y ~ I(x^2) + f + b + (1|g)", p)
    np.testing.assert_allclose(np.asarray(fit.predict(p.head(10))), np.asarray(fit.predict(pdf.head(10))),
                               rtol=1e-10)
    np.testing.assert_allclose(np.asarray(fit.predict(p.lazy().head(10))), np.asarray(fit.predict(pdf.head(10))),
                               rtol=1e-10)
    lm_fit = mm.lm("y ~ I(x^2) + f", p)
    np.testing.assert_allclose(np.asarray(lm_fit.predict(p.head(10))), np.asarray(lm_fit.predict(pdf.head(10))),
                               rtol=1e-10)


# ------------------------------------------------------------------ 7. nested grouping factors
def _old_grouping_codes(factors, data):
    """The former implementation (full product of labels), for the small cases."""
    from mixedmodels.design.random import factor_codes

    codes = np.zeros(len(data), dtype=np.int64)
    labels = [""]
    for k, f in enumerate(factors):
        c, lab = factor_codes(data[f])
        codes = codes * len(lab) + c
        labels = [f"{a}:{b}" if k else b for a in labels for b in lab]
    used, codes = np.unique(codes, return_inverse=True)
    return codes.astype(np.int64), [labels[i] for i in used]


@pytest.mark.parametrize("seed", range(4))
def test_interaction_codes_as_before(seed):
    rng = np.random.default_rng(seed)
    n = 60
    d = pd.DataFrame({
        "a": pd.Categorical(rng.choice(["z", "y", "x"], n), categories=["z", "y", "x", "w"]),
        "b": rng.integers(0, 12, n),
        "c": rng.choice(["p", "q"], n),
    })
    for factors in [("a",), ("b",), ("a", "b"), ("b", "a"), ("a", "b", "c"), ("c", "b")]:
        new, old = grouping_codes(factors, d), _old_grouping_codes(factors, d)
        np.testing.assert_array_equal(new[0], old[0])
        assert new[1] == old[1]


def test_nested_grouping_builds_only_used_levels():
    rng = np.random.default_rng(0)
    n = 100_000
    school = rng.integers(0, 1000, n)
    student = rng.integers(0, 50_000, n)
    d = pd.DataFrame({"school": np.char.add("sch", school.astype(str)),
                      "student": np.char.add("st", student.astype(str))})
    tracemalloc.start()
    t0 = time.perf_counter()
    codes, labels = grouping_codes(("school", "student"), d)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200e6
    assert elapsed < 30
    pairs = pd.Series(list(zip(school, student))).nunique()
    assert len(labels) == pairs == codes.max() + 1
    k = int(np.flatnonzero(codes == 0)[0])
    assert labels[0] == f"{d.school[k]}:{d.student[k]}"


def test_ranef_index_keeps_integer_groups_so_frames_join_back():
    """An integer grouping column gives ranef frames an integer index (the data's values, in R's
    order), so that ``data.join(ranef, on=group)`` matches rows; labels stay for categoricals."""
    d = mm.load_dataset("sleepstudy").copy()
    d["sid"] = d["Subject"].astype(str).astype(int)
    m = mm.lmer("Reaction ~ Days + (Days | sid)", d)
    re = m.ranef()["sid"]
    assert pd.api.types.is_integer_dtype(re.index.dtype)
    assert list(re.index) == sorted(d["sid"].unique())
    joined = d.join(re.add_prefix("b_"), on="sid")
    ref = mm.lmer("Reaction ~ Days + (Days | Subject)", d).ranef()["Subject"]
    assert not pd.api.types.is_integer_dtype(ref.index.dtype)
    assert joined["b_Days"].notna().all()
    assert np.allclose(joined["b_Days"], ref.loc[d["Subject"].astype(str), "Days"].to_numpy(), rtol=1e-6)
    assert list(m.coef()["sid"].index) == list(re.index)
