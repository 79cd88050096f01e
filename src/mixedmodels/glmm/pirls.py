r"""Penalized iteratively reweighted least squares (PIRLS) and the GLMM deviance functions.

For a GLMM with linear predictor ``eta = offset + X beta + Z Lambda(theta) u`` and spherical random
effects ``u ~ N(0, I)``, PIRLS finds the conditional mode of ``u`` (and, for lme4's nAGQ = 0 stage,
of ``beta`` too) by minimizing the penalized deviance

    pdev(u) = sum_i devres_i(y_i, mu_i) + ||u||^2

with Fisher scoring: each step is one weighted penalized least-squares problem with working
weights ``W = w mu_eta^2 / V(mu)`` and working response ``z = eta - offset + (y - mu) / mu_eta``,
the problem :class:`~mixedmodels.core.lmm.LmmCore` solves. As lme4's ``pwrssUpdate``: a step that
increases pdev is halved (up to 20 times); PIRLS stops when pdev changes by less than ``tol``
(1e-7) relatively, and the log-determinant used is that of the last step's system (weights at the
mean before that step). These conventions move the deviance functions by up to ~1e-3 and their
curvature by ~1%: lme4's standard errors come from that curvature, so they are kept.

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

Solving one PIRLS step. The design is fixed; only weights and working response change, so PIRLS
asks the core for its design's system once (:func:`~mixedmodels.core.reweight.for_reweighting`:
nothing here factors a matrix) and reweights it at each step (``system.reweight(w, z)``); the
core chose, by cost, which form of the system to hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..core.layout import ThetaLayout
from ..core.reweight import for_reweighting, reweight_kind
from ..errors import ArgumentError, FitError
from ..optim.scales import column_scales
from .row_family import RowFamily

__all__ = ["GlmmModel", "PirlsResult", "gh_rule", "PirlsError", "check_pirls_settings", "RandomEffectsVector",
           "halve_steps", "pls_step", "agq_nodes", "agq_deviance"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def check_pirls_settings(tol, maxit) -> None:
    """PIRLS's relative tolerance (a finite number > 0) and iteration limit (a whole number >= 1).

    Raises
    ------
    ArgumentError
        For anything else, naming glmer's control entries.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ArgumentError(f"the PIRLS tolerance (control['tol_pirls']) must be a finite number > 0 such as 1e-7, "
                            f"got {tol!r}")
    if isinstance(maxit, bool) or not isinstance(maxit, (int, np.integer)) or maxit < 1:
        raise ArgumentError(f"the PIRLS iteration limit (control['maxit_pirls']) must be a whole number >= 1, "
                            f"got {maxit!r}")


def pls_step(core, theta):
    """One PIRLS step's penalized least squares: the factor of the system at theta and its solution.

    Returns ``(f, beta, u)``: the factorization, the fixed effects (empty where the system has no
    X) and the spherical random effects of all terms, level-major per term.

    Raises
    ------
    PirlsError
        Where the system is not positive definite.
    """
    f = core.factor(theta)
    if f is None:
        raise PirlsError("PIRLS: the penalized weighted least-squares system is not positive definite")
    beta, us = core.solve(f)
    return f, beta, (np.concatenate([x.ravel() for x in us]) if us else np.zeros(0))


def halve_steps(update, u_old, b_old, u, b, uonly: bool, pdev: float, oldpdev: float, tol: float):
    """lme4's step halving after a PIRLS step that raised the penalized deviance: ``(u, b)`` moved
    halfway back toward the step's start, up to 20 times, until it no longer increases.

    ``update(b, u) -> (state, pdev)`` evaluates a point. Returns ``(state, u, b, pdev)``.

    Raises
    ------
    PirlsError
        Where the deviance is NaN, or still higher than before the step (by more than ``tol``).
    """
    state = None
    for _ in range(20):
        if not (math.isnan(pdev) or pdev > oldpdev):
            break
        u = 0.5 * (u_old + u)
        if not uonly:
            b = 0.5 * (b_old + b)
        state, pdev = update(b, u)
    if math.isnan(pdev):
        raise PirlsError("PIRLS loop resulted in NaN value")
    if pdev - oldpdev > tol:
        raise PirlsError("PIRLS step-halvings failed to reduce the penalized deviance")
    return state, u, b, pdev


def agq_nodes(rule: np.ndarray) -> list[float]:
    """The nonzero nodes of a Gauss-Hermite rule (:func:`gh_rule`), where the deviance must be
    evaluated (at a node 0 the random effect is at its mode)."""
    return [float(zk) for zk in rule[:, 0] if zk != 0.0]


