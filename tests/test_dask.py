"""lmer() on a Dask frame or a Parquet path: the in-memory fit's numbers, from a real LocalCluster.

Two worker processes on loopback; every comparison is with the in-memory fit of the same rows
(the criterion and every number at the same theta to 1e-10 relative, the estimates to the
optimizer's tolerance, the printed summary equal, its residual quantiles exact). The workers' memory limit is below
the last test's data.
"""
from __future__ import annotations

import re
from pathlib import Path
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

import dask  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.errors import ArgumentError, DataWarning, FitError, MixedModelError  # noqa: E402

REL = 1e-10


LIMIT = 3 * 2 ** 20 // 2  # each worker's memory limit: ~3 partitions of the last test's frame, far less than it


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on loopback, with a memory limit below the last test's data.

    Dask's limit counts a worker's own ~170 MB as well, which leaves no limit below a test-sized
    frame that a worker could run under; so spilling, pausing and the nanny's termination are off,
    and the limit serves the fit's choice (persist the chunks, or form them afresh in each round).
    The small frames of the other tests fit in it and are persisted.
    """
    off = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause", "terminate")}
    with dask.config.set(off), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's own start-up notes
        cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=LIMIT,
                          host="127.0.0.1", dashboard_address=None)
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def client(cluster):
    c = Client(cluster)
    yield c
    c.close()


def _close(a, b, what, rel=REL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * max(1.0, float(np.max(np.abs(b), initial=0))),
                               err_msg=what)


def _without_data_line(text: str) -> str:
    return re.sub(r"\n\s*Data: .*\n", "\n", text)


def _scaled_residuals(ref, beta, b, sigma):
    """The in-memory scaled Pearson residuals of the rows at the given estimates."""
    r = ref.frame.y - ref.fixed.X @ beta
    if ref.frame.offset is not None:
        r = r - ref.frame.offset
    for t, bk in zip(ref.terms, b):
        r = r - np.einsum("ij,ij->i", t.z, bk[t.codes])
    if ref.frame.weights is not None:
        r = r * np.sqrt(ref.frame.weights)
    return r / sigma


def compare(client, formula, data, npartitions=4, *, summary=True, rel_estimates=1e-6, **kw):
    """The Dask fit of ``data`` cut into partitions against the in-memory fit; returns both.

    The blocks are sums taken in another order, so the two criteria differ by rounding (1e-15
    relative). At the same theta every number agrees to 1e-10; the criterion at the two optima too
    (it is flat there). BOBYQA can turn a 1e-15 difference of the criterion into a step of another
    length, so the two estimates agree to the optimizer's own tolerance (1e-6), as in-memory fits of
    the same rows in another order do.
    """
    with client.as_current():
        ref = mm.lmer(formula, data, **kw)
        ddf = data if isinstance(data, dd.DataFrame) else dd.from_pandas(data, npartitions=npartitions, sort=False)
        m = mm.lmer(formula, ddf, **kw)
        assert type(m).__name__ == "DaskLmerResult"
        assert m.nobs == ref.nobs and m.fixed.names == ref.fixed.names
        assert [t.levels for t in m.terms] == [t.levels for t in ref.terms]
        # the same criterion and solution at the same theta: the blocks are the in-memory ones
        th = ref.theta
        _close(m.core.objective(th, ref.reml), ref.core.objective(th, ref.reml), "criterion at theta")
        f_m, f_r = m.core.factor(th), ref.core.factor(th)
        _close(m.core.solve(f_m)[0], ref.beta, "beta at theta")
        _close(f_m.r2, f_r.r2, "r2 at theta")
        _close(m.core.rx_inverse(f_m), ref.core.rx_inverse(f_r), "vcov at theta")
        _close(m.objective, ref.objective, "criterion")
        _close(m.core.objective(th, False), ref.core.objective(th, False), "deviance at theta")
        # a REML fit's deviance is not flat at its optimum: it moves with theta (1e-6 apart at most)
        _close(m.deviance, ref.deviance, "deviance", rel_estimates)
        _close(m.theta, ref.theta, "theta", rel_estimates)
        _close(m.beta, ref.beta, "beta", rel_estimates)
        _close(m.sigma, ref.sigma, "sigma", rel_estimates)
        if summary:
            res = _scaled_residuals(ref, m.beta, m.b, m.sigma)
            q = np.quantile(res, [0, 0.25, 0.5, 0.75, 1], method="linear")
            np.testing.assert_allclose(m.residual_quantiles, q, rtol=1e-12, atol=1e-12)  # exact
            assert _without_data_line(str(m.summary())) == _without_data_line(str(ref.summary()))
    return m, ref


@pytest.fixture(scope="module")
def sleep():
    return mm.load_dataset("sleepstudy")


def test_random_slopes(client, sleep):
    m, _ = compare(client, "Reaction ~ Days + (Days | Subject)", sleep, npartitions=5)
    assert m.rows.persisted and m.rows.partitions == 5


def test_structured_covariance(client, sleep):
    """An ar1() term: the structure is a map of theta to the templates, so the blocks from the
    cluster serve it as they serve lme4's terms."""
    m, _ = compare(client, "Reaction ~ Days + ar1(0 + factor(Days) | Subject)", sleep, npartitions=4)
    assert m.core.layout.structures[0].name == "ar1"


