"""Kenward-Roger: adjusted covariance and df against pbkrtest / lmerTest (tests/fixtures_inference)."""
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedmodels as mm
from mixedmodels.errors import ArgumentError
from mixedmodels.inference.kenward_roger import kr_coef_table, kr_contrast, kr_ddf, kr_f_test, kr_info

sys.path.insert(0, str(Path(__file__).parent / "fixtures_inference"))
from inference_cases import NAMES, as_list, expected, fit, fit_at_r_theta, values  # noqa: E402

REF_CASES = Path(__file__).parent / "reference" / "cases"


@pytest.mark.parametrize("name", NAMES)
def test_coef_table_matches_pbkrtest(name):
    ref, m = expected(name), fit_at_r_theta(name)
    tab = m.coef_table(ddf="Kenward-Roger")
    R = ref["coef_kr"]
    assert list(tab.index) == as_list(R["names"])
    assert list(tab.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    np.testing.assert_allclose(tab["Estimate"], values(R["estimate"]), rtol=1e-6)
    np.testing.assert_allclose(tab["Std. Error"], values(R["se"]), rtol=1e-6)
    np.testing.assert_allclose(tab["df"], values(R["df"]), rtol=1e-6)
    np.testing.assert_allclose(tab["t value"], values(R["t"]), rtol=1e-6)
    np.testing.assert_allclose(tab["Pr(>|t|)"], values(R["p"]), rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_coef_table_at_our_own_optimum(name):
    """At our optimum (which differs from R's by optimizer noise) the numbers agree to what R prints."""
    ref, m = expected(name), fit(name)
    tab = m.coef_table(ddf="Kenward-Roger")
    R = ref["coef_kr"]
    np.testing.assert_allclose(tab["Std. Error"], values(R["se"]), rtol=2e-3)
    np.testing.assert_allclose(tab["df"], values(R["df"]), rtol=1e-2)
    np.testing.assert_allclose(np.log10(tab["Pr(>|t|)"]), np.log10(values(R["p"])), atol=0.02)


@pytest.mark.parametrize("name", NAMES)
def test_adjusted_vcov_matches_pbkrtest(name):
    ref, m = expected(name), fit_at_r_theta(name)
    info = kr_info(m)
    p = len(m.beta)
    Radj = np.asarray(ref["vcov_adj"], dtype=float).reshape(p, p)
    scale = np.abs(Radj).max()
    np.testing.assert_allclose(info.vcov_adj, Radj, rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(info.vcov, m.vcov.to_numpy())
    # the adjustment only ever inflates the covariance (Phi_A - Phi is positive semi-definite here)
    assert np.linalg.eigvalsh(info.vcov_adj - info.vcov).min() > -1e-10 * scale


def test_unbalanced_data_get_a_real_adjustment():
    """On balanced data Phi_A = Phi; on the unbalanced ham data the SEs grow a little."""
    m = fit("ham_unbalanced")
    info = kr_info(m)
    ratio = np.sqrt(np.diag(info.vcov_adj) / np.diag(info.vcov))
    assert ratio.min() >= 1.0 and ratio.max() > 1.0001


def test_reference_case_from_the_shared_suite():
    ref = json.loads((REF_CASES / "sleepstudy_random_slope.json").read_text())
    m = mm.lmer(ref["formula"], mm.load_dataset("sleepstudy"))
    tab = kr_coef_table(m)
    np.testing.assert_allclose(tab["Std. Error"], ref["fixef_kr"]["se"], rtol=2e-4)
    np.testing.assert_allclose(tab["df"], ref["fixef_kr"]["df"], rtol=1e-4)


def test_contrast_and_f_test_agree_with_the_table():
    m = fit("ham_unbalanced")
    info = kr_info(m)
    tab = kr_coef_table(m)
    j = 2
    L = np.eye(len(m.beta))[j]
    var, df = kr_contrast(info, L)
    assert np.isclose(np.sqrt(var), tab["Std. Error"].iloc[j])
    assert np.isclose(df, tab["df"].iloc[j])
    f = kr_f_test(info, L)
    # one row: F (scaling 1 up to rounding) is t^2 and the df are the t test's
    assert f["NumDF"] == 1 and np.isclose(f["DenDF"], df)
    assert np.isclose(f["FU"], tab["t value"].iloc[j] ** 2)
    assert np.isclose(f["p"], stats.f.sf(f["F"], 1, f["DenDF"]))


def test_f_test_ignores_redundant_rows():
    m = fit("cake_numeric_temp")
    info = kr_info(m)
    L = np.zeros((2, len(m.beta)))
    L[0, 1] = L[1, 2] = 1.0
    a = kr_f_test(info, L)
    b = kr_f_test(info, np.vstack([L, L[0] + L[1]]))
    assert b["NumDF"] == 2
    assert np.isclose(a["F"], b["F"]) and np.isclose(a["DenDF"], b["DenDF"])
    assert np.isclose(kr_ddf(info, L), a["DenDF"])


def test_ml_fit_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"), REML=False)
    with pytest.raises(ArgumentError, match="REML"):
        m.coef_table(ddf="Kenward-Roger")


def test_cost_does_not_grow_with_n_squared():
    """20,000 rows and two crossed factors: pbkrtest would need 20,000 x 20,000 matrices."""
    rng = np.random.default_rng(7)
    n, na, nb = 20000, 300, 40
    a, b = rng.integers(na, size=n), rng.integers(nb, size=n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=na)[a] * 0.7 + rng.normal(size=nb)[b] * 0.4 + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "b": pd.Categorical(b)})
    m = mm.lmer("y ~ x + (1 | a) + (1 | b)", d)
    tab = m.coef_table(ddf="Kenward-Roger")
    sat = m.coef_table()
    # with this much data KR and Satterthwaite nearly agree
    np.testing.assert_allclose(tab["Std. Error"], sat["Std. Error"], rtol=1e-3)
    np.testing.assert_allclose(tab["df"], sat["df"], rtol=0.1)


@pytest.mark.parametrize("name", ["ham_unbalanced_covariate", "insteval_subset"])
def test_dense_and_sparse_core_modes_agree(name):
    """The core factors the Schur complement of the later terms densely or by sparse LU; KR uses either."""
    from dataclasses import replace

    from mixedmodels.core.lmm import LmmCore
    from mixedmodels.inference.kenward_roger import _compute

    m = fit_at_r_theta(name)
    other = "sparse" if m.core.method == "dense" else "dense"
    core = LmmCore(m.terms, m.fixed.X, m.frame.y, weights=m.frame.weights, offset=m.frame.offset, method=other)
    a, b = _compute(m), _compute(replace(m, core=core))
    np.testing.assert_allclose(b.vcov_adj, a.vcov_adj, rtol=1e-9, atol=1e-12 * np.abs(a.vcov_adj).max())
    np.testing.assert_allclose(b.W, a.W, rtol=1e-8)


def test_too_many_random_effects_is_refused(monkeypatch):
    import mixedmodels.inference.kenward_roger as K

    monkeypatch.setattr(K, "_MAX_BYTES", 1000)
    from dataclasses import replace

    m = replace(fit("cake_numeric_temp"))          # a fresh object: nothing cached
    with pytest.raises(ArgumentError, match="Satterthwaite"):
        m.coef_table(ddf="Kenward-Roger")


@pytest.mark.parametrize("formula, data", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
])
@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_crossproducts_of_the_core_are_those_of_the_rows(formula, data, method):
    """What Kenward-Roger reads from a fit that holds no rows (Dask): Z'Z, Z'X and X'X from the
    core's blocks, dense or sparse rest, equal to those of Z and X."""
    import scipy.sparse as sp

    from mixedmodels.core.lmm import LmmCore

    m = mm.lmer(formula, mm.load_dataset(data))
    X = m.fixed.X
    core = LmmCore(m.terms, X, m.frame.y, method=method)
    C, ZX, XX = core.crossproducts()
    n = len(X)   # Z with lme4's column layout: term by term, level-major
    Z = sp.hstack([sp.csc_matrix((t.z.ravel(), (np.repeat(np.arange(n), t.p),
                                                (t.codes[:, None] * t.p + np.arange(t.p)[None, :]).ravel())),
                                 shape=(n, t.q)) for t in m.terms]).tocsc()
    np.testing.assert_allclose(C.toarray(), (Z.T @ Z).toarray(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(ZX, Z.T @ X, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(XX, X.T @ X, rtol=1e-13)
