r"""Penalized iteratively reweighted least squares (PIRLS) and the GLMM deviance functions.

For a GLMM with linear predictor ``eta = offset + X beta + Z Lambda(theta) u`` and spherical random
effects ``u ~ N(0, I)``, PIRLS finds the conditional mode of ``u`` (and, for lme4's nAGQ = 0 stage,
of ``beta`` too) by minimizing the penalized deviance

    pdev(u) = sum_i devres_i(y_i, mu_i) + ||u||^2

with Fisher scoring: each step is one weighted penalized least-squares problem, solved by the
one numerical core (:class:`~mixedmodels.core.LmmCore`) with working weights
``W = w mu_eta^2 / V(mu)`` and working response ``z = eta - offset + (y - mu) / mu_eta``.

lme4's objectives (``glmer``'s ``devfun``), all on the -2 log-likelihood scale:

* nAGQ = 0 and stage 1 of nAGQ >= 1: ``theta`` alone, PIRLS over ``(beta, u)``;
  ``ldL2 + ||u||^2 + aic(mu)``;
* Laplace (nAGQ = 1), stage 2: ``(theta, beta)``, PIRLS over ``u``; the same formula;
* adaptive Gauss-Hermite quadrature (nAGQ > 1, one scalar random-effects term): PIRLS over ``u``,
  then per level ``j`` a quadrature over ``u_j`` around its mode with the conditional SD
  ``1 / L_jj``; the value is ``sum_j devc0_j + ldL2 - 2 sum_j log(mult_j)`` where ``devc0_j`` is
  ``u_j^2`` plus level ``j``'s deviance residuals (no aic constant, as lme4).

``aic(mu)`` is the family's aic (``-2 log-likelihood`` of the conditional distribution, with R's
constants), which is why lme4's ``logLik`` differs from ``deviance()`` (the sum of deviance
residuals) for a GLMM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .core import LmmCore, ThetaLayout
from .errors import FitError

__all__ = ["GlmmModel", "PirlsResult", "gh_rule", "PirlsError"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


class PirlsError(FitError):
    """PIRLS did not converge (or produced non-finite values) at the given parameters."""


def gh_rule(k: int) -> np.ndarray:
    """Gauss-Hermite rule for the standard normal density (lme4's ``GHrule``): rows (z, w, log dnorm(z)).

    The weights sum to 1; a node at zero is exactly 0.
    """
    if k < 1:
        return np.zeros((0, 3))
    z, w = np.polynomial.hermite_e.hermegauss(int(k))
    w = w / _SQRT_2PI
    z = np.where(np.abs(z) < 1e-13, 0.0, z)
    order = np.argsort(z)
    z, w = z[order], w[order]
    ldn = -0.5 * z * z - math.log(_SQRT_2PI)
    return np.column_stack([z, w, ldn])


@dataclass
class PirlsResult:
    """The conditional mode at one parameter value and what the deviance functions need from it."""

    theta: np.ndarray
    beta: np.ndarray          # fixed effects (given, or estimated when PIRLS ran over beta too)
    u: np.ndarray             # spherical random effects, all terms, level-major per term
    eta: np.ndarray
    mu: np.ndarray
    devres: np.ndarray        # deviance residuals (squared, with prior weights)
    pdev: float               # sum(devres) + ||u||^2
    f: object                 # core.Factorization of the last iteration
    core: LmmCore             # the core of the last iteration (working weights / response)
    iterations: int

    @property
    def dev(self) -> float:
        return float(np.sum(self.devres))

    @property
    def sqr_u(self) -> float:
        return float(self.u @ self.u)


class GlmmModel:
    """A GLMM's data, once: family, response, prior weights, offset, X and the random-effects terms.

    ``y`` is the response as the family sees it (proportions for a binomial ``cbind``), ``ntrials``
    R's ``n`` (binomial trials per row, 1 otherwise), ``weights`` the prior weights after the
    family's initialization (times the trials for ``cbind``).
    """

    def __init__(self, family, terms, X, y, ntrials, weights, offset, *, tol=1e-10, maxit=100):
        self.family = family
        self.terms = terms
        self.X = np.ascontiguousarray(X, dtype=float)
        self.n, self.p = self.X.shape
        self.y = np.asarray(y, dtype=float)
        self.ntrials = np.asarray(ntrials, dtype=float)
        self.pw = np.asarray(weights, dtype=float)
        self.offset = np.zeros(self.n) if offset is None else np.asarray(offset, dtype=float)
        self.layout = ThetaLayout([t.p for t in terms])
        self.qs = [t.q for t in terms]
        self.q = int(sum(self.qs))
        self._X0 = np.zeros((self.n, 0))
        self.tol = tol
        self.maxit = maxit
        self.npirls = 0

    # ------------------------------------------------------------------ linear predictor
    def split_u(self, u: np.ndarray) -> list[np.ndarray]:
        out, off = [], 0
        for t in self.terms:
            out.append(u[off: off + t.q].reshape(t.nlev, t.p))
            off += t.q
        return out

    def b_list(self, theta, u) -> list[np.ndarray]:
        """Random effects on the linear-predictor scale: b = Lambda u, one (nlev, p) array per term."""
        T = self.layout.templates(np.asarray(theta, dtype=float))
        return [U @ Tk.T for U, Tk in zip(self.split_u(u), T)]

    def zb(self, theta, u) -> np.ndarray:
        """Z Lambda(theta) u."""
        out = np.zeros(self.n)
        for t, B in zip(self.terms, self.b_list(theta, u)):
            if t.p == 1:
                out += t.z[:, 0] * B[t.codes, 0]
            else:
                out += np.einsum("ij,ij->i", t.z, B[t.codes])
        return out

    # ------------------------------------------------------------------ family pieces
    def _state(self, eta):
        fam = self.family
        mu = fam.linkinv(eta)
        devres = fam.dev_resids(self.y, mu, self.pw)
        return mu, devres

    def aic(self, mu, dev) -> float:
        return self.family.aic(self.y, self.ntrials, mu, self.pw, dev)

    def working(self, eta, mu, base):
        """Working weights and response for one PIRLS step (lme4's sqrtWrkWt^2 and wrkResp)."""
        fam = self.family
        me = fam.mu_eta(eta)
        var = fam.variance(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.pw * me * me / var
            z = (eta - base) + (self.y - mu) / me
        w = np.where(self.pw > 0, w, 0.0)
        z = np.where(self.pw > 0, z, 0.0)
        return w, z

    def make_core(self, w, z, with_x: bool) -> LmmCore:
        return LmmCore(self.terms, self.X if with_x else self._X0, z, weights=w)

    # ------------------------------------------------------------------ PIRLS
    def pirls(self, theta, beta=None, u_start=None, beta_start=None, eta_start=None) -> PirlsResult:
        """Conditional mode at theta: of u given beta (``beta`` given), or of (beta, u) (``beta`` None).

        Starts from ``u_start`` (and ``beta_start``), or from the linear predictor ``eta_start``
        (one Fisher-scoring step from an arbitrary eta, as lme4 starts from the family's mustart).
        Raises PirlsError when it cannot converge.
        """
        self.npirls += 1
        theta = np.asarray(theta, dtype=float)
        uonly = beta is not None
        if uonly:
            beta = np.asarray(beta, dtype=float)
            base = self.offset + (self.X @ beta if self.p else 0.0)
        else:
            base = self.offset
        u = np.zeros(self.q) if u_start is None else np.asarray(u_start, dtype=float).copy()
        if not uonly:
            b = np.zeros(self.p) if beta_start is None else np.asarray(beta_start, dtype=float).copy()
        else:
            b = beta
        if eta_start is not None:
            eta = np.asarray(eta_start, dtype=float)
            pdev = math.inf
        else:
            eta = base + (self.X @ b if not uonly and self.p else 0.0) + self.zb(theta, u)
            mu0, dr0 = self._state(eta)
            pdev = float(np.sum(dr0)) + float(u @ u)
            if not math.isfinite(pdev):
                u = np.zeros(self.q)
                if not uonly:
                    b = np.zeros(self.p)
                eta = base + self.zb(theta, u)
                pdev = math.inf
        mu, devres = self._state(eta)
        f = core = None
        prev_step = math.inf
        for it in range(1, self.maxit + 1):
            w, z = self.working(eta, mu, base)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(z))):
                raise PirlsError("PIRLS: non-finite working weights or response")
            core = self.make_core(w, z, with_x=not uonly)
            f = core.factor(theta)
            if f is None:
                raise PirlsError("PIRLS: the penalized weighted least-squares system is not positive definite")
            bnew, us = core.solve(f)
            unew = np.concatenate([x.ravel() for x in us]) if us else np.zeros(0)
            if uonly:
                bnew = b
            eta_new = base + (self.X @ bnew if not uonly and self.p else 0.0) + self.zb(theta, unew)
            mu_new, dr_new = self._state(eta_new)
            pdev_new = float(np.sum(dr_new)) + float(unew @ unew)
            # step halving (lme4: up to 20 halvings of the increment)
            k = 0
            while (not math.isfinite(pdev_new) or pdev_new > pdev) and k < 20 and math.isfinite(pdev):
                unew = 0.5 * (u + unew)
                if not uonly:
                    bnew = 0.5 * (b + bnew)
                eta_new = base + (self.X @ bnew if not uonly and self.p else 0.0) + self.zb(theta, unew)
                mu_new, dr_new = self._state(eta_new)
                pdev_new = float(np.sum(dr_new)) + float(unew @ unew)
                k += 1
            if not math.isfinite(pdev_new):
                raise PirlsError("PIRLS produced a non-finite deviance")
            if pdev_new - pdev > 1e-7 * abs(pdev_new):
                raise PirlsError("PIRLS step-halvings failed to reduce the penalized deviance")
            step = float(np.max(np.abs(unew - u))) if self.q else 0.0
            scale = 1.0 + (float(np.max(np.abs(unew))) if self.q else 0.0)
            if not uonly and self.p:
                step = max(step, float(np.max(np.abs(bnew - b))))
                scale = max(scale, 1.0 + float(np.max(np.abs(bnew))))
            dp = pdev - pdev_new
            u, b, eta, mu, devres = unew, bnew, eta_new, mu_new, dr_new
            old, pdev = pdev, pdev_new
            if step <= self.tol * scale and k == 0:
                break
            # rounding limit: no more quadratic progress and no deviance change
            if it > 2 and k == 0 and step >= 0.5 * prev_step and abs(dp) <= 1e-13 * (abs(pdev) + 1.0):
                break
            prev_step = step
        else:
            if not (math.isfinite(old) and abs(old - pdev) <= 1e-7 * abs(pdev)):
                raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        return PirlsResult(theta, np.asarray(b, dtype=float), u, eta, mu, devres, pdev, f, core, it)

    # ------------------------------------------------------------------ deviance functions
    def laplace(self, r: PirlsResult) -> float:
        """lme4's Laplace deviance: ldL2 + ||u||^2 + aic(mu)."""
        return float(r.f.ldL2 + r.sqr_u + self.aic(r.mu, r.dev))

    def agq(self, r: PirlsResult, rule: np.ndarray) -> float:
        """lme4's adaptive Gauss-Hermite deviance for one scalar random-effects term."""
        t = self.terms[0]
        theta = float(r.theta[0])
        L = r.f.L00[:, 0, 0]
        sd = 1.0 / L
        u = r.u
        nlev = t.nlev
        devc0 = u * u + np.bincount(t.codes, weights=r.devres, minlength=nlev)
        base = r.eta - self.zb(r.theta, u)
        zc = t.z[:, 0]
        logs = []
        for zk, wk, ldn in rule:
            if zk == 0.0:
                logs.append(np.full(nlev, math.log(wk)))
                continue
            uk = u + zk * sd
            eta = base + theta * zc * uk[t.codes]
            mu = self.family.linkinv(eta)
            dr = self.family.dev_resids(self.y, mu, self.pw)
            devc = uk * uk + np.bincount(t.codes, weights=dr, minlength=nlev)
            logs.append(-0.5 * (devc - devc0) - ldn + math.log(wk) - math.log(_SQRT_2PI))
        logs = np.array(logs)
        m = logs.max(axis=0)
        logmult = m + np.log(np.sum(np.exp(logs - m), axis=0))
        return float(devc0.sum() + r.f.ldL2 - 2.0 * logmult.sum())
