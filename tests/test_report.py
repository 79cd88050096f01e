"""Tests of R's printed text, character for character: mixedmodels.rformat (numbers),
formula.deparse, report.strings, report.tables and report.lme4_print.

The case tests rebuild each summary from the numbers stored in
tests/reference/cases/*.json and compare with R's own ``summary_text``.
The primitive tests use literals checked in R 4.2.2 (the R call is given in a
comment next to each); R itself is never called here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedmodels.formula.deparse import deparse_formula
from mixedmodels.report.lme4_print import (
    GlmerSummary,
    LmerSummary,
    VarCorrGroup,
    format_varcorr,
    render_glmer_summary,
    render_lmer_summary,
    render_lrt_anova,
)
from mixedmodels.report.strings import abbreviate, cat_fill, strwrap
from mixedmodels.report.tables import print_char_matrix, print_coefmat, print_named_vector, signif_stars
from mixedmodels.rformat import (
    DBL_EPSILON,
    R_NA,
    R_NAN,
    format_num,
    format_pval,
    format_perc,
    percent_labels,
    round_r,
    signif_r,
    zapsmall,
)

CASES = Path(__file__).parent / "reference" / "cases"
SINGULAR_MESSAGES = [
    "optimizer (nloptwrap) convergence code: 0 (OK)",
    "boundary (singular) fit: see help('isSingular')",
]


def _load(name: str) -> dict:
    return json.loads((CASES / name).read_text())


def _vec(x) -> list:
    """jsonlite's auto_unbox stores length-1 vectors as scalars."""
    return list(x) if isinstance(x, list) else [x]


def _num(x) -> list[float]:
    """JSON null is R's NA."""
    return [R_NA if v is None else float(v) for v in _vec(x)]


def _summary_cases(kind: str) -> list[str]:
    out = []
    for p in sorted(CASES.glob("*.json")):
        d = json.loads(p.read_text())
        if d.get("kind") == kind and d.get("summary_text"):
            out.append(p.name)
    return out


# ---------------------------------------------------------------------------
# Building summaries from the reference JSON
# ---------------------------------------------------------------------------
def _varcorr_groups(rows: list[dict]) -> tuple[list[VarCorrGroup], float | None]:
    """as.data.frame(VarCorr(m)) rows -> one VarCorrGroup per group (in order)."""
    order: list[str] = []
    sds: dict[str, list[tuple[str, float]]] = {}
    cors: dict[str, list[tuple[str, str, float]]] = {}
    resid = None
    for r in rows:
        g = r["grp"]
        if g == "Residual":
            resid = r["sdcor"]
            continue
        if g not in order:
            order.append(g)
            sds[g], cors[g] = [], []
        if r["var2"] == "":
            sds[g].append((r["var1"], r["sdcor"]))
        else:
            cors[g].append((r["var1"], r["var2"], r["sdcor"]))
    groups = []
    for g in order:
        terms = [t for t, _ in sds[g]]
        sd = np.array([v for _, v in sds[g]])
        corr = None
        if len(terms) > 1:
            corr = np.eye(len(terms))
            for a, b, v in cors[g]:
                i, j = terms.index(a), terms.index(b)
                corr[i, j] = corr[j, i] = v
        groups.append(VarCorrGroup(g, terms, sd, corr))
    return groups, resid


def _cov2cor(v) -> np.ndarray:
    """R's cov2cor: Is * V * rep(Is, each = p), unit diagonal."""
    v = np.asarray(v, dtype=float)
    s = np.sqrt(1.0 / np.diag(v))
    r = s[:, None] * v * s[None, :]
    np.fill_diagonal(r, 1.0)
    return r


def _printed_quartiles(text: str) -> np.ndarray:
    """The five printed residual quartiles (GLMM JSONs do not store them)."""
    lines = text.split("\n")
    i = lines.index("Scaled residuals: ")
    return np.array([float(v) for v in lines[i + 2].split()])


def lmer_summary_from_case(d: dict) -> LmerSummary:
    fx = d["fixef"]
    coef = pd.DataFrame(
        {"Estimate": _num(fx["estimate"]), "Std. Error": _num(fx["se"]), "df": _num(fx["df"]),
         "t value": _num(fx["t"]), "Pr(>|t|)": _num(fx["p"])},
        index=_vec(fx["names"]))
    groups, resid = _varcorr_groups(d["varcorr"])
    return LmerSummary(
        reml=d["REML"], ddf="Satterthwaite", formula=d["formula"], data_name=d["dataset"],
        reml_criterion=d["reml_criterion"], aic=d["AIC"], bic=d["BIC"], loglik=d["logLik"],
        deviance=-2 * d["logLik"], df_resid=d["nobs"] - d["df"],
        scaled_residuals=np.array(d["scaled_residuals"]), varcorr=groups, residual_sd=resid,
        nobs=d["nobs"], ngroups=list(d["ngrps"].items()), coef=coef,
        corr_fixef=np.atleast_2d(np.array(d["corr_fixef"], dtype=float)),
        messages=SINGULAR_MESSAGES if d["singular"] else [])


def glmer_summary_from_case(d: dict) -> GlmerSummary:
    fx = d["fixef"]
    coef = pd.DataFrame(
        {"Estimate": _num(fx["estimate"]), "Std. Error": _num(fx["se"]),
         "z value": _num(fx["z"]), "Pr(>|z|)": _num(fx["p"])},
        index=_vec(fx["names"]))
    groups, resid = _varcorr_groups(d["varcorr"])
    return GlmerSummary(
        family=d["family"], link=d["link"], nagq=d["nAGQ"], formula=d["formula"],
        data_name=d["dataset"], aic=d["AIC"], bic=d["BIC"], loglik=d["logLik"],
        # summary()'s table shows -2 logLik, not deviance(m) (conditional deviance)
        deviance=-2 * d["logLik"], df_resid=d["nobs"] - d["df"],
        scaled_residuals=_printed_quartiles(d["summary_text"]), varcorr=groups,
        nobs=d["nobs"], ngroups=list(d["ngrps"].items()), coef=coef,
        corr_fixef=_cov2cor(np.atleast_2d(np.array(d["vcov"], dtype=float))), residual_sd=resid,
        messages=SINGULAR_MESSAGES if d["singular"] else [])


@pytest.mark.parametrize("name", _summary_cases("lmm"))
def test_lmer_summary_matches_r(name):
    d = _load(name)
    assert render_lmer_summary(lmer_summary_from_case(d)) == d["summary_text"]


@pytest.mark.parametrize("name", _summary_cases("glmm"))
def test_glmer_summary_matches_r(name):
    d = _load(name)
    assert render_glmer_summary(glmer_summary_from_case(d)) == d["summary_text"]


def test_reference_cases_found():
    assert len(_summary_cases("lmm")) >= 9 and len(_summary_cases("glmm")) >= 3


