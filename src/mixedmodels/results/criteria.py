"""AIC and BIC from a fit's log-likelihood, shared by lmer, glmer and lm results (R's AIC, BIC)."""
from __future__ import annotations

import math

__all__ = ["InformationCriteria"]


class InformationCriteria:
    """Mixin: ``aic = -2 logLik + 2 npar``, ``bic = -2 logLik + log(nobs) npar``.

    The class provides ``loglik``, ``npar`` (R's logLik df) and ``nobs``.
    """

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar
