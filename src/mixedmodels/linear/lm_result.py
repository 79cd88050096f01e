r"""The fitted ordinary linear model, :class:`LmResult` (R's ``lm`` object): the least-squares fit.

The coefficients come from the QR decomposition of W^1/2 X on its non-aliased columns; the
residuals, sigma, the covariance of the coefficients and the ML log-likelihood follow (the formulas
are in :mod:`mixedmodels.linear.lm`). Tests, intervals, R-squared, F and predictions are in
:class:`~mixedmodels.linear.lm_inference.LmInference`, R's printed summary in
:mod:`mixedmodels.linear.lm_summary`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..results.criteria import InformationCriteria
from .lm_inference import LmInference
from .lm_summary import LmSummary

__all__ = ["LmResult"]


@dataclass(frozen=True, eq=False)
class LmResult(LmInference, InformationCriteria):
    """A fitted linear model (R's ``lm`` object), as :func:`mixedmodels.lm <mixedmodels.linear.lm.lm>` returns it.

    Derived values are computed on first use. It can stand beside mixed models in
    ``mm.anova(lmer_fit, lm_fit)`` (its log-likelihood is the ML one, as R's ``logLik.lm``).
    The examples of the members fit ``fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))``.

    Attributes
    ----------
    formula : str
        The model formula, e.g. ``"Reaction ~ Days"``.
    data_name : str
        How the printed call names the data.
    parsed : ParsedFormula
        The parsed formula (response, fixed part, offsets).
    frame : ModelFrame
        The rows used: the data, the response ``y``, the weights and the offset.
    X : numpy.ndarray
        The full model matrix, aliased columns included.
    names : list of str
        R's names of the columns of X.
    spec : object
        formulaic's model spec, which builds X for new data.
    kept : tuple of int
        Indices of the non-aliased columns of X.
    weights_label : str or None
        How the call names the weights (the column's name, "weights", or None without weights).
    n_omitted : int
        Rows of the data left out for missing values.
    r_rownames : bool
        Whether the data had a default index (residuals are then named 1, 2, ... as in R).
    reml : bool
        Always False: an lm is fitted by least squares (ML), so ``mm.anova()`` needs no refit.

    Examples
    --------
    >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
    >>> fit
    <LmResult 'Reaction ~ Days': nobs=180, rank=2>
    >>> fit.names, fit.kept, fit.n_omitted
    (['(Intercept)', 'Days'], (0, 1), 0)
    """

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
        """The rank p of X: the number of non-aliased columns (R's ``m$rank``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).rank
        2
        """
        return len(self.kept)

    @property
    def nobs(self) -> int:
        """Observations with non-zero weight (R's ``nobs``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).nobs
        180
        """
        return int(self._pos.sum())

    @property
    def ngroups(self) -> dict:
        """Grouping factors and their numbers of levels, as a mixed model's: an lm has none.

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).ngroups
        {}
        """
        return {}

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom, n - p (R's ``df.residual``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).df_resid
        178
        """
        return self.nobs - self.rank

    @property
    def coef_names(self) -> list[str]:
        """Names of every column of X, aliased ones included (R's ``names(coef(m))``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).coef_names
        ['(Intercept)', 'Days']
        """
        return list(self.names)

    @property
    def aliased(self) -> list[str]:
        """Names of the aliased columns: linear combinations of earlier ones, NA coefficients in R.

        Examples
        --------
        >>> mm.lm("Reaction ~ Days + I(2 * Days)", mm.load_dataset("sleepstudy")).aliased
        ['I(2 * Days)']
        """
        return [nm for j, nm in enumerate(self.names) if j not in self.kept]

    @cached_property
    def fixef(self) -> pd.Series:
        """Estimated coefficients of the non-aliased columns.

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).fixef.round(3)
        (Intercept)    251.405
        Days            10.467
        Name: Estimate, dtype: float64
        """
        return pd.Series(self._qr[0], index=[self.names[j] for j in self.kept], name="Estimate")

    @cached_property
    def coefficients(self) -> pd.Series:
        """R's ``coef(m)``: every column of X, NaN (R's NA) for aliased ones.

        Examples
        --------
        >>> mm.lm("Reaction ~ Days + I(2 * Days)", mm.load_dataset("sleepstudy")).coefficients.round(3)
        (Intercept)    251.405
        Days            10.467
        I(2 * Days)        NaN
        Name: Estimate, dtype: float64
        """
        out = pd.Series(np.nan, index=list(self.names), name="Estimate")
        out.iloc[list(self.kept)] = self._qr[0]
        return out

    @cached_property
    def fitted(self) -> pd.Series:
        """Fitted values x_i' beta (+ offset) of the rows used, indexed as the data (R's ``fitted``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).fitted.head(3).round(2).tolist()
        [251.41, 261.87, 272.34]
        """
        c, a = self._centre
        if a is None:
            mu = self.X[:, list(self.kept)] @ self._qr[0] + self._offset
        else:
            mu = self._fitted_centred + c
        return pd.Series(mu, index=self.frame.data.index, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        """Response residuals y_i - fitted_i of the rows used, unweighted (R's ``residuals.lm``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).residuals.head(3).round(2).tolist()
        [-1.85, -3.17, -21.54]
        """
        c, a = self._centre
        if a is None:
            r = self.frame.y - self.fitted.to_numpy()
        else:   # from the centred response: no rounding of values of size c
            r = ((self.frame.y - c) - self._offset) - self.X[:, list(self.kept)] @ self._fit[2]
        return pd.Series(r, index=self.frame.data.index, name="residuals")

    @cached_property
    def rss(self) -> float:
        """Weighted residual sum of squares, sum_i w_i r_i^2: R's ``deviance(lm)``.

        Examples
        --------
        >>> round(mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).rss, 1)
        405251.6
        """
        r = self.residuals.to_numpy()
        return float(np.sum(self._w * r * r))

    @cached_property
    def sigma(self) -> float:
        """Residual standard error, sqrt(RSS / (n - p)) (R's ``sigma``); NaN without residual df.

        Examples
        --------
        >>> round(mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).sigma, 3)
        47.715
        """
        rdf = self.df_resid
        return math.sqrt(self.rss / rdf) if rdf > 0 else float("nan")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the estimable coefficients, sigma^2 (X'WX)^-1 (R's ``vcov``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).vcov.round(3)
                     (Intercept)   Days
        (Intercept)       43.694 -6.899
        Days              -6.899  1.533
        """
        names = [self.names[j] for j in self.kept]
        return pd.DataFrame(self.sigma ** 2 * self._qr[1], index=names, columns=names)

    # ------------------------------------------------------------------ likelihood
    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``: the p estimable coefficients and sigma.

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).npar
        3
        """
        return self.rank + 1

    @cached_property
    def loglik(self) -> float:
        """The ML log-likelihood, (sum_i log w_i - n (log 2 pi + 1 - log n + log RSS)) / 2 (R's ``logLik.lm``).

        Examples
        --------
        >>> round(mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).loglik, 3)
        -950.147
        """
        pos = self._pos
        n = self.nobs
        return 0.5 * (float(np.sum(np.log(self._w[pos])))
                      - n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(self.rss)))

    @property
    def deviance(self) -> float:
        """-2 log-likelihood, as ``deviance`` of the mixed models and lme4's anova table.

        R's ``deviance(lm)`` is the residual sum of squares: that is :attr:`rss`.

        Examples
        --------
        >>> round(mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).deviance, 3)
        1900.293
        """
        return -2.0 * self.loglik

    @property
    def reml_criterion(self):
        """None: an lm has no REML criterion (a mixed model's ``reml_criterion`` is its REML deviance).

        Examples
        --------
        >>> print(mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).reml_criterion)
        None
        """
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
            ``self`` without ``y``; otherwise a new fit with the same design and weights.

        Raises
        ------
        ArgumentError
            For ``REML=True``.

        Examples
        --------
        >>> fit = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy"))
        >>> fit.refit() is fit
        True
        >>> fit.refit(y=fit.fitted.to_numpy()).fixef.round(3).tolist()
        [251.405, 10.467]
        """
        if REML:
            raise ArgumentError("an ordinary linear model has no REML fit; use REML=False")
        if y is None:
            return self
        from dataclasses import replace

        from ..design.frame import check_new_response

        y = check_new_response(y, len(self.frame.y))
        return replace(self, frame=replace(self.frame, y=y))

    # ------------------------------------------------------------------ printing
    def summary(self) -> "LmSummary":
        """R's ``summary(lm(...))``; ``str()`` of it is R's printed text.

        Returns
        -------
        LmSummary
            The residuals, the coefficient table (NA rows for aliased columns), sigma, R-squared
            and the F test; printing it gives R's ``print.summary.lm``.

        Examples
        --------
        >>> s = mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).summary()
        >>> print(str(s).splitlines()[-2])
        Multiple R-squared:  0.2865,    Adjusted R-squared:  0.2825
        """
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
        """The call as R prints it: ``lm(formula = y ~ x, data = d)`` (with ``weights = ...``).

        Examples
        --------
        >>> mm.lm("Reaction ~ Days", mm.load_dataset("sleepstudy")).call
        'lm(formula = Reaction ~ Days, data = sleepstudy)'
        """
        out = f"lm(formula = {self.formula}, data = {self.data_name}"
        if self.weights_label is not None:
            out += f", weights = {self.weights_label}"
        return out + ")"

    def __repr__(self) -> str:
        return f"<LmResult {self.formula!r}: nobs={self.nobs}, rank={self.rank}>"

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)
