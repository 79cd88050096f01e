"""Every Example in a docstring of the package runs and prints what it shows (doctest).

The examples of result members share two fits, named in the result classes' docstrings: ``m``,
sleepstudy's random-slopes lmer fit, and ``gm``, cbpp's binomial glmer fit (``mm`` is the package).
"""
from __future__ import annotations

import doctest
import functools
import inspect
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
                                    family="binomial"),
            "dg": _dask_glmer(cbpp)}


class _Finder(doctest.DocTestFinder):
    """doctest's finder, which also reads the examples of ``functools.cached_property`` members
    (Python's own skips them: they are neither routines nor properties)."""

    def _find(self, tests, obj, name, module, source_lines, globs, seen):
        super()._find(tests, obj, name, module, source_lines, globs, seen)
        if inspect.isclass(obj) and module is not None and obj.__module__ == module.__name__:
            for attr, val in vars(obj).items():
                if isinstance(val, functools.cached_property):
                    self._find(tests, val.func, f"{name}.{attr}", module, source_lines, globs, seen)


def _dask_glmer(cbpp):
    """The Dask fit of results/dask_glmer.py's examples (Dask's local scheduler), or None without Dask."""
    try:
        import dask.dataframe as dd
    except ImportError:
        return None
    return mixedmodels.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                             dd.from_pandas(cbpp, npartitions=2), family="binomial")


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples_run(name, fits):
    import matplotlib

    matplotlib.use("Agg")
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for test in _Finder().find(module, module.__name__, extraglobs=dict(fits)):
            runner.run(test)
    result = runner.summarize(verbose=False)
    import matplotlib.pyplot as plt

    plt.close("all")
    assert result.attempted > 0
    assert result.failed == 0
