"""mm.lmlist against lme4's lmList: coef, confint, summary, printed text (fixtures: tests/fixtures_lm)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import FormulaError
from mixedmodels.linear.lmlist import LmListWarning, lmlist

FIX = Path(__file__).parent / "fixtures_lm"
CASES = json.loads((FIX / "lmlist_cases.json").read_text(encoding="utf-8"))
LL = {c["name"]: c for c in CASES["lmlist"]}


def load(name: str) -> pd.DataFrame:
    if name in ("sleepstudy", "cake"):
        return mm.load_dataset(name)
    df = pd.read_csv(FIX / "tiny.csv")
    df.attrs["name"] = name
    return df


def arr(values) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] if isinstance(row, list) else
                     (np.nan if row is None else row) for row in values], dtype=float)


@pytest.fixture(scope="module")
def fits():
    return {name: lmlist(c["formula"], load(c["data"])) for name, c in LL.items()}


@pytest.mark.parametrize("name", list(LL))
def test_coef_matches_lmList(fits, name):
    c, L = LL[name], fits[name]
    co = L.coef()
    assert list(co.index) == c["groups"]
    assert list(co.columns) == c["coef_names"]
    np.testing.assert_allclose(co.to_numpy(), arr(c["coef"]), rtol=1e-9, atol=1e-10, equal_nan=True)
    sd, df = L.pooled_sd()
    assert df == c["pooled_df"]
    np.testing.assert_allclose(sd, c["pooled_sd"], rtol=1e-10)


@pytest.mark.parametrize("name", list(LL))
@pytest.mark.parametrize("key,pool,level", [("confint", False, 0.95), ("confint_pool90", True, 0.9)])
def test_confint_matches_lmList(fits, name, key, pool, level):
    ci = fits[name].confint(level, pool=pool)
    for e in LL[name][key]:
        got = ci[e["coef"]]
        # the t quantile moves by ~1e-7 relative between scipy releases (1.10 vs 1.17): atol 1e-8, not R's digits
        np.testing.assert_allclose(got.iloc[:, 0], arr(e["lower"]), rtol=1e-7, atol=1e-8, equal_nan=True)
        np.testing.assert_allclose(got.iloc[:, 1], arr(e["upper"]), rtol=1e-7, atol=1e-8, equal_nan=True)
    lo = "5 %" if pool else "2.5 %"
    assert list(ci.columns.get_level_values(1)[:2]) == [lo, "95 %" if pool else "97.5 %"]


@pytest.mark.parametrize("name", list(LL))
def test_summary_uses_the_pooled_sd(fits, name):
    s = fits[name].summary()
    for e in LL[name]["summary"]:
        t = s.coefficients[e["coef"]]
        np.testing.assert_allclose(t["Std. Error"], arr(e["SE"]), rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(t["t value"], arr(e["t"]), rtol=1e-8, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(t["Pr(>|t|)"], arr(e["p"]), rtol=1e-8, atol=1e-300, equal_nan=True)
    assert s.df_resid == LL[name]["pooled_df"]
    assert s.to_frame().shape == (len(LL[name]["groups"]) * len(LL[name]["coef_names"]), 4)


@pytest.mark.parametrize("name", ["sleep", "tiny"])
def test_printed_text_is_lme4_text(fits, name):
    """cake is left out: one of its coefficients is zero up to rounding noise (-1.7e-15 in R)."""
    L, c = fits[name], LL[name]
    assert str(L) == c["print_text"]
    # lme4 1.1-31 prints "| NULL" for the grouping factor on the Model: line; we print its name
    assert str(L.summary()) == c["summary_text"].replace("| NULL", f"| {L.group}")


def test_failed_group_gets_na_and_a_warning():
    d = mm.load_dataset("cake")
    d = d[~((d["replicate"] == "2") & (d["recipe"] != "A"))]  # replicate 2: recipe A only
    with pytest.warns(LmListWarning, match="2: contrasts"):
        L = lmlist("angle ~ recipe + temp | replicate", d)
    co = L.coef()
    assert co.loc["2"].isna().all() and not co.loc["1"].isna().any()
    assert L["2"] is None


def test_formula_needs_a_group():
    with pytest.raises(FormulaError, match="group"):
        lmlist("Reaction ~ Days", mm.load_dataset("sleepstudy"))


def test_plot_beside_the_mixed_model(fits):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    fig = fits["sleep"].plot(mixed=m)
    try:
        axes = [ax for ax in fig.axes if ax.get_title()]
        assert [ax.get_title() for ax in axes] == ["(Intercept)", "Days"]
        mixed = CASES["coef_lmer_sleep"]
        want = np.array(mixed["coef"], dtype=float)
        for j, ax in enumerate(axes):
            # the diamonds: coef(lmer) = fixef + ranef, per subject, as R's coef(fm)$Subject
            diamonds = [ln for ln in ax.get_lines() if ln.get_marker() == "D"][0]
            np.testing.assert_allclose(diamonds.get_xdata(), want[:, j], rtol=1e-4)
            circles = [ln for ln in ax.get_lines() if ln.get_marker() == "o"][0]
            np.testing.assert_allclose(circles.get_xdata(), arr(LL["sleep"]["coef"])[:, j], rtol=1e-9)
    finally:
        plt.close(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plt.close(fits["tiny"].plot())  # NaN estimates are left out, silently
