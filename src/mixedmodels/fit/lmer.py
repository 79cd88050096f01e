"""lmer(): the composition of the stages formula -> design -> core -> optimizer -> result.

Input is validated here, at the boundary, with lme4's checks (levels vs observations, rank
deficiency, predictor scaling) and a few of our own (a response the fixed effects reproduce
exactly, weights of zero, values beyond double precision), so that the core may assume valid input.
"""
from __future__ import annotations


import numpy as np

from ..core.lmm import LmmCore
from ..design.dask_frame import is_dask_data
from ..design.fixed import fixed_design, warn_fixed_design
from ..design.frame import check_new_response, model_frame
from ..design.random import check_terms, random_terms
from ..errors import ArgumentError, DataError, FitError, MixedModelWarning, SingularFitWarning, silenced, warn as _warn
from ..formula.parse import parse_formula
from ..optim.nlopt import check_control, check_start, minimize_theta
from ..results.lmer import LmerResult
from ..threads import fit_threads

__all__ = ["lmer", "lmer_stages", "fit_core"]


def lmer_stages(formula: str, data, *, weights=None, offset=None):
    """Parse, build the design and form the crossproduct blocks; returns (parsed, frame, fixed, terms, core)."""
    parsed = parse_formula(formula)
    frame = model_frame(parsed, data, weights=weights, offset=offset)
    fixed = fixed_design(parsed, frame)
    terms = random_terms(parsed, frame)
    n = len(frame.y)
    check_terms(terms, n)
    _check_magnitude(parsed, frame.y)
    warn_fixed_design(fixed, stacklevel=4)
    core = LmmCore(terms, fixed.X, frame.y, weights=frame.weights, offset=frame.offset)
    return parsed, frame, fixed, terms, core


def _check_magnitude(parsed, y) -> None:
    big = float(np.max(np.abs(y)))
    if big > 1e100 or 0 < big < 1e-100:
        raise DataError(f"the response {parsed.response!r} has values of size {big:.3g}, beyond what double "
                        "precision crossproducts can hold; rescale it (e.g. multiply by a power of 10)")


def _check_response(parsed, frame, fixed, core) -> None:
    """A response that lmer cannot model, said plainly instead of a meaningless fit."""
    y = np.asarray(frame.y, dtype=float)
    X = fixed.X
    if np.ptp(y) == 0 and X.size and np.any((np.ptp(X, axis=0) == 0) & (X[0] != 0)):
        raise DataError(f"the response {parsed.response!r} is constant (every value is {y[0]:g}); a mixed "
                        "model needs variation in the response")
    w = frame.weights
    if w is not None and np.any(w == 0):
        k = int(np.sum(w == 0))
        raise DataError(f"{k} weight(s) are 0; lmer needs positive weights (lme4's criterion is infinite then): "
                        "drop the rows with weight 0, which carry no information")
    # theta = 0 is ordinary least squares: its residual sum of squares says if the fixed part is exact
    pieces = core.pieces(np.zeros(core.layout.size))
    yc = y if frame.offset is None else y - frame.offset
    total = float(np.sum(yc * yc * (1.0 if w is None else w)))
    # relative to the response about the constant the core takes out of one far from 0 (1e12 + y: its
    # y'y is all constant), plus the response's own rounding (eps |y| a row), which no fit goes below
    floor = 1e-20 * getattr(core, "y_ss", total) + 100 * np.finfo(float).eps ** 2 * total
    if pieces is not None and pieces[2] <= floor or total == 0:
        raise DataError(f"the fixed effects reproduce the response {parsed.response!r} exactly (residual sum of "
                        "squares 0 to within rounding error), so no variance can be estimated; check that the "
                        "response is not one of the predictors or a function of them")


