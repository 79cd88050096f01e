r"""Likelihood-ratio comparison of nested models: lme4's ``anova(m1, m2, ...)``.

For models ordered by their number of parameters ``npar_1 <= npar_2 <= ...``, row ``i`` tests
model ``i-1`` against model ``i``:

    Chisq_i = 2 max(0, logLik_i - logLik_{i-1}),   Df_i = npar_i - npar_{i-1},
    Pr(>Chisq)_i = P(chi^2_{Df_i} > Chisq_i)        (no p-value when Df_i = 0).

The log-likelihoods must be comparable: REML log-likelihoods of models with different fixed
effects are not, so (as lme4 does with ``refit=TRUE``) REML fits are refitted by ML first, and
:class:`RefitMLWarning` says so. Rows are sorted by ``npar`` (a stable sort, as R's ``order``),
so the row labels (``MODEL1``, ``MODEL2``, ... by position given, or the keyword names) may come
out of order, exactly as lme4 prints them.

Any object with ``loglik``, ``npar`` and ``nobs`` can take part (an ordinary linear model, say);
``reml``/``refit(REML=False)`` are used when present. The module also holds the renderer that
prints these tables as R's ``print.anova`` does; ``ranova`` and ``drop1`` reuse it.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .errors import ArgumentError, DataError, MixedModelWarning

__all__ = ["anova", "AnovaTable", "RefitMLWarning", "format_anova"]


class RefitMLWarning(MixedModelWarning):
    """REML fits were refitted by maximum likelihood before a likelihood-ratio test.

    lme4 says this with ``message("refitting model(s) with ML (instead of REML)")``. Python has
    no separate channel for such notes, so it is a warning (shown once per call site by default;
    silence it with ``warnings.simplefilter("ignore", RefitMLWarning)`` or ``refit=False``).
    """


class AnovaTable(pd.DataFrame):
    """A DataFrame that prints as R prints an ``anova`` object: heading, table, significance codes.

    ``heading`` holds the lines R prints above the table. Indexing and arithmetic work as for any
    DataFrame; ``to_frame()`` gives a plain DataFrame.
    """

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return AnovaTable

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self)

    def __str__(self) -> str:
        return format_anova(pd.DataFrame(self), getattr(self, "heading", None) or [])

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self):  # notebooks: the plain table
        return pd.DataFrame(self)._repr_html_()


def anova(*models, refit: bool = True, **named_models) -> AnovaTable:
    """lme4's ``anova(m1, m2, ...)``: likelihood-ratio tests between nested models.

    ``mm.anova(m1, m2)`` labels the rows ``MODEL1``, ``MODEL2`` (position given);
    ``mm.anova(small=m1, big=m2)`` labels them with the keywords. With one model, returns that
    model's own ANOVA table of the fixed effects (lmerTest's type III ``anova(m)``).
    ``refit=False`` keeps REML log-likelihoods (only meaningful for models with the same fixed
    effects). Raises DataError when the models were not fitted to the same observations.
    """
    labelled = [(f"MODEL{i + 1}", m) for i, m in enumerate(models)] + list(named_models.items())
    if not labelled:
        raise ArgumentError("anova() needs at least one fitted model")
    if len(labelled) == 1:
        m = labelled[0][1]
        if not hasattr(m, "anova"):
            raise ArgumentError(f"anova() of a single {type(m).__name__} is not defined; give two or more models")
        return m.anova()
    for name, m in labelled:
        for attr in ("loglik", "npar", "nobs"):
            if not hasattr(m, attr):
                raise ArgumentError(f"{name} ({type(m).__name__}) is not a fitted model: it has no {attr!r}")
    _check_same_data(labelled)
    if refit:
        reml = [i for i, (_, m) in enumerate(labelled) if getattr(m, "reml", False)]
        if reml:
            warnings.warn("refitting model(s) with ML (instead of REML)", RefitMLWarning, stacklevel=2)
            for i in reml:
                name, m = labelled[i]
                labelled[i] = (name, m.refit(REML=False))
    order = sorted(range(len(labelled)), key=lambda i: float(labelled[i][1].npar))  # stable, as R's order()
    labelled = [labelled[i] for i in order]
    names = [n for n, _ in labelled]
    npar = np.array([float(m.npar) for _, m in labelled])
    ll = np.array([float(m.loglik) for _, m in labelled])
    nobs = float(labelled[0][1].nobs)
    chisq = np.full(len(ll), np.nan)
    df = np.full(len(ll), np.nan)
    chisq[1:] = 2.0 * np.maximum(0.0, np.diff(ll))
    df[1:] = np.diff(npar)
    p = np.full(len(ll), np.nan)
    ok = df > 0
    p[ok] = stats.chi2.sf(chisq[ok], df[ok])
    tab = AnovaTable({"npar": npar.astype(int), "AIC": -2 * ll + 2 * npar, "BIC": -2 * ll + math.log(nobs) * npar,
                      "logLik": ll, "deviance": -2 * ll, "Chisq": chisq, "Df": df, "Pr(>Chisq)": p},
                     index=pd.Index(names))
    data_name = getattr(labelled[0][1], "data_name", None) or "data"
    tab.heading = [f"Data: {data_name}", "Models:"] + [f"{n}: {_formula(m)}" for n, m in labelled]
    return tab


def _formula(m) -> str:
    return str(getattr(m, "formula", type(m).__name__))


def _response(m):
    frame = getattr(m, "frame", None)
    y = getattr(frame, "y", None) if frame is not None else getattr(m, "y", None)
    return None if y is None else np.asarray(y, dtype=float)


def _check_same_data(labelled) -> None:
    """lme4 insists on the same data object; we check what matters: the rows and the response."""
    n0, m0 = labelled[0][1].nobs, labelled[0][1]
    for name, m in labelled[1:]:
        if m.nobs != n0:
            raise DataError(f"models were not all fitted to the same size of dataset: {labelled[0][0]} has "
                            f"{n0} observations, {name} has {m.nobs}; refit them to the same rows "
                            "(drop rows with missing values in any variable that either model uses)")
    y0 = _response(m0)
    for name, m in labelled[1:]:
        y = _response(m)
        if y0 is not None and y is not None and not np.allclose(y, y0, rtol=1e-12, atol=0, equal_nan=True):
            raise DataError(f"{labelled[0][0]} and {name} were fitted to different responses "
                            f"({_formula(m0)!r} vs {_formula(m)!r}); a likelihood-ratio test needs the same "
                            "response values in the same rows")


# ---------------------------------------------------------------------------------------------
# printing as R's print.anova / printCoefmat (digits = 5, signif.stars = TRUE, width = 80)

_DIGITS = 5
_SIGNIF_LEGEND = "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"


def _sig_decimals(x: float, digits: int) -> tuple[int, int]:
    """(significant digits needed, exponent) to show x to at most `digits` significant digits."""
    if x == 0 or not math.isfinite(x):
        return 1, 0
    s = f"{abs(x):.{digits - 1}e}"
    mant, exp = s.split("e")
    e = int(exp)
    mant = mant.replace(".", "").rstrip("0")
    return max(1, len(mant)), e


def r_format(values, digits: int = _DIGITS) -> list[str]:
    """R's format() of a numeric vector: common decimals so each value shows <= digits significant
    digits; scientific notation when that is narrower (R's fixed-vs-scientific rule)."""
    vals = [float(v) for v in values]
    fin = [v for v in vals if math.isfinite(v)]
    if not fin:
        return ["NA" if math.isnan(v) else ("Inf" if v > 0 else "-Inf") for v in vals]
    rgt, left, sig_max, emin, emax = 0, 1, 1, 0, 0
    for v in fin:
        sig, e = _sig_decimals(v, digits)
        rgt = max(rgt, sig - 1 - e)
        left = max(left, (e + 1 if e >= 0 else 1) + (v < 0))
        sig_max = max(sig_max, sig)
        emin, emax = min(emin, e), max(emax, e)
    rgt = max(0, rgt)
    fixed_w = left + (rgt + 1 if rgt else 0)
    neg = any(v < 0 for v in fin)
    sci_w = neg + (sig_max + 1 if sig_max > 1 else 1) + (4 if max(abs(emin), abs(emax)) < 100 else 5)
    out = []
    for v in vals:
        if not math.isfinite(v):
            out.append("NA" if math.isnan(v) else ("Inf" if v > 0 else "-Inf"))
        elif fixed_w <= sci_w:
            out.append(f"{v:.{rgt}f}")
        else:
            s = f"{v:.{sig_max - 1}e}"
            mant, exp = s.split("e")
            out.append(f"{mant}e{int(exp):+03d}" if abs(int(exp)) < 100 else f"{mant}e{int(exp):+d}")
    width = max(len(s) for s in out)
    return [s.rjust(width) for s in out]


def _zapsmall(x: np.ndarray, digits: int) -> np.ndarray:
    fin = x[np.isfinite(x)]
    if fin.size == 0:
        return x
    mx = float(np.max(np.abs(fin)))
    d = max(0, digits - math.ceil(math.log10(mx))) if mx > 0 else digits
    return np.round(x, d)


def _format_pval(p: np.ndarray, digits: int) -> list[str]:
    """R's format.pval: fixed and scientific values formatted as separate groups."""
    out = [""] * len(p)
    eps = np.finfo(float).eps
    idx = [i for i in range(len(p)) if math.isfinite(p[i])]
    small = [i for i in idx if p[i] < eps]
    rest = [i for i in idx if p[i] >= eps]
    fixp = [i for i in rest if math.floor(math.log10(p[i])) >= -3 or p[i] == 0]
    scip = [i for i in rest if i not in fixp]
    for group in (fixp, scip):
        if group:
            for i, s in zip(group, r_format([p[i] for i in group], digits)):
                out[i] = s.strip()
    for i in small:
        out[i] = "< " + r_format([eps], digits)[0].strip()
    return out


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def format_anova(df: pd.DataFrame, heading: list[str] | None = None, width: int = 80) -> str:
    """Render an anova-like table as R's print.anova (printCoefmat with digits 5, stars, na.print "")."""
    cols = list(df.columns)
    nc = len(cols)
    has_p = nc > 0 and (cols[-1].startswith("Pr(") or cols[-1].startswith("P("))
    tst = [c for c in cols if c[1:7] == " value" or c in ("F", "Cp", "Chisq")]
    cells: dict[str, list[str]] = {}
    dig_tst = max(1, min(5, _DIGITS - 1))
    for c in cols:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        na = ~np.isfinite(x)
        if has_p and c == cols[-1]:
            cells[c] = _format_pval(x, dig_tst)
            continue
        if c in tst:
            s = r_format(np.round(x, dig_tst), _DIGITS)
        else:
            zap = not c.endswith("Df") and c not in tst
            s = r_format(_zapsmall(x, _DIGITS) if zap else x, _DIGITS)
        cells[c] = ["" if na[i] else s[i] for i in range(len(x))]
    header = list(cols)
    if has_p:
        p = pd.to_numeric(df[cols[-1]], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(p)
        stars = ok.any() and bool(np.any(p[ok] < 0.1))
        if stars:
            sym = [_stars(v) for v in p]
            w = max(len(s) for s in sym)
            cells[""] = [s.ljust(w) for s in sym]
            header.append("")
    else:
        stars = False
    rows = [str(r) for r in df.index]
    rw = max([len(r) for r in rows] + [0])
    colw = {h: max([len(h)] + [len(s) for s in cells[h]]) for h in header}
    # wrap columns to the width, as print.default of a matrix does
    blocks, cur, used = [], [], rw
    for h in header:
        if cur and used + 1 + colw[h] > width:
            blocks.append(cur)
            cur, used = [], rw
        cur.append(h)
        used += 1 + colw[h]
    if cur:
        blocks.append(cur)
    lines = list(heading or [])
    for blk in blocks:
        lines.append(" " * rw + "".join(" " + h.rjust(colw[h]) for h in blk))
        for i, r in enumerate(rows):
            lines.append(r.ljust(rw) + "".join(" " + cells[h][i].rjust(colw[h]) for h in blk))
    if stars:
        lines += ["---", _SIGNIF_LEGEND]
    return "\n".join(lines)
