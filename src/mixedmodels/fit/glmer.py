r"""glmer() and glmer_nb(): generalized linear mixed models fitted as lme4 fits them.

The stages (lme4's ``glFormula`` -> ``mkGlmerDevfun`` -> ``optimizeGlmer`` -> ``mkMerMod``):

1. the formula, model frame, ``X`` and the random-effects terms (shared with ``lmer``); the family
   checks and transforms the response (``cbind(successes, failures)`` becomes proportions with the
   trials as weights) and gives R's starting means ``mustart``;
2. PIRLS over ``(beta, u)`` from ``eta = offset + g(mustart)`` at lme4's starting theta;
3. stage 1 (lme4's ``nAGQ0initStep``): BOBYQA over theta of the nAGQ = 0 deviance, PIRLS over
   ``(beta, u)`` from the linear predictor of step 2 at every evaluation; for ``nAGQ = 0`` this is
   the fit;
4. stage 2 (``nAGQ >= 1``): lme4's own Nelder-Mead over ``(theta, beta)`` from the stage-1
   estimates, initial steps 0.02 for theta and 0.2 x the stage-1 standard errors for beta (capped
   at 10 as lme4, in the units of :func:`column_scales`), with
   PIRLS over ``u`` from the stage-1 linear predictor: the Laplace approximation, or adaptive
   Gauss-Hermite quadrature for ``nAGQ > 1`` (one scalar random-effects term only, as lme4);
   then lme4's check of theta near its bound (``boundary.tol`` 1e-5);
5. the covariance of the fixed effects from the finite-difference Hessian (lme4's ``deriv12``)
   of the stage-2 deviance over ``(theta, beta)``, the convergence checks on its gradient and
   eigenvalues, and the result object. lme4 steps 1e-4 in every parameter, which for a predictor in
   tiny or huge units is lost in rounding or spans many standard errors; here the step of a fixed
   effect is 1e-4 in the units of :func:`column_scales` (lme4's for predictors with sd from 0.1
   to 100: :func:`scaled_deriv12`), so the standard errors do not depend on a predictor's units.

The deviance functions are lme4's to the last detail that changes numbers: PIRLS stops when the
penalized deviance changes by less than 1e-7 relatively and the log-determinant is the one of its
last step (see :mod:`mixedmodels.glmm.pirls`). That detail is why the Hessian, hence the standard errors,
agree with lme4's to four or more digits; with the same function and the same Nelder-Mead, the
estimates agree with R's to many digits whenever the Nelder-Mead path is not long and chaotic.

``logLik`` is minus half the final deviance (whose constants come from the family's ``aic``),
``deviance`` the sum of squared deviance residuals, as lme4. ``glmer_nb`` is lme4's ``glmer.nb``:
a Poisson fit, MASS's ``theta.ml`` on its fitted means, a negative binomial fit at that theta, then
R's ``optimize`` over log(theta), each evaluation refitting the previous fit (lme4's ``refit``).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special, stats

from ..results.criteria import InformationCriteria
from ..glmm import families as _families
from ..results import random_effects
from ..core.lmm import LmmCore
from ..design.model import evaluate_numeric, fixed_design, model_frame, random_terms, warn_fixed_design
from ..arguments import check_level
from ..errors import (ArgumentError, ConvergenceWarning, DataError, FamilyError, FitError, MixedModelWarning,
                     warn as _warn, silenced, collected)
from ..formula.parse import parse_formula
from ..optim.bobyqa import bobyqa as powell_bobyqa
# lme4's checkConv and deriv12 live in convergence.py, shared with lmer (deriv12 stays importable here)
from ..optim.convergence import conv_messages, deriv12, warn_messages
from ..optim.nlopt import (DEFAULT_CONTROL, OPTIMIZERS, OptInfo, check_maxeval, check_setting_number, check_start,
                       minimize_theta, unknown_settings_error)
from ..glmm.pirls import GlmmModel, PirlsError, PirlsResult, gh_rule

__all__ = ["glmer", "glmer_nb", "GlmerResult", "deriv12", "theta_ml"]

_OPT_KEYS = set(DEFAULT_CONTROL) | {"optimizer", "ftol_abs", "xtol_abs", "maxeval", "boundary_tol"}
# stage 1: Powell's BOBYQA as minqa runs it; stage 2: lme4's Nelder-Mead (glmerControl's default pair)
_GLMM_KEYS = {"tol_pirls", "maxit_pirls", "calc_derivs", "nAGQ0initStep", "check_conv_grad"}


# ============================================================================================ setup

@dataclass
class _Setup:
    """Everything about the data that does not depend on the family's parameters."""

    formula: str
    parsed: object
    frame: object
    fixed: object
    terms: list
    y_raw: np.ndarray            # response as given (2 columns for cbind)
    prior_weights: np.ndarray | None
    offset: np.ndarray | None
    weights_name: str | None
    data_name: str
    response_kind: str           # "numeric", "cbind", "factor", "logical"
    fast: str | None = None      # the PIRLS solver chosen for this design (GlmmModel.fast), once known


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _response(parsed, frame, family) -> tuple[np.ndarray, str]:
    """The response as a float vector (or two columns for cbind), checked against the family."""
    expr = parsed.response.strip()
    data = frame.data
    is_binom = isinstance(family, _families.Binomial)
    if expr.startswith("cbind(") and expr.endswith(")"):
        args = _split_args(expr[len("cbind("):-1])
        if len(args) != 2:
            raise FamilyError(f"cbind() in the response needs two columns (successes, failures), got {len(args)}: "
                              f"{expr!r}")
        if not is_binom:
            raise FamilyError(f"a cbind(successes, failures) response is for the binomial family, not {family.name}")
        cols = [_evaluate_arith(a, data) for a in args]
        return np.column_stack(cols), "cbind"
    name = expr.strip("`")
    if name in data.columns:
        col = data[name]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col):
            if not is_binom:
                raise FamilyError(f"the response {name!r} is {_kind(col)}, but the {family.name} family needs "
                                  "a numeric response")
            if isinstance(col.dtype, pd.CategoricalDtype):
                levels = [c for c in col.cat.categories]
                codes = col.cat.codes.to_numpy()
                used = sorted(set(codes[codes >= 0].tolist()))
            else:
                levels = sorted(pd.unique(col.dropna()).tolist(), key=str)
                codes = col.map({v: i for i, v in enumerate(levels)}).to_numpy()
                used = list(range(len(levels)))
            if len(levels) > 2:
                raise FamilyError(f"the binomial response {name!r} is a factor with {len(levels)} levels "
                                  f"({', '.join(map(str, levels[:6]))}); it needs two levels (the first is "
                                  "'failure', the other 'success'). Recode it, e.g. as (y == 'level') > 0 in a "
                                  "new 0/1 column")
            if len(used) < 1:
                raise FamilyError(f"the binomial response {name!r} has no observed values")
            return (np.asarray(codes) != 0).astype(float), "factor"
        if pd.api.types.is_bool_dtype(col):
            return col.astype(float).to_numpy(), "logical"
    y = _evaluate_arith(expr, data)
    return y, "numeric"


def _evaluate_arith(expr: str, data) -> np.ndarray:
    """A numeric expression such as ``size - incidence`` (wrapped in I() so that formulaic reads
    '-' and '+' as arithmetic, not as removing or adding terms)."""
    e = expr.strip()
    if e.strip("`") in data.columns or e.startswith("I("):
        return evaluate_numeric(e, data, "the response")
    return evaluate_numeric(f"I({e})", data, "the response")