def _explain_start(terms) -> None:
    """The criterion is not finite at lme4's start (theta = 1 on the diagonal): name a random-effects
    column on a scale far from 1, the usual cause."""
    for t in terms:
        size = np.max(np.abs(t.z), axis=0)
        for c, a in zip(t.cnames, size):
            if a > 1e4 or 0 < a < 1e-4:
                raise DataError(f"the criterion is not finite at lme4's starting values: the random-effects term "
                                f"{t.term} has a column {c!r} of size {a:.3g}, far from the scale those values "
                                "assume; rescale it (e.g. scale() or other units)") from None


def lmer(formula: str, data, *, REML: bool = True, weights=None, offset=None, control=None,
         data_name: str | None = None, start=None) -> LmerResult:
    """Fit a linear mixed model with lme4's formula syntax, by REML (default) or ML.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (terms | group)"`` as lme4 writes it: ``(x | g)``, ``(x || g)``, ``(1 | a/b)``,
        ``(1 | a:b)``, ``offset()``, R's operators and the functions the closed evaluator allows.
        A random-effects term may name its covariance structure as glmmTMB and lme4 2.x do:
        ``us(x | g)`` (lme4's ``(x | g)``), ``diag()``, ``homdiag()``, ``cs()``, ``homcs()``,
        ``ar1(0 + f | g)`` and ``toep(0 + f | g)`` (over the ordered levels of a factor ``f``;
        see :mod:`mixedmodels.core.structures`).
    data : pandas.DataFrame, polars.DataFrame, dask.dataframe.DataFrame or str
        The rows. A Dask frame or a Parquet path (a file, directory or glob, read with
        ``dask.dataframe.read_parquet``) is fitted on the cluster, partition by partition, and gives
        a :class:`~mixedmodels.results.dask_lmer.DaskLmerResult` (see :mod:`mixedmodels.fit.dask_lmer`).
    REML : bool, default True
        REML (lme4's default) or maximum likelihood.
    weights, offset : array_like or str, optional
        One value per row of ``data``, or a column's name (a Dask fit takes names only).
    control : dict, optional
        Optimizer settings: ``optimizer`` ("bobyqa", "nelder_mead", "sbplx", "cobyla", "praxis",
        or "lbfgs": L-BFGS-B with the exact gradient of the criterion), ``ftol_abs``, ``xtol_abs``,
        ``xtol_rel``, ``maxeval``, ``boundary_tol``.
    data_name : str, optional
        The name the summary prints after "Data:" (default: ``data.attrs["name"]`` or "data").
    start : array_like or dict, optional
        Starting theta, a vector or ``{"theta": [...]}`` in lme4's order (``getME(m, "theta")``;
        a structured term's own parameters); default lme4's (1 on the diagonals, 0 below).

    Returns
    -------
    LmerResult
        The fit (frozen); ``print(m.summary())`` prints lmerTest's summary.

    Raises
    ------
    FormulaError, DataError, ArgumentError, FitError
        With what was wrong and what to do (:mod:`mixedmodels.errors`).

    Examples
    --------
    >>> import mixedmodels as mm
    >>> m = mm.lmer("Reaction ~ 1 + Days + (1 + Days | Subject)", mm.load_dataset("sleepstudy"))
    >>> round(m.reml_criterion, 1)
    1743.6
    >>> m.coef_table().loc["Days", ["Estimate", "df"]].round(3).tolist()
    [10.467, 17.0]
    """
    if is_dask_data(data):  # imports dask only now
        from .dask_lmer import lmer_dask

        return lmer_dask(formula, data, REML=REML, weights=weights, offset=offset, control=control,
                         data_name=data_name, start=start, optimize=_optimize)
    if not isinstance(REML, (bool, np.bool_)):
        raise ArgumentError(f"REML must be True or False, got {REML!r}")
    check_control(control)
    # one BLAS thread (mixedmodels.threads) for the passes over the rows, and for the optimization
    # while the (mz + p + 1)-square Schur block it factors at every evaluation is small
    with fit_threads() as threads:
        parsed, frame, fixed, terms, core = lmer_stages(formula, data, weights=weights, offset=offset)
        theta0 = check_start(start, terms, core.layout.lower())["theta"]
        if core.n <= core.p:
            raise ArgumentError(f"{core.n} observations cannot estimate {core.p} fixed effects and a residual "
                                "variance")
        _check_response(parsed, frame, fixed, core)
        name = data_name or getattr(data, "attrs", {}).get("name") or "data"
        threads.block(core.mz + core.p + 1)
        return _optimize(parsed.text, bool(REML), str(name), parsed, frame, fixed, terms, core, control,
                         theta0=theta0, weights_name=_weights_label(frame, weights))


