"""The deviance functions glmer minimizes: lme4's ``devfun`` of its two optimization stages.

Stage 1 (lme4's nAGQ = 0 devfun) is a function of theta alone: each evaluation runs PIRLS over
``(beta, u)`` and returns the Laplace deviance. Stage 2 (nAGQ >= 1) is a function of
``(theta, beta)``: PIRLS over ``u`` alone, then the Laplace approximation or adaptive Gauss-Hermite
quadrature. Each evaluation starts PIRLS from one fixed linear predictor (lme4's
``resp$updateMu(lp0)``), not from the previous evaluation's, so that the function's value depends
on its argument only: that is what makes the optimizers' iterates, and the Hessian, lme4's.

A failed PIRLS or a non-finite value gives ``inf``, which the optimizers treat as "worse than
anything", as lme4's do.
"""
from __future__ import annotations

import math

import numpy as np

from ..optim.scales import scaled_deriv12
from .pirls import GlmmModel, PirlsError, PirlsResult, gh_rule

__all__ = ["Stage1Deviance", "Stage2Deviance"]


class Stage1Deviance:
    """The deviance over theta with PIRLS over (beta, u) (lme4's nAGQ = 0 devfun).

    Parameters
    ----------
    model : GlmmModel
        The family, design and PIRLS workspace.
    eta0 : numpy.ndarray
        The linear predictor every PIRLS starts from.
    """

    def __init__(self, model: GlmmModel, eta0: np.ndarray):
        self.model = model
        self.eta0 = eta0

    def pirls(self, theta) -> PirlsResult:
        """The PIRLS fit of (beta, u) at theta (raises PirlsError where it fails)."""
        return self.model.pirls(theta, eta_start=self.eta0)

    def __call__(self, theta) -> float:
        try:
            r = self.pirls(theta)
        except PirlsError:
            return math.inf
        v = self.model.laplace(r)
        return v if math.isfinite(v) else math.inf


class Stage2Deviance:
    """The deviance over (theta, beta) with PIRLS over u: Laplace or AGQ (lme4's stage-2 devfun).

    Parameters
    ----------
    model : GlmmModel
        The family, design and PIRLS workspace.
    nagq : int
        1 for the Laplace approximation, more for that many adaptive Gauss-Hermite points.
    eta0 : numpy.ndarray
        The linear predictor every PIRLS starts from (the stage-1 fit's).
    """

    def __init__(self, model: GlmmModel, nagq: int, eta0: np.ndarray):
        self.model = model
        self.nagq = nagq
        self.rule = gh_rule(nagq) if nagq > 1 else None
        self.nth = model.layout.size
        self.eta0 = eta0

    def pirls(self, pars) -> PirlsResult:
        """The PIRLS fit of u at ``pars = (theta, beta)`` (raises PirlsError where it fails)."""
        pars = np.asarray(pars, dtype=float)
        return self.model.pirls(pars[: self.nth], beta=pars[self.nth:], eta_start=self.eta0)

    def value(self, r: PirlsResult) -> float:
        """The deviance of a PIRLS fit: adaptive Gauss-Hermite for nAGQ > 1, else Laplace."""
        if self.rule is not None:
            return self.model.agq(r, self.rule)
        return self.model.laplace(r)

    def __call__(self, pars) -> float:
        try:
            r = self.pirls(pars)
        except PirlsError:
            return math.inf
        v = self.value(r)
        return v if math.isfinite(v) else math.inf

    def derivatives(self, pars):
        """Gradient and Hessian of the deviance at ``pars`` by finite differences (lme4's deriv12).

        The step is lme4's 1e-4 per parameter, in units of 1 for theta and of
        :func:`~mixedmodels.optim.scales.column_scales` for beta (the same steps as lme4's for
        well-scaled predictors).

        Returns
        -------
        (gradient, hessian, scale) : tuple of numpy.ndarray
            In lme4's units, and the scales of the steps (vcov inverts the Hessian in those units).
        """
        scale = np.concatenate([np.ones(self.model.layout.size), self.model.x_scales])
        g, H = scaled_deriv12(self, pars, scale, 1e-4, self(pars))
        return g, H, scale
