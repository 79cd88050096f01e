r"""A glmer fit's values on its rows: fitted means, linear predictor, residuals, predictions, hat values.

:class:`GlmerResiduals` is a mixin of :class:`~mixedmodels.results.glmer.GlmerResult`. At the
converged PIRLS state the linear predictor is ``eta = offset + X beta + Z b`` (with
``b = Lambda u``) and the fitted mean ``mu = g^-1(eta)`` for the family's link ``g``; lme4's
``residuals(gm, type = )`` and ``predict(gm, type = )`` are read from them.

The examples use ``gm = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
mm.load_dataset("cbpp"), family="binomial")``.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..core.lmm import LmmCore
from ..errors import ArgumentError, MixedModelWarning, warn as _warn

__all__ = ["GlmerResiduals"]

class GlmerResiduals:
    """Mixin of :class:`~mixedmodels.results.glmer.GlmerResult`: fitted values, residuals,
    predictions and hat values of a glmer fit.

    The class provides ``model`` (the GLMM's design: ``y``, prior weights ``pw``, ``X``, terms),
    ``pirls`` (the converged state: ``eta``, ``mu``, deviance residuals), ``family``, ``sigma``,
    ``theta``, ``terms`` and ``frame``.
    """

    @property
    def _index(self):
        return self.frame.data.index

    @cached_property
    def fitted(self) -> pd.Series:
        """The fitted means ``mu = g^-1(eta)`` on the response scale, as lme4's ``fitted(gm)``
        (proportions of successes for a binomial ``cbind`` response), indexed as the data's rows.

        Examples
        --------
        >>> gm.fitted.round(3).head(3).tolist()
        [0.308, 0.142, 0.126]
        """
        return pd.Series(self.pirls.mu, index=self._index, name="fitted")

    @cached_property
    def linear_predictor(self) -> pd.Series:
        """The linear predictor ``eta = offset + X beta + Z b`` at the conditional modes (lme4's
        ``predict(gm)``, the link scale).

        Examples
        --------
        >>> gm.linear_predictor.round(3).head(3).tolist()
        [-0.809, -1.801, -1.937]
        """
        return pd.Series(self.pirls.eta, index=self._index, name="eta")

    @property
    def y(self) -> np.ndarray:
        """The response as the family sees it: proportions of successes for a binomial ``cbind``
        response (lme4's ``getME(gm, "y")``).

        Examples
        --------
        >>> gm.y[:3].round(3).tolist()
        [0.143, 0.25, 0.444]
        """
        return self.model.y

    @property
    def weights(self) -> np.ndarray:
        """The prior weights, times the trials for a ``cbind`` response, as lme4's ``weights(gm)``.

        Examples
        --------
        >>> gm.weights[:3].tolist()
        [14.0, 12.0, 9.0]
        """
        return self.model.pw

    @property
    def residuals(self) -> pd.Series:
        """The response residuals ``y - mu``; :meth:`resid` gives lme4's other kinds.

        Examples
        --------
        >>> gm.residuals.round(3).head(3).tolist()
        [-0.165, 0.108, 0.318]
        """
        return self.resid("response")

    def resid(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        r"""Residuals of a kind, as lme4's ``residuals(gm, type = )``.

        With prior weights ``w``, variance function ``V`` and ``d_i`` the deviance contribution
        of row i: "deviance" ``sign(y - mu) sqrt(d_i)``, "pearson" ``sqrt(w) (y - mu) / sqrt(V(mu))``,
        "response" ``y - mu``, "working" ``(y - mu) / (dmu/deta)``.

        Parameters
        ----------
        type : {"deviance", "pearson", "response", "working"}, default "deviance"
            The kind (lme4's default for a GLMM is "deviance"); the case is ignored.
        scaled : bool, default False
            Divide by :attr:`sigma` (1 for binomial, Poisson and negative binomial families).

        Returns
        -------
        pandas.Series
            One residual per row of the model frame, indexed as the data's rows.

        Examples
        --------
        >>> gm.resid().round(3).head(3).tolist()
        [-1.438, 0.988, 2.357]
        >>> gm.resid("pearson").round(3).head(3).tolist()
        [-1.34, 1.075, 2.879]
        """
        m, r = self.model, self.pirls
        fam = self.family
        t = str(type).lower()
        if t == "deviance":
            d = np.sqrt(np.maximum(r.devres, 0.0))
            res = np.where(m.y > r.mu, d, -d)
        elif t == "pearson":
            res = np.sqrt(m.pw / fam.variance(r.mu)) * (m.y - r.mu)
        elif t == "response":
            res = m.y - r.mu
        elif t == "working":
            res = (m.y - r.mu) / fam.mu_eta(r.eta)
        else:
            raise ArgumentError(f"residual type must be 'deviance', 'pearson', 'response' or 'working', got {type!r}")
        if scaled:
            res = res / self.sigma
        return pd.Series(res, index=self._index, name="residuals")

    def predict(self, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False,
                se_fit: bool = False, interval: str | None = None, level: float = 0.95, offset=None,
                random_only: bool = False, ddf: str = "Satterthwaite"):
        """Predictions, as lme4's ``predict(gm, newdata, type = , re.form = )``.

        Without ``newdata`` and options, the fit's own ``eta`` (or ``mu``); else
        :func:`mixedmodels.postfit.predict.predict`, which forms ``X beta + Z b`` for the rows.

        Parameters
        ----------
        newdata : pandas.DataFrame, polars.DataFrame or dict, optional
            Rows to predict; None predicts the rows used in the fit.
        type : {"link", "response"}, default "link"
            The link scale (``eta``, lme4's default) or the response scale (``mu = g^-1(eta)``).
        re_form : None or str, optional
            Random-effects terms to include: None all (lme4's default), ``"~0"`` none (the
            population level), or a formula such as ``"~(1|herd)"``.
        allow_new_levels : bool, default False
            Predict a level of a grouping factor not seen in the fit at the population level for
            that term, instead of raising.
        se_fit : bool, default False
            Also the standard errors, from :attr:`vcov` (delta method on the response scale); for
            a GLMM only at the population level (``re_form="~0"``), else an ArgumentError.
        interval : {None, "confidence"}, optional
            Add confidence limits ``lwr, upr`` (normal quantiles, population level as ``se_fit``;
            a GLMM has no prediction intervals here: use :meth:`simulate`).
        level : float, default 0.95
            The confidence level of the interval.
        offset : array_like, optional
            Added to the linear predictor for newdata (the ``offset=`` of the fit is not carried to
            newdata, as in lme4; offsets written in the formula are).
        random_only : bool, default False
            Only the random part ``Z b`` of the linear predictor.
        ddf : str, default "Satterthwaite"
            Accepted for symmetry with lmer fits; a GLMM's intervals use normal quantiles.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            A Series ``fit`` indexed like ``newdata`` (like the fit's rows without it); with
            ``se_fit`` or ``interval``, a DataFrame ``fit, se`` (and ``lwr, upr``).

        Examples
        --------
        >>> gm.predict().round(3).head(3).tolist()
        [-0.809, -1.801, -1.937]
        >>> new = mm.load_dataset("cbpp").head(2)
        >>> gm.predict(new, type="response", re_form="~0").round(3).tolist()
        [0.198, 0.084]
        """
        from ..postfit.predict import predict

        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        # the fit's own values unless something asks for more (the options at their defaults)
        if (newdata is None and re_form is None and se_fit is False and interval is None and offset is None
                and random_only is False and level == 0.95 and ddf == "Satterthwaite"):
            vals = self.pirls.eta if type == "link" else self.pirls.mu
            return pd.Series(vals, index=self._index, name="fit")
        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type,
                       se_fit=se_fit, interval=interval, level=level, offset=offset, random_only=random_only,
                       ddf=ddf)

    def hatvalues(self) -> np.ndarray:
        r"""lme4's ``hatvalues(gm)``: the diagonal of the hat matrix of the final penalized weighted
        least-squares system, with the *prior* weights ``w``.

        Row i's value is the quadratic form of ``sqrt(w_i) [Lambda' z_i; x_i]`` in the inverse of
        that system's matrix, factored at the working weights of PIRLS's last step. lme4 warns
        that this "may not make sense for GLMMs", and so does this method: the values are not
        bounded by 1 (with binomial trials as weights they are not even leverages).

        Returns
        -------
        numpy.ndarray
            One value per row of the model frame.

        Examples
        --------
        >>> gm.hatvalues()[:3].round(3).tolist()
        [1.924, 2.093, 1.727]
        """
        from ..postfit.leverage import penalized_quadform

        _warn("the hat matrix may not make sense for GLMMs", MixedModelWarning, stacklevel=2)
        # lme4's factor is that of the last PIRLS step: working weights at the mean before it
        m, r = self.model, self.pirls
        eta = r.eta if r.eta_w is None else r.eta_w
        w, _ = m.working(eta, m.linkinv(eta), m.offset)
        core = LmmCore(m.terms, m.X, np.zeros(m.n), weights=w)
        f = core.factor(self.theta)
        sw = np.sqrt(np.asarray(m.pw, dtype=float))
        return penalized_quadform(self, m.X * sw[:, None], [t.z * sw[:, None] for t in self.terms],
                                  [t.codes for t in self.terms], core=core, f=f)