def fit_core(m: LmerResult, REML: bool, y=None, control=None) -> LmerResult:
    """Refit a fitted model's design with another criterion or a new response (no formula, no data pass
    for the random-effects blocks)."""
    check_control(control)
    core, frame = m.core, m.frame
    if y is not None:
        from dataclasses import replace

        y = check_new_response(y, m.nobs)
        frame = replace(frame, y=y)
        core = LmmCore(m.terms, m.fixed.X, y, weights=frame.weights, offset=frame.offset)
    return _optimize(m.formula, REML, m.data_name, m.parsed, frame, m.fixed, m.terms, core, control,
                     warn=y is None, weights_name=m.weights_name)


_SNAP = 1e-3  # a relative standard deviation below this is tried at exactly 0


def _snap_to_boundary(res: LmerResult) -> LmerResult:
    """Set to 0 each theta that BOBYQA left just above its bound of 0, where that is no worse.

    lme4's check.boundary does this within 1e-5 of the bound; BOBYQA can stall further away on the
    way to a boundary optimum (0.0005 on nlme's Early with numpy 1.24, where R and numpy 2 reach 0),
    and a relative standard deviation of 0.001 is none for any practical purpose, so the point at the
    bound is taken whenever its criterion is not higher.
    """
    from dataclasses import replace

    theta = np.asarray(res.theta, dtype=float)
    lower = res.core.layout.lower()
    near = [j for j in range(theta.size) if lower[j] == 0 and 0 < theta[j] < _SNAP]
    if not near:
        return res
    best, value = theta, res.objective
    for j in near:
        trial = best.copy()
        trial[j] = 0.0
        f = float(res.core.objective(trial, res.reml))
        if f <= value:
            best, value = trial, f
    return res if best is theta else replace(res, theta=best)


def _structured_ends(res: LmerResult) -> LmerResult:
    """A correlation at its bound, or no residual variance, where a structure puts the optimum at
    infinity in theta (:func:`~mixedmodels.optim.structured.structured_ends`)."""
    from dataclasses import replace

    from ..optim.structured import structured_ends

    core, reml = res.core, res.reml
    if core.layout.unstructured:
        return res
    fun = (lambda th: core.objective(th, reml))
    theta, value = structured_ends(fun, res.theta, res.objective, core.layout)
    if theta is res.theta:
        return res
    # the other parameters' optimum moves with the bound reached: one more search from there
    try:
        with silenced():
            again, v2, _ = minimize_theta(fun, theta, core.layout.lower(), res.control)
        if v2 < value:
            theta, value = structured_ends(fun, np.asarray(again, dtype=float), v2, core.layout)
    except FitError:
        pass
    return replace(res, theta=theta)


_GAIN = 1e-4  # a criterion that the quadratic model promises to lower by less than this is left as it is