def test_lrt_anova_matches_r():
    d = _load("sleepstudy_lrt.json")
    nan = float("nan")
    tab = pd.DataFrame(
        {"npar": d["npar"], "AIC": d["AIC"], "BIC": d["BIC"], "logLik": d["logLik"],
         "deviance": d["deviance"],
         "Chisq": [nan if v is None else v for v in d["Chisq"]],
         "Df": [nan if v is None else v for v in d["Df"]],
         "Pr(>Chisq)": [nan if v is None else v for v in d["p"]]},
        index=["MODEL1", "MODEL2"])
    assert render_lrt_anova(tab, d["formulas"], "d") == d["text"]


# ---------------------------------------------------------------------------
# Primitives against values checked in R 4.2.2
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("values, digits, nsmall, expected", [
    # format(c(612.100158, 35.0717, 654.94), digits=4)
    ([612.100158, 35.0717, 654.94], 4, 0, ["612.10", " 35.07", "654.94"]),
    # format(c(24.7406579949841, 5.92213765889808, 25.5917957216753), digits=4)
    ([24.7406579949841, 5.92213765889808, 25.5917957216753], 4, 0, ["24.741", " 5.922", "25.592"]),
    # format(c(0, 13.81), digits=4)
    ([0, 13.81], 4, 0, [" 0.00", "13.81"]),
    # format(c(1e-10, 1), digits=4)
    ([1e-10, 1], 4, 0, ["1e-10", "1e+00"]),
    # format(c(123456789, 1.5), digits=4)
    ([123456789, 1.5], 4, 0, ["1.235e+08", "1.500e+00"]),
    # format(1e5, digits=7); format(c(1e5, 123456), digits=7)
    ([1e5], 7, 0, ["1e+05"]),
    ([1e5, 123456], 7, 0, ["100000", "123456"]),
    # format(9996, digits=3)  (rounding would widen: stays fixed)
    ([9996], 3, 0, ["9996"]),
    # format(c(0.00001234, 123), digits=3)
    ([0.00001234, 123], 3, 0, ["1.23e-05", "1.23e+02"]),
    # format(c(2.5, 3.5, 0.125), digits=1)
    ([2.5, 3.5, 0.125], 1, 0, ["2.5", "3.5", "0.1"]),
    # format(c(-1, NA, 2.25), digits=3)
    ([-1, float("nan"), 2.25], 3, 0, ["-1.00", "   NA", " 2.25"]),
    ([-1, None, 2.25], 3, 0, ["-1.00", "   NA", " 2.25"]),
    ([-1, R_NA, 2.25], 3, 0, ["-1.00", "   NA", " 2.25"]),
    # format(c(1, NaN, Inf, -Inf), digits=3)
    ([1, R_NAN, math.inf, -math.inf], 3, 0, ["   1", " NaN", " Inf", "-Inf"]),
    # format(c(1, 0.5), nsmall=3); format(-0.0004, digits=1, nsmall=3)
    ([1, 0.5], 7, 3, ["1.000", "0.500"]),
    ([-0.0004], 1, 3, ["-4e-04"]),
    # format(1e100, digits=3); format(c(1e-300, 1), digits=2)
    ([1e100], 3, 0, ["1e+100"]),
    ([1e-300, 1], 2, 0, ["1e-300", " 1e+00"]),
])
def test_format_num(values, digits, nsmall, expected):
    assert format_num(values, digits, nsmall) == expected


@pytest.mark.parametrize("x, digits, expected", [
    (2.5, 0, 2.0),              # round(2.5)
    (-0.5, 0, 0.0),             # round(-0.5)
    (0.125, 2, 0.12),           # round(0.125, 2)
    (0.15, 1, 0.1),             # round(0.15, 1)
    (2.675, 2, 2.67),           # round(2.675, 2)
    (1234.5678, -2, 1200.0),    # round(1234.5678, -2)
    (1.23456, 2.6, 1.235),      # round(1.23456, 2.6): digits rounded to 3
    (5e-324, 400, 5e-324),      # round(5e-324, 400)
])
def test_round_r(x, digits, expected):
    assert round_r(x, digits) == expected


@pytest.mark.parametrize("x, digits, expected", [
    (123456, 2, 120000.0),      # signif(123456, 2)
    (0.000123456, 3, 0.000123),  # signif(0.000123456, 3)
    (-2.5, 1, -2.0),            # signif(-2.5, 1)
    # sprintf("%.17g", signif(1.5e300, 2)) and signif(1.5e-300, 2): R's large/small branch
    (1.5e300, 2, 1.500000000000001e+300),
    (1.5e-300, 2, 1.4999999999999991e-300),
])
def test_signif_r(x, digits, expected):
    assert signif_r(x, digits) == expected


def test_round_r_vectorised():
    assert list(round_r(np.array([0.125, 2.5]), 2)) == [0.12, 2.5]


def test_zapsmall_r42():
    # zapsmall(c(-2.0792336654783306, ...), 5) in R 4.2: 5 decimals because
    # digits - log10(max) = 4.53 is rounded, not ceiling()ed
    q = [-2.079233665478330551, -0.671396851014063656, 0.062922163829273667,
         0.583771205070324317, 2.979585805165335444]
    assert list(zapsmall(q, 5)) == [-2.07923, -0.6714, 0.06292, 0.58377, 2.97959]
    # zapsmall(c(1, 1e-20))
    assert list(zapsmall([1, 1e-20])) == [1.0, 0.0]
    # zapsmall(matrix(c(1, 1e-20, 1/3, -2), 2)): a matrix keeps its shape
    m = zapsmall(np.array([[1, 1 / 3], [1e-20, -2]]))
    assert m.shape == (2, 2) and m.tolist() == [[1.0, 0.3333333], [0.0, -2.0]]
    assert zapsmall(np.zeros((0, 3))).shape == (0, 3)


@pytest.mark.parametrize("level, expected", [
    (0.95, ["2.5 %", "97.5 %"]),  # stats:::format.perc(c(0.025, 0.975), 3)
    (0.9, ["5 %", "95 %"]),
    (0.99, ["0.5 %", "99.5 %"]),
    (0.975, ["1.25 %", "98.75 %"]),  # formatted together: not "98.8 %"
    (0.999, ["0.05 %", "99.95 %"]),
    (0.99999, ["0.0005 %", "99.9995 %"]),  # scientific = FALSE: not "5e-04 %"
])
def test_percent_labels(level, expected):
    assert percent_labels(level) == expected
    a = (1 - level) / 2
    assert format_perc([a, 1 - a]) == expected


