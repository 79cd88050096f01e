"""lme4's printouts of a fitted model, character for character: ``print(summary(m))`` of an
lmer / lmerTest or glmer fit, and ``anova(m1, m2, ...)``.

The summary is built from plain data (:class:`LmerSummary`, :class:`GlmerSummary`, one
:class:`VarCorrGroup` per block of the random-effects table), block by block as lme4's
``print.summary.merMod`` writes it (``.prt.methTit``, ``.prt.call``, ``.prt.aictab``,
``.prt.resids``, ``.prt.VC``, ``.prt.grps``, the fixed effects and their correlations).

Renderers return what R writes to the console *without its final newline*, i.e.
``paste(capture.output(print(x)), collapse = "\\n")``; ``print()`` of the returned string therefore
shows exactly R's console output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..formula.deparse import deparse_formula
from ..rformat import WIDTH, format_num, round_r, zapsmall
from .strings import abbreviate, cat_fill, strwrap
from .tables import print_char_matrix, print_coefmat, print_named_vector

__all__ = [
    "VarCorrGroup",
    "LmerSummary",
    "GlmerSummary",
    "format_varcorr",
    "render_lmer_summary",
    "render_glmer_summary",
    "render_lrt_anova",
]


# Summary data
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)  # eq=False: numpy/pandas fields do not compare to a bool
class VarCorrGroup:
    """One block of the "Random effects:" table.

    ``name`` is the printed group name ("Subject", "Subject.1", "cask:batch"),
    ``terms`` the random-effect term names, ``sd`` their standard deviations and
    ``corr`` their correlation matrix (None for a single term or independent
    terms), ``structure`` the term's covariance structure (``"us"``: lme4's; the
    others print as glmmTMB prints them: one common correlation as ``0.88 (ar1)``
    on the first row, one row for a common variance).
    """

    name: str
    terms: list[str]
    sd: np.ndarray
    corr: np.ndarray | None = None
    structure: str = "us"

    @property
    def compact(self) -> bool:
        """One common correlation (cs, homcs, ar1), printed once with its structure's name."""
        return self.structure in ("cs", "homcs", "ar1") and len(self.terms) > 1

    @property
    def shown(self) -> int:
        """The rows printed: one for a common variance (homdiag, homcs, ar1), else one per term."""
        return 1 if self.structure in ("homdiag", "homcs", "ar1") else len(self.terms)


@dataclass(frozen=True, eq=False)  # eq=False: numpy/pandas fields do not compare to a bool
class LmerSummary:
    """Everything ``print(summary(<lmerModLmerTest>))`` shows.

    ``ddf`` is "Satterthwaite", "Kenward-Roger" or "lme4" (lme4's own summary
    without df and p-values).  ``coef`` columns: "Estimate", "Std. Error",
    "df", "t value", "Pr(>|t|)" (for "lme4": "Estimate", "Std. Error",
    "t value").  ``scaled_residuals`` are all scaled residuals (their
    quartiles are printed).  ``messages`` are the optimizer / lme4 lines printed
    last ("optimizer (nloptwrap) convergence code: 0 (OK)", "boundary
    (singular) fit: see help('isSingular')"); ``fit_warnings`` are printed
    under "fit warnings:" (e.g. rank-deficient X).  ``reml_criterion`` is
    printed for REML fits; ``aic``, ``bic``, ``loglik``, ``deviance``
    (-2 logLik) and ``df_resid`` for ML fits.  ``ngroups`` pairs a grouping
    factor with its number of levels, in lme4's order.
    """

    reml: bool
    ddf: str
    formula: str
    data_name: str | None
    reml_criterion: float | None
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    scaled_residuals: np.ndarray
    varcorr: list[VarCorrGroup]
    residual_sd: float
    nobs: int
    ngroups: list[tuple[str, int]]
    coef: pd.DataFrame
    corr_fixef: np.ndarray | None
    messages: list[str] = field(default_factory=list)
    weights: str | None = None
    fit_warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)  # eq=False: numpy/pandas fields do not compare to a bool
class GlmerSummary:
    """Everything ``print(summary(<glmerMod>))`` shows.

    ``coef`` columns: "Estimate", "Std. Error", "z value", "Pr(>|z|)" (or
    "t value"/"Pr(>|t|)" for families with a scale).  ``residual_sd`` is only
    given for families with a dispersion parameter (a "Residual" row is then
    printed).  ``deviance`` is the value in summary's table, -2 logLik (not
    ``deviance(m)``).  ``nagq`` is nAGQ: 1 prints "(Laplace Approximation)".
    """

    family: str
    link: str
    nagq: int
    formula: str
    data_name: str | None
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    scaled_residuals: np.ndarray
    varcorr: list[VarCorrGroup]
    nobs: int
    ngroups: list[tuple[str, int]]
    coef: pd.DataFrame
    corr_fixef: np.ndarray | None
    messages: list[str] = field(default_factory=list)
    residual_sd: float | None = None
    weights: str | None = None
    fit_warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Blocks of print.summary.merMod