def _restart_if_unconverged(res: LmerResult) -> LmerResult:
    """Where BOBYQA reported convergence but lme4's gradient check fails, restart it once from where it
    stopped and keep the better point.

    BOBYQA's last trust regions can stall on a flat surface, and where it stalls is decided by
    rounding in the last bits of the criterion (another BLAS or numpy moves it: nlme's BodyWeight
    stopped 0.02 above R's criterion with numpy 1.24, 2e-5 below it with numpy 2). A fresh start with
    a new interpolation set walks on to the optimum; fits that pass the check (all of R's reference
    cases here) are left exactly as they are, and a fit stopped by ``maxeval`` is not restarted.

    Only where the quadratic model at the estimate promises a real gain: the Newton decrement
    ``g' H^-1 g / 2`` above :data:`_GAIN`. On large data lme4's check fails by a hair (1M rows:
    max|grad| 0.003 against 0.002, a promised gain of 5e-6 in a deviance of 3e6) and a restart
    only doubles the work.
    """
    from dataclasses import replace

    from ..optim.convergence import scaled_gradient

    info = res.optinfo
    if not info.converged or res.is_singular:
        return res
    conv = res.convergence
    if not conv.messages or conv.gradient is None:
        return res
    sg = scaled_gradient(conv.gradient, conv.hessian)
    if sg is not None and 0.5 * float(sg @ sg) < _GAIN:
        return res
    theta, value, again = minimize_theta(lambda th: res.core.objective(th, res.reml), res.theta,
                                         res.core.layout.lower(), res.control,
                                         what="the REML criterion" if res.reml else "the deviance",
                                         fun_and_grad=_with_gradient(res.core, res.reml))
    if not value < res.objective:
        return res
    info = replace(again, nevals=info.nevals + again.nevals)
    return replace(res, theta=theta, optimizer_report=info)  # a new result: no cached numbers of the first point


def _polish(res: LmerResult) -> LmerResult:
    """Newton steps (:func:`~mixedmodels.optim.polish.newton_polish`) from where BOBYQA stopped,
    where lme4's finite-difference gradient and Hessian at the estimate (computed for its
    convergence check in any case) promise a gain above :data:`~mixedmodels.optim.polish.MIN_GAIN`.

    The step uses the exact gradient (:mod:`mixedmodels.core.gradient`) with that Hessian, so one
    step from 1e-4 away lands within about 1e-8 of the optimum; the criterion must go down or the
    point is kept. Fits that end at the optimum already (every reference case here) are untouched
    and pay nothing; a fit stopped by ``maxeval`` is left where it stopped.
    """
    from dataclasses import replace

    from ..core.gradient import gradient
    from ..optim.convergence import deriv12
    from ..optim.polish import MIN_GAIN, newton_polish, newton_step

    if not res.optinfo.converged:
        return res
    core, reml, lower = res.core, res.reml, res.core.layout.lower()
    conv = res.convergence
    g, H = conv.gradient, conv.hessian
    if g is None or H is None:
        if not res.is_singular:
            return res
        # lme4 skips its derivative check at a singular fit, where BOBYQA most often stalls on the
        # way to the boundary (nlme's IGF (age|Lot): 3.8e-4 above the optimum in the REML criterion)
        g, H = deriv12(lambda th: float(core.objective(th, reml)), res.theta, fx=res.objective)
    H = np.asarray(H, dtype=float)
    step = newton_step(res.theta, g, H, lower)
    if step is None or not step[1] > MIN_GAIN:
        return res
    theta, value, _, _, steps = newton_polish(lambda th: float(core.objective(th, reml)),
                                              lambda th: (gradient(core, th, reml), H), res.theta,
                                              res.objective, gradient(core, res.theta, reml), H, lower)
    if not steps or not value < res.objective:
        return res
    return replace(res, theta=theta)  # a new result: the convergence report is of the new point


def _weights_label(frame, weights) -> str | None:
    """What the weights were called, for the summary's "Weights:" line (R deparses the argument)."""
    if frame.weights is None:
        return None
    from ..formula.deparse import weights_label

    return weights_label(weights)


_OTHER_OPTIMUM = 1e-4   # criterion units: two ends this far apart are different optima


