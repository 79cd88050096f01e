"""``m.check()``: convergence, singularity and scaling of a mixed model fit, in plain language.

Convergence uses lme4's checkConv numbers (the same that made the fit warn and that the summary
prints), singularity the random-effect parameters near their bounds, scaling lme4's check.scaleX.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .leverage import require_lmm

__all__ = ["ModelCheck", "check"]


@dataclass
class ModelCheck:
    """What ``m.check()`` found; ``str()`` gives the plain-language report.

    Each block (convergence, singularity, scaling) has its lines, some of which say what is fine;
    ``problems`` holds just the lines that report a problem, in the order shown, so that the count
    in the report, ``len(issues)`` and the blocks marked PROBLEM agree: a block is a problem exactly
    when it has at least one problem line.

    Attributes
    ----------
    formula : str
        The model's formula.
    converged : bool
        Whether the optimizer stopped normally and lme4's checkConv found nothing.
    convergence : list of str
        The convergence block's lines.
    singular : bool
        Whether a variance is ~0 or a correlation ~+-1 (lme4's ``isSingular``).
    singularity : list of str
        The singularity block's lines.
    scale_ok : bool
        Whether the continuous predictors' scales are within a factor 1000 (lme4's check.scaleX).
    scaling : list of str
        The scaling block's lines.
    gradient : numpy.ndarray or None
        The gradient of the objective at the estimate.
    scaled_gradient : numpy.ndarray or None
        lme4's scaled gradient, solve(chol(H), gradient), which checkConv tests.
    hessian_eigenvalues : numpy.ndarray or None
        The eigenvalues of the Hessian of the objective.
    problems : list of str
        The lines that report a problem, in the order shown.
    lme4_messages : list of str
        lme4's checkConv messages for this fit.

    Examples
    --------
    >>> c = m.check()
    >>> c.ok, c.converged, c.singular
    (True, True, False)
    >>> print(str(c).splitlines()[-1])
    All checks passed.
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
        """Whether every check passed: converged, not singular, predictors well scaled.

        Examples
        --------
        >>> m.check().ok
        True
        """
        return self.converged and not self.singular and self.scale_ok

    @property
    def issues(self) -> list[str]:
        """The problem lines (not the lines saying what passed).

        Examples
        --------
        >>> m.check().issues
        []
        """
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
    from ..optim.convergence import GRAD_TOL, HESS_TOL, scaled_gradient

    info = m.optinfo
    crit = "REML criterion" if m.reml else "deviance"
    lines, problems, extra = [], [], {}

    def problem(text):
        lines.append(text)
        problems.append(text)

    conv = m.convergence
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
    for lab, t, T in zip(m.group_labels, m.terms, m.templates):
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
    m : LmerResult or GlmerResult
        A mixed model fit (for a GLMM the checks are on the deviance over ``(theta, beta)``, with
        lme4's glmer tolerances, the same as lmer's).

    Returns
    -------
    ModelCheck
        ``str()`` is the report. The convergence block uses lme4's checkConv numbers (``deriv12``
        derivatives, the scaled gradient against 0.002, the Hessian's eigenvalues), the same that made
        the fit warn and that the summary prints, so the three agree; ``lme4_messages`` holds lme4's
        messages. ``issues`` lists only the lines reporting a problem, and the report's count is its
        length.
    """
    if not (hasattr(m, "convergence") and hasattr(m, "templates") and hasattr(m, "fixed")):
        require_lmm(m, "check()")
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
