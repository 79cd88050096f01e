"""mm.lm against R's lm / summary.lm / logLik / confint / predict (fixtures made by tests/fixtures_lm/make_fixtures.R)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ArgumentError, DataError, FormulaError
from mixedmodels.linear.lm import LmResult, has_random_terms, lm

FIX = Path(__file__).parent / "fixtures_lm"
CASES = json.loads((FIX / "lm_cases.json").read_text(encoding="utf-8"))
LM = {c["name"]: c for c in CASES["lm"]}


def load(name: str) -> pd.DataFrame:
    """The data set a fixture names, as R had it."""
    if name in ("sleepstudy", "cake"):
        return mm.load_dataset(name)
    if name == "sleep_w":
        df = mm.load_dataset("sleepstudy")
        df["w"] = 1 / (df["Days"] + 1)
        df["o"] = 2.0 * df["Days"]
    elif name in ("tiny", "tiny7"):
        df = pd.read_csv(FIX / "tiny.csv")
        df = df.iloc[:7] if name == "tiny7" else df
    elif name == "holes":
        df = pd.read_csv(FIX / "holes.csv")
    else:
        raise KeyError(name)
    df.attrs["name"] = name
    return df


def arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in listed(values)], dtype=float)


def listed(v) -> list:
    """R's toJSON(auto_unbox = TRUE) writes a vector of length one as a scalar."""
    return v if isinstance(v, list) else [v]


@pytest.fixture(scope="module")
def fits():
    return {name: lm(c["formula"], load(c["data"]), weights=c["weights"]) for name, c in LM.items()}


def close(a, b, rtol=1e-9, atol=1e-10):
    np.testing.assert_allclose(np.asarray(a, dtype=float), arr(b) if isinstance(b, list) else b,
                               rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name", list(LM))
def test_numbers_match_r(fits, name):
    c, m = LM[name], fits[name]
    assert m.coef_names == listed(c["coef_names"])
    close(m.coefficients.to_numpy(), c["coef"])
    assert [m.coef_names[j] not in m.fixef.index for j in range(len(m.coef_names))] == listed(c["aliased"])
    ct = m.coef_table()
    assert list(ct.index) == listed(c["table"]["rows"])
    assert list(ct.columns) == ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]
    close(ct["Estimate"], c["table"]["Estimate"])
    close(ct["Std. Error"], c["table"]["SE"])
    close(ct["t value"], c["table"]["t"])
    close(ct["Pr(>|t|)"], c["table"]["p"], rtol=1e-7, atol=1e-300)
    close(m.sigma, c["sigma"])
    assert m.df_resid == c["df_residual"] and m.rank == c["rank"] and m.nobs == c["nobs"]
    close(m.r_squared, c["r_squared"])
    close(m.adj_r_squared, c["adj_r_squared"])
    if c["fstatistic"] is None:
        assert m.fstatistic is None
    else:
        close(np.array(m.fstatistic, dtype=float), c["fstatistic"])
    assert m.npar == c["loglik_df"]
    close(m.loglik, c["loglik"])
    close(m.aic, c["aic"])
    close(m.bic, c["bic"])
    close(m.rss, c["rss"])
    close(m.deviance, -2 * c["loglik"])
    V = np.array([[np.nan if v is None else v for v in listed(row)] for row in listed(c["vcov"])], dtype=float)
    ok = ~np.isnan(np.diag(V))  # R's vcov() has NA rows and columns for aliased coefficients
    close(m.vcov.to_numpy(), V[np.ix_(ok, ok)], atol=1e-12)
    ci = m.confint()
    assert list(ci.index) == listed(c["confint"]["rows"]) and list(ci.columns) == ["2.5 %", "97.5 %"]
    close(ci["2.5 %"], c["confint"]["lower"])
    close(ci["97.5 %"], c["confint"]["upper"])
    close(m.fitted, c["fitted"])
    close(m.residuals, c["residuals"], atol=1e-9)


@pytest.mark.parametrize("name", list(LM))
def test_summary_text_is_r_text(fits, name):
    assert str(fits[name].summary()) == LM[name]["summary_text"]


@pytest.mark.parametrize("name", [n for n, c in LM.items() if "predict" in c])
def test_predict_with_intervals(fits, name):
    c, m = LM[name], fits[name]
    new = pd.DataFrame(c["newdata"])
    if name == "cake":
        new["recipe"] = pd.Categorical(new["recipe"], categories=["A", "B", "C"])
    p = c["predict"]
    close(m.predict(new), p["fit"])
    conf = m.predict(new, interval="confidence")
    assert list(conf.columns) == ["fit", "lwr", "upr"]
    close(conf["lwr"], p["conf_lwr"])
    close(conf["upr"], p["conf_upr"])
    pred = m.predict(new, interval="prediction", level=0.9)
    close(pred["lwr"], p["pred90_lwr"])
    close(pred["upr"], p["pred90_upr"])


