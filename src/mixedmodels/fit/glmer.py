r"""glmer(): generalized linear mixed models fitted as lme4 fits them.

The stages (lme4's ``glFormula`` -> ``mkGlmerDevfun`` -> ``optimizeGlmer`` -> ``mkMerMod``):

1. the formula, model frame, ``X`` and the random-effects terms (shared with ``lmer``); the family
   checks and transforms the response (``cbind(successes, failures)`` becomes proportions with the
   trials as weights) and gives R's starting means ``mustart``
   (:mod:`mixedmodels.fit.glmer_setup`);
2. PIRLS over ``(beta, u)`` from ``eta = offset + g(mustart)`` at lme4's starting theta;
3. stage 1 (lme4's ``nAGQ0initStep``): BOBYQA over theta of the nAGQ = 0 deviance, PIRLS over
   ``(beta, u)`` from the linear predictor of step 2 at every evaluation; for ``nAGQ = 0`` this is
   the fit (the deviance functions of both stages: :mod:`mixedmodels.glmm.deviance`);
4. stage 2 (``nAGQ >= 1``): lme4's own Nelder-Mead (:mod:`mixedmodels.optim.nelder_mead`) over
   ``(theta, beta)`` from the stage-1 estimates, initial steps 0.02 for theta and 0.2 x the stage-1
   standard errors for beta (capped at 10 as lme4, in the units of
   :func:`~mixedmodels.optim.scales.column_scales`), or NLopt's BOBYQA with tight tolerances
   (``control={"optimizer": ("bobyqa", "bobyqa")}``), with
   PIRLS over ``u`` from the stage-1 linear predictor: the Laplace approximation, or adaptive
   Gauss-Hermite quadrature for ``nAGQ > 1`` (one scalar random-effects term only, as lme4);
   then lme4's check of theta near its bound (``boundary.tol`` 1e-5);
5. the covariance of the fixed effects from the finite-difference Hessian (lme4's ``deriv12``)
   of the stage-2 deviance over ``(theta, beta)``, the convergence checks on its gradient and
   eigenvalues, and the result object. lme4 steps 1e-4 in every parameter, which for a predictor in
   tiny or huge units is lost in rounding or spans many standard errors; here the step of a fixed
   effect is 1e-4 in the units of :func:`~mixedmodels.optim.scales.column_scales` (lme4's for
   predictors with sd from 0.1 to 100: :func:`~mixedmodels.optim.scales.scaled_deriv12`), so the
   standard errors do not depend on a predictor's units.

The deviance functions are lme4's to the last detail that changes numbers: PIRLS stops when the
penalized deviance changes by less than 1e-7 relatively and the log-determinant is the one of its
last step (see :mod:`mixedmodels.glmm.pirls`). That detail is why the Hessian, hence the standard errors,
agree with lme4's to four or more digits; with the same function and the same Nelder-Mead, the
estimates agree with R's to many digits whenever the Nelder-Mead path is not long and chaotic.

``logLik`` is minus half the final deviance (whose constants come from the family's ``aic``),
``deviance`` the sum of squared deviance residuals, as lme4. The result, a frozen
:class:`~mixedmodels.results.glmer.GlmerResult`, is built once with lme4's convergence messages;
``glmer_nb`` (:mod:`mixedmodels.fit.glmer_nb`) composes the functions here.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, ConvergenceWarning, FitError, collected, warn as _warn
from ..glmm import families as _families
from ..glmm.deviance import Stage1Deviance, Stage2Deviance
from ..core.limits import PLS_DENSE_MAX
from ..design.dask_frame import is_dask_data
from ..glmm.pirls import GlmmModel, PirlsError, PirlsResult
from ..optim.bobyqa import bobyqa as powell_bobyqa
# lme4's checkConv and deriv12 live in convergence.py, shared with lmer (deriv12 stays importable here)
from ..optim.convergence import GRAD_TOL, conv_messages, deriv12, scaled_gradient, warn_messages
from ..optim.nelder_mead import nelder_mead
from ..optim.nlopt import OptInfo, check_start, minimize_theta
from ..optim.polish import newton_polish
from ..results.glmer import GlmerResult
from ..threads import fit_threads, pirls_block
from .glmer_control import STAGE2_TOLERANCES, optimizers, split_control
from .glmer_setup import GlmerSetup, check_agq_terms, family_model, glmer_setup

__all__ = ["glmer", "deriv12", "GlmerFit", "fit_glmm", "fit_setup", "glmer_result", "convergence_messages",
           "split_control", "check_nagq", "check_agq_terms", "record_warnings"]

@dataclass
class GlmerFit:
    """What the optimization found, before it becomes a result: theta, beta, the deviance, the final
    PIRLS state, the optimizer's report, the finite-difference derivatives over (theta, beta) and the
    ConvergenceWarnings collected on the way (issued once, with the result)."""

    theta: np.ndarray
    beta: np.ndarray
    objective: float
    pirls: PirlsResult
    optinfo: OptInfo
    hessian: np.ndarray | None
    gradient: np.ndarray | None
    messages: list
    warned: list
    lp0: np.ndarray | None = None   # the linear predictor every stage-2 PIRLS starts from
    hessian_scale: np.ndarray | None = None  # the parameter scales of the finite differences


def record_warnings(call, warned: list):
    """Run ``call()`` keeping the package's ConvergenceWarnings in ``warned`` (re-issued after the
    fit, once, by :func:`glmer_result`); its other warnings are issued at once.

    Parameters
    ----------
    call : callable
        The optimization, without arguments.
    warned : list
        Where the ConvergenceWarnings go.

    Returns
    -------
    object
        What ``call()`` returned.
    """
    with collected() as wl:
        out = call()
    warned += [w for w in wl if isinstance(w, ConvergenceWarning)]
    for w in wl:
        if not isinstance(w, ConvergenceWarning):
            _warn(str(w), type(w), stacklevel=3)
    return out


def _check_boundary(fun, pars, fval, lower, nth, tol):
    """lme4's check.boundary: theta within tol of its bound is set to the bound where that is no worse."""
    pars = np.asarray(pars, dtype=float).copy()
    d = pars[:nth] - lower[:nth]
    edge = (d > 0) & (d < tol)
    if not edge.any():
        return pars, fval
    for i in np.flatnonzero(edge):
        tmp = pars.copy()
        tmp[i] = lower[i]
        if fun(tmp) < fval:
            pars[i] = lower[i]
    return pars, fun(pars)