@pytest.mark.parametrize("pv, digits, expected", [
    # format.pval(c(1.17155811120826e-17, 3.26382446992738e-06), digits=3)
    ([1.17155811120826e-17, 3.26382446992738e-06], 3, ["< 2e-16", "3.26e-06"]),
    # format.pval(c(1e-17, 1e-20), digits=3)
    ([1e-17, 1e-20], 3, ["<2e-16", "<2e-16"]),
    # format.pval(c(0.001068, 0.000474, 1.47e-09), digits=3)
    ([0.001068, 0.000474, 1.47e-09], 3, ["0.001068", "0.000474", "1.47e-09"]),
    # format.pval(c(0.5, NA, 1e-20), digits=3)
    ([0.5, R_NA, 1e-20], 3, ["0.5", "NA", "<2e-16"]),
    # format.pval(c(0.5, NaN)): is.na(NaN) is TRUE too
    ([0.5, R_NAN], 3, ["0.5", "NA"]),
    # format.pval(c(0.05, 0.0001234), digits=1)
    ([0.05, 0.0001234], 1, ["0.05", "1e-04"]),
    # format.pval(1e-300, digits=4)
    ([1e-300], 4, ["< 2.2e-16"]),
    # format.pval(7.07241254723003e-10, digits=4)
    ([7.07241254723003e-10], 4, ["7.072e-10"]),
])
def test_format_pval(pv, digits, expected):
    assert format_pval(pv, digits, eps=DBL_EPSILON) == expected


def test_signif_stars_cutpoints():
    # symnum(c(0, .001, .0011, .01, .05, .1, .5, 1, NA), corr=FALSE, na=FALSE,
    #        cutpoints=c(0,.001,.01,.05,.1,1), symbols=c("***","**","*","."," "))
    assert signif_stars([0, .001, .0011, .01, .05, .1, .5, 1, float("nan")]) == \
        ["***", "***", "**", "**", "*", ".", " ", " ", ""]


@pytest.mark.parametrize("names, minlength, expected", [
    # abbreviate(c("(Intercept)","recipeB","recipeC","temp","recipeB:temp","recipeC:temp"), 6)
    (["(Intercept)", "recipeB", "recipeC", "temp", "recipeB:temp", "recipeC:temp"], 6,
     ["(Intr)", "recipB", "recipC", "temp", "rcpB:t", "rcpC:t"]),
    # ... minlength = 11
    (["(Intercept)", "recipeB", "recipeC", "temp", "recipeB:temp", "recipeC:temp"], 11,
     ["(Intercept)", "recipeB", "recipeC", "temp", "recipeB:tmp", "recipeC:tmp"]),
    # abbreviate(c("(Intercept)", "period2", "period3", "period4"), 6)
    (["(Intercept)", "period2", "period3", "period4"], 6, ["(Intr)", "perid2", "perid3", "perid4"]),
    # abbreviate(c("covariate_number_10","covariate_number_11",
    #              "a_really_long_predictor_name_for_testing"), 6) and 11
    (["covariate_number_10", "covariate_number_11", "a_really_long_predictor_name_for_testing"], 6,
     ["cv__10", "cv__11", "a_____"]),
    (["covariate_number_10", "covariate_number_11", "a_really_long_predictor_name_for_testing"], 11,
     ["cvrt_nmb_10", "cvrt_nmb_11", "a_rlly_____"]),
    # abbreviate(c("sex male", "age group", "age groups"), 4): collisions lengthen
    (["sex male", "age group", "age groups"], 4, ["sxml", "aggrop", "aggrps"]),
    # abbreviate(c("abcdef", "abcdeg"), 3)
    (["abcdef", "abcdeg"], 3, ["abcdf", "abcdg"]),
])
def test_abbreviate(names, minlength, expected):
    assert abbreviate(names, minlength) == expected


def test_strwrap():
    # strwrap("Linear mixed model fit by maximum likelihood . t-tests use
    #          Satterthwaite's method", width=78, exdent=2)
    assert strwrap("Linear mixed model fit by maximum likelihood . t-tests use "
                   "Satterthwaite's method", 78, exdent=2) == [
        "Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's",
        "  method"]
    # strwrap("Generalized linear mixed model fit by maximum likelihood (Adaptive
    #          Gauss-Hermite Quadrature, nAGQ = 9)", width=78, exdent=2)
    assert strwrap("Generalized linear mixed model fit by maximum likelihood (Adaptive "
                   "Gauss-Hermite Quadrature, nAGQ = 9)", 78, exdent=2) == [
        "Generalized linear mixed model fit by maximum likelihood (Adaptive",
        "  Gauss-Hermite Quadrature, nAGQ = 9)"]


def test_deparse_formula():
    # deparse(y ~ x*z + I(x^2) + poly(x, 2) + (1|g/h) + (x||g2) + offset(log(n)) - 1)
    assert deparse_formula("y~x*z+I(x^2)+poly(x,2)+(1|g/h)+(x||g2)+offset(log(n))-1") == [
        "y ~ x * z + I(x^2) + poly(x, 2) + (1 | g/h) + (x || g2) + offset(log(n)) - ", "    1"]
    # deparse(y ~ a_very_long_variable_name_number_one + another_quite_long_name +
    #         (1 | Subject_with_a_long_grouping_factor_name))
    assert deparse_formula("y ~ a_very_long_variable_name_number_one + another_quite_long_name"
                           " + (1 | Subject_with_a_long_grouping_factor_name)") == [
        "y ~ a_very_long_variable_name_number_one + another_quite_long_name + ",
        "    (1 | Subject_with_a_long_grouping_factor_name)"]
    # deparse(y ~ x + 1e5 + 0.10)
    assert deparse_formula("y ~ x + 100000 + 0.10") == ["y ~ x + 1e+05 + 0.1"]
    # text the parser does not know is kept as is
    assert deparse_formula("y ~ x[1]") == ["y ~ x[1]"]


def test_cat_fill():
    # capture.output(cat("Number of obs: 180, groups: ", "<52 a>, 18", fill=TRUE))
    long = "a" * 52 + ", 18"
    assert cat_fill(["Number of obs: 180, groups: ", long]) == \
        "Number of obs: 180, groups:  \n" + long + "\n"
    # capture.output(cat("Linear mixed ... method", " [", "lmerModLmerTest", "]", sep="", fill=TRUE))
    assert cat_fill(["Linear mixed model fit by REML. t-tests use Satterthwaite's method",
                     " [", "lmerModLmerTest", "]"], sep="") == \
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\nlmerModLmerTest]\n"


def test_r_quantile_is_numpy_linear():
    # unname(quantile(c(3, 1, 4, 1, 5, 9, 2, 6))): R's default type 7 is numpy's method="linear"
    probs = (0.0, 0.25, 0.5, 0.75, 1.0)
    assert list(np.nanquantile([3, 1, 4, 1, 5, 9, 2, 6], probs, method="linear")) == [1, 1.75, 3.5, 5.25, 9]
    assert list(np.nanquantile([2.0, float("nan"), 1.0], probs, method="linear")) == [1, 1.25, 1.5, 1.75, 2]


