"""Every bad option of lmer() and glmer() fails with one of our errors, saying what was wrong and
what to do: never a bare TypeError, OverflowError or ValueError from numpy or NLopt.

Tested as a user meets them: start values, nAGQ, control (optimizer and PIRLS settings),
emmeans specs, refit(y=) and a date-time predictor.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ArgumentError, DataError
from mixedmodels.glmm.pirls import GlmmModel

LMER = "Reaction ~ Days + (Days | Subject)"
GLMER = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def cbpp():
    return mm.load_dataset("cbpp")


@pytest.fixture(scope="module")
def lmer_fit(cbpp):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer("incidence ~ period + (1 | herd)", cbpp)


@pytest.fixture(scope="module")
def glmer_fit(cbpp):
    return mm.glmer(GLMER, cbpp, family="binomial")


def _glmer(cbpp, **kw):
    return mm.glmer(GLMER, cbpp, family="binomial", **kw)


# ------------------------------------------------------------------------------------------ start

@pytest.mark.parametrize("start, pattern", [
    ([1.0, 0.0], r"start theta needs 3 value\(s\).*\(Days \| Subject\)"),
    ("1, 0, 1", "start theta must be a list or array of 3 number"),
    ([True, False, True], "start theta must be 3 number"),
    ([[1.0, 0.0, 1.0]], "flat list or 1-d array"),
    ([np.nan, 0.0, 1.0], "non-finite value.*give finite numbers"),
    ([1.0, 0.0, np.inf], "non-finite value"),
    ([1.0, 0.0, -1.0], "below the bound.*cannot be negative"),
    ({"theta": [1.0, 0.0, 1.0], "beta": [250.0, 10.0]}, "lmer takes start theta only"),
])
def test_lmer_bad_start(sleep, start, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        mm.lmer(LMER, sleep, start=start)


def test_lmer_start_is_used(sleep):
    m0 = mm.lmer(LMER, sleep)
    for start in ([0.9, 0.01, 0.2], {"theta": [0.9, 0.01, 0.2]}, np.array([1.0, 0.0, 1.0])):
        m = mm.lmer(LMER, sleep, start=start)
        assert m.objective == pytest.approx(m0.objective, abs=1e-6)


@pytest.mark.parametrize("start, pattern", [
    ({"theta": [1.0, 2.0]}, r"start theta needs 1 value\(s\).*\(1 \| herd\)"),
    ("a", "start theta must be a list or array of 1 number"),
    ({"theta": [np.nan]}, "non-finite value"),
    ({"theta": [-1.0]}, "below the bound"),
    ({"theta": [1.0], "beta": [0.0, 1.0]}, r"start beta needs 4 value\(s\) \(one per fixed effect"),
    ({"theta": [1.0], "beta": [0.0, 1.0, 2.0, np.inf]}, "start beta has non-finite value"),
    ({"theta": [1.0], "beta": "abcd"}, "start beta must be a list or array of 4 number"),
    ({"ranef": [1.0]}, "unknown start key.*'theta' and 'beta'"),
    ({"beta": [0.0] * 4, "fixef": [0.0] * 4}, "both 'beta' and 'fixef'"),
])
def test_glmer_bad_start(cbpp, start, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        _glmer(cbpp, start=start)


def test_glmer_start_takes_lme4s_fixef(cbpp, glmer_fit):
    m = _glmer(cbpp, start={"theta": [0.6], "fixef": [-1.4, -1.0, -1.1, -1.6]})
    assert m.loglik == pytest.approx(glmer_fit.loglik, abs=1e-5)
    m = _glmer(cbpp, start=[0.6])  # a bare vector is theta, as lme4's
    assert m.loglik == pytest.approx(glmer_fit.loglik, abs=1e-5)


# ------------------------------------------------------------------------------------------ nAGQ

@pytest.mark.parametrize("nagq", [float("inf"), -1, 2.5, "9", True, None, float("nan"), 26])
def test_bad_nagq(cbpp, nagq):
    with pytest.raises(ArgumentError, match="nAGQ must be a whole number from 0 to 25"):
        _glmer(cbpp, nAGQ=nagq)


def test_bad_nagq_in_glmer_nb(cbpp):
    with pytest.raises(ArgumentError, match="nAGQ must be a whole number"):
        mm.glmer_nb("incidence ~ period + (1 | herd)", cbpp, nAGQ=float("inf"))


@pytest.mark.parametrize("formula, what", [
    ("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)", "2 random-effects terms"),
    ("cbind(incidence, size - incidence) ~ size + (size | herd)", r"vector-valued term \(size \| herd\)"),
])
def test_quadrature_needs_one_scalar_term(cbpp, formula, what):
    with pytest.raises(ArgumentError, match=f"single, scalar random-effects term.*{what}.*nAGQ=1"):
        mm.glmer(formula, cbpp, family="binomial", nAGQ=5)


# ------------------------------------------------------------------------------------------ control

MAXEVAL = [(2**63, "at most 2147483647"), (2**31, "at most 2147483647"), (0, "positive whole number"),
           (-5, "positive whole number"), (10.5, "positive whole number"), ("many", "positive whole number")]
TOLERANCES = [({"ftol_abs": -1.0}, ">= 0"), ({"xtol_abs": float("nan")}, ">= 0"),
              ({"xtol_rel": float("inf")}, ">= 0"), ({"boundary_tol": "small"}, ">= 0")]


@pytest.mark.parametrize("maxeval, pattern", MAXEVAL)
def test_lmer_bad_maxeval(sleep, maxeval, pattern):
    with pytest.raises(ArgumentError, match=r"control\['maxeval'\] must be a " + pattern if "positive" in pattern
                       else pattern):
        mm.lmer(LMER, sleep, control={"maxeval": maxeval})


@pytest.mark.parametrize("maxeval, pattern", MAXEVAL)
def test_glmer_bad_maxeval(cbpp, maxeval, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        _glmer(cbpp, control={"maxeval": maxeval})


@pytest.mark.parametrize("control, pattern", TOLERANCES)
def test_bad_tolerances(sleep, cbpp, control, pattern):
    key = next(iter(control))
    with pytest.raises(ArgumentError, match=rf"control\['{key}'\] must be a finite number {pattern}"):
        mm.lmer(LMER, sleep, control=control)
    with pytest.raises(ArgumentError, match=rf"control\['{key}'\] must be a finite number {pattern}"):
        _glmer(cbpp, control=control)


def test_unknown_control_settings_list_the_known_ones(sleep, cbpp):
    with pytest.raises(ArgumentError, match=r"unknown control setting\(s\) 'maxfun'; the known settings are "
                                            r"boundary_tol, ftol_abs, maxeval.*did you mean 'maxfun' -> 'maxeval'"):
        mm.lmer(LMER, sleep, control={"maxfun": 10})
    with pytest.raises(ArgumentError, match=r"'tolPwrss'.*maxit_pirls.*tol_pirls.*'tolPwrss' -> 'tol_pirls'"):
        _glmer(cbpp, control={"tolPwrss": 1e-8})
    with pytest.raises(ArgumentError, match="the known settings are"):
        _glmer(cbpp, control={1: 2})


@pytest.mark.parametrize("control", [[("maxeval", 10)], "maxeval=10", 3])
def test_control_must_be_a_dict(sleep, cbpp, control):
    with pytest.raises(ArgumentError, match="control must be a dict such as"):
        mm.lmer(LMER, sleep, control=control)
    with pytest.raises(ArgumentError, match="control must be a dict such as"):
        _glmer(cbpp, control=control)


@pytest.mark.parametrize("optimizer, pattern", [
    (3, "a name or a pair of names"),
    (("bobyqa",), "a name or a pair of names"),
    (("bobyqa", 3), "a name or a pair of names"),
    (("bobyqa", "newton"), "unknown optimizer 'newton'; choose one of 'bobyqa'"),
    ("newton", "unknown optimizer 'newton'"),
])
def test_glmer_bad_optimizer(cbpp, optimizer, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        _glmer(cbpp, control={"optimizer": optimizer})


# ------------------------------------------------------------------------------------------ PIRLS

@pytest.mark.parametrize("control, pattern", [
    ({"tol_pirls": -1.0}, r"control\['tol_pirls'\] must be a finite number > 0"),
    ({"tol_pirls": 0.0}, r"control\['tol_pirls'\] must be a finite number > 0"),
    ({"tol_pirls": float("nan")}, r"control\['tol_pirls'\] must be a finite number > 0"),
    ({"tol_pirls": "1e-7"}, r"control\['tol_pirls'\] must be a finite number > 0"),
    ({"maxit_pirls": 0}, r"control\['maxit_pirls'\] must be a whole number >= 1"),
    ({"maxit_pirls": 2.5}, r"control\['maxit_pirls'\] must be a whole number >= 1"),
    ({"maxit_pirls": True}, r"control\['maxit_pirls'\] must be a whole number >= 1"),
    ({"calc_derivs": "yes"}, r"control\['calc_derivs'\] must be True or False"),
    ({"nAGQ0initStep": 1}, r"control\['nAGQ0initStep'\] must be True or False"),
    ({"check_conv_grad": -0.002}, r"control\['check_conv_grad'\] must be a finite number > 0"),
])
def test_bad_glmer_settings(cbpp, control, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        _glmer(cbpp, control=control)


@pytest.mark.parametrize("kw, pattern", [({"tol": 0.0}, "PIRLS tolerance"), ({"tol": float("nan")}, "PIRLS tolerance"),
                                         ({"maxit": 0}, "PIRLS iteration limit")])
def test_pirls_workspace_refuses_bad_settings(glmer_fit, kw, pattern):
    m = glmer_fit.model
    with pytest.raises(ArgumentError, match=pattern):
        GlmmModel(m.family, m.terms, m.X, m.y, m.ntrials, m.pw, m.offset, **kw)


def test_good_settings_still_fit(cbpp, glmer_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # another PIRLS tolerance: another Nelder-Mead path and gradient
        m = _glmer(cbpp, control={"tol_pirls": 1e-8, "maxit_pirls": 50, "maxeval": 2**31 - 1,
                                  "check_conv_grad": 0.01, "optimizer": ["bobyqa", "Nelder_Mead"]})
    assert m.loglik == pytest.approx(glmer_fit.loglik, abs=1e-3)


# ------------------------------------------------------------------------------------------ emmeans

@pytest.mark.parametrize("which", ["lmer", "glmer"])
@pytest.mark.parametrize("kw, pattern", [
    ({"specs": 3}, "specs must name factors of the fixed part: a name such as"),
    ({"specs": [3]}, "specs must name factors"),
    ({"specs": None}, "specs must name factors"),
    ({"specs": "period", "by": 3}, "by must name factors"),
    ({"specs": "nosuch"}, "'nosuch' is not a variable of the fixed part; emmeans needs factors \\(or numbers with two values\\) of the fixed part "
                          r"\(period\)"),
])
def test_bad_emmeans_specs(lmer_fit, glmer_fit, which, kw, pattern):
    m = lmer_fit if which == "lmer" else glmer_fit
    with pytest.raises(ArgumentError, match=pattern):
        m.emmeans(**kw)


# ------------------------------------------------------------------------------------------ refit(y=)

@pytest.mark.parametrize("which", ["lmer", "glmer"])
@pytest.mark.parametrize("make, pattern", [
    (lambda n: np.ones(n - 1), r"one response per observation used in the fit \(56\), got shape \(55,\)"),
    (lambda n: np.ones((n, 2)), "one response per observation"),
    (lambda n: ["a"] * n, "needs numbers.*pd.to_numeric"),
    (lambda n: "abc", "needs an array of 56 numbers"),
    (lambda n: np.r_[np.nan, np.full(n - 1, 0.5)], "1 missing or infinite value.*first at position 0"),
    (lambda n: np.r_[np.full(n - 1, 0.5), np.inf], "missing or infinite"),
])
def test_bad_refit_response(lmer_fit, glmer_fit, which, make, pattern):
    m = lmer_fit if which == "lmer" else glmer_fit
    with pytest.raises(DataError, match=pattern):
        m.refit(y=make(m.nobs))


def test_refit_takes_a_column_vector(lmer_fit):
    y = lmer_fit.frame.y
    r = lmer_fit.refit(y=pd.Series(y).to_frame().to_numpy())
    assert r.objective == pytest.approx(lmer_fit.objective, abs=1e-8)


# ------------------------------------------------------------------------------------------ dates

def test_datetime_predictor_says_to_convert_it(sleep, cbpp):
    d = sleep.assign(when=pd.Timestamp("2020-01-01") + pd.to_timedelta(sleep["Days"], unit="D"))
    with pytest.raises(DataError, match="'when' holds dates or times.*convert it to numbers"):
        mm.lmer("Reaction ~ when + (1 | Subject)", d)
    c = cbpp.assign(when=pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(cbpp)), unit="D"))
    with pytest.raises(DataError, match="'when' holds dates or times.*convert it to numbers"):
        mm.glmer("cbind(incidence, size - incidence) ~ when + (1 | herd)", c, family="binomial")


# ------------------------------------------------------------------------------------------ glmer_nb

@pytest.mark.parametrize("kw, pattern", [
    ({"tol": 0}, "tol must be a finite number > 0"),
    ({"tol": float("nan")}, "tol must be a finite number > 0"),
    ({"theta_start": -1.0}, "theta_start must be a finite number > 0"),
    ({"theta_start": "2"}, "theta_start must be a finite number > 0"),
    ({"interval": (3, 1)}, r"interval must be two finite numbers \(lower, upper\), lower < upper"),
    ({"interval": 2.0}, "interval must be two finite numbers"),
    ({"interval": (0, float("inf"))}, "interval must be two finite numbers"),
    ({"control": {"maxeval": 2**63}}, "at most 2147483647"),
])
def test_glmer_nb_bad_options(cbpp, kw, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        mm.glmer_nb("incidence ~ period + (1 | herd)", cbpp, **kw)
