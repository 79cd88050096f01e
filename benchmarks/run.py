#!/usr/bin/env python
"""Benchmarks: our fits against lme4/lmerTest and the Python peers glmm, mixedlm and statsmodels.

    python benchmarks/run.py            # full run, writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # fewer repetitions, R skips the largest models
    python benchmarks/run.py --only sleepstudy,insteval_dept

Every model is timed in this one run: ours here (median of several repetitions, after one warm-up
fit), R's inside R (median of ``system.time`` over repetitions, so R's start-up and data loading
are not counted; one R process per model), each Python peer in its own virtual environment
(``--peers-python``, default ``/work/peers/bin/python`` when it exists), one process per (peer,
model), running ``benchmarks/peers_driver.py`` on the same data written to CSV (median of
repetitions after one warm-up; import and data loading not counted). Columns:

* ``ours s`` / ``lme4 s`` / ``ratio``: median wall time of one fit (for sleepstudy: fit plus the
  Satterthwaite summary, against ``lmerTest::lmer`` + ``summary``; for the InstEval ANOVA rows:
  fit plus the type-3 ANOVA table with that ddf); ratio = lme4 / ours (>1: we are faster).
* ``glmm s`` / ``mixedlm s`` / ``statsmodels s``: the same for each peer with its default
  settings; ``ours/peer`` = ours / peer (>1: we are slower). ``-`` with a note: the peer cannot
  fit that model (the notes say why).
* ``evals``: objective evaluations of our optimizer (R's ``optinfo$feval`` in brackets).
* ``ms/eval``: one evaluation of the profiled objective at the optimum, ours (R's devfun in brackets).
* ``peak MB``: tracemalloc peak of one of our fits (numpy buffers included), data excluded; R's
  ``gc()`` max used in brackets.
* a second table: the criterion each reached, our log-likelihood (REML log-likelihood for REML
  fits, as lme4's ``logLik``) and each other's difference from it (positive: a better optimum).

BLAS threads: the default is the library's default (``--blas-threads 0``: numpy's OpenBLAS, R's
BLAS and the peers' Rust thread pools choose for themselves); ``--blas-threads N`` sets
``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``RAYON_NUM_THREADS`` to N for us,
R and the peers alike. The setting is applied before numpy is imported and is recorded in
RESULTS.md. On a loaded machine the library default can be much slower than one thread (BLAS
threads spinning against other processes): run the full benchmark on a quiet machine.

VerbAgg (lme4) and guImmun (mlmRev) are not shipped with the package: they are exported from R
to CSV at the start of the run (so without R those two models are skipped).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PEERS_PY = "/work/peers/bin/python"
PEER_NAMES = ("glmm", "mixedlm", "statsmodels")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions; R skips the 1M-row model")
    ap.add_argument("--only", default="", help="comma-separated model keys to run")
    ap.add_argument("--no-r", action="store_true", help="do not run R even if it is found")
    ap.add_argument("--no-statsmodels", action="store_true", help="leave statsmodels out of the peers")
    ap.add_argument("--peers", default="glmm,mixedlm,statsmodels", help="comma-separated Python peers ('' for none)")
    ap.add_argument("--peers-python", default=DEFAULT_PEERS_PY if Path(DEFAULT_PEERS_PY).exists() else "",
                    help="the peers' interpreter (its own venv); '' skips the peers")
    ap.add_argument("--timeout", type=float, default=0,
                    help="seconds per R or peer process and model (default 1800, --quick 600)")
    ap.add_argument("--mem-limit-gb", type=float, default=12.0,
                    help="address-space limit of each R and peer process (0: none)")
    ap.add_argument("--blas-threads", type=int, default=0, help="BLAS threads (0: library default)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"), help="where to write the table ('' for nowhere)")
    return ap.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.blas_threads > 0:
    for var in THREAD_VARS:
        os.environ[var] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402  (after the BLAS thread setting)
import pandas as pd  # noqa: E402

import mixedmodels as mm  # noqa: E402


# ---------------------------------------------------------------------------- simulated data
def sim_psycholing(seed=1, n_subj=60, n_item=40) -> pd.DataFrame:
    """Crossed subjects x items, two within-subject and within-item +-0.5 contrasts, correlated random
    intercepts and slopes on both factors (the 'maximal' model has 12 theta)."""
    rng = np.random.default_rng(seed)
    s, i = np.meshgrid(np.arange(n_subj), np.arange(n_item), indexing="ij")
    s, i = s.ravel(), i.ravel()
    A = np.where((s + i) % 2 == 0, -0.5, 0.5)
    B = np.where((s // 2 + i // 2) % 2 == 0, -0.5, 0.5)

    def effects(n, sds, rho):
        C = np.full((3, 3), rho)
        np.fill_diagonal(C, 1.0)
        S = np.outer(sds, sds) * C
        return rng.multivariate_normal(np.zeros(3), S, size=n)

    bs = effects(n_subj, [60.0, 25.0, 15.0], 0.3)
    bi = effects(n_item, [40.0, 15.0, 10.0], -0.2)
    y = (600 + 30 * A + 20 * B + bs[s, 0] + bs[s, 1] * A + bs[s, 2] * B + bi[i, 0] + bi[i, 1] * A
         + bi[i, 2] * B + rng.normal(0, 50, s.size))
    return pd.DataFrame({"rt": y, "A": A, "B": B, "subj": pd.Categorical([f"s{k:03d}" for k in s]),
                         "item": pd.Categorical([f"i{k:03d}" for k in i])})


def sim_large(seed=42, n=1_000_000, levels=100_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, levels, n)
    x = rng.normal(size=n)
    b0 = rng.normal(size=levels) * 0.8
    b1 = rng.normal(size=levels) * 0.3
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


def sim_bernoulli(seed=3, n_subj=100, n_item=50) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s, i = np.meshgrid(np.arange(n_subj), np.arange(n_item), indexing="ij")
    s, i = s.ravel(), i.ravel()
    x = rng.normal(size=s.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 1.0, n_subj)[s] + rng.normal(0, 0.6, n_item)[i]
    y = (rng.uniform(size=s.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "subj": pd.Categorical([f"s{k:03d}" for k in s]),
                         "item": pd.Categorical([f"i{k:02d}" for k in i])})


def sim_crossed(seed=5, n=200_000, na=20_000, nb=5_000) -> pd.DataFrame:
    """Two crossed random intercepts with 20000 and 5000 levels, ~10 and ~40 rows per level."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, na, n)
    b = rng.integers(0, nb, n)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.7, na)[a] + rng.normal(0, 0.5, nb)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": pd.Categorical(a), "b": pd.Categorical(b)})


