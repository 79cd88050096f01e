"""Bad input, tried systematically: each gives a MixedModelError that names the problem and what to do.

tests/test_errors.py holds the first cases; these are the rest of the list in the reliability issue
(empty data, bad responses, NaN/inf, bad grouping factors, duplicated columns, broken formulas,
bad weights/offsets/control), plus the inputs that used to escape as bare Python errors.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import (ArgumentError, DataError, DataWarning, FormulaError, MixedModelError,
                                 RankDeficiencyWarning, ScaleWarning)

F = "Reaction ~ Days + (1 | Subject)"


def _fails(formula, data, cls, pattern, **kw):
    with pytest.raises(cls, match=pattern) as e:
        mm.lmer(formula, data, **kw)
    assert isinstance(e.value, MixedModelError)
    return str(e.value)


# ------------------------------------------------------------------ data
def test_empty_data_frame(sleepstudy):
    _fails(F, sleepstudy.iloc[:0], DataError, "the data have no rows")


def test_data_without_columns():
    _fails("y ~ x + (1 | g)", pd.DataFrame(), DataError, r"'y', 'x', 'g' used in the formula .* the data have no "
                                                         r"columns")


@pytest.mark.parametrize("data, kind", [([1, 2, 3], "list"), (np.zeros((3, 3)), "ndarray"), (None, "NoneType"),
                                        ("sleepstudy", "str")])
def test_data_that_is_not_a_frame(data, kind):
    _fails("y ~ x + (1 | g)", data, DataError, f"must be a pandas or polars DataFrame, got {kind}")


def test_series_is_not_a_frame(sleepstudy):
    _fails(F, sleepstudy["Reaction"], DataError, "got Series")


def test_duplicated_column_names(sleepstudy):
    d = pd.concat([sleepstudy, sleepstudy[["Days"]]], axis=1)
    _fails(F, d, DataError, r"column name\(s\) 'Days' appear more than once .* unique name")


def test_duplicated_unused_column_is_harmless(sleepstudy):
    d = pd.concat([sleepstudy, sleepstudy[["Days"]].rename(columns={"Days": "extra"}),
                   sleepstudy[["Days"]].rename(columns={"Days": "extra"})], axis=1)
    assert mm.lmer(F, d).nobs == 180


# ------------------------------------------------------------------ the response
def test_text_response(sleepstudy):
    _fails("r ~ Days + (1 | Subject)", sleepstudy.assign(r=sleepstudy["Reaction"].astype(str)), DataError,
           "response 'r' must be numeric")


def test_constant_response(sleepstudy):
    _fails("r ~ Days + (1 | Subject)", sleepstudy.assign(r=2.5), DataError,
           r"response 'r' is constant \(every value is 2.5\).*needs variation")


def test_all_missing_response(sleepstudy):
    _fails("r ~ Days + (1 | Subject)", sleepstudy.assign(r=np.nan), DataError,
           "no rows left after dropping the 180 rows with a missing value in r")


def test_response_reproduced_exactly_by_the_fixed_effects(sleepstudy):
    _fails("r ~ Days + (1 | Subject)", sleepstudy.assign(r=3 * sleepstudy["Days"] + 1.5), DataError,
           r"reproduce the response 'r' exactly")


def test_response_too_large_for_double_precision(sleepstudy):
    _fails(F, sleepstudy.assign(Reaction=sleepstudy["Reaction"] * 1e300), DataError,
           "response 'Reaction' has values of size .*e\\+302.*rescale")


def test_response_nan_from_a_transformation_drops_rows(sleepstudy):
    # R's model frame evaluates log() first, then na.omit drops the NaN rows
    with pytest.warns(DataWarning, match="102 row\\(s\\) left out because the response .* is NaN"):
        m = mm.lmer("log(Reaction - 300) ~ Days + (1 | Subject)", sleepstudy)
    assert m.nobs == 78  # R: nobs(lmer(log(Reaction - 300) ~ ...)) == 78


# ------------------------------------------------------------------ predictors
def test_nan_in_a_predictor_drops_the_row(sleepstudy):
    d = sleepstudy.assign(Days=sleepstudy["Days"].astype(float))
    d.loc[[1, 2], "Days"] = np.nan
    m = mm.lmer(F, d)
    assert m.nobs == 178 and 1 not in m.fitted.index


def test_inf_in_a_predictor_is_an_error_naming_it(sleepstudy):
    d = sleepstudy.assign(Days=sleepstudy["Days"].astype(float))
    d.loc[7, "Days"] = np.inf
    _fails(F, d, DataError, r"variable 'Days' has infinite values \(first at row 7\)")


def test_inf_from_a_transformation_names_the_column(sleepstudy):
    _fails("Reaction ~ log(Days) + (1 | Subject)", sleepstudy, DataError,
           r"infinite values in column 'log\(Days\)' \(first at row 0\)")


def test_predictor_too_large_for_double_precision(sleepstudy):
    _fails("Reaction ~ x + (1 | Subject)", sleepstudy.assign(x=sleepstudy["Days"] * 1e300), DataError,
           "column 'x' has values of size 9e\\+300")


def test_complex_predictor(sleepstudy):
    _fails("Reaction ~ x + (1 | Subject)", sleepstudy.assign(x=sleepstudy["Days"] * 1j), DataError,
           "column 'x' holds complex numbers")


def test_nullable_string_predictor_is_a_factor(sleepstudy):
    d = sleepstudy.assign(x=pd.array(["a", None, "b"] * 60, dtype="string"))
    m = mm.lmer("Reaction ~ x + (1 | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "xb"] and m.nobs == 120


# ------------------------------------------------------------------ grouping factors
def test_continuous_grouping_variable_with_distinct_values(sleepstudy):
    x = np.random.default_rng(1).normal(size=180)
    _fails("Reaction ~ Days + (1 | x)", sleepstudy.assign(x=x), DataError,
           r"must be < number of observations \(problems: x\).*continuous variable")


def test_grouping_factor_with_one_level(sleepstudy):
    _fails("Reaction ~ Days + (1 | one)", sleepstudy.assign(one=1.0), DataError,
           r"grouping factors must have > 1 sampled level \(problems: one\)")


def test_as_many_levels_as_observations(sleepstudy):
    d = sleepstudy.iloc[:20].assign(row=[f"r{i}" for i in range(20)])
    _fails("Reaction ~ Days + (1 | row)", d, DataError, r"\(problems: row\)")


# ------------------------------------------------------------------ formulas
@pytest.mark.parametrize("formula, pattern", [
    ("Reaction ~ Days + (Days | Subject))", r"unmatched '\)'"),
    ("Reaction ~ (Days + (1 | Subject)", r"unmatched '\('"),
    ("Reaction ~ Days | Subject", "must be in parentheses"),
    ("Reaction ~ Days + 1 | Subject + (1 | Subject)", "must be in parentheses"),
    ("Reaction ~ Days + ()", r"empty parentheses '\(\)'"),
    ("Reaction ~ Days + () + (1 | Subject)", r"empty parentheses '\(\)'"),
    ("Reaction ~ foo(Days) + (1 | Subject)", r"'foo' is not a function a formula may call; allowed: log\(\)"),
    ("Reaction ~ Days + (foo(Days) | Subject)", "'foo' is not a function a formula may call"),
    ("foo(Reaction) ~ Days + (1 | Subject)", "'foo' is not a function a formula may call"),
    ("Reaction ~ Days + (1 | Subject | Days)", "one '|' between its terms and its grouping factor"),
    ("Reaction ~ Days + (1 | Subject + Days)", r"must be a column name.*\(1 \| Subject\) \+ \(1 \| Days\)"),
    ("Reaction ~ Days + (1 | 3)", "grouping factor '3' must be a column name"),
    ("Reaction ~ Days + (1 ||| Subject)", r"'\|\|\|' is not an operator"),
    ("Reaction ~ Days + (1 | )", "no grouping factor"),
    ("Reaction ~ Days + ( | Subject)", r"nothing on the left of '\|'"),
    ("Reaction ~ . + (1 | Subject)", r"'\.' \(all other columns\) is not supported"),
    ("Reaction ~ Days + offset() + (1 | Subject)", r"offset\(\) needs one expression"),
    ("Reaction ~ Days^ + (1 | Subject)", "cannot build the fixed-effects model matrix"),
    ("Reaction ~ ~ Days + (1 | Subject)", "exactly one '~'"),
    ("", "exactly one '~'"),
    ("Reaction ~ Days + (0 | Subject)", "has no columns"),
    ("Reaction ~ Days * (1 | Subject)", "cannot be combined with other terms"),
])
def test_broken_formulas(sleepstudy, formula, pattern):
    msg = _fails(formula, sleepstudy, FormulaError, pattern)
    assert "\x1b[" not in msg  # no terminal colour codes from formulaic


def test_redundant_parentheses_around_a_random_term(sleepstudy):
    m = mm.lmer("Reaction ~ Days + ((1 | Subject))", sleepstudy)
    assert list(m.ngroups) == ["Subject"]


def test_formula_that_is_not_a_string(sleepstudy):
    _fails(3, sleepstudy, FormulaError, "must be a string")


# ------------------------------------------------------------------ weights, offset, control
@pytest.mark.parametrize("weights, cls, pattern", [
    (-np.ones(180), DataError, "weights must be finite and non-negative; got -1 at row 0"),
    (np.ones(10), DataError, "weights has 10 values but the data have 180 rows"),
    (np.ones((180, 2)), DataError, "weights has 360 values"),
    (["a"] * 180, DataError, "weights must be numbers"),
    (np.zeros(180), DataError, r"180 weight\(s\) are 0; lmer needs positive weights"),
    ("nope", DataError, "weights='nope' is not a column of the data"),
])
def test_bad_weights(sleepstudy, weights, cls, pattern):
    _fails(F, sleepstudy, cls, pattern, weights=weights)


def test_weights_by_column_name_equal_weights_by_array(sleepstudy):
    w = np.linspace(0.5, 2.0, 180)
    a = mm.lmer(F, sleepstudy.assign(w=w), weights="w")
    b = mm.lmer(F, sleepstudy, weights=w)
    np.testing.assert_array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())


@pytest.mark.parametrize("offset, pattern", [
    (np.ones(10), "offset has 10 values but the data have 180 rows"),
    (np.r_[np.inf, np.ones(179)], r"offset has infinite values \(first at row 0\)"),
    ("abc", "offset='abc' is not a column of the data"),
    (object(), "offset must be numbers"),
])
def test_bad_offset(sleepstudy, offset, pattern):
    _fails(F, sleepstudy, DataError, pattern, offset=offset)


@pytest.mark.parametrize("control, pattern", [
    (3, "control must be a dict"),
    ({"maxeval": "many"}, r"control\['maxeval'\] must be a positive whole number"),
    ({"maxeval": 0}, "positive whole number"),
    ({"ftol_abs": -1.0}, r"control\['ftol_abs'\] must be a finite number >= 0"),
    ({"optimizer": 3}, "must be a name such as 'bobyqa'"),
    ({"optimizer": "newton"}, "unknown optimizer 'newton'"),
])
def test_bad_control(sleepstudy, control, pattern):
    _fails(F, sleepstudy, ArgumentError, pattern, control=control)


# ------------------------------------------------------------------ lme4's warnings at set-up
def test_rank_deficiency_warning_is_ours_and_names_the_columns(sleepstudy):
    d = sleepstudy.assign(Days2=2 * sleepstudy["Days"] + 1)
    with pytest.warns(RankDeficiencyWarning, match=r"dropping 1 column / coefficient \(Days2\)"):
        m = mm.lmer("Reaction ~ Days + Days2 + (1 | Subject)", d)
    assert m.fixed.dropped == ["Days2"]
    assert issubclass(RankDeficiencyWarning, UserWarning)  # older code catching UserWarning still works


def test_scale_warning_follows_lme4s_rule(sleepstudy):
    from mixedmodels.design.fixed import scale_problem

    with pytest.warns(ScaleWarning, match="Some predictor variables are on very different scales: consider "
                                          "rescaling"):
        mm.lmer("Reaction ~ x + (1 | Subject)", sleepstudy.assign(x=sleepstudy["Days"] * 1e4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SD(Days) = 2.9: fine
        mm.lmer(F, sleepstudy)
    one = np.ones(6)
    x = np.arange(6.0)
    assert not scale_problem(np.column_stack([one, x, 999 * x / x.std(ddof=1)]))    # SD 999: fine
    assert scale_problem(np.column_stack([one, x, 1001 * x / x.std(ddof=1)]))       # SD 1001: too large
    assert scale_problem(np.column_stack([one, 1e-4 * x]))                          # too small
    assert scale_problem(np.column_stack([x / x.std(ddof=1) * 0.9, x / x.std(ddof=1) * 901]))  # ratio 1001
    assert not scale_problem(np.column_stack([one, (x > 2).astype(float) * 1.0]))  # 0/1 columns are skipped


def test_random_slope_on_a_huge_scale_is_named(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScaleWarning)
        _fails("Reaction ~ x + (x | Subject)", sleepstudy.assign(x=sleepstudy["Days"] * 1e12), DataError,
               r"starting values: the random-effects term \(x \| Subject\) has a column 'x' of size 9e\+12")
