r"""glmer_nb(): a negative binomial GLMM with its shape theta estimated, as lme4's ``glmer.nb``.

lme4's recipe: a Poisson GLMM; MASS's ``theta.ml`` on its fitted means (:func:`theta_ml`); a
negative binomial GLMM at that theta; then R's ``optimize`` minimizes -2 logLik over log(theta),
each evaluation refitting the previous fit at the new theta (lme4's ``refit``: Nelder-Mead over
``(theta, beta)`` from the previous estimates, no stage 1). R's ``optimize`` is Brent's method; so is
scipy's bounded scalar minimizer, with R's initial point, steps and stopping test (scipy takes
sqrt(2.2e-16) for R's sqrt(DBL_EPSILON) in the relative part of the tolerance, which moves theta in
about the tenth digit).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import optimize, special

from ..core.limits import PLS_DENSE_MAX
from ..errors import ArgumentError, ConvergenceWarning, FitError, silenced, warn as _warn
from ..glmm import families as _families
from ..glmm.deviance import Stage2Deviance
from ..glmm.pirls import PirlsError
from ..optim.nelder_mead import nelder_mead
from ..results.glmer import GlmerResult
from ..threads import fit_threads, pirls_block
from .glmer import (GlmerFit, check_agq_terms, check_nagq, convergence_messages, fit_setup, glmer_result,
                    record_warnings, split_control)
from .glmer_setup import GlmerSetup, family_model, glmer_setup

__all__ = ["glmer_nb", "theta_ml", "r_optimize"]


def theta_ml(y, mu, weights=None, limit: int = 10, eps: float = np.finfo(float).eps ** 0.25):
    """Maximum-likelihood negative binomial shape for fixed means (MASS's theta.ml).

    Newton-Raphson on the score of the log-likelihood in theta, from the moment estimate.

    Parameters
    ----------
    y : array_like
        The counts.
    mu : array_like
        The fitted means.
    weights : array_like, optional
        Prior weights (1 each by default).
    limit : int
        The most iterations (a ConvergenceWarning when reached).
    eps : float
        The tolerance on the Newton step.

    Returns
    -------
    float
        The estimate (0, with a warning, where it came out negative).

    Examples
    --------
    >>> import numpy as np
    >>> from mixedmodels.fit.glmer_nb import theta_ml
    >>> y = np.array([0, 1, 2, 5, 0, 3, 8, 1])
    >>> round(theta_ml(y, np.full(8, y.mean())), 3)
    1.231
    """
    y = np.asarray(y, dtype=float)
    mu = np.asarray(mu, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    n = float(np.sum(w))
    t0 = n / float(np.sum(w * (y / mu - 1.0) ** 2))
    it, delta = 0, 1.0
    while it + 1 < limit and abs(delta) > eps:
        it += 1
        t0 = abs(t0)
        score = np.sum(w * (special.digamma(t0 + y) - special.digamma(t0) + math.log(t0) + 1.0
                            - np.log(t0 + mu) - (y + t0) / (mu + t0)))
        info = np.sum(w * (-special.polygamma(1, t0 + y) + special.polygamma(1, t0) - 1.0 / t0
                           + 2.0 / (mu + t0) - (y + t0) / (mu + t0) ** 2))
        delta = float(score / info)
        t0 = t0 + delta
    if t0 < 0:
        _warn("negative binomial theta estimate truncated at zero", ConvergenceWarning, stacklevel=3)
        t0 = 0.0
    if it + 1 >= limit:
        _warn("theta.ml: iteration limit reached", ConvergenceWarning, stacklevel=3)
    return float(t0)


def r_optimize(f, lower: float, upper: float, tol: float):
    """R's ``optimize(f, c(lower, upper), tol = tol)``: Brent's minimization on an interval.

    scipy's bounded scalar minimizer is Brent's (1973) golden-section / parabolic method as R's
    ``Brent_fmin``: the same first point, steps and stopping test, so the points evaluated are R's
    (up to scipy's sqrt(2.2e-16) for R's sqrt(DBL_EPSILON) in the tolerance).

    Parameters
    ----------
    f : callable
        The function of one number (``inf`` where it cannot be evaluated).
    lower, upper : float
        The interval.
    tol : float
        The absolute tolerance on the minimizer.

    Returns
    -------
    (xmin, fmin) : tuple of float
        The minimizer found (a point where ``f`` was evaluated) and its value.

    Examples
    --------
    >>> from mixedmodels.fit.glmer_nb import r_optimize
    >>> x, fx = r_optimize(lambda x: (x - 2.0) ** 2, 0.0, 5.0, 1e-8)
    >>> round(x, 6), round(fx, 6)
    (2.0, 0.0)
    """
    res = optimize.minimize_scalar(f, bounds=(lower, upper), method="bounded", options={"xatol": tol})
    return float(res.x), float(res.fun)


def _refit_nb(setup: GlmerSetup, prev: GlmerResult, theta_nb: float, link, nagq: int, control) -> GlmerResult:
    """lme4's refit(setNBdisp(prev, theta)): a fresh response (the family's mustart), PIRLS over u at
    prev's theta with the fixed effects at 0 for the starting linear predictor, then Nelder-Mead
    over (theta, beta) from prev's estimates with steps 0.02 (no stage 1, no boundary check)."""
    fam = _families.NegativeBinomial(theta_nb, link=link)
    model, mustart = family_model(setup, fam, control)
    opt_ctl, glmm_ctl = split_control(control)
    nth, p = model.layout.size, model.p
    with np.errstate(all="ignore"):
        eta_start = model.offset + fam.linkfun(mustart)
    r0 = model.pirls(prev.theta, beta=np.zeros(p), eta_start=eta_start)
    s2 = Stage2Deviance(model, nagq, r0.eta)
    x0 = np.concatenate([prev.theta, prev.beta])
    lower = np.concatenate([model.layout.lower(), np.full(p, -np.inf)])
    warned: list = []
    xst = np.full(x0.size, 0.02)
    maxfun = int(opt_ctl.get("maxeval", 10000))
    pars, val, info = record_warnings(lambda: nelder_mead(s2, x0, lower, xst, xst * 5e-4, maxfun=maxfun), warned)
    g = H = scale = None
    if bool(glmm_ctl.get("calc_derivs", True)):
        g, H, scale = s2.derivatives(pars)
    r = s2.pirls(pars)
    fit = GlmerFit(pars[:nth].copy(), pars[nth:].copy(), float(s2.value(r)), r, info, H, g, [], warned,
                   lp0=r0.eta, hessian_scale=scale)
    # the result knows its theta: the last refit is glmer_nb's result, built once
    return glmer_result(setup, fam, nagq, control, model, fit, warn=False, nb_theta=theta_nb)