def agq_deviance(u, sd, rule: np.ndarray, S: np.ndarray, ldL2: float) -> float:
    r"""lme4's adaptive Gauss-Hermite deviance of one scalar term from the per-level sums of the
    deviance residuals: ``S[0]`` at the mode ``u``, ``S[j]`` with every level's effect moved to
    ``u + z_j sd`` (the nonzero nodes in order, :func:`agq_nodes`; ``sd = 1 / L_kk``).

    With ``D_l(v) = v^2 + sum over level l of the deviance residuals``, each level's integral is
    ``sum_k w_k exp(-(D_l(u + z_k sd) - D_l(u)) / 2 - log phi(z_k)) / sqrt(2 pi)``, and the deviance
    ``sum_l D_l(u) + log|L|^2 - 2 sum_l log(integral_l)``. The in-memory and the Dask PIRLS form S
    in their own way (rows in hand, or one round over the partitions).
    """
    u, sd = np.asarray(u, dtype=float), np.asarray(sd, dtype=float)
    devc0 = u * u + S[0]
    logs = []
    j = 1
    for zk, wk, ldn in rule:
        if zk == 0.0:
            logs.append(np.full(u.size, math.log(wk)))
            continue
        uk = u + zk * sd
        devc = uk * uk + S[j]
        j += 1
        logs.append(-0.5 * (devc - devc0) - ldn + math.log(wk) - math.log(_SQRT_2PI))
    logs = np.array(logs)
    m = logs.max(axis=0)
    logmult = m + np.log(np.sum(np.exp(logs - m), axis=0))
    return float(devc0.sum() + ldL2 - 2.0 * logmult.sum())


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
    core: object              # the core's system of the last iteration (working weights / response)
    iterations: int
    eta_w: np.ndarray | None = None  # the linear predictor whose working weights the last step used

    @property
    def dev(self) -> float:
        return float(np.sum(self.devres))

    @property
    def sqr_u(self) -> float:
        return float(self.u @ self.u)


class RandomEffectsVector:
    """Mixin: the spherical random effects ``u`` (all terms, level-major per term) split by term,
    and ``b = Lambda u``. The class provides ``terms`` and ``layout``."""

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


