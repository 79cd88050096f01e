r"""Diagnostics of a fitted linear mixed model: leverage, residuals, influence, ICC and R², checks.

Leverage. With ``W = [Z Lambda, X]`` (rows scaled by sqrt of the prior weights) and the penalized
system ``C = W'W + diag(I_q, 0)``, the fitted values are ``H y`` with ``H = W C^{-1} W'`` (lme4's
``hatvalues``). Its diagonal ``h_i = ||L_C^{-1} w_i||^2`` is taken from the blocked Cholesky factor
``L_C`` of ``C`` that the fit already holds, a chunk of rows at a time: no n x n matrix is formed.

Influence (lme4's ``influence.merMod``): the model is refitted without each observation (or each
level of a grouping factor), starting from the full fit's theta. ``dfbeta = beta_(-i) - beta``;
``dfbetas`` divides by the deleted fit's standard errors; Cook's distance is
``(n-p)/(n p) dfbeta' vcov(beta)^-1 dfbeta`` with ``n`` the number of deleted units, as lme4.

Variance decomposition (Nakagawa, Johnson & Schielzeth 2017; R's ``performance``/``insight``):
``var_fixed = var(X beta)``, ``var_random = sum_k mean_i z_ik' Sigma_k z_ik`` (Johnson's extension
for random slopes: the mean over the rows of each term's variance), ``var_residual = sigma^2``.

    ICC adjusted  = var_random / (var_random + var_residual)
    ICC conditional (performance's "unadjusted") = var_random / (var_fixed + var_random + var_residual)
    R2 marginal   = var_fixed / total,   R2 conditional = (var_fixed + var_random) / total
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp

from ..glmm import families as _families
from ..errors import ArgumentError, MixedModelWarning, warn, silenced

__all__ = ["penalized_quadform", "hatvalues", "residuals", "influence", "Influence", "cooks_distance",
           "dfbetas", "variance_components", "icc", "r2", "check", "ModelCheck"]


def _require_lmm(m, what: str) -> None:
    fam = getattr(m, "family", None)
    if fam is not None:
        name = str(getattr(fam, "name", getattr(fam, "family", fam))).lower()
        if name != "gaussian":
            raise ArgumentError(f"{what} is implemented for linear mixed models (lmer) only, not for a "
                                f"{name} GLMM")
    if not hasattr(m, "core") or not hasattr(m.core, "factor"):
        raise ArgumentError(f"{what} needs an lmer fit")


# ---------------------------------------------------------------------------------------------- leverage

def penalized_quadform(m, X: np.ndarray, zs: list[np.ndarray], codes: list[np.ndarray],
                       chunk: int | None = None, core=None, f=None) -> np.ndarray:
    r"""``w_i' C^{-1} w_i`` for rows ``w_i = [Lambda' z_i; x_i]`` of the model's penalized system.

    ``X`` is n x p; ``zs[k]`` (n x p_k) and ``codes[k]`` (n level indices) give each row's entries
    for term ``k`` of ``m.terms`` (a zero row for a term that does not enter). Block elimination
    in the core's order (first term, other terms r, X):

        w'C^{-1}w = |L00^{-1} w0|^2 + s_r' S_rr^{-1} s_r + |R_X^{-T} (s_x - S_xr S_rr^{-1} s_r)|^2,
        s = w_(r,x) - C_(r,x),0 D0^{-1} w0,

    with the first term's per-level factors ``L00``, the Schur complement ``S`` of the other
    terms and ``R_X`` from the fit's factor (its dense Cholesky factor, or its sparse LU of
    ``S_rr``, whichever the core used).
    """
    if core is None:  # the fit's own system (a glmer fit passes the one of its last PIRLS step)
        core, f = m.core, m._factor
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    T = f.T
    l0, p0, mz = core.l0, core.p0, core.mz
    dense = getattr(f, "mode", "dense") == "dense"
    k0 = mz + p
    Hx = f.H[:, :p].reshape(l0, p0, p)
    LZ0 = f.LZ0 if mz else None
    if dense:
        LsC = f.Ls[:k0, :k0]
    else:
        LXX = f.Ls[:p, :p]
        Yx = f.Y[:, :p]
    offsets = np.cumsum([0] + [t.q for t in m.terms[1:]])
    out = np.empty(n)
    size = chunk or max(1, int(4_000_000 // max(k0, 1)))
    for a in range(0, n, size):
        b = min(n, a + size)
        m_ = b - a
        c0 = np.asarray(codes[0][a:b])
        y0 = np.asarray(zs[0][a:b], dtype=float) @ T[0]          # rows (T0' z0_i)'
        if p0 == 1:
            v0 = y0 / f.L00[c0, 0, :]
        else:
            v0 = np.linalg.solve(f.L00[c0], y0[:, :, None])[:, :, 0]
        q = np.einsum("ij,ij->i", v0, v0)
        rhs = np.zeros((k0, m_))
        rhs[mz:, :] = X[a:b].T - np.einsum("ijk,ij->ki", Hx[c0], v0)
        if mz:
            cols = np.repeat(np.arange(m_), p0)
            rows = (c0[:, None] * p0 + np.arange(p0)[None, :]).ravel()
            V0 = sp.csc_matrix((v0.ravel(), (rows, cols)), shape=(l0 * p0, m_))
            rhs[:mz, :] -= (LZ0 @ V0).toarray()
            for k, t in enumerate(m.terms[1:], start=1):
                yk = np.asarray(zs[k][a:b], dtype=float) @ T[k]
                ck = np.asarray(codes[k][a:b])
                idx = offsets[k - 1] + ck[:, None] * t.p + np.arange(t.p)[None, :]
                np.add.at(rhs, (idx.ravel(), np.repeat(np.arange(m_), t.p)), yk.ravel())
        if dense:
            vr = sla.solve_triangular(LsC, rhs, lower=True, check_finite=False)
            q += np.einsum("ij,ij->j", vr, vr)
        else:
            sr, sx = rhs[:mz], rhs[mz:]
            if mz:
                q += np.einsum("ij,ij->j", sr, f.lu.solve(sr))
                sx = sx - Yx.T @ sr
            vx = sla.solve_triangular(LXX, sx, lower=True, check_finite=False)
            q += np.einsum("ij,ij->j", vx, vx)
        out[a:b] = q
    return out


def _sqrt_weights(m) -> np.ndarray | None:
    w = m.frame.weights
    return None if w is None else np.sqrt(np.asarray(w, dtype=float))


def hatvalues(m) -> np.ndarray:
    """Diagonal of the hat matrix of the LMM (lme4's ``hatvalues``), one value per observation."""
    _require_lmm(m, "hatvalues()")
    sw = _sqrt_weights(m)
    X = np.asarray(m.fixed.X, dtype=float)
    zs = [t.z for t in m.terms]
    if sw is not None:
        X = X * sw[:, None]
        zs = [z * sw[:, None] for z in zs]
    return penalized_quadform(m, X, zs, [t.codes for t in m.terms])


# ---------------------------------------------------------------------------------------------- residuals

def residuals(m, type: str = "response", scaled: bool = False) -> pd.Series:
    """Residuals as lme4's ``residuals(m, type, scaled)``.

    ``response`` and ``working``: ``y - fitted``; ``pearson`` and ``deviance``: ``sqrt(w) (y - fitted)``
    (the same for a Gaussian model); ``scaled=True`` divides by sigma (the summary's "Scaled residuals").
    """
    types = ("response", "working", "pearson", "deviance")
    if type not in types:
        raise ArgumentError(f"type must be one of {', '.join(types)}; got {type!r}")
    if hasattr(m, "family"):  # a GLMM computes its own kinds of residuals
        return m.resid(type=type, scaled=scaled)
    r = m.residuals
    r = pd.Series(np.asarray(r, dtype=float), index=m.frame.data.index, name="residuals")
    if type in ("pearson", "deviance"):
        sw = _sqrt_weights(m)
        if sw is not None:
            r = r * sw
    if scaled:
        r = r / float(m.sigma)
    return r


# ---------------------------------------------------------------------------------------------- influence

@dataclass(frozen=True)
class Influence:
    """The refits behind lme4's ``influence()``: one row per deleted observation or group."""

    group: str                       # "case" or the grouping variable(s)
    units: list                      # labels of the deleted units, in data order
    fixef: pd.Series                 # full fit
    fixef_deleted: pd.DataFrame      # units x coefficients
    varcomp: pd.Series               # sigma^2, then each term's covariance (lower triangle by column)
    varcomp_deleted: pd.DataFrame
    vcov: pd.DataFrame               # full fit's vcov(beta)
    vcov_deleted: list = field(repr=False)
    converged: np.ndarray = field(repr=False)
    nevals: np.ndarray = field(repr=False)
    n_units: int | None = None       # all units of the data (Cook's n), when only some were refitted

    def dfbeta(self, which: str = "fixed") -> pd.DataFrame:
        """Deleted minus full estimates (``which="var.cov"`` for the variance components)."""
        if which == "fixed":
            return self.fixef_deleted - self.fixef
        if which in ("var.cov", "varcov", "varcomp"):
            return self.varcomp_deleted - self.varcomp
        raise ArgumentError(f"which must be 'fixed' or 'var.cov', got {which!r}")

    def dfbetas(self) -> pd.DataFrame:
        """dfbeta divided by the deleted fit's standard errors."""
        se = np.array([np.sqrt(np.diag(v)) for v in self.vcov_deleted])
        return self.dfbeta() / se

    def cooks_distance(self) -> pd.Series:
        """Cook's distance as lme4: (n-p)/(n p) * dfbeta' vcov^-1 dfbeta, n = number of units."""
        db = self.dfbeta().to_numpy()
        n, p = db.shape
        n = self.n_units or n
        Vi = np.linalg.inv(self.vcov.to_numpy()) * (n - p) / (n * p)
        with np.errstate(invalid="ignore"):
            d = np.einsum("ij,jk,ik->i", db, Vi, db)
        return pd.Series(d, index=self.fixef_deleted.index, name="cooks_distance")


def _varcomp(fit) -> tuple[np.ndarray, list[str]]:
    """sigma^2, then each term's covariance, lower triangle by column (lme4's influence order)."""
    s2 = float(fit.sigma) ** 2
    vals, names = [s2], ["sigma^2"]
    labels = fit._group_labels
    single = len(fit.terms) == 1
    for lab, t, T in zip(labels, fit.terms, fit._factor.T):
        C = s2 * (T @ T.T)
        pre = "" if single else f"{lab}:"
        for j in range(t.p):
            for i in range(j, t.p):
                vals.append(C[i, j])
                nm = f"v[{t.cnames[i]}]" if i == j else f"C[{t.cnames[i]},{t.cnames[j]}]"
                names.append(pre + nm)
    return np.array(vals), names


def _unit_labels(m, group) -> tuple[str, np.ndarray, list]:
    """(name, unit index of each row, unit labels in order of first appearance)."""
    data = m.frame.data
    if group is None:
        labels = [str(i) for i in data.index]
        return "case", np.arange(len(data)), labels
    cols = [group] if isinstance(group, str) else list(group)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ArgumentError(f"group {missing} is not a column of the data; columns: {', '.join(map(str, data.columns))}")
    from ..design.model import _label

    keys = [".".join(_label(v) for v in row) for row in zip(*(data[c].astype(object).to_numpy() for c in cols))]
    order = list(dict.fromkeys(keys))
    pos = {k: i for i, k in enumerate(order)}
    return ".".join(cols), np.array([pos[k] for k in keys]), order


def refit_without(m, drop: np.ndarray):
    """The model refitted on the rows where ``drop`` is False, starting at the full fit's theta."""
    from ..core.lmm import LmmCore
    from ..design.model import _independent_columns
    from ..optim.nlopt import minimize_theta

    keep = ~np.asarray(drop, dtype=bool)
    fr = m.frame
    X = np.asarray(m.fixed.X, dtype=float)[keep]
    cols = _independent_columns(X)
    names = [m.fixed.names[j] for j in cols]
    X = X[:, cols]
    terms = [replace(t, codes=t.codes[keep], z=t.z[keep]) for t in m.terms]
    w = None if fr.weights is None else np.asarray(fr.weights)[keep]
    off = None if fr.offset is None else np.asarray(fr.offset)[keep]
    y = np.asarray(fr.y, dtype=float)[keep]
    core = LmmCore(terms, X, y, weights=w, offset=off)
    lay = core.layout
    with silenced():
        theta, _, info = minimize_theta(lambda th: core.objective(th, m.reml), np.asarray(m.theta, dtype=float),
                                        lay.lower(), m.control)
    frame = replace(fr, data=fr.data.loc[keep], y=y, weights=w, offset=off)
    fixed = replace(m.fixed, X=X, names=names)
    return replace(m, frame=frame, fixed=fixed, terms=terms, core=core, theta=theta, optinfo=info)


def influence(m, group=None, units=None) -> Influence:
    """Refit without each observation (``group=None``) or each level of ``group`` (lme4's influence()).

    ``units`` restricts the refits to some observations (row labels of the data) or levels; Cook's
    distance then still uses the number of all units, so that its values equal the full run's.
    """
    _require_lmm(m, "influence()")
    gname, unit, labels = _unit_labels(m, group)
    n_all = len(labels)
    if units is not None:
        want = [str(u) for u in (units if isinstance(units, (list, tuple, np.ndarray, pd.Index)) else [units])]
        pos = {lab: i for i, lab in enumerate(labels)}
        unknown = [u for u in want if u not in pos]
        if unknown:
            raise ArgumentError(f"unknown unit(s) {unknown[:5]} for {gname}; e.g. {labels[:5]}")
        remap = np.full(n_all, -1)
        for i, u in enumerate(want):
            remap[pos[u]] = i
        unit, labels = remap[unit], want
    names = list(m.fixed.names)
    vc0, vc_names = _varcomp(m)
    B = np.full((len(labels), len(names)), np.nan)
    VC = np.full((len(labels), len(vc0)), np.nan)
    vcovs, conv, nev = [], np.zeros(len(labels), dtype=bool), np.zeros(len(labels), dtype=int)
    for u in range(len(labels)):
        sub = refit_without(m, unit == u)
        pos = {nm: j for j, nm in enumerate(sub.fixed.names)}
        V = np.full((len(names), len(names)), np.nan)
        subV = sub.vcov.to_numpy()
        idx = [pos.get(nm) for nm in names]
        for a, ia in enumerate(idx):
            if ia is None:
                continue
            B[u, a] = sub.beta[ia]
            for b_, ib in enumerate(idx):
                if ib is not None:
                    V[a, b_] = subV[ia, ib]
        vcovs.append(V)
        VC[u] = _varcomp(sub)[0]
        conv[u] = bool(sub.optinfo.converged)
        nev[u] = int(sub.optinfo.nevals)
    return Influence(group=gname, units=labels, fixef=pd.Series(m.beta, index=names),
                     fixef_deleted=pd.DataFrame(B, index=labels, columns=names),
                     varcomp=pd.Series(vc0, index=vc_names),
                     varcomp_deleted=pd.DataFrame(VC, index=labels, columns=vc_names),
                     vcov=pd.DataFrame(np.asarray(m.vcov, dtype=float), index=names, columns=names),
                     vcov_deleted=vcovs, converged=conv, nevals=nev, n_units=n_all)


def cooks_distance(m, group=None, method: str = "refit", infl: Influence | None = None) -> pd.Series:
    """Cook's distance of each observation (or group).

    ``method="refit"`` (default): lme4's ``cooks.distance(influence(m, groups))`` from refits;
    ``method="hat"``: lme4's ``cooks.distance(m)``, the one-step formula
    ``(r_i / (1 - h_i))^2 h_i / (sigma^2 p)`` with Pearson residuals and hat values (observations only).
    """
    if method == "hat":
        if group is not None:
            raise ArgumentError("method='hat' gives Cook's distance per observation; use method='refit' for groups")
        _require_lmm(m, "cooks_distance()")
        h = hatvalues(m)
        r = residuals(m, type="pearson").to_numpy()
        p = np.linalg.matrix_rank(np.asarray(m.fixed.X, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (r / (1 - h)) ** 2 * h / (float(m.sigma) ** 2 * p)
        d[np.isinf(d)] = np.nan
        return pd.Series(d, index=m.frame.data.index, name="cooks_distance")
    if method != "refit":
        raise ArgumentError(f"method must be 'refit' or 'hat', got {method!r}")
    return (infl or influence(m, group)).cooks_distance()


def dfbetas(m, group=None, infl: Influence | None = None) -> pd.DataFrame:
    """Scaled change of each fixed effect when an observation (or group) is left out (lme4's dfbetas)."""
    return (infl or influence(m, group)).dfbetas()


# ---------------------------------------------------------------------------------------------- ICC, R2

_SINGULAR_TOL = 1e-5  # performance::check_singularity's default tolerance


# the distribution-specific variance of a binomial GLMM on the latent scale (Nakagawa et al. 2017)
_LATENT_VARIANCE = {"logit": math.pi ** 2 / 3, "probit": 1.0, "cloglog": math.pi ** 2 / 6}


def _lognormal_variance(m) -> float:
    """The distribution-specific variance of a Poisson or negative binomial GLMM with a log link, as
    insight computes it: log(1 + V(mu)/mu^2) (Nakagawa et al. 2017's lognormal approximation), that
    is log(1 + 1/mu) for Poisson and log(1 + 1/mu + 1/theta) for a negative binomial, with
    mu = exp(intercept of the null model: the same random effects and family, an intercept only)."""
    from dataclasses import replace

    from ..fit.glmer import _fit_setup

    if str(getattr(m.family, "link", "")) != "log":
        raise ArgumentError(f"ICC and R2 of a {m.family.name} GLMM need the log link, not {m.family.link!r}")
    setup = m.setup
    if setup is None or setup.prior_weights is not None or np.any(np.asarray(m.model.offset) != 0):
        raise ArgumentError(f"ICC and R2 of a {m.family.name} GLMM are available without weights or offsets only")
    n = m.nobs
    null = replace(setup, fixed=replace(setup.fixed, X=np.ones((n, 1)), names=["(Intercept)"], dropped=[],
                                        all_names=None))
    with silenced():
        m0 = _fit_setup(null, m.family, m.nagq, m.control, warn=False)
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
        s2, templates, resid = 1.0, m._T, _LATENT_VARIANCE[link]
    elif isinstance(fam, (_families.Poisson, _families.NegativeBinomial)):
        s2, templates, resid = 1.0, m._T, _lognormal_variance(m)
    else:
        _require_lmm(m, "variance_components()")
        s2 = float(m.sigma) ** 2
        templates, resid = m._factor.T, s2
    eta = np.asarray(m.fixed.X, dtype=float) @ np.asarray(m.beta, dtype=float)
    # an intercept-only fixed part has var 0 exactly (not a rounding residue of 1e-26)
    spread = float(np.ptp(eta)) if eta.size else 0.0
    var_fixed = float(np.var(eta, ddof=1)) if eta.size > 1 and spread > 1e-12 * max(1.0, float(np.max(np.abs(eta)))) else 0.0
    from ..core.lmm import ThetaLayout

    diag = ThetaLayout([t.p for t in m.terms]).is_diagonal()
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


# ---------------------------------------------------------------------------------------------- check

@dataclass
class ModelCheck:
    """What ``m.check()`` found; ``str()`` gives the plain-language report.

    Each block (convergence, singularity, scaling) has its lines, some of which say what is fine;
    ``problems`` holds just the lines that report a problem, in the order shown, so that the count
    in the report, ``len(issues)`` and the blocks marked PROBLEM agree: a block is a problem exactly
    when it has at least one problem line.
    """

    formula: str
    converged: bool
    convergence: list[str]
    singular: bool
    singularity: list[str]
    scale_ok: bool
    scaling: list[str]
    gradient: np.ndarray | None = None
    scaled_gradient: np.ndarray | None = None
    hessian_eigenvalues: np.ndarray | None = None
    problems: list[str] = field(default_factory=list)
    lme4_messages: list[str] = field(default_factory=list)  # lme4's checkConv messages for this fit

    @property
    def ok(self) -> bool:
        return self.converged and not self.singular and self.scale_ok

    @property
    def issues(self) -> list[str]:
        """The problem lines (not the lines saying what passed)."""
        return list(self.problems)

    def __str__(self) -> str:
        flagged = set(self.problems)

        def block(title, ok, lines):
            head = f"{title}: {'OK' if ok else 'PROBLEM'}"
            # "!" marks a problem line, "-" a line saying what is fine
            return "\n".join([head] + [f"  {'!' if ln in flagged else '-'} {ln}" for ln in lines])

        parts = [f"Model check for {self.formula}",
                 block("Convergence", self.converged, self.convergence),
                 block("Singularity", not self.singular, self.singularity),
                 block("Scaling", self.scale_ok, self.scaling)]
        n = len(self.problems)
        parts.append("All checks passed." if n == 0 else
                     f"{n} problem{'s' if n > 1 else ''} found (marked !); see the suggestions above.")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return str(self)


_SCALE_TOL = 1000.0  # lme4's check.scaleX tolerance


def _convergence(m) -> tuple[list[str], list[str], dict]:
    """(lines, problem lines, numbers): the optimizer's report and lme4's checkConv on the gradient and
    Hessian of the objective at the estimate -- the very numbers the fit warned with, so that check()
    and the fit's ConvergenceWarning (and the summary's last lines) never disagree."""
    from ..optim.convergence import GRAD_TOL, HESS_TOL, lmer_convergence, scaled_gradient

    info = m.optinfo
    crit = "REML criterion" if m.reml else "deviance"
    lines, problems, extra = [], [], {}

    def problem(text):
        lines.append(text)
        problems.append(text)

    conv = lmer_convergence(m)
    extra["lme4_messages"] = list(conv.messages)
    name = getattr(info, "optimizer", "the optimizer")
    if bool(getattr(info, "converged", True)):
        lines.append(f"{name} stopped normally ({getattr(info, 'message', '')}, "
                     f"{getattr(info, 'nevals', '?')} evaluations of the {crit}).")
    else:
        problem(f"{name} did not report convergence ({getattr(info, 'message', '')}). Try a larger "
                "maxeval, another optimizer (control={'optimizer': 'nelder_mead'}) or rescaled predictors.")
    if m.is_singular or conv.gradient is None:
        lines.append("the fit is on the boundary (singular), so the gradient test does not apply there "
                     "(lme4 skips it too).")
        return lines, problems, extra
    g, H = conv.gradient, conv.hessian
    ev = np.linalg.eigvalsh((H + H.T) / 2) if np.all(np.isfinite(H)) else np.full(len(g), np.nan)
    extra.update(gradient=g, hessian_eigenvalues=ev)
    sg = scaled_gradient(g, H)
    if sg is not None:
        extra["scaled_gradient"] = sg
        mg = float(np.max(np.minimum(np.abs(sg), np.abs(g))))
        if mg > GRAD_TOL:
            problem(f"the {crit} is not flat at the estimate: max|scaled gradient| = {mg:.3g} "
                    f"(lme4's tolerance {GRAD_TOL}). Refit from the estimate (control={{'maxeval': ...}}) "
                    "or with another optimizer, and compare.")
        else:
            lines.append(f"the gradient of the {crit} is ~0 at the estimate (max|scaled gradient| = {mg:.2g}, "
                         f"tolerance {GRAD_TOL}).")
    elif np.all(np.isfinite(g)):
        problem("the gradient cannot be scaled by the curvature (the Hessian has no Cholesky factor); see the "
                "Hessian's eigenvalues.")
    else:
        problem(f"the gradient of the {crit} is not finite at the estimate: the fit is unreliable. Refit with "
                "another optimizer or rescaled predictors.")
    if not np.all(np.isfinite(ev)):
        problem("the Hessian cannot be evaluated (infinite or missing values).")
    elif np.any(ev < -HESS_TOL):
        problem(f"the Hessian of the {crit} has {int(np.sum(ev < -HESS_TOL))} negative eigenvalue(s): "
                "the estimate is not a minimum. Refit with another optimizer.")
    elif np.any(np.abs(ev) < HESS_TOL) or sg is None:
        problem("the Hessian is numerically singular: some variance parameters are not determined "
                "by the data. Simplify the random effects.")
    elif ev.max() * HESS_TOL > 1 or ev.min() / ev.max() < HESS_TOL:
        problem(f"the model is nearly unidentifiable: the Hessian's eigenvalues are {ev.min():.3g} to "
                f"{ev.max():.3g} (lme4 warns beyond 1e6, or a ratio beyond 1e6). Rescale the predictors "
                "(scale()) or simplify the model.")
    else:
        lines.append(f"the Hessian is positive definite (eigenvalues {ev.min():.3g} to {ev.max():.3g}): "
                     "a proper minimum.")
    return lines, problems, extra


def _singularity(m) -> tuple[bool, list[str]]:
    lines = []
    sing = bool(m.is_singular)
    near_one = False
    s = float(m.sigma)
    for lab, t, T in zip(m._group_labels, m.terms, m._factor.T):
        C = T @ T.T           # relative covariance (units of sigma^2)
        sd = np.sqrt(np.maximum(np.diag(C), 0.0))
        zero = [k for k in range(t.p) if sd[k] < 1e-4]
        for k in zero:
            nm = t.cnames[k]
            if t.p == 1:
                lines.append(f"the variance of the random {'intercept' if nm == '(Intercept)' else nm} for "
                             f"{t.group} is ~0 (SD {s * sd[k]:.3g}): the groups vary no more than the residual "
                             f"noise implies. Remove the term {t.term} (a model without it is equivalent).")
            else:
                rest = [c for c in t.cnames if c != nm]
                lines.append(f"the variance of {nm} for {t.group} is ~0 (SD {s * sd[k]:.3g}): drop {nm} from "
                             f"the term {t.term}" + (f", e.g. ({' + '.join(rest)} | {t.group})." if rest else "."))
        live = [k for k in range(t.p) if k not in zero]
        flagged = False
        for a in live:
            for b in live:
                if b <= a:
                    continue
                r = C[a, b] / (sd[a] * sd[b])
                if abs(r) > 0.999:
                    flagged = near_one = True
                    lines.append(f"the correlation of {t.cnames[a]} and {t.cnames[b]} for {t.group} is "
                                 f"{r:+.3f} (~{'+' if r > 0 else '-'}1): the data cannot separate them. Fit them "
                                 f"uncorrelated ({' + '.join(t.cnames).replace('(Intercept)', '1')} || {t.group}) "
                                 "or drop the slope.")
        if len(live) > 2 and not flagged:
            ev = np.linalg.eigvalsh(C[np.ix_(live, live)])
            if ev.min() < 1e-8 * max(ev.max(), 1e-300):
                lines.append(f"the covariance matrix of the random effects for {t.group} is degenerate (one "
                             f"combination of {', '.join(t.cnames[k] for k in live)} has ~0 variance). "
                             "Simplify the term (fewer slopes, or || for uncorrelated effects).")
    # every line found above reports a problem (a degenerate covariance too, even where isSingular's
    # diagonal test misses it), so the block is a problem exactly when there is one
    flagged = sing or near_one or bool(lines)
    if not flagged:
        lines.append("no variance is ~0 and no correlation is ~+-1.")
    elif not lines:
        lines.append("the fit is singular (a relative covariance factor is ~0); simplify the random effects.")
    return flagged, lines


def _scaling(m) -> tuple[bool, list[str]]:
    X = np.asarray(m.fixed.X, dtype=float)
    names = list(m.fixed.names)
    cont = [j for j in range(X.shape[1]) if not np.all(np.isin(X[:, j], (0.0, 1.0)))]
    if not cont:
        return True, ["no continuous predictors in the fixed effects."]
    sd = np.array([np.std(X[:, j], ddof=1) for j in cont])
    lines = []
    ok = True
    pos = sd > 0
    if pos.any():
        lo, hi = np.argmin(np.where(pos, sd, np.inf)), np.argmax(sd)
        ratio = sd[hi] / sd[lo]
        big = [names[cont[j]] for j in range(len(cont)) if pos[j] and (sd[j] > _SCALE_TOL or sd[j] < 1 / _SCALE_TOL)]
        if ratio > _SCALE_TOL or big:
            ok = False
            lines.append(f"the predictors are on very different scales: SD of {names[cont[hi]]} is {sd[hi]:.3g}, "
                         f"of {names[cont[lo]]} {sd[lo]:.3g} (lme4 warns beyond a factor of {_SCALE_TOL:g}). "
                         "Center and scale them, e.g. write scale(x) in the formula, so that the optimizer "
                         "and the estimates are well conditioned.")
        else:
            lines.append(f"the continuous predictors' SDs ({', '.join(f'{names[cont[j]]} {sd[j]:.3g}' for j in range(len(cont)))}) "
                         f"are within a factor of {_SCALE_TOL:g} of each other and of 1.")
    return ok, lines


def check(m) -> ModelCheck:
    """Convergence (gradient and Hessian of the objective at the optimum), singularity and scaling.

    Parameters
    ----------
    m : LmerResult
        A linear mixed model fit.

    Returns
    -------
    ModelCheck
        ``str()`` is the report. The convergence block uses lme4's checkConv numbers (``deriv12``
        derivatives, the scaled gradient against 0.002, the Hessian's eigenvalues), the same that made
        the fit warn and that the summary prints, so the three agree; ``lme4_messages`` holds lme4's
        messages. ``issues`` lists only the lines reporting a problem, and the report's count is its
        length.
    """
    _require_lmm(m, "check()")
    conv, conv_problems, extra = _convergence(m)
    sing, sing_lines = _singularity(m)
    sc_ok, sc = _scaling(m)
    # the problem lines in the order shown: each block's lines are problems or say what passed
    problems = conv_problems + (sing_lines if sing else []) + ([] if sc_ok else sc)
    return ModelCheck(formula=str(m.formula), converged=not conv_problems, convergence=conv, singular=sing,
                      singularity=sing_lines, scale_ok=sc_ok, scaling=sc, gradient=extra.get("gradient"),
                      scaled_gradient=extra.get("scaled_gradient"),
                      hessian_eigenvalues=extra.get("hessian_eigenvalues"), problems=problems,
                      lme4_messages=extra.get("lme4_messages", []))