def _kind(col: pd.Series) -> str:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return f"a factor with levels {list(col.cat.categories)[:5]}"
    return f"of type {col.dtype}"


def _check_glmer_terms(terms, n: int) -> None:
    """lme4's checks for glmer (allow.n = TRUE: a factor may have as many levels as observations)."""
    one = [t.group for t in terms if t.nlev < 2]
    if one:
        raise DataError(f"grouping factors must have > 1 sampled level (problems: {', '.join(one)}); "
                        "a random effect needs several groups to estimate a variance")
    many = sorted({t.group for t in terms if t.nlev > n})
    if many:
        raise DataError("number of levels of each grouping factor must be <= number of observations "
                        f"(problems: {', '.join(many)})")
    for t in terms:
        if t.q > n:
            raise DataError(f"number of observations (={n}) < number of random effects (={t.q}) for term "
                            f"{t.term}; the random-effects parameters are probably unidentifiable: simplify "
                            "the random-effects term")


def _frame_formula(parsed):
    """The formula as model_frame sees it: a cbind(a, b) response becomes (a) + (b), which names the
    same variables (for na.omit) without a call model_frame does not know."""
    from dataclasses import replace

    expr = parsed.response.strip()
    if expr.startswith("cbind(") and expr.endswith(")"):
        args = _split_args(expr[len("cbind("):-1])
        return replace(parsed, response=" + ".join(f"({a})" for a in args))
    return parsed


def _prepare(formula, data, family, weights, offset, data_name) -> _Setup:
    parsed = parse_formula(formula)
    from ..report.format import weights_label

    weights_name = weights_label(weights)  # the summary's "Weights:" line (a column, a Series' name, <array>)
    if isinstance(weights, str):
        if not hasattr(data, "columns") or weights not in data.columns:
            raise DataError(f"weights={weights!r} is not a column of the data")
        weights_name = weights
        weights = np.asarray(data[weights], dtype=float)
    if isinstance(offset, str):
        if not hasattr(data, "columns") or offset not in data.columns:
            raise DataError(f"offset={offset!r} is not a column of the data")
        offset = np.asarray(data[offset], dtype=float)
    frame = model_frame(_frame_formula(parsed), data, weights=weights, offset=offset, response_numeric=False)
    y_raw, kind = _response(parsed, frame, family)
    fixed = fixed_design(parsed, frame)
    terms = random_terms(parsed, frame)
    n = len(frame.data)
    _check_glmer_terms(terms, n)
    warn_fixed_design(fixed, stacklevel=4)
    name = data_name or getattr(data, "attrs", {}).get("name") or "data"
    return _Setup(parsed.text, parsed, frame, fixed, terms, y_raw, frame.weights, frame.offset, weights_name,
                  str(name), kind)


def _family_model(setup: _Setup, family, control) -> tuple[GlmmModel, np.ndarray]:
    """The family's view of the response and the PIRLS workspace; returns (model, mustart)."""
    y, ntrials, w, mustart = family.initialize(setup.y_raw, setup.prior_weights)
    if w is None:
        w = np.ones(len(y))
    if len(y) and np.all(y == y[0]):
        raise DataError(f"the response is constant (every value is {y[0]:g}); a model needs variation in the "
                        "response")
    ctl = control or {}
    model = _SetupModel(family, setup.terms, setup.fixed.X, y, ntrials, w, setup.offset,
                        tol=float(ctl.get("tol_pirls", 1e-7)), maxit=int(ctl.get("maxit_pirls", 100)),
                        fast=setup.fast)
    model.setup = setup
    return model, mustart


class _SetupModel(GlmmModel):
    """A GlmmModel that records its PIRLS solver on the setup, so refits (glmer_nb) skip the check."""

    setup = None

    def make_core(self, w, z, with_x: bool):
        c = super().make_core(w, z, with_x)
        if self.setup is not None and self.setup.fast is None:
            self.setup.fast = self.fast
        return c


# ============================================================================================ fitting

@dataclass
class _Fit:
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


# Predictors whose sd is in this range keep lme4's step of 1e-4 in their coefficient (lme4's numbers);
# others are stepped as if rescaled to the nearest end: below sd 0.1 a step of 1e-4 is lost in the
# rounding of the deviance (the standard errors of a predictor in 1e-4 units came out 3x too small),
# above sd 100 it spans many standard errors.
_SD_RANGE = (0.1, 100.0)


def column_scales(X: np.ndarray) -> np.ndarray:
    """Units of the fixed effects for finite differences and Nelder-Mead steps.

    Parameters
    ----------
    X : numpy.ndarray
        The fixed-effects model matrix.

    Returns
    -------
    numpy.ndarray
        One positive scale per column: 1 for columns of 0s and 1s (the intercept and dummies) and
        for columns with sd in ``_SD_RANGE`` (lme4's steps), else ``clip(sd) / sd`` (max|x| for
        another constant column). Outside the range a coefficient and its scale change alike with
        the predictor's units, so steps proportional to the scales do not depend on the units.
    """
    X = np.asarray(X, dtype=float)
    out = np.ones(X.shape[1])
    lo, hi = _SD_RANGE
    for j in range(X.shape[1]):
        x = X[:, j]
        if np.all((x == 0) | (x == 1)):
            continue
        sd = float(np.std(x))
        big = float(np.max(np.abs(x)))
        size = sd if sd > 1e-10 * big else big
        if size > 0:
            out[j] = min(max(size, lo), hi) / size
    return out


def scaled_deriv12(fun, x, scale, delta: float = 1e-4, fx: float | None = None):
    """:func:`deriv12` with the step of coordinate j equal to ``delta * scale[j]``.

    Differentiates ``z -> fun(x + scale * z)`` at z = 0 and transforms back, so that the result does
    not depend on the units of x when ``scale`` changes with them (a step of 1e-4 in a coefficient
    whose standard error is 1e4 is lost in the rounding of the deviance).

    Returns
    -------
    (gradient, hessian) : tuple of numpy.ndarray
        In the units of x: ``g_j = g_z,j / scale_j`` and ``H_ij = H_z,ij / (scale_i scale_j)``.
    """
    x = np.asarray(x, dtype=float)
    s = np.asarray(scale, dtype=float)
    gz, Hz = deriv12(lambda z: fun(x + s * z), np.zeros_like(x), delta, fx)
    return gz / s, Hz / np.outer(s, s)


def _derivatives(s2: "_Stage2", pars, model: GlmmModel):
    """Gradient and Hessian of the stage-2 deviance at pars, in lme4's units, and the scales of
    their steps (1 for theta, :func:`column_scales` for beta): lme4's step 1e-4 per parameter, in
    those units (the same steps as lme4 for well-scaled predictors)."""
    scale = np.concatenate([np.ones(model.layout.size), column_scales(model.X)])
    g, H = scaled_deriv12(s2, pars, scale, 1e-4, s2(pars))
    return g, H, scale


def _split_control(control):
    """glmer's control, checked, as (optimizer settings, glmer settings)."""
    if control is None:
        return {}, {}
    if not isinstance(control, dict):
        raise ArgumentError(f"control must be a dict such as {{'maxeval': 20000}}, got {type(control).__name__}")
    unknown = set(control) - _OPT_KEYS - _GLMM_KEYS
    if unknown:
        raise unknown_settings_error(unknown, _OPT_KEYS | _GLMM_KEYS)
    for key, value in control.items():
        _check_glmer_setting(key, value)
    return ({k: v for k, v in control.items() if k in _OPT_KEYS},
            {k: v for k, v in control.items() if k in _GLMM_KEYS})