def test_predict_without_newdata_is_fitted(fits):
    m = fits["sleep_log"]
    close(m.predict(), m.fitted.to_numpy())


def test_anova_of_lmer_and_lm_matches_lme4(fits):
    a = CASES["anova_lmer_lm"]
    fm = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = mm.anova(fm=fm, l0=fits["sleep"])
    assert list(tab.index) == a["rows"]  # sorted by npar: the lm first, as lme4
    assert list(tab["npar"]) == a["npar"]
    for col, key in (("AIC", "AIC"), ("BIC", "BIC"), ("logLik", "logLik"), ("deviance", "deviance"),
                     ("Chisq", "Chisq"), ("Df", "Df")):
        close(tab[col], a[key], rtol=1e-6)
    close(tab["Pr(>Chisq)"], a["p"], rtol=1e-4, atol=0)


def test_refit_and_reml(fits):
    m = fits["sleep"]
    assert m.reml is False and m.reml_criterion is None
    assert m.refit(REML=False) is m
    with pytest.raises(ArgumentError):
        m.refit(REML=True)


def test_weights_as_array_equal_weights_as_column():
    d = load("sleep_w")
    a = lm("Reaction ~ Days", d, weights="w")
    b = lm("Reaction ~ Days", d, weights=d["w"].to_numpy())
    close(a.fixef, b.fixef.to_numpy())
    assert "weights = weights" in b.call and "weights = w" in a.call


def test_zero_weights_leave_rows_out_of_the_fit():
    d = mm.load_dataset("sleepstudy")
    w = np.ones(len(d))
    w[:10] = 0.0
    a = lm("Reaction ~ Days", d, weights=w)
    b = lm("Reaction ~ Days", d.iloc[10:].reset_index(drop=True))
    close(a.fixef, b.fixef.to_numpy())
    close(a.loglik, b.loglik)
    assert a.nobs == 170 and a.df_resid == 168


def test_offset_in_formula():
    d = mm.load_dataset("sleepstudy")
    d["o"] = 2.0 * d["Days"]
    a = lm("Reaction ~ Days + offset(o)", d)
    b = lm("Reaction ~ Days", d)
    close(a.fixef["Days"], b.fixef["Days"] - 2)
    close(a.fitted, b.fitted.to_numpy())
    close(a.predict(pd.DataFrame({"Days": [3.0], "o": [6.0]})), b.predict(pd.DataFrame({"Days": [3.0]})))
    # R 4.2's summary.lm counts the offset in the fitted values: R-squared as without it here
    close(a.r_squared, b.r_squared)


def test_errors_are_clear():
    d = mm.load_dataset("sleepstudy")
    with pytest.raises(FormulaError, match="lmer"):
        lm("Reaction ~ Days + (1 | Subject)", d)
    with pytest.raises(FormulaError):
        lm("Reaction Days", d)
    with pytest.raises(DataError, match="Dayz"):
        lm("Reaction ~ Dayz", d)
    with pytest.raises(DataError, match="weights"):
        lm("Reaction ~ Days", d, weights="nope")
    m = lm("Reaction ~ Days", d)
    with pytest.raises(ArgumentError):
        m.predict(pd.DataFrame({"Days": [1.0]}), interval="both")
    with pytest.raises(ArgumentError):
        m.confint(level=95)
    with pytest.raises(DataError):
        m.predict(pd.DataFrame({"Nights": [1.0]}))


def test_has_random_terms():
    assert has_random_terms("y ~ x + (1 | g)")
    assert has_random_terms("y ~ x + (x || g)")
    assert not has_random_terms("y ~ x * z + I(x^2)")


def test_html_and_markdown(fits):
    from mixedmodels.report.html import to_html, to_markdown

    m = fits["cake"]
    assert isinstance(m, LmResult)
    h = m._repr_html_()
    assert "<table" in h and "recipeB:temp" in h
    md = to_markdown(m)
    assert "| recipeB:temp |" in md and "R-squared" in md
    s = m.summary()
    assert to_markdown(s).startswith("```text\n") and "Multiple R-squared" in to_html(s)
    assert list(s.to_frame().index) == list(m.fixef.index)
