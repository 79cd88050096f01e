r"""Likelihood profiles and profile intervals of a glmer fit (lme4's ``profile`` / ``confint`` for GLMMs).

The parameters are lme4's: the sd's and correlations of the random effects (no sigma for the
binomial, Poisson and negative binomial families), then the fixed effects. The deviance is the
fit's own (Laplace or adaptive Gauss-Hermite, PIRLS over u alone): with one parameter held at a
value ``x``, all the others, the fixed effects included, are optimized by BOBYQA, and

    zeta(x) = sign(x - phi_hat) sqrt(d(x) - d(phi_hat)).

Points are placed and the profile is inverted exactly as for lmer (confint.py): steps of about
``cutoff / 8`` in zeta, and R's backSpline of the interpolating spline.
"""
from __future__ import annotations

import math

import numpy as np

from .confint import (Profiler, ProfileTable, assemble_profile, nlopt_min, sdcor_names, sdcor_to_theta,
                      select_parameters, theta_to_sdcor)
from ..distributions import chi2_ppf
from ..errors import ArgumentError, ConvergenceWarning, FitError, silenced

__all__ = ["glmer_profile"]


class _GlmmProfiler(Profiler):
    """A profiler of the deviance of a glmer fit over (sd's and correlations, beta)."""

    def __init__(self, m, alphamax=0.01, delta=None, delta_cutoff=1 / 8, maxpts=100, maxmult=10):
        from ..glmm.deviance import Stage2Deviance as _Stage2

        if m.has_scale:
            raise ArgumentError(f"profiles of glmer fits are available for families without a scale parameter "
                                f"(binomial, Poisson, negative binomial), not {m.family.name}; use "
                                "confint(method='boot') or 'Wald'")
        if m.nagq == 0 or m.lp0 is None:
            raise ArgumentError("profiles need a glmer fit with nAGQ >= 1 (the deviance over theta and beta); "
                                "refit with nAGQ=1")
        self.m = m
        self.layout = m.model.layout
        # the fit's own deviance function: every PIRLS from the fit's stage-2 start. (From another
        # start the Laplace value moves by up to ~1e-3, because lme4's takes the factor of PIRLS's
        # last step, whose weights lag one step behind.)
        self.fun = _Stage2(m.model, m.nagq, m.lp0)
        self.nvp = self.layout.size
        self.p = len(m.beta)
        self.names = sdcor_names(m) + list(m.fixed.names)
        self.opt = np.concatenate([theta_to_sdcor(self.layout, m.theta, 1.0)[:-1], m.beta])
        self.base = float(m.objective)
        self.stderr = np.sqrt(np.diag(m.vcov.to_numpy()))
        diag = self.layout.is_diagonal()
        self.lower = np.concatenate([np.where(diag, 0.0, -1.0), np.full(self.p, -np.inf)])
        self.upper = np.concatenate([np.where(diag, np.inf, 1.0), np.full(self.p, np.inf)])
        self.cutoff = math.sqrt(chi2_ppf(1 - alphamax, len(self.opt)))
        self.delta = self.cutoff * delta_cutoff if delta is None else float(delta)
        self.maxpts = int(maxpts)
        self.maxmult = float(maxmult)
        self.lower_found = self.base
        # Nelder-Mead stops within ~1e-5 of the minimum; lower than that is worth a warning
        self.lower_tol = 1e-4

    def dev(self, params: np.ndarray) -> float:
        """The fit's deviance at (sd's and correlations, beta)."""
        theta = sdcor_to_theta(self.layout, np.append(params[: self.nvp], 1.0))
        if theta is None:
            return math.inf
        return self.fun(np.concatenate([theta, params[self.nvp:]]))

    def point(self, i: int, x: float, start: np.ndarray) -> np.ndarray:
        """Row (zeta, parameters...) with parameter i held at x, the others optimized from start."""
        free = [k for k in range(len(self.opt)) if k != i]

        def fun(z):
            v = np.empty(len(self.opt))
            v[i] = x
            v[free] = z
            return self.dev(v)

        z, dev = nlopt_min(fun, start[free], self.lower[free], self.upper[free])
        v = np.empty(len(self.opt))
        v[i] = x
        v[free] = z
        return np.concatenate([[self._zeta(x, self.opt[i], dev)], v])

    def profile_one(self, i: int) -> np.ndarray:
        c = 1 + i
        row0 = np.concatenate([[0.0], self.opt])
        pw = self.opt[i]
        lo, hi = self.lower[i], self.upper[i]
        if i < self.nvp:
            first = min(hi, max(lo, 0.001 if pw == 0 else pw * 1.01))
        else:
            first = pw + self.delta * self.stderr[i - self.nvp]
        point = lambda x, prev: self.point(i, x, prev[1:])  # noqa: E731
        return self._walk(c, lo, hi, row0, point(first, row0), point)


def glmer_profile(m, which=None, alphamax: float = 0.01, maxpts: int = 100, delta=None,
                  delta_cutoff: float = 1 / 8, maxmult: float = 10, progress=None) -> ProfileTable:
    """lme4's ``profile(gm)`` for a glmer fit: a ProfileTable (``confint(level)`` gives the intervals).

    ``which``: parameter names or 0-based positions (default all; ``"theta_"`` or ``"beta_"``).
    """
    prof = _GlmmProfiler(m, alphamax=alphamax, delta=delta, delta_cutoff=delta_cutoff, maxpts=maxpts,
                         maxmult=maxmult)
    check = prof.dev(prof.opt)
    if not abs(check - prof.base) <= 1e-8 * max(1.0, abs(prof.base)):
        raise FitError(f"the deviance on the sd/correlation scale does not match the fit ({check} vs {prof.base}); "
                       "profiling is not possible")
    names = select_parameters(which, prof.names)
    idx = [prof.names.index(n) for n in names]
    from ..progress import progress_bar

    bar = progress_bar(len(idx), progress, "profile", unit="parameter")
    results = []
    with silenced(ConvergenceWarning):
        for i in idx:
            results.append(prof.profile_one(i))
            bar.update(1)
    bar.close()
    return assemble_profile(prof, names, idx, results)
