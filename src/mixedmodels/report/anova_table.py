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
    DataFrame; ``to_frame()`` gives a plain DataFrame. ``m.anova()``, ``mm.anova(m1, m2)``,
    ``m.ranova()`` and ``m.drop1()`` return one.

    Examples
    --------
    >>> tab = m.anova()
    >>> print(tab)
    Type III Analysis of Variance Table with Satterthwaite's method
         Sum Sq Mean Sq NumDF DenDF F value    Pr(>F)
    Days  30031   30031     1    17  45.853 3.264e-06 ***
    ---
    Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1
    >>> round(float(tab.loc["Days", "F value"]), 3)
    45.853
    """

    _metadata = ["heading"]

    @property
    def _constructor(self):
        return AnovaTable

    def to_frame(self) -> pd.DataFrame:
        """The table as a plain DataFrame (printed by pandas, without the heading).

        Returns
        -------
        pandas.DataFrame
            The same rows, columns and numbers.

        Examples
        --------
        >>> m.anova().to_frame().round(3)
                 Sum Sq    Mean Sq  NumDF  DenDF  F value  Pr(>F)
        Days  30030.939  30030.939    1.0   17.0   45.853     0.0
        """
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
