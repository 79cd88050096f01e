"""predict(): lme4's predictions (R-made expectations in tests/fixtures_diag), errors, SEs and intervals."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ArgumentError, DataError

HERE = Path(__file__).parent
EXPECTED = json.loads((HERE / "fixtures_diag" / "expected.json").read_text())


def _arr(v):
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def _close(ours, ref, rtol=1e-6, atol=1e-6):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), _arr(ref), rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def slope(sleep):
    return mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def uncorrelated(sleep):
    return mm.lmer("Reaction ~ Days + (Days || Subject)", sleep)


@pytest.fixture(scope="module")
def penicillin():
    return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.load_dataset("Penicillin"))


# ---------------------------------------------------------------------------------------------- reference cases

def _load_case_data(folder: Path, name: str) -> pd.DataFrame:
    meta = json.loads((folder / "data" / f"{name}.json").read_text())
    df = pd.read_csv(folder / "data" / f"{name}.csv", keep_default_na=True)
    for col, info in meta["columns"].items():
        if info["type"] == "factor":
            lab = df[col].map(lambda v: None if pd.isna(v) else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
            df[col] = pd.Categorical(lab, categories=info["levels"])
        elif info["type"] == "logical":
            df[col] = df[col].astype("boolean")
    return df


def _predict_cases():
    out = []
    for folder in (HERE / "reference", HERE / "reference_extra"):
        for f in sorted((folder / "cases").glob("*.json")) if (folder / "cases").exists() else []:
            ref = json.loads(f.read_text())
            if ref.get("kind") == "lmm" and ref.get("predict_rows1to6"):
                out.append(pytest.param(folder, ref, id=ref["name"]))
    return out


@pytest.mark.parametrize("folder, ref", _predict_cases())
def test_reference_predictions_rows_1_to_6(folder, ref):
    """R: predict(m, newdata=<rows 1..6 of the model frame>) with and without re.form=NA."""
    data = _load_case_data(folder, ref["dataset"])
    kw = {"weights": data[ref["weights"]]} if ref.get("weights") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(ref["formula"], data, REML=bool(ref["REML"]), **kw)
    nd = data.loc[m.frame.data.index[:6]]
    _close(m.predict(nd), ref["predict_rows1to6"]["conditional"], rtol=1e-4, atol=0)
    _close(m.predict(nd, re_form="~0"), ref["predict_rows1to6"]["population"], rtol=1e-4, atol=0)


# ---------------------------------------------------------------------------------------------- R expectations

def test_new_levels_missing_values_and_population(slope):
    e = EXPECTED["slope"]
    nd = pd.DataFrame(e["newdata"])  # Subject 999 and NA are new; Days NA gives NA
    pred = slope.predict(nd, allow_new_levels=True)
    _close(pred, e["pred_new_cond"])
    assert np.isnan(pred.iloc[2])
    for na_like in ("~0", "~ 0", "NA", np.nan):
        _close(slope.predict(nd, re_form=na_like), e["pred_new_pop"])


def test_no_newdata_gives_fitted_and_population(slope):
    e = EXPECTED["slope"]
    _close(slope.predict(), e["pred_all"], rtol=1e-6)
    _close(slope.predict(re_form="~0"), e["pred_all_pop"])
    np.testing.assert_allclose(slope.predict().to_numpy(), slope.fitted.to_numpy())
    assert slope.predict().index.equals(slope.frame.data.index)


def test_re_form_keeps_named_terms(uncorrelated):
    e = EXPECTED["uncorrelated"]
    nd = pd.DataFrame(e["newdata"])
    _close(uncorrelated.predict(nd, re_form="~(1|Subject)", allow_new_levels=True), e["pred_int_only"], rtol=1e-6)
    _close(uncorrelated.predict(nd, re_form="~ (0 + Days | Subject)", allow_new_levels=True), e["pred_slope_only"],
           rtol=1e-6)
    _close(uncorrelated.predict(nd, allow_new_levels=True), e["pred_all"], rtol=1e-6)
    both = uncorrelated.predict(nd, re_form="~(1|Subject) + (0+Days|Subject)", allow_new_levels=True)
    _close(both, e["pred_all"], rtol=1e-6)


def test_crossed_and_nested_re_form(penicillin):
    e = EXPECTED["penicillin"]
    nd = pd.DataFrame(e["newdata"])
    _close(penicillin.predict(nd, re_form="~(1|plate)", allow_new_levels=True), e["pred_plate"], rtol=1e-6)
    _close(penicillin.predict(nd, allow_new_levels=True), e["pred_all"], rtol=1e-6)
    e = EXPECTED["pastes"]
    m = mm.lmer("strength ~ 1 + (1 | batch/cask)", mm.load_dataset("Pastes"))
    nd = pd.DataFrame(e["newdata"])
    _close(m.predict(nd, re_form="~(1|batch)", allow_new_levels=True), e["pred_batch"], rtol=1e-6)
    _close(m.predict(nd, allow_new_levels=True), e["pred_all"], rtol=1e-6)


def test_factors_as_strings_and_interaction_groups():
    e = EXPECTED["cake"]
    m = mm.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", mm.load_dataset("cake"))
    nd = pd.DataFrame(e["newdata"])  # plain strings; replicate 99 is new
    _close(m.predict(nd, allow_new_levels=True), e["pred"], rtol=1e-6)
    _close(m.predict(nd, re_form="~0"), e["pred_pop"])
    cat = nd.assign(recipe=pd.Categorical(nd["recipe"], categories=["C", "B", "A"]))
    _close(m.predict(cat, allow_new_levels=True), e["pred"], rtol=1e-6)


@pytest.mark.parametrize("key, formula", [("poly", "Reaction ~ poly(Days, 2) + (1 | Subject)"),
                                          ("scale_I", "Reaction ~ scale(Days) + I(Days^2) + (1 | Subject)")])
def test_data_dependent_transforms_replay_the_fit(sleep, key, formula):
    e = EXPECTED[key]
    m = mm.lmer(formula, sleep)
    _close(m.predict(pd.DataFrame(e["newdata"])), e["pred"], rtol=1e-6)
    if "pred_pop" in e:
        _close(m.predict(pd.DataFrame(e["newdata"]), re_form="~0"), e["pred_pop"])


# ---------------------------------------------------------------------------------------------- behaviour

def test_index_and_row_order_are_kept(slope):
    nd = pd.DataFrame({"Days": [1.0, 4.0, 8.0], "Subject": ["309", "308", "372"]}, index=["a", "b", "c"])
    p = slope.predict(nd)
    assert list(p.index) == ["a", "b", "c"]
    shuffled = slope.predict(nd.iloc[[2, 0, 1]])
    assert list(shuffled.index) == ["c", "a", "b"]
    np.testing.assert_allclose(shuffled.loc[["a", "b", "c"]].to_numpy(), p.to_numpy())
    # by hand: fixed effects plus the subject's modes
    b = slope.ranef()["Subject"]
    fe = slope.fixef
    want = [fe["(Intercept)"] + b.loc["309", "(Intercept)"] + (fe["Days"] + b.loc["309", "Days"]) * 1.0]
    np.testing.assert_allclose(p.iloc[0], want[0])


def test_numeric_grouping_values_match_labels(slope):
    nd = pd.DataFrame({"Days": [2.0, 2.0], "Subject": [308, "308"]})
    p = slope.predict(nd)
    assert p.iloc[0] == pytest.approx(p.iloc[1])


def test_new_level_error_names_level_and_factor(slope):
    nd = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "999"]})
    with pytest.raises(DataError, match=r"(?s)Subject.*'999'.*allow_new_levels"):
        slope.predict(nd)
    with pytest.raises(DataError, match="missing values in the grouping factor Subject"):
        slope.predict(pd.DataFrame({"Days": [1.0], "Subject": [None]}))
    # population-level predictions need no grouping column at all
    assert np.isfinite(slope.predict(pd.DataFrame({"Days": [1.0]}), re_form="~0").iloc[0])


def test_unseen_fixed_level_and_missing_columns_are_clear_errors():
    m = mm.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", mm.load_dataset("cake"))
    with pytest.raises(DataError, match=r"(?s)'Z'.*recipe"):
        m.predict(pd.DataFrame({"recipe": ["Z"], "temp": [175.0], "replicate": ["1"]}), re_form="~0")
    with pytest.raises(DataError, match="temp"):
        m.predict(pd.DataFrame({"recipe": ["A"], "replicate": ["1"]}))
    with pytest.raises(DataError, match="replicate"):
        m.predict(pd.DataFrame({"recipe": ["A"], "temp": [175.0]}))


def test_bad_re_form_and_arguments(slope):
    with pytest.raises(ArgumentError, match="not in the model"):
        slope.predict(pd.DataFrame({"Days": [1.0], "Subject": ["308"]}), re_form="~(1|Foo)")
    with pytest.raises(ArgumentError, match="not in the model"):
        slope.predict(re_form="~(1|Subject)")  # the model's term is (Days | Subject)
    with pytest.raises(ArgumentError):
        slope.predict(interval="bogus")
    with pytest.raises(ArgumentError):
        slope.predict(re_form=3)


# ---------------------------------------------------------------------------------------------- SE and intervals

def test_population_se_and_satterthwaite_interval(slope):
    nd = pd.DataFrame({"Days": [0.0, 5.0]})
    out = slope.predict(nd, re_form="~0", se_fit=True)
    assert list(out.columns) == ["fit", "se"]
    X = np.array([[1.0, 0.0], [1.0, 5.0]])
    V = slope.vcov.to_numpy()
    np.testing.assert_allclose(out["se"], np.sqrt(np.einsum("ij,jk,ik->i", X, V, X)))
    ci = slope.predict(nd, re_form="~0", interval="confidence")
    # row 0 is the intercept: its interval uses the coefficient table's t with Satterthwaite df
    from scipy import stats

    tab = slope.coef_table()
    q = stats.t.ppf(0.975, tab.loc["(Intercept)", "df"])
    assert ci["lwr"].iloc[0] == pytest.approx(tab.loc["(Intercept)", "Estimate"] - q * tab.loc["(Intercept)", "Std. Error"],
                                              rel=1e-6)


def test_conditional_se_matches_dense_henderson_system(penicillin):
    """se^2 = sigma^2 w' C^-1 w with C the penalized system built densely from Z, Lambda, X."""
    m = penicillin
    n = m.nobs
    blocks, lam = [], []
    for t, T in zip(m.terms, m._factor.T):
        Z = np.zeros((n, t.q))
        for k in range(t.p):
            Z[np.arange(n), t.codes * t.p + k] = t.z[:, k]
        blocks.append(Z)
        lam.append(np.kron(np.eye(t.nlev), T))
    from scipy.linalg import block_diag

    ZL = np.hstack(blocks) @ block_diag(*lam)
    X = m.fixed.X
    W = np.hstack([ZL, X])
    C = W.T @ W
    C[np.arange(ZL.shape[1]), np.arange(ZL.shape[1])] += 1.0
    Ci = np.linalg.inv(C)
    nd = pd.DataFrame({"plate": ["a", "x", "new"], "sample": ["B", "F", "C"]})
    out = m.predict(nd, se_fit=True, allow_new_levels=True)
    want = []
    for plate, sample in zip(nd["plate"], nd["sample"]):
        w = np.zeros(W.shape[1])
        off = 0
        for t, T, lev in zip(m.terms, m._factor.T, [plate if m.terms[0].group == "plate" else sample,
                                                    sample if m.terms[0].group == "plate" else plate]):
            if lev in t.levels:
                w[off + t.levels.index(lev)] = T[0, 0]
            off += t.q
        w[off:] = 1.0
        want.append(m.sigma * np.sqrt(w @ Ci @ w))
    np.testing.assert_allclose(out["se"].to_numpy(), want, rtol=1e-8)
    # the hat values are the same quadratic form on the fitted rows
    H = W @ Ci @ W.T
    np.testing.assert_allclose(m.hatvalues(), np.diag(H), rtol=1e-8)


def test_prediction_interval_adds_residual_and_unconditioned_variance(slope):
    from scipy import stats

    nd = pd.DataFrame({"Days": [3.0, 3.0], "Subject": ["308", "new"]})
    out = slope.predict(nd, allow_new_levels=True, interval="prediction", level=0.9)
    z = stats.norm.ppf(0.95)
    s2 = slope.sigma ** 2
    T = slope._factor.T[0]
    Sigma = s2 * T @ T.T
    zrow = np.array([1.0, 3.0])
    half = (out["upr"] - out["fit"]).to_numpy()
    assert half[0] == pytest.approx(z * np.sqrt(out["se"].iloc[0] ** 2 + s2), rel=1e-10)
    assert half[1] == pytest.approx(z * np.sqrt(out["se"].iloc[1] ** 2 + s2 + zrow @ Sigma @ zrow), rel=1e-10)
    pop = slope.predict(nd.iloc[[0]], re_form="~0", interval="prediction", level=0.9)
    assert (pop["upr"] - pop["fit"]).iloc[0] == pytest.approx(half[1], rel=1e-10)


def test_glmm_type_response_if_available():
    try:
        d = mm.load_dataset("cbpp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    except Exception as e:  # glmer is another module's work
        pytest.skip(f"glmer unavailable: {e}")
    nd = d.iloc[:6]
    eta = m.predict(nd)
    mu = m.predict(nd, type="response")
    np.testing.assert_allclose(mu, 1 / (1 + np.exp(-eta.to_numpy())), rtol=1e-10)
    # R: predict(glmer(...), cbpp[1:6, ]) with lme4 1.1-31
    np.testing.assert_allclose(eta, [-0.8087134, -1.8006384, -1.9369296, -2.3884588, -1.6974362, -2.6893612],
                               atol=2e-4)
    ci = m.predict(nd, re_form="~0", interval="confidence", type="response")
    assert np.all((ci["lwr"] < ci["fit"]) & (ci["fit"] < ci["upr"]))
