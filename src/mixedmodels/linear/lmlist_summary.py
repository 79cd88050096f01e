"""lme4's ``summary(lmList)``: :class:`LmListSummary`, per coefficient a table over the groups, and
R's printout of numeric frames (:func:`print_frame`) that it and ``LmList``'s ``show`` use.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["LmListSummary", "print_frame"]


def print_frame(df: pd.DataFrame, digits: int = 7) -> str:
    """R's ``print(<numeric data.frame>)``.

    Parameters
    ----------
    df : pandas.DataFrame
        Numeric columns.
    digits : int, optional
        Significant digits, as R's ``digits`` option.

    Returns
    -------
    str
        Each column formatted on its own, right-justified, row names left-justified; ends with a
        newline.
    """
    from ..rformat import format_num
    from ..report.tables import print_char_matrix

    cols = [format_num(list(df[c].to_numpy(dtype=float)), digits) for c in df.columns]
    cells = [[cols[j][i] for j in range(len(cols))] for i in range(len(df))]
    return print_char_matrix(cells, [str(i) for i in df.index], [str(c) for c in df.columns], right=True)


@dataclass(frozen=True)
class LmListSummary:
    """lme4's ``summary(lmList)``, as :meth:`LmList.summary` returns it; ``str()`` prints R's text.

    Attributes
    ----------
    model : str
        The formula fitted in each group.
    group : str
        The grouping factor.
    data_name : str
        How the printout names the data.
    coefficients : dict
        Coefficient name -> DataFrame over groups of Estimate, Std. Error, t value, Pr(>|t|).
    pool : bool
        Whether the standard errors and tests use the pooled residual SD.
    rse : float or None
        The pooled residual SD (None without pooling).
    df_resid : int or None
        Its degrees of freedom (None without pooling).

    Examples
    --------
    >>> s = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).summary()
    >>> list(s.coefficients), round(s.rse, 3), s.df_resid
    (['(Intercept)', 'Days'], 25.592, 144)
    """

    model: str
    group: str
    data_name: str
    coefficients: dict
    pool: bool
    rse: float | None
    df_resid: int | None

    def to_frame(self) -> pd.DataFrame:
        """All coefficients' tables in one long table.

        Returns
        -------
        pandas.DataFrame
            Index (coefficient, group), columns Estimate, Std. Error, t value, Pr(>|t|).

        Examples
        --------
        >>> s = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).summary()
        >>> s.to_frame().head(3).round(3)
                             Estimate  Std. Error  t value  Pr(>|t|)
        coefficient Subject
        (Intercept) 308       244.193      15.042   16.234       0.0
                    309       205.055      15.042   13.632       0.0
                    310       203.484      15.042   13.528       0.0
        """
        return pd.concat(self.coefficients, names=["coefficient"])

    def __str__(self) -> str:
        from ..formula.deparse import deparse_formula
        from ..rformat import format_num

        resp, _, rhs = self.model.partition("~")
        out = ["Call:\n", f"  Model: {' '.join(deparse_formula(resp.strip()))} ~ "
               f"{' '.join(deparse_formula(rhs.strip()))} | {self.group} \n",
               f"   Data: {self.data_name} \n\n", "Coefficients:\n"]
        for name, tab in self.coefficients.items():
            out.append(f"   {name} \n")
            out.append(print_frame(tab))
        if self.pool:
            out.append(f"\nResidual standard error: {format_num([self.rse])[0]} on {self.df_resid} "
                       "degrees of freedom\n")
        out.append("\n")
        return "".join(out)[:-1]

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)