class GlmmModel(RandomEffectsVector):
    """A GLMM's data, once: family, response, prior weights, offset, X and the random-effects terms.

    ``y`` is the response as the family sees it (proportions for a binomial ``cbind``), ``ntrials``
    R's ``n`` (binomial trials per row, 1 otherwise), ``weights`` the prior weights after the
    family's initialization (times the trials for ``cbind``).
    """

    def __init__(self, family, terms, X, y, ntrials, weights, offset, *, tol=1e-7, maxit=100, fast=None,
                 at_mode: bool = False):
        self.family = family
        self.terms = terms
        self.X = np.ascontiguousarray(X, dtype=float)
        self.n, self.p = self.X.shape
        self.y = np.asarray(y, dtype=float)
        self.ntrials = np.asarray(ntrials, dtype=float)
        self.pw = np.asarray(weights, dtype=float)
        self.offset = np.zeros(self.n) if offset is None else np.asarray(offset, dtype=float)
        self.layout = ThetaLayout.for_terms(terms)
        self.qs = [t.q for t in terms]
        self.q = int(sum(self.qs))
        self._X0 = np.zeros((self.n, 0))
        check_pirls_settings(tol, maxit)
        self.tol = tol
        self.maxit = maxit
        #: factor the system once more at the converged mode's weights (the Laplace approximation
        #: at the mode, as glmmTMB computes it) instead of keeping the last step's factor, whose
        #: weights are those of the iterate before (lme4's deviance); see _pirls
        self.at_mode = bool(at_mode)
        self.npirls = 0
        self._cores: dict = {}
        self._first: dict = {}       # with_x -> (eta_start, its copy, working response, core): _first_step
        # Z Lambda u for scalar terms: per term (offset in u, codes, z or None for all-ones, theta index)
        self._zb_scalar = None
        if terms and all(t.p == 1 for t in terms):
            zs, off = [], 0
            for k, t in enumerate(terms):
                zc = np.ascontiguousarray(t.z[:, 0], dtype=float)
                zs.append((off, np.asarray(t.codes, dtype=np.intp), None if np.all(zc == 1.0) else zc,
                           int(self.layout.theta_offsets[k])))
                off += t.q
            self._zb_scalar = zs
        #: the family's pieces on these rows (linkinv, deviance residuals, working values, aic)
        self.rows = RowFamily(family, self.y, self.ntrials, self.pw)
        # the form of the core's reweighted system ("dense", "blocked", "core": core.reweight's
        # KINDS); None: the core's choice by cost, made on first use
        self.fast = fast

    @cached_property
    def x_scales(self) -> np.ndarray:
        """The units of the fixed effects for finite differences and Nelder-Mead's steps
        (:func:`~mixedmodels.optim.scales.column_scales` of X)."""
        return column_scales(self.X)

    # ------------------------------------------------------------------ linear predictor
    def zb(self, theta, u) -> np.ndarray:
        """Z Lambda(theta) u."""
        if self._zb_scalar is not None:
            out = None
            for off, codes, zc, k in self._zb_scalar:
                v = u[off:][codes]
                v *= float(theta[k])
                if zc is not None:
                    v *= zc
                if out is None:
                    out = v
                else:
                    out += v
            return out if out is not None else np.zeros(self.n)
        out = np.zeros(self.n)
        for t, B in zip(self.terms, self.b_list(theta, u)):
            if t.p == 1:
                out += t.z[:, 0] * B[t.codes, 0]
            else:
                out += np.einsum("ij,ij->i", t.z, B[t.codes])
        return out

    # ------------------------------------------------------------------ family pieces
    def _state(self, eta):
        mu = self.linkinv(eta)
        devres = self.dev_resids(mu)
        return mu, devres

    def linkinv(self, eta) -> np.ndarray:
        """The inverse link (:meth:`RowFamily.linkinv`)."""
        return self.rows.linkinv(eta)

    def aic(self, mu, dev) -> float:
        """The family's aic at mu (:meth:`RowFamily.aic`)."""
        return self.rows.aic(mu, dev)

    def dev_resids(self, mu) -> np.ndarray:
        """The family's deviance residuals at mu, prior weights included."""
        return self.rows.dev_resids(mu)

    def working(self, eta, mu, base):
        """Working weights and response for one PIRLS step (lme4's sqrtWrkWt^2 and wrkResp)."""
        return self.rows.working(eta, mu, base)

    def make_core(self, w, z, with_x: bool):
        """The core's system of one PIRLS step: weights w, working response z (X included or not).

        One system per variant (with X: PIRLS over (beta, u); without: over u), built once and
        reweighted at each step; the returned system is only valid until the next call.
        """
        if self.fast is None:
            self.fast = reweight_kind(self.terms, self.p)
        c = self._cores.get(with_x)
        if c is None:
            c = self._cores[with_x] = for_reweighting(self.terms, self.X if with_x else self._X0, self.fast)
        return c.reweight(w, z)

    # ------------------------------------------------------------------ PIRLS
    def start_eta(self, mustart) -> np.ndarray:
        """The linear predictor of R's starting means, ``offset + g(mustart)``, where every PIRLS of
        the first fit starts.

        Raises
        ------
        FitError
            Where it is not finite (a mean outside the link's domain).
        """
        fam = self.family
        with np.errstate(all="ignore"):
            eta = self.offset + fam.linkfun(mustart)
        if not np.all(np.isfinite(eta)):
            raise FitError(f"cannot find valid starting values for the {fam.name} family with the {fam.link} link")
        return eta

    def pirls(self, theta, beta=None, eta_start=None, u_start=None, beta_start=None) -> PirlsResult:
        """Conditional mode (see :meth:`_pirls`); numpy's warnings about steps that leave the
        family's domain are silenced: such a step gives a NaN or infinite deviance and is halved."""
        with np.errstate(all="ignore"):
            return self._pirls(theta, beta, eta_start, u_start, beta_start)

    def _pirls(self, theta, beta=None, eta_start=None, u_start=None, beta_start=None) -> PirlsResult:
        """Conditional mode at theta: of u given beta (``beta`` given), or of (beta, u) (``beta`` None).

        As lme4's ``pwrssUpdate``: Fisher-scoring steps from the linear predictor ``eta_start``
        (or from ``u_start``/``beta_start``), each step the solution of a penalized weighted
        least-squares problem; a step that increases the penalized deviance is halved up to 20
        times; converged when the relative change of the penalized deviance is below ``tol``
        (lme4's ``tolPwrss``, 1e-7). The factorization kept is the last step's (weights at the
        mean before that step), which is what lme4's deviance functions use; with ``at_mode`` the
        system is factored once more at the weights of the mode reached (the Laplace approximation
        at the mode, as glmmTMB and MixedModels.jl compute it).

        Raises PirlsError when it cannot converge.
        """
        self.npirls += 1
        theta = np.asarray(theta, dtype=float)
        uonly = beta is not None
        if uonly:
            b = np.asarray(beta, dtype=float)
            base = self.offset + (self.X @ b if self.p else 0.0)
        else:
            b = np.zeros(self.p) if beta_start is None else np.asarray(beta_start, dtype=float).copy()
            base = self.offset
        u = np.zeros(self.q) if u_start is None else np.asarray(u_start, dtype=float).copy()
        first = None
        if eta_start is None:
            eta = base + (self.X @ b if not uonly and self.p else 0.0) + self.zb(theta, u)
        else:
            eta = np.asarray(eta_start, dtype=float)
            if u_start is None and self.fast is not None:
                first = self._first_step(eta, b if uonly else None)
        mu = self.linkinv(eta) if first is None else None
        devres = None
        oldpdev = np.finfo(float).max
        tol = self.tol
        f = core = None
        converged = False
        it = 0
        eta_w = eta
        for it in range(1, self.maxit + 1):
            u_old, b_old = u, b
            eta_w = eta
            if first is not None and it == 1:
                core = first
            else:
                w, z = self.working(eta, mu, base)
                if not (np.isfinite(w).all() and np.isfinite(z).all()):
                    raise PirlsError("PIRLS: non-finite working weights or response")
                core = self.make_core(w, z, with_x=not uonly)
            f, bnew, u = pls_step(core, theta)
            if not uonly:
                b = bnew
            eta, mu, devres, pdev = self._update(theta, base, b, u, uonly)
            if abs((oldpdev - pdev) / pdev) < tol:
                converged = True
                break
            if math.isnan(pdev) or pdev > oldpdev:
                def update(b_, u_):
                    *st, pd_ = self._update(theta, base, b_, u_, uonly)
                    return st, pd_
                (eta, mu, devres), u, b, pdev = halve_steps(update, u_old, b_old, u, b, uonly, pdev, oldpdev, tol)
            oldpdev = pdev
        if not converged:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        if not math.isfinite(pdev):
            raise PirlsError("PIRLS produced a non-finite deviance")
        if self.at_mode:
            # the weights at the mode: lme4's last factor has the weights of the iterate before,
            # which with many random effects per observation moves the Laplace deviance by 1e-2
            w, z = self.working(eta, mu, base)
            if np.isfinite(w).all() and np.isfinite(z).all():
                core = self.make_core(w, z, with_x=not uonly)
                f_mode = core.factor(theta)
                if f_mode is not None:
                    f, eta_w = f_mode, eta
        return PirlsResult(theta, np.asarray(b, dtype=float), u, eta, mu, devres, float(pdev), f, core, it, eta_w)

    def _first_step(self, eta, beta):
        """The system of PIRLS's first step from the linear predictor ``eta`` (once the form is known).

        The deviance functions start every evaluation from one linear predictor, so the working
        weights of the first step are the same at every evaluation, and so is the working response
        up to ``- X beta`` (PIRLS over u alone, ``beta`` given). The weighted crossproducts are
        kept for the last such ``eta`` (per variant) and only the response's column is refilled:
        the same system as :meth:`make_core` would build, up to rounding. None where the working
        values are not finite (the caller's usual path raises).
        """
        with_x = beta is None
        ent = self._first.get(with_x)
        if ent is None or ent[0] is not eta or not np.array_equal(ent[1], eta):
            mu = self.linkinv(eta)
            w, zc = self.working(eta, mu, self.offset)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(zc))):
                return None
            core = for_reweighting(self.terms, self.X if with_x else self._X0, self.fast).reweight(w, zc)
            ent = self._first[with_x] = (eta, eta.copy(), zc, core)
        core = ent[3]
        if not with_x:
            z = ent[2] - self.X @ beta if self.p else ent[2]
            if not np.all(np.isfinite(z)):
                return None
            core.set_response(z)
        return core

    def _update(self, theta, base, b, u, uonly):
        eta = self.zb(theta, u)
        if not uonly and self.p:
            eta += base + self.X @ b
        else:
            eta += base
        mu = self.linkinv(eta)
        devres = self.dev_resids(mu)
        pdev = float(devres.sum()) + float(u @ u)
        return eta, mu, devres, pdev

    # ------------------------------------------------------------------ deviance functions
    def laplace(self, r: PirlsResult) -> float:
        """lme4's Laplace deviance: ldL2 + ||u||^2 + aic(mu)."""
        with np.errstate(all="ignore"):
            return float(r.f.ldL2 + r.sqr_u + self.aic(r.mu, r.dev))

    def agq(self, r: PirlsResult, rule: np.ndarray) -> float:
        """lme4's adaptive Gauss-Hermite deviance for one scalar random-effects term."""
        with np.errstate(all="ignore"):
            return self._agq(r, rule)

    def _agq(self, r: PirlsResult, rule: np.ndarray) -> float:
        t = self.terms[0]
        theta = float(r.theta[0])
        sd = 1.0 / r.f.L00[:, 0, 0]
        nlev = t.nlev
        zc = t.z[:, 0]
        S = [np.bincount(t.codes, weights=r.devres, minlength=nlev)]
        for zk in agq_nodes(rule):
            mu = self.linkinv(r.eta + theta * zc * (zk * sd)[t.codes])
            S.append(np.bincount(t.codes, weights=self.dev_resids(mu), minlength=nlev))
        return agq_deviance(r.u, sd, rule, np.array(S), r.f.ldL2)
