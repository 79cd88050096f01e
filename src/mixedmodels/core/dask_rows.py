r"""Row chunks that live on a Dask cluster: the passes of :mod:`.rows` as map-reduce rounds there.

Each chunk (a :class:`~mixedmodels.core.rows.RowChunk` of one partition) is a persisted
``dask.delayed`` object in a worker's memory; a pass maps a function over the chunks where they
live and reduces the partial results in a tree of tasks (:func:`tree_reduce`), so that only the
sums -- matrices of the size of the blocks, never rows -- travel to the client.

Besides the blocks: the distributed QR of X (TSQR: each chunk's R, stacked and factored again up
the tree), from which the in-memory rank check reads the same column norms, and exact order
statistics of per-chunk values (:func:`exact_quantiles`), for the summary's residual quantiles.

Dask is imported only inside the functions that build tasks.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..errors import FitError
from .rows import RowChunk

__all__ = ["fits_in_memory", "PERSIST_FRACTION", "as_row_chunk", "tree_reduce", "DaskReduce", "design_stats",
           "combine_design_stats", "select_columns", "chunk_residuals", "exact_quantiles"]

SPLIT_EVERY = 8  # partial results combined per task of the tree


def _register_sizeof() -> None:
    """Tell Dask the size of a RowChunk (its arrays), which its memory accounting (spilling, limits,
    what a worker holds) would otherwise take for a few bytes. This module is imported only on the
    Dask path."""
    try:
        from dask.sizeof import sizeof
    except ImportError:  # pragma: no cover - imported from the Dask path only
        return

    @sizeof.register(RowChunk)
    def _chunk_size(ch: RowChunk) -> int:
        arrays = [ch.X, ch.y, ch.weights, ch.offset, *ch.z, *ch.codes]
        return int(sum(sizeof(a) for a in arrays if a is not None))


_register_sizeof()


PERSIST_FRACTION = 0.5  # of the workers' memory, that persisted data may take (the rest: the workers' own)


def fits_in_memory(nbytes: float) -> bool:
    """Whether ``nbytes`` in all fit in :data:`PERSIST_FRACTION` of the distributed workers' memory
    limits; True without a distributed client (a local scheduler keeps them in this process, as the
    in-memory fit would) or where the workers have no limit."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return True
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info().get("workers", {}).values()]
    if not limits or not all(limits):
        return True
    return nbytes <= PERSIST_FRACTION * sum(limits)


def as_row_chunk(d: dict) -> RowChunk:
    """A chunk from the dict of arrays a partition's design gives."""
    return RowChunk(d["X"], d["y"], list(d["z"]), list(d["codes"]), d.get("weights"), d.get("offset"),
                    d.get("index"))


def _combine_all(combine, parts):
    return functools.reduce(combine, parts)


