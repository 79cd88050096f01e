r"""lme4's convergence checks after a fit (its ``checkConv``, lme4 1.1-31), one implementation for
lmer and glmer.

When the optimizer has stopped, lme4 differentiates the objective at its result by central finite
differences (:func:`deriv12`, step 1e-4: ``2 k^2 + 1`` evaluations for ``k`` parameters) and checks,
in this order:

1. singularity: a parameter whose lower bound is 0 is below 1e-4 (``isSingular``). lme4 then says
   "boundary (singular) fit: see help('isSingular')" and checks nothing else: at a bound the gradient
   need not vanish, and the Hessian there says nothing about a minimum;
2. the gradient (``check.conv.grad``, tolerance 0.002): the scaled gradient ``solve(chol(H), g)``;
   elementwise the smaller of its absolute value and ``|g|`` (a flat curvature can make the scaled
   gradient large where the gradient itself is ~0); its maximum above the tolerance fails with
   "Model failed to converge with max|grad| = ... (tol = 0.002, component 1)";
3. the Hessian (``check.conv.hess``, tolerance 1e-6) by its eigenvalues: negative ones, zero ones
   (or no Cholesky factor), a very large one, a very large ratio.

For lmer the parameters are theta and the objective is the REML criterion or the deviance; for glmer
they are (theta, beta) and the objective is the Laplace / quadrature deviance (glmm.py computes that
Hessian itself: it also gives the standard errors). The messages are what lme4 keeps in
``m@optinfo$conv$lme4$messages`` and prints at the end of ``summary()``, after the line
"optimizer (nloptwrap) convergence code: 0 (OK)" (lme4's ``.prt.warn``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConvergenceWarning, SingularFitWarning, warn

__all__ = ["deriv12", "conv_messages", "warn_messages", "LmerConvergence", "lmer_convergence",
           "check_lmer_fit", "GRAD_TOL", "HESS_TOL", "SINGULAR_MESSAGE"]

GRAD_TOL = 0.002      # lmerControl / glmerControl: check.conv.grad = .makeCC("warning", tol = 2e-3)
HESS_TOL = 1e-6       # check.conv.hess = .makeCC("warning", tol = 1e-6)
SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"
_SINGULAR_WARNING = (SINGULAR_MESSAGE + " -- a variance is (nearly) zero or a correlation is +-1; consider "
                     "simplifying the random-effects terms")

# nloptr's status messages, as lme4's nloptwrap passes them on (optinfo$message)
NLOPT_MESSAGES = {
    1: "NLOPT_SUCCESS: Generic success return value.",
    2: "NLOPT_STOPVAL_REACHED: Optimization stopped because stopval (above) was reached.",
    3: "NLOPT_FTOL_REACHED: Optimization stopped because ftol_rel or ftol_abs (above) was reached.",
    4: "NLOPT_XTOL_REACHED: Optimization stopped because xtol_rel or xtol_abs (above) was reached.",
    5: "NLOPT_MAXEVAL_REACHED: Optimization stopped because maxeval (above) was reached.",
    6: "NLOPT_MAXTIME_REACHED: Optimization stopped because maxtime (above) was reached.",
    -1: "NLOPT_FAILURE: Generic failure code.",
    -2: "NLOPT_INVALID_ARGS: Invalid arguments (e.g. lower bounds are bigger than upper bounds, an unknown "
        "algorithm was specified, etcetera).",
    -3: "NLOPT_OUT_OF_MEMORY: Ran out of memory.",
    -4: "NLOPT_ROUNDOFF_LIMITED: Roundoff errors led to a breakdown of the optimization algorithm. In this "
        "case, the returned minimum may still be useful. (e.g. this error occurs in NEWUOA if one tries to "
        "achieve a tolerance too close to machine precision.)",
    -5: "NLOPT_FORCED_STOP: Halted because of a forced termination: the user called nlopt_force_stop(opt) on "
        "the optimization's nlopt_opt object opt from the user's objective function or constraints.",
}


def deriv12(fun, x, delta: float = 1e-4, fx: float | None = None):
    """Central finite-difference gradient and Hessian of ``fun`` at ``x`` (lme4's ``deriv12``, no bounds).

    Parameters
    ----------
    fun : callable
        Scalar function of a 1-d float array.
    x : array_like
        The point.
    delta : float
        The step (lme4: 1e-4), also at a bound: the objectives are defined beyond it.
    fx : float, optional
        ``fun(x)``, if known.

    Returns
    -------
    g : ndarray, shape (k,)
    H : ndarray, shape (k, k)
        ``2 k^2 + 1`` evaluations (``2 k^2`` with ``fx``).
    """
    x = np.asarray(x, dtype=float)
    nx = x.size
    if fx is None:
        fx = fun(x)
    H = np.empty((nx, nx))
    g = np.empty(nx)
    d2, dd2 = delta * delta, (delta + delta) ** 2

    def at(*moves):
        xx = x.copy()
        for i, s in moves:
            xx[i] += s * delta
        return fun(xx)

    for j in range(nx):
        fadd = at((j, 1))
        fsub = at((j, -1))
        # each value divided before summing, in lme4's order: with deviances of ~1e3 and delta^2 =
        # 1e-8 the rounding of this sum shows in the 6th digit of the standard errors R prints
        H[j, j] = fadd / d2 - 2.0 * fx / d2 + fsub / d2
        g[j] = (fadd - fsub) / (delta + delta)
        for i in range(j):
            H[i, j] = H[j, i] = (at((i, 1), (j, 1)) / dd2 - at((i, 1), (j, -1)) / dd2
                                 - at((i, -1), (j, 1)) / dd2 + at((i, -1), (j, -1)) / dd2)
    return g, H


def chol_ok(H) -> bool:
    """Whether ``H`` has a Cholesky factor (R's ``chol`` succeeds)."""
    try:
        np.linalg.cholesky(H)
        return True
    except np.linalg.LinAlgError:
        return False


def scaled_gradient(gradient, hessian) -> np.ndarray | None:
    """``solve(chol(H), g)``: the gradient in the units of the curvature; None without a Cholesky factor."""
    try:
        R = np.linalg.cholesky(np.asarray(hessian, dtype=float)).T
    except np.linalg.LinAlgError:
        return None
    sc = np.linalg.solve(R, np.asarray(gradient, dtype=float))
    return sc if np.all(np.isfinite(sc)) else None  # some BLAS give NaN instead of failing (lme4 GH #677)


def conv_messages(gradient, hessian, *, singular: bool, tol: float = GRAD_TOL,
                  hess_tol: float = HESS_TOL) -> list[str]:
    """lme4's ``checkConv`` messages for a fit (without the optimizer's own line).

    Parameters
    ----------
    gradient, hessian : ndarray or None
        The finite-difference derivatives of the objective at the estimate (:func:`deriv12`); None
        when they were not computed (then only singularity is checked, as lme4 with
        ``calc.derivs = FALSE``).
    singular : bool
        Whether the fit is singular (``isSingular``); then no other check is made.
    tol : float
        The gradient tolerance (``check.conv.grad``).
    hess_tol : float
        The Hessian eigenvalue tolerance (``check.conv.hess``).

    Returns
    -------
    list of str
        In lme4's order: singularity; or "Gradient contains NAs"; or the gradient's and the Hessian's
        messages. Empty for a fit that passes.
    """
    if singular:
        return [SINGULAR_MESSAGE]
    if gradient is None or hessian is None:
        return []
    g = np.asarray(gradient, dtype=float)
    H = np.asarray(hessian, dtype=float)
    if np.any(np.isnan(g)):
        return ["Gradient contains NAs"]
    msgs: list[str] = []
    sc = scaled_gradient(g, H)
    if sc is None:
        msgs.append("unable to evaluate scaled gradient")
    else:
        mg = float(np.max(np.minimum(np.abs(sc), np.abs(g))))
        if mg > tol:
            # lme4 1.1-31 names the component by which.max() of the maximum itself (a scalar), so its
            # message always says "component 1"; we print what R prints
            msgs.append(f"Model failed to converge with max|grad| = {mg:.6g} (tol = {tol:g}, component 1)")
    # lme4 also checks the fixed-effect block of a GLMM's Hessian when it has more parameters than
    # lower bounds; glmer passes a bound for every parameter, so only the whole Hessian is checked
    msgs += _hessian_messages(H, hess_tol)
    return msgs


def _hessian_messages(H, tol: float) -> list[str]:
    """lme4's ``checkHess`` (its Hessian type is empty: hence the double and the leading space)."""
    try:
        ev = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        ev = None
    if ev is None or not np.all(np.isfinite(ev)):
        # lme4 would stop in eigen(); a message is more useful here
        return ["Problem with Hessian check (infinite or missing values?)"]
    neg = int(np.sum(ev < -tol))
    if neg:
        return [f"Model failed to converge: degenerate  Hessian with {neg} negative eigenvalues"]
    if np.any(np.abs(ev) < tol) or not chol_ok(H):
        return [" Hessian is numerically singular: parameters are not uniquely determined"]
    out = []
    if ev.max() * tol > 1:
        out.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
    if ev.min() / ev.max() < tol:
        out.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return out


def warn_messages(msgs, stacklevel: int = 2, singular: bool = True) -> None:
    """Issue each of lme4's messages as a warning: the singular one as
    :class:`~mixedmodels.errors.SingularFitWarning` (unless ``singular`` is False, e.g. when the caller
    has warned already), the others as :class:`~mixedmodels.errors.ConvergenceWarning`."""
    for text in msgs:
        if text == SINGULAR_MESSAGE:
            if singular:
                warn(_SINGULAR_WARNING, SingularFitWarning, stacklevel=stacklevel + 1)
        else:
            warn(text, ConvergenceWarning, stacklevel=stacklevel + 1)


# ============================================================================================ lmer

@dataclass(frozen=True, eq=False)
class LmerConvergence:
    """lme4's ``m@optinfo`` convergence part of an lmer fit.

    Attributes
    ----------
    optimizer : str
        "nloptwrap" (every lmer optimizer here is NLopt's, as lme4's default wrapper).
    code : int
        lme4's ``optinfo$conv$opt``: 0, or NLopt's status when it is negative or 5 (maxeval reached).
    message : str
        nloptr's status message (``optinfo$message``).
    messages : list of str
        lme4's checks (``optinfo$conv$lme4$messages``): singularity, gradient, Hessian.
    warnings : list of str
        The optimizer's warning as lme4 words it (``optinfo$warnings``), when ``code`` is not 0.
    gradient, hessian : ndarray or None
        The finite-difference derivatives over theta (``optinfo$derivs``); None for a singular fit,
        where lme4 does not look at them (``m.optinfo.gradient`` still gives the gradient).
    """

    optimizer: str
    code: int
    message: str
    messages: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    gradient: np.ndarray | None = field(default=None, repr=False)
    hessian: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """No message and optimizer code 0."""
        return self.code == 0 and not self.messages and not self.warnings

    def summary_lines(self) -> list[str]:
        """The lines lme4's ``.prt.warn`` prints at the end of ``summary()``: none for a clean fit, else
        "optimizer (nloptwrap) convergence code: 0 (OK)" (or the code and nloptr's message), lme4's
        messages, then the optimizer's warnings."""
        if self.code == 0 and not self.messages and not self.warnings:
            return []
        status = "(OK)" if self.code == 0 else f"({self.message})"
        return [f"optimizer ({self.optimizer}) convergence code: {self.code} {status}",
                *self.messages, *self.warnings]


def _nlopt_code(info) -> tuple[int, str]:
    """lme4's nloptwrap: status < 0 or 5 (maxeval) is passed on as the convergence code, others are 0.

    NLopt's roundoff-limited stop (-4) counts as converged here (optimize.py keeps its best point, which
    is as good as R's), so it is reported as 0 too.
    """
    status = int(getattr(info, "code", 0))
    if bool(getattr(info, "converged", True)):
        return 0, NLOPT_MESSAGES.get(status, str(getattr(info, "message", "")))
    return status, NLOPT_MESSAGES.get(status, str(getattr(info, "message", "")))


def lmer_convergence(m, tol: float = GRAD_TOL) -> LmerConvergence:
    """lme4's convergence report of an lmer fit (``m.convergence`` keeps it, computed once).

    Parameters
    ----------
    m : LmerResult
        The fit.
    tol : float
        The gradient tolerance (lme4's ``check.conv.grad``, 0.002).

    Returns
    -------
    LmerConvergence
        Its ``messages`` are what lme4 keeps in ``m@optinfo$conv$lme4$messages``; computing them takes
        ``2 k^2`` evaluations of the objective for ``k`` theta parameters (none for singular fits).
    """
    code, message = _nlopt_code(m.optinfo)
    singular = bool(m.is_singular)
    g = H = None
    if not singular:
        theta = np.asarray(m.theta, dtype=float)

        def f(th):
            return float(m.core.objective(th, m.reml))

        try:
            with np.errstate(all="ignore"):
                g, H = deriv12(f, theta, 1e-4, f(theta))
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            # a diagnostic must not break a fit: where the objective cannot be evaluated next to the
            # estimate, report the gradient as missing (lme4's "Gradient contains NAs")
            g, H = np.full(theta.size, np.nan), np.full((theta.size, theta.size), np.nan)
    warns = [f"convergence code {code} from nloptwrap: {message}"] if code != 0 else []
    out = LmerConvergence("nloptwrap", code, message, conv_messages(g, H, singular=singular, tol=tol), warns,
                          g, H)
    return out


def check_lmer_fit(m, stacklevel: int = 2) -> LmerConvergence:
    """Run lme4's checks on a new lmer fit and warn as lme4 does (``ConvergenceWarning`` with lme4's
    message); the singular-fit warning is left to the caller, which has issued it already."""
    conv = m.convergence  # kept on the fit: the summary and check() use the same numbers
    warn_messages(conv.messages, stacklevel=stacklevel + 1, singular=False)
    return conv
