"""mm.anova(): lme4's likelihood-ratio tests, against R (tests/fixtures_lrt/make_fixtures.R)."""
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.inference.lrt import AnovaTable, RefitMLWarning
from mixedmodels.errors import ArgumentError, DataError

HERE = Path(__file__).parent
EXPECTED = json.loads((HERE / "fixtures_lrt" / "expected.json").read_text())
LRT_CASE = json.loads((HERE / "reference" / "cases" / "sleepstudy_lrt.json").read_text())


def _fit(formula, data, REML=True, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, REML=REML, **kw)


def _anova(*models, **named):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RefitMLWarning)
        return mm.anova(*models, **named)


def _nan_or(v):
    return math.nan if v is None else v


def check_table(tab, exp, cols=("npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)")):
    assert len(tab) == len(exp["rows"])
    for col in cols:
        ours = tab[col].to_numpy(dtype=float)
        ref = np.array([_nan_or(v) for v in exp[col]], dtype=float)
        assert np.array_equal(np.isnan(ours), np.isnan(ref)), col
        ok = ~np.isnan(ref)
        if col == "Pr(>Chisq)":
            assert np.allclose(np.log10(ours[ok]), np.log10(ref[ok]), atol=0.02), (col, ours, ref)
        else:
            assert np.allclose(ours[ok], ref[ok], rtol=0, atol=5e-3), (col, ours, ref)


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def fits(sleep):
    return {"slope": _fit("Reaction ~ Days + (Days | Subject)", sleep),
            "int": _fit("Reaction ~ Days + (1 | Subject)", sleep),
            "unc": _fit("Reaction ~ Days + (Days || Subject)", sleep)}


def test_reference_case_and_its_print(sleep):
    m1 = _fit(LRT_CASE["formulas"][0], sleep, data_name="d")
    m2 = _fit(LRT_CASE["formulas"][1], sleep, data_name="d")
    with pytest.warns(RefitMLWarning, match="refitting model"):
        tab = mm.anova(m1, m2)
    assert isinstance(tab, AnovaTable) and isinstance(tab, pd.DataFrame)
    assert list(tab.index) == ["MODEL1", "MODEL2"]
    assert list(tab.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
    exp = dict(LRT_CASE, rows=["MODEL1", "MODEL2"], **{"Pr(>Chisq)": LRT_CASE["p"]})
    check_table(tab, exp)
    assert str(tab) == LRT_CASE["text"]          # R's printed table, character for character
    assert type(tab.to_frame()) is pd.DataFrame
    assert tab["Chisq"].iloc[1] == pytest.approx(42.1393, abs=1e-3)
    # the originals are untouched: still REML fits
    assert m1.reml and m2.reml


def test_rows_sorted_by_npar_with_names(fits):
    exp = EXPECTED["lrt_three_unsorted"]
    tab = _anova(m_slope=fits["slope"], m_int=fits["int"], m_unc=fits["unc"])
    assert list(tab.index) == exp["rows"] == ["m_int", "m_unc", "m_slope"]
    check_table(tab, exp)


def test_ml_fits_are_not_refitted(sleep):
    exp = EXPECTED["lrt_ml_fixed"]
    m0, m1 = (_fit(f, sleep, REML=False) for f in exp["formulas"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RefitMLWarning)
        tab = mm.anova(m0, m1)
    check_table(tab, exp)


def test_equal_npar_gives_no_test(sleep):
    """lme4 allows models with equal npar: Df 0 and no p-value (an AIC comparison)."""
    exp = EXPECTED["lrt_equal_npar"]
    tab = mm.anova(*(_fit(f, sleep, REML=False) for f in exp["formulas"]))
    check_table(tab, exp)
    assert tab["Df"].iloc[1] == 0 and np.isnan(tab["Pr(>Chisq)"].iloc[1])


def test_with_an_ordinary_linear_model(sleep, fits):
    lm = getattr(mm, "lm", None) or pytest.importorskip("mixedmodels.linear.lm").lm
    exp = EXPECTED["lrt_with_lm"]
    tab = _anova(fits["int"], lm("Reaction ~ Days", sleep))
    assert list(tab.index) == ["MODEL2", "MODEL1"]   # the lm has fewer parameters
    check_table(tab, exp)


def test_refit_false_keeps_reml(fits):
    tab = mm.anova(fits["int"], fits["slope"], refit=False)
    assert tab["logLik"].tolist() == pytest.approx([fits["int"].loglik, fits["slope"].loglik])


def test_print_of_named_models_matches_r(fits):
    tab = _anova(m_int=fits["int"], m_slope=fits["slope"])
    tab_text = str(tab).replace("Data: data", "Data: sleepstudy")
    assert tab_text == EXPECTED["lrt_print"]


def test_different_data_are_refused(sleep, fits):
    short = _fit("Reaction ~ Days + (1 | Subject)", sleep.iloc[:170])
    with pytest.raises(DataError, match="same size"):
        mm.anova(fits["int"], short)
    other = sleep.assign(Reaction=np.log(sleep["Reaction"]))
    with pytest.raises(DataError, match="different responses"):
        _anova(fits["int"], _fit("Reaction ~ Days + (Days | Subject)", other))


def test_bad_arguments(fits):
    with pytest.raises(ArgumentError):
        mm.anova()
    with pytest.raises(ArgumentError, match="not a fitted model"):
        mm.anova(fits["int"], "model 2")


def test_single_model_gives_its_fixed_effects_table(fits):
    tab = mm.anova(fits["slope"])
    assert list(tab.index) == ["Days"]
    assert tab.loc["Days", "F value"] == pytest.approx(45.853, rel=1e-3)