def _check_glmer_setting(key: str, value) -> None:
    """One glmer control setting, or an ArgumentError saying what it must be."""
    if key == "optimizer":
        _optimizers({"optimizer": value})
    elif key == "maxeval":
        check_maxeval(value)
    elif key == "maxit_pirls":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ArgumentError(f"control['maxit_pirls'] must be a whole number >= 1 (PIRLS iterations; default "
                                f"100), got {value!r}")
    elif key in ("calc_derivs", "nAGQ0initStep"):
        if not isinstance(value, (bool, np.bool_)):
            raise ArgumentError(f"control[{key!r}] must be True or False, got {value!r}")
    elif key in ("tol_pirls", "check_conv_grad"):
        # PIRLS stops when the relative change is below tol_pirls: 0 would never stop
        check_setting_number(key, value, positive=True)
    else:
        check_setting_number(key, value)


class _Stage1:
    """Deviance over theta with PIRLS over (beta, u) (lme4's nAGQ = 0 devfun): every evaluation
    starts from the same linear predictor, as lme4's ``resp$updateMu(lp0)``."""

    def __init__(self, model: GlmmModel, eta0: np.ndarray):
        self.model = model
        self.eta0 = eta0

    def pirls(self, theta) -> PirlsResult:
        return self.model.pirls(theta, eta_start=self.eta0)

    def __call__(self, theta) -> float:
        try:
            r = self.pirls(theta)
        except PirlsError:
            return math.inf
        v = self.model.laplace(r)
        return v if math.isfinite(v) else math.inf


class _Stage2:
    """Deviance over (theta, beta) with PIRLS over u: Laplace or AGQ (lme4's stage-2 devfun),
    each evaluation from the stage-1 linear predictor."""

    def __init__(self, model: GlmmModel, nagq: int, eta0: np.ndarray):
        self.model = model
        self.nagq = nagq
        self.rule = gh_rule(nagq) if nagq > 1 else None
        self.nth = model.layout.size
        self.eta0 = eta0

    def pirls(self, pars) -> PirlsResult:
        pars = np.asarray(pars, dtype=float)
        return self.model.pirls(pars[: self.nth], beta=pars[self.nth:], eta_start=self.eta0)

    def value(self, r: PirlsResult) -> float:
        if self.rule is not None:
            return self.model.agq(r, self.rule)
        return self.model.laplace(r)

    def __call__(self, pars) -> float:
        try:
            r = self.pirls(pars)
        except PirlsError:
            return math.inf
        v = self.value(r)
        return v if math.isfinite(v) else math.inf


def _optimizers(opt_ctl) -> tuple[str, str]:
    """Optimizers of stage 1 and stage 2: lme4's glmerControl(optimizer = c("bobyqa", "Nelder_Mead"));
    one name applies to both stages."""
    o = opt_ctl.get("optimizer", ("bobyqa", "nelder_mead"))
    if isinstance(o, str):
        o = (o, o)
    if not isinstance(o, (tuple, list)) or len(o) != 2 or not all(isinstance(x, str) for x in o):
        raise ArgumentError(f"control['optimizer'] must be a name or a pair of names (stage 1, stage 2) such as "
                            f"('bobyqa', 'nelder_mead'), got {o!r}")
    o = tuple(x.lower().replace("-", "_") for x in o)
    bad = [x for x in o if x not in OPTIMIZERS]
    if bad:
        raise ArgumentError(f"unknown optimizer {bad[0]!r}; choose one of {', '.join(map(repr, OPTIMIZERS))}")
    return o[0], o[1]


def _record(call, warned):
    """Run call() keeping the package's ConvergenceWarnings (re-issued after the fit, once); its
    other warnings are issued at once."""
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


def _fit(model: GlmmModel, mustart, nagq: int, control, start=None) -> _Fit:
    opt_ctl, glmm_ctl = _split_control(control)
    opt1, opt2 = _optimizers(opt_ctl)
    base_ctl = {k: v for k, v in opt_ctl.items() if k != "optimizer"}
    bt = float(base_ctl.get("boundary_tol", 1e-5))
    layout = model.layout
    fam = model.family
    theta0 = layout.start() if start is None or start.get("theta") is None else \
        np.asarray(start["theta"], dtype=float)
    with np.errstate(all="ignore"):
        eta_start = model.offset + fam.linkfun(mustart)
    if not np.all(np.isfinite(eta_start)):
        raise FitError(f"cannot find valid starting values for the {fam.name} family with the {fam.link} link")
    try:
        r0 = model.pirls(theta0, eta_start=eta_start)
    except PirlsError as e:
        raise FitError(f"the initial PIRLS fit failed: {e}; check the response and the predictors "
                       "(e.g. complete separation for a binomial response)") from None
    init_step = bool(glmm_ctl.get("nAGQ0initStep", True))
    warned: list = []
    nth = layout.size
    # ---- stage 1: deviance over theta, PIRLS over (beta, u) (lme4's nAGQ = 0 devfun)
    if init_step or nagq == 0:
        s1 = _Stage1(model, r0.eta)
        if opt1 == "bobyqa":
            theta1, val1, info1 = _record(lambda: _minqa_bobyqa(s1, theta0, layout.lower(),
                                                                int(base_ctl.get("maxeval", 10000))), warned)
            if nagq == 0 and bt > 0:
                theta1, val1 = _check_boundary(s1, theta1, val1, layout.lower(), nth, bt)
        else:
            ctl1 = {"ftol_abs": 1e-12, "xtol_abs": 1e-10}
            ctl1.update(base_ctl)
            ctl1["optimizer"] = opt1
            ctl1["boundary_tol"] = bt if nagq == 0 else 0.0
            theta1, val1, info1 = _record(lambda: minimize_theta(s1, theta0, layout.lower(), ctl1,
                                                                 what="the deviance (nAGQ = 0 stage)"), warned)
        r1 = s1.pirls(theta1)
        val1 = model.laplace(r1)
    else:
        theta1, r1, val1 = theta0, r0, model.laplace(r0)
        info1 = OptInfo("none", 0, 0, "skipped", True)
    theta1 = np.asarray(theta1, dtype=float)
    if nagq == 0:
        return _Fit(theta1, r1.beta, float(val1), r1, info1, None, None, [], warned)
    # ---- stage 2: (theta, beta), PIRLS over u, from the stage-1 linear predictor
    p = model.p
    beta1 = r1.beta.copy()
    if start is not None and start.get("beta") is not None:
        beta1 = np.asarray(start["beta"], dtype=float)
    # standard errors of beta from stage 1 (lme4: sqrt(diag(pp$unsc()))), for the initial steps
    se1 = np.ones(p)
    if p:
        rx = r1.core.rx_inverse(r1.f)
        se1 = np.sqrt(np.maximum(np.diag(rx), 0.0))
        se1 = np.where(np.isfinite(se1) & (se1 > 0), se1, 1.0)
    s2 = _Stage2(model, nagq, r1.eta)
    x0 = np.concatenate([theta1, beta1])
    lower = np.concatenate([layout.lower(), np.full(p, -np.inf)])
    maxfun = int(base_ctl.get("maxeval", 10000))
    if opt2 == "nelder_mead":
        xst = 0.2 * np.concatenate([np.full(nth, 0.1), np.minimum(se1, 10.0 * column_scales(model.X))])
        pars, val, info = _record(lambda: _nelder_mead(s2, x0, lower, xst, xst * 5e-4, maxfun=maxfun), warned)
    else:
        def scaled(x):
            x = np.asarray(x, dtype=float)
            return s2(np.concatenate([x[:nth], beta1 + se1 * x[nth:]]))

        z0 = np.concatenate([theta1, np.zeros(p)])
        ctl2 = dict(base_ctl)
        ctl2["optimizer"] = opt2
        ctl2["boundary_tol"] = 0.0
        z, val, info = _record(lambda: minimize_theta(scaled, z0, lower, ctl2, what="the deviance (Laplace)"
                                                      if nagq == 1 else f"the deviance (nAGQ = {nagq})"), warned)
        pars = np.concatenate([z[:nth], beta1 + se1 * z[nth:]])
    # the finite-difference Hessian and gradient over (theta, beta) at the optimizer's result (lme4's deriv12)
    g = H = scale = None
    if bool(glmm_ctl.get("calc_derivs", True)):
        g, H, scale = _derivatives(s2, pars, model)
    if bt > 0:
        pars, val = _check_boundary(s2, pars, s2(pars), lower, nth, bt)
    r = s2.pirls(pars)
    val = s2.value(r)
    return _Fit(pars[:nth].copy(), pars[nth:].copy(), float(val), r, info, H, g, [], warned, lp0=r1.eta,
                hessian_scale=scale)


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


