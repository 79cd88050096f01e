"""R's ``summary.lm`` of an ordinary linear model: the numbers (:class:`LmSummary`) and their printout.

``LmResult.summary()`` gathers the numbers; ``str()`` of the summary is R's ``print.summary.lm``
text (residual quantiles, the coefficient table with significance stars, residual standard
error, R-squared and the F test).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..distributions import f_sf

__all__ = ["LmSummary"]


# --------------------------------------------------------------------------- summary.lm
@dataclass(frozen=True)
class LmSummary:
    """The numbers of R's ``summary.lm``; ``str()`` renders them as ``print.summary.lm``.

    What :meth:`LmResult.summary() <mixedmodels.linear.lm_result.LmResult.summary>` returns. With
    weights w_i the residuals shown are the weighted ones, sqrt(w_i) (y_i - mu_i); with an intercept

        R^2 = MSS / (MSS + RSS),   adj. R^2 = 1 - (1 - R^2) (n - 1) / (n - p),
        F = (MSS / (p - 1)) / (RSS / (n - p))

    (MSS about the weighted mean of the fitted values; without an intercept about 0, with n and
    p - 1 in place of n - 1 and p - 1).

    Attributes
    ----------
    call : str
        The call as R prints it, ``lm(formula = ..., data = ...)``.
    residuals : numpy.ndarray
        The (weighted) residuals of the observations with non-zero weight.
    residual_names : list of str
        Their row names (R's 1-based ones for a frame with a default index).
    weighted : bool
        Whether the weights differ (R then prints "Weighted Residuals").
    coefficients : pandas.DataFrame
        ``Estimate, Std. Error, t value, Pr(>|t|)``, a row for every column of X (NaN for
        aliased ones).
    aliased : tuple of str
        The coefficients not defined because of singularities.
    sigma : float
        The residual standard error, sqrt(RSS / (n - p)).
    df_resid : int
        The residual degrees of freedom n - p.
    n_omitted : int
        Rows left out for missing values.
    r_squared, adj_r_squared : float or None
        Multiple and adjusted R-squared (None for a model with nothing beyond an intercept).
    fstatistic : tuple of (float, int, int) or None
        (F value, numerator df, denominator df), or None as for R-squared.
    digits : int
        Significant digits of the printout (4, R's ``max(3, getOption("digits") - 3)``).

    Examples
    --------
    >>> s = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).summary()
    >>> print(s)
    <BLANKLINE>
    Call:
    lm(formula = Reaction ~ Days, data = sleepstudy)
    <BLANKLINE>
    Residuals:
         Min       1Q   Median       3Q      Max
    -110.848  -27.483    1.546   26.142  139.953
    <BLANKLINE>
    Coefficients:
                Estimate Std. Error t value Pr(>|t|)
    (Intercept)  251.405      6.610  38.033  < 2e-16 ***
    Days          10.467      1.238   8.454 9.89e-15 ***
    ---
    Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1
    <BLANKLINE>
    Residual standard error: 47.71 on 178 degrees of freedom
    Multiple R-squared:  0.2865,	Adjusted R-squared:  0.2825
    F-statistic: 71.46 on 1 and 178 DF,  p-value: 9.894e-15
    >>> round(s.r_squared, 4), s.df_resid
    (0.2865, 178)
    """

    call: str
    residuals: np.ndarray
    residual_names: list
    weighted: bool
    coefficients: pd.DataFrame
    aliased: tuple
    sigma: float
    df_resid: int
    n_omitted: int
    r_squared: float | None
    adj_r_squared: float | None
    fstatistic: tuple | None

    digits = 4  # max(3, getOption("digits") - 3)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table without the aliased rows.

        Returns
        -------
        pandas.DataFrame
            ``Estimate, Std. Error, t value, Pr(>|t|)``, one row per estimable coefficient.

        Examples
        --------
        >>> s = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).summary()
        >>> s.to_frame().round(3)
                     Estimate  Std. Error  t value  Pr(>|t|)
        (Intercept)   251.405       6.610   38.033       0.0
        Days           10.467       1.238    8.454       0.0
        """
        return self.coefficients.drop(index=list(self.aliased))

    def __str__(self) -> str:
        from ..formula.deparse import deparse_formula
        from ..rformat import format_num, format_pval, signif_r, zapsmall
        from ..report.tables import print_coefmat, print_named_vector

        d = self.digits
        out = ["\nCall:\n" + "\n".join(deparse_formula(self.call)) + "\n\n"]
        out.append(("Weighted " if self.weighted else "") + "Residuals:\n")
        rdf = self.df_resid
        if rdf > 5:
            # R's quantile() is type 7, numpy's "linear" method; NaN dropped (na.rm = TRUE)
            q = zapsmall(np.nanquantile(np.asarray(self.residuals, dtype=float), (0.0, 0.25, 0.5, 0.75, 1.0),
                                        method="linear"), d + 1)
            out.append(print_named_vector(list(q), ["Min", "1Q", "Median", "3Q", "Max"], digits=d))
        elif rdf > 0:
            out.append(print_named_vector(list(self.residuals), self.residual_names, digits=d))
        else:
            out.append(f"ALL {len(self.coefficients) - len(self.aliased)} residuals are 0: "
                       "no residual degrees of freedom!\n")
        if len(self.coefficients) == 0:
            out.append("\nNo Coefficients\n")
        else:
            if self.aliased:
                out.append(f"\nCoefficients: ({len(self.aliased)} not defined because of singularities)\n")
            else:
                out.append("\nCoefficients:\n")
            out.append(print_coefmat(self.coefficients, digits=d, na_print="NA"))
        out.append(f"\nResidual standard error: {format_num([signif_r(self.sigma, d)])[0]} on {rdf} "
                   "degrees of freedom\n")
        if self.n_omitted:
            k = self.n_omitted
            out.append(f"  ({k} observation{'s' if k > 1 else ''} deleted due to missingness)\n")
        if self.fstatistic is not None:
            f, df1, df2 = self.fstatistic
            p = format_pval([f_sf(f, df1, df2)], digits=d)[0]
            out.append(f"Multiple R-squared:  {_format_c(self.r_squared, d)},\tAdjusted R-squared:  "
                       f"{_format_c(self.adj_r_squared, d)} \nF-statistic: {_format_c(f, d)} on {df1} and {df2} "
                       f"DF,  p-value: {p}\n")
        out.append("\n")
        return "".join(out)[:-1]  # without the final newline, as the other renderers

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)


def _format_c(x: float, digits: int) -> str:
    """R's ``formatC(x, digits = d)``: C's ``%g`` in a field d + 1 wide."""
    return "%*.*g" % (digits + 1, digits, x)
