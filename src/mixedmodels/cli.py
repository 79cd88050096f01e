"""Command line: ``python -m mixedmodels`` (or ``mixedmodels``).

    mixedmodels fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy
    mixedmodels fit "y ~ x + (1 | g)" --data mydata.csv --ml --format json
    mixedmodels fit "Reaction ~ Days" --data sleepstudy            # no (... | g): an ordinary lm
    mixedmodels fit "cbind(incidence, size - incidence) ~ period + (1 | herd)" --data cbpp --family binomial --nAGQ 5
    mixedmodels fit "y ~ x + (1 | g)" --data counts.csv --family negbin --offset log_exposure
    mixedmodels compare "Reaction ~ Days + (1 | Subject)" "Reaction ~ Days + (Days | Subject)" --data sleepstudy
    mixedmodels datasets

With no arguments it fits the sleepstudy random-slopes model and prints its summary.
``--data`` is a CSV/TSV, Parquet (needs pyarrow) or SPSS .sav (needs pyreadstat) file, ``-`` for CSV
on standard input, or the name of a shipped data set. Errors go to stderr as one line, with exit
status 1 (2 for a command line that argparse rejects); warnings go to stderr as "warning: ...".
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

DEMO = "Reaction ~ 1 + Days + (1 + Days | Subject)"
FORMATS = ["text", "json", "markdown", "html"]
_READERS = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
            ".sav": "spss", ".zsav": "spss"}
_OPTIONAL = {"parquet": "pyarrow", "spss": "pyreadstat"}


class CliError(Exception):
    """A problem with the command line's input: printed as one line, exit status 1."""


# --------------------------------------------------------------------------- data
def read_data(spec: str):
    """A data frame from a file path, ``-`` (CSV on stdin) or a shipped data set name."""
    import pandas as pd

    from .datasets import list_datasets, load_dataset

    if spec == "-":
        df = pd.read_csv(sys.stdin)
        df.attrs["name"] = "stdin"
        return df
    path = Path(spec)
    if not path.exists():
        names = list_datasets()
        if spec.lower() in {n.lower() for n in names}:
            return load_dataset(spec)
        if path.suffix or os.sep in spec or "/" in spec:
            raise CliError(f"--data: no such file: {spec}")
        raise CliError(f"--data {spec!r} is neither a file nor a shipped data set "
                       f"(shipped: {', '.join(names)})")
    if path.is_dir():
        raise CliError(f"--data: {spec} is a directory, not a data file")
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise CliError(f"--data: cannot read {path.name!r}: use a .csv, .tsv, .parquet or .sav file")
    try:
        if kind == "csv":
            df = pd.read_csv(path)
        elif kind == "tsv":
            df = pd.read_csv(path, sep="\t")
        elif kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_spss(path)
    except ImportError:
        pkg = _OPTIONAL[kind]
        raise CliError(f"reading {path.name} needs the optional package {pkg}: pip install {pkg}") from None
    except Exception as e:  # pandas/pyarrow parser errors, empty files, bad encodings
        raise CliError(f"cannot read {path}: {type(e).__name__}: {e}") from None
    if df.shape[1] == 0 or len(df) == 0:
        raise CliError(f"--data: {path} has no rows or no columns")
    df.attrs["name"] = path.stem
    return df


# --------------------------------------------------------------------------- fitting
def _column(data, name: str | None, option: str):
    """The values of a column named on the command line, as floats (None when not given)."""
    if name is None:
        return None
    if name not in data.columns:
        raise CliError(f"{option} {name!r} is not a column of the data (columns: {', '.join(map(str, data.columns))})")
    return data[name].to_numpy(dtype=float)


_NEGBIN = ("negbin", "negative_binomial", "negative.binomial", "nb")


def _fit(formula: str, data, *, ml: bool = False, family: str | None = None, weights: str | None = None,
         offset: str | None = None, link: str | None = None, nagq: int | None = None):
    """The model the options ask for: lm without random terms, glmer (glmer_nb) with --family, else lmer."""
    from .fit.lmer import lmer
    from .linear.lm import has_random_terms, lm

    w, off = _column(data, weights, "--weights"), _column(data, offset, "--offset")
    glmm_only = [o for o, v in (("--link", link), ("--nAGQ", nagq)) if v is not None]
    if glmm_only and family is None:
        raise CliError(f"{' and '.join(glmm_only)} {'need' if len(glmm_only) > 1 else 'needs'} --family: "
                       "they are settings of a GLMM, which lmer and lm fits do not have")
    if not has_random_terms(formula):
        if family is not None:
            raise CliError("--family needs a mixed model: add a random-effects term such as (1 | group)")
        if offset is not None:
            raise CliError("--offset needs a mixed model here; for lm write offset(column) in the formula")
        return lm(formula, data, weights=weights)
    if family is not None and family.strip().lower() in _NEGBIN:
        from .fit.glmer_nb import glmer_nb

        return glmer_nb(formula, data, link=link or "log", nAGQ=1 if nagq is None else nagq, weights=w, offset=off)
    if family is not None:
        from .fit.glmer import glmer
        from .glmm.families import get_family

        fam = get_family(family)
        if link is not None:
            fam = type(fam)(link=link)
        return glmer(formula, data, family=fam, nAGQ=1 if nagq is None else nagq, weights=w, offset=off)
    return lmer(formula, data, REML=not ml, weights=w, offset=off)