# ---------------------------------------------------------------------------- the models
SM_NO_GLMM = "statsmodels has no maximum-likelihood GLMM (only the variational-Bayes BinomialBayesMixedGLM)"
SM_CROSSED_BIG = ("crossed factors with thousands of levels: MixedLM puts them in one group of all rows "
                  "as dense variance components, impractical")
SM_NO_ANOVA = "statsmodels has no ANOVA table with Satterthwaite or Kenward-Roger df"
GLMM_NO_KR = "glmm has Satterthwaite df only, no Kenward-Roger"


@dataclass
class Bench:
    key: str
    label: str
    data: str                     # an mm dataset name, "sim:<name>", or "r:<name>" (exported from R)
    formula: str
    reml: bool = True
    kind: str = "lmer"            # lmer | lmer_summary | lmer_anova | glmer
    family: str = "binomial"
    ddf: str = "Satterthwaite"    # lmer_anova only
    reps: int = 5
    quick_reps: int = 3
    r_reps: int = 5
    r_quick_skip: bool = False
    r_skip: str = ""              # a reason R is not run on this model
    r_data: str = ""              # R expression giving the data frame (default: lme4's dataset or the CSV)
    heavy: bool = False           # no separate warm-up; --quick skips the tracemalloc fit
    peer_timeout: float = 0       # a shorter limit (s) for each peer process on this model (0: --timeout)
    # per peer: a dict of settings (glmm/mixedlm: "formula"; statsmodels: MixedLM arguments), or a
    # string saying why the peer cannot fit the model; glmm and mixedlm default to `formula`
    peers: dict = field(default_factory=dict)
    peer_cols: dict = field(default_factory=dict)   # extra columns the peers' formulas need
    results: dict = field(default_factory=dict)

    def peer_cfg(self, peer: str):
        cfg = self.peers.get(peer)
        if cfg is None and peer in ("glmm", "mixedlm"):
            return {"formula": self.formula}
        if cfg is None:
            return SM_NO_GLMM if self.kind == "glmer" else "not expressible in MixedLM"
        return cfg


def _scale(v):
    v = np.asarray(v, dtype=float)
    return (v - v.mean()) / v.std(ddof=1)


