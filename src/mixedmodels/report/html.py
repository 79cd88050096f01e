"""HTML and Markdown for notebooks and reports: models, summaries and tables.

* A printed summary (anything whose ``str()`` is R's text) becomes that text in a ``<pre>`` block
  (Markdown: a fenced block), so a notebook shows exactly what R prints.
* A fitted model becomes tables: fit statistics, random effects (``varcorr``) and fixed effects.
* A table (a DataFrame, an anova table, a Series, anything with ``to_frame()``) becomes an HTML
  or Markdown table with numbers formatted as R formats a column: one number of decimals per
  column (``digits`` significant), p-values as ``format.pval``, NA as an empty cell.

Result classes hook in with ``def _repr_html_(self): return mixedmodels.report.html.to_html(self)``.
"""
from __future__ import annotations

import html as _html
import math

import numpy as np
import pandas as pd

__all__ = ["to_html", "to_markdown", "format_table", "table_html", "table_markdown", "text_block"]

# R's printouts line up in columns only in a monospace font: the style is inline, because exported
# HTML (nbconvert's templates) and some JupyterLab themes set <pre> in a proportional font
_PRE_STYLE = ("font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', "
              "'Liberation Mono', monospace; white-space: pre; line-height: 1.25; text-align: left")


def text_block(text: str) -> str:
    """R's printed text as HTML that keeps its columns: a ``<pre>`` block in a monospace font.

    Parameters
    ----------
    text : str
        The text, as R prints it.

    Returns
    -------
    str
        The escaped text in ``<pre style="font-family: ... monospace">``.
    """
    return f'<pre style="{_PRE_STYLE}">{_html.escape(str(text))}</pre>'

_PCOL = ("Pr(", "P(", "p-value", "p.value", "p_value")


# --------------------------------------------------------------------------- cell formatting
def _is_pcol(name) -> bool:
    return str(name).startswith(_PCOL)


def format_table(df: pd.DataFrame, digits: int = 5) -> pd.DataFrame:
    """A copy of ``df`` with every cell as text, formatted column by column as R would.

    Whole-number columns (npar, Df, ...) print as integers; p-value columns (``Pr(...)``) through
    R's ``format.pval`` with ``digits - 1`` digits; other numbers through R's ``format()`` with
    ``digits`` significant digits; missing values as "".

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    digits : int, default 5
        Significant digits.

    Returns
    -------
    pandas.DataFrame
        The same rows and columns, every cell a str.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"Estimate": [251.4051, 10.46729], "Pr(>|t|)": [2.2e-17, 3.5e-6], "df": [17.0, 17.0]},
    ...                    index=["(Intercept)", "Days"])
    >>> format_table(tab)
                Estimate Pr(>|t|)  df
    (Intercept)  251.405  < 2e-16  17
    Days          10.467  3.5e-06  17
    """
    from ..rformat import format_num, format_pval

    out = {}
    for col in df.columns:
        s = df[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        num = pd.to_numeric(s, errors="coerce") if numeric or (s.dtype == object and _all_numbers(s)) else None
        if num is None or (num.isna() & s.notna()).any():
            out[col] = ["" if _missing(v) else str(v) for v in s]
            continue
        x = num.to_numpy(dtype=float)
        ok = np.isfinite(x)
        cells = [""] * len(x)
        if ok.any():
            vals = x[ok]
            if _is_pcol(col):
                strs = format_pval(list(vals), digits=max(1, digits - 1))
            elif np.all(vals == np.round(vals)) and np.all(np.abs(vals) < 1e15):
                strs = [str(int(v)) for v in vals]
            else:
                strs = [t.strip() for t in format_num(list(vals), digits)]
            it = iter(strs)
            cells = [next(it) if k else ("Inf" if np.isinf(v) and v > 0 else "-Inf" if np.isinf(v) else "")
                     for k, v in zip(ok, x)]
        out[col] = cells
    return pd.DataFrame(out, index=df.index, columns=df.columns)


def _all_numbers(s: pd.Series) -> bool:
    return all(_missing(v) or (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool))
               for v in s)


def _missing(v) -> bool:
    try:
        return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
    except TypeError:
        return False


def _as_frame(obj) -> pd.DataFrame | None:
    if isinstance(obj, pd.DataFrame):
        return pd.DataFrame(obj)
    if isinstance(obj, pd.Series):
        return obj.to_frame()
    to_frame = getattr(obj, "to_frame", None)
    if callable(to_frame):
        got = to_frame()
        if isinstance(got, pd.DataFrame):
            return got
    return None


