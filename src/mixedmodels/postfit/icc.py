r"""Variance decomposition of a mixed model: ICC and R² (Nakagawa, Johnson & Schielzeth 2017).

As R's ``performance``/``insight``: ``var_fixed = var(X beta)``, ``var_random = sum_k mean_i z_ik'
Sigma_k z_ik`` (Johnson's extension for random slopes: the mean over the rows of each term's
variance), ``var_residual = sigma^2`` (for a GLMM the distribution-specific variance).

    ICC adjusted  = var_random / (var_random + var_residual)
    ICC conditional (performance's "unadjusted") = var_random / (var_fixed + var_random + var_residual)
    R2 marginal   = var_fixed / total,   R2 conditional = (var_fixed + var_random) / total
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..errors import ArgumentError, MixedModelWarning, silenced, warn
from ..glmm import families as _families
from .leverage import require_lmm

__all__ = ["variance_components", "icc", "r2"]


_SINGULAR_TOL = 1e-5  # performance::check_singularity's default tolerance


# the distribution-specific variance of a binomial GLMM on the latent scale (Nakagawa et al. 2017)
_LATENT_VARIANCE = {"logit": math.pi ** 2 / 3, "probit": 1.0, "cloglog": math.pi ** 2 / 6}


def _lognormal_variance(m) -> float:
    """The distribution-specific variance of a Poisson or negative binomial GLMM with a log link, as
    insight computes it: log(1 + V(mu)/mu^2) (Nakagawa et al. 2017's lognormal approximation), that
    is log(1 + 1/mu) for Poisson and log(1 + 1/mu + 1/theta) for a negative binomial, with
    mu = exp(intercept of the null model: the same random effects and family, an intercept only)."""
    if str(getattr(m.family, "link", "")) != "log":
        raise ArgumentError(f"ICC and R2 of a {m.family.name} GLMM need the log link, not {m.family.link!r}")
    setup = m.setup
    if setup is None or setup.prior_weights is not None or np.any(np.asarray(m.model.offset) != 0):
        raise ArgumentError(f"ICC and R2 of a {m.family.name} GLMM are available without weights or offsets only")
    n = m.nobs
    null = replace(setup, fixed=replace(setup.fixed, X=np.ones((n, 1)), names=["(Intercept)"], dropped=[],
                                        all_names=None))
    with silenced():
        m0 = m.fitter(null, m.family, m.nagq, m.control, warn=False)  # fit.glmer.fit_setup
    mu = math.exp(float(m0.beta[0]))
    if mu < 6:
        warn(f"mu of {mu:.1f} is too close to zero, estimate of random effect variances may be unreliable.",
             MixedModelWarning, stacklevel=4)
    return math.log1p(float(m.family.variance(np.array([mu]))[0]) / (mu * mu))


def variance_components(m) -> dict:
    """Nakagawa's decomposition: ``var_fixed``, ``var_random``, ``var_residual`` (insight's get_variance).

    For a binomial GLMM the residual variance is the link's latent-scale variance (pi^2/3 for
    logit, 1 for probit, pi^2/6 for cloglog), as performance uses it; for a Poisson or negative
    binomial GLMM (log link) the lognormal approximation (:func:`_lognormal_variance`); other GLMM
    families raise.
    ``var_random`` is NaN for a singular fit (as performance, which then cannot compute it).
    """
    fam = getattr(m, "family", None)
    if isinstance(fam, _families.Binomial):
        link = str(getattr(fam, "link", ""))
        if link not in _LATENT_VARIANCE:
            raise ArgumentError(f"ICC and R2 of a binomial GLMM need a logit, probit or cloglog link, not {link!r}")
        s2, templates, resid = 1.0, m.templates, _LATENT_VARIANCE[link]
    elif isinstance(fam, (_families.Poisson, _families.NegativeBinomial)):
        s2, templates, resid = 1.0, m.templates, _lognormal_variance(m)
    else:
        require_lmm(m, "variance_components()")
        s2 = float(m.sigma) ** 2
        templates, resid = m.templates, s2
    eta = np.asarray(m.fixed.X, dtype=float) @ np.asarray(m.beta, dtype=float)
    # an intercept-only fixed part has var 0 exactly (not a rounding residue of 1e-26)
    spread = float(np.ptp(eta)) if eta.size else 0.0
    var_fixed = float(np.var(eta, ddof=1)) if eta.size > 1 and spread > 1e-12 * max(1.0, float(np.max(np.abs(eta)))) else 0.0
    from ..core.lmm import ThetaLayout

    diag = ThetaLayout.for_terms(m.terms).is_diagonal()
    if np.any(np.asarray(m.theta)[diag] < _SINGULAR_TOL):
        warn("can't compute the random-effect variances: some variance components are (nearly) zero "
             "(a singular fit); the ICC and the conditional R2 are NaN. Simplify the random effects "
             "(see m.check())", MixedModelWarning, stacklevel=3)
        var_random = math.nan
    else:
        var_random = 0.0
        for t, T in zip(m.terms, templates):
            Sigma = s2 * (T @ T.T)
            var_random += float(np.mean(np.einsum("ij,jk,ik->i", t.z, Sigma, t.z)))
    return {"var_fixed": var_fixed, "var_random": var_random, "var_residual": resid}


def icc(m) -> dict:
    """Intraclass correlation as R's ``performance::icc``: ``{"adjusted", "conditional"}``.

    "conditional" is performance's "unadjusted" ICC (it conditions on the fixed effects' variance).
    """
    v = variance_components(m)
    vr, vf, ve = v["var_random"], v["var_fixed"], v["var_residual"]
    return {"adjusted": vr / (vr + ve), "conditional": vr / (vf + vr + ve)}


def r2(m) -> dict:
    """Nakagawa's R² as R's ``performance::r2_nakagawa``: ``{"marginal", "conditional"}``.

    For a singular fit the random variance is unknown: the marginal R² is then
    ``var_fixed / (var_fixed + var_residual)`` and the conditional one NaN, as performance reports.
    """
    v = variance_components(m)
    vr, vf, ve = v["var_random"], v["var_fixed"], v["var_residual"]
    if math.isnan(vr):
        return {"marginal": vf / (vf + ve), "conditional": math.nan}
    tot = vf + vr + ve
    return {"marginal": vf / tot, "conditional": (vf + vr) / tot}
