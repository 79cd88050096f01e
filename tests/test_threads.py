"""The BLAS thread limit of a fit (mixedmodels.threads) and what ``import mixedmodels`` imports.

The limit is seen from inside the fit: the core's criterion is wrapped to record threadpoolctl's
view of the BLAS libraries at each evaluation. No timings are asserted.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

import mixedmodels as mm  # noqa: E402
from mixedmodels import threads  # noqa: E402
from mixedmodels.core.lmm import LmmCore  # noqa: E402

FORMULA = "Reaction ~ Days + (Days|Subject)"


def _blas_threads() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


import scipy.linalg  # noqa: E402,F401  (numpy's and scipy's BLAS loaded, as in a fit)

needs_blas = pytest.mark.skipif(not _blas_threads(), reason="threadpoolctl finds no BLAS library here")


@pytest.fixture
def no_user_variables(monkeypatch):
    """A session where the user set none of the thread-count variables (the suite may run under one)."""
    for v in threads.USER_VARIABLES:
        monkeypatch.delenv(v, raising=False)


@pytest.fixture
def seen(monkeypatch):
    """The BLAS thread counts at each evaluation of an lmer criterion."""
    counts: list[dict[str, int]] = []
    objective = LmmCore.objective

    def spy(self, *args, **kwargs):
        counts.append(_blas_threads())
        return objective(self, *args, **kwargs)

    monkeypatch.setattr(LmmCore, "objective", spy)
    return counts


@pytest.fixture
def sleepstudy():
    return mm.load_dataset("sleepstudy")


@needs_blas
def test_small_fit_runs_on_one_thread_and_restores(no_user_variables, seen, sleepstudy):
    before = _blas_threads()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        caller = _blas_threads()
        mm.lmer(FORMULA, sleepstudy)
        assert _blas_threads() == caller  # the caller's setting, as it was
    assert _blas_threads() == before
    assert seen and all(set(c.values()) == {1} for c in seen)


@needs_blas
def test_glmer_runs_on_one_thread_and_restores(no_user_variables, monkeypatch):
    from mixedmodels.glmm.pirls import GlmmModel

    counts = []
    pirls = GlmmModel.pirls

    def spy(self, *args, **kwargs):
        counts.append(_blas_threads())
        return pirls(self, *args, **kwargs)

    monkeypatch.setattr(GlmmModel, "pirls", spy)
    before = _blas_threads()
    d = mm.load_dataset("cbpp")
    mm.glmer("cbind(incidence, size - incidence) ~ period + (1|herd)", d, family="binomial")
    assert _blas_threads() == before
    assert counts and all(set(c.values()) == {1} for c in counts)


def test_limit_restored_when_the_fit_raises(no_user_variables, sleepstudy, monkeypatch):
    def fail(self, *args, **kwargs):
        raise mm.errors.FitError("stop")

    monkeypatch.setattr(LmmCore, "objective", fail)
    before = _blas_threads()
    with pytest.raises(mm.errors.FitError):
        mm.lmer(FORMULA, sleepstudy)
    assert _blas_threads() == before


@needs_blas
def test_outer_limit_is_not_raised(no_user_variables, seen, sleepstudy, monkeypatch):
    # a fit above the threshold leaves BLAS alone: the user's outer limit of 1 holds in it
    monkeypatch.setattr(threads, "SMALL_BLOCK", 0)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        mm.lmer(FORMULA, sleepstudy)
        assert set(_blas_threads().values()) <= {1}
    assert seen and all(set(c.values()) <= {1} for c in seen)
    # and a small fit under it stays at 1 and leaves it at 1
    monkeypatch.undo()
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        mm.lmer(FORMULA, sleepstudy)
        assert set(_blas_threads().values()) <= {1}


@needs_blas
def test_large_fit_keeps_the_callers_threads(no_user_variables, seen, sleepstudy, monkeypatch):
    monkeypatch.setattr(threads, "SMALL_BLOCK", 0)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        caller = _blas_threads()
        mm.lmer(FORMULA, sleepstudy)
    assert seen and all(c == caller for c in seen)


@needs_blas
def test_user_variable_leaves_blas_alone(seen, sleepstudy, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.user_set_threads()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        caller = _blas_threads()
        mm.lmer(FORMULA, sleepstudy)
    assert seen and all(c == caller for c in seen)


@needs_blas
def test_block_decides_by_size(no_user_variables):
    before = _blas_threads()
    with threads.fit_threads() as t:
        assert set(_blas_threads().values()) == {1}  # the passes over the rows: one thread
        assert t.block(threads.SMALL_BLOCK - 1)
        assert set(_blas_threads().values()) == {1}
    with threads.fit_threads() as t:
        assert not t.block(threads.SMALL_BLOCK)  # a large block: the caller's threads again
        assert _blas_threads() == before
    assert _blas_threads() == before


def test_pirls_block():
    # dense PIRLS: the whole system; beyond its limit the Schur block of the terms after the first
    assert threads.pirls_block([403, 118, 63], 4, 600) == 589
    assert threads.pirls_block([5000, 100], 3, 600) == 104
    assert threads.pirls_block([], 3, 600) == 4


def test_import_does_not_import_heavy_modules():
    code = ("import sys, mixedmodels; "
            "print(' '.join(m for m in ('matplotlib', 'pandas', 'scipy', 'formulaic', 'threadpoolctl') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "matplotlib" not in out
    assert out == []


def test_fit_does_not_import_matplotlib():
    code = ("import sys, mixedmodels as mm; mm.lmer('Reaction ~ Days + (Days|Subject)', "
            "mm.load_dataset('sleepstudy')); print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
