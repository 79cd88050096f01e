"""Command line: ``python -m mixedmodels`` (or ``mixedmodels``).

    mixedmodels fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy
    mixedmodels fit "y ~ x + (1 | g)" --data mydata.csv --ml --format json
    mixedmodels compare "Reaction ~ Days + (1 | Subject)" "Reaction ~ Days + (Days | Subject)" --data sleepstudy
    mixedmodels datasets

With no arguments it fits the sleepstudy random-slopes model and prints its summary.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEMO = "Reaction ~ 1 + Days + (1 + Days | Subject)"


def _read_data(spec: str):
    import pandas as pd

    from .datasets import list_datasets, load_dataset
    from .errors import ArgumentError, DataError

    path = Path(spec)
    if not path.exists():
        if spec.lower() in {n.lower() for n in list_datasets()}:
            return load_dataset(spec)
        raise ArgumentError(f"--data {spec!r} is neither a file nor a shipped data set "
                            f"({', '.join(list_datasets())})")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            df = pd.read_csv(path)
        elif suffix == ".tsv":
            df = pd.read_csv(path, sep="\t")
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix == ".sav":
            df = pd.read_spss(path)
        else:
            raise ArgumentError(f"cannot read {path.name}: use a .csv, .tsv, .parquet or .sav file")
    except ImportError as e:
        raise ArgumentError(f"reading {path.name} needs an optional package: {e}; install it with pip") from None
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    df.attrs["name"] = path.stem
    return df


def _result_json(m) -> dict:
    ct = m.coef_table()
    out = {"formula": m.formula, "REML": getattr(m, "reml", False), "nobs": m.nobs, "ngroups": m.ngroups,
           "loglik": m.loglik, "aic": m.aic, "bic": m.bic, "deviance": m.deviance, "sigma": m.sigma,
           "theta": list(map(float, m.theta)),
           "fixef": {k: {c: _num(v) for c, v in row.items()} for k, row in ct.to_dict(orient="index").items()},
           "vcov": m.vcov.to_numpy().tolist(),
           "varcorr": m.varcorr.to_dict(orient="records"),
           "is_singular": bool(m.is_singular)}
    if getattr(m, "reml_criterion", None) is not None:
        out["reml_criterion"] = m.reml_criterion
    return out


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return None if f != f else f


def _markdown(m) -> str:
    ct = m.coef_table()
    lines = [f"**{m.formula}**", "", "| term | " + " | ".join(ct.columns) + " |",
             "|---" * (len(ct.columns) + 1) + "|"]
    for name, row in ct.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:.6g}" for v in row.to_numpy()) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from .errors import MixedModelError

    ap = argparse.ArgumentParser(prog="mixedmodels", description="Mixed-effects models with lme4's formulas.")
    sub = ap.add_subparsers(dest="cmd")
    f = sub.add_parser("fit", help="fit a model and print its summary")
    f.add_argument("formula")
    f.add_argument("--data", required=True, help="a CSV/Parquet/SPSS file or a shipped data set name")
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--family", default=None, help="fit a GLMM with this family (binomial, poisson, Gamma, ...)")
    f.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    f.add_argument("--ddf", default="Satterthwaite")
    f.add_argument("--plots", default=None, metavar="DIR", help="save diagnostic plots as PNG files here")
    c = sub.add_parser("compare", help="likelihood-ratio comparison of nested models")
    c.add_argument("formulas", nargs="+")
    c.add_argument("--data", required=True)
    c.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    sub.add_parser("datasets", help="list the shipped data sets")
    args = ap.parse_args(argv)
    try:
        return _run(args)
    except MixedModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    import warnings

    import mixedmodels as mm

    if args.cmd is None:
        m = mm.lmer(DEMO, mm.load_dataset("sleepstudy"))
        print(m.summary())
        return 0
    if args.cmd == "datasets":
        for name in mm.list_datasets():
            print(name)
        return 0
    data = _read_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.cmd == "fit":
            if args.family:
                m = mm.glmer(args.formula, data, family=args.family)
            else:
                m = mm.lmer(args.formula, data, REML=not args.ml)
            if args.format == "json":
                print(json.dumps(_result_json(m), indent=2, default=str))
            elif args.format == "markdown":
                print(_markdown(m))
            else:
                print(m.summary() if args.family else m.summary(ddf=args.ddf))
            if args.plots:
                _save_plots(m, Path(args.plots))
        else:
            models = [mm.lmer(fm, data) for fm in args.formulas]
            tab = mm.anova(*models)
            if args.format == "json":
                frame = tab.to_frame() if hasattr(tab, "to_frame") else tab
                print(frame.to_json(orient="index", indent=2))
            elif args.format == "markdown":
                frame = tab.to_frame() if hasattr(tab, "to_frame") else tab
                print(frame.to_markdown() if hasattr(frame, "to_markdown") else frame.to_string())
            else:
                print(tab)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return 0


def _save_plots(m, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("residuals", "qq", "ranef"):
        fig = getattr(m.plot, name)()
        fig.savefig(folder / f"{name}.png", dpi=100)
    print(f"plots saved in {folder}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