def test_factor_of_a_numeric_column(client, sleep):
    """factor(Days) with partitions that each hold only some days: the levels are the values of all
    rows (the levels pass finds them), not each partition's own (which coded other columns)."""
    by_day = sleep.sort_values("Days").reset_index(drop=True)
    compare(client, "Reaction ~ factor(Days) + (1 | Subject)", by_day, npartitions=4)


def test_nested(client):
    compare(client, "strength ~ 1 + (1 | batch/cask)", mm.load_dataset("Pastes"), npartitions=3)


def test_crossed_with_levels_missing_from_partitions(client):
    # sorted by plate: each partition holds a few plates only, every sample level in several
    d = mm.load_dataset("Penicillin").sort_values("plate", kind="stable").reset_index(drop=True)
    compare(client, "diameter ~ 1 + (1 | plate) + (1 | sample)", d, npartitions=6, REML=False)


def test_weights_and_offsets(client, sleep):
    rng = np.random.default_rng(3)
    d = sleep.assign(w=rng.uniform(0.5, 2.0, len(sleep)), o=rng.normal(0, 5, len(sleep)))
    m, ref = compare(client, "Reaction ~ Days + (Days | Subject)", d, weights="w", offset="o")
    assert "Weights: w" in str(m.summary())
    compare(client, "Reaction ~ Days + offset(o) + (1 | Subject)", d, summary=False)


def test_factor_predictor_levels_missing_from_partitions(client, sleep):
    # sorted by day: every partition has two of the ten days, the fit all ten (global codes)
    d = sleep.assign(day=sleep["Days"].map(lambda v: f"d{v:02d}")).sort_values("Days", kind="stable")
    m, _ = compare(client, "Reaction ~ day + (1 | Subject)", d.reset_index(drop=True), npartitions=5, summary=False)
    assert len(m.fixef) == 10
    # a categorical with an unused category and its own (not sorted) order, an ordered factor's contrasts
    cats = [f"d{v:02d}" for v in range(9, -1, -1)] + ["never"]
    d2 = d.assign(day=pd.Categorical(d["day"], categories=cats),
                  dayo=pd.Categorical(d["day"], categories=cats[:10][::-1], ordered=True))
    m2, ref2 = compare(client, "Reaction ~ day + (1 | Subject)", d2.reset_index(drop=True), npartitions=5)
    assert list(m2.fixef.index) == list(ref2.fixef.index) and "daynever" not in m2.fixef.index
    compare(client, "Reaction ~ dayo + (1 | Subject)", d2.reset_index(drop=True), npartitions=5, summary=False)


def test_categories_dask_does_not_know(client, sleep):
    """Unknown categories keep the order every partition has; where partitions list them in different
    orders the levels are sorted (as R's factor()), with a warning: the baseline never depends on
    how the rows are split."""
    rng = np.random.default_rng(3)
    d = sleep.assign(grp=pd.Categorical(rng.choice(["b", "a", "c"], len(sleep)), categories=["c", "a", "b"]))
    f = "Reaction ~ Days + grp + (1 | Subject)"
    with client.as_current():
        ref = mm.lmer(f, d)
        same = dd.from_pandas(d, npartitions=4, sort=False)
        same = same.assign(grp=same["grp"].cat.as_unknown())
        m = mm.lmer(f, same)
        assert list(m.fixef.index) == list(ref.fixef.index) == ["(Intercept)", "Days", "grpa", "grpb"]
        _close(m.beta, ref.beta, "beta", 1e-6)
        parts = []
        for i in range(4):
            p = d.iloc[45 * i: 45 * (i + 1)].copy()
            cats = sorted(p["grp"].astype(str).unique())
            p["grp"] = pd.Categorical(p["grp"].astype(str), categories=cats[::-1] if i % 2 else cats)
            parts.append(p)
        meta = parts[0].iloc[:0].assign(grp=pd.Categorical([], categories=["__UNKNOWN_CATEGORIES__"]))
        mixed = dd.from_delayed([dask.delayed(lambda x: x)(p) for p in parts], meta=meta, verify_meta=False)
        with pytest.warns(DataWarning, match="different orders.*sorted"):
            m2 = mm.lmer(f, mixed)
        ref2 = mm.lmer(f, d.assign(grp=d["grp"].astype(str)))    # text: R's sorted levels
        assert list(m2.fixef.index) == list(ref2.fixef.index) == ["(Intercept)", "Days", "grpb", "grpc"]
        _close(m2.beta, ref2.beta, "beta", 1e-6)