def tree_reduce(parts: list, combine, split_every: int = SPLIT_EVERY):
    """The delayed reduce of delayed partial results, ``split_every`` at a time up a tree."""
    import dask

    if not parts:
        raise FitError("the Dask frame has no partitions")
    while len(parts) > 1:
        parts = [dask.delayed(_combine_all, pure=True)(combine, parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


class DaskReduce:
    """``reduce(f, combine, *args)`` over persisted chunks: ``f(chunk, *args)`` as one task per chunk
    (run where the chunk lives), reduced by :func:`tree_reduce`, computed; what
    :func:`~mixedmodels.core.rows.blocks_from_passes` takes."""

    def __init__(self, chunks: list):
        self.chunks = list(chunks)

    def __call__(self, f, combine, *args):
        return self.many((f, combine, *args))[0]

    def many(self, *passes):
        """Several passes ``(f, combine, *args)`` in one ``dask.compute``: each chunk is formed (or
        read) once for all of them."""
        import dask

        trees = [tree_reduce([dask.delayed(f, pure=True)(ch, *args) for ch in self.chunks], combine)
                 for f, combine, *args in passes]
        return list(dask.compute(*trees))


def _moments(X: np.ndarray):
    k = X.shape[0]
    m = X.mean(axis=0)
    return k, m, ((X - m) ** 2).sum(axis=0)


def design_stats(ch: RowChunk) -> dict | None:
    """A chunk's part of the checks of the design: X's R factor (QR, for the rank check), the count,
    mean and sum of squared deviations of each column and whether it is all 0/1 (lme4's scale check),
    the range of y and of y less the offset, the number of zero weights and ``sum w (y - o)^2``."""
    X = np.asarray(ch.X, dtype=float)
    k, p = X.shape
    if not k:
        return None
    y = np.asarray(ch.y, dtype=float)
    yo = y if ch.offset is None else y - np.asarray(ch.offset, dtype=float)
    w = None if ch.weights is None else np.asarray(ch.weights, dtype=float)
    return dict(R=np.linalg.qr(X, mode="r"), mom=_moments(X), is01=np.all((X == 0) | (X == 1), axis=0),
                x0=X[0].copy(), const=np.all(X == X[0], axis=0),
                ylo=float(y.min()), yhi=float(y.max()), yabs=float(np.max(np.abs(y))),
                wzero=0 if w is None else int(np.sum(w == 0)),
                total=float(np.sum(yo * yo * (1.0 if w is None else w))))


def combine_design_stats(a: dict | None, b: dict | None) -> dict | None:
    """The reduce of :func:`design_stats` (TSQR for R, Chan et al.'s update for the moments)."""
    if a is None or b is None:
        return a if b is None else b
    (ka, ma, sa), (kb, mb, sb) = a["mom"], b["mom"]
    k = ka + kb
    d = mb - ma
    mom = (k, ma + d * (kb / k), sa + sb + d * d * (ka * kb / k))
    return dict(R=np.linalg.qr(np.vstack([a["R"], b["R"]]), mode="r"), mom=mom, is01=a["is01"] & b["is01"],
                x0=a["x0"], const=a["const"] & b["const"] & (a["x0"] == b["x0"]),
                ylo=min(a["ylo"], b["ylo"]), yhi=max(a["yhi"], b["yhi"]), yabs=max(a["yabs"], b["yabs"]),
                wzero=a["wzero"] + b["wzero"], total=a["total"] + b["total"])


def select_columns(ch: RowChunk, keep: list) -> RowChunk:
    """The chunk (of any kind of RowChunk) with only the columns of X kept by the rank check."""
    return dataclasses.replace(ch, X=np.ascontiguousarray(np.asarray(ch.X)[:, keep]))


def chunk_fitted(ch: RowChunk, beta: np.ndarray, b: list) -> np.ndarray:
    r"""A chunk's fitted values ``o + X beta + sum_k z_k b_k[codes_k]``, in its rows' order."""
    X = np.asarray(ch.X, dtype=float)
    f = X @ beta if X.shape[1] else np.zeros(len(ch.y))
    if ch.offset is not None:
        f = f + np.asarray(ch.offset, dtype=float)
    for z, codes, bk in zip(ch.z, ch.codes, b):
        if len(codes):
            f = f + np.einsum("ij,ij->i", np.asarray(z, dtype=float), bk[np.asarray(codes, dtype=np.int64)])
    return f


def chunk_residuals(ch: RowChunk, beta: np.ndarray, b: list, pearson: bool = True) -> np.ndarray:
    r"""A chunk's residuals ``y - o - X beta - sum_k z_k b_k[codes_k]``, times ``sqrt(w)`` for Pearson
    residuals (what R's summary scales), sorted (for :func:`exact_quantiles`)."""
    X = np.asarray(ch.X, dtype=float)
    r = np.asarray(ch.y, dtype=float) - X @ beta if X.shape[1] else np.asarray(ch.y, dtype=float).copy()
    if ch.offset is not None:
        r = r - np.asarray(ch.offset, dtype=float)
    for z, codes, bk in zip(ch.z, ch.codes, b):
        if len(codes):
            r = r - np.einsum("ij,ij->i", np.asarray(z, dtype=float), bk[np.asarray(codes, dtype=np.int64)])
    if pearson and ch.weights is not None:
        r = r * np.sqrt(np.asarray(ch.weights, dtype=float))
    return np.sort(r)


# ---------------------------------------------------------------------- exact order statistics
_BINS = 1024        # edges per target and round: the rows in a target's bin shrink ~1000 times a round
_GATHER = 1 << 14   # a bin with at most this many values is brought to the client and sorted there


def _range(v: np.ndarray):
    return None if not v.size else (float(v[0]), float(v[-1]))


def _merge_range(a, b):
    if a is None or b is None:
        return a if b is None else b
    return (min(a[0], b[0]), max(a[1], b[1]))


def _counts(v: np.ndarray, boxes: list) -> list:
    """Per box [lo, hi): the counts of values below each of _BINS + 1 edges, and the least and largest
    value inside (v sorted)."""
    out = []
    for lo, hi in boxes:
        edges = np.linspace(lo, hi, _BINS + 1)
        edges[-1] = hi
        c = np.searchsorted(v, edges, side="left")
        inside = v[c[0]:c[-1]]
        out.append((c.astype(np.int64), (float(inside[0]), float(inside[-1])) if inside.size else None))
    return out


def _merge_counts(a: list, b: list) -> list:
    return [(ca + cb, _merge_range(ra, rb)) for (ca, ra), (cb, rb) in zip(a, b)]


def _inside(v: np.ndarray, boxes: list) -> list:
    return [v[np.searchsorted(v, lo, side="left"):np.searchsorted(v, hi, side="left")] for lo, hi in boxes]


def _merge_inside(a: list, b: list) -> list:
    return [np.concatenate([x, y]) for x, y in zip(a, b)]


def order_statistics(sorted_chunks: list, ranks: list, n: int) -> np.ndarray:
    """The values of the given ranks (0-based) among all the chunks' values, exactly.

    Each target's box ``[lo, hi)`` holds it (``#{v < lo} <= r < #{v < hi}``); a round counts, on every
    chunk at once, the values below ``_BINS + 1`` edges across each box and the least and largest
    value inside, and the box shrinks to the bin that holds the rank, then to the values inside it.
    A box whose values are all equal gives its value; one with few values left is brought to the
    client and sorted. Only counts and those few values leave the workers.
    """
    red = DaskReduce(sorted_chunks)
    lo_hi = red(_range, _merge_range)
    if lo_hi is None:
        raise FitError("no residuals to take quantiles of")
    ranks = [int(r) for r in ranks]
    boxes = {r: (lo_hi[0], float(np.nextafter(lo_hi[1], np.inf)), 0) for r in ranks}  # lo, hi, #{v < lo}
    found: dict = {}
    for _ in range(200):
        todo = [r for r in ranks if r not in found]
        if not todo:
            break
        res = red(_counts, _merge_counts, [boxes[r][:2] for r in todo])
        few = []
        for r, (c, rng) in zip(todo, res):
            lo, hi, _ = boxes[r]
            if rng is not None and rng[0] == rng[1]:
                found[r] = rng[0]
                continue
            if c[-1] - c[0] <= _GATHER:
                few.append(r)
                boxes[r] = (lo, hi, int(c[0]))
                continue
            j = int(np.searchsorted(c, r, side="right")) - 1
            edges = np.linspace(lo, hi, _BINS + 1)
            edges[-1] = hi
            # no value of the box lies below its least or above its largest: tighten to them
            lo2 = max(float(edges[j]), rng[0])
            hi2 = min(float(edges[j + 1]), float(np.nextafter(rng[1], np.inf)))
            boxes[r] = (lo2, hi2, int(c[j]))
        if few:
            vals = red(_inside, _merge_inside, [boxes[r][:2] for r in few])
            for r, v in zip(few, vals):
                v = np.sort(v)
                found[r] = float(v[r - boxes[r][2]])
    else:  # pragma: no cover - the boxes shrink a thousandfold a round
        raise FitError("the exact residual quantiles did not converge")
    return np.array([found[r] for r in ranks])


def exact_quantiles(sorted_chunks: list, n: int, probs=(0.0, 0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """R's ``quantile(type = 7)`` (numpy's "linear") of all the chunks' values, exactly: the two order
    statistics around ``h = (n - 1) p`` from :func:`order_statistics`, interpolated as numpy does.

    Parameters
    ----------
    sorted_chunks : list of dask.delayed
        Each chunk's values, sorted (persisted where the chunk lives).
    n : int
        How many values there are in all.
    probs : sequence of float

    Returns
    -------
    numpy.ndarray
        The quantiles, equal to ``np.quantile`` of the gathered values.
    """
    hs = [(n - 1) * float(p) for p in probs]
    ranks = sorted({int(np.floor(h)) for h in hs} | {min(int(np.floor(h)) + 1, n - 1) for h in hs})
    vals = dict(zip(ranks, order_statistics(sorted_chunks, ranks, n)))
    out = []
    for h in hs:
        k = int(np.floor(h))
        pair = np.array([vals[k], vals[min(k + 1, n - 1)]])
        out.append(float(np.quantile(pair, h - k, method="linear")))
    return np.array(out)