def test_print_named_vector():
    # print(c(Min=-3.95356734536703, `1Q`=-0.463397683127066, Median=0.0231176647794387), digits=4)
    assert print_named_vector([-3.95356734536703, -0.463397683127066, 0.0231176647794387],
                              ["Min", "1Q", "Median"], digits=4) == \
        "     Min       1Q   Median \n-3.95357 -0.46340  0.02312 \n"


def test_print_char_matrix():
    # x <- matrix(c("a","bb","ccc","d"), 2, dimnames=list(c("r1","row2"), c("A","Bcol")))
    cells = [["a", "ccc"], ["bb", "d"]]
    # print(x, quote=FALSE)
    assert print_char_matrix(cells, ["r1", "row2"], ["A", "Bcol"]) == \
        "     A  Bcol\nr1   a  ccc \nrow2 bb d   \n"
    # print(x, quote=FALSE, right=TRUE)
    assert print_char_matrix(cells, ["r1", "row2"], ["A", "Bcol"], right=True) == \
        "      A Bcol\nr1    a  ccc\nrow2 bb    d\n"


def test_print_coefmat_na_nan():
    # cf <- cbind(Estimate=c(1.5,-0.25), `Std. Error`=c(.5,.1), df=c(NaN,10),
    #             `t value`=c(3,-2.5), `Pr(>|t|)`=c(NA,0.0314)); printCoefmat(cf, digits=4)
    cf = pd.DataFrame({"Estimate": [1.5, -0.25], "Std. Error": [0.5, 0.1], "df": [R_NAN, 10],
                       "t value": [3, -2.5], "Pr(>|t|)": [float("nan"), 0.0314]},
                      index=["(Intercept)", "x"])
    assert print_coefmat(cf, digits=4) == (
        "            Estimate Std. Error    df t value Pr(>|t|)  \n"
        "(Intercept)     1.50       0.50   NaN     3.0       NA  \n"
        "x              -0.25       0.10 10.00    -2.5   0.0314 *\n"
        "---\n"
        "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1\n")


def test_print_coefmat_scientific_and_no_stars():
    # cf2 <- cbind(Estimate=c(1e-8,2), `Std. Error`=c(1e-9,.5), `t value`=c(10,4)); printCoefmat(cf2, digits=4)
    cf2 = pd.DataFrame({"Estimate": [1e-8, 2], "Std. Error": [1e-9, 0.5], "t value": [10, 4]},
                       index=["a", "b"])
    assert print_coefmat(cf2, digits=4) == (
        "  Estimate Std. Error t value\n"
        "a    1e-08      1e-09      10\n"
        "b    2e+00      5e-01       4\n")
    # cf3 <- cbind(Estimate=c(.5,.2), `Std. Error`=c(.1,.3), `z value`=c(5,.66), `Pr(>|z|)`=c(.2,.5))
    cf3 = pd.DataFrame({"Estimate": [0.5, 0.2], "Std. Error": [0.1, 0.3], "z value": [5, 0.66],
                        "Pr(>|z|)": [0.2, 0.5]}, index=["a", "b"])
    assert print_coefmat(cf3, digits=4) == (
        "  Estimate Std. Error z value Pr(>|z|)\n"
        "a      0.5        0.1    5.00      0.2\n"
        "b      0.2        0.3    0.66      0.5\n")


