"""AIC and BIC from a fit's log-likelihood, shared by lmer, glmer and lm results (R's AIC, BIC)."""
from __future__ import annotations

import math

__all__ = ["InformationCriteria"]


class InformationCriteria:
    """Mixin: ``aic = -2 logLik + 2 npar``, ``bic = -2 logLik + log(nobs) npar``.

    The class provides ``loglik``, ``npar`` (R's logLik df) and ``nobs``. The examples use
    ``m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.load_dataset("sleepstudy"))``.
    """

    @property
    def aic(self) -> float:
        """Akaike's information criterion, R's ``AIC(m)``: ``-2 logLik + 2 npar``.

        ``logLik`` is the fit's own criterion: for a REML fit of lmer the REML log-likelihood, as
        in R (so the AIC of REML fits is comparable only between models with the same fixed
        effects; refit with ``REML=False`` to compare fixed parts). ``npar`` counts the fixed
        effects, the covariance parameters theta and, where the family has one, sigma.

        Examples
        --------
        >>> round(m.aic, 2)
        1755.63
        >>> round(m.refit(REML=False).aic, 2)
        1763.94
        """
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        """Schwarz's Bayesian information criterion, R's ``BIC(m)``: ``-2 logLik + log(nobs) npar``.

        As :attr:`aic` with the penalty ``log(n)`` per parameter, ``n`` the number of observations
        used in the fit (not the number of groups).

        Examples
        --------
        >>> round(m.bic, 2)
        1774.79
        """
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar
