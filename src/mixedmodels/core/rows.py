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
"""
from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import dataclass, field
from typing import Iterable, Protocol

import numpy as np

from .blocks import (CENTRE_RATIO, CrossBlocks, intercepts_only, shift_coef, z_blocks)

__all__ = ["RowChunk", "RowSource", "ArraySource", "blocks_from_rows"]

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


def _first_pass(source: Iterable[RowChunk], p: int) -> dict:
    """Count, sum and range of y (less offset), the sum of the raw y, constant columns of X, X'X and
    the column sums of X (unweighted, for ones_coef), sum log w."""
    st = dict(n=0, sy=0.0, ylo=math.inf, yhi=-math.inf, sr=0.0,
              x0=None, const=np.ones(p, dtype=bool), XtX=np.zeros((p, p)), Xsum=np.zeros(p), ldW=0.0)
    for ch in source:
        X = np.asarray(ch.X, dtype=float)
        if not X.shape[0]:
            continue
        yy, yr = _response(ch), np.asarray(ch.y, dtype=float)
        st["n"] += X.shape[0]
        st["sy"] += float(yy.sum()); st["ylo"] = min(st["ylo"], float(yy.min())); st["yhi"] = max(st["yhi"], float(yy.max()))
        st["sr"] += float(yr.sum())
        if st["x0"] is None:
            st["x0"] = X[0].copy()
        st["const"] &= np.all(X == st["x0"], axis=0)
        st["XtX"] += X.T @ X
        st["Xsum"] += X.sum(axis=0)
        if ch.weights is not None:
            w = np.asarray(ch.weights, dtype=float)
            st["ldW"] += float(np.sum(np.log(w[w > 0])))
    return st


def _ones_coef(source, st: dict, p: int) -> np.ndarray | None:
    """ones_coef over chunks: a with X a == 1, from the constant columns or least squares (one
    more pass checks the candidates)."""
    if not st["n"] or not p:
        return None
    const = np.flatnonzero(st["const"] & (st["x0"] != 0))
    if const.size:
        a = np.zeros(p)
        a[const[0]] = 1.0 / st["x0"][const[0]]
        cands = [a]
    else:
        a = shift_coef(st["XtX"], st["Xsum"])
        if a is None:
            return None
        cands = [np.round(a * 2.0 ** 20) / 2.0 ** 20, a]
    worst = np.zeros(len(cands))
    for ch in source:
        X = np.asarray(ch.X, dtype=float)
        if X.shape[0]:
            worst = np.maximum(worst, [np.max(np.abs(X @ c - 1.0)) for c in cands])
    for c, e in zip(cands, worst):
        if e <= 8 * np.finfo(float).eps:
            return c
    return None


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
    st = _first_pass(source, p)
    n = st["n"]
    c = _centre(st["sy"], n, st["ylo"], st["yhi"])
    a = _ones_coef(source, st, p) if c else None
    beta_shift = c * a if a is not None else np.zeros(p)
    c = c if a is not None else 0.0
    AXX = np.zeros((p + 1, p + 1))
    for ch in source:
        Xy, _ = _weighted_xy(ch, c, None)
        AXX += Xy.T @ Xy
    y_ss = float(AXX[p, p])
    b = shift_coef(AXX[:p, :p], AXX[:p, p]) if p and AXX[p, p] > 0 else None
    A = _sum_blocks(terms, source, c, b, p, st["sr"] / n if n else 0.0)
    cols = list(range(p + 1))
    if b is not None and A["AXX"][p + 1, p + 1] < AXX[p, p]:
        cols[p] = p + 1
        beta_shift = beta_shift + b
    sel = (lambda M: None if M is None else M[..., cols])
    AXXn = A["AXX"][np.ix_(cols, cols)]
    start = _start_from_sums(terms, layout, A["mom"], n)
    return CrossBlocks(n, p, st["ldW"], beta_shift, y_ss, start, A["A00"], sel(A["C0"]), A["Ar0"], A["Arr"],
                       sel(A["ArX"]), AXXn)


def _sum_blocks(terms, source, c: float, b, p: int, ybar: float) -> dict:
    """The third pass: every block summed over chunks, and the sums of the moment start."""
    out = dict(A00=None, C0=None, Ar0=None, Arr=None, ArX=None, AXX=None)
    mom = None
    if intercepts_only(terms):
        mom = dict(levels=[[np.zeros(t.nlev), np.zeros(t.nlev)] for t in terms], sy=0.0, ssy=0.0)
    for ch in source:
        Xy, sw = _weighted_xy(ch, c, b)
        if not Xy.shape[0]:
            continue
        cts = [_ChunkTerm(t.nlev, t.p, t.q, np.asarray(cd, dtype=np.int64), np.asarray(z, dtype=float))
               for t, cd, z in zip(terms, ch.codes, ch.z)]
        parts = dict(zip(("A00", "C0", "Ar0", "Arr", "ArX"), z_blocks(cts, Xy, sw)))
        parts["AXX"] = Xy.T @ Xy
        for k, v in parts.items():
            if v is not None:
                out[k] = v if out[k] is None else out[k] + v
        if mom is not None:
            yr = np.asarray(ch.y, dtype=float) - ybar
            mom["sy"] += float(yr.sum())
            mom["ssy"] += float(yr @ yr)
            for (cnt, sums), ct in zip(mom["levels"], cts):
                cnt += np.bincount(ct.codes, minlength=ct.nlev)
                sums += np.bincount(ct.codes, weights=yr, minlength=ct.nlev)
    for k in ("Ar0", "Arr"):
        if out[k] is not None:
            out[k] = out[k].tocsr()
    if b is None:   # keep the layout of the shifted case: a copy of y as the (unused) last column
        for k in ("C0", "ArX"):
            if out[k] is not None:
                out[k] = np.concatenate([out[k], out[k][..., -1:]], axis=-1)
        out["AXX"] = np.pad(out["AXX"], ((0, 1), (0, 1)))
        out["AXX"][p + 1, p + 1] = np.inf
    out["mom"] = mom
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
