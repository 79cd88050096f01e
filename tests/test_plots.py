"""Plots: each method returns a Figure with the expected panels and lines; matplotlib stays lazy."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.errors import ArgumentError, MixedModelError  # noqa: E402
from mixedmodels.report.plots import ModelPlots, lowess  # noqa: E402

EXPECTED = json.loads((Path(__file__).parent / "fixtures_diag" / "expected.json").read_text())


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def m3(sleep):
    return mm.lmer("Reaction ~ 1 + Days + (1 + Days | Subject)", sleep)


@pytest.fixture(scope="module")
def m1(sleep):
    return mm.lmer("Reaction ~ 1 + (1 | Subject)", sleep)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_import_does_not_load_matplotlib():
    code = ("import sys, mixedmodels as mm\n"
            "m = mm.lmer('Reaction ~ Days + (Days | Subject)', mm.load_dataset('sleepstudy'))\n"
            "m.predict(); m.hatvalues(); m.icc(); m.r2(); str(m.check()); m.plot\n"
            "print('matplotlib' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_groups_one_panel_per_subject(m3):
    fig = m3.plot.groups()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 18
    for ax in fig.axes:
        assert len(ax.collections) == 1            # the subject's points
        assert len(ax.get_lines()) == 1            # the model's line
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["308", "309", "310"]


def test_groups_with_pooled_and_own_lines(m3, sleep):
    fig = m3.plot.groups(pooled=True, own_fit=True)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"population (complete pooling)", "own fit (no pooling)", "mixed model (partial pooling)"}
    # subject 308: the own line is its least-squares line, the model's line its conditional prediction
    d = sleep[sleep["Subject"] == "308"]
    slope, icpt = np.polyfit(d["Days"], d["Reaction"], 1)
    own = lines["own fit (no pooling)"]
    x, y = np.asarray(own.get_xdata()), np.asarray(own.get_ydata())
    np.testing.assert_allclose(y, icpt + slope * x, rtol=1e-8)
    cond = lines["mixed model (partial pooling)"]
    nd = pd.DataFrame({"Days": np.asarray(cond.get_xdata()), "Subject": "308"})
    np.testing.assert_allclose(cond.get_ydata(), m3.predict(nd), rtol=1e-10)
    pop = lines["population (complete pooling)"]
    np.testing.assert_allclose(pop.get_ydata(), m3.fixef.iloc[0] + m3.fixef.iloc[1] * np.asarray(pop.get_xdata()))
    assert len(fig.legends) == 1


def test_groups_subset_columns_and_intercept_only_model(m1):
    fig = m1.plot.groups(groups=["308", "335", "372"], ncols=2, own_fit=True)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["308", "335", "372"]
    ax = fig.axes[0]
    # no numeric predictor in the model: x falls back to Days, the lines are flat
    assert [a.get_xlabel() for a in fig.axes] == ["", "Days", "Days"]
    for ln in ax.get_lines():
        assert np.ptp(np.asarray(ln.get_ydata(), dtype=float)) < 1e-9
    with pytest.raises(ArgumentError):
        m1.plot.groups(groups=["nope"])
    with pytest.raises(ArgumentError):
        m1.plot.groups(group="Days")


def test_groups_with_other_predictors_uses_fitted_rows():
    d = mm.load_dataset("cake")
    m = mm.lmer("angle ~ recipe + temp + (1 | replicate)", d)
    fig = m.plot.groups(pooled=True)
    assert len(fig.axes) == m.ngroups["replicate"]
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("mixed")][0]
    assert len(line.get_xdata()) == int((m.terms[0].codes == 0).sum())


def test_ranef_caterpillar(m3):
    fig = m3.plot.ranef()
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_title() == "Subject: (Intercept)"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 18
    # sorted by the conditional mode; the intervals are +-1.96 conditional SD
    tab = m3.ranef_table()
    sub = tab[tab["term"] == "(Intercept)"].sort_values("condval", kind="mergesort")
    assert labels == list(sub["grp"].astype(str))
    # the drawn interval ends are the conditional modes +- 1.96 conditional SDs, in that order
    segs = ax.collections[0].get_segments()
    ends = np.array([[s_[0][0], s_[1][0]] for s_ in segs])
    z = 1.959963984540054
    np.testing.assert_allclose(ends[:, 0], sub["condval"] - z * sub["condsd"], rtol=1e-3)
    np.testing.assert_allclose(ends[:, 1], sub["condval"] + z * sub["condsd"], rtol=1e-3)
    fig2, ax2 = plt.subplots()
    assert m3.plot.ranef(term="Subject", ax=None) is not None
    with pytest.raises(ArgumentError):
        m3.plot.ranef(ax=ax2)  # two panels do not fit one Axes
    with pytest.raises(ArgumentError):
        m3.plot.ranef(term="nope")


def test_single_panels_accept_ax(m3):
    fig, axs = plt.subplots(1, 5)
    for meth, ax in zip(["residuals", "scale_location", "leverage", "fitted", "qq"], axs):
        out = getattr(m3.plot, meth)(ax=ax)
        assert out is fig
        assert len(ax.collections) >= 1
    # residuals and scale-location carry a lowess smoother
    assert any(len(ln.get_xdata()) == m3.nobs for ln in axs[0].get_lines())
    assert any(len(ln.get_xdata()) == m3.nobs for ln in axs[1].get_lines())


def test_qq_panels(m3, m1):
    assert len(m3.plot.qq().axes) == 3
    assert len(m1.plot.qq().axes) == 2
    assert len(m3.plot.qq(random=False).axes) == 1


def test_diagnostics_figure(m3):
    fig = m3.plot.diagnostics()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes][:2] == ["Residuals vs fitted", "Scale-location"]


def test_shrinkage(m3, sleep):
    fig = m3.plot.shrinkage()
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    own = ax.collections[0].get_offsets()
    d = sleep[sleep["Subject"] == "308"]
    slope, icpt = np.polyfit(d["Days"], d["Reaction"], 1)
    np.testing.assert_allclose(own[0], [icpt, slope], rtol=1e-8)
    m2 = mm.lmer("Reaction ~ 1 + Days + (1 | Subject)", sleep)
    assert len(m2.plot.shrinkage().axes[0].get_yticklabels()) == 18


def test_shrinkage_of_a_common_slope_model_holds_the_slope(sleep):
    """With a common slope, a subject's no-pooling intercept is its mean of y - beta_Days Days (the
    same model without pooling), not the intercept of its own line; and the mixed model's estimate
    lies between it and the population line (partial pooling)."""
    m2 = mm.lmer("Reaction ~ 1 + Days + (1 | Subject)", sleep)
    ax = m2.plot.shrinkage().axes[0]
    own, mixed = ax.collections[0].get_offsets()[:, 0], ax.collections[1].get_offsets()[:, 0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    slope = float(m2.fixef["Days"])
    icpt = float(m2.fixef["(Intercept)"])
    for lev in ("308", "309", "335"):
        d = sleep[sleep["Subject"] == lev]
        k = labels.index(lev)
        assert own[k] == pytest.approx(float(np.mean(d["Reaction"] - slope * d["Days"])), rel=1e-10)
        lo, hi = sorted([own[k], icpt])
        assert lo <= mixed[k] <= hi


def test_profile_plot_from_a_profile_frame(m3):
    z = np.linspace(-3, 3, 7)
    prof = pd.concat([pd.DataFrame({".par": p, ".zeta": z, ".focal": 10 + 2 * z}) for p in ["sigma", "Days", "x"]])
    fig = m3.plot.profile(prof=prof)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["sigma", "Days", "x"]
    with pytest.raises(MixedModelError):
        m3.plot.profile(prof=pd.DataFrame({"a": [1]}))

    class NoProfile:
        def profile(self, **kw):
            raise ImportError("no confint module")

    with pytest.raises(MixedModelError, match="profile"):
        ModelPlots(NoProfile()).profile()


def test_lowess_matches_r():
    e = EXPECTED["lowess"]
    xs, fit = lowess(e["x"], e["y"])
    np.testing.assert_allclose(xs, np.sort(e["x"]))
    np.testing.assert_allclose(fit, e["fit"], rtol=1e-9, atol=1e-9)
    _, fit = lowess(e["cars_x"], e["cars_y"])  # ties in x
    np.testing.assert_allclose(fit, e["cars_fit"], rtol=1e-8)


def test_effects_plot_draws_the_predictions_and_their_band():
    """The line is predict(re_form="~0") over Days, the band its confidence interval."""
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))
    fig = m.plot.effects("Days", n=11)
    ax = fig.axes[0]
    line = ax.get_lines()[0]
    rows = pd.DataFrame({"Days": np.linspace(0, 9, 11), "Subject": "308"})
    pred = m.predict(rows, re_form="~0", interval="confidence")
    np.testing.assert_allclose(line.get_ydata(), pred["fit"], rtol=1e-12)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(pred["lwr"].min()) and band.max() == pytest.approx(pred["upr"].max())
    plt.close(fig)
    fig = m.plot.effects("Days", groups=True, data=False)
    assert len(fig.axes[0].get_lines()) == 1 + 18       # the population line and one per subject
    plt.close(fig)


def test_effects_by_a_factor_and_of_a_glmm():
    c = mm.load_dataset("cake")
    m = mm.lmer("angle ~ recipe * temp + (1 | replicate)", c)
    fig = m.plot.effects("temp", by="recipe")
    assert len(fig.axes[0].get_lines()) == 3 and len(fig.axes[0].get_legend().get_texts()) == 3
    plt.close(fig)
    cb = mm.load_dataset("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb, family="binomial")
    fig = g.plot.effects("period")
    pts = fig.axes[0].get_lines()[0].get_ydata()
    expect = 1 / (1 + np.exp(-(g.beta[0] + np.r_[0, g.beta[1:]])))   # the inverse logit at each period
    np.testing.assert_allclose(pts, expect, rtol=1e-10)
    assert fig.axes[0].get_ylabel() == "predicted probability"
    plt.close(fig)
    with pytest.raises(mm.errors.ArgumentError, match="must be a factor"):
        m.plot.effects("recipe", by="temp")


def test_forest_plot_shows_each_coefficient_with_its_interval():
    m = mm.lmer("angle ~ recipe + temp + (1 | replicate)", mm.load_dataset("cake"))
    fig = m.plot.forest()
    ax = fig.axes[0]
    tab = m.coef_table().drop(index="(Intercept)")
    assert [t.get_text() for t in ax.get_yticklabels()] == list(tab.index)   # top to bottom
    assert list(ax.get_yticks()) == [2, 1, 0]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), tab["Estimate"])
    # the bars span t intervals with Satterthwaite's df
    from scipy import stats

    half = stats.t.ppf(0.975, tab["df"]) * tab["Std. Error"]
    seg = ax.collections[0].get_segments()
    np.testing.assert_allclose([s[1][0] - s[0][0] for s in seg], 2 * half, rtol=1e-10)
    plt.close(fig)


def test_binned_residuals_for_a_bernoulli_glmm():
    """arm's binnedplot: floor(sqrt(n)) bins of equal size by fitted value, each bin's mean
    residual against its mean fitted value; diagnostics() shows it in place of the raw residuals."""
    from mixedmodels.report.binned import binned_residuals, is_bernoulli

    sys.path.insert(0, str(Path(__file__).parent / "reference_structured"))
    from check_structured import load_data

    d = load_data(Path(__file__).parent / "reference_structured", "Contraception")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.glmer("use ~ age + urban + (1 | district)", d, family="binomial")
    assert is_bernoulli(m)
    f = np.asarray(m.fitted, dtype=float)
    y = (d["use"] == "Y").to_numpy(dtype=float)
    xbar, ybar, se2 = binned_residuals(f, y - f)
    assert len(xbar) == int(np.sqrt(len(y))) == 43
    assert np.all(np.diff(xbar) >= 0)
    order = np.argsort(f, kind="stable")[: len(np.array_split(np.arange(len(y)), 43)[0])]
    assert ybar[0] == pytest.approx(np.mean(y[order] - f[order]))
    assert np.mean(np.abs(ybar) <= se2) > 0.8          # a model that fits: most bins inside
    fig = m.plot.diagnostics()
    assert fig.axes[0].get_title().startswith("Binned residuals")
    plt.close(fig)