def fit_glmm(model: GlmmModel, mustart, nagq: int, control, start=None) -> GlmerFit:
    """Fit a GLMM as lme4's ``optimizeGlmer``: the initial PIRLS fit, stage 1 and (nAGQ >= 1) stage 2.

    Parameters
    ----------
    model : GlmmModel
        The family, design and PIRLS workspace (:func:`~mixedmodels.fit.glmer_setup.family_model`).
    mustart : numpy.ndarray
        R's starting means.
    nagq : int
        0, 1 (Laplace) or the number of adaptive Gauss-Hermite points.
    control : dict or None
        glmer's control.
    start : dict, optional
        ``{"theta": ..., "beta": ...}``, checked (:func:`~mixedmodels.optim.nlopt.check_start`).

    Returns
    -------
    GlmerFit
    """
    opt_ctl, glmm_ctl = split_control(control)
    opt1, opt2 = optimizers(opt_ctl)
    base_ctl = {k: v for k, v in opt_ctl.items() if k != "optimizer"}
    bt = float(base_ctl.get("boundary_tol", 1e-5))
    layout = model.layout
    theta0 = layout.start() if start is None or start.get("theta") is None else \
        np.asarray(start["theta"], dtype=float)
    eta_start = model.start_eta(mustart)
    try:
        r0 = model.pirls(theta0, eta_start=eta_start)
    except PirlsError as e:
        raise FitError(f"the initial PIRLS fit failed: {e}; check the response and the predictors "
                       "(e.g. complete separation for a binomial response)") from None
    init_step = bool(glmm_ctl.get("nAGQ0initStep", True))
    warned: list = []
    nth = layout.size
    # ---- stage 1: deviance over theta, PIRLS over (beta, u) (lme4's nAGQ = 0 devfun)
    theta1, r1, val1, info1 = _stage1(model, r0, theta0, nagq, opt1, base_ctl, bt, init_step, warned)
    theta1 = np.asarray(theta1, dtype=float)
    if nagq == 0:
        return GlmerFit(theta1, r1.beta, float(val1), r1, info1, None, None, [], warned)
    # ---- stage 2: (theta, beta), PIRLS over u, from the stage-1 linear predictor
    s2 = Stage2Deviance(model, nagq, r1.eta)
    lower = np.concatenate([layout.lower(), np.full(model.p, -np.inf)])
    pars, info, g, H, scale = _stage2(model, s2, r1, theta1, start, opt2, base_ctl, glmm_ctl, lower, warned)
    if bt > 0:
        pars, val = _check_boundary(s2, pars, s2(pars), lower, nth, bt)
    if not layout.unstructured:
        pars, info, g, H, scale = _structured_end(s2, pars, lower, layout, base_ctl, glmm_ctl, info, (g, H, scale))
    r = s2.pirls(pars)
    val = s2.value(r)
    return GlmerFit(pars[:nth].copy(), pars[nth:].copy(), float(val), r, info, H, g, [], warned, lp0=r1.eta,
                    hessian_scale=scale)


