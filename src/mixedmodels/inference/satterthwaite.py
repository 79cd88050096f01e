r"""Satterthwaite's denominator degrees of freedom, computed as lmerTest computes them.

Ingredients, formed once per fit (Kuznetsova, Brockhoff & Christensen 2017):

* ``A = 2 H^{-1}``: the asymptotic covariance of the variance parameters ``varpar = (theta, sigma)``,
  from the Hessian ``H`` of the deviance in ``varpar`` (beta at its conditional estimate);
* ``J_k = d vcov(beta) / d varpar_k``, the Jacobian of ``vcov(beta) = sigma^2 (R_X'R_X)^{-1}``.

For a contrast ``L`` (a row vector): ``v = L V L'``, ``g_k = L J_k L'`` and
``df = 2 v^2 / (g' A g)``. F tests with several rows use lmerTest's eigen-decomposition.
Both derivatives are taken on the core's n-free objective, so they cost no pass over the data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..optim.derivatives import default_steps, hessian, jacobian
from ..errors import ConvergenceWarning, warn

__all__ = ["VarparInfo", "varpar_info", "fit_varpar", "contrast_df", "f_test", "combine_df"]


@dataclass(frozen=True)
class VarparInfo:
    varpar: np.ndarray     # (theta, sigma) at the optimum
    vcov: np.ndarray       # vcov(beta) at the optimum
    A: np.ndarray          # covariance of varpar: 2 H^-1
    J: np.ndarray          # (p, p, k) Jacobian of vcov(beta) in varpar


def varpar_info(core, theta: np.ndarray, sigma: float, reml: bool) -> VarparInfo:
    """A and J at (theta, sigma), by numDeriv's schemes on the core's n-free deviance.

    sigma enters the deviance and vcov(beta) in closed form, so every point that numDeriv visits
    needs a factorization only at its theta; points that share a theta (all the sigma steps, and
    the mixed (theta_i, sigma) steps with the theta_i steps) share one factorization. For k theta
    entries that is 1 + 8k + 4k(k-1) factorizations for the Hessian and 8k for the Jacobian, with
    the very numbers that the full scheme in (theta, sigma) would give.
    """
    varpar = np.concatenate([np.asarray(theta, dtype=float), [float(sigma)]])
    cache: dict[bytes, tuple | None] = {}

    def at(th, rx):
        key = th.tobytes()
        got = cache.get(key)
        if got is None or (rx and got[3] is None):
            got = core.pieces(th, with_rx=rx)
            if got is None:
                got = (np.nan, np.nan, np.nan, np.full((core.p, core.p), np.nan))
            cache[key] = got
        return got

    def dev(vp):
        pc = at(vp[:-1], False)
        if not np.isfinite(pc[2]):
            return np.inf
        return core.deviance_vp_from(pc[:3], vp[-1], reml)

    def vcov(vp):
        return vp[-1] ** 2 * at(vp[:-1], True)[3]

    # numDeriv's steps, except that sigma always gets a relative step: its absolute step for a tiny
    # sigma (a response in tiny units) would otherwise swamp it, and df must not depend on units
    h = default_steps(varpar, d=0.1)
    h[-1] = 0.1 * abs(varpar[-1]) or h[-1]
    H = hessian(dev, varpar, h)
    H = (H + H.T) / 2
    eig = np.linalg.eigvalsh(H)
    if np.any(eig < -1e-6 * max(1.0, abs(eig).max())):
        warn("the Hessian of the deviance in (theta, sigma) is not positive definite; "
             "Satterthwaite's df may be unreliable (the model may not have converged)",
             ConvergenceWarning, stacklevel=3)
    try:
        A = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        A = 2.0 * np.linalg.pinv(H)
    h = default_steps(varpar)
    h[-1] = 1e-4 * abs(varpar[-1]) or h[-1]
    J = jacobian(vcov, varpar, h)
    return VarparInfo(varpar, vcov(varpar), A, J)


def fit_varpar(m) -> VarparInfo:
    """:func:`varpar_info` of an lmer fit (its ``m._varpar``); all NaN, with a warning, where the
    criterion is not finite next to the estimate."""
    try:
        with np.errstate(all="ignore"):  # steps into a region where the criterion is infinite: handled below
            return varpar_info(m.core, m.theta, m.sigma, m.reml)
    except np.linalg.LinAlgError:
        # the criterion is not finite next to the estimate (e.g. a slope of a predictor in units of 1e12):
        # no Hessian, so no Satterthwaite df; say so instead of raising LAPACK's error
        # (stacklevel 4: the frame that asked the fit for m._varpar, as when this body was the property's)
        warn("Satterthwaite's degrees of freedom are not available: the criterion is not finite near "
             "the estimate, so its Hessian cannot be computed; rescale the predictors or simplify the "
             "random effects", ConvergenceWarning, stacklevel=4)
        k, p = m.theta.size + 1, m.core.p
        return VarparInfo(np.append(m.theta, m.sigma), m.vcov.to_numpy(), np.full((k, k), np.nan),
                          np.full((p, p, k), np.nan))


def contrast_df(info: VarparInfo, L: np.ndarray) -> tuple[float, float]:
    """(variance of L beta, Satterthwaite df) for one contrast row L."""
    L = np.asarray(L, dtype=float).ravel()
    v = float(L @ info.vcov @ L)
    g = np.einsum("i,ijk,j->k", L, info.J, L)
    denom = float(g @ info.A @ g)
    if not np.isfinite(denom):
        return v, float("nan")
    df = 2.0 * v * v / denom if denom > 0 else np.inf
    return v, df


def f_test(info: VarparInfo, L: np.ndarray, beta: np.ndarray) -> dict:
    """lmerTest's multi-df F test of L beta = 0: F value, NumDF, DenDF (eigen-decomposition)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = L.shape[0]
    if q == 1:
        v, df = contrast_df(info, L[0])
        est = float(L[0] @ beta)
        return {"F": est * est / v, "NumDF": 1.0, "DenDF": df}
    VL = L @ info.vcov @ L.T
    w, P = np.linalg.eigh(VL)
    order = np.argsort(w)[::-1]
    w, P = w[order], P[:, order]
    tol = 1e-8 * max(w[0], 1e-300)
    keep = w > tol
    w, P = w[keep], P[:, keep]
    PtL = P.T @ L
    t2 = (PtL @ beta) ** 2 / w
    F = float(t2.sum() / len(w))
    nus = np.array([contrast_df(info, row)[1] for row in PtL])
    return {"F": F, "NumDF": float(len(w)), "DenDF": combine_df(nus)}


def combine_df(nus: np.ndarray, tol: float = 1e-8) -> float:
    """One denominator df from the per-direction df (lmerTest's rule): mean if all equal,
    2E/(E - q) with E = sum nu/(nu - 2) otherwise, and 2 if some nu <= 2."""
    nus = np.asarray(nus, dtype=float)
    if len(nus) == 1:
        return float(nus[0])
    if np.all(np.abs(np.diff(nus)) < tol):
        return float(nus.mean())
    if np.any(nus <= 2):
        return 2.0
    E = float(np.sum(nus / (nus - 2)))
    return 2 * E / (E - len(nus))
