"""R's printing of tables and named vectors: ``print.default`` of a named vector and of a character
matrix, and ``printCoefmat()`` (the coefficient tables of every summary and anova).

The numbers are formatted by :mod:`mixedmodels.rformat`; this module lays them out in columns as
R does, breaking wide tables into blocks of columns that fit the width.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..rformat import DBL_EPSILON, R_NA, WIDTH, as_floats, format_num, format_pval, is_r_nan, round_r, zapsmall

__all__ = ["print_named_vector", "print_char_matrix", "print_coefmat", "format_str", "signif_stars",
           "SIGNIF_LEGEND"]

#: R_print.gap
_GAP = 1


def format_str(strings: Sequence[str], justify: str = "left") -> list[str]:
    """R's ``format()`` of a character vector: pad to a common width.

    Parameters
    ----------
    strings : sequence of str
        The strings.
    justify : {"left", "right", "none"}, default "left"
        R's ``justify``.

    Returns
    -------
    list of str
        The padded strings.
    """
    if not strings:
        return []
    w = max(len(s) for s in strings)
    if justify == "left":
        return [s.ljust(w) for s in strings]
    if justify == "right":
        return [s.rjust(w) for s in strings]
    return list(strings)


# ---------------------------------------------------------------------------
# print.default of named vectors and character matrices
# ---------------------------------------------------------------------------
def print_named_vector(values: Sequence[str] | Sequence[float], names: Sequence[str],
                       digits: int = 7, width: int = WIDTH) -> str:
    """R's print of a named vector (numbers formatted jointly with ``digits``,
    strings printed as-is): names and values right-justified in columns of a
    common width, each followed by one space; ends with a newline.

    Parameters
    ----------
    values : sequence of str or of float
        The values (strings are printed as they are).
    names : sequence of str
        Their names.
    digits : int, default 7
        Significant digits of numbers.
    width : int, default WIDTH
        The line width: further names and values continue in blocks below.

    Returns
    -------
    str
        The printed vector.
    """
    if len(values) and isinstance(values[0], str):
        cells = list(values)
    else:
        cells = format_num(values, digits)
    n = len(cells)
    if n == 0:
        return "named numeric(0)\n"
    w = max(max(len(c) for c in cells), max(len(s) for s in names))
    perline = max(width // (w + _GAP), 1)
    out = []
    for start in range(0, n, perline):
        idx = range(start, min(start + perline, n))
        out.append("".join(names[k].rjust(w) + " " * _GAP for k in idx) + "\n")
        out.append("".join(cells[k].rjust(w) + " " * _GAP for k in idx) + "\n")
    return "".join(out)


def print_char_matrix(cells: Sequence[Sequence[str]], row_names: Sequence[str] | None,
                      col_names: Sequence[str] | None, right: bool = False,
                      width: int = WIDTH, ncol: int | None = None) -> str:
    """R's ``print(<character matrix>, quote = FALSE, right = right)``.

    Row names are left-justified; columns (and their labels) left- or
    right-justified to their widest entry, one space apart.  Columns that do
    not fit in ``width`` continue in further blocks below.  Ends with "\\n".
    ``ncol`` is only needed for a matrix with no rows and no column names.

    Parameters
    ----------
    cells : sequence of sequences of str
        The matrix, row by row.
    row_names, col_names : sequence of str or None
        The dimnames (None: R's ``[1,]`` and ``[,1]`` labels).
    right : bool, default False
        Right-justify the columns.
    width : int, default WIDTH
        The line width.
    ncol : int, optional
        The number of columns of a matrix with no rows and no column names.

    Returns
    -------
    str
        The printed matrix.
    """
    r = len(cells)
    c = len(cells[0]) if r else (len(col_names) if col_names is not None else (ncol or 0))
    if r == 0 and c == 0:
        return "<0 x 0 matrix>\n"
    if row_names is not None and len(row_names) == 0:
        row_names = None  # R drops zero-length dimnames
    if row_names is not None:
        rlabels = list(row_names)
        rlabw = max(len(s) for s in rlabels)
    else:
        rlabels = ["[%d,]" % (i + 1) for i in range(r)]
        rlabw = len(str(r + 1)) + 3
    clabels = list(col_names) if col_names is not None else ["[,%d]" % (j + 1) for j in range(c)]
    # without column names R left-justifies the "[,j]" labels even when right=TRUE
    lab_right = right and col_names is not None
    w = []
    for j in range(c):
        wj = max([len(cells[i][j]) for i in range(r)], default=0)
        w.append(max(wj, len(clabels[j])))
    out: list[str] = []
    if c == 0:
        out.append(" " * rlabw)
        for i in range(r):
            out.append("\n" + rlabels[i].ljust(rlabw))
        out.append("\n")
        return "".join(out)
    jmin = 0
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + _GAP
            jmax += 1
            if not (jmax < c and tot + w[jmax] + _GAP < width):
                break
        line = " " * rlabw
        for j in range(jmin, jmax):
            lab = clabels[j]
            line += " " * _GAP + (lab.rjust(w[j]) if lab_right else lab.ljust(w[j]))
        out.append(line)
        for i in range(r):
            line = "\n" + rlabels[i].ljust(rlabw)
            for j in range(jmin, jmax):
                v = cells[i][j]
                line += " " * _GAP + (v.rjust(w[j]) if right else v.ljust(w[j]))
            out.append(line)
        out.append("\n")
        jmin = jmax
    return "".join(out)


# ---------------------------------------------------------------------------
# printCoefmat()
# ---------------------------------------------------------------------------
#: The legend line printCoefmat writes under the table (UTF-8 quotes as in R).
SIGNIF_LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"


def signif_stars(pv) -> list[str]:
    """``symnum`` with cutpoints 0, .001, .01, .05, .1, 1 (intervals closed on
    the right, first one closed on both sides); NA gives ``""``.  Not padded.

    Parameters
    ----------
    pv : float or array_like of float
        The p-values.

    Returns
    -------
    list of str
        ``"***"``, ``"**"``, ``"*"``, ``"."``, ``" "`` or ``""`` per value.
    """
    return _stars(pv)


def _stars(pv) -> list[str]:
    out = []
    for p in as_floats(pv):
        if math.isnan(p):
            out.append("")
        elif p <= 0.001:
            out.append("***" if p >= -1e-5 else "")
        elif p <= 0.01:
            out.append("**")
        elif p <= 0.05:
            out.append("*")
        elif p <= 0.1:
            out.append(".")
        elif p <= 1 + 1e-5:
            out.append(" ")
        else:
            out.append("")
    return out


# print_coefmat's argument signif_stars hides the function of that name inside it
_signif_codes = signif_stars
_MISSING = object()


def _num_or_nan(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return float("nan")


def print_coefmat(table: pd.DataFrame, digits: int = 5, signif_stars: bool = True,
                  signif_legend: bool | None = None, dig_tst=_MISSING, cs_ind=_MISSING,
                  tst_ind=_MISSING, zap_ind: Sequence[int] = (), p_values: bool | None = None,
                  has_pvalue: bool | None = None, eps_pvalue: float = DBL_EPSILON,
                  na_print: str = "NA", right: bool = True, width: int = WIDTH) -> str:
    """R's ``printCoefmat`` (stats).  Column indices are 0-based.

    Defaults as in R: the last column is a p-value column when its name starts
    with "Pr(" or "p-v" (and there are >= 4 columns); ``tst_ind`` is the
    column before it and ``cs_ind`` all columns before that.  The cs columns
    (estimates, standard errors, and lmerTest's df) are rounded to
    ``digits - digmin`` decimals and formatted *together*; the test statistic
    is rounded to ``dig_tst`` decimals; p-values go through
    :func:`~mixedmodels.rformat.format_pval` with ``digits = dig_tst``.

    Parameters
    ----------
    table : pandas.DataFrame
        The numbers (None and NaN: NA, :data:`~mixedmodels.rformat.R_NAN`: NaN) and row names.
    digits : int, default 5
        R's ``digits``.
    signif_stars, signif_legend : bool
        Show the stars column, and the legend under the table (default: when stars are shown).
    dig_tst : int, optional
        Decimals of the test statistics (default ``max(1, min(5, digits - 1))``).
    cs_ind, tst_ind : sequence of int or None, optional
        The coefficient / standard-error columns and the test-statistic columns (None: none).
    zap_ind : sequence of int
        Columns to ``zapsmall()`` first.
    p_values, has_pvalue : bool, optional
        Whether the last column holds p-values, and whether to print them.
    eps_pvalue, na_print, right, width
        P-values below ``eps_pvalue`` print as ``< eps``; a missing entry prints as ``na_print``;
        ``right`` right-justifies the columns; ``width`` is the line width.

    Returns
    -------
    str
        The printed table plus, when stars were shown, the ``---`` and "Signif. codes:" lines;
        ends with a newline.
    """
    colnames = [str(c) for c in table.columns]
    rownames = [str(r) for r in table.index]
    nc = len(colnames)
    if dig_tst is _MISSING:
        dig_tst = max(1, min(5, digits - 1))
    if has_pvalue is None:
        has_pvalue = nc >= 4 and colnames[-1][:3] in ("Pr(", "p-v")
    if p_values is None:
        p_values = has_pvalue
    elif p_values and not has_pvalue:
        raise ValueError("'P.values' is TRUE, but 'has.Pvalue' is not")
    xm = np.array([[R_NA if v is None else float(v) for v in row]
                   for row in table.to_numpy(dtype=object)], dtype=float).reshape(len(rownames), nc)
    if has_pvalue and not p_values:
        xm = xm[:, :-1]
        colnames = colnames[:-1]
        nc -= 1
        has_pvalue = False
    cs_ind, tst_ind = _coefmat_columns(nc, has_pvalue, cs_ind, tst_ind)
    ina = np.isnan(xm)
    for i in zap_ind:
        xm[:, i] = zapsmall(xm[:, i], digits)
    Cf = _format_columns(xm, digits, dig_tst, cs_ind, tst_ind, has_pvalue)
    _reformat_false_zeros(Cf, xm, ~ina, tst_ind, nc - 1 if has_pvalue else nc, digits)
    for i in range(xm.shape[0]):
        for j in range(nc):
            if ina[i, j]:
                Cf[i][j] = "NaN" if is_r_nan(xm[i, j]) else na_print
    show_stars = False
    if p_values:
        show_stars = _format_pvalues(Cf, xm[:, nc - 1], ~ina[:, nc - 1], dig_tst, eps_pvalue, signif_stars)
        if show_stars:
            colnames = colnames + [""]
    text = print_char_matrix(Cf, rownames, colnames, right=right, width=width)
    if signif_legend is None:
        signif_legend = show_stars
    if show_stars and signif_legend:
        text += "---\nSignif. codes:  " + SIGNIF_LEGEND + "\n"
    return text


def _coefmat_columns(nc: int, has_pvalue: bool, cs_ind, tst_ind) -> tuple[list[int], list[int]]:
    """printCoefmat's defaults for cs.ind and tst.ind (_MISSING: R's missing(), None: R's NULL)."""
    k = nc - int(has_pvalue) - (1 if tst_ind is _MISSING else len(tst_ind))
    if cs_ind is _MISSING:
        cs_ind = list(range(k))
    elif cs_ind is None:
        cs_ind = []
    if tst_ind is _MISSING:
        tst_ind = [k]
    elif tst_ind is None:
        tst_ind = []
    return list(cs_ind), list(tst_ind)


def _format_columns(xm: np.ndarray, digits: int, dig_tst: int, cs_ind: list[int], tst_ind: list[int],
                    has_pvalue: bool) -> list[list[str]]:
    """The cells of every column but the p-values: the cs columns rounded to ``digits - digmin``
    decimals and formatted together, the test statistics rounded to ``dig_tst``, the others each
    formatted on its own."""
    nr, nc = xm.shape
    Cf = [["" for _ in range(nc)] for _ in range(nr)]
    if cs_ind:
        coef_se = xm[:, cs_ind]
        acs = np.abs(coef_se)
        finite = np.isfinite(acs)
        if finite.any():
            nz = acs[finite & (acs != 0)]
            if nz.size:
                digmin = [1 + math.floor(math.log10(float(nz.min()))),
                          1 + math.floor(math.log10(float(nz.max())))]
            else:
                digmin = [1]
            ndig = max([1] + [digits - d for d in digmin])
            # format() of the rounded matrix: one common format for all cs columns
            flat = [round_r(float(v), ndig) for v in coef_se.T.ravel()]
            strs = format_num(flat, digits)
            for jj, j in enumerate(cs_ind):
                for i in range(nr):
                    Cf[i][j] = strs[jj * nr + i]
    if tst_ind:
        vals = xm[:, tst_ind]
        flat = [round_r(float(v), dig_tst) for v in vals.T.ravel()]
        strs = format_num(flat, digits)
        for jj, j in enumerate(tst_ind):
            for i in range(nr):
                Cf[i][j] = strs[jj * nr + i]
    others = [j for j in range(nc) if j not in cs_ind and j not in tst_ind
              and not (has_pvalue and j == nc - 1)]
    for j in others:
        strs = format_num(list(xm[:, j]), digits)
        for i in range(nr):
            Cf[i][j] = strs[i]
    return Cf


def _reformat_false_zeros(Cf: list[list[str]], xm: np.ndarray, ok: np.ndarray, tst_ind: list[int],
                          ncheck: int, digits: int) -> None:
    """Entries that are non-zero but print as zero (or the reverse) are formatted again, together,
    with ``digits - 1``; the test statistics and the p-values are left as they are."""
    okc = ok.copy()
    for j in tst_ind:
        okc[:, j] = False
    nr = xm.shape[0]
    pos = [(i, j) for j in range(ncheck) for i in range(nr) if okc[i, j]]
    bad = [(i, j) for (i, j) in pos
           if not math.isnan(_num_or_nan(Cf[i][j]))
           and (xm[i, j] == 0) != (_num_or_nan(Cf[i][j]) == 0)]
    if bad:
        strs = format_num([xm[i, j] for (i, j) in bad], max(1, digits - 1))
        for (i, j), s in zip(bad, strs):
            Cf[i][j] = s


def _format_pvalues(Cf: list[list[str]], pv: np.ndarray, okp: np.ndarray, dig_tst: int, eps: float,
                    signif_stars: bool) -> bool:
    """The p-value column (the last of ``Cf``) through format.pval, and the stars column appended
    when some p-value is below 0.1; returns whether stars were shown."""
    if not okp.any():
        return False
    nr = len(pv)
    strs = format_pval([pv[i] for i in range(nr) if okp[i]], dig_tst, eps)
    it = iter(strs)
    for i in range(nr):
        if okp[i]:
            Cf[i][-1] = next(it)
    show_stars = signif_stars and any(pv[i] < 0.1 for i in range(nr) if okp[i])
    if show_stars:
        stars = format_str(_signif_codes(pv))
        for i in range(nr):
            Cf[i].append(stars[i])
    return show_stars