def _structured_end(s2: Stage2Deviance, pars, lower, layout, base_ctl: dict, glmm_ctl: dict, info: OptInfo,
                    derivs):
    """A structured term's correlation at its bound (r = infinity: ``optim.structured``), tried with
    beta held, then one more NLopt search over (theta, beta) from there; kept only where lower, with
    the derivatives taken again. An ar1() whose rho is 1 is the random intercept model: without
    this, stage 2 stops 1.4e-4 above that model's deviance on a simulated Poisson fit."""
    from ..optim.structured import structured_ends

    nth = layout.size
    theta, beta = np.array(pars[:nth], dtype=float), np.array(pars[nth:], dtype=float)
    fx = s2(pars)
    th, v = structured_ends(lambda t: s2(np.concatenate([t, beta])), theta, fx, layout)
    if th is theta:
        return (pars, info, *derivs)
    x = np.concatenate([th, beta])
    ctl = dict(STAGE2_TOLERANCES)
    ctl.update(base_ctl)
    ctl.update(optimizer="bobyqa", boundary_tol=0.0)
    with collected():
        z, v2, extra = minimize_theta(s2, x, lower, ctl)
    if v2 < v:
        x = np.asarray(z, dtype=float)
    info = OptInfo(info.optimizer, info.nevals + extra.nevals, info.code, info.message, info.converged)
    if not bool(glmm_ctl.get("calc_derivs", True)):
        return x, info, None, None, None
    return (x, info, *s2.derivatives(x))


