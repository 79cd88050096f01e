"""lme4's confint(oldNames = FALSE) and profile(), against R; the parametric bootstrap's coverage.

Bounds must agree within 0.5% of R's interval width (refcheck.py's tolerance).
"""
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
import refcheck
from conftest import EXTRA, REF
from mixedmodels.inference.confint import ProfileTable, sdcor_to_theta, theta_to_sdcor

EXPECTED = json.loads((Path(__file__).parent / "fixtures_lrt" / "expected.json").read_text())


def _case(root, name):
    return json.loads((root / "cases" / f"{name}.json").read_text())


def _fit(formula, data, REML=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, REML=REML)


def check_ci(ci, ref, level=0.95):
    a = (1 - level) / 2
    assert list(ci.index) == list(ref["names"])
    if "cols" in ref:
        assert list(ci.columns) == ref["cols"]
    rl, rh = np.asarray(ref["lower"], dtype=float), np.asarray(ref["upper"], dtype=float)
    width = np.maximum(rh - rl, 1e-8)
    lo, hi = ci.iloc[:, 0].to_numpy(dtype=float), ci.iloc[:, 1].to_numpy(dtype=float)
    assert np.all(np.abs(lo - rl) <= 5e-3 * width), (lo, rl)
    assert np.all(np.abs(hi - rh) <= 5e-3 * width), (hi, rh)
    assert a > 0


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def slope_ml(sleep):
    return _fit("Reaction ~ Days + (Days | Subject)", sleep, REML=False)


@pytest.fixture(scope="module")
def slope_profile(slope_ml):
    return slope_ml.profile()


def test_profile_intervals_sleepstudy(slope_ml, slope_profile):
    check_ci(slope_profile.confint(0.95), EXPECTED["confint_slope_ml"])
    # lme4 profiles the ML fit even for a REML model, so R's REML-model intervals are these too
    check_ci(slope_profile.confint(0.95), _case(REF, "sleepstudy_random_slope")["confint_profile"])
    check_ci(slope_profile.confint(0.90), EXPECTED["confint_slope_90"])


def test_profile_table(slope_profile):
    p = slope_profile
    assert isinstance(p, ProfileTable) and isinstance(p, pd.DataFrame)
    assert list(p.columns[:3]) == ["parameter", "value", "zeta"]
    assert list(dict.fromkeys(p["parameter"])) == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                                                   "sd_Days|Subject", "sigma", "(Intercept)", "Days"]
    for name, sub in p.groupby("parameter", sort=False):
        assert np.all(np.diff(sub["value"]) > 0)
        assert np.all(np.diff(sub["zeta"]) > 0), name        # a monotone profile
        assert (sub["zeta"] == 0).sum() == 1                  # the optimum is one of the points
        assert sub["zeta"].min() < -1.96 and sub["zeta"].max() > 1.96
        assert np.allclose(sub["value"], sub[name])


def test_profile_points_match_lme4():
    """The same points as R's profile(): lme4's step rule, reproduced."""
    exp = EXPECTED["profile_dyestuff"]
    m = _fit("Yield ~ 1 + (1 | Batch)", mm.load_dataset("Dyestuff"))
    p = m.profile()
    assert len(p) == len(exp["zeta"])
    ref = pd.DataFrame({"parameter": exp["par"], "zeta": exp["zeta"], "sd": exp["sd"], "sigma": exp["sigma"]})
    for name in ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]:
        ours, theirs = p[p["parameter"] == name], ref[ref["parameter"] == name]
        assert np.allclose(ours["zeta"], theirs["zeta"], atol=1e-4)
        assert np.allclose(ours["sd_(Intercept)|Batch"], theirs["sd"], rtol=1e-4, atol=1e-4)
        assert np.allclose(ours["sigma"], theirs["sigma"], rtol=1e-5)
    check_ci(p.confint(), _case(REF, "dyestuff")["confint_profile"])


PROFILE_CASES = [("confint_uncorrelated", "sleepstudy"), ("confint_crossed", "Penicillin"),
                 ("confint_nested", "Pastes"), ("confint_singular", "Dyestuff2")]


