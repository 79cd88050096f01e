"""broom.mixed's tidy/glance/augment and lme4's coef(), checked against the fit's own numbers and R's."""
import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def slopes():
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp_fit():
    return mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", mm.load_dataset("cbpp"),
                    family="binomial")


def test_tidy_lmer_has_broom_mixed_rows_and_columns(slopes):
    t = slopes.tidy(conf_int=True)
    assert list(t.columns) == ["effect", "group", "term", "estimate", "std.error", "statistic", "df", "p.value",
                               "conf.low", "conf.high"]
    assert t["term"].tolist() == ["(Intercept)", "Days", "sd__(Intercept)", "cor__(Intercept).Days", "sd__Days",
                                  "sd__Observation"]
    assert t["group"].tolist() == [None, None, "Subject", "Subject", "Subject", "Residual"]
    ct = slopes.coef_table()
    fixed = t[t.effect == "fixed"].set_index("term")
    np.testing.assert_allclose(fixed["estimate"], ct["Estimate"], rtol=1e-12)
    np.testing.assert_allclose(fixed["df"], ct["df"], rtol=1e-12)
    np.testing.assert_allclose(fixed.loc["Days", ["estimate", "std.error", "df"]].to_numpy(float),
                               [10.467, 1.546, 17.0], rtol=5e-4)  # the lecture's lmerTest line
    ran = t[t.effect == "ran_pars"].set_index("term")["estimate"]
    np.testing.assert_allclose(ran.to_numpy(float), [24.741, 0.066, 5.922, 25.592], atol=2e-3)  # R's VarCorr
    half = 1.959963984540054 * fixed["std.error"]
    np.testing.assert_allclose(fixed["conf.high"] - fixed["conf.low"], 2 * half, rtol=1e-12)
    only = slopes.tidy(effects="ran_pars")
    assert set(only["effect"]) == {"ran_pars"} and len(only) == 4


def test_tidy_glmer_has_z_tests_and_no_residual_sd(cbpp_fit):
    t = cbpp_fit.tidy()
    assert "df" not in t.columns
    assert t["term"].tolist()[-1] == "sd__(Intercept)" and "sd__Observation" not in t["term"].tolist()
    np.testing.assert_allclose(t.loc[0, "estimate"], -1.3983, atol=1e-3)  # R's glmer on cbpp
    np.testing.assert_allclose(t.iloc[-1]["estimate"], 0.6421, atol=1e-3)


def test_glance(slopes, cbpp_fit):
    g = slopes.glance()
    assert g.shape == (1, 8)
    assert g.loc[0, "REMLcrit"] == pytest.approx(1743.628, abs=1e-3)
    assert g.loc[0, "df.residual"] == 180 - 6 and g.loc[0, "nobs"] == 180
    gg = cbpp_fit.glance()
    assert "REMLcrit" not in gg.columns and gg.loc[0, "logLik"] == pytest.approx(-92.027, abs=1e-3)


def test_augment(slopes, cbpp_fit):
    a = slopes.augment()
    assert list(a.columns[:3]) == ["Reaction", "Days", "Subject"]
    np.testing.assert_allclose(a[".fitted"], slopes.fitted, rtol=1e-12)
    np.testing.assert_allclose(a[".resid"], slopes.residuals, rtol=1e-12)
    np.testing.assert_allclose(a[".cooksd"], slopes.cooks_distance(method="hat"), rtol=1e-12)
    np.testing.assert_allclose(a[".hat"], slopes.hatvalues(), rtol=1e-12)
    np.testing.assert_allclose(a[".fixed"], slopes.fixed.X @ slopes.beta, rtol=1e-12)
    b = cbpp_fit.augment()
    assert ".hat" not in b.columns and len(b) == 56
    np.testing.assert_allclose(b[".fitted"], cbpp_fit.fitted, rtol=1e-12)


def test_coef_adds_fixed_and_random_effects(slopes, cbpp_fit):
    c = slopes.coef()["Subject"]
    assert list(c.columns) == ["(Intercept)", "Days"] and len(c) == 18
    np.testing.assert_allclose(c.loc["308"].to_numpy(float), [253.6637, 19.6663], atol=1e-3)  # R's coef(fm1)
    re = slopes.ranef()["Subject"]
    np.testing.assert_allclose(c - re, np.tile(slopes.beta, (18, 1)), rtol=1e-12)
    h = cbpp_fit.coef()["herd"]
    assert list(h.columns) == ["(Intercept)", "period2", "period3", "period4"]
    np.testing.assert_allclose(h["period2"], cbpp_fit.fixef["period2"])


def test_coef_puts_a_random_only_column_first():
    d = mm.load_dataset("sleepstudy")
    m = mm.lmer("Reaction ~ 1 + (0 + Days | Subject)", d)
    c = m.coef()["Subject"]
    assert list(c.columns) == ["Days", "(Intercept)"]  # lme4: fixed part 0 for Days, placed first
    np.testing.assert_allclose(c["Days"], m.ranef()["Subject"]["Days"], rtol=1e-12)
    assert isinstance(c, pd.DataFrame)


def test_bad_effects_are_refused(slopes):
    with pytest.raises(mm.errors.ArgumentError, match="effects must be"):
        slopes.tidy(effects="random")


def test_coef_table_conf_int(slopes, cbpp_fit):
    from scipy import stats

    ct = slopes.coef_table(conf_int=0.95)
    assert list(ct.columns)[-2:] == ["2.5 %", "97.5 %"]
    q = stats.t.ppf(0.975, ct["df"])
    np.testing.assert_allclose(ct["97.5 %"], ct["Estimate"] + q * ct["Std. Error"], rtol=1e-12)
    # t limits with the test's df: 0 lies outside exactly when p < 0.05
    assert ((ct["2.5 %"] > 0) | (ct["97.5 %"] < 0)).tolist() == (ct["Pr(>|t|)"] < 0.05).tolist()
    assert list(slopes.coef_table("lme4", conf_int=0.9).columns)[-2:] == ["5 %", "95 %"]
    g = cbpp_fit.coef_table(conf_int=0.95)
    wald = cbpp_fit.confint(method="Wald")
    np.testing.assert_allclose(g[["2.5 %", "97.5 %"]].to_numpy(), wald.loc[g.index].to_numpy(), rtol=1e-10)
    with pytest.raises(mm.errors.ArgumentError):
        slopes.coef_table(conf_int=1.5)
