"""Tests of the pure-Python port of Powell's BOBYQA (mixedmodels.optim.bobyqa).

The main test replays recorded runs of Powell's own Fortran code: the fixture
``fixtures_bobyqa/traces.json`` holds, for each case in ``CASES``, the first
200 points at which the Fortran code evaluated the objective (15 significant
digits) and its final x, f and number of evaluations.  It was recorded with
PDFO's unmodified Fortran BOBYQA, with the test functions defined below::

    from pdfo import bobyqa          # pdfo 2.x
    res = bobyqa(recording_fun, x0, bounds=list(zip(lower, upper)),
                 options={"npt": npt, "rhobeg": rhobeg, "rhoend": rhoend,
                          "maxfev": maxfun, "quiet": True, "classical": True})

(every x0 below is on a bound or at least rhobeg away from it, so PDFO's
preprocessing leaves it as Powell's driver would).  The test functions use
only +, -, * and / on Python floats, so their values are the same on every
platform; the port reproduces Powell's iterates bit for bit, and the
tolerances below only absorb the 15-digit rounding of the fixture.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from mixedmodels.optim.bobyqa import BobyqaResult, bobyqa

FIXTURE = Path(__file__).parent / "fixtures_bobyqa" / "traces.json"
INF = math.inf


# ---------------------------------------------------------------------------
# test functions (plain float arithmetic: reproducible everywhere)
# ---------------------------------------------------------------------------
def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        a = float(x[i + 1]) - float(x[i]) * float(x[i])
        b = 1.0 - float(x[i])
        s = s + 100.0 * a * a + b * b
    return s


def corner(x):
    """Minimum at the corner x = 0 of the box x >= 0."""
    s = 0.0
    t = 0.0
    for v in x:
        v = float(v)
        s = s + (v + 0.3) * (v + 0.3)
        t = t + v
    return s + 0.1 * t * t


class Quadratic:
    """0.5 * z' H z with z = (x - c) * scale, plus an lme4-like penalty term."""

    def __init__(self, H, c, scale=None, penalty=0.0):
        self.H = [[float(v) for v in row] for row in H]
        self.c = [float(v) for v in c]
        self.scale = [1.0] * len(c) if scale is None else [float(v) for v in scale]
        self.penalty = penalty

    def __call__(self, x):
        n = len(self.c)
        z = [(float(x[i]) - self.c[i]) * self.scale[i] for i in range(n)]
        t = 0.0
        for i in range(n):
            for j in range(n):
                t = t + z[i] * self.H[i][j] * z[j]
        f = 0.5 * t
        if self.penalty:
            for i in range(n):
                v = float(x[i])
                f = f + self.penalty * (v * v) / (1.0 + v * v)
        return f


def one_dim(x):
    v = float(x[0])
    return (v - 0.7) * (v - 0.7) + 0.1 * v * v * v * v


LME4_H = [[2.0, 0.6, -0.3, 0.2], [0.6, 1.5, 0.4, -0.1], [-0.3, 0.4, 1.8, 0.5], [0.2, -0.1, 0.5, 1.2]]
RESCUE_H = [
    [2.724, 1.746, 0.601, 1.865],
    [1.746, 1.804, -0.727, -0.763],
    [0.601, -0.727, 2.633, 4.605],
    [1.865, -0.763, 4.605, 8.982],
]

