#!/usr/bin/env python
"""Benchmarks: our fits against lme4/lmerTest (and statsmodels' MixedLM where it can fit the model).

    python benchmarks/run.py            # full run, writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    # fewer repetitions, R skips the largest model
    python benchmarks/run.py --only sleepstudy,insteval_dept

Every model is timed in this one run: ours here (median of several repetitions, after one warm-up
fit), R's inside R (median of ``system.time`` over repetitions, so R's start-up and data loading
are not counted). Columns:

* ``ours s`` / ``lme4 s`` / ``ratio``: median wall time of one fit (for sleepstudy: fit plus the
  Satterthwaite summary, against ``lmerTest::lmer`` + ``summary``); ratio = lme4 / ours.
* ``evals``: objective evaluations of our optimizer (R's ``optinfo$feval`` in brackets).
* ``ms/eval``: one evaluation of the profiled objective at the optimum, ours (R's devfun in brackets).
* ``peak MB``: tracemalloc peak of one of our fits (numpy buffers included), data excluded; R's
  ``gc()`` max used in brackets.

BLAS threads: the default is one thread (``--blas-threads 1``), as R's reference BLAS on this kind
of machine; ``--blas-threads 0`` leaves the library's default. The setting is applied before numpy
is imported, and is recorded in RESULTS.md.
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


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions; R skips the 1M-row model")
    ap.add_argument("--only", default="", help="comma-separated model keys to run")
    ap.add_argument("--no-r", action="store_true", help="do not run R even if it is found")
    ap.add_argument("--no-statsmodels", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (0: library default)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"), help="where to write the table ('' for nowhere)")
    return ap.parse_args(argv)


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.blas_threads > 0:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
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


# ---------------------------------------------------------------------------- the models
@dataclass
class Bench:
    key: str
    label: str
    data: str                     # an mm dataset name, or "sim:<name>"
    formula: str
    reml: bool = True
    kind: str = "lmer"            # lmer | lmer_summary | glmer
    family: str = "binomial"
    reps: int = 5
    quick_reps: int = 3
    r_reps: int = 5
    r_quick_skip: bool = False
    r_data: str = ""              # R expression giving the data frame (default: lme4's dataset or the CSV)
    sm: dict | None = None        # statsmodels MixedLM arguments
    results: dict = field(default_factory=dict)


BENCHES = [
    Bench("sleepstudy", "sleepstudy (Days|Subject) + Satterthwaite summary", "sleepstudy",
          "Reaction ~ Days + (Days | Subject)", kind="lmer_summary", reps=15, quick_reps=5, r_reps=15,
          sm={"groups": "Subject", "re_formula": "~Days"}),
    Bench("dyestuff", "Dyestuff (1|Batch)", "Dyestuff", "Yield ~ 1 + (1 | Batch)", reps=15, quick_reps=5,
          r_reps=15, sm={"groups": "Batch", "re_formula": "~1"}),
    Bench("penicillin", "Penicillin (1|plate) + (1|sample)", "Penicillin",
          "diameter ~ 1 + (1 | plate) + (1 | sample)", reps=15, quick_reps=5, r_reps=15),
    Bench("pastes", "Pastes (1|batch/cask)", "Pastes", "strength ~ 1 + (1 | batch/cask)", reps=15,
          quick_reps=5, r_reps=15),
    Bench("insteval_3re", "InstEval service + (1|s)+(1|d)+(1|dept), ML", "InstEval",
          "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", reml=False, reps=3, quick_reps=1, r_reps=3),
    Bench("insteval_dept", "InstEval service*dept + (1|s)+(1|d), ML", "InstEval",
          "y ~ 1 + service * dept + (1 | s) + (1 | d)", reml=False, reps=3, quick_reps=1, r_reps=3),
    Bench("psycholing", "crossed subj x item, maximal (1+A+B|subj)+(1+A+B|item)", "sim:psycholing",
          "rt ~ 1 + A + B + (1 + A + B | subj) + (1 + A + B | item)", reps=3, quick_reps=1, r_reps=3),
    Bench("large", "1M rows, (1+x|g) with 100k levels", "sim:large", "y ~ 1 + x + (1 + x | g)",
          reps=3, quick_reps=1, r_reps=1, r_quick_skip=True),
    Bench("cbpp", "glmer cbpp binomial (1|herd)", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
          kind="glmer", reps=5, quick_reps=2, r_reps=5),
    Bench("bernoulli", "glmer Bernoulli crossed (1|subj)+(1|item)", "sim:bernoulli",
          "y ~ x + (1 | subj) + (1 | item)", kind="glmer", reps=3, quick_reps=1, r_reps=3),
]

SIM = {"psycholing": sim_psycholing, "large": sim_large, "bernoulli": sim_bernoulli}
R_FACTORS = {"psycholing": ["subj", "item"], "large": ["g"], "bernoulli": ["subj", "item"]}


def load(b: Bench) -> pd.DataFrame:
    if b.data.startswith("sim:"):
        return SIM[b.data[4:]]()
    return mm.load_dataset(b.data)


# ---------------------------------------------------------------------------- ours
def fit_once(b: Bench, d: pd.DataFrame):
    if b.kind == "glmer":
        return mm.glmer(b.formula, d, family=b.family)
    m = mm.lmer(b.formula, d, REML=b.reml)
    if b.kind == "lmer_summary":
        str(m.summary())
    return m


def time_ours(b: Bench, d: pd.DataFrame, quick: bool) -> None:
    import warnings

    reps = b.quick_reps if quick else b.reps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_once(b, d)                       # warm-up: imports, caches
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            m = fit_once(b, d)
            ts.append(time.perf_counter() - t0)
        b.results["ours_s"] = statistics.median(ts)
        info = getattr(m, "optinfo", None)
        b.results["evals"] = getattr(info, "nevals", None)
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
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fit_once(b, d)
        b.results["peak_mb"] = (tracemalloc.get_traced_memory()[1] - base) / 2 ** 20
        tracemalloc.stop()
        b.results["n"] = int(m.nobs) if hasattr(m, "nobs") else len(d)
        b.results["ntheta"] = int(np.size(m.theta))


def time_statsmodels(b: Bench, d: pd.DataFrame, quick: bool) -> None:
    if b.sm is None:
        return
    try:
        import statsmodels.formula.api as smf
    except ImportError:
        return
    import warnings

    fixed = b.formula.split("(")[0].rstrip(" +")
    reps = 3 if quick else 5
    ts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            smf.mixedlm(fixed, d, groups=d[b.sm["groups"]], re_formula=b.sm["re_formula"]).fit(reml=b.reml)
            ts.append(time.perf_counter() - t0)
    b.results["sm_s"] = statistics.median(ts[1:])


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


R_HEAD = r"""
suppressMessages({library(lme4); library(lmerTest)})
out <- function(key, secs, feval, per, mem) cat(sprintf("RESULT\t%s\t%.6f\t%s\t%s\t%s\n", key, secs, feval, per, mem))
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
    out(key, median(ts), fe, per, sprintf("%.1f", mem))
  }, error = function(e) cat(sprintf("RERROR\t%s\t%s\n", key, conditionMessage(e))))
}
"""


def r_script(benches, csvdir: Path, quick: bool) -> str:
    lines = [R_HEAD]
    for b in benches:
        if quick and b.r_quick_skip:
            continue
        reps = max(1, b.r_reps // 3) if quick else b.r_reps
        if b.data.startswith("sim:"):
            name = b.data[4:]
            facs = ", ".join(f"'{f}'" for f in R_FACTORS.get(name, []))
            lines.append(f"d_{b.key} <- read.csv('{csvdir / (name + '.csv')}')")
            lines.append(f"for (v in c({facs})) d_{b.key}[[v]] <- factor(d_{b.key}[[v]])")
            data = f"d_{b.key}"
        else:
            data = f"lme4::{b.data}" if b.data != "InstEval" else "lme4::InstEval"
        reml = "TRUE" if b.reml else "FALSE"
        if b.kind == "lmer_summary":
            fit = (f"function() {{ m <- lmerTest::lmer({b.formula}, {data}, REML={reml}); "
                   f"invisible(capture.output(print(summary(m)))); m }}")
            dev = f"function() lme4::lmer({b.formula}, {data}, REML={reml}, devFunOnly=TRUE)"
        elif b.kind == "glmer":
            fit = f"function() lme4::glmer({b.formula}, {data}, family={b.family})"
            dev = None
        else:
            fit = f"function() lme4::lmer({b.formula}, {data}, REML={reml})"
            dev = f"function() lme4::lmer({b.formula}, {data}, REML={reml}, devFunOnly=TRUE)"
        lines.append(f"bench('{b.key}', {fit}, {reps}{', ' + dev if dev else ''})")
    return "\n".join(lines) + "\n"


def run_r(rscript: str, benches, quick: bool) -> tuple[str, str]:
    """Runs every model in one R process; fills b.results['r_*']; returns (R version, lme4 version)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in {b.data[4:] for b in benches if b.data.startswith("sim:")}:
            if quick and all(b.r_quick_skip for b in benches if b.data == f"sim:{name}"):
                continue
            SIM[name]().to_csv(tmp / f"{name}.csv", index=False)
        script = tmp / "bench.R"
        script.write_text(r_script(benches, tmp, quick))
        proc = subprocess.run([rscript, str(script)], capture_output=True, text=True)
        ver = subprocess.run([rscript, "-e", "cat(R.version.string, as.character(packageVersion('lme4')), "
                                             "as.character(packageVersion('lmerTest')), sep='|')"],
                             capture_output=True, text=True).stdout.strip().split("|")
    by_key = {b.key: b for b in benches}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "RESULT" and parts[1] in by_key:
            r = by_key[parts[1]].results
            r["r_s"] = float(parts[2])
            r["r_feval"] = None if parts[3] == "NA" else int(float(parts[3]))
            r["r_eval_ms"] = None if parts[4] == "NA" else 1e3 * float(parts[4])
            r["r_mem_mb"] = float(parts[5])
        elif parts[0] == "RERROR" and parts[1] in by_key:
            by_key[parts[1]].results["r_error"] = parts[2]
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
    return (ver[0] if ver else "R"), (f"lme4 {ver[1]}, lmerTest {ver[2]}" if len(ver) > 2 else "")


