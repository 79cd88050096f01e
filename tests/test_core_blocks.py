"""The crossproduct blocks formed from a row source in chunks equal the in-memory core's.

Uneven chunk sizes, a chunk where only some levels are present, weights, an offset, a response far
from 0, dense and sparse paths: the factor, the criterion and the solutions agree to 1e-12.
"""
import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.core.lmm import LmmCore
from mixedmodels.core.rows import ArraySource, RowChunk

CASES = {
    "slope": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    "nested": ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
    "two_terms": ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy"),
}


def _model(name):
    f, d = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(f, mm.load_dataset(d))


def _uneven(n, rng):
    """Chunk sizes 1, 2, ... of uneven length (one chunk of a single row: few levels present)."""
    cuts = np.sort(rng.choice(np.arange(2, n - 1), size=min(6, n - 4), replace=False))
    return list(np.diff(np.concatenate([[0, 1], cuts, [n]])))


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("variant", ["plain", "weights_offset", "far"])
def test_chunked_blocks_match_in_memory_core(name, method, variant):
    m = _model(name)
    X, y = m.fixed.X, np.asarray(m.frame.y, dtype=float)
    n = X.shape[0]
    rng = np.random.default_rng(11)
    w = o = None
    if variant == "weights_offset":
        w, o = rng.uniform(0.5, 2.0, n), rng.normal(size=n)
    elif variant == "far":
        y = y + 1e9
    sizes = _uneven(n, rng)
    ref = LmmCore(m.terms, X, y, w, o, method=method)
    src = ArraySource(m.terms, X, y, w, o, sizes=sizes)
    chunked = LmmCore.from_rows(m.terms, src, method=method)
    assert chunked.method == ref.method and chunked.n == ref.n and chunked.ldW == pytest.approx(ref.ldW, rel=1e-12)
    for _ in range(4):   # several calls: the core changes strategy after its first evaluations
        theta = m.theta * rng.uniform(0.5, 1.5, m.theta.size)
        for reml in (True, False):
            assert _rel(chunked.objective(theta, reml), ref.objective(theta, reml)) < 1e-12
    fa, fb = chunked.factor(m.theta), ref.factor(m.theta)
    for attr in ("ldL2", "ldRX2", "r2"):
        assert _rel(getattr(fa, attr), getattr(fb, attr)) < 1e-12, attr
    np.testing.assert_allclose(chunked.solve(fa)[0], ref.solve(fb)[0], rtol=1e-12, atol=1e-12 * np.max(np.abs(y)))
    for ua, ub in zip(chunked.solve(fa)[1], ref.solve(fb)[1]):
        np.testing.assert_allclose(ua, ub, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(chunked.rx_inverse(fa), ref.rx_inverse(fb), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(chunked.start_theta(), ref.start_theta(), rtol=1e-12)
    assert _rel(chunked.y_ss, ref.y_ss) < 1e-12


def test_chunks_with_missing_levels_and_permuted_rows():
    """Rows grouped by level, so most chunks hold a few levels only; row order does not matter."""
    m = _model("crossed")
    X, y = m.fixed.X, np.asarray(m.frame.y, dtype=float)
    order = np.argsort(np.asarray(m.terms[0].codes), kind="stable")[::-1]
    chunks = []
    for part in np.array_split(order, 7):
        chunks.append(RowChunk(X[part], y[part], [np.asarray(t.z)[part] for t in m.terms],
                               [np.asarray(t.codes)[part] for t in m.terms]))
    assert all(len(np.unique(ch.codes[0])) < m.terms[0].nlev for ch in chunks)
    ref = LmmCore(m.terms, X, y)
    chunked = LmmCore.from_rows(m.terms, chunks)
    for reml in (True, False):
        assert _rel(chunked.objective(m.theta, reml), ref.objective(m.theta, reml)) < 1e-12
    f = chunked.factor(m.theta)
    assert _rel(chunked.objective_from(f, m.reml), m.objective if m.reml else m.deviance) < 1e-10


def test_one_chunk_is_the_in_memory_core():
    m = _model("slope")
    X, y = m.fixed.X, np.asarray(m.frame.y, dtype=float)
    one = LmmCore.from_rows(m.terms, ArraySource(m.terms, X, y, sizes=[X.shape[0]]))
    ref = LmmCore(m.terms, X, y)
    assert _rel(one.objective(m.theta, True), ref.objective(m.theta, True)) < 1e-13


def test_bad_sources():
    m = _model("slope")
    with pytest.raises(ValueError):
        ArraySource(m.terms, m.fixed.X, m.frame.y, sizes=[3])
    with pytest.raises(ValueError):
        LmmCore.from_rows(m.terms, [])


@pytest.mark.parametrize("name", ["crossed", "two_terms", "nested"])
def test_public_views_of_the_factor_agree_across_modes(name):
    """L_XX, solve_rr, lambda_rest and first_block_diag: what Kenward-Roger and the diagnostics read."""
    m = _model(name)
    X, y = m.fixed.X, np.asarray(m.frame.y, dtype=float)
    d, s = LmmCore(m.terms, X, y, method="dense"), LmmCore(m.terms, X, y, method="sparse")
    fd, fs = d.factor(m.theta), s.factor(m.theta)
    for c, f in ((d, fd), (s, fs)):
        Li = np.linalg.inv(f.L_XX)
        np.testing.assert_allclose(Li.T @ Li, c.rx_inverse(f), rtol=1e-10, atol=1e-14)
    assert fs.L_rr is None and fd.L_rr.shape == (d.mz, d.mz)
    B = np.random.default_rng(2).normal(size=(d.mz, 3))
    np.testing.assert_allclose(fd.solve_rr(B), fs.solve_rr(B), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(d.lambda_rest(m.theta).toarray(), s.lambda_rest(m.theta).toarray())
    G = np.arange(1.0, d.l0 * d.p0 * d.p0 + 1).reshape(d.l0, d.p0, d.p0)
    assert d.first_block_diag(G).shape == (d.l0 * d.p0, d.l0 * d.p0)


def test_far_response_with_cell_means_coding_and_iterator_refused():
    """y far from 0 and X = 0 + f (no constant column: the centring's least-squares candidate)."""
    m = _model("slope")
    days = np.asarray(m.fixed.X[:, 1])
    X = (days[:, None] == np.unique(days)[None, :]).astype(float)
    y = np.asarray(m.frame.y, dtype=float) + 1e9
    ref = LmmCore(m.terms, X, y)
    chunked = LmmCore.from_rows(m.terms, ArraySource(m.terms, X, y, sizes=[5, 50, 1, 124]))
    for reml in (True, False):
        assert _rel(chunked.objective(m.theta, reml), ref.objective(m.theta, reml)) < 1e-12
    np.testing.assert_allclose(chunked.solve(chunked.factor(m.theta))[0], ref.solve(ref.factor(m.theta))[0],
                               rtol=1e-12)
    with pytest.raises(TypeError):
        LmmCore.from_rows(m.terms, iter(ArraySource(m.terms, X, y)))