def _summary_text(m, ddf: str) -> str:
    if type(m).__name__ == "LmerResult":
        return str(m.summary(ddf=ddf))
    return str(m.summary())


# --------------------------------------------------------------------------- JSON
def clean(obj):
    """Plain JSON values: numpy scalars and arrays to Python, NaN and infinities to null."""
    import numpy as np
    import pandas as pd

    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return clean(obj.to_dict(orient="index"))
    if isinstance(obj, pd.Series):
        return clean(obj.to_dict())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA:
        return None
    return str(obj)


def _get(m, name, default=None):
    """An attribute that some model kinds lack or cannot compute: the default instead."""
    try:
        v = getattr(m, name)
        return v() if callable(v) and name in ("ranef",) else v
    except Exception:
        return default


def result_json(m, ddf: str = "Satterthwaite") -> dict:
    """Every number of a fitted model, as a dict ready for json.dumps."""
    kind = type(m).__name__
    out = {"model": kind, "formula": m.formula, "data": _get(m, "data_name"), "nobs": m.nobs}
    if kind == "LmResult":
        fs = m.fstatistic
        out.update({"method": "least squares", "coefficients": m.coef_table(), "aliased": m.aliased,
                    "sigma": m.sigma, "df_residual": m.df_resid, "rank": m.rank,
                    "r_squared": m.r_squared, "adj_r_squared": m.adj_r_squared,
                    "fstatistic": None if fs is None else {"value": fs[0], "numdf": fs[1], "dendf": fs[2],
                                                           "p_value": m.f_pvalue},
                    "loglik": m.loglik, "npar": m.npar, "aic": m.aic, "bic": m.bic, "deviance": m.deviance,
                    "rss": m.rss, "vcov": m.vcov, "confint": m.confint()})
        return clean(out)
    reml = bool(_get(m, "reml", False))
    ct = m.coef_table(ddf=ddf) if kind == "LmerResult" else m.coef_table()
    fam = _get(m, "family")
    nagq = _get(m, "nAGQ", 1)
    glmm_method = "ML (Laplace)" if nagq == 1 else f"ML (adaptive Gauss-Hermite, nAGQ = {nagq})"
    out.update({"method": "REML" if reml else ("ML" if kind == "LmerResult" else glmm_method),
                "family": None if fam is None else str(getattr(fam, "name", fam)),
                "ngroups": _get(m, "ngroups", {}), "coefficients": ct,
                "ddf": ddf if kind == "LmerResult" else None,
                "sigma": _get(m, "sigma"), "theta": _get(m, "theta"),
                "loglik": _get(m, "loglik"), "npar": _get(m, "npar"), "aic": _get(m, "aic"), "bic": _get(m, "bic"),
                "deviance": _get(m, "deviance"), "reml_criterion": _get(m, "reml_criterion"),
                "df_residual": _get(m, "df_resid"), "is_singular": _get(m, "is_singular"),
                "vcov": _get(m, "vcov"), "varcorr": _records(_get(m, "varcorr")),
                "ranef": _get(m, "ranef"),
                "fixef": _get(m, "fixef")})
    return clean(out)


def _records(df):
    return None if df is None else df.to_dict(orient="records")


def anova_json(tab, formulas: dict) -> dict:
    import pandas as pd

    frame = pd.DataFrame(tab)
    rows = []
    for name, row in frame.iterrows():
        rows.append({"model": str(name), "formula": formulas.get(str(name)), **row.to_dict()})
    return clean({"data": (getattr(tab, "heading", None) or ["Data: data"])[0].removeprefix("Data: "),
                  "models": rows})


