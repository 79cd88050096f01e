"""glmer() on a Dask frame: the in-memory fit's deviance and numbers, from a real LocalCluster.

Two worker processes on loopback: cbpp's nAGQ = 0 fit (its PIRLS rounds, the persisted chunks, the
lazy row results), a small Laplace fit (stage 2's rounds) and the refusals. The cases whose point is the partitions' coding and sums (the
Laplace and AGQ deviance, offsets, weights, NA rows, unused levels, the families) run on Dask's
synchronous scheduler: a round on the cluster costs its latency, and a fit takes hundreds.

Each PIRLS step is one map-reduce round over the partitions, so the Dask fit evaluates the
in-memory deviance function with its sums taken in another order: at the same parameters the two
deviances agree to rounding (1e-12 relative), and so do the criteria at the two ends. The
optimizer's path can turn a difference of 1e-15 into another stopping point within its
tolerance, so the estimates are compared to 2e-5, the finite-difference Hessian's standard errors
to 1e-4.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")

import dask.dataframe as dd  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.errors import ArgumentError, FitError  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own start-up notes
        cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None)
    c = Client(cl)
    yield c
    c.close()
    cl.close()


def _without_data_line(s: str) -> str:
    return "\n".join(line for line in s.splitlines() if not line.strip().startswith("Data:"))


def _on(client):
    """Where the Dask work runs: the cluster, or (``client`` None) Dask's synchronous scheduler in
    this process, for cases whose point is the arithmetic of the sums rather than the cluster (a
    round costs the cluster's latency, and a fit takes hundreds)."""
    import dask

    return client.as_current() if client is not None else dask.config.set(scheduler="sync")


def compare(client, formula, data, npartitions=3, **kw):
    """The Dask fit of ``data`` cut into partitions against the in-memory fit; returns both."""
    with _on(client):
        ref = mm.glmer(formula, data, **kw)
        ddf = dd.from_pandas(data, npartitions=npartitions, sort=False)
        m = mm.glmer(formula, ddf, **kw)
    assert type(m).__name__ == "DaskGlmerResult"
    assert m.nobs == ref.nobs and m.fixed.names == ref.fixed.names
    assert [t.levels for t in m.terms] == [t.levels for t in ref.terms]
    # the same deviance function: equal at the in-memory estimate, to rounding
    if ref.nagq >= 1:
        pars = np.concatenate([ref.theta, ref.beta])
        from mixedmodels.glmm.deviance import Stage2Deviance

        with _on(client):
            d_m = Stage2Deviance(m.model, ref.nagq, m.lp0)(pars)
        d_r = Stage2Deviance(ref.model, ref.nagq, ref.lp0)(pars)
        assert d_m == pytest.approx(d_r, rel=1e-9)
    assert m.objective == pytest.approx(ref.objective, rel=1e-10)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(m.beta, ref.beta, rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), np.sqrt(np.diag(ref.vcov)), rtol=1e-4)
    assert m.deviance == pytest.approx(ref.deviance, rel=1e-7)  # not flat at the optimum: moves with beta
    with _on(client):
        assert _without_data_line(str(m.summary())) == _without_data_line(str(ref.summary()))
        np.testing.assert_allclose(m.residual_quantiles,
                                   np.quantile(ref.resid("pearson", scaled=True), [0, .25, .5, .75, 1]),
                                   rtol=1e-6, atol=1e-7)
    return m, ref


@pytest.fixture(scope="module")
def cbpp():
    return mm.load_dataset("cbpp")


@pytest.fixture(scope="module")
def cbpp_fits(cbpp):
    """cbpp's Laplace fit from Dask (on the synchronous scheduler: ~300 rounds, each the cluster's
    latency on the LocalCluster; the cluster's rounds are test_nagq0_and_rows_results')."""
    return compare(None, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")


def test_binomial_cbind(cbpp_fits):
    m, ref = cbpp_fits
    assert m.model.rounds > 10  # PIRLS ran over the partitions, round by round (one dask.compute a step)
    pd.testing.assert_frame_equal(m.ranef()["herd"], ref.ranef()["herd"], rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(m.ranef_table(), ref.ranef_table(), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(m.coef_table(), ref.coef_table(), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(m.confint(), ref.confint(method="Wald"), rtol=1e-5)


def test_nagq0_and_rows_results(client, cbpp):
    m, ref = compare(client, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial",
                     nAGQ=0)
    with client.as_current():
        for got, want in ((m.fitted, ref.fitted), (m.linear_predictor, ref.linear_predictor),
                          (m.residuals, ref.residuals), (m.resid("deviance"), ref.resid("deviance")),
                          (m.resid("working"), ref.resid("working")),
                          (m.predict(type="response"), ref.predict(type="response"))):
            assert isinstance(got, dd.Series)
            got = got.compute()
            assert got.index.equals(want.index)
            np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-6, atol=1e-8)
    # predict on new rows (pandas) as in memory
    new = cbpp.iloc[:5]
    np.testing.assert_allclose(m.predict(new, type="response").to_numpy(),
                               ref.predict(new, type="response").to_numpy(), rtol=1e-6)


def test_laplace_rounds_on_the_cluster(client, cbpp):
    """Stage 2 (PIRLS over u at a given beta, the first round derived from the start's) on the
    LocalCluster: a small Laplace fit, without the finite-difference Hessian's rounds."""
    f = "cbind(incidence, size - incidence) ~ 1 + (1 | herd)"
    ctl = {"calc_derivs": False}
    with client.as_current():
        m = mm.glmer(f, dd.from_pandas(cbpp, npartitions=3, sort=False), family="binomial", control=ctl)
    ref = mm.glmer(f, cbpp, family="binomial", control=ctl)
    assert type(m).__name__ == "DaskGlmerResult" and m.nagq == 1 and m.model.rounds > 10
    assert m.objective == pytest.approx(ref.objective, rel=1e-10)
    np.testing.assert_allclose(np.r_[m.theta, m.beta], np.r_[ref.theta, ref.beta], rtol=2e-5)


def test_poisson_offset_weights_na_and_unused_levels():
    """Poisson counts with an offset column and prior weights; NA rows, a category no row has, and
    partitions that lack some groups. On Dask's synchronous scheduler (the partitions' coding and
    sums are the point; cbpp's fit above runs its rounds on the cluster)."""
    rng = np.random.default_rng(3)
    n, ng = 600, 30
    g = rng.integers(0, ng, n)
    x = rng.normal(size=n)
    expo = rng.uniform(0.5, 2.0, n)
    b = rng.normal(0, 0.5, ng)
    y = rng.poisson(expo * np.exp(0.3 + 0.5 * x + b[g]))
    cats = [f"g{i:02d}" for i in range(ng)] + ["unused"]
    df = pd.DataFrame({"y": y.astype(float), "x": x, "g": pd.Categorical([f"g{i:02d}" for i in g], categories=cats),
                       "lexpo": np.log(expo), "w": rng.choice([1.0, 2.0], n)})
    df.loc[[5, 17, 300], "x"] = np.nan
    df = df.sort_values("g").reset_index(drop=True)  # partitions hold different groups
    m, ref = compare(None, "y ~ x + (1 | g)", df, npartitions=4, family="poisson", offset="lexpo", weights="w")
    assert m.nobs == n - 3
    assert "unused" not in m.terms[0].levels


def test_bernoulli_crossed_factor_response():
    """A Bernoulli response as a two-level categorical (the first level is failure), crossed terms.
    On Dask's synchronous scheduler: the coding and the sums are the point (a round on the cluster
    costs its latency; the cluster's own rounds are the other tests')."""
    rng = np.random.default_rng(11)
    n = 500
    a, s = rng.integers(0, 20, n), rng.integers(0, 15, n)
    x = rng.normal(size=n)
    eta = -0.2 + 0.8 * x + rng.normal(0, 0.7, 20)[a] + rng.normal(0, 0.5, 15)[s]
    yes = rng.uniform(size=n) < 1 / (1 + np.exp(-eta))
    df = pd.DataFrame({"r": pd.Categorical(np.where(yes, "yes", "no"), categories=["no", "yes"]), "x": x,
                       "a": pd.Categorical(a), "s": pd.Categorical(s)})
    m, ref = compare(None, "r ~ x + (1 | a) + (1 | s)", df, npartitions=3, family="binomial")
    assert len(m.terms) == 2 and m.fixef["x"] > 0


@pytest.mark.parametrize("family", ['Gamma(link="log")'])   # the inverse Gaussian's sums: the next test
def test_families_with_a_dispersion(family):
    """Gamma and inverse Gaussian: the aic needs the dispersion from the whole deviance, so each
    partition gives the sums the aic needs (Family.aic_sums) and the client finishes it; sigma's
    Pearson chi-square is summed over the partitions. The in-memory deviance, estimates and
    summary. On Dask's synchronous scheduler: the sums are the point (the cluster's rounds are
    the other tests')."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(25), 12)
    x = rng.normal(size=g.size)
    mu = np.exp(0.5 + 0.3 * x + rng.normal(0, 0.4, 25)[g])
    d = pd.DataFrame({"y": rng.gamma(3.0, mu / 3.0), "x": x, "g": pd.Categorical([f"g{i:02d}" for i in g])})
    m, ref = compare(None, "y ~ x + (1 | g)", d, family=family)
    assert m.has_scale and m.sigma == pytest.approx(ref.sigma, rel=1e-8)


@pytest.mark.parametrize("nagq", [9])
def test_adaptive_quadrature(cbpp, nagq):
    """nAGQ > 1 (one scalar term): the per-level sums of the deviance residuals at the mode and at
    the nodes come from one round over the partitions; the in-memory AGQ deviance and summary."""
    m, ref = compare(None, "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial",
                     nAGQ=nagq)
    assert m.nagq == nagq and m.objective == pytest.approx(ref.objective, rel=1e-12)


def test_the_aic_from_sums_is_the_aic():
    """Family.aic_from_sums of the sums over any split of the rows is the family's aic."""
    rng = np.random.default_rng(3)
    y, mu, wt = rng.gamma(2.0, 1.5, 40), rng.gamma(2.0, 1.5, 40), rng.integers(1, 4, 40).astype(float)
    for fam in (mm.families.Gamma(link="log"), mm.families.InverseGaussian(link="log")):
        dev = float(np.sum(fam.dev_resids(y, mu, wt)))
        parts = [fam.aic_sums(y[s], None, mu[s], wt[s]) for s in (slice(0, 13), slice(13, 40))]
        assert fam.aic_from_sums(parts[0] + parts[1], dev) == pytest.approx(fam.aic(y, None, mu, wt, dev), rel=1e-13)


def test_refusals_are_clear(client, cbpp, cbpp_fits):
    ddf = dd.from_pandas(cbpp, npartitions=2)
    with client.as_current():
        with pytest.raises(ArgumentError, match="nAGQ > 1 is only available for models with a single"):
            mm.glmer("incidence ~ period + (1 | herd) + (1 | period)", ddf, family="poisson", nAGQ=5)
        with pytest.raises(ArgumentError, match="family is not available from Dask"):
            mm.glmer("size ~ period + (1 | herd)", ddf, family=mm.families.NegativeBinomial(theta=2.0))
        text = dd.from_pandas(cbpp.assign(yn=np.where(cbpp["incidence"] > 0, "yes", "no")), npartitions=2)
        with pytest.raises(ArgumentError, match="must be categorical"):
            mm.glmer("yn ~ period + (1 | herd)", text, family="binomial")
        unknown = text.assign(yn=text["yn"].astype("category").cat.as_unknown())
        with pytest.raises(ArgumentError, match="categories Dask does not know"):
            mm.glmer("yn ~ period + (1 | herd)", unknown, family="binomial")
        m = cbpp_fits[0]
        for call in (m.hatvalues, m.simulate, m.refit, m.profile, m.icc, lambda: m.save("x.json"),
                     lambda: m.confint(method="profile")):
            with pytest.raises(FitError, match="rows in memory"):
                call()
        with pytest.raises(FitError, match="rows in memory"):
            m.y
        released = dataclasses.replace(m, rows=dataclasses.replace(m.rows))
        released.rows.release()
        with pytest.raises(FitError, match="released"):
            released.fitted
        assert m.rows.chunks  # the shared fit keeps its rows