# ---------------------------------------------------------------------------- report
def _fmt(x, spec="{:.3f}", none="-"):
    return none if x is None else spec.format(x)


def table(benches) -> str:
    head = ("| model | n | θ | ours s | lme4 s | ratio | statsmodels s | evals (R) | ms/eval (R) | peak MB (R) |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [head]
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
        lme4 = _fmt(r.get("r_s"), "{:.3f}", none="error" if r.get("r_error") else "-")
        label = b.label.replace("|", "\\|")
        rows.append(f"| {label} | {r.get('n', '')} | {r.get('ntheta', '')} | {r['ours_s']:.3f} | {lme4} | "
                    f"{_fmt(ratio, '{:.1f}x')} | {_fmt(r.get('sm_s'))} | {ev} | {em} | {pk} |")
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
    args = ARGS or _parse_args()
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    benches = [b for b in BENCHES if not only or b.key in only]
    if not _has_glmer():
        print("mm.glmer is not available: skipping the glmer models")
        benches = [b for b in benches if b.kind != "glmer"]
    load0 = os.getloadavg()
    started = _dt.datetime.now()
    for b in benches:
        d = load(b)
        try:
            time_ours(b, d, args.quick)
        except Exception as e:  # keep benchmarking the others
            print(f"{b.key}: ours failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if not args.no_statsmodels:
            try:
                time_statsmodels(b, d, args.quick)
            except Exception as e:
                print(f"{b.key}: statsmodels failed: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"{b.key:14s} ours {b.results['ours_s']:.3f}s  evals {b.results.get('evals')}", flush=True)
    extra = {"import": import_time(), "first_fit": first_fit_time(1 if args.quick else 3)}
    if any(b.key == "large" for b in benches):
        extra["large_rss"] = large_rss()
    rscript = None if args.no_r else find_r()
    rver = ("", "")
    if rscript:
        print("running the same models in R ...", flush=True)
        rver = run_r(rscript, benches, args.quick)
    load1 = os.getloadavg()
    tab = table(benches)
    notes = [
        f"- `import mixedmodels` in a fresh process: {extra['import'] * 1e3:.1f} ms (median of 5); "
        f"import + first sleepstudy fit in a fresh process: {extra['first_fit']:.2f} s",
    ]
    if extra.get("large_rss"):
        notes.append(f"- 1M-row model: peak RSS of a fresh process that simulates the data and fits it: "
                     f"{extra['large_rss']:.0f} MB")
    if rscript:
        notes.append(f"- R: {rver[0]}, {rver[1]}; R's times are medians of `system.time` inside R "
                     "(start-up and data loading not counted); R's `feval` is nloptr's iteration count")
        errs = [f"{b.key}: {b.results['r_error']}" for b in benches if b.results.get("r_error")]
        if errs:
            notes.append("- R errors: " + "; ".join(errs))
        if args.quick:
            notes.append("- quick run: fewer repetitions; R skipped the 1M-row model")
    elif args.no_r:
        notes.append("- R not run (--no-r): our times only")
    else:
        notes.append("- R (Rscript with lme4 and lmerTest) was not found: our times only")
    import numpy
    import scipy

    header = textwrap.dedent(f"""\
        # Benchmark results

        - date: {started:%Y-%m-%d %H:%M}; machine: {machine()}; load average {load0[0]:.1f} at start,
          {load1[0]:.1f} at end (the machine is shared: medians of repetitions)
        - Python {platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__},
          mixedmodels {mm.__version__}; BLAS threads: {args.blas_threads or 'library default'}
        - command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`
        """)
    text = header + "\n" + tab + "\n\n" + "\n".join(notes) + "\n"
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