def test_scale_and_center(client, sleep):
    rng = np.random.default_rng(5)
    d = sleep.assign(x=rng.normal(50, 10, len(sleep)))
    compare(client, "Reaction ~ scale(Days) + center(x) + (scale(Days) | Subject)", d, npartitions=4)


def test_missing_values_and_a_dependent_column(client, sleep):
    d = sleep.assign(D2=2.0 * sleep["Days"], Reaction=sleep["Reaction"].astype(float))
    d.loc[[3, 50, 51, 177], "Reaction"] = np.nan
    d.loc[[10, 90], "Days"] = np.nan
    with pytest.warns(mm.errors.RankDeficiencyWarning, match="D2"):
        m, ref = compare(client, "Reaction ~ Days + D2 + (1 | Subject)", d, npartitions=4)
    assert m.nobs == 174 and m.fixed.dropped == ["D2"]
    d.loc[[20, 21], "Reaction"] = -1.0
    with pytest.warns(DataWarning, match="2 row"):
        compare(client, "log(Reaction) ~ Days + (1 | Subject)", d, npartitions=4, summary=False)


def test_parquet_path(client, sleep, tmp_path):
    d = sleep.assign(Subject=sleep["Subject"].astype(str))
    dd.from_pandas(d, npartitions=3).to_parquet(tmp_path / "ss", write_index=False)
    with client.as_current():
        ref = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
        for path in (str(tmp_path / "ss"), str(tmp_path / "ss" / "*.parquet")):
            m = mm.lmer("Reaction ~ Days + (Days | Subject)", path)
            _close(m.theta, ref.theta, "theta")
            _close(m.beta, ref.beta, "beta")
            _close(m.objective, ref.objective, "criterion")
    assert m.rows.partitions == 3
    with pytest.raises(mm.errors.DataError, match="cannot read the Parquet data"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "nothing-here" / "*.parquet"))
    with pytest.raises(mm.errors.DataError, match="must be a pandas or polars DataFrame, got str"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", "sleepstudy")  # a name, not a path: as before


def test_fitted_residuals_and_predict_are_lazy_dask_series(client, sleep):
    """fitted, residuals and predict(ddf) are Dask Series computed where the rows live, on the rows'
    own labels (NA rows left out, as in memory), equal to the in-memory fit's at the same estimates."""
    data = sleep.copy()
    data.loc[[3, 50, 121], "Reaction"] = np.nan
    with client.as_current():
        ddf = dd.from_pandas(data, npartitions=3)
        m = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf)
        ref = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
        f, r = m.fitted, m.residuals
        assert type(f).__module__.split(".")[0] == "dask" and f.npartitions == 3
        fc, rc = f.compute(), r.compute()
        assert list(fc.index) == list(ref.fitted.index) and 3 not in fc.index
        # the same numbers as the in-memory formula at the Dask fit's own estimates
        X, y = ref.fixed.X, ref.frame.y
        expect = X @ m.beta + sum(np.einsum("ij,ij->i", t.z, bk[t.codes]) for t, bk in zip(ref.terms, m.b))
        np.testing.assert_allclose(fc.to_numpy(), expect, rtol=1e-12)
        np.testing.assert_allclose(rc.to_numpy(), y - expect, rtol=1e-9, atol=1e-9)
        rs = m.resid("pearson", scaled=True)
        assert type(rs).__module__.split(".")[0] == "dask"
        np.testing.assert_allclose(rs.compute().to_numpy(), (y - expect) / m.sigma, rtol=1e-9, atol=1e-9)
        with pytest.raises(ArgumentError, match="type must be one of"):
            m.resid("raw")
        np.testing.assert_allclose(fc.to_numpy(), ref.fitted.to_numpy(), rtol=1e-6)
        p = m.predict(dd.from_pandas(sleep.iloc[:40], npartitions=2), re_form="~0")
        assert type(p).__module__.split(".")[0] == "dask"
        np.testing.assert_allclose(p.compute().to_numpy(), ref.predict(sleep.iloc[:40], re_form="~0").to_numpy(),
                                   rtol=1e-6)
        assert m.predict().compute().equals(fc)