def _index_label(df: pd.DataFrame) -> str:
    names = [n for n in df.index.names if n is not None]
    return " / ".join(map(str, names))


def _flat(label) -> str:
    return " ".join(map(str, label)) if isinstance(label, tuple) else str(label)


# --------------------------------------------------------------------------- tables
def table_html(df: pd.DataFrame, digits: int = 5, caption: str | None = None) -> str:
    """An HTML ``<table>`` of a DataFrame, numbers right-aligned and formatted as R would.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    digits : int, default 5
        Significant digits (see :func:`format_table`).
    caption : str, optional
        The table's ``<caption>``.

    Returns
    -------
    str
        The HTML.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"Estimate": [251.4051, 10.46729], "Pr(>|t|)": [2.2e-17, 3.5e-6], "df": [17.0, 17.0]},
    ...                    index=["(Intercept)", "Days"])
    >>> print(table_html(tab, caption="Fixed effects").splitlines()[2])
    <thead><tr><th></th><th>Estimate</th><th>Pr(&gt;|t|)</th><th>df</th></tr></thead>
    """
    cells = format_table(df, digits)
    e = _html.escape
    rows = ['<table class="mixedmodels-table">']
    if caption:
        # R's heading lines stay lines (a caption would run them together), left-aligned as R prints them
        lines = "<br>".join(e(line) for line in str(caption).split("\n"))
        rows.append(f'<caption style="text-align: left; caption-side: top">{lines}</caption>')
    head = "".join(f"<th>{e(_flat(c))}</th>" for c in df.columns)
    rows.append(f"<thead><tr><th>{e(_index_label(df))}</th>{head}</tr></thead>")
    rows.append("<tbody>")
    for label, (_, row) in zip(df.index, cells.iterrows()):
        tds = "".join(f'<td style="text-align:right">{e(v)}</td>' for v in row)
        rows.append(f'<tr><th style="text-align:left">{e(_flat(label))}</th>{tds}</tr>')
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _md_cell(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table_markdown(df: pd.DataFrame, digits: int = 5) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (``|`` in labels escaped).

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    digits : int, default 5
        Significant digits (see :func:`format_table`).

    Returns
    -------
    str
        The Markdown lines.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = pd.DataFrame({"Estimate": [251.4051, 10.46729], "Pr(>|t|)": [2.2e-17, 3.5e-6], "df": [17.0, 17.0]},
    ...                    index=["(Intercept)", "Days"])
    >>> print(table_markdown(tab))
    |  | Estimate | Pr(>\\|t\\|) | df |
    |:---|---:|---:|---:|
    | (Intercept) | 251.405 | < 2e-16 | 17 |
    | Days | 10.467 | 3.5e-06 | 17 |
    """
    cells = format_table(df, digits)
    head = [_index_label(df)] + [_flat(c) for c in df.columns]
    lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |",
             "|:---|" + "---:|" * len(df.columns)]
    for label, (_, row) in zip(df.index, cells.iterrows()):
        lines.append("| " + " | ".join(_md_cell(v) for v in [_flat(label), *row]) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- models
def _is_model(obj) -> bool:
    return callable(getattr(obj, "summary", None)) and hasattr(obj, "formula")


def _model_parts(obj, digits: int) -> tuple[str, list[tuple[str, pd.DataFrame]]]:
    """Title and (caption, table) pairs describing a fitted model."""
    kind = type(obj).__name__
    if hasattr(obj, "fits") and hasattr(obj, "coef"):  # LmList
        title = f"lmList: {obj.formula}   (data: {obj.data_name})"
        return title, [("Coefficients by group", obj.coef())]
    if kind == "LmResult":
        method = "Linear model fit by least squares"
    elif hasattr(obj, "family"):
        fam = obj.family
        method = f"Generalized linear mixed model ({getattr(fam, 'name', fam)})"
    else:
        method = f"Linear mixed model fit by {'REML' if getattr(obj, 'reml', False) else 'maximum likelihood'}"
    title = f"{method}: {obj.formula}   (data: {getattr(obj, 'data_name', 'data')})"
    stats = {"nobs": getattr(obj, "nobs", np.nan)}
    for key, label in (("aic", "AIC"), ("bic", "BIC"), ("loglik", "logLik"), ("deviance", "deviance"),
                       ("sigma", "sigma")):
        v = getattr(obj, key, None)
        if v is not None and not callable(v):
            stats[label] = float(v)
    if kind == "LmResult":
        stats["R-squared"] = obj.r_squared
        stats["adj. R-squared"] = obj.adj_r_squared
    for g, n in (getattr(obj, "ngroups", None) or {}).items():
        stats[f"groups: {g}"] = n
    parts = [("Fit", pd.DataFrame({"value": [_one(v) for v in stats.values()]}, index=list(stats)))]
    vc = getattr(obj, "varcorr", None)
    if isinstance(vc, pd.DataFrame) and len(vc):
        v = vc.copy()
        v.index = [f"{r.grp} corr({r.var1}, {r.var2})" if r.var2 else " ".join(x for x in (r.grp, r.var1) if x)
                   for r in v.itertuples()]
        v = v[[c for c in ("vcov", "sdcor") if c in v.columns]]
        parts.append(("Random effects", v))
    try:
        parts.append(("Fixed effects", obj.coef_table()))
    except Exception:  # a model kind without coef_table(): show what we have
        fe = getattr(obj, "fixef", None)
        if isinstance(fe, pd.Series):
            parts.append(("Fixed effects", fe.to_frame()))
    return title, parts


# --------------------------------------------------------------------------- entry points
def _one(v) -> str:
    """A single statistic as cat() prints it: 7 significant digits, whole numbers as such."""
    from ..rformat import format_num

    v = float(v)
    if not math.isfinite(v):
        return "" if math.isnan(v) else str(v)
    return str(int(v)) if v == round(v) and abs(v) < 1e15 else format_num([v], 7)[0].strip()


def to_html(obj, digits: int = 5) -> str:
    """HTML for a fitted model (tables), a summary (R's text in ``<pre>``) or a table.

    Parameters
    ----------
    obj : object
        A fitted model, a summary, a DataFrame or Series, or a table object.
    digits : int, default 5
        Significant digits of the tables.

    Returns
    -------
    str
        The HTML (what ``_repr_html_`` returns).

    Examples
    --------
    >>> from mixedmodels.report.html import to_html
    >>> to_html(m)[:59]
    '<div class="mixedmodels"><p><strong>Linear mixed model fit '
    >>> to_html(m.summary())[:29]
    '<div class="mixedmodels"><pre'
    """
    e = _html.escape
    if _is_model(obj):
        title, parts = _model_parts(obj, digits)
        body = "\n".join(table_html(t, digits, caption=c) for c, t in parts)
        return f'<div class="mixedmodels"><p><strong>{e(title)}</strong></p>\n{body}\n</div>'
    frame = _as_frame(obj) if isinstance(obj, (pd.DataFrame, pd.Series)) or _is_table(obj) else None
    if frame is not None:
        heading = getattr(obj, "heading", None)
        cap = "\n".join(heading) if heading else None
        return f'<div class="mixedmodels">{table_html(frame, digits, caption=cap)}</div>'
    return f'<div class="mixedmodels">{text_block(str(obj))}</div>'


def to_markdown(obj, digits: int = 5) -> str:
    """Markdown for a fitted model (tables), a summary (a fenced text block) or a table.

    Parameters
    ----------
    obj : object
        As for :func:`to_html`.
    digits : int, default 5
        Significant digits of the tables.

    Returns
    -------
    str
        The Markdown.

    Examples
    --------
    >>> from mixedmodels.report.html import to_markdown
    >>> print(to_markdown(m).splitlines()[0])
    **Linear mixed model fit by REML: Reaction ~ Days + (Days \\| Subject)   (data: sleepstudy)**
    >>> print(to_markdown(m.summary()).splitlines()[0])
    ```text
    """
    if _is_model(obj):
        title, parts = _model_parts(obj, digits)
        out = [f"**{_md_cell(title)}**", ""]
        for caption, tab in parts:
            out += [f"*{caption}*", "", table_markdown(tab, digits), ""]
        return "\n".join(out).rstrip() + "\n"
    frame = _as_frame(obj) if isinstance(obj, (pd.DataFrame, pd.Series)) or _is_table(obj) else None
    if frame is not None:
        heading = getattr(obj, "heading", None)
        pre = "".join(f"{_md_cell(h)}  \n" for h in heading) + "\n" if heading else ""
        return pre + table_markdown(frame, digits) + "\n"
    text = str(obj).strip("\n")
    return f"```text\n{text}\n```\n"


def _is_table(obj) -> bool:
    """Objects that are tables first (anova tables); summaries with to_frame() stay text."""
    return isinstance(obj, pd.DataFrame) or (callable(getattr(obj, "to_frame", None))
                                              and not type(obj).__name__.endswith("Summary"))
