"""glmer's standard errors do not depend on the units of a predictor.

lme4 takes the Hessian of the Laplace deviance over (theta, beta) by finite differences with a
step of 1e-4 in every parameter: for a predictor in tiny units (x * 1e-4) that step is lost in the
rounding of the deviance and the standard errors come out wrong (lme4's, and ours before, by a
factor of up to 3). Multiplying a predictor by c must divide its coefficient and standard error by
c and leave the z values, the intercept and its standard error alone.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.optim.convergence import deriv12
from mixedmodels.optim.scales import column_scales, scaled_deriv12

FACTORS = [1.0, 1e-4, 1e-6, 1e4]


def _data(family: str) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    groups, per = 30, 12
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(2.0, 1.0, groups * per)
    b = rng.normal(0.0, 0.8, groups)
    if family == "binomial":
        y = rng.binomial(1, 1.0 / (1.0 + np.exp(-(-0.5 + 0.7 * x + b[g]))))
    else:
        y = rng.poisson(np.exp(0.2 + 0.3 * x + 0.5 * b[g]))
    return pd.DataFrame({"y": y.astype(float), "x": x, "g": pd.Categorical(g)})


def _fit(d: pd.DataFrame, c: float, family: str):
    d = d.assign(x=d["x"] * c)
    with warnings.catch_warnings():
        # lme4's scale check (and, in tiny or huge units, its eigenvalue checks) warn, rightly
        warnings.simplefilter("ignore")
        m = mm.glmer("y ~ x + (1 | g)", d, family=family)
        table = m.coef_table()
    return m, table


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_z_values_and_intercept_do_not_depend_on_units(family):
    d = _data(family)
    _, base = _fit(d, 1.0, family)
    for c in FACTORS[1:]:
        m, t = _fit(d, c, family)
        assert np.allclose(t["z value"], base["z value"], rtol=1e-4, atol=0), c
        assert t["Std. Error"].iloc[0] == pytest.approx(base["Std. Error"].iloc[0], rel=1e-4), c
        assert t["Std. Error"].iloc[1] * c == pytest.approx(base["Std. Error"].iloc[1], rel=1e-4), c
        assert t["Estimate"].iloc[1] * c == pytest.approx(base["Estimate"].iloc[1], rel=1e-5), c
        assert np.allclose(t["Pr(>|z|)"], base["Pr(>|z|)"], rtol=1e-3), c


def test_vcov_scales_with_the_units():
    d = _data("binomial")
    m1, _ = _fit(d, 1.0, "binomial")
    c = 1e-6
    m2, _ = _fit(d, c, "binomial")
    D = np.diag([1.0, 1.0 / c])
    V1 = m1.vcov.to_numpy()
    assert np.allclose(D @ V1 @ D, m2.vcov.to_numpy(), rtol=1e-4)


def test_column_scales_keep_lme4s_steps_for_well_scaled_columns():
    rng = np.random.default_rng(0)
    n = 200
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(0, 1, n), rng.normal(0, 30, n),
                         rng.normal(0, 1e-4, n), rng.normal(5, 1e4, n)])
    s = column_scales(X)
    assert np.all(s[:4] == 1.0)
    # beyond the range the scale follows the units: s * sd is the nearest end of the range
    assert s[4] * X[:, 4].std() == pytest.approx(0.1)
    assert s[5] * X[:, 5].std() == pytest.approx(100.0)


def test_scaled_deriv12_is_deriv12_at_unit_scale_and_exact_for_a_quadratic():
    A = np.array([[4.0, 1e3], [1e3, 1e6]])  # a quadratic in badly scaled coordinates

    def f(x):
        return float(x @ A @ x) / 2.0

    x0 = np.array([0.3, -2e-3])
    g1, H1 = deriv12(f, x0)
    g2, H2 = scaled_deriv12(f, x0, np.ones(2))
    assert np.array_equal(g1, g2) and np.array_equal(H1, H2)
    g3, H3 = scaled_deriv12(f, x0, np.array([1.0, 1e-3]))
    assert np.allclose(H3, A, rtol=1e-6)
    assert np.allclose(g3, A @ x0, rtol=1e-6)


def test_step_halving_moves_back_until_the_deviance_falls():
    """lme4's step halving (glmm.pirls.halve_steps, the one both PIRLS loops call): halfway back
    toward the step's start until the penalized deviance no longer rises; NaN or no fall: PirlsError."""
    import numpy as np
    import pytest

    from mixedmodels.glmm.pirls import PirlsError, halve_steps

    def update(b, u):  # a bowl at u = 1: the full step to u = 4 overshoots
        pd_ = float(np.sum((u - 1.0) ** 2) + np.sum(b ** 2))
        return ("state", u.copy()), pd_

    u0, b0 = np.zeros(2), np.zeros(1)
    u, b = np.full(2, 4.0), np.ones(1)
    old = update(b0, u0)[1]
    state, u1, b1, pdev = halve_steps(update, u0, b0, u, b, False, update(b, u)[1], old, 1e-7)
    np.testing.assert_allclose(u1, 1.0)  # 4 -> 2 -> 1: two halvings
    np.testing.assert_allclose(b1, 0.25)
    assert pdev < old and state[0] == "state"
    _, u2, b2, _ = halve_steps(update, u0, b0, u, b, True, update(b, u)[1], old, 1e-7)  # beta held
    np.testing.assert_allclose(b2, 1.0)
    with pytest.raises(PirlsError, match="NaN"):
        halve_steps(lambda b_, u_: (None, float("nan")), u0, b0, u, b, False, float("nan"), old, 1e-7)
    with pytest.raises(PirlsError, match="failed to reduce"):
        halve_steps(lambda b_, u_: (None, old + 1.0), u0, b0, u, b, False, old + 1.0, old, 1e-7)