def _stage2(model: GlmmModel, s2: Stage2Deviance, r1: PirlsResult, theta1, start, opt2: str, base_ctl: dict,
            glmm_ctl: dict, lower, warned: list):
    """Stage 2: the deviance over (theta, beta) from stage 1's theta and beta, then its
    finite-difference gradient and Hessian (lme4's deriv12) at the end.

    With NLopt (the default), the end is polished by Newton steps on those derivatives; where the
    gradient check still fails at a non-singular end, lme4's Nelder-Mead is run from stage 2's start
    too (lme4's own path) and the lower of the two ends kept, so the default never ends above
    lme4's: on a surface that PIRLS's stopping rule makes rough (an inverse
    Gaussian GLMM: jumps of 4e-3 in the deviance between points 1e-6 apart) BOBYQA's model of it
    can stall 1e-4 above the minimum that Nelder-Mead's simplex reaches. Nelder-Mead alone
    (``("bobyqa", "nelder_mead")``) stops where lme4 stops.

    Returns (pars, OptInfo, gradient, Hessian, scale); the derivatives are None with
    ``calc_derivs = False``.
    """
    nth, p = model.layout.size, model.p
    beta1, se1 = _stage2_start(r1, p, start)
    x0 = np.concatenate([theta1, beta1])
    maxfun = int(base_ctl.get("maxeval", 10000))
    xst = 0.2 * np.concatenate([np.full(nth, 0.1), np.minimum(se1, 10.0 * model.x_scales)])

    def simplex(x):
        return record_warnings(lambda: nelder_mead(s2, x, lower, xst, xst * 5e-4, maxfun=maxfun), warned)

    if opt2 == "nelder_mead":
        pars, _, info = simplex(x0)
    else:
        def scaled(x):
            x = np.asarray(x, dtype=float)
            return s2(np.concatenate([x[:nth], beta1 + se1 * x[nth:]]))

        z0 = np.concatenate([theta1, np.zeros(p)])
        ctl2 = dict(STAGE2_TOLERANCES)
        ctl2.update(base_ctl)
        ctl2["optimizer"] = opt2
        ctl2["boundary_tol"] = 0.0
        what = "the deviance (Laplace)" if s2.nagq == 1 else f"the deviance (nAGQ = {s2.nagq})"
        z, _, info = record_warnings(lambda: minimize_theta(scaled, z0, lower, ctl2, what=what), warned)
        pars = np.concatenate([z[:nth], beta1 + se1 * z[nth:]])
    if not bool(glmm_ctl.get("calc_derivs", True)):
        return pars, info, None, None, None
    g, H, scale = s2.derivatives(pars)
    if opt2 == "nelder_mead":
        return pars, info, g, H, scale
    fx = s2(pars)
    # NLopt stops on its step size, not at a zero gradient: Newton steps on the derivatives just computed
    pars, fx, g, H, _ = newton_polish(s2, lambda x: s2.derivatives(x)[:2], pars, fx, g, H, lower)
    tol = float(glmm_ctl.get("check_conv_grad", GRAD_TOL))
    on_bound = bool(np.any(pars[:nth] <= lower[:nth]))
    sc = scaled_gradient(g, H)
    if not on_bound and (sc is None or float(np.max(np.minimum(np.abs(sc), np.abs(g)))) > tol):
        with collected():  # the restart's own warnings are not the fit's
            pn, _, info_n = nelder_mead(s2, x0, lower, xst, xst * 5e-4, maxfun=maxfun)
        fn = s2(pn)
        if fn < fx:
            pars = pn
            info = OptInfo("Nelder_Mead", info.nevals + info_n.nevals, info_n.code, info_n.message,
                           info_n.converged)
            g, H, scale = s2.derivatives(pars)
    return pars, info, g, H, scale


def _stage2_start(r1: PirlsResult, p: int, start):
    """Stage 2's start for beta (stage 1's, or the user's) and the standard errors of beta from stage 1
    (lme4: ``sqrt(diag(pp$unsc()))``), which size its initial steps (1 where not positive and finite)."""
    beta1 = r1.beta.copy()
    if start is not None and start.get("beta") is not None:
        beta1 = np.asarray(start["beta"], dtype=float)
    se1 = np.ones(p)
    if p:
        rx = r1.core.rx_inverse(r1.f)
        se1 = np.sqrt(np.maximum(np.diag(rx), 0.0))
        se1 = np.where(np.isfinite(se1) & (se1 > 0), se1, 1.0)
    return beta1, se1


def _stage1(model: GlmmModel, r0: PirlsResult, theta0, nagq: int, opt1: str, base_ctl: dict, bt: float,
            init_step: bool, warned: list):
    """Stage 1: BOBYQA (minqa's, or another optimizer) over theta of the nAGQ = 0 deviance, from the
    linear predictor of the initial PIRLS fit ``r0``; skipped (theta0 kept) when ``nAGQ0initStep``
    is off and nAGQ > 0. Returns (theta, PIRLS fit, deviance, OptInfo)."""
    layout = model.layout
    nth = layout.size
    if init_step or nagq == 0:
        s1 = Stage1Deviance(model, r0.eta)
        if opt1 == "bobyqa":
            maxfun = int(base_ctl.get("maxeval", 10000))
            theta1, val1, info1 = record_warnings(lambda: _minqa_bobyqa(s1, theta0, layout.lower(), maxfun), warned)
            if nagq == 0 and bt > 0:
                theta1, val1 = _check_boundary(s1, theta1, val1, layout.lower(), nth, bt)
        else:
            ctl1 = {"ftol_abs": 1e-12, "xtol_abs": 1e-10}
            ctl1.update(base_ctl)
            ctl1["optimizer"] = opt1
            ctl1["boundary_tol"] = bt if nagq == 0 else 0.0
            theta1, val1, info1 = record_warnings(lambda: minimize_theta(s1, theta0, layout.lower(), ctl1,
                                                                         what="the deviance (nAGQ = 0 stage)"),
                                                  warned)
        r1 = s1.pirls(theta1)
        val1 = model.laplace(r1)
    else:
        theta1, r1, val1 = theta0, r0, model.laplace(r0)
        info1 = OptInfo("none", 0, 0, "skipped", True)
    return theta1, r1, val1, info1