INSTEVAL_ANOVA = "y ~ 1 + service * dept + (1 | s) + (1 | d)"
BENCHES = [
    Bench("sleepstudy", "sleepstudy (Days|Subject) + Satterthwaite summary", "sleepstudy",
          "Reaction ~ Days + (Days | Subject)", kind="lmer_summary", reps=15, quick_reps=5, r_reps=15,
          peers={"statsmodels": {"formula": "Reaction ~ Days", "groups": "Subject", "re_formula": "~Days"}}),
    Bench("dyestuff", "Dyestuff (1|Batch)", "Dyestuff", "Yield ~ 1 + (1 | Batch)", reps=15, quick_reps=5,
          r_reps=15, peers={"statsmodels": {"formula": "Yield ~ 1", "groups": "Batch", "re_formula": "~1"}}),
    Bench("penicillin", "Penicillin (1|plate) + (1|sample)", "Penicillin",
          "diameter ~ 1 + (1 | plate) + (1 | sample)", reps=15, quick_reps=5, r_reps=15,
          peers={"statsmodels": {"formula": "diameter ~ 1", "re_formula": "0",
                                 "vc_formula": {"plate": "0 + C(plate)", "sample": "0 + C(sample)"}}}),
    Bench("pastes", "Pastes (1|batch/cask)", "Pastes", "strength ~ 1 + (1 | batch/cask)", reps=15,
          quick_reps=5, r_reps=15,
          peers={"statsmodels": {"formula": "strength ~ 1", "groups": "batch", "re_formula": "~1",
                                 "vc_formula": {"cask": "0 + C(cask)"}}}),
    Bench("insteval_3re", "InstEval service + (1|s)+(1|d)+(1|dept), ML", "InstEval",
          "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", reml=False, reps=3, quick_reps=1, r_reps=3,
          peers={"statsmodels": SM_CROSSED_BIG}),
    Bench("insteval_dept", "InstEval service*dept + (1|s)+(1|d), ML", "InstEval",
          "y ~ 1 + service * dept + (1 | s) + (1 | d)", reml=False, reps=3, quick_reps=1, r_reps=3,
          peers={"statsmodels": SM_CROSSED_BIG}),
    Bench("insteval_satt", "InstEval service*dept + (1|s)+(1|d), REML, type-3 ANOVA Satterthwaite", "InstEval",
          INSTEVAL_ANOVA, kind="lmer_anova", ddf="Satterthwaite", reps=3, quick_reps=1, r_reps=3,
          peers={"statsmodels": SM_NO_ANOVA}),
    Bench("insteval_kr", "InstEval service*dept + (1|s)+(1|d), REML, type-3 ANOVA Kenward-Roger", "InstEval",
          INSTEVAL_ANOVA, kind="lmer_anova", ddf="Kenward-Roger", reps=3, quick_reps=1, r_reps=1,
          r_skip="pbkrtest forms n x n matrices: 73421² doubles = 43 GB, more than this machine has",
          peers={"statsmodels": SM_NO_ANOVA, "glmm": GLMM_NO_KR}),
    Bench("psycholing", "crossed subj x item, maximal (1+A+B|subj)+(1+A+B|item)", "sim:psycholing",
          "rt ~ 1 + A + B + (1 + A + B | subj) + (1 + A + B | item)", reps=3, quick_reps=1, r_reps=3,
          peers={"statsmodels": "crossed correlated random slopes are not expressible (variance "
                                "components are independent)"}),
    Bench("large", "1M rows, (1+x|g) with 100k levels", "sim:large", "y ~ 1 + x + (1 + x | g)",
          reps=3, quick_reps=1, r_reps=1, r_quick_skip=True, heavy=True, peer_timeout=600,
          peers={"statsmodels": {"formula": "y ~ 1 + x", "groups": "g", "re_formula": "~x"}}),
    Bench("crossed20k", "200k rows, crossed (1|a)+(1|b), 20000 x 5000 levels", "sim:crossed",
          "y ~ 1 + x + (1 | a) + (1 | b)", reps=3, quick_reps=1, r_reps=1, r_quick_skip=True, heavy=True,
          peers={"statsmodels": SM_CROSSED_BIG}),
    Bench("cbpp", "glmer cbpp binomial (1|herd)", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
          kind="glmer", reps=5, quick_reps=2, r_reps=5,
          peers={"glmm": {"formula": "cbind(incidence, fail) ~ period + (1 | herd)"},
                 "mixedlm": {"formula": "incidence / size ~ period + (1 | herd)"}},
          peer_cols={"fail": lambda d: d["size"] - d["incidence"]}),
    Bench("bernoulli", "glmer Bernoulli crossed (1|subj)+(1|item)", "sim:bernoulli",
          "y ~ x + (1 | subj) + (1 | item)", kind="glmer", reps=3, quick_reps=1, r_reps=3),
    Bench("verbagg", "glmer VerbAgg Bernoulli (1|id)+(1|item)", "r:verbagg",
          "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", kind="glmer", reps=3, quick_reps=1,
          r_reps=3, r_data="lme4::VerbAgg"),
    Bench("guimmun", "glmer guImmun binomial (1|mom)+(1|comm)", "r:guimmun",
          "immun ~ kid2p + mom25p + ord + ethn + momEd + husEd + momWork + rural + pcInd81 + (1 | mom) + (1 | comm)",
          kind="glmer", reps=3, quick_reps=1, r_reps=1, r_data="mlmRev::guImmun", heavy=True),
    Bench("grouseticks", "glmer grouseticks Poisson (1|BROOD)+(1|INDEX)+(1|LOCATION)", "grouseticks",
          "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", kind="glmer",
          family="poisson", reps=3, quick_reps=1, r_reps=3,
          peers={"glmm": {"formula": "TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"},
                 "mixedlm": {"formula": "TICKS ~ YEAR + sHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"}},
          peer_cols={"sHEIGHT": lambda d: _scale(d["HEIGHT"])}),
]

SIM = {"psycholing": sim_psycholing, "large": sim_large, "bernoulli": sim_bernoulli, "crossed": sim_crossed}
R_FACTORS = {"psycholing": ["subj", "item"], "large": ["g"], "bernoulli": ["subj", "item"], "crossed": ["a", "b"]}

# data sets exported from R: (R expression, columns kept, a 0/1 response made from a factor)
R_EXPORTS = {
    "verbagg": ("lme4::VerbAgg", ["r2", "Anger", "Gender", "btype", "situ", "id", "item"], "r2"),
    "guimmun": ("mlmRev::guImmun", ["immun", "kid2p", "mom25p", "ord", "ethn", "momEd", "husEd", "momWork",
                                    "rural", "pcInd81", "mom", "comm"], "immun"),
}
EXPORT_DIR: Path | None = None    # where run.py put the R exports (set in main)


