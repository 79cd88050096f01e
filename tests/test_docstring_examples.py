"""Every Example in a docstring of the package runs and prints what it shows (doctest)."""
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


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