class NelderMead:
    """lme4's Nelder-Mead simplex (its C++ ``Nelder_Mead``, after NLopt's nldrmd): bounds by
    pinning, stopping when every coordinate of the simplex is within ``xt`` of the centroid
    (or after ``maxfun`` evaluations). glmer's stage 2 uses it with lme4's initial steps, so that
    with lme4's deviance function the iterates are lme4's.
    """

    ALPHA, BETA, GAMMA, DELTA = 1.0, 0.5, 2.0, 0.5

    def __init__(self, lower, upper, xstep, x0, xt, maxfun: int = 10000, xtol_rel: float = 1e-7):
        self.lb = np.asarray(lower, dtype=float)
        self.ub = np.asarray(upper, dtype=float)
        self.xt = np.asarray(xt, dtype=float)
        self.xtol_rel = xtol_rel
        self.maxfun = maxfun
        x0 = np.asarray(x0, dtype=float)
        xstep = np.asarray(xstep, dtype=float)
        n = self.n = x0.size
        if np.any(x0 < self.lb) or np.any(x0 > self.ub):
            raise FitError("Nelder-Mead: initial x is not a feasible point")
        pts = np.repeat(x0[:, None], n + 1, axis=1)
        for i in range(n):
            j = i + 1
            pts[i, j] += xstep[i]
            if pts[i, j] > self.ub[i]:
                pts[i, j] = self.ub[i] if self.ub[i] - x0[i] > abs(xstep[i]) * 0.1 else x0[i] - abs(xstep[i])
            if pts[i, j] < self.lb[i]:
                if x0[i] - self.lb[i] > abs(xstep[i]) * 0.1:
                    pts[i, j] = self.lb[i]
                else:
                    pts[i, j] = x0[i] + abs(xstep[i])
                    if pts[i, j] > self.ub[i]:
                        pts[i, j] = 0.5 * ((self.ub[i] if self.ub[i] - x0[i] > x0[i] - self.lb[i] else self.lb[i])
                                           + x0[i])
            if self._close(pts[i, j], x0[i]):
                raise FitError("Nelder-Mead: cannot generate a feasible simplex")
        self.pts = pts
        self.vals = np.full(n + 1, np.finfo(float).tiny)
        self.x = x0.copy()
        self.xeval = x0.copy()
        self.xcur = x0.copy()
        self.minf = math.inf
        self.stage = "restart"
        self.init_pos = 0
        self.nevals = 0
        self.f_old = math.nan

    @staticmethod
    def _close(a, b) -> bool:
        return abs(a - b) <= 1e-13 * (abs(a) + abs(b))

    def _reflect(self, c, scale, xold):
        xnew = c + scale * (c - xold)
        xnew = np.minimum(np.maximum(xnew, self.lb), self.ub)
        equalc = all(self._close(a, b) for a, b in zip(xnew, c))
        equalold = all(self._close(a, b) for a, b in zip(xnew, xold))
        return xnew, not (equalc or equalold)

    def _xconverged(self, dev) -> bool:
        for i in range(self.n):
            vold = dev[i]
            if math.isinf(vold):
                return False
            d = abs(0.0 - vold)
            if not (d < self.xt[i] or d < self.xtol_rel * abs(vold) * 0.5 or (self.xtol_rel > 0 and vold == 0.0)):
                return False
        return True

    def newf(self, f: float) -> str:
        """Give the value at ``xeval``; returns "active", "xcvg" or "evals"."""
        self.nevals += 1
        if f < self.minf:
            self.minf = f
            self.x = self.xeval.copy()
        if self.nevals > self.maxfun:
            return "evals"
        if self.init_pos <= self.n:
            return self._init(f)
        return getattr(self, "_" + self.stage)(f)

    def _init(self, f):
        self.vals[self.init_pos] = f
        self.init_pos += 1
        if self.init_pos > self.n:
            return self._restart(f)
        self.xeval = self.pts[:, self.init_pos].copy()
        return "active"

    def _restart(self, f):
        self.il = int(np.argmin(self.vals))
        self.ih = int(np.argmax(self.vals))
        self.fl = float(self.vals[self.il])
        self.fh = float(self.vals[self.ih])
        self.c = (self.pts.sum(axis=1) - self.pts[:, self.ih]) / self.n
        dev = np.max(np.abs(self.pts - self.c[:, None]), axis=1)
        if self._xconverged(dev):
            return "xcvg"
        xnew, ok = self._reflect(self.c, self.ALPHA, self.pts[:, self.ih])
        self.xcur = xnew
        if not ok:
            return "xcvg"
        self.xeval = xnew.copy()
        self.stage = "postreflect"
        return "active"

    def _postreflect(self, f):
        if f < self.fl:
            xnew, ok = self._reflect(self.c, self.GAMMA, self.pts[:, self.ih])
            self.xeval = xnew
            if not ok:
                return "xcvg"
            self.stage = "postexpand"
            self.f_old = f
            return "active"
        if f < self.fh:
            self.vals[self.ih] = f
            self.pts[:, self.ih] = self.xeval
            return self._restart(f)
        xnew, ok = self._reflect(self.c, -self.BETA if self.fh <= f else self.BETA, self.pts[:, self.ih])
        self.xcur = xnew
        if not ok:
            return "xcvg"
        self.f_old = f
        self.xeval = xnew.copy()
        self.stage = "postcontract"
        return "active"

    def _postexpand(self, f):
        if f < self.vals[self.ih]:
            self.pts[:, self.ih] = self.xeval
            self.vals[self.ih] = f
        else:
            self.pts[:, self.ih] = self.xcur
            self.vals[self.ih] = self.f_old
        return self._restart(f)

    def _postcontract(self, f):
        if f < self.f_old and f < self.fh:
            self.pts[:, self.ih] = self.xeval
            self.vals[self.ih] = f
            return self._restart(f)
        for i in range(self.n + 1):
            if i != self.il:
                xnew, ok = self._reflect(self.pts[:, self.il], -self.DELTA, self.pts[:, i])
                self.xeval = xnew
                if not ok:
                    return "xcvg"
                self.pts[:, i] = xnew
        self.init_pos = 0
        self.xeval = self.pts[:, 0].copy()
        return "active"

    def run(self, fun):
        while True:
            status = self.newf(float(fun(self.xeval)))
            if status != "active":
                return self.x.copy(), self.minf, status