# ---------------------------------------------------------------------------
_SUMMARY_DIGITS = 4  # max(3, getOption("digits") - 3)
_COR_MAX = 12  # getOption("lme4.summary.cor.max")


def _block_title(method_title: str, obj_class: str) -> str:
    """lme4's .prt.methTit: "<title> ['<class>']", or, when too long for the
    width, the title wrapped and cat(fill = TRUE) with " [<class>]"."""
    if len(method_title) + 5 + len(obj_class) > WIDTH:
        lines = strwrap(method_title, width=WIDTH - 2, exdent=2)
        return cat_fill([lines, " [", obj_class, "]"], sep="")
    return "%s ['%s']\n" % (method_title, obj_class)


def _lmm_method_title(s: LmerSummary) -> tuple[str, str]:
    base = "Linear mixed model fit by " + ("REML" if s.reml else "maximum likelihood ")
    if s.ddf == "lme4":
        return base, "lmerMod"
    names = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's"}
    if s.ddf not in names:
        raise ValueError("ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', got %r" % (s.ddf,))
    name = names[s.ddf]
    return base + ". t-tests use " + name + " method", "lmerModLmerTest"


def _glmm_method_title(s: GlmerSummary) -> str:
    if s.nagq == 1:
        how = "(Laplace Approximation)"
    else:
        how = "(Adaptive Gauss-Hermite Quadrature, nAGQ = %d)" % s.nagq
    return "Generalized linear mixed model fit by maximum likelihood " + how


def _block_family(family: str, link: str) -> str:
    return cat_fill([" Family:", family, " ( " + link + " )"])


def _block_call(formula: str, data_name: str | None, weights: str | None) -> str:
    """lme4's .prt.call: Formula / Data / Weights lines via cat(fill = TRUE)."""
    out = cat_fill(["Formula:", deparse_formula(formula)])
    if data_name is not None:
        out += cat_fill(["   Data:", deparse_formula(data_name)])
    if weights is not None:
        out += cat_fill(["Weights:", deparse_formula(weights)])
    return out


def _block_reml(crit: float) -> str:
    # round(, 1) then cat(), which prints up to 7 significant digits
    return cat_fill(["REML criterion at convergence:", format_num([round_r(crit, 1)])[0]])


def _block_aictab(aic: float, bic: float, loglik: float, deviance: float, df_resid: float) -> str:
    """lme4's .prt.aictab: all five rounded to 1 decimal and formatted
    together, except df.resid which is formatted on its own."""
    vals = [round_r(float(v), 1) for v in (aic, bic, loglik, deviance, df_resid)]
    cells = format_num(vals)
    cells[4] = format_num([vals[4]])[0]
    return print_named_vector(cells, ["AIC", "BIC", "logLik", "deviance", "df.resid"])


def _block_resids(resids, digits: int = _SUMMARY_DIGITS) -> str:
    """lme4's .prt.resids: zapsmall()ed quartiles printed with ``digits``."""
    # R's quantile() is type 7, numpy's "linear" method; NaN dropped (na.rm = TRUE)
    q = zapsmall(np.nanquantile(np.asarray(resids, dtype=float), (0.0, 0.25, 0.5, 0.75, 1.0), method="linear"),
                 digits + 1)
    return "Scaled residuals: \n" + print_named_vector(
        list(q), ["Min", "1Q", "Median", "3Q", "Max"], digits=digits) + "\n"


