"""Every R-made reference case, checked with the same tolerances as ../shared/refcheck.py.

tests/reference/ holds the shared cases (copied in so the suite runs without ../shared);
tests/reference_extra/ holds more cases made with tests/reference_extra/make_extra.R.
"""
import types
import warnings

import pytest

import mixedmodels as mm
import refcheck
from conftest import EXTRA, REF, cases

def _run_glmm(c, mm_, ref, data):
    """refcheck's glmm runner, given the link, weights and negative binomial that extra cases use."""
    fam = ref["family"]
    if fam == "negative.binomial":
        def fit(formula, data, family=None, nAGQ=1):
            return mm_.glmer_nb(formula, data)
    else:
        if ref.get("link"):
            fam = f"{fam}(link='{ref['link']}')"
        w = ref.get("weights")

        def fit(formula, data, family=None, nAGQ=1):
            return mm_.glmer(formula, data, family=fam, nAGQ=nAGQ, weights=w)
    refcheck.run_glmm(c, types.SimpleNamespace(glmer=fit), ref, data)


RUNNERS = {"lmm": refcheck.run_lmm, "glmm": _run_glmm, "lrt": refcheck.run_lrt}


# Known differences, each limited to one named check; every other check of the case must pass.
# - "summary text": fits on flat surfaces, where the optimizer's stopping point is decided by
#   rounding in the last bits of the criterion: NLopt's BOBYQA (R's and ours) diverges from any
#   other run after 40 to 60 evaluations, and another BLAS or numpy moves it (numpy 1.24 against 2.x
#   moved Machines' printed SDs by 3e-4). Ours is no worse (the objective check passes), but the
#   printed digits past what the optimum determines differ. bodyweight_diet is one where R stopped
#   early and warned (max|grad| 0.0069); singular_random_slope's tiny variance is flat too.
# - contraception_urban_slope: R's Nelder-Mead stopped with "Model failed to converge"; our default
#   (NLopt with a Newton polish) ends at a logLik as high or higher and prints neither that line nor
#   the optimizer line above it (test_glmm.test_reference_case checks the rest of the text).
KNOWN = {name: ["summary text"] for name in (
    "bodyweight_diet", "contraception_urban_slope", "carrots_na_slopes_inference", "early_trt_age", "growth_quadratic_slope",
    "machines_vector_re", "orthodont_age_sex", "orthodont_age_sex_ml", "oxboys_quadratic",
    "singular_random_slope")}


def _run(root, ref):
    c = refcheck.Case(ref["name"])
    data = refcheck.load_data(root, ref["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RUNNERS[ref["kind"]](c, mm, ref, data)
    assert c.checks > 0
    allowed = KNOWN.get(ref["name"], [])
    unexpected = [f for f in c.failures if not any(f.startswith(a + ":") for a in allowed)]
    assert not unexpected, "\n".join(unexpected)
    if "summary text" in allowed:
        # even then most of R's printed numbers must appear in ours
        text_fail = [f for f in c.failures if f.startswith("summary text:")]
        if text_fail:
            share = int(text_fail[0].split("%")[0].split()[-1])
            assert share >= 40, text_fail[0]


@pytest.mark.parametrize("ref", cases(REF))
def test_shared_reference_case(ref):
    _run(REF, ref)


@pytest.mark.parametrize("ref", cases(EXTRA))
def test_extra_reference_case(ref):
    _run(EXTRA, ref)