def _nelder_mead(fun, x0, lower, xst, xt, maxfun=10000):
    nm = NelderMead(lower, np.full(len(x0), np.inf), xst, x0, xt, maxfun=maxfun)
    x, fx, status = nm.run(lambda v: fun(v))
    conv = status == "xcvg"
    info = OptInfo("Nelder_Mead", nm.nevals, 0 if conv else 4,
                   "parameter values converged to within tolerance" if conv else
                   f"failure to converge in {maxfun} evaluations", conv)
    if not conv:
        _warn(f"Nelder-Mead: failure to converge in {maxfun} evaluations; try "
              "control={'maxeval': ...} larger", ConvergenceWarning, stacklevel=4)
    return x, fx, info


# ============================================================================================ public API

def glmer(formula: str, data, *, family="binomial", nAGQ: int = 1, weights=None, offset=None, control=None,
          data_name: str | None = None, start=None):
    """Fit a generalized linear mixed model with lme4's formula syntax, as lme4's ``glmer``.

    ``family``: a name ("binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian") or a
    family object with a link, e.g. ``mm.families.Binomial(link="probit")``. A binomial response
    is 0/1, logical, a two-level factor (first level = failure), ``cbind(successes, failures)`` or
    a proportion with the numbers of trials as ``weights``. ``weights`` and ``offset`` are arrays
    (one value per row of ``data``) or column names; ``offset(...)`` terms in the formula add up
    with ``offset``. ``nAGQ``: 1 = Laplace (default), 0 = the faster approximation that estimates
    the fixed effects inside PIRLS, > 1 = adaptive Gauss-Hermite quadrature with that many points
    (one scalar random-effects term only). ``control``: ``optimizer`` (a name, or a pair for the two
    stages; default ``("bobyqa", "nelder_mead")`` as lme4's glmerControl), ``ftol_abs``,
    ``xtol_abs``, ``maxeval``, ``boundary_tol`` (1e-5), ``tol_pirls`` (1e-7), ``maxit_pirls``
    (100), ``calc_derivs`` (default True: ``vcov`` from the finite-difference Hessian, as lme4),
    ``nAGQ0initStep`` (default True), ``check_conv_grad`` (0.002); a bad setting or an unknown
    name raises :class:`~mixedmodels.errors.ArgumentError`. ``start``: ``{"theta": ..., "beta": ...}``
    (lme4's ``fixef`` for ``beta`` too) or a theta vector, in lme4's order.

    Returns a :class:`GlmerResult`. Warns :class:`~mixedmodels.errors.SingularFitWarning` and
    :class:`~mixedmodels.errors.ConvergenceWarning` where lme4 reports a singular fit or a failed
    convergence check.
    """
    fam = _families.get_family(family)
    nagq = _check_nagq(nAGQ)
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
    _split_control(control)
    setup = _prepare(formula, data, fam, weights, offset, data_name)
    _check_agq_terms(nagq, setup.terms)
    return _fit_setup(setup, fam, nagq, control, start)


def _check_nagq(nAGQ) -> int:
    """nAGQ as lme4 takes it: a whole number from 0 to 25 (a number, not a string)."""
    ok = (isinstance(nAGQ, numbers.Real) and not isinstance(nAGQ, (bool, np.bool_)) and math.isfinite(nAGQ)
          and float(nAGQ).is_integer() and 0 <= nAGQ <= 25)
    if not ok:
        raise ArgumentError(f"nAGQ must be a whole number from 0 to 25 (0: the fast approximation, 1: Laplace, "
                            f"2 to 25: that many adaptive Gauss-Hermite points), got {type(nAGQ).__name__} {nAGQ!r}")
    return int(nAGQ)


def _check_agq_terms(nagq: int, terms) -> None:
    """lme4's rule: quadrature (nAGQ > 1) integrates one scalar random effect per group."""
    if nagq > 1 and (len(terms) != 1 or terms[0].p != 1):
        what = (f"{len(terms)} random-effects terms" if len(terms) != 1
                else f"the vector-valued term {terms[0].term}")
        raise ArgumentError(f"nAGQ > 1 is only available for models with a single, scalar random-effects term "
                            f"such as (1 | g); this model has {what}: use nAGQ=1 (Laplace) or nAGQ=0")


def _fit_setup(setup: _Setup, fam, nagq: int, control, start=None, warn: bool = True) -> "GlmerResult":
    model, mustart = _family_model(setup, fam, control)
    if model.n <= model.p:
        raise ArgumentError(f"{model.n} observations cannot estimate {model.p} fixed effects")
    start = check_start(start, setup.terms, model.layout.lower(), model.p)
    fit = _fit(model, mustart, nagq, control, start)
    return _result(setup, fam, nagq, control, model, fit, warn)


def _result(setup: _Setup, fam, nagq: int, control, model: GlmmModel, fit: _Fit, warn: bool,
            stacklevel: int = 5) -> "GlmerResult":
    res = GlmerResult(formula=setup.formula, family=fam, nagq=nagq, data_name=setup.data_name, parsed=setup.parsed,
                      frame=setup.frame, fixed=setup.fixed, terms=setup.terms, model=model, theta=fit.theta,
                      beta=fit.beta, objective=fit.objective, pirls=fit.pirls, optinfo=fit.optinfo,
                      hessian=fit.hessian, gradient=fit.gradient, control=control, weights_name=setup.weights_name,
                      setup=setup, lp0=fit.lp0, hessian_scale=fit.hessian_scale)
    msgs = res._check_convergence(warn=warn, stacklevel=stacklevel)
    if warn:
        for w in fit.warned:
            _warn(str(w), type(w), stacklevel=stacklevel - 1)
    object.__setattr__(res, "messages", msgs)
    return res


# ============================================================================================ negative binomial

def theta_ml(y, mu, weights=None, limit: int = 10, eps: float = np.finfo(float).eps ** 0.25):
    """Maximum-likelihood negative binomial shape for fixed means (MASS's theta.ml): Newton-Raphson
    on the score of the log-likelihood in theta, from the moment estimate."""
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


