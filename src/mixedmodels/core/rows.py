r"""Row sources: the crossproduct blocks of ``[Z X y]`` as sums over chunks of rows.

Every block the core holds (:class:`~mixedmodels.core.blocks.CrossBlocks`) is a sum over rows, so
it can be formed chunk by chunk: in-memory arrays today (:class:`ArraySource`), chunks read from
disk, or the partitions of a Dask frame later. A row source is any re-iterable of
:class:`RowChunk`; it is read in three passes (four when y is far from 0 and X has no constant
column), because the two shifts that keep ``r^2`` accurate (:mod:`.blocks`) must be known before
the blocks are formed, and forming them after the fact from the blocks would bring back the
cancellation they avoid:

1. counts, the range of y, ``X'X`` and ``sum log w``: the centring constant of a far response;
2. ``[X y]'W[X y]``: the least-squares shift b;
3. all blocks, of ``[X, y, y - X b]`` (the shift is kept only if it makes ``y'y`` smaller), and
   the per-level sums of lme4's moment start.

The result equals :func:`~mixedmodels.core.blocks.form_blocks` on the stacked rows to rounding
(the sums are taken in another order).

Each pass is a map, a chunk's partial sums (:func:`chunk_stats`, :func:`ones_error`,
:func:`xy_cross`, :func:`chunk_blocks`), and an associative reduce of two partial results
(:func:`combine_stats`, ``np.maximum``, ``np.add``, :func:`combine_blocks`):
:func:`blocks_from_passes` takes any ``reduce`` that runs them, an in-memory fold
(:func:`local_reduce`) or a cluster's tree of tasks where the chunks live.
"""
from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Iterable, Protocol

import numpy as np

from .blocks import (CENTRE_RATIO, CrossBlocks, intercepts_only, shift_coef, z_blocks)

__all__ = ["RowChunk", "RowSource", "ArraySource", "blocks_from_rows", "blocks_from_passes", "local_reduce",
           "chunk_stats", "combine_stats", "ones_error", "xy_cross", "chunk_blocks", "combine_blocks",
           "term_shapes"]

# what z_blocks reads of a term, for the rows of one chunk
_ChunkTerm = namedtuple("_ChunkTerm", "nlev p q codes z")


@dataclass
class RowChunk:
    """A chunk of rows: X (k x p), y (k,), per term its z (k x p_t) and level codes (k,),
    optional prior weights and offset (k,)."""

    X: np.ndarray
    y: np.ndarray
    z: list
    codes: list
    weights: np.ndarray | None = None
    offset: np.ndarray | None = field(default=None)
    index: object = field(default=None, repr=False)   # the rows' labels (a Dask partition's), or None


class RowSource(Protocol):
    """Anything that yields :class:`RowChunk` s, afresh on each iteration (read in several passes)."""

    def __iter__(self): ...


class ArraySource:
    """In-memory arrays as a row source, cut into chunks of the given sizes (or of ``chunk_rows``).

    Parameters
    ----------
    terms : list of ReTerm
        Their codes and z are cut with the rows.
    X, y, weights, offset : ndarray
    sizes : sequence of int, optional
        The chunk sizes (summing to n); else chunks of ``chunk_rows`` rows.
    chunk_rows : int
    """

    def __init__(self, terms, X, y, weights=None, offset=None, *, sizes=None, chunk_rows: int = 1 << 16):
        self.terms, self.X, self.y = terms, np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.weights, self.offset = weights, offset
        n = self.X.shape[0]
        if sizes is None:
            sizes = [min(chunk_rows, n - s) for s in range(0, n, chunk_rows)]
        if sum(sizes) != n:
            raise ValueError(f"chunk sizes sum to {sum(sizes)}, not to the {n} rows")
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def __iter__(self):
        cut = (lambda v, a, b: None if v is None else np.asarray(v, dtype=float)[a:b])
        for a, b in zip(self.bounds[:-1], self.bounds[1:]):
            yield RowChunk(self.X[a:b], self.y[a:b], [np.asarray(t.z, dtype=float)[a:b] for t in self.terms],
                           [np.asarray(t.codes, dtype=np.int64)[a:b] for t in self.terms],
                           cut(self.weights, a, b), cut(self.offset, a, b))


def _response(ch: RowChunk) -> np.ndarray:
    y = np.asarray(ch.y, dtype=float)
    return y if ch.offset is None else y - np.asarray(ch.offset, dtype=float)


def _sqrt_w(ch: RowChunk) -> np.ndarray | None:
    return None if ch.weights is None else np.sqrt(np.asarray(ch.weights, dtype=float))


def _centre(total: float, n: int, lo: float, hi: float) -> float:
    """far_centre from the sum and range: the mean when it is far from 0 compared with the spread."""
    if not n:
        return 0.0
    c = total / n
    spread = max(hi - c, c - lo)
    return c if math.isfinite(c) and abs(c) > CENTRE_RATIO * spread else 0.0


def chunk_stats(ch: RowChunk) -> dict | None:
    """The first pass's map: one chunk's count, sum and range of y (less offset), the sum of the raw
    y, its first row of X and which columns are constant in it, X'X, the column sums of X
    (unweighted, for ones_coef), sum log w; None for a chunk without rows."""
    X = np.asarray(ch.X, dtype=float)
    if not X.shape[0]:
        return None
    yy, yr = _response(ch), np.asarray(ch.y, dtype=float)
    ldW = 0.0
    if ch.weights is not None:
        w = np.asarray(ch.weights, dtype=float)
        ldW = float(np.sum(np.log(w[w > 0])))
    return dict(n=X.shape[0], sy=float(yy.sum()), ylo=float(yy.min()), yhi=float(yy.max()), sr=float(yr.sum()),
                x0=X[0].copy(), const=np.all(X == X[0], axis=0), XtX=X.T @ X, Xsum=X.sum(axis=0), ldW=ldW)


def combine_stats(a: dict | None, b: dict | None) -> dict | None:
    """The first pass's reduce: two chunks' (or sums') statistics as those of their rows together; a
    column is constant over both when it is in each and their first rows agree."""
    if a is None or b is None:
        return a if b is None else b
    return dict(n=a["n"] + b["n"], sy=a["sy"] + b["sy"], ylo=min(a["ylo"], b["ylo"]), yhi=max(a["yhi"], b["yhi"]),
                sr=a["sr"] + b["sr"], x0=a["x0"], const=a["const"] & b["const"] & (a["x0"] == b["x0"]),
                XtX=a["XtX"] + b["XtX"], Xsum=a["Xsum"] + b["Xsum"], ldW=a["ldW"] + b["ldW"])


def ones_candidates(st: dict, p: int) -> list | None:
    """The candidates of ones_coef (a with X a == 1) from the first pass: from a constant column, or
    least squares (rounded and not); None when there is none."""
    if not st["n"] or not p:
        return None
    const = np.flatnonzero(st["const"] & (st["x0"] != 0))
    if const.size:
        a = np.zeros(p)
        a[const[0]] = 1.0 / st["x0"][const[0]]
        return [a]
    a = shift_coef(st["XtX"], st["Xsum"])
    return None if a is None else [np.round(a * 2.0 ** 20) / 2.0 ** 20, a]


def ones_error(ch: RowChunk, cands: list) -> np.ndarray:
    """The check pass's map: the largest ``|X c - 1|`` of each candidate on a chunk (its reduce:
    ``np.maximum``)."""
    X = np.asarray(ch.X, dtype=float)
    if not X.shape[0]:
        return np.zeros(len(cands))
    return np.array([np.max(np.abs(X @ c - 1.0)) for c in cands])


def pick_ones(cands: list | None, worst) -> np.ndarray | None:
    """The first candidate exact to rounding, or None."""
    if cands is None:
        return None
    for c, e in zip(cands, worst):
        if e <= 8 * np.finfo(float).eps:
            return c
    return None


def xy_cross(ch: RowChunk, c: float) -> np.ndarray:
    """The second pass's map: a chunk's ``[X y-c]'W[X y-c]`` (its reduce: a sum)."""
    Xy, _ = _weighted_xy(ch, c, None)
    return Xy.T @ Xy


def _weighted_xy(ch: RowChunk, c: float, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The chunk's [X, y - c] (and y - c - X b when b is given) times sqrt(w)."""
    X = np.asarray(ch.X, dtype=float)
    k, p = X.shape
    Xy = np.empty((k, p + 1 + (b is not None)))
    Xy[:, :p] = X
    Xy[:, p] = _response(ch) - c if c else _response(ch)
    sw = _sqrt_w(ch)
    if sw is not None:
        Xy[:, : p + 1] *= sw[:, None]
    if b is not None:
        Xy[:, p + 1] = Xy[:, p] - Xy[:, :p] @ b
    return Xy, sw


def local_reduce(source: Iterable[RowChunk]):
    """A reduce over an in-memory row source: ``reduce(f, combine, *args)`` folds ``combine`` over
    ``f(chunk, *args)``, chunk by chunk in order (the sums the in-memory core always took)."""
    def reduce(f, combine, *args):
        out, first = None, True
        for ch in source:
            v = f(ch, *args)
            out, first = (v if first else combine(out, v)), False
        return out
    return reduce


def blocks_from_rows(terms, layout, source: Iterable[RowChunk]) -> CrossBlocks:
    """The blocks of :func:`~mixedmodels.core.blocks.form_blocks` from a row source (see the
    module's docstring for the passes)."""
    if iter(source) is source:
        raise TypeError("a row source is read in several passes: pass a re-iterable (a list of chunks, "
                        "an ArraySource), not an iterator")
    p = None
    for ch in source:
        p = np.asarray(ch.X).shape[1]
        break
    if p is None:
        raise ValueError("the row source yielded no chunk")
    return blocks_from_passes(terms, layout, p, local_reduce(source))


def blocks_from_passes(terms, layout, p: int, reduce, stats: dict | None = None) -> CrossBlocks:
    """The blocks from map-reduce passes over chunks of rows.

    Parameters
    ----------
    terms : list of ReTerm (or objects with nlev, p, q)
        The terms' structure; their codes and z are the chunks'.
    layout : ThetaLayout
    p : int
        The number of columns of X.
    reduce : callable
        ``reduce(f, combine, *args)``: ``f(chunk, *args)`` on every chunk, combined pairwise by
        ``combine`` (associative: sums, maxima) in any tree; :func:`local_reduce` folds an in-memory
        source, a cluster runs the maps where the chunks live and tree-reduces the partial results.
    stats : dict, optional
        The first pass's result (``reduce(chunk_stats, combine_stats)``), where the caller has it
        already (a cluster computes it in the round of its own checks).

    Returns
    -------
    CrossBlocks
    """
    st = reduce(chunk_stats, combine_stats) if stats is None else stats
    if st is None:
        st = dict(n=0, sy=0.0, ylo=math.inf, yhi=-math.inf, sr=0.0, x0=None, const=np.ones(p, dtype=bool),
                  XtX=np.zeros((p, p)), Xsum=np.zeros(p), ldW=0.0)
    n = st["n"]
    c = _centre(st["sy"], n, st["ylo"], st["yhi"])
    a = None
    if c:
        cands = ones_candidates(st, p)
        a = None if cands is None else pick_ones(cands, reduce(ones_error, np.maximum, cands))
    beta_shift = c * a if a is not None else np.zeros(p)
    c = c if a is not None else 0.0
    AXX = reduce(xy_cross, np.add, c)
    y_ss = float(AXX[p, p])
    b = shift_coef(AXX[:p, :p], AXX[:p, p]) if p and AXX[p, p] > 0 else None
    shapes = term_shapes(terms)
    A = finish_blocks(reduce(chunk_blocks, combine_blocks, shapes, c, b, st["sr"] / n if n else 0.0,
                                     intercepts_only(terms)), b, p)
    cols = list(range(p + 1))
    if b is not None and A["AXX"][p + 1, p + 1] < AXX[p, p]:
        cols[p] = p + 1
        beta_shift = beta_shift + b
    sel = (lambda M: None if M is None else M[..., cols])
    AXXn = A["AXX"][np.ix_(cols, cols)]
    start = _start_from_sums(terms, layout, A["mom"], n)
    return CrossBlocks(n, p, st["ldW"], beta_shift, y_ss, start, A["A00"], sel(A["C0"]), A["Ar0"], A["Arr"],
                       sel(A["ArX"]), AXXn)


def term_shapes(terms) -> list[tuple[int, int, int]]:
    """(nlev, p, q) of each term: all that a chunk's map needs of the terms besides its own rows."""
    return [(int(t.nlev), int(t.p), int(t.q)) for t in terms]


_BLOCKS = ("A00", "C0", "Ar0", "Arr", "ArX", "AXX")


def chunk_blocks(ch: RowChunk, shapes, c: float, b, ybar: float, moments: bool) -> dict | None:
    """The third pass's map: a chunk's every block and (with ``moments``: intercept-only terms) its
    sums of lme4's moment start; None for a chunk without rows."""
    Xy, sw = _weighted_xy(ch, c, b)
    if not Xy.shape[0]:
        return None
    cts = [_ChunkTerm(nl, pt, q, np.asarray(cd, dtype=np.int64), np.asarray(z, dtype=float))
           for (nl, pt, q), cd, z in zip(shapes, ch.codes, ch.z)]
    out = dict(zip(_BLOCKS[:5], z_blocks(cts, Xy, sw)))
    out["AXX"] = Xy.T @ Xy
    out["mom"] = None
    if moments:
        yr = np.asarray(ch.y, dtype=float) - ybar
        out["mom"] = dict(levels=[[np.bincount(ct.codes, minlength=ct.nlev).astype(float),
                                   np.bincount(ct.codes, weights=yr, minlength=ct.nlev)] for ct in cts],
                          sy=float(yr.sum()), ssy=float(yr @ yr))
    return out


def combine_blocks(a: dict | None, b: dict | None) -> dict | None:
    """The third pass's reduce: the sums of two chunks' blocks."""
    if a is None or b is None:
        return a if b is None else b
    out = {k: (a[k] if b[k] is None else b[k] if a[k] is None else a[k] + b[k]) for k in _BLOCKS}
    ma, mb = a["mom"], b["mom"]
    out["mom"] = None if ma is None or mb is None else dict(
        levels=[[ca + cb, sa + sb] for (ca, sa), (cb, sb) in zip(ma["levels"], mb["levels"])],
        sy=ma["sy"] + mb["sy"], ssy=ma["ssy"] + mb["ssy"])
    return out


def finish_blocks(out: dict | None, b, p: int) -> dict:
    """The summed blocks in the layout the core reads: sparse blocks as CSR, and without the shift b
    a copy of y as the (unused) last column."""
    if out is None:
        raise ValueError("the row source has no rows")
    out = dict(out)
    for k in ("Ar0", "Arr"):
        if out[k] is not None:
            out[k] = out[k].tocsr()
    if b is None:   # keep the layout of the shifted case: a copy of y as the (unused) last column
        for k in ("C0", "ArX"):
            if out[k] is not None:
                out[k] = np.concatenate([out[k], out[k][..., -1:]], axis=-1)
        out["AXX"] = np.pad(out["AXX"], ((0, 1), (0, 1)))
        out["AXX"][p + 1, p + 1] = np.inf
    return out


def _start_from_sums(terms, layout, mom, n: int) -> np.ndarray:
    """lme4's moment start (:func:`~mixedmodels.core.blocks.moment_start`) from per-level counts
    and sums of ``y - ybar`` and the sum of squares of ``y - ybar`` (centred: a response far from 0
    loses nothing to cancellation)."""
    start = layout.default_start()
    if mom is None or n < 2:
        return start
    v = []
    for cnt, sums in mom["levels"]:
        means = np.divide(sums, cnt, out=np.zeros_like(sums), where=cnt > 0)
        mu = float(np.sum(cnt * means)) / n
        v.append(float(np.sum(cnt * (means - mu) ** 2)) / (n - 1))
    mu = mom["sy"] / n
    ve = (mom["ssy"] - n * mu * mu) / (n - 1) - sum(v)
    if not (np.isfinite(ve) and ve > 0):
        return start
    return np.sqrt(np.asarray(v) / ve)