def format_varcorr(groups: Sequence[VarCorrGroup], residual_sd: float | None,
                   digits: int = _SUMMARY_DIGITS) -> tuple[list[list[str]], list[str]]:
    """lme4's formatVC with comp = c("Variance", "Std.Dev."): the cells and
    column names of the random-effects table.

    Variances (sd^2) and standard deviations are each formatted as one column
    with ``digits``; each group's correlation matrix is rounded to
    ``max(2, digits - 2)`` decimals, formatted on its own, and its strict
    lower triangle placed to the right (so a term's correlations with earlier
    terms appear on its row).

    Parameters
    ----------
    groups : sequence of VarCorrGroup
        The blocks of the table.
    residual_sd : float or None
        The residual standard deviation (None: no "Residual" row).
    digits : int, default 4
        Significant digits.

    Returns
    -------
    (list of list of str, list of str)
        The cells, row by row, and the column names.
    """
    sds: list[float] = []
    rows: list[list[str]] = []
    lens = []
    for g in groups:
        sd = np.atleast_1d(np.asarray(g.sd, dtype=float))[: g.shown]
        lens.append(2 if g.compact else len(sd))
        for t, term in enumerate(g.terms[: g.shown]):
            rows.append([g.name if t == 0 else "", term])
        sds.extend(float(v) for v in sd)
    if residual_sd is not None:
        rows.append(["Residual", ""])
        sds.append(float(residual_sd))
        lens.append(1)
    var_s = format_num([v * v for v in sds], digits)
    sd_s = format_num(sds, digits)
    for r, (v, s) in zip(rows, zip(var_s, sd_s)):
        r.extend([v, s])
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    maxlen = max(lens) if lens else 0
    if maxlen > 1:
        dig = max(2, digits - 2)
        corr_rows: list[list[str]] = []
        for g in groups:
            p = len(np.atleast_1d(g.sd))
            if g.compact:   # glmmTMB's "0.74 (cs)" on the term's first row
                rho = format_num([round_r(float(np.asarray(g.corr)[1, 0]), dig)], nsmall=dig)[0]
                corr_rows.append([f"{rho} ({g.structure})"] + [""] * (maxlen - 2))
                corr_rows.extend([[""] * (maxlen - 1) for _ in range(g.shown - 1)])
                continue
            cm = np.eye(p) if g.corr is None else np.asarray(g.corr, dtype=float).reshape(p, p)
            flat = format_num([round_r(float(v), dig) for v in cm.T.ravel()], nsmall=dig)
            for i in range(p):
                row = [flat[j * p + i] if i > j else "" for j in range(p)]
                row += [""] * (maxlen - p)
                corr_rows.append(row[:maxlen - 1])
        while len(corr_rows) < len(rows):
            corr_rows.append([""] * (maxlen - 1))
        for r, cr in zip(rows, corr_rows):
            r.extend(cr)
        colnames += ["Corr"] + [""] * (maxlen - 2)
    return rows, colnames


def _block_varcorr(groups, residual_sd) -> str:
    rows, colnames = format_varcorr(groups, residual_sd)
    return "Random effects:\n" + print_char_matrix(rows, [""] * len(rows), colnames, right=False)


def _block_ngroups(nobs: int, ngroups: Sequence[tuple[str, int]]) -> str:
    """lme4's .prt.grps: "Number of obs: n, groups:  g1, n1; g2, n2"."""
    grp = "; ".join("%s, %d" % (g, n) for g, n in ngroups)
    return cat_fill(["Number of obs: %d, groups: " % nobs, grp])