def _second_start(res: LmerResult) -> LmerResult:
    """A fit with a common correlation (cs, homcs, ar1; toep's by lag) is run once more from the corner of a small
    residual variance (every sd 100 times its start, rho 0.95). With one observation per level of
    the structured factor the residual and the term's own variance are confounded there, and the
    criterion can have a second optimum with sigma near 0 (glmmTMB's default start stops at one on
    sleepstudy's ar1 model, 5.0 above the optimum, without a warning). The lower end is kept, and
    two different ends are warned about: the surface has several optima.
    """
    from dataclasses import replace

    layout, core, reml = res.core.layout, res.core, res.reml
    if not any(s.name in ("cs", "homcs", "ar1", "toep") for s in layout.structures):
        return res
    th0 = 100.0 * layout.default_start()
    for s, o in zip(layout.structures, layout.theta_offsets):
        if s.name in ("cs", "homcs", "ar1"):
            th0[o + s.size - 1] = s.r_of_rho(0.95)
        elif s.name == "toep":     # a lag-1 partial autocorrelation of 0.95
            th0[o + s.p] = 0.95 / np.sqrt(1 - 0.95 ** 2)
    what = "the REML criterion" if reml else "the deviance"
    try:
        with silenced():
            theta, value, info = minimize_theta(lambda th: core.objective(th, reml), th0, layout.lower(),
                                                res.control, what=what)
    except FitError:
        return res
    here = float(core.objective(res.theta, reml))
    if abs(value - here) <= _OTHER_OPTIMUM:
        return res
    lower, higher = (value, here) if value < here else (here, value)
    _warn(f"{what} has more than one local optimum: the fit from the default start ends at {here:.4f}, one "
          f"from a start with a small residual variance at {value:.4f}; the fit reports the lower one "
          f"({lower:.4f}; the other is {higher - lower:.4g} higher). Other starts (lmer(start=...)) may find "
          "more", MixedModelWarning, stacklevel=4)
    if value >= here:
        return res
    return _polish(_structured_ends(replace(res, theta=np.asarray(theta, dtype=float), optimizer_report=info)))


def _with_gradient(core, reml: bool):
    """The criterion and its exact gradient in theta (core/gradient.py), for control={'optimizer': 'lbfgs'}."""
    from ..core.gradient import objective_and_gradient

    return lambda th: objective_and_gradient(core, th, reml)


def _optimize(formula, REML, name, parsed, frame, fixed, terms, core, control, warn=True,
              theta0=None, weights_name=None) -> LmerResult:
    layout = core.layout
    x0 = layout.start() if theta0 is None else theta0

    def run():
        return minimize_theta(lambda th: core.objective(th, REML), x0, layout.lower(), control,
                              what="the REML criterion" if REML else "the deviance",
                              fun_and_grad=_with_gradient(core, REML))

    try:
        theta, _, info = run()
    except FitError as e:
        if "starting values" in str(e) and theta0 is None:
            _explain_start(terms)
        raise
    if core.factor(theta) is None and core.use_blocked():
        # the whole small system and the blocked factor the result reads disagreed, at the edge of
        # rounding, on whether this theta is positive definite: optimize on the blocked one alone
        theta, _, info = run()
    res = LmerResult(formula=formula, reml=REML, data_name=name, parsed=parsed, frame=frame,
                     fixed=fixed, terms=terms, core=core, theta=theta, optimizer_report=info, control=control,
                     weights_name=weights_name, fitter=fit_core)
    if warn:
        res = _polish(_restart_if_unconverged(_structured_ends(_snap_to_boundary(res))))
        if theta0 is None:
            res = _second_start(res)
    if warn and res.is_singular:
        _warn("boundary (singular) fit: see help('isSingular') -- a variance is (nearly) zero or a "
              "correlation is +-1; consider simplifying the random-effects terms", SingularFitWarning,
              stacklevel=3)  # the user's lmer() call
    if warn:
        # lme4's checkConv (gradient and Hessian at the estimate), warned as lme4 warns; refits to
        # new responses (warn=False: simulation, bootstrap) compute it only if asked (summary, check)
        from ..optim.convergence import check_lmer_fit

        check_lmer_fit(res, stacklevel=3)
    return res