def _minqa_bobyqa(fun, x0, lower, maxfun: int):
    """Stage 1 as lme4 runs it: R package minqa's ``bobyqa`` (Powell's code) with minqa's defaults,
    npt = n + 2 interpolation points, rhobeg = min(0.95, 0.2 max|x0|), rhoend = 1e-6 rhobeg.

    NLopt's BOBYQA always uses 2n + 1 points, so its iterates differ from R's; with Powell's
    algorithm and the same settings they are R's up to rounding, and so is stage 2's start.
    """
    x0 = np.asarray(x0, dtype=float).copy()
    lower = np.asarray(lower, dtype=float)
    if np.all(x0 == 0):
        x0[:] = 0.001  # as lme4's optwrap: BOBYQA's initial radius is relative to |x0|
    n = x0.size
    rhobeg = min(0.95, 0.2 * float(np.max(np.abs(x0))))
    if not math.isfinite(fun(x0)):
        raise FitError(f"the deviance (nAGQ = 0 stage) is not finite at the starting values theta={x0.tolist()}; "
                       "check the data for constant or collinear columns")
    try:
        res = powell_bobyqa(lambda x: fun(x), x0, lower, np.full(n, np.inf), rhobeg=rhobeg, rhoend=1e-6 * rhobeg,
                            npt=n + 2, maxfun=maxfun, minqa_compat=True)
    except ValueError as e:
        raise FitError(f"the optimizer (bobyqa) failed while minimizing the deviance (nAGQ = 0 stage): {e}") from None
    info = OptInfo("bobyqa", int(res.nfev), int(res.status), res.message, res.status == 0)
    if res.status != 0:
        _warn(f"convergence code {res.status} from bobyqa: {res.message}; try control={{'maxeval': ...}} "
              "larger or another optimizer, e.g. control={'optimizer': ('nelder_mead', 'nelder_mead')}",
              ConvergenceWarning, stacklevel=4)
    return np.asarray(res.x, dtype=float), float(res.fun), info


# ============================================================================================ public API