def _real(v) -> bool:
    """A finite real number, not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _check_nb_options(tol, theta_start, interval) -> None:
    """glmer_nb's own arguments: a positive tolerance, a positive theta, an interval of log(theta)."""
    if not (_real(tol) and tol > 0):
        raise ArgumentError(f"tol must be a finite number > 0 (the tolerance on log(theta); default 5e-5), got {tol!r}")
    if theta_start is not None and not (_real(theta_start) and theta_start > 0):
        raise ArgumentError(f"theta_start must be a finite number > 0 (a negative binomial shape), got {theta_start!r}")
    if interval is not None:
        ok = (isinstance(interval, (tuple, list, np.ndarray)) and len(interval) == 2 and all(map(_real, interval))
              and interval[0] < interval[1])
        if not ok:
            raise ArgumentError(f"interval must be two finite numbers (lower, upper), lower < upper, on the "
                                f"log(theta) scale as lme4's glmer.nb, e.g. (-2, 4); got {interval!r}")


def glmer_nb(formula: str, data, *, link: str = "log", nAGQ: int = 1, weights=None, offset=None, control=None,
             data_name: str | None = None, interval=None, tol: float = 5e-5, theta_start: float | None = None):
    """Negative binomial GLMM with its shape theta estimated, as lme4's ``glmer.nb``.

    As lme4: a Poisson GLMM gives a first theta (MASS's ``theta.ml`` on its fitted means) unless
    ``theta_start`` is given; a negative binomial GLMM is fitted at it; then R's ``optimize`` (Brent)
    minimizes -2 logLik over log(theta) in ``interval`` (default log(theta0) +- 3) to tolerance
    ``tol``, refitting the previous fit at each new theta (lme4's ``refit``). The result is the
    last fit; its family is ``NegativeBinomial(theta)`` and ``result.nb_theta`` the estimate.

    The negative binomial variance is ``mu + mu^2 / theta`` (theta -> inf is the Poisson).

    Parameters
    ----------
    formula : str
        A glmer formula for counts, e.g. ``"TICKS ~ YEAR + (1 | BROOD)"``.
    data : pandas.DataFrame, polars.DataFrame, dict, ...
        The data.
    link : {"log", "sqrt", "identity"}, default "log"
        The link function (as glmer's).
    nAGQ : int, default 1
        Adaptive Gauss-Hermite points (>= 1; 1 is the Laplace approximation).
    weights : array_like or str, optional
        Prior weights, or the name of a column (as glmer's).
    offset : array_like or str, optional
        A known term of the linear predictor, or the name of a column (as glmer's).
    control : dict, optional
        glmer's optimizer settings (:func:`~mixedmodels.fit.glmer.glmer`).
    data_name : str, optional
        How the printed call names the data.
    interval : tuple of float, optional
        The search interval of log(theta); default log(theta0) +- 3.
    tol : float, default 5e-5
        The tolerance of R's ``optimize`` on log(theta).
    theta_start : float, optional
        A first theta, instead of MASS's ``theta.ml`` on a Poisson fit.

    Returns
    -------
    GlmerResult
        The last fit, its family ``NegativeBinomial(theta)``; ``result.nb_theta`` is the estimate.

    Raises
    ------
    ArgumentError
        For ``nAGQ=0`` or invalid ``tol``, ``theta_start`` or ``interval``.
    FitError
        When the counts show no overdispersion beyond the Poisson model (no first theta).

    Warns
    -----
    ConvergenceWarning
        When the estimate is at an edge of the search interval.

    Examples
    --------
    The fit refits the model at each theta Brent's method tries (a few seconds here, so not run
    by the doctests):

    >>> nb = mm.glmer_nb("TICKS ~ YEAR + (1 | BROOD)", mm.load_dataset("grouseticks"))  # doctest: +SKIP
    >>> round(nb.nb_theta, 3)  # doctest: +SKIP
    3.303
    >>> nb.fixef.round(3).to_dict()  # doctest: +SKIP
    {'(Intercept)': 0.371, 'YEAR96': 1.335, 'YEAR97': -0.905}
    >>> mm.families.NegativeBinomial(3.303)  # the family of such a fit
    NegativeBinomial(theta=3.303, link='log')
    """
    nagq = check_nagq(nAGQ)
    split_control(control)
    _check_nb_options(tol, theta_start, interval)
    pois = _families.Poisson(link=link)
    # one BLAS thread (mixedmodels.threads) for the passes over the rows, and for the fits while the
    # system PIRLS factors at every step is small
    with fit_threads() as threads:
        setup = glmer_setup(formula, data, pois, weights, offset, data_name)
        check_agq_terms(nagq, setup.terms)
        if nagq == 0:
            raise ArgumentError("glmer_nb() needs nAGQ >= 1 (lme4's refits over (theta, beta))")
        threads.block(pirls_block([t.q for t in setup.terms], setup.fixed.X.shape[1], PLS_DENSE_MAX))
        if theta_start is None:
            with silenced():
                g0 = fit_setup(setup, pois, nagq, control, warn=False)
            th = theta_ml(g0.model.y, g0.pirls.mu, weights=g0.model.pw, limit=20, eps=2 * tol)
            if not (th > 0 and math.isfinite(th)):
                raise FitError(f"the initial estimate of the negative binomial theta is {th}; the counts show no "
                               "overdispersion beyond the Poisson model")
        else:
            th = float(theta_start)
        with silenced():
            g1 = fit_setup(setup, _families.NegativeBinomial(th, link=link), nagq, control, warn=False)
        lo, hi = (math.log(th) - 3.0, math.log(th) + 3.0) if interval is None else tuple(map(float, interval))
        state = {"last": g1, "fits": {}}

        def nbfun(logt: float) -> float:
            with silenced():
                try:
                    g = _refit_nb(setup, state["last"], math.exp(logt), link, nagq, control)
                except (FitError, PirlsError):
                    return math.inf
            state["last"] = g
            state["fits"][logt] = g
            return -2.0 * g.loglik

        xmin, _ = r_optimize(nbfun, lo, hi, tol)
        g = state["fits"].get(xmin)
        if g is None:  # R insists that the last evaluation was the minimum; refit there if it was not
            nbfun(xmin)
            g = state["fits"][xmin]
        if abs(xmin - lo) < 10 * tol or abs(xmin - hi) < 10 * tol:
            _warn(f"the negative binomial theta estimate {math.exp(xmin):.4g} is at the edge of the search "
                  f"interval [{math.exp(lo):.4g}, {math.exp(hi):.4g}]; give a wider interval", ConvergenceWarning,
                  stacklevel=2)
        # the fit's messages were computed when it was built; now they are issued, once
        convergence_messages(g.theta, g.model, g.optinfo, g.gradient, g.hessian, g.control, warn=True, stacklevel=3)
        return g
