"""The printed summaries of the lecture's three sleepstudy models, exactly as lmerTest prints them."""
import json
import warnings

import pytest

import mixedmodels as mm
from conftest import REF


def _text(case):
    return json.loads((REF / "cases" / f"{case}.json").read_text())


@pytest.mark.parametrize("case", ["sleepstudy_intercept", "sleepstudy_random_intercept", "sleepstudy_random_slope",
                                  "dyestuff", "dyestuff2_singular", "pastes_nested", "sleepstudy_uncorrelated",
                                  ])
def test_summary_text_is_r_text(case):
    ref = _text(case)
    data = mm.load_dataset(ref["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(ref["formula"], data, REML=ref["REML"])
    ours = str(m.summary()).rstrip("\n").splitlines()
    theirs = ref["summary_text"].rstrip("\n").splitlines()
    assert ours == theirs


def test_summary_keeps_its_numbers(slope_fit):
    s = slope_fit.summary()
    assert s.data.nobs == 180
    assert list(s.to_frame().columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    assert "<pre style=" in s._repr_html_() and "monospace" in s._repr_html_()


def test_lme4_and_kenward_roger_titles(slope_fit):
    assert str(slope_fit.summary(ddf="lme4")).startswith("Linear mixed model fit by REML ['lmerMod']")
    assert "Pr(>|t|)" not in str(slope_fit.summary(ddf="lme4"))