def glmer(formula: str, data, *, family="binomial", nAGQ: int = 1, weights=None, offset=None, control=None,
          data_name: str | None = None, start=None):
    """Fit a generalized linear mixed model with lme4's formula syntax, as lme4's ``glmer``.

    Parameters
    ----------
    formula : str
        As for :func:`~mixedmodels.fit.lmer.lmer` (covariance structures included). A binomial
        response is 0/1, logical, a two-level factor (first level = failure),
        ``cbind(successes, failures)`` or a proportion with the numbers of trials as ``weights``.
    data : pandas.DataFrame or polars.DataFrame
        The rows.
    family : str or Family, default "binomial"
        A name ("binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian") or a family object
        with a link, e.g. ``mm.families.Binomial(link="probit")``.
    nAGQ : int, default 1
        1: Laplace; 0: the faster approximation that estimates the fixed effects inside PIRLS;
        > 1: adaptive Gauss-Hermite quadrature with that many points (one scalar random-effects
        term only).
    weights, offset : array_like or str, optional
        One value per row of ``data``, or a column's name; ``offset(...)`` terms in the formula
        add up with ``offset``.
    control : dict, optional
        ``optimizer`` (a name, or a pair for the two stages; default ``("bobyqa", "bobyqa")``:
        stage 2 by NLopt at tight tolerances and Newton steps, which ends at the optimum in fewer
        evaluations; ``("bobyqa", "nelder_mead")`` is lme4's glmerControl and keeps its stopping
        point), ``ftol_abs``, ``xtol_abs``, ``maxeval``, ``boundary_tol`` (1e-5), ``tol_pirls``
        (1e-7), ``maxit_pirls`` (100), ``laplace`` (``"lme4"``: the deviance from PIRLS's
        last-step factor, as lme4, the default for lme4's terms; ``"mode"``: the system factored
        again at the mode, as glmmTMB, the default for a model with a structured term such as
        ``ar1()``), ``calc_derivs`` (default True: ``vcov`` from the finite-difference Hessian, as
        lme4), ``nAGQ0initStep`` (default True), ``check_conv_grad`` (0.002). A bad setting or an
        unknown name raises :class:`~mixedmodels.errors.ArgumentError`.
    data_name : str, optional
        The name the summary prints after "Data:".
    start : dict or array_like, optional
        ``{"theta": ..., "beta": ...}`` (lme4's ``fixef`` for ``beta`` too) or a theta vector, in
        lme4's order.

    Returns
    -------
    GlmerResult
        The fit. Warns :class:`~mixedmodels.errors.SingularFitWarning` and
        :class:`~mixedmodels.errors.ConvergenceWarning` where lme4 reports a singular fit or a
        failed convergence check.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> cbpp = mm.load_dataset("cbpp")
    >>> m = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    >>> round(m.loglik, 2)
    -92.03
    """
    fam = _families.get_family(family)
    nagq = check_nagq(nAGQ)
    if is_dask_data(data):  # imports dask only now
        from .dask_glmer import glmer_dask

        return glmer_dask(formula, data, family=fam, nagq=nagq, weights=weights, offset=offset, control=control,
                          data_name=data_name, start=start, fit=fit_glmm, result=glmer_result)
    if isinstance(fam, _families.Gaussian) and fam.link == "identity":
        _warn("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() is deprecated; "
              "please call lmer() directly", DeprecationWarning, stacklevel=2)
        from .lmer import lmer

        if isinstance(weights, str):
            weights = np.asarray(data[weights], dtype=float)
        if isinstance(offset, str):
            offset = np.asarray(data[offset], dtype=float)
        return lmer(formula, data, weights=weights, offset=offset, control=control, data_name=data_name,
                    start=start)
    split_control(control)
    # one BLAS thread (mixedmodels.threads) for the passes over the rows, and for the fit while the
    # system PIRLS factors at every step is small
    with fit_threads() as threads:
        setup = glmer_setup(formula, data, fam, weights, offset, data_name)
        check_agq_terms(nagq, setup.terms)
        threads.block(pirls_block([t.q for t in setup.terms], setup.fixed.X.shape[1], PLS_DENSE_MAX))
        return fit_setup(setup, fam, nagq, control, start)


def check_nagq(nAGQ) -> int:
    """nAGQ as lme4 takes it: a whole number from 0 to 25 (a number, not a string).

    Raises
    ------
    ArgumentError
        For anything else.
    """
    ok = (isinstance(nAGQ, numbers.Real) and not isinstance(nAGQ, (bool, np.bool_)) and math.isfinite(nAGQ)
          and float(nAGQ).is_integer() and 0 <= nAGQ <= 25)
    if not ok:
        raise ArgumentError(f"nAGQ must be a whole number from 0 to 25 (0: the fast approximation, 1: Laplace, "
                            f"2 to 25: that many adaptive Gauss-Hermite points), got {type(nAGQ).__name__} {nAGQ!r}")
    return int(nAGQ)


