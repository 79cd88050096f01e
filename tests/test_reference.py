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


def _run(root, ref):
    c = refcheck.Case(ref["name"])
    data = refcheck.load_data(root, ref["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RUNNERS[ref["kind"]](c, mm, ref, data)
    assert c.checks > 0
    assert not c.failures, "\n".join(c.failures)


@pytest.mark.parametrize("ref", cases(REF))
def test_shared_reference_case(ref):
    _run(REF, ref)


@pytest.mark.parametrize("ref", cases(EXTRA))
def test_extra_reference_case(ref):
    _run(EXTRA, ref)