# ---------------------------------------------------------------------------
# Further summaries printed by R: other ddf, ML, p = 0, p > 12, 3 correlated terms,
# 11 groups, long names (wrapped tables), a GLMM with a scale, fit warnings
# ---------------------------------------------------------------------------
# Printed by R 4.2.2 / lme4 1.1-31 / lmerTest 3.1-3 (print(summary(m, ddf=...)));
# numbers as stored in the fitted objects, quartiles = quantile(scaled residuals).
R_PRINTED_CASES = [
    {'tag': 'ss_slope_kr',
     'glmm': False,
     'reml': True,
     'ddf': 'Kenward-Roger',
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data': 'ss',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'REML': 1743.62827195995},
     'quartiles': [-3.95356734536703,
                   -0.463397683127066,
                   0.02311766477943865,
                   0.46340207815026696,
                   5.17926037341145],
     'groups': [['Subject',
                 ['(Intercept)', 'Days'],
                 [24.7406579949841, 5.92213765889808],
                 [[1.0, 0.0655512382381282], [0.0655512382381282, 1.0]]]],
     'sigma': 25.5917957216753,
     'nobs': 180,
     'ngrps': [('Subject', 18)],
     'coefnames': ['(Intercept)', 'Days'],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [[251.405104848485, 6.82459669495491, 17.0, 36.8380896462844, 1.17100331571078e-17],
              [10.467285959596,
               1.54578964390598,
               17.0000000000005,
               6.77148148899917,
               3.26380801814764e-06]],
     'corr': [[1.0, -0.137552], [-0.137552, 1.0]],
     'messages': [],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by REML. t-tests use Kenward-Roger's method [\n"
         'lmerModLmerTest]\n'
         'Formula: Reaction ~ Days + (Days | Subject)\n'
         '   Data: ss\n'
         '\n'
         'REML criterion at convergence: 1743.6\n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-3.9536 -0.4634  0.0231  0.4634  5.1793 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev. Corr\n'
         ' Subject  (Intercept) 612.10   24.741       \n'
         '          Days         35.07    5.922   0.07\n'
         ' Residual             654.94   25.592       \n'
         'Number of obs: 180, groups:  Subject, 18\n'
         '\n'
         'Fixed effects:\n'
         '            Estimate Std. Error      df t value Pr(>|t|)    \n'
         '(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***\n'
         'Days          10.467      1.546  17.000   6.771 3.26e-06 ***\n'
         '---\n'
         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
         '\n'
         'Correlation of Fixed Effects:\n'
         '     (Intr)\n'
         'Days -0.138')},
    {'tag': 'ss_slope_ml_lme4',
     'glmm': False,
     'reml': False,
     'ddf': 'lme4',
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data': 'ss',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'AIC': 1763.93934448899,
                'BIC': 1783.09708559433,
                'logLik': -875.969672244495,
                'deviance': 1751.93934448899,
                'df.resid': 174.0},
     'quartiles': [-3.94155241672159,
                   -0.46558937562800823,
                   0.0289447552658257,
                   0.4636144653967442,
                   5.17932342919295],
     'groups': [['Subject',
                 ['(Intercept)', 'Days'],
                 [23.779759589458, 5.71679851392829],
                 [[1.0, 0.0813210934266345], [0.0813210934266345, 1.0]]]],
     'sigma': 25.591907036487,
     'nobs': 180,
     'ngrps': [('Subject', 18)],
     'coefnames': ['(Intercept)', 'Days'],
     'colnames': ['Estimate', 'Std. Error', 't value'],
     'coef': [[251.405104848486, 6.63212274219029, 37.9071851685088],
              [10.4672859595958, 1.50223021383204, 6.9678308046373]],
     'corr': [[1.0, -0.13756], [-0.13756, 1.0]],
     'messages': [],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
         'Formula: Reaction ~ Days + (Days | Subject)\n'
         '   Data: ss\n'
         '\n'
         '     AIC      BIC   logLik deviance df.resid \n'
         '  1763.9   1783.1   -876.0   1751.9      174 \n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-3.9416 -0.4656  0.0289  0.4636  5.1793 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev. Corr\n'
         ' Subject  (Intercept) 565.48   23.780       \n'
         '          Days         32.68    5.717   0.08\n'
         ' Residual             654.95   25.592       \n'
         'Number of obs: 180, groups:  Subject, 18\n'
         '\n'
         'Fixed effects:\n'
         '            Estimate Std. Error t value\n'
         '(Intercept)  251.405      6.632  37.907\n'
         'Days          10.467      1.502   6.968\n'
         '\n'
         'Correlation of Fixed Effects:\n'
         '     (Intr)\n'
         'Days -0.138')},
    {'tag': 'ss_noint',
     'glmm': False,
     'reml': False,
     'ddf': 'Satterthwaite',
     'formula': 'Reaction ~ 0 + (1 | Subject)',
     'data': 'ss',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'AIC': 1989.679690943,
                'BIC': 1996.06560464478,
                'logLik': -992.839845471499,
                'deviance': 1985.679690943,
                'df.resid': 178.0},
     'quartiles': [-2.59865583544066,
                   -0.540928475643357,
                   -0.0705093415481613,
                   0.535096977665528,
                   3.33321489400353],
     'groups': [['Subject', ['(Intercept)'], [300.505237400923], None]],
     'sigma': 44.2590690372944,
     'nobs': 180,
     'ngrps': [('Subject', 18)],
     'coefnames': [],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [],
     'corr': None,
     'messages': [],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's\n"
         '  method [lmerModLmerTest]\n'
         'Formula: Reaction ~ 0 + (1 | Subject)\n'
         '   Data: ss\n'
         '\n'
         '     AIC      BIC   logLik deviance df.resid \n'
         '  1989.7   1996.1   -992.8   1985.7      178 \n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-2.5987 -0.5409 -0.0705  0.5351  3.3332 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev.\n'
         ' Subject  (Intercept) 90303    300.51  \n'
         ' Residual              1959     44.26  \n'
         'Number of obs: 180, groups:  Subject, 18')},
    {'tag': 'three_terms',
     'glmm': False,
     'reml': True,
     'ddf': 'Satterthwaite',
     'formula': 'Reaction ~ Days + (Days + Days2 | Subject) + (1 | Days)',
     'data': 'ss',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'REML': 1730.00768607902},
     'quartiles': [-4.50851119762137,
                   -0.4164617680598235,
                   0.0299759289192199,
                   0.47340104366055125,
                   4.89967355928853],
     'groups': [['Subject',
                 ['(Intercept)', 'Days', 'Days2'],
                 [28.2800888371718, 14.4379549443038, 1.43971433240588],
                 [[1.0, -0.404250862286244, 0.449259274043909],
                  [-0.404250862286244, 1.0, -0.907698461814623],
                  [0.449259274043909, -0.907698461814623, 1.0]]],
                ['Days', ['(Intercept)'], [0.0], None]],
     'sigma': 22.7626764830536,
     'nobs': 180,
     'ngrps': [('Subject', 18), ('Days', 10)],
     'coefnames': ['(Intercept)', 'Days'],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [[252.13139183375,
               6.76614379122719,
               16.9943262469627,
               37.2636762701758,
               9.75049910005563e-18],
              [10.4907802523071,
               1.54547566903625,
               17.0015200079125,
               6.78805914741388,
               3.16294819781683e-06]],
     'corr': [[1.0, -0.141316], [-0.141316, 1.0]],
     'messages': ['optimizer (nloptwrap) convergence code: 0 (OK)',
                  "boundary (singular) fit: see help('isSingular')"],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
         'lmerModLmerTest]\n'
         'Formula: Reaction ~ Days + (Days + Days2 | Subject) + (1 | Days)\n'
         '   Data: ss\n'
         '\n'
         'REML criterion at convergence: 1730\n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-4.5085 -0.4165  0.0300  0.4734  4.8997 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev. Corr       \n'
         ' Subject  (Intercept) 799.763  28.28               \n'
         '          Days        208.455  14.44    -0.40      \n'
         '          Days2         2.073   1.44     0.45 -0.91\n'
         ' Days     (Intercept)   0.000   0.00               \n'
         ' Residual             518.139  22.76               \n'
         'Number of obs: 180, groups:  Subject, 18; Days, 10\n'
         '\n'
         'Fixed effects:\n'
         '            Estimate Std. Error      df t value Pr(>|t|)    \n'
         '(Intercept)  252.131      6.766  16.994  37.264  < 2e-16 ***\n'
         'Days          10.491      1.545  17.002   6.788 3.16e-06 ***\n'
         '---\n'
         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
         '\n'
         'Correlation of Fixed Effects:\n'
         '     (Intr)\n'
         'Days -0.141\n'
         'optimizer (nloptwrap) convergence code: 0 (OK)\n'
         "boundary (singular) fit: see help('isSingular')\n"
         '')},
    {'tag': 'many_groups',
     'glmm': False,
     'reml': True,
     'ddf': 'Satterthwaite',
     'formula': 'y ~ 1 + (1 | factor_1) + (1 | factor_2) + (1 | factor_3) + (1 |      factor_4) + (1 | '
                'factor_5) + (1 | factor_6) + (1 | factor_7) +      (1 | factor_8) + (1 | factor_9) + '
                '(1 | factor_10) + (1 |      factor_11)',
     'data': 'dg',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'REML': 836.32554721587},
     'quartiles': [-2.90133324462749,
                   -0.7468819177027995,
                   0.032006486233082596,
                   0.692267650031981,
                   2.36191125692794],
     'groups': [['factor_1', ['(Intercept)'], [0.0941223493620867], None],
                ['factor_2', ['(Intercept)'], [0.0], None],
                ['factor_3', ['(Intercept)'], [0.0], None],
                ['factor_4', ['(Intercept)'], [0.13436746600516], None],
                ['factor_5', ['(Intercept)'], [0.0], None],
                ['factor_6', ['(Intercept)'], [0.0], None],
                ['factor_7', ['(Intercept)'], [0.0370914137911169], None],
                ['factor_8', ['(Intercept)'], [0.0], None],
                ['factor_9', ['(Intercept)'], [0.0126587079123459], None],
                ['factor_10', ['(Intercept)'], [0.0], None],
                ['factor_11', ['(Intercept)'], [0.073935684548533], None]],
     'sigma': 0.957920710978742,
     'nobs': 300,
     'ngrps': [('factor_1', 8),
               ('factor_2', 8),
               ('factor_3', 8),
               ('factor_4', 8),
               ('factor_5', 8),
               ('factor_6', 8),
               ('factor_7', 8),
               ('factor_8', 8),
               ('factor_9', 8),
               ('factor_10', 8),
               ('factor_11', 8)],
     'coefnames': ['(Intercept)'],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [[-0.0524418872009542,
               0.0856472164381804,
               4.49610519658516,
               -0.612301127600643,
               0.569965184196348]],
     'corr': [[1.0]],
     'messages': ['optimizer (nloptwrap) convergence code: 0 (OK)',
                  "boundary (singular) fit: see help('isSingular')"],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
         'lmerModLmerTest]\n'
         'Formula: y ~ 1 + (1 | factor_1) + (1 | factor_2) + (1 | factor_3) + (1 |  \n'
         '    factor_4) + (1 | factor_5) + (1 | factor_6) + (1 | factor_7) +  \n'
         '    (1 | factor_8) + (1 | factor_9) + (1 | factor_10) + (1 |      factor_11)\n'
         '   Data: dg\n'
         '\n'
         'REML criterion at convergence: 836.3\n'
         '\n'
         'Scaled residuals: \n'
         '     Min       1Q   Median       3Q      Max \n'
         '-2.90133 -0.74688  0.03201  0.69227  2.36191 \n'
         '\n'
         'Random effects:\n'
         ' Groups    Name        Variance  Std.Dev.\n'
         ' factor_1  (Intercept) 0.0088590 0.09412 \n'
         ' factor_2  (Intercept) 0.0000000 0.00000 \n'
         ' factor_3  (Intercept) 0.0000000 0.00000 \n'
         ' factor_4  (Intercept) 0.0180546 0.13437 \n'
         ' factor_5  (Intercept) 0.0000000 0.00000 \n'
         ' factor_6  (Intercept) 0.0000000 0.00000 \n'
         ' factor_7  (Intercept) 0.0013758 0.03709 \n'
         ' factor_8  (Intercept) 0.0000000 0.00000 \n'
         ' factor_9  (Intercept) 0.0001602 0.01266 \n'
         ' factor_10 (Intercept) 0.0000000 0.00000 \n'
         ' factor_11 (Intercept) 0.0054665 0.07394 \n'
         ' Residual              0.9176121 0.95792 \n'
         'Number of obs: 300, groups:  \n'
         'factor_1, 8; factor_2, 8; factor_3, 8; factor_4, 8; factor_5, 8; factor_6, 8; factor_7, 8; factor_8, 8; factor_9, 8; factor_10, 8; factor_11, 8\n'
         '\n'
         'Fixed effects:\n'
         '            Estimate Std. Error       df t value Pr(>|t|)\n'
         '(Intercept) -0.05244    0.08565  4.49611  -0.612     0.57\n'
         'optimizer (nloptwrap) convergence code: 0 (OK)\n'
         "boundary (singular) fit: see help('isSingular')\n"
         '')},
    {'tag': 'longnames',
     'glmm': False,
     'reml': True,
     'ddf': 'Satterthwaite',
     'formula': 'Reaction ~ a_really_long_predictor_name_for_testing + '
                '(a_really_long_predictor_name_for_testing |      another_long_grouping_variable_name)',
     'data': 'lx',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'REML': 1743.62827195995},
     'quartiles': [-3.95356734536703,
                   -0.463397683127066,
                   0.02311766477943865,
                   0.46340207815026696,
                   5.17926037341145],
     'groups': [['another_long_grouping_variable_name',
                 ['(Intercept)', 'a_really_long_predictor_name_for_testing'],
                 [24.7406579949841, 5.92213765889808],
                 [[1.0, 0.0655512382381282], [0.0655512382381282, 1.0]]]],
     'sigma': 25.5917957216753,
     'nobs': 180,
     'ngrps': [('another_long_grouping_variable_name', 18)],
     'coefnames': ['(Intercept)', 'a_really_long_predictor_name_for_testing'],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [[251.405104848485,
               6.82459669495491,
               16.9997262884927,
               36.8380896462844,
               1.17155811120826e-17],
              [10.467285959596,
               1.54578964390598,
               16.9999837255917,
               6.77148148899918,
               3.26382446992738e-06]],
     'corr': [[1.0, -0.137552], [-0.137552, 1.0]],
     'messages': [],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
         'lmerModLmerTest]\n'
         'Formula: \n'
         'Reaction ~ a_really_long_predictor_name_for_testing + (a_really_long_predictor_name_for_testing |  \n'
         '    another_long_grouping_variable_name)\n'
         '   Data: lx\n'
         '\n'
         'REML criterion at convergence: 1743.6\n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-3.9536 -0.4634  0.0231  0.4634  5.1793 \n'
         '\n'
         'Random effects:\n'
         ' Groups                              Name                                    \n'
         ' another_long_grouping_variable_name (Intercept)                             \n'
         '                                     a_really_long_predictor_name_for_testing\n'
         ' Residual                                                                    \n'
         ' Variance Std.Dev. Corr\n'
         ' 612.10   24.741       \n'
         '  35.07    5.922   0.07\n'
         ' 654.94   25.592       \n'
         'Number of obs: 180, groups:  another_long_grouping_variable_name, 18\n'
         '\n'
         'Fixed effects:\n'
         '                                         Estimate Std. Error      df t value\n'
         '(Intercept)                               251.405      6.825  17.000  36.838\n'
         'a_really_long_predictor_name_for_testing   10.467      1.546  17.000   6.771\n'
         '                                         Pr(>|t|)    \n'
         '(Intercept)                               < 2e-16 ***\n'
         'a_really_long_predictor_name_for_testing 3.26e-06 ***\n'
         '---\n'
         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
         '\n'
         'Correlation of Fixed Effects:\n'
         '            (Intr)\n'
         'a_rlly_____ -0.138')},
    {'tag': 'gamma',
     'glmm': True,
     'reml': False,
     'ddf': 'Satterthwaite',
     'formula': 'y ~ x + (1 | grp)',
     'data': 'gm',
     'family': 'Gamma',
     'link': 'log',
     'nagq': 1,
     'aictab': {'AIC': 1015.4504056669,
                'BIC': 1030.26553556552,
                'logLik': -503.725202833449,
                'deviance': 1007.4504056669,
                'df.resid': 296.0},
     'quartiles': [-1.34033941926431,
                   -0.7212566067762012,
                   -0.1833994826389955,
                   0.44653225632531074,
                   4.62892136659858],
     'groups': [['grp', ['(Intercept)'], [0.0730327220004548], None]],
     'sigma': 0.701872887546812,
     'nobs': 300,
     'ngrps': [('grp', 20)],
     'coefnames': ['(Intercept)', 'x'],
     'colnames': ['Estimate', 'Std. Error', 't value', 'Pr(>|z|)'],
     'coef': [[0.773274424507954, 0.0468235254870494, 16.5146561790147, 2.87796418368105e-61],
              [-0.047711993118675, 0.0427182717410641, -1.11689895620966, 0.264037530980551]],
     'corr': [[1.0, 0.005301], [0.005301, 1.0]],
     'messages': [],
     'fitmsgs': [],
     'text': (
         'Generalized linear mixed model fit by maximum likelihood (Laplace\n'
         '  Approximation) [glmerMod]\n'
         ' Family: Gamma  ( log )\n'
         'Formula: y ~ x + (1 | grp)\n'
         '   Data: gm\n'
         '\n'
         '     AIC      BIC   logLik deviance df.resid \n'
         '  1015.5   1030.3   -503.7   1007.5      296 \n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-1.3403 -0.7213 -0.1834  0.4465  4.6289 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev.\n'
         ' grp      (Intercept) 0.005334 0.07303 \n'
         ' Residual             0.492626 0.70187 \n'
         'Number of obs: 300, groups:  grp, 20\n'
         '\n'
         'Fixed effects:\n'
         '            Estimate Std. Error t value Pr(>|z|)    \n'
         '(Intercept)  0.77327    0.04682  16.515   <2e-16 ***\n'
         'x           -0.04771    0.04272  -1.117    0.264    \n'
         '---\n'
         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
         '\n'
         'Correlation of Fixed Effects:\n'
         '  (Intr)\n'
         'x 0.005 ')},
    {'tag': 'rankdef',
     'glmm': False,
     'reml': True,
     'ddf': 'Satterthwaite',
     'formula': 'Reaction ~ Days + Dc + (1 | Subject)',
     'data': 'ss',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'REML': 1786.46508539492},
     'quartiles': [-3.22567073988228,
                   -0.552878824209416,
                   0.010852100563746076,
                   0.5187971297020082,
                   4.25061622037732],
     'groups': [['Subject', ['(Intercept)'], [37.1238267667686], None]],
     'sigma': 30.9912338986441,
     'nobs': 180,
     'ngrps': [('Subject', 18)],
     'coefnames': ['(Intercept)', 'Days'],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [[251.405104848484,
               9.74671626920939,
               22.8101989552553,
               25.7938261363668,
               2.24135095934467e-18],
              [10.467285959596,
               0.80422142894524,
               161.000000054592,
               13.0154278198283,
               6.41260123102367e-27]],
     'corr': [[1.0, -0.371304], [-0.371304, 1.0]],
     'messages': [],
     'fitmsgs': ['fixed-effect model matrix is rank deficient so dropping 1 column / coefficient'],
     'text': (
         "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
         'lmerModLmerTest]\n'
         'Formula: Reaction ~ Days + Dc + (1 | Subject)\n'
         '   Data: ss\n'
         '\n'
         'REML criterion at convergence: 1786.5\n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-3.2257 -0.5529  0.0109  0.5188  4.2506 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev.\n'
         ' Subject  (Intercept) 1378.2   37.12   \n'
         ' Residual              960.5   30.99   \n'
         'Number of obs: 180, groups:  Subject, 18\n'
         '\n'
         'Fixed effects:\n'
         '            Estimate Std. Error       df t value Pr(>|t|)    \n'
         '(Intercept) 251.4051     9.7467  22.8102   25.79   <2e-16 ***\n'
         'Days         10.4673     0.8042 161.0000   13.02   <2e-16 ***\n'
         '---\n'
         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
         '\n'
         'Correlation of Fixed Effects:\n'
         '     (Intr)\n'
         'Days -0.371\n'
         'fit warnings:\n'
         'fixed-effect model matrix is rank deficient so dropping 1 column / coefficient')},
    {'tag': 'many_p',
     'glmm': False,
     'reml': True,
     'ddf': 'Satterthwaite',
     'formula': 'Reaction ~ Days + covariate_number_1 + covariate_number_2 + covariate_number_3 +      '
                'covariate_number_4 + covariate_number_5 + covariate_number_6 +      '
                'covariate_number_7 + covariate_number_8 + covariate_number_9 +      '
                'covariate_number_10 + covariate_number_11 + covariate_number_12 +      (1 | Subject)',
     'data': 'd',
     'family': 'gaussian',
     'link': 'identity',
     'nagq': 1,
     'aictab': {'REML': 1733.2764349473},
     'quartiles': [-3.24622285553324,
                   -0.606488449626216,
                   0.0847643343311845,
                   0.4957829604652291,
                   3.74082949145303],
     'groups': [['Subject', ['(Intercept)'], [37.4210475329982], None]],
     'sigma': 31.2392809237293,
     'nobs': 180,
     'ngrps': [('Subject', 18)],
     'coefnames': ['(Intercept)',
                   'Days',
                   'covariate_number_1',
                   'covariate_number_2',
                   'covariate_number_3',
                   'covariate_number_4',
                   'covariate_number_5',
                   'covariate_number_6',
                   'covariate_number_7',
                   'covariate_number_8',
                   'covariate_number_9',
                   'covariate_number_10',
                   'covariate_number_11',
                   'covariate_number_12'],
     'colnames': ['Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'],
     'coef': [[252.550090221298,
               9.93377065778898,
               23.6658946729424,
               25.4233864381876,
               1.08768276879101e-18],
              [10.4041765746878,
               0.847279642424815,
               149.355346255708,
               12.2795073240663,
               2.1162874817079e-24],
              [-1.06158193605444,
               2.38011764701057,
               151.286791585163,
               -0.446020782791048,
               0.656219916854318],
              [2.53777965820386, 2.47914847010078, 152.49975354235, 1.02364972844918, 0.30762180614512],
              [5.00388726064269,
               2.72923271639091,
               151.102427762664,
               1.83344103659279,
               0.0687047385837481],
              [3.59450267797784, 2.5585125529511, 150.81452563816, 1.4049189142464, 0.162101773431482],
              [0.518156664514399,
               2.4691311957671,
               152.21800254458,
               0.209853840655648,
               0.834062366477582],
              [-0.0364763422045749,
               2.70358255463118,
               150.843541397008,
               -0.0134918544070688,
               0.98925321220574],
              [-0.187873450195428,
               2.57800858623486,
               151.443030561596,
               -0.0728754167843228,
               0.942001416848166],
              [-2.05639162896592,
               2.44121105816752,
               150.653347297215,
               -0.842365358818888,
               0.400918761023384],
              [2.72040296818145,
               2.44573829249785,
               151.376664371358,
               1.11230337952597,
               0.267771059835597],
              [1.08649738490342,
               2.58115472427454,
               150.878622821643,
               0.420934620728244,
               0.674401810467774],
              [-0.61268827385615,
               2.51125326234889,
               151.54583632299,
               -0.243977094243006,
               0.807578544380555],
              [1.42910876781239,
               2.5767541014223,
               150.36710840092,
               0.554615889433749,
               0.57998141737505]],
     'corr': None,
     'messages': [],
     'fitmsgs': [],
     'text': (
         "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
         'lmerModLmerTest]\n'
         'Formula: \n'
         'Reaction ~ Days + covariate_number_1 + covariate_number_2 + covariate_number_3 +  \n'
         '    covariate_number_4 + covariate_number_5 + covariate_number_6 +  \n'
         '    covariate_number_7 + covariate_number_8 + covariate_number_9 +  \n'
         '    covariate_number_10 + covariate_number_11 + covariate_number_12 +  \n'
         '    (1 | Subject)\n'
         '   Data: d\n'
         '\n'
         'REML criterion at convergence: 1733.3\n'
         '\n'
         'Scaled residuals: \n'
         '    Min      1Q  Median      3Q     Max \n'
         '-3.2462 -0.6065  0.0848  0.4958  3.7408 \n'
         '\n'
         'Random effects:\n'
         ' Groups   Name        Variance Std.Dev.\n'
         ' Subject  (Intercept) 1400.3   37.42   \n'
         ' Residual              975.9   31.24   \n'
         'Number of obs: 180, groups:  Subject, 18\n'
         '\n'
         'Fixed effects:\n'
         '                     Estimate Std. Error        df t value Pr(>|t|)    \n'
         '(Intercept)         252.55009    9.93377  23.66589  25.423   <2e-16 ***\n'
         'Days                 10.40418    0.84728 149.35535  12.280   <2e-16 ***\n'
         'covariate_number_1   -1.06158    2.38012 151.28679  -0.446   0.6562    \n'
         'covariate_number_2    2.53778    2.47915 152.49975   1.024   0.3076    \n'
         'covariate_number_3    5.00389    2.72923 151.10243   1.833   0.0687 .  \n'
         'covariate_number_4    3.59450    2.55851 150.81453   1.405   0.1621    \n'
         'covariate_number_5    0.51816    2.46913 152.21800   0.210   0.8341    \n'
         'covariate_number_6   -0.03648    2.70358 150.84354  -0.013   0.9893    \n'
         'covariate_number_7   -0.18787    2.57801 151.44303  -0.073   0.9420    \n'
         'covariate_number_8   -2.05639    2.44121 150.65335  -0.842   0.4009    \n'
         'covariate_number_9    2.72040    2.44574 151.37666   1.112   0.2678    \n'
         'covariate_number_10   1.08650    2.58115 150.87862   0.421   0.6744    \n'
         'covariate_number_11  -0.61269    2.51125 151.54584  -0.244   0.8076    \n'
         'covariate_number_12   1.42911    2.57675 150.36711   0.555   0.5800    \n'
         '---\n'
         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1')},
]


def _summary_from_literal(c: dict):
    groups = [VarCorrGroup(n, t, np.array(sd), None if cr is None else np.array(cr))
              for n, t, sd, cr in c["groups"]]
    coef = pd.DataFrame(np.array(c["coef"], dtype=float).reshape(len(c["coefnames"]), len(c["colnames"])),
                        index=c["coefnames"], columns=c["colnames"])
    corr = None if c["corr"] is None else np.array(c["corr"])
    a = c["aictab"]
    if c["glmm"]:
        return GlmerSummary(
            family=c["family"], link=c["link"], nagq=c["nagq"], formula=c["formula"],
            data_name=c["data"], aic=a["AIC"], bic=a["BIC"], loglik=a["logLik"],
            deviance=a["deviance"], df_resid=a["df.resid"],
            scaled_residuals=np.array(c["quartiles"]), varcorr=groups, nobs=c["nobs"],
            ngroups=c["ngrps"], coef=coef, corr_fixef=corr, messages=c["messages"],
            residual_sd=c["sigma"], fit_warnings=c["fitmsgs"])
    return LmerSummary(
        reml=c["reml"], ddf=c["ddf"], formula=c["formula"], data_name=c["data"],
        reml_criterion=a.get("REML"), aic=a.get("AIC"), bic=a.get("BIC"), loglik=a.get("logLik"),
        deviance=a.get("deviance"), df_resid=a.get("df.resid"),
        scaled_residuals=np.array(c["quartiles"]), varcorr=groups, residual_sd=c["sigma"],
        nobs=c["nobs"], ngroups=c["ngrps"], coef=coef, corr_fixef=corr, messages=c["messages"],
        fit_warnings=c["fitmsgs"])


@pytest.mark.parametrize("case", R_PRINTED_CASES, ids=[c["tag"] for c in R_PRINTED_CASES])
def test_more_summaries_match_r(case):
    s = _summary_from_literal(case)
    render = render_glmer_summary if case["glmm"] else render_lmer_summary
    # lme4's "Correlation matrix not shown" note goes to stderr, which capture.output omits
    assert render(s, cor_note=False) == case["text"]


def test_correlation_note_for_many_fixed_effects():
    case = next(c for c in R_PRINTED_CASES if c["tag"] == "many_p")
    text = render_lmer_summary(_summary_from_literal(case))
    # the message lme4 writes (to stderr) right after the coefficient table when p > 12
    note = ("\nCorrelation matrix not shown by default, as p = 14 > 12.\n"
            "Use print(x, correlation=TRUE)  or\n"
            "    vcov(x)        if you need it\n")
    assert text == case["text"] + "\n" + note


def test_varcorr_perfect_correlation_and_tiny_variances():
    # lme4:::formatVC(vc, digits=4, comp=c("Variance","Std.Dev.")) for a VarCorr.merMod built
    # by hand: group g with sd c(2e-5, 3.1) and correlation -1, group h with sd 0, sc = 0.5
    g1 = VarCorrGroup("g", ["(Intercept)", "x"], np.array([2e-5, 3.1]),
                      np.array([[1.0, -1.0], [-1.0, 1.0]]))
    g2 = VarCorrGroup("h", ["(Intercept)"], np.array([0.0]))
    rows, cols = format_varcorr([g1, g2], 0.5)
    assert cols == ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    assert rows == [
        ["g", "(Intercept)", "4.00e-10", "0.00002", ""],
        ["", "x", "9.61e+00", "3.10000", "-1.00"],
        ["h", "(Intercept)", "0.00e+00", "0.00000", ""],
        ["Residual", "", "2.50e-01", "0.50000", ""],
    ]
