"""Every documented bad input gives a clear MixedModelError that says what was wrong."""
import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import (ArgumentError, DataError, FormulaError, MixedModelError)


def fit(formula, data, **kw):
    return mm.lmer(formula, data, **kw)


def test_formula_syntax_error_points_at_position(sleepstudy):
    with pytest.raises(FormulaError) as e:
        fit("Reaction ~ Days + (Days | Subject", sleepstudy)
    msg = str(e.value)
    assert "unmatched '('" in msg and "^" in msg and "position 18" in msg


def test_missing_tilde(sleepstudy):
    with pytest.raises(FormulaError, match="exactly one '~'"):
        fit("Reaction Days + (1 | Subject)", sleepstudy)


def test_bar_outside_parentheses(sleepstudy):
    with pytest.raises(FormulaError, match="must be in parentheses"):
        fit("Reaction ~ Days + 1 | Subject", sleepstudy)


def test_name_not_in_data(sleepstudy):
    with pytest.raises(DataError, match=r"'Dayz'.*not columns of the data.*Reaction, Days, Subject"):
        fit("Reaction ~ Dayz + (1 | Subject)", sleepstudy)


def test_grouping_name_not_in_data(sleepstudy):
    with pytest.raises(DataError, match="'Subj'"):
        fit("Reaction ~ Days + (1 | Subj)", sleepstudy)


def test_no_random_effects_term(sleepstudy):
    with pytest.raises(FormulaError, match=r"no random-effects terms .* \(1 \| group\)"):
        fit("Reaction ~ Days", sleepstudy)


def test_non_numeric_response(sleepstudy):
    with pytest.raises(DataError, match="response 'Subject' must be numeric.*factor"):
        fit("Subject ~ Days + (1 | Days)", sleepstudy)


def test_grouping_factor_with_one_level(sleepstudy):
    d = sleepstudy.assign(one="a")
    with pytest.raises(DataError, match=r"grouping factors must have > 1 sampled level \(problems: one\)"):
        fit("Reaction ~ Days + (1 | one)", d)


def test_as_many_levels_as_observations(sleepstudy):
    d = sleepstudy.assign(row=np.arange(len(sleepstudy)))
    with pytest.raises(DataError, match=r"number of levels of each grouping factor must be < number of "
                                        r"observations \(problems: row\)"):
        fit("Reaction ~ Days + (1 | row)", d)


def test_as_many_random_effects_as_observations(sleepstudy):
    d = sleepstudy.iloc[:60].copy()
    d["pair"] = np.repeat(np.arange(30), 2)
    with pytest.raises(DataError, match=r"number of observations \(=60\) <= number of random effects \(=60\) "
                                        r"for term \(1 \+ Days \| pair\)"):
        fit("Reaction ~ Days + (1 + Days | pair)", d)


def test_no_rows_left_after_missing_values(sleepstudy):
    d = sleepstudy.assign(Days=np.nan)
    with pytest.raises(DataError, match="no rows left after dropping the 180 rows with a missing value"):
        fit("Reaction ~ Days + (1 | Subject)", d)


def test_missing_values_are_dropped(sleepstudy):
    d = sleepstudy.copy()
    d.loc[[0, 5, 17], "Reaction"] = np.nan
    m = fit("Reaction ~ Days + (1 | Subject)", d)
    assert m.nobs == 177
    assert len(m.fitted) == 177 and 5 not in m.fitted.index


def test_infinite_values(sleepstudy):
    d = sleepstudy.copy()
    d.loc[3, "Reaction"] = np.inf
    with pytest.raises(DataError, match="infinite values"):
        fit("Reaction ~ Days + (1 | Subject)", d)
    d = sleepstudy.assign(Days=sleepstudy["Days"].astype(float))
    d.loc[3, "Days"] = -np.inf
    with pytest.raises(DataError, match="infinite"):
        fit("Reaction ~ Days + (1 | Subject)", d)


def test_data_not_a_frame():
    with pytest.raises(DataError, match="pandas or polars DataFrame"):
        fit("y ~ x + (1 | g)", [1, 2, 3])


def test_bad_option_values(sleepstudy):
    with pytest.raises(ArgumentError, match="REML must be True or False"):
        fit("Reaction ~ Days + (1 | Subject)", sleepstudy, REML="yes")
    with pytest.raises(ArgumentError, match="unknown control setting"):
        fit("Reaction ~ Days + (1 | Subject)", sleepstudy, control={"maxiter": 3})
    m = fit("Reaction ~ Days + (1 | Subject)", sleepstudy)
    with pytest.raises(ArgumentError, match="unknown ddf"):
        m.coef_table(ddf="Welch")


def test_weights_of_wrong_length(sleepstudy):
    with pytest.raises(DataError, match="weights has 3 values but the data have 180 rows"):
        fit("Reaction ~ Days + (1 | Subject)", sleepstudy, weights=[1, 2, 3])


def test_unknown_dataset():
    with pytest.raises(ArgumentError, match="unknown data set 'nope'; available:.*sleepstudy"):
        mm.load_dataset("nope")


def test_all_errors_share_the_base_class():
    for cls in (ArgumentError, DataError, FormulaError):
        assert issubclass(cls, MixedModelError)


def test_rank_deficient_fixed_effects_are_dropped_with_a_warning(sleepstudy):
    d = sleepstudy.assign(Days2=2 * sleepstudy["Days"])
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column / coefficient \\(Days2\\)"):
        m = fit("Reaction ~ Days + Days2 + (1 | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "Days"]


def test_singular_fit_warns_once():
    d = mm.load_dataset("Dyestuff2")
    with pytest.warns(mm.errors.SingularFitWarning, match="boundary \\(singular\\) fit") as rec:
        m = fit("Yield ~ 1 + (1 | Batch)", d)
    assert m.is_singular
    assert sum(issubclass(r.category, mm.errors.SingularFitWarning) for r in rec) == 1
