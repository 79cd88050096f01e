"""predict() on bad newdata: it raises a DataError naming what is wrong, and the fitted model
(its formulaic specs: factor levels, scale()/poly() state) is left exactly as it was.

formulaic's ``get_model_matrix`` writes encoder and transform state back into the spec it is
given; newdata with a string where the fit had numbers used to turn the fitted ``Days`` into a
factor with the single level 'abc', after which ``anova()`` was empty and every predict() failed.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError


@pytest.fixture(scope="module")
def data():
    d = mm.load_dataset("sleepstudy").copy()
    d["grp"] = pd.Categorical(np.where(d["Days"] < 5, "a", "b"))
    d["txt"] = np.where(d["Days"] % 3 == 0, "u", np.where(d["Days"] % 3 == 1, "v", "w"))
    d["ok"] = d["Days"] % 2 == 0
    return d


@pytest.fixture(scope="module")
def lmer_fit(data):
    return mm.lmer("Reaction ~ Days * grp + txt + (1 | Subject)", data)


@pytest.fixture(scope="module")
def lm_fit(data):
    return mm.lm("Reaction ~ Days * grp + txt", data)


def _states(m) -> str:
    """Everything formulaic keeps in the fitted specs, as text."""
    specs = [m.spec] if hasattr(m, "spec") else [m.fixed.spec] + [t.spec for t in m.terms]
    return repr([(dict(s.encoder_state), dict(s.transform_state)) for s in specs])


def _bad(nd: pd.DataFrame) -> dict:
    return {
        "unseen level": nd.assign(txt=["u", "zzz", "v", "u"]),
        "unseen level of a categorical": nd.assign(grp=pd.Categorical(["a", "c", "a", "b"])),
        "number for a factor": nd.assign(grp=1.5),
        "string for a number": nd.assign(Days="abc"),
        "categorical for a number": nd.assign(Days=pd.Categorical(["x", "y", "x", "y"])),
        "bool for a number": nd.assign(Days=True),
        "missing column": nd.drop(columns="txt"),
        "missing factor": nd.drop(columns="grp"),
    }


# ---------------------------------------------------------------------------------------------- no mutation

@pytest.mark.parametrize("which", ["lmer", "lm"])
def test_a_failed_predict_leaves_the_fitted_specs_as_they_were(which, lmer_fit, lm_fit, data):
    m = lmer_fit if which == "lmer" else lm_fit
    nd = data.head(4).copy()
    before_states = _states(m)
    before_pred = np.asarray(m.predict(nd), dtype=float)
    before_anova = m.anova().to_csv() if which == "lmer" else None
    for what, bad in _bad(nd).items():
        with pytest.raises(DataError):
            m.predict(bad)
        assert _states(m) == before_states, f"predict with {what} changed the fitted spec"
        np.testing.assert_array_equal(np.asarray(m.predict(nd), dtype=float), before_pred)
    if which == "lmer":
        assert m.anova().to_csv() == before_anova
        assert list(m.anova().index) == ["Days", "grp", "txt", "Days:grp"]


def test_the_string_for_a_number_case_that_emptied_anova(lmer_fit, data):
    """The reported bug: Days='abc' turned the fitted Days into a one-level factor."""
    nd = data.head(3).assign(Days="abc")
    with pytest.raises(DataError, match=r"'Days' was numeric in the fit.*'abc'"):
        lmer_fit.predict(nd)
    kind, _ = lmer_fit.fixed.spec.encoder_state["Days"]
    assert getattr(kind, "value", kind) == "numerical"
    assert lmer_fit.anova().loc["Days", "NumDF"] == 1


def test_a_failed_emmeans_or_model_matrix_leaves_the_spec(lmer_fit, lm_fit, data):
    before = _states(lmer_fit), _states(lm_fit)
    with pytest.raises(DataError):
        lm_fit.model_matrix(data.head(2).assign(Days="x"))
    lmer_fit.emmeans("grp")
    assert (_states(lmer_fit), _states(lm_fit)) == before


@pytest.mark.parametrize("bad", [{"Days": "abc"}, {"grp": 1.5}, {"txt": 2.0}])
def test_formulaic_on_bad_data_does_not_write_into_the_fitted_spec(bad, lmer_fit, lm_fit, data):
    """Past the checks of predict(): formulaic itself sees the bad data (and fails, or for a
    number where a string factor was, codes it as no level), on a copy of the spec."""
    from mixedmodels.design.newdata import spec_model_matrix

    for m, spec in ((lmer_fit, lmer_fit.fixed.spec), (lm_fit, lm_fit.spec)):
        before = _states(m)
        try:
            spec_model_matrix(spec, data.head(3).assign(**bad), "the model matrix")
        except DataError as e:
            assert "cannot evaluate the model matrix" in str(e)
        assert _states(m) == before


def test_private_spec_is_a_copy_with_its_own_state(lmer_fit):
    from mixedmodels.design.newdata import private_spec

    spec = lmer_fit.fixed.spec
    p = private_spec(spec)
    assert p is not spec and p.encoder_state == spec.encoder_state
    assert p.encoder_state is not spec.encoder_state
    p.encoder_state["Days"] = ("changed", {})
    assert spec.encoder_state["Days"][0] != "changed"


# ---------------------------------------------------------------------------------------------- stateful transforms

@pytest.mark.parametrize("formula", ["Reaction ~ scale(Days) + (1 | Subject)",
                                     "Reaction ~ poly(Days, 2) + (1 | Subject)",
                                     "Reaction ~ center(Days) * grp + (1 | Subject)",
                                     "Reaction ~ Days + (scale(Days) | Subject)"])
def test_stateful_transforms_replay_the_training_state(formula, data):
    """scale(), poly() and center() on newdata use the fit's mean, sd and basis, not newdata's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(formula, data)
    rows = data.iloc[[3, 17, 40]]
    np.testing.assert_allclose(m.predict(rows), m.fitted.iloc[[3, 17, 40]], rtol=1e-10)
    lm_fit = mm.lm(formula.split(" + (")[0], data)
    np.testing.assert_allclose(lm_fit.predict(rows), np.asarray(lm_fit.fitted)[[3, 17, 40]], rtol=1e-10)
    before = _states(m)
    m.predict(data.iloc[[0]])  # one row: a fresh scale() would divide by an sd of NaN
    assert _states(m) == before


