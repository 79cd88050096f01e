"""The sleepstudy lecture, end to end: three mixed models, their summaries, the comparison, the figures.

    python examples/lecture.py [OUTPUT_FOLDER]        (default ./lecture_figures)

The reaction times of 18 subjects were measured on each of 10 days of sleep deprivation
(Belenky et al. 2003; lme4's ``sleepstudy``). The lecture fits

    m1: Reaction ~ 1 + (1 | Subject)                  a mean and a random intercept per subject
    m2: Reaction ~ 1 + Days + (1 | Subject)           + a common slope over days
    m3: Reaction ~ 1 + Days + (1 + Days | Subject)    + a random slope per subject

prints each summary (lmerTest's layout), compares m2 and m3 with a likelihood-ratio test, and
draws the figures: the data per subject with each model's lines, the shrinkage of the
subject-specific lines towards the population line, the random effects (caterpillar plots) and the
residual diagnostics. The figures are written as PNG files into OUTPUT_FOLDER.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no window needed

import matplotlib.pyplot as plt  # noqa: E402

import mixedmodels as mm  # noqa: E402


def section(title: str) -> None:
    print()
    print("=" * 100)
    print(title)
    print("=" * 100)


def show_summary(m) -> None:
    try:
        print(m.summary())
    except Exception as e:  # a part of the package still being written should not stop the lecture
        print(f"(summary not available: {type(e).__name__}: {e})")
        print(m.coef_table())


def save(fig, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"  wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", nargs="?", default="lecture_figures", help="folder for the PNG files")
    args = ap.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    data = mm.load_dataset("sleepstudy")
    print(f"sleepstudy: {len(data)} observations, {data['Subject'].nunique()} subjects, "
          f"Days {data['Days'].min()}..{data['Days'].max()}")

    formulas = {
        "m1": "Reaction ~ 1 + (1 | Subject)",
        "m2": "Reaction ~ 1 + Days + (1 | Subject)",
        "m3": "Reaction ~ 1 + Days + (1 + Days | Subject)",
    }
    models = {}
    for name, f in formulas.items():
        section(f"{name}: {f}")
        models[name] = m = mm.lmer(f, data)
        show_summary(m)
        icc, r2 = m.icc(), m.r2()
        print(f"\nICC adjusted {icc['adjusted']:.3f}, conditional {icc['conditional']:.3f}; "
              f"R2 marginal {r2['marginal']:.3f}, conditional {r2['conditional']:.3f}")
        print(m.check())
    m1, m2, m3 = models["m1"], models["m2"], models["m3"]

    section("Does each subject need its own slope? m2 against m3 (likelihood-ratio test)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(mm.anova(m2, m3).to_string())
        print("(REML fits are refitted with ML for the comparison, as lme4 does.)")
    except Exception as e:
        print(f"(mm.anova not available: {type(e).__name__}: {e})")

    section("Predictions for subject 308 and for a new subject, after 0..9 days")
    import pandas as pd

    nd = pd.DataFrame({"Days": list(range(10)) * 2, "Subject": ["308"] * 10 + ["new"] * 10})
    pred = m3.predict(nd, allow_new_levels=True, interval="prediction")
    print(pd.concat([nd, pred.round(1)], axis=1).to_string(index=False))

    section(f"Figures in {out}/")
    save(m1.plot.groups(pooled=True, own_fit=True), out, "m1_groups")
    save(m2.plot.groups(pooled=True, own_fit=True), out, "m2_groups")
    save(m3.plot.groups(pooled=True, own_fit=True), out, "m3_shrinkage")
    save(m2.plot.shrinkage(), out, "m2_shrinkage_intercepts")
    save(m3.plot.shrinkage(), out, "m3_shrinkage_coefficients")
    save(m3.plot.ranef(), out, "m3_ranef")
    save(m3.plot.diagnostics(), out, "m3_diagnostics")
    save(m3.plot.qq(), out, "m3_qq")
    try:
        save(m3.plot.profile(), out, "m3_profile")
    except Exception as e:
        print(f"  (profile plot skipped: {type(e).__name__}: {e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
