#!/usr/bin/env python
"""Fits one benchmark model with one Python peer (glmm, mixedlm or statsmodels' MixedLM).

Run by ``benchmarks/run.py`` with the peers' own interpreter (``--peers-python``, a venv apart from
ours), one process per (peer, model), so a peer that crashes, hangs or runs out of memory costs only
its own cell of the table. Not part of the package and imports nothing of it.

    python peers_driver.py SPEC.json PEER KEY

``SPEC.json`` (written by run.py) maps each model key to its data (a CSV, plus the factor columns
and their levels in R's order), its kind, family, REML flag, repetitions, and per-peer settings
(a formula, or a reason the peer cannot fit the model). The driver reads the data, fits with the
peer's default settings once as a warm-up and then ``reps`` times, and prints one JSON line:

    {"key", "peer", "version", "secs" (median), "times", "loglik", "converged", "note"}

``loglik`` is the criterion the peer reached, on lme4's scale: the log-likelihood of an ML or GLMM
fit, and for a REML fit the REML log-likelihood (lme4's ``logLik(m)``, = -REMLcrit/2). A failure
prints ``{"key", "peer", "error"}``.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
import warnings


def read_data(spec):
    import pandas as pd

    factors = spec.get("factors", {})
    d = pd.read_csv(spec["csv"], dtype={c: str for c in factors})
    for c, levels in factors.items():
        d[c] = pd.Categorical(d[c], categories=levels)
    return d


# ---------------------------------------------------------------------------- glmm
def fit_glmm(d, spec, cfg):
    import glmm

    kind, formula = spec["kind"], cfg["formula"]
    if kind == "glmer":
        def fit():
            return glmm.fit(d, formula, spec["family"])
    else:
        def fit():
            m = glmm.fit(d, formula, reml=spec["reml"])
            if kind == "lmer_summary":
                str(m.summary())
            elif kind == "lmer_anova":
                str(glmm.anova(m))
            return m

    def report(m):
        return float(m.loglik), bool(m.converged)

    return fit, report, glmm.__version__ if hasattr(glmm, "__version__") else _dist_version("glmm")


# ---------------------------------------------------------------------------- mixedlm
def fit_mixedlm(d, spec, cfg):
    import mixedlm as mlm

    kind, formula = spec["kind"], cfg["formula"]
    if kind == "glmer":
        fam = {"binomial": mlm.families.Binomial, "poisson": mlm.families.Poisson}[spec["family"]]()

        def fit():
            return mlm.glmer(formula, d, family=fam)
    else:
        def fit():
            m = mlm.lmer(formula, d, REML=spec["reml"])
            if kind == "lmer_summary":
                str(m.summary())
            elif kind == "lmer_anova":
                str(mlm.anova_type3(m, ddf_method=spec["ddf"]))
            return m

    def report(m):
        conv = None
        try:
            conv = bool(mlm.convergence_ok(m))
        except Exception:
            conv = getattr(m, "converged", None)
        return float(m.logLik()), conv

    return fit, report, _dist_version("mixedlm")


# ---------------------------------------------------------------------------- statsmodels
def fit_statsmodels(d, spec, cfg):
    import statsmodels
    import statsmodels.formula.api as smf

    kind = spec["kind"]
    groups = cfg.get("groups")
    g = d[groups] if groups else None
    if g is None:                          # crossed factors: one group, each factor a variance component
        d = d.assign(_one=1)
        g = d["_one"]

    def fit():
        md = smf.mixedlm(cfg["formula"], d, groups=g, re_formula=cfg.get("re_formula"),
                         vc_formula=cfg.get("vc_formula"))
        m = md.fit(reml=spec["reml"])
        if kind == "lmer_summary":
            str(m.summary())
        return m

    def report(m):
        return float(m.llf), bool(m.converged)

    return fit, report, statsmodels.__version__


def _dist_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "?"


PEERS = {"glmm": fit_glmm, "mixedlm": fit_mixedlm, "statsmodels": fit_statsmodels}


def main(argv):
    spec_path, peer, key = argv[1:4]
    spec = json.loads(open(spec_path).read())[key]
    cfg = spec["peers"].get(peer)
    out = {"key": key, "peer": peer}
    if not isinstance(cfg, dict):
        out["error"] = cfg or "not configured"
        print(json.dumps(out))
        return 0
    try:
        d = read_data(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit, report, version = PEERS[peer](d, spec, cfg)
            out["version"] = version
            t0 = time.perf_counter()
            m = fit()                                   # warm-up: imports, caches
            first = time.perf_counter() - t0
            reps = int(spec["reps"])
            budget = float(spec.get("budget_s", 120.0))
            if first * (reps + 1) > budget:             # an expensive fit: fewer repetitions
                reps = max(0, min(reps, int(budget / max(first, 1e-9)) - 1))
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                m = fit()
                times.append(time.perf_counter() - t0)
            if not times:                               # one fit only: its time, warm-up included
                times = [first]
                out["note"] = "one fit, no warm-up"
            out["secs"] = statistics.median(times)
            out["times"] = times
            out["loglik"], out["converged"] = report(m)
    except Exception as e:  # noqa: BLE001  (a peer's failure is a result)
        msg = f"{type(e).__name__}: {e}".replace("\n", " ")
        out["error"] = msg[:300]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
