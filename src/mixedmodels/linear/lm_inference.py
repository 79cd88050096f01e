r"""Inference from an ordinary linear model: t tests, intervals, R-squared, the F test, predictions.

:class:`LmInference` is the part of :class:`~mixedmodels.linear.lm_result.LmResult` that reads the
least-squares fit (its coefficients, ``vcov`` and residual df n - p) as R's ``summary.lm``,
``confint.lm`` and ``predict.lm`` do:

    t_j = beta_j / se_j,  se_j = sqrt(Var(beta)_jj),   Pr(>|t|) = 2 P(t_{n-p} > |t_j|)
    beta_j +- t_{n-p, 1-a/2} se_j                      (confint, level 1 - a)
    x0' beta +- t_{n-p, 1-a/2} sqrt(x0' V x0 [+ sigma^2])   (predict; + sigma^2 for "prediction")
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..arguments import check_level
from ..distributions import f_sf, t_ppf, t_sf
from ..errors import ArgumentError
from ..rformat import percent_labels

__all__ = ["LmInference"]


class LmInference:
    """Mixin of :class:`~mixedmodels.linear.lm_result.LmResult`: R-squared, F, t tests, intervals, predictions.

    The class provides the fit (``fixef``, ``coefficients``, ``vcov``, ``sigma``, ``rss``,
    ``df_resid``, ``rank``, ``nobs``, ``names``, ``fitted``). The examples of its members use
    ``fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))``.

    Examples
    --------
    >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
    >>> round(fit.r_squared, 4)
    0.2865
    """

    # ------------------------------------------------------------------ R-squared and F
    @property
    def has_intercept(self) -> bool:
        """Whether the model has an ``(Intercept)`` column (R-squared and F are then about the mean).

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> fit.has_intercept
        True
        """
        return "(Intercept)" in self.names

    @cached_property
    def _mss_rss(self) -> tuple[float, float]:
        pos = self._pos
        w = self._w[pos]
        f = self.fitted.to_numpy()[pos]  # R 4.2's summary.lm keeps the offset in the fitted values
        if self.has_intercept:
            # f - mean(f) does not depend on the centring constant: take it from the centred values
            f = self._fitted_centred[pos]
            m = np.sum(w * f) / np.sum(w)
            mss = float(np.sum(w * (f - m) ** 2))
        else:
            mss = float(np.sum(w * f * f))
        return mss, self.rss

    @property
    def _df_int(self) -> int:
        return 1 if self.has_intercept else 0

    @property
    def r_squared(self) -> float:
        """Multiple R-squared, MSS / (MSS + RSS) (R's ``summary(m)$r.squared``).

        MSS is the weighted sum of squares of the fitted values about their weighted mean (about 0
        without an intercept); 0 for a model with nothing beyond an intercept.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> round(fit.r_squared, 4)
        0.2865
        """
        if self.rank == self._df_int:
            return 0.0
        mss, rss = self._mss_rss
        return mss / (mss + rss)

    @property
    def adj_r_squared(self) -> float:
        """Adjusted R-squared, 1 - (1 - R^2) (n - i) / (n - p), i = 1 with an intercept, else 0.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> round(fit.adj_r_squared, 4)
        0.2825
        """
        if self.rank == self._df_int:
            return 0.0
        return 1 - (1 - self.r_squared) * ((self.nobs - self._df_int) / self.df_resid)

    @property
    def fstatistic(self) -> tuple[float, int, int] | None:
        """(F value, numerator df, denominator df) of the test that every non-intercept coefficient is 0.

        F = (MSS / (p - i)) / (RSS / (n - p)) (R's ``summary(m)$fstatistic``); None for a model with
        nothing beyond an intercept.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> f, df1, df2 = fit.fstatistic
        >>> round(f, 2), df1, df2
        (71.46, 1, 178)
        """
        if self.rank == self._df_int:
            return None
        mss, rss = self._mss_rss
        numdf = self.rank - self._df_int
        return (mss / numdf) / (rss / self.df_resid), numdf, self.df_resid

    @property
    def f_pvalue(self) -> float | None:
        """The p-value of :attr:`fstatistic`, P(F_{df1, df2} > F); None where there is no F test.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> print(f"{fit.f_pvalue:.3e}")
        9.894e-15
        """
        fs = self.fstatistic
        return None if fs is None else float(f_sf(*fs))

    # ------------------------------------------------------------------ inference
    def coef_table(self) -> pd.DataFrame:
        """R's ``summary(m)$coefficients``: Estimate, Std. Error, t value, Pr(>|t|) (aliased rows left out).

        t tests with the residual df n - p.

        Returns
        -------
        pandas.DataFrame
            One row per estimable coefficient, columns ``Estimate, Std. Error, t value, Pr(>|t|)``.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> fit.coef_table().round(3)
                     Estimate  Std. Error  t value  Pr(>|t|)
        (Intercept)   251.405       6.610   38.033       0.0
        Days           10.467       1.238    8.454       0.0
        """
        est = self.fixef.to_numpy()
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        p = 2.0 * t_sf(np.abs(t), self.df_resid)
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t, "Pr(>|t|)": p},
                            index=self.fixef.index)

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """R's ``confint.lm``: t intervals ``beta_j +- t_{n-p, 1-a/2} se_j``, NaN rows for aliased coefficients.

        Parameters
        ----------
        level : float, default 0.95
            The confidence level, between 0 and 1.

        Returns
        -------
        pandas.DataFrame
            One row per column of X (aliased ones included), columns named as R's percentages
            (``2.5 %``, ``97.5 %``).

        Raises
        ------
        ArgumentError
            For a ``level`` outside (0, 1).

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> fit.confint().round(3)
                       2.5 %   97.5 %
        (Intercept)  238.361  264.449
        Days           8.024   12.911
        """
        check_level(level)
        a = (1 - level) / 2
        q = t_ppf(1 - a, self.df_resid)
        se = pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef.index)
        est = self.coefficients
        se = se.reindex(est.index)
        lo, hi = percent_labels(level)
        return pd.DataFrame({lo: est - q * se, hi: est + q * se}, index=est.index)

    def model_matrix(self, newdata) -> np.ndarray:
        """The non-aliased columns of X for new data (factor levels and scale()/poly() as in the fit).

        Parameters
        ----------
        newdata : pandas.DataFrame, polars.DataFrame or dict
            Rows to evaluate; it needs every variable of the formula's right-hand side.

        Returns
        -------
        numpy.ndarray
            One row per row of ``newdata`` (NaN where a variable is missing), one column per
            non-aliased coefficient.

        Raises
        ------
        DataError
            When ``newdata`` lacks a variable, has a level of a factor that the fit never saw, or
            gives non-numbers for a numeric variable. The fitted model is left as it was.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> fit.model_matrix({"Days": [0, 5]}).tolist()
        [[1.0, 0.0], [1.0, 5.0]]
        """
        from ..design.newdata import spec_model_matrix
        from ..postfit.predict import coerce_categoricals as _coerce_categoricals, needed_columns as _needed, \
            newdata_frame as _as_frame, numeric_as_fitted

        nd = _as_frame(newdata)
        names = _needed(self.parsed.fixed, self, nd, "the model matrix")
        nd = numeric_as_fitted(self.frame.data, nd, names)
        nd = _coerce_categoricals(self.spec, nd)  # unseen level -> DataError naming column and level
        # evaluated on a private copy of the spec: formulaic writes its state back into the spec it is given
        mm = spec_model_matrix(self.spec, nd, "the model matrix on newdata", na_action="ignore")
        X = np.asarray(mm, dtype=float).reshape(len(nd), -1)
        return X[:, list(self.kept)]

    def predict(self, newdata=None, interval: str | None = None, level: float = 0.95):
        """R's ``predict.lm``: fitted values for ``newdata`` (the data fitted when None).

        With ``interval="confidence"`` the band is ``x0' beta +- t_{n-p} sqrt(x0' V x0)``; with
        ``"prediction"`` sigma^2 is added under the root (a new observation with weight 1).

        Parameters
        ----------
        newdata : pandas.DataFrame, polars.DataFrame or dict, optional
            Rows to predict; None predicts the rows of the fit. An offset in the formula is
            evaluated on newdata.
        interval : {None, "confidence", "prediction"}, optional
            With an interval, a DataFrame with columns ``fit, lwr, upr`` is returned.
        level : float, default 0.95
            Confidence level of the interval, between 0 and 1.

        Returns
        -------
        numpy.ndarray or pandas.DataFrame
            The fitted values, or with ``interval`` a DataFrame with columns ``fit, lwr, upr``.

        Raises
        ------
        DataError
            When ``newdata`` lacks a variable of the formula, has a level of a factor that the fit
            never saw, or gives non-numbers for a numeric variable. A failed call leaves the model
            as it was.
        ArgumentError
            For an unknown ``interval`` or a ``level`` outside (0, 1).

        Examples
        --------
        >>> import pandas as pd
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> new = pd.DataFrame({"Days": [0, 5]})
        >>> fit.predict(new).round(2).tolist()
        [251.41, 303.74]
        >>> fit.predict(new, interval="prediction").round(2)
              fit     lwr     upr
        0  251.41  156.35  346.46
        1  303.74  209.31  398.17
        """
        if interval is not None and interval not in ("confidence", "prediction"):
            raise ArgumentError(f"interval must be None, 'confidence' or 'prediction', got {interval!r}")
        if interval is not None:
            check_level(level)
        if newdata is None:
            X = self.X[:, list(self.kept)]
            off = self._offset
        else:
            from ..design.matrix import evaluate_numeric
            from ..postfit.predict import needed_columns as _needed, newdata_frame as _as_frame

            newdata = _as_frame(newdata)
            X = self.model_matrix(newdata)
            off = np.zeros(X.shape[0])
            for expr in self.parsed.offsets:
                _needed(expr, self, newdata, f"the offset {expr}")
                off = off + evaluate_numeric(expr, newdata, "the offset")
        fit = X @ self._qr[0] + off
        if interval is None:
            return fit
        se2 = np.einsum("ij,jk,ik->i", X, self.vcov.to_numpy(), X)
        if interval == "prediction":
            se2 = se2 + self.sigma ** 2  # a new observation with weight 1
        q = t_ppf(1 - (1 - level) / 2, self.df_resid)
        half = q * np.sqrt(se2)
        index = newdata.index if isinstance(newdata, pd.DataFrame) else None
        return pd.DataFrame({"fit": fit, "lwr": fit - half, "upr": fit + half}, index=index)