def read_export(name: str, where: Path) -> pd.DataFrame:
    """Reads a data set that R exported: the CSV and its factors' levels in R's order."""
    levels = {}
    for line in (where / f"{name}.levels.tsv").read_text().splitlines():
        col, *lev = line.split("\t")
        levels[col] = lev
    d = pd.read_csv(where / f"{name}.csv", dtype={c: str for c in levels})
    for c, lev in levels.items():
        d[c] = pd.Categorical(d[c], categories=lev)
    return d


def load(b: Bench) -> pd.DataFrame:
    if b.data.startswith("sim:"):
        return SIM[b.data[4:]]()
    if b.data.startswith("r:"):
        if EXPORT_DIR is None or not (EXPORT_DIR / f"{b.data[2:]}.csv").exists():
            raise FileNotFoundError(f"{b.data[2:]} is exported from R, which did not run")
        return read_export(b.data[2:], EXPORT_DIR)
    return mm.load_dataset(b.data)


# ---------------------------------------------------------------------------- ours
def fit_once(b: Bench, d: pd.DataFrame):
    if b.kind == "glmer":
        return mm.glmer(b.formula, d, family=b.family)
    m = mm.lmer(b.formula, d, REML=b.reml)
    if b.kind == "lmer_summary":
        str(m.summary())
    elif b.kind == "lmer_anova":
        str(m.anova(ddf=b.ddf))
    return m


def time_ours(b: Bench, d: pd.DataFrame, quick: bool) -> None:
    import warnings

    reps = b.quick_reps if quick else b.reps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not b.heavy:
            m = fit_once(b, d)                   # warm-up: imports, caches
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            m = fit_once(b, d)
            ts.append(time.perf_counter() - t0)
        b.results["ours_s"] = statistics.median(ts)
        b.results["loglik"] = float(m.loglik)
        info = getattr(m, "optinfo", None)
        b.results["evals"] = getattr(info, "nevals", None)
        if getattr(info, "converged", True) is False:
            b.results["ours_note"] = f"ours: the optimizer reports no convergence ({getattr(info, 'message', '')})"
        core = getattr(m, "core", None)
        if b.kind != "glmer" and core is not None:
            k = 3 if core.n > 200_000 or core.mz > 500 else 30
            th = np.asarray(m.theta, dtype=float)
            core.objective(th, b.reml)
            te = []
            for _ in range(k):
                t0 = time.perf_counter()
                core.objective(th, b.reml)
                te.append(time.perf_counter() - t0)
            b.results["eval_ms"] = 1e3 * statistics.median(te)
        if not (quick and b.heavy):
            tracemalloc.start()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            fit_once(b, d)
            b.results["peak_mb"] = (tracemalloc.get_traced_memory()[1] - base) / 2 ** 20
            tracemalloc.stop()
        b.results["n"] = int(m.nobs) if hasattr(m, "nobs") else len(d)
        b.results["ntheta"] = int(np.size(m.theta))