# --------------------------------------------------------------------------- commands
def _parser() -> argparse.ArgumentParser:
    from .version import __version__

    ap = argparse.ArgumentParser(prog="mixedmodels",
                                 description="Mixed-effects models with lme4's formulas and lmerTest's inference. "
                                             "With no command: the sleepstudy demo.")
    ap.add_argument("--version", action="version", version=f"mixedmodels {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="{fit,compare,datasets}")
    f = sub.add_parser("fit", help="fit a model and print its summary",
                       description="Fit an lmer model (an ordinary lm when the formula has no (... | group) term).")
    f.add_argument("formula", help="e.g. 'Reaction ~ Days + (Days | Subject)'")
    f.add_argument("--data", required=True, help="a .csv/.tsv/.parquet/.sav file, '-' for CSV on stdin, "
                                                 "or a shipped data set name")
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--family", default=None, help="fit a GLMM with this family (binomial, poisson, Gamma, "
                                                  "inverse_gaussian, gaussian; negbin: glmer.nb, theta estimated)")
    f.add_argument("--link", default=None, help="the family's link (logit, probit, cloglog, log, identity, ...)")
    f.add_argument("--nAGQ", type=int, default=None, metavar="K",
                   help="GLMM: 1 Laplace (default), 0 fast, K > 1 adaptive Gauss-Hermite points (one scalar term)")
    f.add_argument("--weights", default=None, metavar="COLUMN", help="prior weights from this column")
    f.add_argument("--offset", default=None, metavar="COLUMN", help="an offset from this column (e.g. log exposure)")
    f.add_argument("--ddf", default="Satterthwaite", choices=["Satterthwaite", "Kenward-Roger", "lme4"],
                   help="denominator degrees of freedom for the t tests (lmer)")
    f.add_argument("--format", choices=FORMATS, default="text")
    f.add_argument("--plots", default=None, metavar="DIR", help="save diagnostic plots as PNG files in DIR")
    c = sub.add_parser("compare", help="likelihood-ratio comparison of nested models (lme4's anova)")
    c.add_argument("formulas", nargs="+", metavar="FORMULA")
    c.add_argument("--data", required=True)
    c.add_argument("--format", choices=FORMATS, default="text")
    d = sub.add_parser("datasets", help="list the shipped data sets")
    d.add_argument("--format", choices=["text", "json"], default="text")
    return ap


def main(argv=None) -> int:
    args = _parser().parse_args(argv)  # exits with status 2 and a usage line on bad syntax
    from .errors import MixedModelError, collected

    caught: list = []
    try:
        try:
            with collected() as caught:  # the package's own warnings, printed as the CLI's
                return _run(args)
        finally:  # warnings said before an error are still worth seeing
            for w in caught:
                label = "note" if type(w).__name__ == "RefitMLWarning" else "warning"
                print(f"{label}: {w}", file=sys.stderr)
    except (MixedModelError, CliError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `mixedmodels ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # never a traceback for the user; MIXEDMODELS_DEBUG=1 shows it
        if os.environ.get("MIXEDMODELS_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {e} (set MIXEDMODELS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _emit(text: str) -> None:
    print(text)  # as print(summary) in Python: R's console output, final newline included


def _run(args) -> int:
    from .datasets import list_datasets, load_dataset
    from .fit.lmer import lmer
    from .report.html import to_html, to_markdown

    if args.cmd is None:
        m = lmer(DEMO, load_dataset("sleepstudy"))
        _emit(str(m.summary()))
        return 0
    if args.cmd == "datasets":
        names = list_datasets()
        if args.format == "json":
            info = []
            for n in names:
                df = load_dataset(n)
                info.append({"name": n, "rows": len(df), "columns": [str(c) for c in df.columns]})
            _emit(json.dumps(info, indent=2))
        else:
            _emit("\n".join(names))
        return 0
    data = read_data(args.data)
    if args.cmd == "fit":
        if args.plots:  # say so before a long fit, not after it
            from .linear.lm import has_random_terms

            if not has_random_terms(args.formula):
                raise CliError("--plots needs a mixed model: the formula has no (... | group) term")
            import importlib.util

            if importlib.util.find_spec("matplotlib") is None:
                raise CliError("--plots needs matplotlib: pip install matplotlib")
        m = _fit(args.formula, data, ml=args.ml, family=args.family, weights=args.weights, offset=args.offset,
                 link=args.link, nagq=args.nAGQ)
        if args.format == "json":
            _emit(json.dumps(result_json(m, args.ddf), indent=2, allow_nan=False))
        elif args.format == "markdown":
            _emit(to_markdown(m))
        elif args.format == "html":
            _emit(to_html(m))
        else:
            _emit(_summary_text(m, args.ddf))
        if args.plots:
            _save_plots(m, Path(args.plots))
        return 0
    # compare
    if len(args.formulas) < 2:
        raise CliError("compare needs two or more formulas")
    models = {f"MODEL{i + 1}": _fit(fm, data) for i, fm in enumerate(args.formulas)}
    from .inference.lrt import anova

    tab = anova(**models)
    if args.format == "json":
        formulas = {k: m.formula for k, m in models.items()}
        _emit(json.dumps(anova_json(tab, formulas), indent=2, allow_nan=False))
    elif args.format == "markdown":
        _emit(to_markdown(tab))
    elif args.format == "html":
        _emit(to_html(tab))
    else:
        _emit(str(tab))
    return 0


def _save_plots(m, folder: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise CliError("--plots needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        plots = m.plot
    except (ImportError, AttributeError):
        raise CliError(f"--plots: plots are not available for a {type(m).__name__}") from None
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name in ("groups", "ranef", "residuals", "qq", "diagnostics"):
        fn = getattr(plots, name, None)
        if fn is None:
            continue
        fig = fn()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        saved.append(path.name)
    if not saved:
        raise CliError(f"--plots: no plots are available for a {type(m).__name__}")
    print(f"plots saved in {folder}: {', '.join(saved)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