CASES = {
    # lme4's settings: npt = n + 2, rhobeg = 0.2, rhoend = 2e-7
    "rosen3_npt5": dict(fun=rosenbrock, x0=[-1.0, 0.25, 1.5], lower=-INF, upper=INF,
                        npt=5, rhobeg=0.2, rhoend=2e-7, maxfun=10000, status=0),
    "corner2_npt4": dict(fun=corner, x0=[1.0, 1.0], lower=0.0, upper=INF,
                         npt=4, rhobeg=0.2, rhoend=2e-7, maxfun=10000, status=0),
    "lme4like4_npt6": dict(fun=Quadratic(LME4_H, [0.8, -0.5, -0.4, 0.3], penalty=0.3),
                           x0=[1.0, 1.0, 1.0, 1.0], lower=[0.0, -INF, 0.0, -INF], upper=INF,
                           npt=6, rhobeg=0.2, rhoend=2e-7, maxfun=10000, status=0),
    "onedim_npt3": dict(fun=one_dim, x0=[1.0], lower=0.0, upper=3.0,
                        npt=3, rhobeg=0.2, rhoend=2e-7, maxfun=10000, status=0),
    # npt = 2n + 1, stopped by maxfun
    "rosen4_npt9_maxfun": dict(fun=rosenbrock, x0=[-1.0, 0.0, 0.5, 1.5], lower=-INF, upper=INF,
                               npt=9, rhobeg=0.2, rhoend=2e-7, maxfun=60, status=1),
    # badly scaled, npt = (n+1)(n+2)/2: Powell's RESCUE is called twice, and the
    # run ends with "much cancellation in a denominator"
    "rescue4_npt15": dict(fun=Quadratic(RESCUE_H, [-0.645, 0.474, -0.97, -0.754],
                                        scale=[0.067, 0.649, 5.178, 0.973]),
                          x0=[1.0, 1.0, 1.0, 0.0], lower=[-INF, -INF, 0.0, 0.0], upper=INF,
                          npt=15, rhobeg=0.5, rhoend=1e-6, maxfun=10000, status=5, nrescue=2),
}


def run_case(case, **extra):
    points = []

    def fun(x):
        points.append(np.array(x, dtype=float))
        return case["fun"](x)

    res = bobyqa(fun, case["x0"], case["lower"], case["upper"], rhobeg=case["rhobeg"],
                 rhoend=case["rhoend"], npt=case["npt"], maxfun=case["maxfun"], **extra)
    return res, np.array(points)


@pytest.fixture(scope="module")
def traces():
    return json.loads(FIXTURE.read_text())


# ---------------------------------------------------------------------------
# the evaluation sequence of Powell's Fortran code
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_evaluation_points_as_powell(name, traces):
    case = CASES[name]
    ref = traces[name]
    res, points = run_case(case)
    assert res.nfev == ref["nfev"] == len(points)
    ref_points = np.array(ref["points"])
    np.testing.assert_allclose(points[: len(ref_points)], ref_points, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.x, ref["x"], rtol=1e-12, atol=1e-12)
    assert res.fun == pytest.approx(ref["fun"], rel=1e-12, abs=1e-300)
    assert res.status == case["status"]
    assert res.nrescue == case.get("nrescue", 0)


def test_minqa_compat_agrees_on_smooth_cases():
    # minqa's changes only matter in rare cases (an ALTMOV step not landing
    # exactly on a bound, a non-finite f); none occur here
    for name in ("corner2_npt4", "lme4like4_npt6"):
        a, pa = run_case(CASES[name])
        b, pb = run_case(CASES[name], minqa_compat=True)
        assert np.array_equal(pa, pb)
        assert np.array_equal(a.x, b.x)


def test_minqa_compat_replaces_nonfinite_values():
    # minqa hands the largest double to the algorithm in place of NaN / inf
    def run(value, **extra):
        pts = []

        def fun(x):
            pts.append(np.array(x))
            return value if x[0] > 1.1 else (x[0] - 0.5) ** 2 + x[1] ** 2

        res = bobyqa(fun, [1.0, 0.3], -5.0, 5.0, rhobeg=0.2, rhoend=1e-6, npt=4, **extra)
        return res, np.array(pts)

    a, pa = run(math.nan, minqa_compat=True)
    b, pb = run(sys.float_info.max)
    assert np.array_equal(pa, pb) and a.fun == b.fun and a.nfev == b.nfev
    assert np.any(pa[:, 0] > 1.1)


# ---------------------------------------------------------------------------
# known minima, bounds, statuses
# ---------------------------------------------------------------------------
def test_unconstrained_quadratic_minimum():
    c = [0.3, -1.2, 2.0]
    f = Quadratic([[3.0, 1.0, 0.5], [1.0, 2.0, 0.3], [0.5, 0.3, 1.0]], c)
    res = bobyqa(f, [0.0, 0.0, 0.0], -INF, INF, rhobeg=0.5, rhoend=1e-8, npt=7)
    assert isinstance(res, BobyqaResult)
    assert res.status == 0 and res.message.startswith("Normal exit")
    np.testing.assert_allclose(res.x, c, atol=1e-6)
    assert res.fun < 1e-12
    assert isinstance(res.x, np.ndarray) and res.x.shape == (3,)