def test_a_deep_copy_of_the_fit_predicts_the_same(lmer_fit, data):
    nd = data.head(5)
    np.testing.assert_array_equal(copy.deepcopy(lmer_fit).predict(nd), lmer_fit.predict(nd))


# ---------------------------------------------------------------------------------------------- lm's errors

def test_lm_predict_with_an_unseen_level_names_the_column_and_the_level(lm_fit, data):
    nd = data.head(3).assign(txt=["u", "nope", "v"])
    with pytest.raises(DataError, match=r"level\(s\) 'nope' of the factor 'txt'.*its levels: u, v, w"):
        lm_fit.predict(nd)
    with pytest.raises(DataError, match=r"level\(s\) 'c' of the factor 'grp'"):
        lm_fit.predict(data.head(2).assign(grp=pd.Categorical(["a", "c"])), interval="confidence")


def test_lm_and_lmer_word_the_unseen_level_error_alike(lm_fit, lmer_fit, data):
    nd = data.head(3).assign(txt=["u", "nope", "v"])
    msgs = []
    for m in (lm_fit, lmer_fit):
        with pytest.raises(DataError) as e:
            m.predict(nd)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_lm_predict_with_a_missing_column_raises_a_data_error(lm_fit, data):
    with pytest.raises(DataError, match=r"newdata lacks the column\(s\) 'grp'"):
        lm_fit.predict(data.head(3).drop(columns="grp"))
    with pytest.raises(DataError, match="newdata must be a pandas or polars DataFrame"):
        lm_fit.predict([1, 2, 3])


