"""LmmCore.transform_xy: a new [X y] from the old crossproducts equals a core built from the rows."""
import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.core.lmm import LmmCore


def _models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "slope": mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy")),
            "crossed": mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.load_dataset("Penicillin")),
            "nested": mm.lmer("strength ~ 1 + (1 | batch/cask)", mm.load_dataset("Pastes")),
            "factors": mm.lmer("angle ~ recipe * temp + (1 | recipe:replicate) + (1 | replicate)",
                               mm.load_dataset("cake")),
        }


@pytest.mark.parametrize("name", ["slope", "crossed", "nested", "factors"])
@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_transform_matches_rebuilt_core(name, method):
    m = _models()[name]
    X, y = m.fixed.X, m.frame.y
    p = X.shape[1]
    base = LmmCore(m.terms, X, y, method=method)
    rng = np.random.default_rng(7)
    # drop the last column of X and move 1.7 x (first column) into the offset, as profiling does
    keep = list(range(max(p - 1, 1)))
    M = np.zeros((p + 1, len(keep) + 1))
    M[keep, np.arange(len(keep))] = 1.0
    M[p, -1] = 1.0
    M[0, -1] = -1.7
    new = base.transform_xy(M)
    direct = LmmCore(m.terms, X[:, keep], y - 1.7 * X[:, 0], method=method)
    for _ in range(4):  # several calls: the core changes strategy after its first evaluations
        theta = m.theta * rng.uniform(0.5, 1.5, m.theta.size)
        for reml in (True, False):
            assert new.objective(theta, reml) == pytest.approx(direct.objective(theta, reml), rel=1e-10)
    f1, f2 = new.factor(m.theta), direct.factor(m.theta)
    np.testing.assert_allclose(new.solve(f1)[0], direct.solve(f2)[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(new.rx_inverse(f1), direct.rx_inverse(f2), rtol=1e-8, atol=1e-12)
    # the original core is untouched
    assert base.objective(m.theta, True) == pytest.approx(m.objective if m.reml else m.deviance, rel=1e-10)