def test_what_needs_rows_says_so(client, sleep):
    with client.as_current():
        ddf = dd.from_pandas(sleep, npartitions=2)
        m = mm.lmer("Reaction ~ Days + (1 | Subject)", ddf)
        for call in (lambda: m.hatvalues(),
                     lambda: m.refit(REML=False), lambda: m.confint(method="profile"),
                     lambda: m.icc(), lambda: m.check()):
            with pytest.raises(FitError, match="rows in memory|refits the model"):  # never a number from no rows
                call()
        m2 = mm.lmer("Reaction ~ Days + (1 | Subject)", ddf)
        m2.rows.release()
        with pytest.raises(FitError, match="released"):
            m2.summary()
        ci = m.confint(method="Wald")
        ref = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
        np.testing.assert_allclose(np.asarray(m.predict(sleep.iloc[:7]), dtype=float),
                                   np.asarray(ref.predict(sleep.iloc[:7]), dtype=float), rtol=1e-6)
        np.testing.assert_allclose(ci.to_numpy(dtype=float), ref.confint(method="Wald").to_numpy(dtype=float),
                                   rtol=1e-8, equal_nan=True)
        with pytest.raises(ArgumentError, match=r"poly\(\) is not supported from Dask"):
            mm.lmer("Reaction ~ poly(Days, 2) + (1 | Subject)", ddf)
        with pytest.raises(ArgumentError, match="name of a column"):
            mm.lmer("Reaction ~ Days + (1 | Subject)", ddf, weights=np.ones(len(sleep)))
        with pytest.raises(mm.errors.DataError, match="not columns"):
            mm.lmer("Reaction ~ Days + (1 | Nobody)", ddf)