def test_lm_predict_offset_column_missing_raises_a_data_error(data):
    d = data.assign(w=1.0 + data["Days"] / 10)
    m = mm.lm("Reaction ~ Days + offset(log(w))", d)
    np.testing.assert_allclose(m.predict(d.head(4)), m.predict()[:4], rtol=1e-12)
    with pytest.raises(DataError, match=r"lacks the column\(s\) 'w'"):
        m.predict(d.head(4).drop(columns="w"))


def test_lm_predict_accepts_the_fit_levels_in_any_form(lm_fit, data):
    """Strings for a categorical column, a categorical with fewer levels, a dict: all as the fit."""
    nd = data.iloc[[0, 7, 12]]
    ref = lm_fit.predict(nd)
    alt = nd.assign(grp=nd["grp"].astype(str), txt=pd.Categorical(nd["txt"]))
    np.testing.assert_allclose(lm_fit.predict(alt), ref, rtol=1e-12)
    np.testing.assert_allclose(lm_fit.predict(nd.to_dict("list")), ref, rtol=1e-12)
    np.testing.assert_allclose(ref, np.asarray(lm_fit.fitted)[[0, 7, 12]], rtol=1e-12)


def test_lm_predict_with_a_logical_predictor(data):
    m = mm.lm("Reaction ~ Days + ok", data)
    nd = data.iloc[[0, 1, 2]]
    np.testing.assert_allclose(m.predict(nd), np.asarray(m.fitted)[:3], rtol=1e-12)


def test_lm_predict_checks_interval_and_level_before_the_data(lm_fit, data):
    from mixedmodels.errors import ArgumentError

    with pytest.raises(ArgumentError, match="interval"):
        lm_fit.predict(data.head(2), interval="bogus")
    with pytest.raises(ArgumentError, match="level"):
        lm_fit.predict(data.head(2), interval="prediction", level=1.5)


def test_lmer_predict_level_that_is_not_a_number(lmer_fit, data):
    from mixedmodels.errors import ArgumentError

    with pytest.raises(ArgumentError, match="level must be a number between 0 and 1, got 'x'"):
        lmer_fit.predict(data.head(2), interval="confidence", level="x")


def test_an_r_coded_fixed_part_is_evaluated_on_a_copy_too(data):
    """A fixed part coded as R's model.matrix codes it (a factor without its margin) keeps its
    formulaic spec inside an RCodedSpec; private_spec copies the inner spec."""
    from mixedmodels.design.coding import RCodedSpec
    from mixedmodels.design.newdata import private_spec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ Days + grp:txt + (1 | Subject)", data)
    if not isinstance(m.fixed.spec, RCodedSpec):
        pytest.skip("this formula is not R-coded here")
    p = private_spec(m.fixed.spec)
    assert isinstance(p, RCodedSpec) and p.inner is not m.fixed.spec.inner
    np.testing.assert_allclose(m.predict(data.iloc[:6]), m.fitted.iloc[:6], rtol=1e-10)
    before = _states(m)
    for bad in _bad(data.head(4).copy()).values():
        with pytest.raises(DataError):
            m.predict(bad)
    assert _states(m) == before


@pytest.mark.parametrize("which", ["lmer", "lm"])
def test_numbers_stored_as_objects_are_numbers_strings_of_digits_are_not(which, lmer_fit, lm_fit, data):
    m = lmer_fit if which == "lmer" else lm_fit
    nd = data.iloc[[0, 1, 2]]
    ref = np.asarray(m.predict(nd), dtype=float)
    as_objects = nd.assign(Days=pd.Series([0, 1.0, None], index=nd.index, dtype=object))
    got = np.asarray(m.predict(as_objects), dtype=float)
    np.testing.assert_allclose(got[:2], ref[:2], rtol=1e-12)
    assert np.isnan(got[2])
    with pytest.raises(DataError, match=r"'Days' was numeric in the fit, but newdata gives .* values such as '0'"):
        m.predict(nd.assign(Days=["0", "1", "2"]))