def fit_setup(setup: GlmerSetup, fam, nagq: int, control, start=None, warn: bool = True,
              stacklevel: int = 5) -> GlmerResult:
    """Fit the model of a setup with a family: the family's model, the two stages, the result.

    Parameters
    ----------
    setup : GlmerSetup
        The data (:func:`~mixedmodels.fit.glmer_setup.glmer_setup`).
    fam : Family
        The family, with its parameters.
    nagq : int
        0, 1 (Laplace) or the number of adaptive Gauss-Hermite points.
    control : dict or None
        glmer's control.
    start : dict or array_like, optional
        Starting values (``{"theta": ..., "beta": ...}`` or theta).
    warn : bool
        Whether to issue lme4's convergence warnings (False for internal refits).
    stacklevel : int
        Of those warnings, as :func:`glmer_result` counts it (5: the caller of glmer()).

    Returns
    -------
    GlmerResult
    """
    model, mustart = family_model(setup, fam, control)
    if model.n <= model.p:
        raise ArgumentError(f"{model.n} observations cannot estimate {model.p} fixed effects")
    start = check_start(start, setup.terms, model.layout.lower(), model.p)
    fit = fit_glmm(model, mustart, nagq, control, start)
    return glmer_result(setup, fam, nagq, control, model, fit, warn, stacklevel=stacklevel)


def glmer_result(setup: GlmerSetup, fam, nagq: int, control, model: GlmmModel, fit: GlmerFit, warn: bool,
                 stacklevel: int = 5, nb_theta: float | None = None) -> GlmerResult:
    """The result of a fit, built once with lme4's convergence messages (it is frozen after).

    Parameters
    ----------
    setup, fam, nagq, control, model
        What was fitted.
    fit : GlmerFit
        What the optimization found.
    warn : bool
        Whether to issue the convergence messages and the optimizers' ConvergenceWarnings.
    stacklevel : int
        Of those warnings, counted from here (5: the caller of glmer()).
    nb_theta : float, optional
        The negative binomial theta that glmer_nb estimated.

    Returns
    -------
    GlmerResult
    """
    msgs = convergence_messages(fit.theta, model, fit.optinfo, fit.gradient, fit.hessian, control, warn=warn,
                                stacklevel=stacklevel)
    res = GlmerResult(formula=setup.formula, family=fam, nagq=nagq, data_name=setup.data_name, parsed=setup.parsed,
                      frame=setup.frame, fixed=setup.fixed, terms=setup.terms, model=model, theta=fit.theta,
                      beta=fit.beta, objective=fit.objective, pirls=fit.pirls, optinfo=fit.optinfo,
                      hessian=fit.hessian, gradient=fit.gradient, control=control, weights_name=setup.weights_name,
                      setup=setup, messages=msgs, lp0=fit.lp0, nb_theta=nb_theta, hessian_scale=fit.hessian_scale,
                      fitter=fit_setup)
    if warn:
        for w in fit.warned:
            _warn(str(w), type(w), stacklevel=stacklevel - 1)
    return res


def convergence_messages(theta, model: GlmmModel, optinfo: OptInfo, gradient, hessian, control, warn: bool = True,
                         stacklevel: int = 2) -> list[str]:
    """lme4's convergence messages of a glmer fit (its ``checkConv``), issued as warnings if ``warn``.

    Parameters
    ----------
    theta : numpy.ndarray
        The estimate (a diagonal entry below 1e-4 is a singular fit, lme4's isSingular).
    model : GlmmModel
        The model fitted (its theta layout).
    optinfo : OptInfo
        The optimizer's report.
    gradient, hessian : numpy.ndarray or None
        The finite-difference derivatives over (theta, beta).
    control : dict or None
        glmer's control (``check_conv_grad``, default 0.002).
    warn : bool
        Whether to issue the messages as warnings.
    stacklevel : int
        Of the warnings, counted from the caller.

    Returns
    -------
    list of str
        Empty for a clean fit; else the optimizer's line and the messages, as lme4's summary prints.
    """
    opt = f"optimizer ({optinfo.optimizer}) convergence code: {0 if optinfo.converged else optinfo.code}"
    tol = float((control or {}).get("check_conv_grad", 0.002))
    singular = bool(np.any(model.layout.template_diagonals(np.asarray(theta)) < 1e-4))
    msgs = conv_messages(gradient, hessian, singular=singular, tol=tol)
    if warn:
        warn_messages(msgs, stacklevel=stacklevel)
    if msgs:
        msgs = [opt + (" (OK)" if optinfo.converged else f" ({optinfo.message})")] + msgs
    return msgs