def brent_fmin(f, ax: float, bx: float, tol: float):
    """R's optimize(): Brent's (1973) golden-section / parabolic minimization on [ax, bx] (the
    algorithm of R's ``Brent_fmin``, so that the points evaluated are R's)."""
    c = (3.0 - math.sqrt(5.0)) * 0.5
    eps = math.sqrt(np.finfo(float).eps)
    a, b = ax, bx
    v = a + c * (b - a)
    w = x = v
    d = e = 0.0
    fx = f(x)
    fv = fw = fx
    tol3 = tol / 3.0
    while True:
        xm = (a + b) * 0.5
        tol1 = eps * abs(x) + tol3
        t2 = tol1 * 2.0
        if abs(x - xm) <= t2 - (b - a) * 0.5:
            break
        p = q = r = 0.0
        if abs(e) > tol1:  # fit a parabola
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = (q - r) * 2.0
            if q > 0.0:
                p = -p
            else:
                q = -q
            r = e
            e = d
        if abs(p) >= abs(q * 0.5 * r) or p <= q * (a - x) or p >= q * (b - x):  # golden section
            e = (b - x) if x < xm else (a - x)
            d = c * e
        else:  # parabolic step
            d = p / q
            u = x + d
            if u - a < t2 or b - u < t2:
                d = tol1 if x < xm else -tol1
        if abs(d) >= tol1:
            u = x + d
        elif d > 0.0:
            u = x + tol1
        else:
            u = x - tol1
        fu = f(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, w, x = w, x, u
            fv, fw, fx = fw, fx, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv = w, fw
                w, fw = u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x, fx


def _refit_nb(setup: _Setup, prev: "GlmerResult", theta_nb: float, link, nagq: int, control) -> "GlmerResult":
    """lme4's refit(setNBdisp(prev, theta)): a fresh response (the family's mustart), PIRLS over u at
    prev's theta with the fixed effects at 0 for the starting linear predictor, then Nelder-Mead
    over (theta, beta) from prev's estimates with steps 0.02 (no stage 1, no boundary check)."""
    fam = _families.NegativeBinomial(theta_nb, link=link)
    model, mustart = _family_model(setup, fam, control)
    opt_ctl, glmm_ctl = _split_control(control)
    nth, p = model.layout.size, model.p
    with np.errstate(all="ignore"):
        eta_start = model.offset + fam.linkfun(mustart)
    r0 = model.pirls(prev.theta, beta=np.zeros(p), eta_start=eta_start)
    s2 = _Stage2(model, nagq, r0.eta)
    x0 = np.concatenate([prev.theta, prev.beta])
    lower = np.concatenate([model.layout.lower(), np.full(p, -np.inf)])
    warned: list = []
    xst = np.full(x0.size, 0.02)
    pars, val, info = _record(lambda: _nelder_mead(s2, x0, lower, xst, xst * 5e-4,
                                                   maxfun=int(opt_ctl.get("maxeval", 10000))), warned)
    g = H = scale = None
    if bool(glmm_ctl.get("calc_derivs", True)):
        g, H, scale = _derivatives(s2, pars, model)
    r = s2.pirls(pars)
    fit = _Fit(pars[:nth].copy(), pars[nth:].copy(), float(s2.value(r)), r, info, H, g, [], warned,
               hessian_scale=scale)
    return _result(setup, fam, nagq, control, model, fit, warn=False)


def _real(v) -> bool:
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
    """
    nagq = _check_nagq(nAGQ)
    _split_control(control)
    _check_nb_options(tol, theta_start, interval)
    pois = _families.Poisson(link=link)
    setup = _prepare(formula, data, pois, weights, offset, data_name)
    _check_agq_terms(nagq, setup.terms)
    if nagq == 0:
        raise ArgumentError("glmer_nb() needs nAGQ >= 1 (lme4's refits over (theta, beta))")
    if theta_start is None:
        with silenced():
            g0 = _fit_setup(setup, pois, nagq, control, warn=False)
        th = theta_ml(g0.model.y, g0.pirls.mu, weights=g0.model.pw, limit=20, eps=2 * tol)
        if not (th > 0 and math.isfinite(th)):
            raise FitError(f"the initial estimate of the negative binomial theta is {th}; the counts show no "
                           "overdispersion beyond the Poisson model")
    else:
        th = float(theta_start)
    with silenced():
        g1 = _fit_setup(setup, _families.NegativeBinomial(th, link=link), nagq, control, warn=False)
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

    xmin, _ = brent_fmin(nbfun, lo, hi, tol)
    g = state["fits"].get(xmin)
    if g is None:  # R insists that the last evaluation was the minimum; refit there if it was not
        nbfun(xmin)
        g = state["fits"][xmin]
    if abs(xmin - lo) < 10 * tol or abs(xmin - hi) < 10 * tol:
        _warn(f"the negative binomial theta estimate {math.exp(xmin):.4g} is at the edge of the search "
              f"interval [{math.exp(lo):.4g}, {math.exp(hi):.4g}]; give a wider interval", ConvergenceWarning,
              stacklevel=2)
    msgs = g._check_convergence(warn=True, stacklevel=3)
    object.__setattr__(g, "messages", msgs)
    object.__setattr__(g, "nb_theta", math.exp(xmin))
    return g


# ============================================================================================ result

class _Summary(str):
    """The printed summary (a str), with the data behind it in ``.data`` (report.GlmerSummary)."""

    data = None

    def __repr__(self) -> str:
        return str(self)


def _perc_label(p: float) -> str:
    from ..report.format import format_num, signif_r

    s = format_num([signif_r(100 * p, 3)], 3)[0].strip()
    return f"{s} %"


def _check_glmer_ddf(ddf) -> None:
    """A glmer fit has asymptotic (z) tests: no ddf method applies."""
    if ddf is not None and str(ddf).lower() not in ("lme4", "asymptotic"):
        raise ArgumentError(f"ddf={ddf!r} applies to lmer fits (Satterthwaite, Kenward-Roger); a glmer fit has "
                            "Wald z tests without degrees of freedom: leave ddf out")


@dataclass(frozen=True, eq=False)
class GlmerResult(InformationCriteria):
    """A fitted generalized linear mixed model (lme4's ``glmerMod``)."""

    formula: str
    family: object
    nagq: int
    data_name: str
    parsed: object = field(repr=False)
    frame: object = field(repr=False)
    fixed: object = field(repr=False)
    terms: list = field(repr=False)
    model: GlmmModel = field(repr=False)
    theta: np.ndarray = field(repr=False)
    beta: np.ndarray = field(repr=False)
    objective: float = field(repr=False)
    pirls: PirlsResult = field(repr=False)
    optinfo: OptInfo = field(repr=False)
    hessian: np.ndarray | None = field(default=None, repr=False)
    gradient: np.ndarray | None = field(default=None, repr=False)
    control: dict | None = field(default=None, repr=False)
    weights_name: str | None = field(default=None, repr=False)
    setup: object = field(default=None, repr=False)
    messages: list = field(default_factory=list, repr=False)
    lp0: np.ndarray | None = field(default=None, repr=False)  # stage 2's start: its deviance function
    nb_theta: float | None = field(default=None, repr=False)
    # scales of (theta, beta) in which the Hessian was computed: vcov inverts it in those units
    hessian_scale: np.ndarray | None = field(default=None, repr=False)

    reml = False
    reml_criterion = None

    # ------------------------------------------------------------------ basics
    @property
    def nobs(self) -> int:
        return int(self.model.n)

    @cached_property
    def ngroups(self) -> dict:
        return random_effects.ngroups(self.terms)

    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(np.asarray(self.beta, dtype=float), index=list(self.fixed.names), name="Estimate")

    @property
    def has_scale(self) -> bool:
        return bool(self.family.has_scale)

    @cached_property
    def sigma(self) -> float:
        """1 for binomial, Poisson and negative binomial; else lme4's sqrt(pearson chi^2 + ||u||^2) / n)."""
        if not self.has_scale:
            return 1.0
        m, r = self.model, self.pirls
        wrss = float(np.sum(m.pw * (m.y - r.mu) ** 2 / self.family.variance(r.mu)))
        return math.sqrt((wrss + r.sqr_u) / m.n)

    @property
    def npar(self) -> int:
        """Fixed effects + theta (+ a scale; + theta of a negative binomial), R's logLik df."""
        k = len(self.beta) + self.theta.size + int(self.has_scale)
        if isinstance(self.family, _families.NegativeBinomial):
            k += 1
        return k

    @property
    def loglik(self) -> float:
        return -self.objective / 2.0

    @cached_property
    def deviance(self) -> float:
        """lme4's deviance() for a GLMM: the sum of squared deviance residuals (not -2 logLik)."""
        return float(np.sum(self.pirls.devres))

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @cached_property
    def is_singular(self) -> bool:
        diag = self.model.layout.is_diagonal()
        return bool(np.any(self.theta[diag] < 1e-4))

    def refit(self, REML: bool | None = None, y=None, **kwargs) -> "GlmerResult":
        """The same model fitted to a new response ``y`` (lme4's ``refit(m, newresp)``), on the scale
        of :meth:`simulate`: proportions of successes for a binomial family. Without ``y`` the fit
        itself (a GLMM is fitted by maximum likelihood: there is no REML refit)."""
        if REML:
            raise ArgumentError("a GLMM has no REML criterion; glmer fits are maximum likelihood")
        if kwargs:
            raise ArgumentError(f"refit() of a GLMM takes REML=False and y=, got {sorted(kwargs)}")
        if y is None:
            return self
        from dataclasses import replace

        from .lmer import check_new_response

        y = check_new_response(y, self.nobs)

        setup = self.setup
        raw = y
        if setup.response_kind == "cbind":
            trials = setup.y_raw.sum(axis=1)
            succ = np.round(y * trials)
            raw = np.column_stack([succ, trials - succ])
        new = replace(setup, y_raw=raw, response_kind="cbind" if raw.ndim == 2 else "numeric")
        # from the fitted theta, as lme4's refit starts from the fit's parameters
        return _fit_setup(new, self.family, self.nagq, self.control, start={"theta": self.theta})

    def emmeans(self, specs, by=None, pairwise: bool = False, adjust: str = "tukey", level: float = 0.95,
                type: str = "link"):
        """Estimated marginal means (and pairwise contrasts) as R's emmeans for a glmer fit:
        asymptotic (z) intervals and tests from vcov, on the link scale, or with ``type="response"``
        back-transformed (probabilities or rates; contrasts of a log or logit link as ratios)."""
        from ..inference.emmeans import emmeans, to_response_scale

        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        res = emmeans(self, specs, by=by, pairwise=pairwise, adjust=adjust, level=level)
        return to_response_scale(res, self.family) if type == "response" else res

    def profile(self, which=None, **kwargs):
        """lme4's ``profile(gm)``: the deviance profiled over each sd, correlation and fixed effect,
        as a ProfileTable (its ``confint(level)`` gives the profile intervals). Families without a
        scale parameter (binomial, Poisson, negative binomial)."""
        from ..inference.glmm_profile import glmer_profile

        return glmer_profile(self, which=which, **kwargs)

    def hatvalues(self) -> np.ndarray:
        """lme4's ``hatvalues()`` of a glmer fit: the rows ``sqrt(w_i) [Lambda' z_i; x_i]``, with the
        *prior* weights w, in the metric of the final penalized weighted least-squares system.
        lme4 warns that this "may not make sense for GLMMs", and so do we: the values are not
        bounded by 1 (with binomial trials as weights they are not even leverages)."""
        from ..postfit.diagnostics import penalized_quadform

        _warn("the hat matrix may not make sense for GLMMs", MixedModelWarning, stacklevel=2)
        # lme4's factor is that of the last PIRLS step: working weights at the mean before it
        m, r = self.model, self.pirls
        eta = r.eta if r.eta_w is None else r.eta_w
        w, _ = m.working(eta, m.linkinv(eta), m.offset)
        core = LmmCore(m.terms, m.X, np.zeros(m.n), weights=w)
        f = core.factor(self.theta)
        sw = np.sqrt(np.asarray(m.pw, dtype=float))
        return penalized_quadform(self, m.X * sw[:, None], [t.z * sw[:, None] for t in self.terms],
                                  [t.codes for t in self.terms], core=core, f=f)

    def simulate(self, nsim: int = 1, seed=None, **kwargs) -> pd.DataFrame:
        """New responses drawn from the fitted model, one column per simulation (lme4's simulate):
        random effects drawn anew (``re_form="~0"``, default) or kept (``use_u=True``), then the
        response from the family: binomial as proportions of the trials, Poisson and negative
        binomial as counts."""
        from ..inference.simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, **kwargs)

    def bootstrap(self, func, nsim: int = 100, seed=None, **kwargs):
        """Parametric bootstrap (lme4's bootMer): func(refit) on nsim simulated responses."""
        from ..inference.simulate import bootstrap

        return bootstrap(self, func, nsim=nsim, seed=seed, **kwargs)

    # ------------------------------------------------------------------ final factorization
    @cached_property
    def _final(self):
        """(core, factorization) of the penalized weighted least squares at the converged mode, with X."""
        m, r = self.model, self.pirls
        w, z = m.working(r.eta, r.mu, m.offset)
        core = LmmCore(m.terms, m.X, z, weights=w)
        f = core.factor(self.theta)
        return core, f

    @cached_property
    def _vcov_rx(self) -> np.ndarray:
        if len(self.beta) == 0:
            return np.zeros((0, 0))
        core, f = self._final
        if f is None:
            return np.full((len(self.beta), len(self.beta)), np.nan)
        return self.sigma ** 2 * core.rx_inverse(f)

    @cached_property
    def _vcov_hess(self):
        H = self.hessian
        if H is None or H.shape[0] <= self.theta.size:
            return None
        # invert in the scaled units of the finite differences: in the units of the data the
        # Hessian of a predictor measured in tiny units is ill-conditioned, its scaled form is not
        s = np.ones(H.shape[0]) if self.hessian_scale is None else self.hessian_scale
        try:
            Hi = np.linalg.inv(H * np.outer(s, s))
        except np.linalg.LinAlgError:
            return None
        k = self.theta.size
        V = Hi[k:, k:]
        V = V + V.T
        if not np.all(np.isfinite(V)):
            return None
        ev = np.linalg.eigvalsh(V) if V.size else np.ones(1)
        if ev.min() <= 0:
            return None
        return V * np.outer(s[k:], s[k:])

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects: from the finite-difference Hessian of the deviance over
        (theta, beta) when it is available (lme4's default for nAGQ >= 1), else sigma^2 (R_X'R_X)^-1."""
        names = list(self.fixed.names)
        V = self._vcov_hess
        if V is None:
            if self.hessian is not None and self.hessian.shape[0] > self.theta.size:
                _warn("variance-covariance matrix computed from finite-difference Hessian is not positive "
                      "definite or contains NA values: falling back to var-cov estimated from RX",
                      ConvergenceWarning, stacklevel=2)
            V = self._vcov_rx
        return pd.DataFrame(V, index=names, columns=names)

    # ------------------------------------------------------------------ random effects
    @cached_property
    def _b(self) -> list[np.ndarray]:
        return self.model.b_list(self.theta, self.pirls.u)

    @cached_property
    def _T(self) -> list[np.ndarray]:
        return self.model.layout.templates(self.theta)

    @cached_property
    def _b_condvar(self) -> list[np.ndarray]:
        core, f = self._final
        blocks = core.cond_var_u(f)
        s2 = self.sigma ** 2
        return [s2 * (T @ B @ T.T) for B, T in zip(blocks, self._T)]

    def ranef(self) -> dict:
        """Conditional modes: grouping factor -> DataFrame (levels x term columns)."""
        return random_effects.ranef_frames(self.terms, self._b)

    def ranef_table(self) -> pd.DataFrame:
        """R's as.data.frame(ranef(m, condVar=TRUE)): grpvar, term, grp, condval, condsd."""
        return random_effects.ranef_table(self.terms, self._b, self._b_condvar)

    @cached_property
    def _group_labels(self) -> list[str]:
        return random_effects.group_labels(self.terms)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """R's as.data.frame(VarCorr(m)): grp, var1, var2, vcov, sdcor (a Residual row only for
        families with a scale)."""
        return random_effects.varcorr_frame(self.terms, self._T, self.sigma, residual=self.has_scale)

    # ------------------------------------------------------------------ fitted values and residuals
    @property
    def _index(self):
        return self.frame.data.index

    @cached_property
    def fitted(self) -> pd.Series:
        """Fitted means on the response scale (proportions for a binomial response)."""
        return pd.Series(self.pirls.mu, index=self._index, name="fitted")

    @cached_property
    def linear_predictor(self) -> pd.Series:
        """eta = offset + X beta + Z b."""
        return pd.Series(self.pirls.eta, index=self._index, name="eta")

    @property
    def y(self) -> np.ndarray:
        """The response as the family sees it (proportions for cbind)."""
        return self.model.y

    @property
    def weights(self) -> np.ndarray:
        """Prior weights (times the trials for a cbind response), as lme4's weights(m)."""
        return self.model.pw

    @property
    def residuals(self) -> pd.Series:
        """Response residuals y - mu (API.md); ``resid(type)`` gives lme4's other kinds."""
        return self.resid("response")

    def resid(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        """lme4's residuals(): "deviance" (default), "pearson", "response" or "working";
        ``scaled=True`` divides by sigma."""
        m, r = self.model, self.pirls
        fam = self.family
        t = str(type).lower()
        if t == "deviance":
            d = np.sqrt(np.maximum(r.devres, 0.0))
            res = np.where(m.y > r.mu, d, -d)
        elif t == "pearson":
            res = np.sqrt(m.pw / fam.variance(r.mu)) * (m.y - r.mu)
        elif t == "response":
            res = m.y - r.mu
        elif t == "working":
            res = (m.y - r.mu) / fam.mu_eta(r.eta)
        else:
            raise ArgumentError(f"residual type must be 'deviance', 'pearson', 'response' or 'working', got {type!r}")
        if scaled:
            res = res / self.sigma
        return pd.Series(res, index=self._index, name="residuals")

    # ------------------------------------------------------------------ inference
    def coef_table(self, ddf: str | None = None) -> pd.DataFrame:
        """Fixed effects with Std. Error, z value and Pr(>|z|) (Wald tests, as lme4's summary).

        ``ddf`` is accepted for symmetry with lmer fits: only None (or "lme4", "asymptotic", which
        mean the same z tests) is valid, since a GLMM's tests have no denominator degrees of freedom.
        """
        _check_glmer_ddf(ddf)
        est = np.asarray(self.beta, dtype=float)
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        p = 2.0 * stats.norm.sf(np.abs(z))
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": z, "Pr(>|z|)": p},
                            index=list(self.fixed.names))

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500, seed=None,
                boot_type: str = "perc", n_jobs: int = 1, progress=None) -> pd.DataFrame:
        """Confidence intervals as lme4's confint(method=, oldNames=FALSE).

        "profile" (the default, as lme4's): likelihood-profile intervals of the sd's, correlations
        and fixed effects (see :meth:`profile`; families without a scale parameter). "Wald": the
        fixed effects (lme4's rows for the variance parameters are NA and are left out).
        "boot": parametric bootstrap percentile intervals (``nsim`` refits, ``seed``, ``boot_type``
        "perc", "basic" or "norm", ``n_jobs`` worker processes, ``progress`` bar) for the sd's and
        correlations of the random effects, then the fixed effects.
        """
        key = str(method).lower()
        if key not in ("wald", "boot", "profile"):
            raise ArgumentError(f"unknown method {method!r} for a glmer fit; use 'Wald', 'profile' or 'boot'")
        level = check_level(level)
        if key == "profile":
            return self.profile(progress=progress).confint(float(level))
        if key == "boot":
            from ..inference.confint import _boot_confint

            return _boot_confint(self, float(level), None, nsim, seed, boot_type, n_jobs, progress)
        a = (1.0 - float(level)) / 2.0
        q = stats.norm.ppf([a, 1.0 - a])
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        est = np.asarray(self.beta, dtype=float)
        return pd.DataFrame({_perc_label(a): est + se * q[0], _perc_label(1 - a): est + se * q[1]},
                            index=list(self.fixed.names))

    def icc(self) -> dict:
        """ICC as R's ``performance::icc``: binomial families on the latent scale, Poisson and negative
        binomial (log link) with the lognormal approximation."""
        from ..postfit.diagnostics import icc

        return icc(self)

    def r2(self) -> dict:
        """Nakagawa's R² as R's ``performance::r2_nakagawa`` (binomial; Poisson and negative binomial
        with a log link)."""
        from ..postfit.diagnostics import r2

        return r2(self)

    def predict(self, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False, **kwargs):
        """lme4's predict(): on the link scale (default) or the response scale (type="response");
        ``re_form=None`` includes every random effect, ``"~0"`` none, ``"~(1|g)"`` those named."""
        from ..postfit.predict import predict

        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is None and re_form is None and not kwargs:
            vals = self.pirls.eta if type == "link" else self.pirls.mu
            return pd.Series(vals, index=self._index, name="fit")
        return predict(self, newdata=newdata, re_form=re_form, allow_new_levels=allow_new_levels, type=type,
                       **kwargs)

    # ------------------------------------------------------------------ convergence
    def _check_convergence(self, warn: bool = True, stacklevel: int = 2) -> list[str]:
        opt = f"optimizer ({self.optinfo.optimizer}) convergence code: {0 if self.optinfo.converged else self.optinfo.code}"
        tol = float((self.control or {}).get("check_conv_grad", 0.002))
        msgs = conv_messages(self.gradient, self.hessian, singular=self.is_singular, tol=tol)
        if warn:
            warn_messages(msgs, stacklevel=stacklevel)
        if msgs:
            msgs = [opt + (" (OK)" if self.optinfo.converged else f" ({self.optinfo.message})")] + msgs
        return msgs

    # ------------------------------------------------------------------ printing
    def summary(self, correlation: bool | None = None, ddf: str | None = None):
        """lme4's print(summary(m)) for a glmerMod, as a str (``.data`` holds the numbers).

        ``correlation`` prints the fixed effects' correlations (lme4's rule: up to 12 of them when
        None); ``ddf`` must be None, as for :meth:`coef_table`.
        """
        _check_glmer_ddf(ddf)
        from ..report.format import GlmerSummary, VarCorrGroup, render_glmer_summary

        groups = []
        for name, t, T in zip(self._group_labels, self.terms, self._T):
            C = self.sigma ** 2 * (T @ T.T)
            sd = np.sqrt(np.diag(C))
            corr = None
            if t.p > 1:
                with np.errstate(divide="ignore", invalid="ignore"):
                    corr = C / np.outer(sd, sd)
                corr[~np.isfinite(corr)] = np.nan
                np.fill_diagonal(corr, 1.0)
            groups.append(VarCorrGroup(name, list(t.cnames), sd, corr))
        coef = self.coef_table()
        if self.has_scale:
            coef = coef.rename(columns={"z value": "t value"})
        V = self.vcov.to_numpy()
        d = np.sqrt(np.diag(V))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr_fixef = V / np.outer(d, d)
        s = GlmerSummary(
            family=self.family.label, link=self.family.link, nagq=self.nagq, formula=self.formula,
            data_name=self.data_name, aic=self.aic, bic=self.bic, loglik=self.loglik, deviance=-2.0 * self.loglik,
            df_resid=self.df_resid,
            scaled_residuals=self.resid("pearson", scaled=True).to_numpy(),
            varcorr=groups, nobs=self.nobs, ngroups=list(self.ngroups.items()), coef=coef,
            corr_fixef=corr_fixef, messages=list(self.messages),
            residual_sd=self.sigma if self.has_scale else None, weights=self.weights_name)
        out = _Summary(render_glmer_summary(s, correlation=correlation))
        out.data = s
        return out

    def __repr__(self) -> str:
        return (f"<GlmerResult {self.formula!r}: {self.family.label}({self.family.link}), "
                f"logLik {self.loglik:.4f}, nobs={self.nobs}>")