# ---------------------------------------------------------------------------- Python peers
def _limits(mem_gb: float):
    """preexec_fn for R and peer processes: an address-space limit, so a peer that would need more
    memory than the machine has fails with an out-of-memory error instead of swapping the machine."""
    if mem_gb <= 0:
        return None

    def f():
        import resource

        lim = int(mem_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    return f


def peer_version(py: str, peer: str) -> str:
    code = f"from importlib.metadata import version; print(version({peer!r}))"
    out = subprocess.run([py, "-c", code], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def write_peer_data(b: Bench, d: pd.DataFrame, tmp: Path, quick: bool, budget: float) -> Path:
    """The model's data as a CSV (+ factor levels) and its spec, for peers_driver.py."""
    d = d.copy()
    for col, f in b.peer_cols.items():
        d[col] = f(d)
    factors = {}
    for c in d.columns:
        if isinstance(d[c].dtype, pd.CategoricalDtype):
            factors[c] = [str(v) for v in d[c].cat.categories]
            d[c] = d[c].astype(str)
    csv = tmp / f"peer_{b.key}.csv"
    d.to_csv(csv, index=False)
    spec = {b.key: {"csv": str(csv), "factors": factors, "kind": b.kind, "family": b.family, "reml": b.reml,
                    "ddf": b.ddf, "reps": b.quick_reps if quick else b.reps, "budget_s": budget,
                    "peers": {p: b.peer_cfg(p) for p in PEER_NAMES}}}
    path = tmp / f"spec_{b.key}.json"
    path.write_text(json.dumps(spec))
    return path


def run_peers(b: Bench, d: pd.DataFrame, py: str, peers, tmp: Path, args) -> None:
    budget = 60.0 if args.quick else 300.0
    spec = write_peer_data(b, d, tmp, args.quick, budget)
    for peer in peers:
        cfg = b.peer_cfg(peer)
        if not isinstance(cfg, dict):
            b.results[f"{peer}_why"] = cfg
            continue
        t0 = time.perf_counter()
        limit = min(args.timeout, b.peer_timeout) if b.peer_timeout else args.timeout
        try:
            proc = subprocess.run([py, str(HERE / "peers_driver.py"), str(spec), peer, b.key],
                                  capture_output=True, text=True, timeout=limit,
                                  preexec_fn=_limits(args.mem_limit_gb))
        except subprocess.TimeoutExpired:
            b.results[f"{peer}_why"] = f"no result within the {limit:.0f} s limit"
            print(f"{b.key}: {peer} timed out", file=sys.stderr)
            continue
        res = None
        for line in proc.stdout.splitlines()[::-1]:
            if line.startswith("{"):
                try:
                    res = json.loads(line)
                    break
                except json.JSONDecodeError:
                    pass
        if res is None:
            tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            if proc.returncode < 0 or "MemoryError" in proc.stderr or "memory" in tail.lower():
                tail = f"crashed or ran out of memory (limit {args.mem_limit_gb:g} GB): {tail}"
            b.results[f"{peer}_why"] = tail[:200]
        elif "error" in res:
            b.results[f"{peer}_why"] = res["error"]
        else:
            b.results[f"{peer}_s"] = res["secs"]
            b.results[f"{peer}_loglik"] = res.get("loglik")
            if res.get("converged") is False:
                b.results[f"{peer}_note"] = "reports no convergence"
            if res.get("note"):
                b.results[f"{peer}_note"] = ", ".join(filter(None, [b.results.get(f"{peer}_note"), res["note"]]))
        print(f"{b.key:14s} {peer:12s} {_fmt(b.results.get(f'{peer}_s'))}s  "
              f"({time.perf_counter() - t0:.0f} s with start-up) {b.results.get(f'{peer}_why', '')}", flush=True)


def import_time(reps: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import mixedmodels; print(time.perf_counter() - t)"
    ts = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
          for _ in range(reps)]
    return statistics.median(ts)


def first_fit_time(reps: int = 3) -> float:
    code = ("import time; t = time.perf_counter(); import mixedmodels as mm; "
            "m = mm.lmer('Reaction ~ Days + (Days | Subject)', mm.load_dataset('sleepstudy')); "
            "print(time.perf_counter() - t)")
    ts = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
          for _ in range(reps)]
    return statistics.median(ts)


def large_rss(reps: int = 1) -> float | None:
    """Peak RSS (MB) of a fresh process that simulates the 1M-row data and fits it."""
    code = textwrap.dedent(f"""
        import resource, sys, warnings
        sys.path.insert(0, {str(HERE)!r})
        warnings.simplefilter('ignore')
        import run as R
        import mixedmodels as mm
        d = R.sim_large()
        m = mm.lmer('y ~ 1 + x + (1 + x | g)', d)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    """)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        return float(out.strip().splitlines()[-1])
    except (subprocess.CalledProcessError, ValueError):
        return None


# ---------------------------------------------------------------------------- R
def find_r() -> str | None:
    rs = shutil.which("Rscript")
    if not rs:
        return None
    ok = subprocess.run([rs, "-e", "suppressMessages({library(lme4); library(lmerTest)}); cat('OK')"],
                        capture_output=True, text=True)
    return rs if ok.returncode == 0 and "OK" in ok.stdout else None


def r_export(rscript: str, where: Path) -> dict:
    """Writes the R-only data sets (VerbAgg, guImmun) to CSV with their factor levels; returns
    {name: error} for those that could not be exported."""
    errors = {}
    for name, (expr, cols, resp) in R_EXPORTS.items():
        code = textwrap.dedent(f"""
            d <- {expr}[, c({', '.join(repr(c) for c in cols)})]
            d${resp} <- as.integer(d${resp} == levels(d${resp})[2])
            lev <- character(0)
            for (v in names(d)) if (is.factor(d[[v]])) lev <- c(lev, paste(c(v, levels(d[[v]])), collapse = "\\t"))
            writeLines(lev, {str(where / (name + '.levels.tsv'))!r})
            write.csv(d, {str(where / (name + '.csv'))!r}, row.names = FALSE)
        """)
        proc = subprocess.run([rscript, "-e", code], capture_output=True, text=True)
        if proc.returncode != 0:
            errors[name] = (proc.stderr.strip().splitlines() or ["R failed"])[-1]
    return errors


R_HEAD = r"""
suppressMessages({library(lme4); library(lmerTest)})
out <- function(key, secs, feval, per, mem, ll, conv) cat(sprintf("RESULT\t%s\t%.6f\t%s\t%s\t%s\t%.10g\t%s\n", key, secs, feval, per, mem, ll, conv))
bench <- function(key, fitfun, reps, devfun = NULL) {
  res <- tryCatch({
    if (reps > 3) m <- fitfun()                     # warm-up (cheap models only)
    invisible(gc(reset = TRUE))
    ts <- system.time(m <- fitfun())[["elapsed"]]   # the first timed fit also gives the memory peak
    mem <- sum(gc()[, 6])
    if (reps > 1) ts <- c(ts, replicate(reps - 1, system.time(m <- fitfun())[["elapsed"]]))
    fe <- tryCatch(as.character(m@optinfo$feval), error = function(e) "NA")
    per <- "NA"
    if (!is.null(devfun)) {
      df <- devfun(); th <- getME(m, "theta"); k <- if (reps > 3) 20 else 3
      df(th); per <- sprintf("%.6f", system.time(for (i in 1:k) df(th))[["elapsed"]] / k)
    }
    conv <- tryCatch(paste(c(m@optinfo$conv$lme4$messages, m@optinfo$message[m@optinfo$conv$opt != 0]), collapse = "; "),
                     error = function(e) "")
    out(key, median(ts), fe, per, sprintf("%.1f", mem), as.numeric(logLik(m)), gsub("[\t\n]", " ", conv))
  }, error = function(e) cat(sprintf("RERROR\t%s\t%s\n", key, gsub("[\t\n]", " ", conditionMessage(e)))))
}
"""


def r_script(b: Bench, csvdir: Path, quick: bool) -> str:
    """The R script that times one model."""
    lines = [R_HEAD]
    reps = max(1, b.r_reps // 3) if quick else b.r_reps
    if b.data.startswith("sim:"):
        name = b.data[4:]
        facs = ", ".join(f"'{f}'" for f in R_FACTORS.get(name, []))
        lines.append(f"d_{b.key} <- read.csv('{csvdir / (name + '.csv')}')")
        lines.append(f"for (v in c({facs})) d_{b.key}[[v]] <- factor(d_{b.key}[[v]])")
        data = f"d_{b.key}"
    elif b.r_data:
        if b.r_data.startswith("mlmRev::"):
            lines.append("suppressMessages(library(mlmRev))")
        lines.append(f"d_{b.key} <- {b.r_data}")
        data = f"d_{b.key}"
    else:
        data = f"lme4::{b.data}"
    reml = "TRUE" if b.reml else "FALSE"
    dev = f"function() lme4::lmer({b.formula}, {data}, REML={reml}, devFunOnly=TRUE)"
    if b.kind == "lmer_summary":
        fit = (f"function() {{ m <- lmerTest::lmer({b.formula}, {data}, REML={reml}); "
               f"invisible(capture.output(print(summary(m)))); m }}")
    elif b.kind == "lmer_anova":
        fit = (f"function() {{ m <- lmerTest::lmer({b.formula}, {data}, REML={reml}); "
               f"invisible(capture.output(print(anova(m, ddf='{b.ddf}')))); m }}")
    elif b.kind == "glmer":
        fit = f"function() lme4::glmer({b.formula}, {data}, family={b.family})"
        dev = None
    else:
        fit = f"function() lme4::lmer({b.formula}, {data}, REML={reml})"
    lines.append(f"bench('{b.key}', {fit}, {reps}{', ' + dev if dev else ''})")
    return "\n".join(lines) + "\n"


def r_versions(rscript: str) -> tuple[str, str]:
    ver = subprocess.run([rscript, "-e", "suppressMessages(library(mlmRev)); cat(R.version.string, "
                                         "as.character(packageVersion('lme4')), as.character(packageVersion('lmerTest')), "
                                         "as.character(packageVersion('pbkrtest')), sep='|')"],
                         capture_output=True, text=True).stdout.strip().split("|")
    return (ver[0] if ver else "R"), (f"lme4 {ver[1]}, lmerTest {ver[2]}, pbkrtest {ver[3]}" if len(ver) > 3 else "")


def run_r(rscript: str, b: Bench, tmp: Path, args) -> None:
    """Times one model in a fresh R process; fills b.results['r_*']."""
    if b.r_skip:
        b.results["r_error"] = "not run: " + b.r_skip
        return
    if args.quick and b.r_quick_skip:
        b.results["r_error"] = "not run in --quick"
        return
    if b.data.startswith("sim:"):
        name = b.data[4:]
        if not (tmp / f"{name}.csv").exists():
            SIM[name]().to_csv(tmp / f"{name}.csv", index=False)
    script = tmp / f"bench_{b.key}.R"
    script.write_text(r_script(b, tmp, args.quick))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([rscript, str(script)], capture_output=True, text=True, timeout=args.timeout,
                              preexec_fn=_limits(args.mem_limit_gb))
    except subprocess.TimeoutExpired:
        b.results["r_error"] = f"no result within the {args.timeout:.0f} s limit"
        return
    r = b.results
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "RESULT" and parts[1] == b.key:
            r["r_s"] = float(parts[2])
            r["r_feval"] = None if parts[3] == "NA" else int(float(parts[3]))
            r["r_eval_ms"] = None if parts[4] == "NA" else 1e3 * float(parts[4])
            r["r_mem_mb"] = float(parts[5])
            r["r_loglik"] = float(parts[6])
            if len(parts) > 7 and parts[7].strip():
                r["r_note"] = "lme4: " + parts[7].strip()
        elif parts[0] == "RERROR" and parts[1] == b.key:
            r["r_error"] = parts[2]
    if "r_s" not in r and "r_error" not in r:
        r["r_error"] = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1][:200]
    print(f"{b.key:14s} {'lme4':12s} {_fmt(r.get('r_s'))}s  ({time.perf_counter() - t0:.0f} s with start-up) "
          f"{r.get('r_error', '')}", flush=True)


# ---------------------------------------------------------------------------- report
def _fmt(x, spec="{:.3f}", none="-"):
    return none if x is None else spec.format(x)


class Notes:
    """Numbered footnotes for the '-' cells: one number per distinct reason."""

    def __init__(self):
        self.items: list[str] = []

    def ref(self, why: str) -> str:
        if why not in self.items:
            self.items.append(why)
        return f"[{self.items.index(why) + 1}]"

    def lines(self) -> list[str]:
        return [f"- [{i + 1}] {w}" for i, w in enumerate(self.items)]


def _peer_cells(r: dict, peer: str, notes: Notes) -> tuple[str, str]:
    if r.get(f"{peer}_s") is not None:
        t = f"{r[f'{peer}_s']:.3f}"
        if r.get(f"{peer}_note"):
            t += " " + notes.ref(f"{peer}: {r[f'{peer}_note']}")
        return t, f"{r['ours_s'] / r[f'{peer}_s']:.2f}"
    why = r.get(f"{peer}_why")
    return ("- " + notes.ref(f"{peer}: {why}") if why else "-"), "-"


def table(benches, peers, notes: Notes) -> str:
    head = "| model | n | θ | ours s | lme4 s | ratio |"
    sep = "|---|---:|---:|---:|---:|---:|"
    for p in peers:
        head += f" {p} s | ours/{p} |"
        sep += "---:|---:|"
    head += " evals (R) | ms/eval (R) | peak MB (R) |"
    sep += "---:|---:|---:|"
    rows = [head, sep]
    for b in benches:
        r = b.results
        if "ours_s" not in r:
            continue
        ratio = r["r_s"] / r["ours_s"] if r.get("r_s") else None
        ev = _fmt(r.get("evals"), "{}")
        if r.get("r_feval") is not None:
            ev += f" ({r['r_feval']})"
        em = _fmt(r.get("eval_ms"), "{:.3g}")
        if r.get("r_eval_ms") is not None:
            em += f" ({r['r_eval_ms']:.3g})"
        pk = _fmt(r.get("peak_mb"), "{:.1f}")
        if r.get("r_mem_mb") is not None:
            pk += f" ({r['r_mem_mb']:.0f})"
        lme4 = _fmt(r.get("r_s"), "{:.3f}")
        if r.get("r_note"):
            lme4 += " " + notes.ref(r["r_note"])
        ours = f"{r['ours_s']:.3f}" + (" " + notes.ref(r["ours_note"]) if r.get("ours_note") else "")
        if r.get("r_s") is None and r.get("r_error"):
            lme4 = "- " + notes.ref(f"lme4: {r['r_error']}")
        label = b.label.replace("|", "\\|")
        row = f"| {label} | {r.get('n', '')} | {r.get('ntheta', '')} | {ours} | {lme4} | {_fmt(ratio, '{:.1f}x')} |"
        for p in peers:
            t, q = _peer_cells(r, p, notes)
            row += f" {t} | {q} |"
        rows.append(row + f" {ev} | {em} | {pk} |")
    return "\n".join(rows)


def criteria_table(benches, peers) -> str:
    """Our log-likelihood at the optimum and each other fit's difference from it."""
    others = [("lme4", "r_loglik")] + [(p, f"{p}_loglik") for p in peers]
    rows = ["| model | ours logLik | " + " | ".join(f"{o} − ours" for o, _ in others) + " |",
            "|---|---:|" + "---:|" * len(others)]
    for b in benches:
        r = b.results
        if r.get("loglik") is None:
            continue
        cells = []
        for _, k in others:
            v = r.get(k)
            cells.append("-" if v is None else f"{v - r['loglik']:+.2g}" if abs(v - r["loglik"]) >= 5e-5 else "0")
        label = b.label.replace("|", "\\|")
        rows.append(f"| {label} | {r['loglik']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def _has_glmer() -> bool:
    try:
        return callable(mm.glmer)
    except Exception:
        return False


def main() -> int:
    global EXPORT_DIR
    args = ARGS or _parse_args()
    if not args.timeout:
        args.timeout = 600.0 if args.quick else 1800.0
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    unknown = only - {b.key for b in BENCHES}
    if unknown:
        print(f"unknown model keys: {', '.join(sorted(unknown))}; known: {', '.join(b.key for b in BENCHES)}")
        return 2
    benches = [b for b in BENCHES if not only or b.key in only]
    if not _has_glmer():
        print("mm.glmer is not available: skipping the glmer models")
        benches = [b for b in benches if b.kind != "glmer"]
    peers = [p for p in (x.strip() for x in args.peers.split(",")) if p in PEER_NAMES]
    if args.no_statsmodels and "statsmodels" in peers:
        peers.remove("statsmodels")
    py = args.peers_python
    peer_note = ""
    if peers and not (py and Path(py).exists()):
        peer_note = f"- Python peers not run: no peers interpreter ({py or 'none given'}; see --peers-python)"
        peers = []
    peer_vers = {p: peer_version(py, p) for p in peers}
    for p in [p for p, v in peer_vers.items() if not v]:
        peers.remove(p)
        peer_note += f"\n- {p} is not installed in {py}: not run"
    rscript = None if args.no_r else find_r()
    load0 = os.getloadavg()
    started = _dt.datetime.now()
    t_run = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        EXPORT_DIR = tmp
        export_err = {}
        if rscript and any(b.data.startswith("r:") for b in benches):
            export_err = r_export(rscript, tmp)
        for b in benches:
            t_model = time.perf_counter()
            try:
                d = load(b)
            except Exception as e:
                b.results["skipped"] = f"{type(e).__name__}: {e}"
                print(f"{b.key}: skipped: {b.results['skipped']} {export_err.get(b.data[2:], '')}", file=sys.stderr)
                continue
            try:
                time_ours(b, d, args.quick)
            except Exception as e:  # keep benchmarking the others
                print(f"{b.key}: ours failed: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            print(f"{b.key:14s} {'ours':12s} {b.results['ours_s']:.3f}s  evals {b.results.get('evals')}", flush=True)
            if peers:
                run_peers(b, d, py, peers, tmp, args)
            if rscript:
                run_r(rscript, b, tmp, args)
            b.results["wall_s"] = time.perf_counter() - t_model
            print(f"{b.key:14s} done in {b.results['wall_s']:.0f} s", flush=True)
    extra = {"import": import_time(), "first_fit": first_fit_time(1 if args.quick else 3)}
    if any(b.key == "large" for b in benches):
        extra["large_rss"] = large_rss()
    rver = r_versions(rscript) if rscript else ("", "")
    load1 = os.getloadavg()
    notes = Notes()
    tab = table(benches, peers, notes)
    crit = criteria_table(benches, peers)
    lines = [
        f"- `import mixedmodels` in a fresh process: {extra['import'] * 1e3:.1f} ms (median of 5); "
        f"import + first sleepstudy fit in a fresh process: {extra['first_fit']:.2f} s",
    ]
    if extra.get("large_rss"):
        lines.append(f"- 1M-row model: peak RSS of a fresh process that simulates the data and fits it: "
                     f"{extra['large_rss']:.0f} MB")
    if rscript:
        lines.append(f"- R: {rver[0]}, {rver[1]}; R's times are medians of `system.time` inside R "
                     "(start-up and data loading not counted), one R process per model, default settings "
                     "(lmer/glmer defaults, nAGQ = 1); R's `feval` is nloptr's iteration count")
    elif args.no_r:
        lines.append("- R not run (--no-r): no lme4 column")
    else:
        lines.append("- R (Rscript with lme4 and lmerTest) was not found: no lme4 column")
    if peers:
        lines.append("- Python peers (" + ", ".join(f"{p} {peer_vers[p]}" for p in peers) + f", run by {py}): "
                     "one process per model, default settings, median of repetitions after one warm-up "
                     "(import and CSV reading not counted; a fit longer than the budget is timed fewer times); "
                     "glmm's default fit includes its Satterthwaite df and Hessian standard errors. "
                     "Formulas as ours, except: cbpp `cbind(incidence, fail)` for glmm and "
                     "`incidence / size` for mixedlm; grouseticks `sHEIGHT` (= scale(HEIGHT), precomputed) "
                     "for both; statsmodels' crossed and nested models as variance components")
    if peer_note:
        lines.append(peer_note.strip())
    skipped = [f"{b.key} ({b.results['skipped']})" for b in benches if b.results.get("skipped")]
    if skipped:
        lines.append("- skipped: " + "; ".join(skipped))
    if args.quick:
        lines.append("- quick run: fewer repetitions" + ("; R skipped the 1M-row and 200k crossed models" if rscript else "")
                     + "; no warm-up and no tracemalloc peak for the heavy models (1M rows, 200k crossed, guImmun)")
    lines.append(f"- wall time of the run: {time.perf_counter() - t_run:.0f} s; per model (ours + peers + R, "
                 "start-ups included): " + ", ".join(f"{b.key} {b.results['wall_s']:.0f} s"
                                                    for b in benches if "wall_s" in b.results))
    import numpy
    import scipy

    threads = (f"{args.blas_threads} (OPENBLAS/OMP/MKL/RAYON_NUM_THREADS, for us, R and the peers)"
               if args.blas_threads else "library default (nothing set: OpenBLAS and the peers' thread pools "
               f"choose; {os.cpu_count()} cores)")
    header = textwrap.dedent(f"""\
        # Benchmark results

        - date: {started:%Y-%m-%d %H:%M}; machine: {machine()}; load average {load0[0]:.1f} at start,
          {load1[0]:.1f} at end (the machine is shared: medians of repetitions)
        - Python {platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__},
          mixedmodels {mm.__version__}; BLAS threads: {threads}
        - command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`
        - ratio = lme4 s / ours s (>1: we are faster); ours/peer = ours s / peer s (>1: we are slower)
        """)
    text = (header + "\n" + tab + "\n\n" + "\n".join(notes.lines() + lines) + "\n\n"
            "## Optimum reached\n\nOur log-likelihood (the REML log-likelihood for REML fits, as lme4's "
            "`logLik`) and each other fit's difference from it: positive means that fit found a higher "
            "likelihood than ours, 0 means |difference| < 5e-5.\n\n" + crit + "\n")
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