def test_kenward_roger_from_the_blocks(client, sleep):
    """Kenward-Roger reads the rows only through Z'Z, Z'X and X'X, which the Dask fit's core holds:
    the same df, adjusted standard errors and F tests as in memory (random slopes; crossed terms
    sorted by plate, so partitions lack levels)."""
    pen = mm.load_dataset("Penicillin").sort_values("plate", kind="stable").reset_index(drop=True)
    with client.as_current():
        for f, d in (("Reaction ~ Days + (Days | Subject)", sleep), ("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)):
            ref = mm.lmer(f, d)
            m = mm.lmer(f, dd.from_pandas(d, npartitions=3, sort=False))
            a, b = m.coef_table(ddf="Kenward-Roger"), ref.coef_table(ddf="Kenward-Roger")
            # the fits' estimates agree to BOBYQA's tolerance, and so do the df computed at them
            np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-5)
            # at the same estimates the numbers are the in-memory ones to rounding
            C1, ZX1, XX1 = m.core.crossproducts()
            C2, ZX2, XX2 = ref.core.crossproducts()
            np.testing.assert_allclose(C1.toarray(), C2.toarray(), rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(ZX1, ZX2, rtol=1e-12, atol=1e-9)
            np.testing.assert_allclose(XX1, XX2, rtol=1e-12)
        assert _without_data_line(str(m.summary(ddf="Kenward-Roger"))).splitlines()[0] == \
            _without_data_line(str(ref.summary(ddf="Kenward-Roger"))).splitlines()[0]
        # prior weights: pbkrtest's Sigma from the unweighted Z, one more pass on the cluster
        w = sleep.assign(w=np.linspace(1, 2, len(sleep)))
        mw = mm.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(w, npartitions=2), weights="w")
        rw = mm.lmer("Reaction ~ Days + (Days | Subject)", w, weights="w")
        np.testing.assert_allclose(mw.coef_table(ddf="Kenward-Roger").to_numpy(dtype=float),
                                   rw.coef_table(ddf="Kenward-Roger").to_numpy(dtype=float), rtol=1e-5)


def test_without_dask_a_clear_error(monkeypatch, sleep):
    monkeypatch.setitem(sys.modules, "dask", None)  # as if it were not installed: import fails
    with pytest.raises(MixedModelError, match="needs dask: pip install"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", "some/data.parquet")


def _partition(seed: int, rows: int) -> pd.DataFrame:
    """One partition of a frame made on the worker that reads it (no copy ever on the client)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 500, rows)
    x = rng.normal(size=rows)
    u = np.random.default_rng(12345).normal(0, 0.5, 500)
    return pd.DataFrame({"y": 1.0 + 2.0 * x + u[g] + rng.normal(size=rows), "x": x, "g": g})


class _LargestResults(SchedulerPlugin):
    """A scheduler plugin: the size of every task result held on a worker, largest by task name."""

    name = "largest-results"

    def __init__(self, scheduler):
        self.scheduler, self.largest = scheduler, {}

    def transition(self, key, start, finish, *args, **kwargs):
        ts = self.scheduler.tasks.get(key)
        if finish == "memory" and ts is not None:
            prefix = ts.prefix.name
            self.largest[prefix] = max(self.largest.get(prefix, 0), int(ts.nbytes))


def _fit_from_map(parts: int, rows: int):
    ddf = dd.from_map(_partition, list(range(parts)), rows=rows,
                      meta=pd.DataFrame({"y": [1.0], "x": [1.0], "g": [1]}).iloc[:0])
    return mm.lmer("y ~ x + (1 | g)", ddf)


def test_rows_never_gather_on_one_worker(cluster, client):
    """Workers whose memory limit is below the data's size: the chunks do not fit, so each round forms
    them afresh from the source, partition by partition, and no task ever holds more than one
    partition's rows: every result the workers keep, and every one the client fetches, is at most a
    partition's chunk or a sum of the size of the blocks (recorded by the scheduler).
    """
    rows, parts = 20_000, 8
    size = rows * parts * 3 * 8                       # 3.8 MB of float64/int64 columns
    plugin = _LargestResults(cluster.scheduler)
    cluster.scheduler.add_plugin(plugin)
    try:
        with client.as_current():
            m = _fit_from_map(parts, rows)
    finally:
        cluster.scheduler.remove_plugin(name=plugin.name)
    assert size > LIMIT and not m.rows.persisted      # too big to persist: formed afresh in each round
    chunk = plugin.largest["partition_chunk"]
    assert size / parts < chunk < 3 * size / parts, plugin.largest  # one partition's rows (X, y, z, codes)
    assert max(plugin.largest.values()) <= chunk, plugin.largest
    assert {"design_stats", "chunk_blocks", "combine_all"} <= set(plugin.largest)
    assert plugin.largest["combine_all"] < size / 50   # what travels up the tree and to the client: sums
    assert m.nobs == rows * parts
    assert m.fixef["x"] == pytest.approx(2.0, abs=0.02)
    assert m.sigma == pytest.approx(1.0, abs=0.02)
    # the summary's quantiles: the residuals (8 bytes a row) fit where the chunks did not, so they are
    # persisted for the counting rounds; exact all the same
    with client.as_current():
        q = m.residual_quantiles
    data = pd.concat([_partition(i, rows) for i in range(parts)], ignore_index=True)
    levels = list(m.terms[0].levels)
    b = m.b[0][:, 0][np.searchsorted(np.asarray(levels, dtype=int), data["g"].to_numpy())]
    r = (data["y"].to_numpy() - m.beta[0] - m.beta[1] * data["x"].to_numpy() - b) / m.sigma
    np.testing.assert_allclose(q, np.quantile(r, [0, .25, .5, .75, 1]), rtol=1e-9, atol=1e-9)


def test_unused_levels_of_a_random_term_are_dropped_as_in_memory(client):
    """A categorical with a category no row has: no column of Z for it, on the cluster as in memory."""
    sys.path.insert(0, str(Path(__file__).parent / "reference_structured"))
    from check_structured import load_data

    M = load_data(Path(__file__).parent / "reference_structured", "Machines")
    M["Machine"] = M["Machine"].cat.add_categories(["D"])
    # six theta from six workers: the criterion is flat along a ridge (equal to 1e-10 at both ends,
    # checked in compare), where BOBYQA's two paths stop 3e-5 apart in theta; the summary rounds them apart
    m, ref = compare(client, "score ~ Machine + (0 + Machine | Worker)", M, npartitions=3, summary=False,
                     rel_estimates=1e-4)
    assert m.terms[0].cnames == ref.terms[0].cnames == ["MachineA", "MachineB", "MachineC"]