def _block_corr_fixef(names: Sequence[str], corr: np.ndarray) -> str:
    """Lower triangle of the fixed-effect correlations, 3 decimals, rows
    labelled by abbreviate(, 11) and columns by abbreviate(, 6)."""
    p = len(names)
    if p <= 1:
        return ""
    rns = abbreviate(names, minlength=11)
    cns = abbreviate(names, minlength=6)
    cm = np.asarray(corr, dtype=float).reshape(p, p)
    flat = format_num([round_r(float(v), 3) for v in cm.T.ravel()], nsmall=3)
    cells = [[flat[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return "\nCorrelation of Fixed Effects:\n" + print_char_matrix(cells, rns[1:], cns[:p - 1])


def _block_fixef(coef: pd.DataFrame, corr, correlation: bool | None, object_name: str,
                 cor_note: bool = True) -> tuple[str, str]:
    """Fixed-effects table and correlation block; second item is lme4's
    note (a message, on stderr in R) when p > 12 hides the correlations."""
    p = coef.shape[0]
    if p == 0:
        return "", ""
    out = "\nFixed effects:\n" + print_coefmat(coef, digits=_SUMMARY_DIGITS)
    note = ""
    has_cor = corr is not None
    if correlation is None:
        correlation = has_cor and p <= _COR_MAX
        if not correlation and p > _COR_MAX and cor_note:
            nam = object_name if len(object_name) < 32 else "...."
            note = ("\nCorrelation matrix not shown by default, as p = %d > %d.\n"
                    "Use print(%s, correlation=TRUE)  or\n"
                    "    vcov(%s)        if you need it\n\n" % (p, _COR_MAX, nam, nam))
    if correlation and has_cor:
        out += _block_corr_fixef([str(i) for i in coef.index], corr)
    return out, note


def _block_messages(fit_warnings: Sequence[str], messages: Sequence[str]) -> str:
    out = ""
    if fit_warnings and any(len(m) for m in fit_warnings):
        out += "fit warnings:\n" + "".join(m + "\n" for m in fit_warnings)
    if messages:
        # cat(convmsg, msgs, sep = "\n"); cat("\n")
        out += "\n".join(messages) + "\n\n"
    return out


def _strip_final_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def render_lmer_summary(s: LmerSummary, correlation: bool | None = None,
                        object_name: str = "x", cor_note: bool = True) -> str:
    """``print(summary(m))`` of an lmerTest / lme4 linear mixed model.

    ``correlation``: None shows the fixed-effect correlations when p <= 12.
    Otherwise lme4 writes a note (a message, i.e. to stderr) naming
    ``object_name``; it is included where it appears on the console unless
    ``cor_note`` is False (``capture.output`` in R does not contain it).

    Parameters
    ----------
    s : LmerSummary
        The numbers.
    correlation : bool or None, default None
        Show the fixed effects' correlations (None: when there are at most 12 coefficients).
    object_name : str, default "x"
        The name lme4's note on hidden correlations gives the model.
    cor_note : bool, default True
        Include that note.

    Returns
    -------
    str
        R's console text, without its final newline.
    """
    title, cls = _lmm_method_title(s)
    out = _block_title(title, cls)
    out += _block_call(s.formula, s.data_name, s.weights)
    out += "\n"
    if s.reml:
        out += _block_reml(float(s.reml_criterion))
    else:
        out += _block_aictab(s.aic, s.bic, s.loglik, s.deviance, s.df_resid)
    out += "\n"
    out += _block_resids(s.scaled_residuals)
    out += _block_varcorr(s.varcorr, s.residual_sd)
    out += _block_ngroups(s.nobs, s.ngroups)
    fx, note = _block_fixef(s.coef, s.corr_fixef, correlation, object_name, cor_note)
    out += fx + note
    out += _block_messages(s.fit_warnings, s.messages)
    return _strip_final_newline(out)


def render_glmer_summary(s: GlmerSummary, correlation: bool | None = None,
                         object_name: str = "x", cor_note: bool = True) -> str:
    """``print(summary(m))`` of an lme4 generalized linear mixed model.

    Parameters
    ----------
    s : GlmerSummary
        The numbers.
    correlation, object_name, cor_note
        As for :func:`render_lmer_summary`.

    Returns
    -------
    str
        R's console text, without its final newline.
    """
    out = _block_title(_glmm_method_title(s), "glmerMod")
    out += _block_family(s.family, s.link)
    out += _block_call(s.formula, s.data_name, s.weights)
    out += "\n"
    out += _block_aictab(s.aic, s.bic, s.loglik, s.deviance, s.df_resid)
    out += "\n"
    out += _block_resids(s.scaled_residuals)
    out += _block_varcorr(s.varcorr, s.residual_sd)
    out += _block_ngroups(s.nobs, s.ngroups)
    fx, note = _block_fixef(s.coef, s.corr_fixef, correlation, object_name, cor_note)
    out += fx + note
    out += _block_messages(s.fit_warnings, s.messages)
    return _strip_final_newline(out)


def render_lrt_anova(table: pd.DataFrame, formulas: Sequence[str], data_name: str,
                     subset: str | None = None) -> str:
    """lme4's ``anova(m1, m2, ...)`` print: heading (data, models) and the
    table via print.anova, i.e. printCoefmat with digits 5, the information
    criteria zapsmall()ed, Chisq as test statistic and NA shown blank.

    ``table`` columns: npar, AIC, BIC, logLik, deviance, Chisq, Df,
    Pr(>Chisq); its index gives the model names (e.g. MODEL1, MODEL2).  NaN
    (lme4's NA: first model, Df 0) prints as a blank cell.

    Parameters
    ----------
    table : pandas.DataFrame
        The table, as above.
    formulas : sequence of str
        The models' formulas, in the table's order.
    data_name, subset : str
        The "Data:" line, and the "Subset:" line when given.

    Returns
    -------
    str
        R's console text, without its final newline.
    """
    names = [str(i) for i in table.index]
    heading = ["Data: " + data_name]
    if subset is not None:
        heading.append("Subset: " + subset)
    heading.append("Models:")
    for nm, f in zip(names, formulas):
        heading.append(nm + ": " + " ".join(deparse_formula(f, cutoff=500)))
    from .anova_table import format_anova  # the one print.anova

    return format_anova(table, heading)