@pytest.mark.parametrize("key,dataset", PROFILE_CASES, ids=[k for k, _ in PROFILE_CASES])
def test_profile_intervals_match_lme4(key, dataset):
    exp = EXPECTED[key]
    m = _fit(exp["formula"], mm.load_dataset(dataset), exp["REML"])
    check_ci(m.confint(), exp)


def test_profile_with_boundaries():
    """Orthodont: the correlation's profile reaches -1 and +1 and an sd reaches 0 (interval ends at bounds)."""
    exp = EXPECTED["confint_orthodont"]
    m = _fit(exp["formula"], refcheck.load_data(EXTRA, "Orthodont"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ci = m.confint()
    check_ci(ci, exp)
    assert ci.loc["cor_age.(Intercept)|Subject"].tolist() == [-1.0, 1.0]
    assert ci.loc["sd_age|Subject", "2.5 %"] == 0.0


def test_profile_selected_parameters(sleep):
    m = _fit("Reaction ~ Days + (1 | Subject)", sleep)
    ci = m.confint(parm="beta_")
    assert list(ci.index) == ["(Intercept)", "Days"]
    ci2 = m.confint(parm=["sigma"])
    assert list(ci2.index) == ["sigma"]
    with pytest.raises(mm.errors.ArgumentError):
        m.confint(parm=["nope"])
    with pytest.raises(mm.errors.ArgumentError):
        m.confint(method="bayes")


def test_wald(sleep):
    m = _fit("Reaction ~ Days + (Days | Subject)", sleep)
    check_ci(m.confint(method="Wald"), _case(REF, "sleepstudy_random_slope")["confint_wald"])
    check_ci(m.confint(method="Wald", level=0.9), EXPECTED["confint_wald_90"], level=0.9)


def test_sdcor_scale_round_trip(slope_ml):
    layout = slope_ml.core.layout
    v = theta_to_sdcor(layout, slope_ml.theta, slope_ml.sigma)
    assert v[-1] == slope_ml.sigma
    assert np.allclose(sdcor_to_theta(layout, v), slope_ml.theta)
    sd_int, sd_days, cor = slope_ml.varcorr["sdcor"].to_numpy()[:3]   # VarCorr: sd's, then correlations
    assert np.allclose(v[:-1], [sd_int, cor, sd_days])


# ------------------------------------------------------------------ the bootstrap

def _simulated(rng, ngroups=10, nper=6, slope=0.5):
    g = np.repeat(np.arange(ngroups), nper)
    x = np.tile(np.arange(nper, dtype=float), ngroups)
    y = 1.0 + slope * x + rng.normal(size=ngroups)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def test_bootstrap_percentile_interval_coverage():
    """95% percentile intervals of the slope cover the truth in about 95% of simulated data sets.

    20 data sets x 39 refits: with true coverage 0.95 the count is below 16 with probability < 2%;
    the width check (against the Wald interval) guards against intervals that cover by being huge.
    """
    rng = np.random.default_rng(20240611)
    covered, ratio = 0, []
    for k in range(20):
        m = _fit("y ~ x + (1 | g)", _simulated(rng))
        boot = m.bootstrap(lambda f: f.fixef["x"], nsim=39, seed=k)
        lo, hi = boot.confint(0.95).iloc[0]
        covered += lo <= 0.5 <= hi
        wald = m.confint(method="Wald").loc["x"]
        ratio.append((hi - lo) / (wald.iloc[1] - wald.iloc[0]))
    assert covered >= 16
    assert 0.7 < np.mean(ratio) < 1.3


def test_boot_confint_rows_and_reproducibility():
    m = _fit("y ~ x + (1 | g)", _simulated(np.random.default_rng(3)))
    a = m.confint(method="boot", nsim=20, seed=11)
    b = m.confint(method="boot", nsim=20, seed=11)
    assert list(a.index) == ["sd_(Intercept)|g", "sigma", "(Intercept)", "x"]
    assert list(a.columns) == ["2.5 %", "97.5 %"]
    pd.testing.assert_frame_equal(a, b)
    assert np.all(a.iloc[:, 0] <= a.iloc[:, 1])
    assert not math.isnan(a.iloc[0, 0])
