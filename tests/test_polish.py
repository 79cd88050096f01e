"""The Newton polish that ends glmer's default stage 2 at the optimum, and its fallback."""
import warnings

import numpy as np
import pytest

import mixedmodels as mm
import refcheck
from conftest import EXTRA
from mixedmodels.optim.convergence import deriv12, scaled_gradient
from mixedmodels.optim.polish import newton_polish

A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
XSTAR = np.array([0.3, -1.0, 2.0])


def _quartic(x):
    d = np.asarray(x) - XSTAR
    return float(0.5 * d @ A @ d + 0.1 * np.sum(d ** 4))


def _derivs(x):
    return deriv12(_quartic, x)


def test_polish_reaches_the_minimum_from_where_an_optimizer_stopped():
    x0 = XSTAR + np.array([2e-3, -1e-3, 1.5e-3])
    g, H = _derivs(x0)
    x, fx, g1, H1, steps = newton_polish(_quartic, _derivs, x0, _quartic(x0), g, H, np.full(3, -np.inf))
    assert steps >= 1
    assert np.allclose(x, XSTAR, atol=1e-6)
    assert fx < _quartic(x0) and fx == pytest.approx(0.0, abs=1e-12)
    assert np.max(np.abs(g1)) < 1e-5  # the derivatives returned belong to the point returned


def test_a_parameter_on_its_bound_stays_there_when_the_criterion_rises_inward():
    # minimum of the unbounded function at x0 = -0.5: with x0 >= 0 it is on the bound
    f = lambda x: float((x[0] + 0.5) ** 2 + (x[1] - 1.0) ** 2)  # noqa: E731
    der = lambda x: deriv12(f, x)  # noqa: E731
    x0 = np.array([0.0, 1.01])
    g, H = der(x0)
    x, fx, *_ = newton_polish(f, der, x0, f(x0), g, H, np.array([0.0, -np.inf]))
    assert x[0] == 0.0 and x[1] == pytest.approx(1.0, abs=1e-8)


def test_no_step_without_a_positive_definite_hessian_or_a_worthwhile_gain():
    f = lambda x: float(x[0] ** 2 - x[1] ** 2)  # noqa: E731  saddle
    der = lambda x: deriv12(f, x)  # noqa: E731
    x0 = np.array([0.1, 0.1])
    g, H = der(x0)
    x, fx, _, _, steps = newton_polish(f, der, x0, f(x0), g, H, np.full(2, -np.inf))
    assert steps == 0 and np.array_equal(x, x0) and fx == f(x0)
    x1 = XSTAR + 1e-6
    g, H = _derivs(x1)
    assert newton_polish(_quartic, _derivs, x1, _quartic(x1), g, H, np.full(3, -np.inf))[4] == 0


def _end_gradient(m):
    sc = scaled_gradient(m.gradient, m.hessian)
    return float(np.max(np.minimum(np.abs(sc), np.abs(m.gradient))))


def test_default_glmer_ends_at_a_zero_gradient_as_low_as_lme4s_pair():
    d = mm.load_dataset("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    ours = mm.glmer(f, d, family="binomial")
    r_path = mm.glmer(f, d, family="binomial", control={"optimizer": ("bobyqa", "nelder_mead")})
    assert ours.optinfo.optimizer == "bobyqa" and r_path.optinfo.optimizer == "Nelder_Mead"
    assert ours.objective <= r_path.objective + 1e-7
    assert _end_gradient(ours) < 2e-3
    assert ours.optinfo.nevals < r_path.optinfo.nevals / 2


def test_where_the_gradient_check_fails_the_default_is_never_above_lme4s_pair():
    """An inverse Gaussian GLMM, whose deviance PIRLS's stopping rule makes rough: BOBYQA stalls
    1e-4 above Nelder-Mead's end, so the default runs lme4's pair too and keeps the lower."""
    data = refcheck.load_data(EXTRA, "counts")
    fam = mm.families.InverseGaussian(link="log")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = mm.glmer("gy ~ x + (1 | g)", data, family=fam)
        r_path = mm.glmer("gy ~ x + (1 | g)", data, family=fam, control={"optimizer": ("bobyqa", "nelder_mead")})
    assert ours.objective <= r_path.objective + 1e-9


def test_lmer_at_a_singular_fit_ends_at_the_optimum_r_reaches_with_tight_tolerances():
    """nlme's IGF, conc ~ age + (age | Lot) (tests/fixtures_polish/igf.csv, written from R): BOBYQA
    at nloptwrap's default stop ends 3.8e-4 above the optimum on the way to the boundary; R 4.2.2 /
    lme4 1.1-31 with minqa's bobyqa at rhoend = 1e-12 reaches 594.36617531."""
    import pandas as pd
    from pathlib import Path

    d = pd.read_csv(Path(__file__).parent / "fixtures_polish" / "igf.csv", dtype={"Lot": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("conc ~ age + (age | Lot)", d)
    assert m.is_singular
    assert m.objective <= 594.36617531 + 1e-6
