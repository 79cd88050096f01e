"""Timing of glmer against lme4 (run from the repository root; not part of the test suite):
    OPENBLAS_NUM_THREADS=1 python benchmarks/glmer/bench_glmer.py   (and bench_glmer.R with Rscript)
"""
import sys, time, warnings, statistics
sys.path.insert(0, "tests/reference")
import refcheck
from pathlib import Path
from mixedmodels.fit.glmer import glmer
warnings.simplefilter("ignore")
psy = refcheck.load_data(Path("tests/reference_extra"), "psycholing")
gt = refcheck.load_data(Path("tests/reference"), "grouseticks")
cb = refcheck.load_data(Path("tests/reference"), "cbpp")
def bench(label, f, reps):
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    print(f"Py {label:40s} median {statistics.median(t):.3f}s  min {min(t):.3f}s  (n={reps})")
bench("bernoulli crossed (1|subj)+(1|item)", lambda: glmer("acc ~ cond + (1 | subj) + (1 | item)", psy, family="binomial"), 20)
bench("bernoulli crossed nAGQ=0", lambda: glmer("acc ~ cond + (1 | subj) + (1 | item)", psy, family="binomial", nAGQ=0), 20)
bench("bernoulli slope (1+cond|subj)+(1|item)", lambda: glmer("acc ~ cond + freq + (1 + cond | subj) + (1 | item)", psy, family="binomial"), 10)
bench("cbpp binomial", lambda: glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb, family="binomial"), 20)
bench("grouseticks poisson", lambda: glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", gt, family="poisson"), 5)
