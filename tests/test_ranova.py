"""lmerTest's ranova() and drop1(), against R (tests/fixtures_lrt/make_fixtures.R and the reference cases)."""
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
import refcheck
from conftest import EXTRA, REF
from mixedmodels.formula.parse import RandomTerm
from mixedmodels.inference.ranova import lm_loglik, reduce_random_term

EXPECTED = json.loads((Path(__file__).parent / "fixtures_lrt" / "expected.json").read_text())
DATA = {"sleepstudy": REF, "Penicillin": REF, "Pastes": REF, "growth": EXTRA, "fac3": EXTRA, "Orthodont": EXTRA,
        "ham": EXTRA, "nest3": EXTRA}


def _data(name):
    return refcheck.load_data(DATA[name], name)


def _fit(formula, dataset, REML=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, _data(dataset), REML=REML)


def _vals(v):
    return np.array([math.nan if x is None else x for x in (v if isinstance(v, list) else [v])], dtype=float)


def _close(ours, ref, atol):
    ours, ref = np.asarray(ours, dtype=float), _vals(ref)
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), (ours, ref)
    ok = ~np.isnan(ref)
    assert np.allclose(ours[ok], ref[ok], rtol=0, atol=atol), (ours, ref)


def _pclose(ours, ref):
    ours, ref = np.asarray(ours, dtype=float), _vals(ref)
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), (ours, ref)
    ok = ~np.isnan(ref)
    tiny = ref[ok] < 1e-300
    assert np.all(np.abs(np.log10(ours[ok][~tiny]) - np.log10(ref[ok][~tiny])) <= 0.02), (ours, ref)


RANOVA = [("ranova_uncorrelated", "sleepstudy"), ("ranova_intercept_lm", "sleepstudy"),
          ("ranova_intercept_lm_ml", "sleepstudy"), ("ranova_crossed", "Penicillin"), ("ranova_nested", "Pastes"),
          ("ranova_quadratic", "growth"), ("ranova_factor_slope", "fac3"), ("ranova_slope_ml", "Orthodont"),
          ("ranova_zero_intercept", "sleepstudy")]


@pytest.mark.parametrize("key,dataset", RANOVA, ids=[k for k, _ in RANOVA])
def test_ranova_matches_lmertest(key, dataset):
    exp = EXPECTED[key]
    m = _fit(exp["formula"], dataset, exp["REML"])
    tab = m.ranova()
    assert list(tab.index) == exp["rows"]
    assert list(tab.columns) == ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]
    _close(tab["npar"], exp["npar"], 0)
    _close(tab["Df"], exp["Df"], 0)
    _close(tab["logLik"], exp["logLik"], 3e-3)
    _close(tab["AIC"], exp["AIC"], 6e-3)
    _close(tab["LRT"], exp["LRT"], 5e-3)
    _pclose(tab["Pr(>Chisq)"], exp["Pr(>Chisq)"])


def test_ranova_three_level_nesting_names():
    ref = json.loads((EXTRA / "cases" / "nested_three_levels.json").read_text())
    tab = _fit(ref["formula"], "nest3").ranova()
    assert list(tab.index) == ref["ranova"]["terms"]
    _close(tab["LRT"], ref["ranova"]["LRT"], 5e-3)


def test_ranova_prints_as_r():
    m = _fit("Reaction ~ Days + (Days || Subject)", "sleepstudy")
    text = str(m.ranova())
    assert text.splitlines()[:4] == ["ANOVA-like table for random-effects: Single term deletions", "", "Model:",
                                     "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"]
    assert "Days in (0 + Days | Subject)    4 -893.23 1794.5 42.796  1  6.076e-11 ***" in text


def test_reductions_follow_lmertest():
    red = reduce_random_term(RandomTerm("1 + Days", ("Subject",)))
    assert [(n, str(t)) for n, t in red] == [("Days in (1 + Days | Subject)", "(1 | Subject)")]
    assert reduce_random_term(RandomTerm("1", ("g",))) == [("(1 | g)", None)]
    red = reduce_random_term(RandomTerm("0 + x", ("g",)))
    assert [(n, t.expr) for n, t in red] == [("x in (0 + x | g)", "1")]     # lmerTest's quirk: (1 | g)
    red = reduce_random_term(RandomTerm("a*b", ("g",)))                      # only the interaction can go
    assert [(n, t.expr) for n, t in red] == [("a:b in (a*b | g)", "a + b")]
    red = reduce_random_term(RandomTerm("0 + x + z", ("g",)))
    assert [t.expr for _, t in red] == ["0 + z", "0 + x"]


def test_lm_loglik_matches_r():
    """R: logLik(lm(Reaction ~ Days, sleepstudy), REML = TRUE / FALSE)."""
    d = _data("sleepstudy")
    X = np.column_stack([np.ones(len(d)), d["Days"].to_numpy(float)])
    y = d["Reaction"].to_numpy(float)
    assert lm_loglik(X, y, reml=False) == pytest.approx(-950.146528178182, abs=1e-8)
    assert lm_loglik(X, y, reml=True) == pytest.approx(-946.831831736054, abs=1e-8)


# ------------------------------------------------------------------ drop1

DROP1_F = [("drop1_slope", "sleepstudy", "Satterthwaite"), ("drop1_orthodont", "Orthodont", "Satterthwaite"),
           ("drop1_orthodont_kr", "Orthodont", "Kenward-Roger"), ("drop1_ham", "ham", "Satterthwaite")]


@pytest.mark.parametrize("key,dataset,ddf", DROP1_F, ids=[k for k, _, _ in DROP1_F])
def test_drop1_f_matches_lmertest(key, dataset, ddf):
    exp = EXPECTED[key]
    tab = _fit(exp["formula"], dataset).drop1(ddf=ddf)
    rows = exp["rows"] if isinstance(exp["rows"], list) else [exp["rows"]]
    assert list(tab.index) == rows
    assert list(tab.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    ref_f = _vals(exp["F value"])
    assert np.allclose(tab["F value"], ref_f, rtol=3e-3)
    assert np.allclose(tab["Sum Sq"], _vals(exp["Sum Sq"]), rtol=3e-3)
    assert np.allclose(tab["NumDF"], _vals(exp["NumDF"]))
    assert np.allclose(tab["DenDF"], _vals(exp["DenDF"]), rtol=1e-2)
    _pclose(tab["Pr(>F)"], exp["Pr(>F)"])


def test_drop1_chisq_matches_lme4():
    exp = EXPECTED["drop1_ham_chisq"]
    m = _fit(exp["formula"], "ham")
    tab = m.drop1(test="Chisq")
    assert list(tab.index) == exp["rows"]
    assert list(tab.columns) == ["npar", "AIC", "LRT", "Pr(Chi)"]
    _close(tab["npar"], exp["npar"], 0)
    _close(tab["AIC"], exp["AIC"], 6e-3)
    _close(tab["LRT"], exp["LRT"], 5e-3)
    _pclose(tab["Pr(Chi)"], exp["Pr(Chi)"])


def test_drop1_lme4_without_test():
    exp = EXPECTED["drop1_orthodont_none"]
    tab = _fit(exp["formula"], "Orthodont").drop1(ddf="lme4")
    assert list(tab.columns) == ["npar", "AIC"]
    _close(tab["AIC"], exp["AIC"], 6e-3)


def test_drop1_bad_test():
    m = _fit("Reaction ~ Days + (1 | Subject)", "sleepstudy")
    with pytest.raises(mm.errors.ArgumentError):
        m.drop1(test="Wald")
