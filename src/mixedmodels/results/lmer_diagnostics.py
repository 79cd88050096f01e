"""An lmer fit's predictions and case diagnostics: ``predict``, leverage, residuals, influence.

The members of :class:`LmerDiagnostics`, a mixin of :class:`~mixedmodels.results.lmer.LmerResult`,
delegate with a lazy import to :mod:`mixedmodels.postfit.predict`, :mod:`mixedmodels.postfit.leverage`
and :mod:`mixedmodels.postfit.influence`, which read the fit through its attributes.

The examples use ``m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["LmerDiagnostics"]


class LmerDiagnostics:
    """Mixin of :class:`~mixedmodels.results.lmer.LmerResult`: predictions (lme4's ``predict``), hat
    values, residuals and the leave-one-out refits of lme4's ``influence``."""

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, se_fit: bool = False,
                interval: str | None = None, level: float = 0.95, type: str = "link", offset=None,
                random_only: bool = False, ddf: str = "Satterthwaite"):
        r"""Predictions, as lme4's ``predict(m, newdata, re.form, allow.new.levels)``.

        The prediction is ``x' beta + offset + sum_k z_k' b_k[j]`` with the conditional modes
        ``b = Lambda u`` of the terms that ``re_form`` keeps; without newdata, and with every term,
        it equals :attr:`fitted`. Standard errors (``se_fit``, which lme4 does not give) come from
        Henderson's equations, ``se^2 = sigma^2 w' C^-1 w`` with ``w = [Lambda' z; x]`` (at the
        population level ``x' vcov(beta) x``), conditional on theta. A confidence interval is
        ``fit +- q se``, ``q`` Student's t with Satterthwaite's df for population-level rows,
        normal otherwise; a prediction interval adds ``sigma^2`` and the variance of the random
        effects not conditioned on (normal quantile).
        See :mod:`mixedmodels.postfit.predict`.

        Parameters
        ----------
        newdata : pandas.DataFrame, polars.DataFrame or dict, optional
            The rows to predict, with every variable of the formula that the prediction needs
            (the response is not needed). None (default): the rows used in the fit.
        re_form : None, str or NaN, default None
            The random-effects terms included: None every term (lme4's default); ``"~0"`` (or
            ``"NA"``, NaN) none, the population-level prediction ``x' beta``; or a formula naming
            some, such as ``"~(1 | Subject)"``.
        allow_new_levels : bool, default False
            A level of a grouping factor that the fit never saw (or a missing one) is predicted at
            the population level for that term (b = 0) instead of raising a DataError.
        se_fit : bool, default False
            Also return the predictions' standard errors.
        interval : {None, "confidence", "prediction"}, default None
            Add the limits ``lwr, upr`` of a confidence interval of the mean or of a prediction
            interval of a new observation.
        level : float, default 0.95
            The intervals' level, in (0, 1).
        type : {"link", "response"}, default "link"
            The scale of GLMM predictions; the same for an lmer fit (identity link).
        offset : array_like, optional
            Added to the linear predictor for newdata (as in lme4, an ``offset=`` argument of the
            fit is not carried to newdata; an ``offset()`` written in the formula is).
        random_only : bool, default False
            Only the random part ``Z_new b`` of the prediction.
        ddf : str, default "Satterthwaite"
            Population-level confidence intervals use Student's t with Satterthwaite's df;
            ``"none"`` (or ``"lme4"``) normal quantiles.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            A Series named ``fit``, indexed like ``newdata`` (like the fit's rows when newdata is
            None); with ``se_fit=True`` or an ``interval``, a DataFrame with columns ``fit, se``
            (and ``lwr, upr``). See :func:`mixedmodels.postfit.predict.predict`.

        Examples
        --------
        >>> import pandas as pd
        >>> nd = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"]})
        >>> m.predict(nd, allow_new_levels=True).round(2).tolist()
        [253.66, 303.74]
        >>> m.predict(nd, re_form="~0", interval="confidence").round(2)
              fit    se     lwr     upr
        0  251.41  6.82  237.01  265.80
        1  303.74  9.58  283.53  323.96
        """
        from ..postfit.predict import predict

        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, se_fit=se_fit,
                       interval=interval, level=level, type=type, offset=offset, random_only=random_only, ddf=ddf)

    def hatvalues(self) -> np.ndarray:
        r"""The diagonal of the hat matrix, lme4's ``hatvalues(m)``: the leverage of each observation.

        The hat matrix maps the response to the fitted values ``X beta + Z b``; with the
        penalized least-squares system of lme4's paper it is
        ``H = [Z Lambda, X] (L L')^-1 [Z Lambda, X]'`` (weighted by ``sqrt(w)`` for a weighted
        fit), so ``sum(h)`` is the model's effective number of parameters, between ``p`` and
        ``p + q``.

        Returns
        -------
        numpy.ndarray
            One value in [0, 1] per observation used, in the fit's row order.

        Examples
        --------
        >>> h = m.hatvalues()
        >>> h.shape, round(float(h.sum()), 2)
        ((180,), 29.02)
        """
        from ..postfit.leverage import hatvalues

        return hatvalues(self)

    def resid(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals of a kind, lme4's ``residuals(m, type, scaled)``.

        Parameters
        ----------
        type : {"response", "working", "pearson", "deviance"}, default "response"
            ``"response"`` and ``"working"``: ``y - fitted`` (as :attr:`residuals`);
            ``"pearson"`` and ``"deviance"``: ``sqrt(w) (y - fitted)`` with the prior weights
            (the same as the response residuals for an unweighted fit).
        scaled : bool, default False
            Divide by sigma (the summary's "Scaled residuals").

        Returns
        -------
        pandas.Series
            One residual per observation used, with the data's index, named ``residuals``.

        Examples
        --------
        >>> m.resid().round(2).head(3).tolist()
        [-4.1, -14.63, -42.2]
        >>> m.resid(type="pearson", scaled=True).round(3).head(3).tolist()
        [-0.16, -0.571, -1.649]
        """
        from ..postfit.leverage import residuals

        return residuals(self, type=type, scaled=scaled)

    def influence(self, group=None, units=None):
        """Refits without each observation or each group, lme4's ``influence(m, groups)``.

        Each refit starts from this fit's theta and uses its criterion (REML or ML); ``dfbeta``
        is ``beta_(-i) - beta``.

        Parameters
        ----------
        group : str or list of str, optional
            None (default): leave out one observation at a time (``group == "case"``); a column
            of the data (e.g. ``"Subject"``), or several (their combinations, labels joined by
            "."): leave out one of its levels at a time.
        units : label or list of labels, optional
            Refit only without these units: row labels of the data (observations) or levels of
            ``group``, compared as text. Cook's distance still counts all units, so its values
            equal those of the full run.

        Returns
        -------
        Influence
            ``units``, ``fixef_deleted`` and ``varcomp_deleted`` (one row per unit), the deleted
            fits' ``vcov_deleted``; methods ``dfbeta(which="fixed" | "var.cov")``, ``dfbetas()``,
            ``cooks_distance()``. See :func:`mixedmodels.postfit.influence.influence`.

        Examples
        --------
        >>> infl = m.influence(group="Subject", units=["308", "309"])
        >>> infl.dfbeta().round(2)
             (Intercept)  Days
        308         0.42 -0.66
        309         2.73  0.48
        """
        from ..postfit.influence import influence

        return influence(self, group=group, units=units)

    def cooks_distance(self, group=None, method: str = "refit") -> pd.Series:
        """Cook's distance of each observation or group, lme4's ``cooks.distance``.

        Parameters
        ----------
        group : str or list of str, optional
            None: per observation; a column (or columns) of the data: per level, as in
            :meth:`influence` (``method="refit"`` only).
        method : {"refit", "hat"}, default "refit"
            ``"refit"``: lme4's ``cooks.distance(influence(m, groups))``,
            ``(n - p) / (n p) dfbeta' vcov(beta)^-1 dfbeta`` from the refits of :meth:`influence`
            (``n`` units, ``p`` fixed effects; one refit per unit). ``"hat"``: lme4's
            ``cooks.distance(m)``, the one-step formula ``(r_i / (1 - h_i))^2 h_i / (sigma^2 p)``
            with Pearson residuals and hat values, no refits (observations only).

        Returns
        -------
        pandas.Series
            One distance per observation (the data's index) or level, named ``cooks_distance``.

        Examples
        --------
        >>> m.cooks_distance(method="hat").round(4).head(3).tolist()
        [0.005, 0.0402, 0.2261]
        >>> m.cooks_distance(group="Subject").round(3).head(2).tolist()
        [0.082, 0.132]
        """
        from ..postfit.influence import cooks_distance

        return cooks_distance(self, group=group, method=method)

    def dfbetas(self, group=None) -> pd.DataFrame:
        """The scaled change of each fixed effect when a unit is left out, lme4's ``dfbetas``.

        ``(beta_(-i) - beta) / se_(-i)``, the standard errors those of the fit without unit i,
        from the refits of :meth:`influence`.

        Parameters
        ----------
        group : str or list of str, optional
            None: leave out each observation (one refit per row); a column (or columns) of the
            data: each of its levels, as in :meth:`influence`.

        Returns
        -------
        pandas.DataFrame
            One row per unit, one column per fixed effect.

        Examples
        --------
        >>> m.dfbetas(group="Subject").round(2).head(2)
             (Intercept)  Days
        308         0.06 -0.45
        309         0.41  0.31
        """
        from ..postfit.influence import dfbetas

        return dfbetas(self, group=group)
