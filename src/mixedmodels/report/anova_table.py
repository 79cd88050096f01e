"""Anova-like tables (lme4's anova, lmerTest's anova, ranova and drop1): :class:`AnovaTable`, a
DataFrame that prints as R's ``print.anova`` prints (:func:`format_anova`)."""
from __future__ import annotations

import math
import re

import pandas as pd

from ..rformat import R_NA
from .tables import print_coefmat

__all__ = ["AnovaTable", "format_anova"]


def format_anova(df: pd.DataFrame, heading: list[str] | None = None) -> str:
    """An anova-like table as R's ``print.anova`` prints it: printCoefmat with digits 5, the
    columns other than test statistics, Df and p-values zapsmall()ed, NA shown blank."""
    cn = [str(c) for c in df.columns]
    nc = len(cn)
    has_p = nc > 0 and re.match(r"^(P|Pr)\(", cn[-1]) is not None
    zap = list(range(nc - 1 if has_p else nc))
    tst = [j for j, c in enumerate(cn) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(cn) if c in ("F", "Cp", "Chisq")]
    zap = [j for j in zap if j not in tst and not cn[j].endswith("Df")]
    # NaN here means R's NA (no test for that row), printed blank
    table = pd.DataFrame({c: [R_NA if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
                              for v in df[c].tolist()] for c in df.columns}, index=df.index, dtype=object)
    text = print_coefmat(table, digits=5, has_pvalue=has_p, p_values=has_p, cs_ind=None, zap_ind=zap,
                         tst_ind=tst, na_print="")
    lines = list(heading or []) + [text[:-1] if text.endswith("\n") else text]
    return "\n".join(lines)


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

    def _repr_html_(self) -> str:
        """Notebooks: the table with R's column formats (NA blank, p-values as R's format.pval), its
        heading as the caption."""
        from .html import to_html

        return to_html(self)