def test_minimum_on_a_bound_is_exact():
    # minimum of sum((x + 0.3)^2) + 0.1*sum(x)^2 over x >= 0 is at x = 0 exactly
    res = bobyqa(corner, [1.0, 2.0, 0.5], 0.0, INF, rhobeg=0.2, rhoend=2e-7, npt=5)
    assert res.status == 0
    assert np.all(res.x == 0.0)
    assert res.fun == pytest.approx(0.27)


def test_upper_bound_active():
    f = Quadratic([[1.0, 0.0], [0.0, 1.0]], [3.0, -3.0])
    res = bobyqa(f, [0.0, 0.0], [-1.0, -2.0], [1.0, 2.0], rhobeg=0.2, rhoend=1e-7, npt=4)
    np.testing.assert_array_equal(res.x, [1.0, -2.0])


def test_maxfun_status():
    res = bobyqa(rosenbrock, [-1.2, 1.0], -INF, INF, rhobeg=0.2, rhoend=1e-8, npt=4, maxfun=30)
    assert res.status == 1
    assert res.nfev == 30
    assert "maxfun" in res.message
    # the best point found so far is returned
    assert res.fun <= rosenbrock([-1.2, 1.0])
    assert rosenbrock(res.x) == pytest.approx(res.fun, rel=1e-12)


def test_maxfun_smaller_than_npt():
    res = bobyqa(rosenbrock, [-1.2, 1.0], -INF, INF, rhobeg=0.2, rhoend=1e-8, npt=5, maxfun=3)
    assert res.status == 1 and res.nfev == 3


def test_start_point_moved_off_bounds_as_powell_does():
    # a component within rhobeg of a bound is moved to distance rhobeg
    # (Powell's driver); one on the bound stays there
    first = []

    def f(x):
        if not first:
            first.append(np.array(x))
        return float(np.sum((x - 1.0) ** 2))

    bobyqa(f, [0.05, 0.0, 3.0, 2.95], [0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0],
           rhobeg=0.2, rhoend=1e-4, npt=6)
    np.testing.assert_array_equal(first[0], [0.2, 0.0, 3.0, 2.8])


def test_initial_points_default_npt():
    pts = []

    def f(x):
        pts.append(np.array(x))
        return float(np.sum(x ** 2))

    bobyqa(f, [1.0, 2.0], -INF, INF, rhobeg=0.1, rhoend=1e-3)  # npt = 2n + 1 = 5
    np.testing.assert_allclose(pts[:5], [[1.0, 2.0], [1.1, 2.0], [1.0, 2.1], [0.9, 2.0], [1.0, 1.9]])


# ---------------------------------------------------------------------------
# argument errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(npt=3), "npt = 3 is not in the required interval"),
        (dict(npt=7), "npt = 7 is not in the required interval"),
        (dict(npt=4.5), "npt must be an integer"),
        (dict(x0=[2.0, 0.0]), "x0 violates the bounds"),
        (dict(lower=[-1.0, -0.1], upper=[1.0, 0.1]), "less than 2\\*rhobeg"),
        (dict(rhoend=0.5), "must not exceed rhobeg"),
        (dict(rhobeg=0.0), "rhobeg must be positive"),
        (dict(rhoend=-1.0), "rhoend must be positive"),
        (dict(maxfun=0), "maxfun must be a positive integer"),
        (dict(lower=[0.0, 0.0, 0.0]), "lower and upper"),
        (dict(x0=[np.nan, 0.0]), "x0 must be finite"),
    ],
)
def test_argument_errors(kwargs, match):
    args = dict(x0=[0.5, 0.0], lower=-1.0, upper=1.0, rhobeg=0.2, rhoend=1e-6, npt=4, maxfun=100)
    args.update(kwargs)
    x0, lower, upper = args.pop("x0"), args.pop("lower"), args.pop("upper")
    with pytest.raises(ValueError, match=match):
        bobyqa(rosenbrock, x0, lower, upper, **args)
