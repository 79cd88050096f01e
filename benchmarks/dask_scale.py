"""lmer from Parquet files on a Dask LocalCluster at scale: time, rounds over the data, peak memory per worker.

Simulates ``--rows`` rows of a crossed design (``--levels1`` x ``--levels2`` levels; the defaults are the
issue's 10^5 x 10^3) in ``--files`` Parquet files written one at a time (the client never holds the
rows), then fits ``y ~ x + (1 | g1) + (1 | g2)`` from the glob on a LocalCluster of ``--workers``
worker processes with ``--memory-limit`` each, and prints one Markdown row:

* seconds for the fit (the passes over the data and the optimization) and for the summary;
* the number of times the data were read: ``dask.compute`` calls of the fit (each one pass over the
  partitions, several map-reduce trees at once);
* each worker's peak resident memory (``ru_maxrss``), against its limit;
* theta, beta and sigma next to the values simulated.

    python benchmarks/dask_scale.py --rows 10000000
    python benchmarks/dask_scale.py --rows 100000000 --files 400 --memory-limit 6GB

Not a test: nothing here is asserted. Needs ``pip install "mixedmodels[dask]"``.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def simulate(path: Path, rows: int, files: int, l1: int, l2: int, seed: int = 1) -> dict:
    """Write ``files`` Parquet files of the crossed design; return the true parameters."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    s1, s2, se = 0.8, 0.5, 1.0
    b1, b2 = rng.normal(0, s1, l1), rng.normal(0, s2, l2)
    per = -(-rows // files)
    done = 0
    for k in range(files):
        m = min(per, rows - done)
        if m <= 0:
            break
        g1, g2 = rng.integers(0, l1, m), rng.integers(0, l2, m)
        x = rng.normal(size=m)
        y = 1.0 + 2.0 * x + b1[g1] + b2[g2] + rng.normal(0, se, m)
        df = pd.DataFrame({"y": y, "x": x, "g1": g1.astype(np.int32), "g2": g2.astype(np.int32)})
        df.to_parquet(path / f"part-{k:05d}.parquet", index=False)
        done += m
    return {"theta": (s1 / se, s2 / se), "beta": (1.0, 2.0), "sigma": se}


class _Computes:
    """Counts dask.compute calls (one per round over the data) while the fit runs."""

    def __enter__(self):
        import dask

        self.n, self._orig = 0, dask.compute

        def counted(*a, **k):
            self.n += 1
            return self._orig(*a, **k)

        dask.compute = counted
        return self

    def __exit__(self, *exc):
        import dask

        dask.compute = self._orig


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--levels1", type=float, default=1e5)
    ap.add_argument("--levels2", type=float, default=1e3)
    ap.add_argument("--files", type=int, default=0, help="Parquet files (default: one per 250,000 rows)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="4GB", help="per worker")
    ap.add_argument("--dir", default=None, help="where the Parquet files go (default: a temporary folder)")
    ap.add_argument("--groups-max-gb", type=float, default=None,
                    help="mixedmodels.core.limits.GROUPS_MAX_BYTES for the client's Schur product (default 1 GB)")
    a = ap.parse_args(argv)
    rows, l1, l2 = int(a.rows), int(a.levels1), int(a.levels2)
    files = a.files or max(1, rows // 250_000)

    import dask
    from dask.distributed import Client, LocalCluster

    import mixedmodels as mm
    from mixedmodels.core import limits

    if a.groups_max_gb:
        limits.GROUPS_MAX_BYTES = int(a.groups_max_gb * 2 ** 30)
    tmp = None
    if a.dir:
        path = Path(a.dir)
        path.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="mm-dask-scale-")
        path = Path(tmp.name)
    t0 = time.perf_counter()
    truth = simulate(path, rows, files, l1, l2)
    t_sim = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in path.glob("*.parquet"))
    warnings.simplefilter("ignore")
    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, memory_limit=a.memory_limit,
                      dashboard_address=None) as cl, Client(cl) as client:
        client.run(lambda: None)
        t0 = time.perf_counter()
        with _Computes() as c:
            m = mm.lmer("y ~ x + (1 | g1) + (1 | g2)", str(path / "*.parquet"), REML=False)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        text = str(m.summary())
        t_sum = time.perf_counter() - t0
        peaks = list(client.run(_peak_rss).values())
        limit = min(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
        m.rows.release()
    del dask
    print(f"# {rows:,} rows, {l1:,} x {l2:,} levels, {files} Parquet files ({size / 2**20:.0f} MiB), "
          f"{a.workers} workers x {a.memory_limit}; simulated in {t_sim:.1f} s; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; client peak {_peak_rss() / 2**20:.0f} MB")
    print("| rows | levels | fit s | summary s | rounds | peak MB per worker (limit) | theta (true) | beta | sigma |")
    print("|---:|---|---:|---:|---:|---|---|---|---:|")
    th = ", ".join(f"{v:.3f}" for v in m.theta)
    tt = ", ".join(f"{v:.2f}" for v in truth["theta"])
    print(f"| {rows:,} | {l1:,} x {l2:,} | {t_fit:.1f} | {t_sum:.1f} | {c.n} | "
          f"{', '.join(f'{p / 2**20:.0f}' for p in peaks)} ({limit / 2**20:.0f}) | {th} ({tt}) | "
          f"{', '.join(f'{v:.4f}' for v in m.beta)} | {m.sigma:.4f} |")
    print()
    print(text)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
