r"""Ordinary linear models: R's ``lm()`` and ``summary.lm``.

With prior weights w_i > 0 (all 1 by default) and the model matrix X of rank p (a column that
is a linear combination of earlier ones is *aliased*: R reports its coefficient as NA):

    beta    = argmin  sum_i w_i (y_i - x_i' beta)^2       (QR decomposition of W^1/2 X)
    sigma^2 = RSS / (n - p)
    Var(beta) = sigma^2 (X' W X)^-1

A response far from 0 (1e12 + y) with the constant in the span of X is fitted as y - c (c a
constant, as lmer's core does), so every number but the coefficient of the constant is that of the
shifted problem rather than of a response rounded to the ulps of 1e12.

The log-likelihood is the ML one, as R's ``logLik.lm``, with p + 1 parameters (the
coefficients and sigma):

    logLik = ( sum_i log w_i  -  n (log 2 pi + 1 - log n + log RSS) ) / 2

That is what lme4's ``anova(lmer_fit, lm_fit)`` compares with the ML refit of the mixed model, so
an ``LmResult`` can be passed to ``mixedmodels.anova`` beside mixed models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..distributions import f_sf, t_ppf, t_sf
from ..results.criteria import InformationCriteria
from ..arguments import check_level
from ..errors import ArgumentError, DataError
from ..rformat import percent_labels
from ..formula.parse import has_random_terms, parse_lm_formula  # in __all__: lm's formulas, parsed there

__all__ = ["lm", "LmResult", "LmSummary", "parse_lm_formula", "has_random_terms"]


# --------------------------------------------------------------------------- fitting
def lm(formula: str, data, weights=None, offset=None, *, data_name: str | None = None) -> "LmResult":
    """Fit an ordinary linear model by (weighted) least squares, as R's ``lm()``.

    Parameters
    ----------
    formula : str
        ``"y ~ x + f"``, without random-effects terms; ``offset()`` terms are allowed.
    data : pandas.DataFrame, polars.DataFrame, dict, ...
        The data; rows with a missing value in any variable the formula uses are left out
        (``na.omit``).
    weights : array_like or str, optional
        Prior weights, one value per row of ``data``, or the name of a column.
    offset : array_like or str, optional
        A known term of the linear predictor, one value per row, or the name of a column.
    data_name : str, optional
        How the printed call names the data (``data.attrs["name"]`` or "data" otherwise).

    Returns
    -------
    LmResult
        Aliased columns (linear combinations of earlier ones) get an NA coefficient, as in R.
    """
    from ..design.columns import as_pandas, check_predictor_columns
    from ..design.fixed import independent_columns, r_model_matrix
    from ..design.frame import model_frame

    parsed = parse_lm_formula(formula)
    data = as_pandas(data)  # polars (also lazy) without pyarrow, dicts
    weights_label = None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise DataError(f"weights {weights!r} is not a column of the data")
        weights_label, weights = weights, data[weights].to_numpy(dtype=float)
    elif weights is not None:
        weights_label = "weights"
    frame = model_frame(parsed, data, weights=weights, offset=offset)
    # the same design as lmer's fixed part: R's coding of factors (ordered: contr.poly), integer
    # columns as doubles, a column named Intercept beside (Intercept), dates refused
    check_predictor_columns([parsed.fixed], frame.data)
    X, names, spec = r_model_matrix(parsed.fixed, frame.data, "the model matrix")
    if not np.all(np.isfinite(X)):
        raise DataError("the model matrix has infinite or missing values (e.g. log of zero or of a negative "
                        "number); transform or drop those rows")
    w = frame.weights
    pos = np.ones(len(frame.y), dtype=bool) if w is None else w > 0
    if not pos.any():
        raise DataError("every weight is zero: nothing to fit")
    sw = np.ones(len(frame.y)) if w is None else np.sqrt(w)
    kept = independent_columns(X[pos] * sw[pos, None]) if X.shape[1] else []
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    r_rownames = isinstance(data.index, pd.RangeIndex) and data.index.start == 0 and data.index.step == 1
    return LmResult(formula=parsed.text, data_name=str(name), parsed=parsed, frame=frame, X=X, names=names,
                    spec=spec, kept=tuple(kept), weights_label=weights_label, n_omitted=len(data) - len(frame.y),
                    r_rownames=r_rownames)


@dataclass(frozen=True, eq=False)
class LmResult(InformationCriteria):
    """A fitted linear model (R's ``lm`` object). Derived values are computed on first use."""

    formula: str
    data_name: str
    parsed: object = field(repr=False)
    frame: object = field(repr=False)       # design.ModelFrame: rows used, y, weights, offset
    X: np.ndarray = field(repr=False)       # full model matrix, aliased columns included
    names: list = field(repr=False)         # R's column names of X
    spec: object = field(repr=False)        # formulaic ModelSpec, to build X for new data
    kept: tuple = field(repr=False)         # indices of the non-aliased columns
    weights_label: str | None = None
    n_omitted: int = 0
    r_rownames: bool = field(default=True, repr=False)

    reml = False  # an lm is fitted by ML/least squares; mm.anova() needs no refit

    # ------------------------------------------------------------------ the least-squares fit
    @property
    def _pos(self) -> np.ndarray:
        w = self.frame.weights
        return np.ones(len(self.frame.y), dtype=bool) if w is None else w > 0

    @property
    def _w(self) -> np.ndarray:
        w = self.frame.weights
        return np.ones(len(self.frame.y)) if w is None else w

    @property
    def _offset(self) -> np.ndarray:
        off = self.frame.offset
        return np.zeros(len(self.frame.y)) if off is None else off

    @cached_property
    def _centre(self) -> tuple[float, np.ndarray | None]:
        """(c, a): a response far from 0 (1e12 + y) is fitted as (y - c) - offset when the constant
        column is in the span of X (X a = 1: an intercept, or cell-means coding), as lmer's core
        does; the coefficients are then those of the centred fit plus c a. (0, None) otherwise, and
        for every ordinary response, which is fitted exactly as before."""
        from ..core.blocks import far_centre as _far_centre, ones_coef as _ones_coef

        pos = self._pos
        c = _far_centre((self.frame.y - self._offset)[pos])
        a = _ones_coef(self.X[:, list(self.kept)]) if c and self.kept else None
        return (c, a) if a is not None else (0.0, None)

    @cached_property
    def _fit(self):
        """(beta, (X'WX)^-1, beta of the centred response) on the non-aliased columns, from the QR of
        W^1/2 X (zero weights left out). Without centring the last is beta itself."""
        pos = self._pos
        sw = np.sqrt(self._w[pos])
        Xk = self.X[pos][:, list(self.kept)] * sw[:, None]
        c, a = self._centre
        # y - c is exact (Sterbenz) for a response within a factor 2 of c; then the offset
        z = self.frame.y - self._offset if a is None else (self.frame.y - c) - self._offset
        yk = z[pos] * sw
        if Xk.shape[1] == 0:
            return np.zeros(0), np.zeros((0, 0)), np.zeros(0)
        Q, R = np.linalg.qr(Xk)
        beta = np.linalg.solve(R, Q.T @ yk)
        Rinv = np.linalg.solve(R, np.eye(R.shape[0]))
        V = Rinv @ Rinv.T
        if a is None:
            return beta, V, beta
        return beta + c * a, V, beta

    @property
    def _qr(self):
        """(beta, (X'WX)^-1) on the non-aliased columns."""
        return self._fit[0], self._fit[1]

    @cached_property
    def _fitted_centred(self) -> np.ndarray:
        """Fitted values less the centring constant c (the fitted values themselves when c = 0)."""
        return self.X[:, list(self.kept)] @ self._fit[2] + self._offset

    @property
    def rank(self) -> int:
        return len(self.kept)

    @property
    def nobs(self) -> int:
        """Observations with non-zero weight (R's ``nobs``)."""
        return int(self._pos.sum())

    @property
    def ngroups(self) -> dict:
        return {}

    @property
    def df_resid(self) -> int:
        return self.nobs - self.rank

    @property
    def coef_names(self) -> list[str]:
        """Names of every column of X, aliased ones included (R's ``names(coef(m))``)."""
        return list(self.names)

    @property
    def aliased(self) -> list[str]:
        return [nm for j, nm in enumerate(self.names) if j not in self.kept]

    @cached_property
    def fixef(self) -> pd.Series:
        """Estimated coefficients of the non-aliased columns."""
        return pd.Series(self._qr[0], index=[self.names[j] for j in self.kept], name="Estimate")

    @cached_property
    def coefficients(self) -> pd.Series:
        """R's ``coef(m)``: every column of X, NaN (R's NA) for aliased ones."""
        out = pd.Series(np.nan, index=list(self.names), name="Estimate")
        out.iloc[list(self.kept)] = self._qr[0]
        return out

    @cached_property
    def fitted(self) -> pd.Series:
        c, a = self._centre
        if a is None:
            mu = self.X[:, list(self.kept)] @ self._qr[0] + self._offset
        else:
            mu = self._fitted_centred + c
        return pd.Series(mu, index=self.frame.data.index, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        c, a = self._centre
        if a is None:
            r = self.frame.y - self.fitted.to_numpy()
        else:   # from the centred response: no rounding of values of size c
            r = ((self.frame.y - c) - self._offset) - self.X[:, list(self.kept)] @ self._fit[2]
        return pd.Series(r, index=self.frame.data.index, name="residuals")

    @cached_property
    def rss(self) -> float:
        """Weighted residual sum of squares: R's ``deviance(lm)``."""
        r = self.residuals.to_numpy()
        return float(np.sum(self._w * r * r))

    @cached_property
    def sigma(self) -> float:
        rdf = self.df_resid
        return math.sqrt(self.rss / rdf) if rdf > 0 else float("nan")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        names = [self.names[j] for j in self.kept]
        return pd.DataFrame(self.sigma ** 2 * self._qr[1], index=names, columns=names)

    # ------------------------------------------------------------------ likelihood
    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``: the p estimable coefficients and sigma."""
        return self.rank + 1

    @cached_property
    def loglik(self) -> float:
        pos = self._pos
        n = self.nobs
        return 0.5 * (float(np.sum(np.log(self._w[pos])))
                      - n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(self.rss)))

    @property
    def deviance(self) -> float:
        """-2 log-likelihood, as ``deviance`` of the mixed models and lme4's anova table.

        R's ``deviance(lm)`` is the residual sum of squares: that is :attr:`rss`.
        """
        return -2.0 * self.loglik

    @property
    def reml_criterion(self):
        return None

    def refit(self, REML: bool | None = False, y=None) -> "LmResult":
        """The same model fitted to a new response ``y`` (R's ``refit``), or itself.

        An lm has nothing to refit by ML, so without ``y`` it returns itself (which lets
        ``mm.anova(lmer_fit, lm_fit)`` compare the two).

        Parameters
        ----------
        REML : bool, optional
            Must be false: an ordinary linear model has no REML fit.
        y : array_like, optional
            One new response per observation used in the fit (on the scale the formula models).

        Returns
        -------
        LmResult
        """
        if REML:
            raise ArgumentError("an ordinary linear model has no REML fit; use REML=False")
        if y is None:
            return self
        from dataclasses import replace

        from ..design.frame import check_new_response

        y = check_new_response(y, len(self.frame.y))
        return replace(self, frame=replace(self.frame, y=y))

    # ------------------------------------------------------------------ R-squared and F
    @property
    def has_intercept(self) -> bool:
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
        if self.rank == self._df_int:
            return 0.0
        mss, rss = self._mss_rss
        return mss / (mss + rss)

    @property
    def adj_r_squared(self) -> float:
        if self.rank == self._df_int:
            return 0.0
        return 1 - (1 - self.r_squared) * ((self.nobs - self._df_int) / self.df_resid)

    @property
    def fstatistic(self) -> tuple[float, int, int] | None:
        """(F value, numerator df, denominator df) of the test that every non-intercept coefficient is 0."""
        if self.rank == self._df_int:
            return None
        mss, rss = self._mss_rss
        numdf = self.rank - self._df_int
        return (mss / numdf) / (rss / self.df_resid), numdf, self.df_resid

    @property
    def f_pvalue(self) -> float | None:
        fs = self.fstatistic
        return None if fs is None else float(f_sf(*fs))

    # ------------------------------------------------------------------ inference
    def coef_table(self) -> pd.DataFrame:
        """R's ``summary(m)$coefficients``: Estimate, Std. Error, t value, Pr(>|t|) (aliased rows left out)."""
        est = self.fixef.to_numpy()
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        p = 2.0 * t_sf(np.abs(t), self.df_resid)
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t, "Pr(>|t|)": p},
                            index=self.fixef.index)

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """R's ``confint.lm``: t intervals, NaN rows for aliased coefficients."""
        _check_level(level)
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

        Parameters
        ----------
        newdata : pandas.DataFrame, polars.DataFrame or dict, optional
            Rows to predict; None predicts the rows of the fit. An offset in the formula is
            evaluated on newdata.
        interval : {None, "confidence", "prediction"}, optional
            With an interval, a DataFrame with columns ``fit, lwr, upr`` is returned.
        level : float, optional
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
        """
        if interval is not None and interval not in ("confidence", "prediction"):
            raise ArgumentError(f"interval must be None, 'confidence' or 'prediction', got {interval!r}")
        if interval is not None:
            _check_level(level)
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

    # ------------------------------------------------------------------ printing
    def summary(self) -> "LmSummary":
        """R's ``summary(lm(...))``; ``str()`` of it is R's printed text."""
        fs = self.fstatistic
        w = self.frame.weights
        r = self.residuals.to_numpy()
        pos = self._pos
        if w is not None:
            r = np.sqrt(w) * r
        idx = self.frame.data.index[pos]
        resid_names = [str(i + 1) if self.r_rownames else str(i) for i in idx]
        full = self.coef_table().reindex(self.names)
        return LmSummary(call=self.call, residuals=r[pos], residual_names=resid_names,
                         weighted=w is not None and float(np.ptp(w)) != 0.0,
                         coefficients=full, aliased=tuple(self.aliased), sigma=self.sigma,
                         df_resid=self.df_resid, n_omitted=self.n_omitted,
                         r_squared=None if fs is None else self.r_squared,
                         adj_r_squared=None if fs is None else self.adj_r_squared, fstatistic=fs)

    @property
    def call(self) -> str:
        """The call as R prints it: ``lm(formula = y ~ x, data = d)``."""
        out = f"lm(formula = {self.formula}, data = {self.data_name}"
        if self.weights_label is not None:
            out += f", weights = {self.weights_label}"
        return out + ")"

    def __repr__(self) -> str:
        return f"<LmResult {self.formula!r}: nobs={self.nobs}, rank={self.rank}>"

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)


def _check_level(level) -> None:
    check_level(level)


# --------------------------------------------------------------------------- summary.lm
@dataclass(frozen=True)
class LmSummary:
    """The numbers of R's ``summary.lm``; ``str()`` renders them as ``print.summary.lm``.

    ``coefficients`` has a row for every column of X, NaN for aliased ones.
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
        """The coefficient table (aliased rows left out)."""
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
