"""Every Example in a docstring of the package runs and prints what it shows (doctest).

The examples of result members share two fits, named in the result classes' docstrings: ``m``,
sleepstudy's random-slopes lmer fit, and ``gm``, cbpp's binomial glmer fit (``mm`` is the package).
"""
from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import mixedmodels

MODULES = sorted(m.name for m in pkgutil.walk_packages(mixedmodels.__path__, "mixedmodels."))


def _with_examples():
    out = []
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and ">>> " in open(spec.origin, encoding="utf-8").read():
            out.append(name)
    return out


@pytest.fixture(scope="module")
def fits():
    sleep, cbpp = mixedmodels.load_dataset("sleepstudy"), mixedmodels.load_dataset("cbpp")
    return {"mm": mixedmodels, "m": mixedmodels.lmer("Reaction ~ Days + (Days | Subject)", sleep),
            "gm": mixedmodels.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp,
                                    family="binomial")}


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples_run(name, fits):
    import matplotlib

    matplotlib.use("Agg")
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, extraglobs=dict(fits),
                                 optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    import matplotlib.pyplot as plt

    plt.close("all")
    assert result.attempted > 0
    assert result.failed == 0
