r"""A family's pieces on a set of rows: the inverse link, deviance residuals, PIRLS's working values, the aic.

PIRLS asks these of every row at every step. They are the family's own functions
(:mod:`mixedmodels.glmm.families`) with the response, the numbers of trials and the prior weights
bound, and with the fast paths that the common cases allow: the logit link's inverse and
derivative in place, a Bernoulli response's deviance residuals ``-2 log(mu)`` or
``-2 log(1 - mu)`` (whose sum is its aic), and a binomial aic's terms that do not depend on mu
computed once. The in-memory model holds one for all its rows; a Dask fit holds one per partition,
on the worker where the partition lives, so that both take the same operations row by row.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["RowFamily"]

_EPS = np.finfo(float).eps


class RowFamily:
    """The family's functions on fixed rows.

    Parameters
    ----------
    family : Family
        The family, with its link.
    y : numpy.ndarray
        The response as the family sees it (proportions for a binomial ``cbind``).
    ntrials : numpy.ndarray
        R's ``n``: binomial trials per row, 1 otherwise.
    pw : numpy.ndarray
        The prior weights (times the trials for ``cbind``).
    many_trials : bool, optional
        A binomial aic counts the trials (``n``) where some row has more than one, else the
        weights (R's ``binomial()$aic``): a property of all the rows, which a partition alone does
        not know. None: decided from these rows.
    """

    def __init__(self, family, y, ntrials, pw, many_trials: bool | None = None):
        from .families import Binomial
        from .links import LogitLink

        self.family = family
        self.y = np.asarray(y, dtype=float)
        self.ntrials = np.asarray(ntrials, dtype=float)
        self.pw = np.asarray(pw, dtype=float)
        n = self.y.shape[0]
        self._all_pw_pos = bool(np.all(self.pw > 0))
        self._logit = type(getattr(family, "link_obj", None)) is LogitLink
        if many_trials is None:
            many_trials = bool(np.any(self.ntrials > 1))
        # a 0/1 response with unit prior weights and one trial per row (a Bernoulli binomial): the
        # deviance residuals are -2 log(mu) or -2 log(1 - mu), and the aic is their sum
        self._binary = None
        if (type(family) is Binomial and n and not many_trials and np.all(self.pw == 1.0)
                and np.all(self.ntrials == 1.0) and np.all((self.y == 0.0) | (self.y == 1.0))):
            self._binary = self.y == 1.0
        # any other binomial: the aic's terms that do not depend on mu, once (Binomial.aic's formula)
        self._binom_aic = None
        if type(family) is Binomial and self._binary is None:
            try:
                yv, nv, wv = self.y, self.ntrials, self.pw
                mm_ = nv if many_trials else wv
                yy = np.rint(mm_ * yv)
                mm_ = np.rint(mm_)
                ok = np.flatnonzero(mm_ > 0)
                yy, mk = yy[ok], mm_[ok]
                coef = wv[ok] / mk
                const = float(np.sum(coef * (special.gammaln(mk + 1) - special.gammaln(yy + 1)
                                             - special.gammaln(mk - yy + 1))))
                if math.isfinite(const):
                    self._binom_aic = (ok, yy, mk - yy, coef, const)
                    self._y1 = 1.0 - self.y
            except Exception:  # the family's own aic then
                self._binom_aic = None

    def linkinv(self, eta) -> np.ndarray:
        """The inverse link; for the logit link 1 / (1 + exp(-eta)) clamped to [eps, 1 - eps] as
        the family's (scipy's expit is several times slower than numpy's exp on long vectors; the
        two agree to rounding)."""
        if self._logit:
            mu = np.exp(-eta)
            mu += 1.0
            np.reciprocal(mu, out=mu)
            np.clip(mu, _EPS, 1.0 - _EPS, out=mu)
            return mu
        return self.family.linkinv(eta)

    def aic(self, mu, dev) -> float:
        """The family's aic (``-2`` log-likelihood with R's constants) at mu; ``dev`` is the sum of
        the deviance residuals there."""
        if self._binary is not None:
            return float(dev)
        if self._binom_aic is not None:
            ok, yy, ny, coef, const = self._binom_aic
            m = mu[ok]
            ll = special.xlogy(yy, m)
            ll += special.xlog1py(ny, -m)
            return float(-2.0 * (const + float(coef @ ll)))
        return self.family.aic(self.y, self.ntrials, mu, self.pw, dev)

    def aic_sums(self, mu, dev) -> np.ndarray:
        """The sums over these rows that the aic over all rows needs (``Family.aic_sums``): the aic
        of these rows itself where it is a sum over rows; ``dev`` is these rows' deviance."""
        if self.family.aic_additive:
            return np.array([self.aic(mu, dev)])
        return self.family.aic_sums(self.y, self.ntrials, mu, self.pw)

    def dev_resids(self, mu) -> np.ndarray:
        """The family's deviance residuals at mu (prior weights included)."""
        if self._binary is not None:
            return -2.0 * np.log(np.where(self._binary, mu, 1.0 - mu))
        if self._binom_aic is not None:   # Binomial.dev_resids, the same operations
            y, y1 = self.y, self._y1
            return 2.0 * self.pw * (special.xlogy(y, y / mu) + special.xlogy(y1, y1 / (1.0 - mu)))
        return self.family.dev_resids(self.y, mu, self.pw)

    def working(self, eta, mu, base):
        """Working weights ``w mu_eta^2 / V(mu)`` and response ``eta - base + (y - mu) / mu_eta`` for
        one PIRLS step (lme4's sqrtWrkWt^2 and wrkResp); 0 for both where a prior weight is 0."""
        fam = self.family
        if self._logit:   # the logit link's mu_eta, in place: max(e / (1 + e)^2, eps), e = exp(-|eta|)
            me = np.abs(eta)
            np.negative(me, out=me)
            np.exp(me, out=me)
            d = me + 1.0
            np.square(d, out=d)
            np.divide(me, d, out=me)
            np.maximum(me, _EPS, out=me)
        else:
            me = fam.mu_eta(eta)
        var = fam.variance(mu)
        if self._binary is not None:   # unit prior weights
            w = me * me
            w /= var
            z = eta - base
            r = self.y - mu
            r /= me
            z += r
            return w, z
        if self._all_pw_pos:
            return self.pw * me * me / var, (eta - base) + (self.y - mu) / me
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.pw * me * me / var
            z = (eta - base) + (self.y - mu) / me
        w = np.where(self.pw > 0, w, 0.0)
        z = np.where(self.pw > 0, z, 0.0)
        return w, z
