r"""Single-term deletions: lmerTest's ``ranova`` (random effects) and ``drop1`` (fixed effects).

``ranova``: for each random-effects term ``(f | g)`` of the (expanded) formula, the model with that
term *reduced* is fitted by the same criterion (REML or ML) and compared with the full model,

    LRT = 2 (logLik_full - logLik_reduced),   Df = npar_full - npar_reduced,   P(chi^2_Df > LRT).

lmerTest's reduction: a term with no variables on the left (``(1 | g)``) is removed; otherwise each
term of the left side that marginality allows to drop is dropped in turn (row ``"x in (1 + x | g)"``),
and when nothing would be left the term becomes ``(1 | g)`` (so ``(0 + x | g)`` -> ``(1 | g)``).
When the last random term goes, the reduced model is an ordinary linear model, whose REML or ML
log-likelihood is that of R's ``logLik(lm(...), REML=)``.

``drop1``: lmerTest's marginal F tests (Satterthwaite or Kenward-Roger denominator df) of the
fixed-effect terms that marginality allows to drop: ``L`` selects the term's columns, ``L beta = 0``;
with ``test="Chisq"``, lme4's ``drop1``: likelihood-ratio tests of ML refits without each term.
The reduced models reuse the full model's rows (the same observations, so nothing can change the
number of rows in use, which lmerTest reports as an error).
"""
from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ..distributions import chi2_sf, f_sf
from ..errors import ArgumentError, SingularFitWarning, silenced
from ..formula.deparse import r_deparse as _deparse_formula
from ..formula.parse import RandomTerm, split_top
from ..report.anova_table import AnovaTable

__all__ = ["ranova", "drop1", "glmer_drop1", "lm_loglik", "reduce_random_term", "fixed_terms"]

_LOG2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------------
# fitting the reduced models

def lm_loglik(X: np.ndarray, y: np.ndarray, weights=None, offset=None, reml: bool = False) -> float:
    """Log-likelihood of the (weighted) linear model y ~ X: R's ``logLik(lm, REML=)``.

    ML:   -2 l = n (1 + log(2 pi RSS / n)) - sum log w
    REML: -2 l = (n-p)(1 + log(2 pi RSS / (n-p))) + log|X'WX| - sum log w
    """
    from ..core.blocks import far_centre as _far_centre, ones_coef as _ones_coef

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    pos = w > 0
    off = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=float)
    # a response far from 0 (1e12 + y) is centred by a constant c when 1 is in the span of X (as
    # lmer's core and lm() do): the RSS is that of the shifted problem, without the rounding of
    # values of size c. y - c is exact (Sterbenz); the offset comes off after it.
    c = _far_centre((y - off)[pos])
    if c and X.shape[1] and _ones_coef(X[pos]) is not None:
        y = (y - c) - off
    elif offset is not None:
        y = y - off
    sw = np.sqrt(w[pos])
    Xw, yw = X[pos] * sw[:, None], y[pos] * sw
    n, p = Xw.shape
    if p:
        Q, R = np.linalg.qr(Xw)
        rss = float(np.sum((yw - Q @ (Q.T @ yw)) ** 2))
        ldR2 = 2.0 * float(np.sum(np.log(np.abs(np.diag(R)))))
    else:
        rss, ldR2 = float(yw @ yw), 0.0
    ldw = float(np.sum(np.log(w[pos])))
    if reml:
        nmp = n - p
        return -0.5 * (nmp * (1.0 + _LOG2PI + math.log(rss / nmp)) + ldR2 - ldw)
    return -0.5 * (n * (1.0 + _LOG2PI + math.log(rss / n)) - ldw)


def _fit_objective(core, reml: bool, control=None) -> float:
    """Minimum of the REML criterion or ML deviance of a core, from lme4's starting values."""
    from ..optim.nlopt import minimize_theta

    layout = core.layout
    with silenced(SingularFitWarning):
        _, value, _ = minimize_theta(lambda th: core.objective(th, reml), layout.start(), layout.lower(), control,
                                     what="the REML criterion" if reml else "the deviance")
    return float(value)


def _fit_random(m, random: list[RandomTerm], reml: bool) -> tuple[float, int]:
    """(logLik, npar) of m's fixed part with the given random terms (an lm when there are none)."""
    X, frame = m.fixed.X, m.frame
    if not random:
        return lm_loglik(X, frame.y, frame.weights, frame.offset, reml), X.shape[1] + 1
    from ..core.lmm import LmmCore
    from ..design.random import check_terms, random_terms

    parsed = replace(m.parsed, random=tuple(random))
    terms = random_terms(parsed, frame)
    check_terms(terms, len(frame.y))
    core = LmmCore(terms, X, frame.y, weights=frame.weights, offset=frame.offset)
    value = _fit_objective(core, reml, m.control)
    return -value / 2.0, X.shape[1] + core.layout.size + 1


# ---------------------------------------------------------------------------------------------
# the left side of a random term, as R's terms() sees it

def _signed_pieces(s: str, seps: str) -> list[tuple[str, str]]:
    """Split at the top-level separators in ``seps`` (``"+-"``, ``":"``, ``"*"``) with the package's
    one splitter; returns (separator before, piece) pairs, empty pieces dropped."""
    out = [("+", s)]
    for sep in seps:
        out = [(sep if k else before, piece) for before, text in out
               for k, (_, piece) in enumerate(split_top(text, sep))]
    return [(a, b.strip()) for a, b in out if b.strip()]


def _lhs_terms(expr: str) -> tuple[bool, list[str]]:
    """(has intercept, term labels) of a model formula's right side, with R's ordering by degree."""
    intercept, labels = True, []
    for sign, piece in _signed_pieces(expr, "+-"):
        if piece in ("0", "1"):
            # "+ 1" and "- 0" ask for an intercept, "+ 0" and "- 1" remove it
            intercept = (piece == "1") == (sign == "+")
            continue
        expanded = _expand_star(piece)
        if sign == "-":
            labels = [lab for lab in labels if lab not in expanded]
        else:
            labels += [lab for lab in expanded if lab not in labels]
    labels.sort(key=lambda lab: len(_factors(lab)))  # stable: degree, then order of appearance
    return intercept, labels


def _factors(label: str) -> tuple[str, ...]:
    return tuple(p for _, p in _signed_pieces(label, ":"))


def _expand_star(piece: str) -> list[str]:
    """``a*b`` -> a, b, a:b; ``a:b`` stays one label."""
    parts = [p for _, p in _signed_pieces(piece, "*")]
    if len(parts) == 1:
        return [":".join(_factors(piece))]
    out: list[tuple[str, ...]] = [()]
    for p in parts:
        out = out + [o + _factors(p) for o in out]
    return [":".join(o) for o in out[1:]]


def _drop_scope(labels: list[str]) -> list[str]:
    """Labels not contained in another label (R's drop.scope)."""
    fs = {lab: set(_factors(lab)) for lab in labels}
    return [lab for lab in labels if not any(o != lab and fs[lab] < fs[o] for o in labels)]


def _deparse(term: RandomTerm) -> str:
    """``expr | group`` spaced as R deparses it."""
    expr = " ".join(f"{'' if i == 0 else sep + ' '}{p}" for i, (sep, p) in enumerate(_signed_pieces(term.expr, "+-")))
    expr = re.sub(r"\s+", " ", expr).strip()
    return f"{expr} | {term.group}"


def _term_text(term: RandomTerm) -> str:
    """The whole term as the formula writes it: ``(x | g)``, or ``ar1(0 + f | g)`` for a structure."""
    return f"{'' if term.structure == 'us' else term.structure}({_deparse(term)})"


def reduce_random_term(term: RandomTerm) -> list[tuple[str, RandomTerm | None]]:
    """lmerTest's reductions of one random term: (row name, replacement term or None to remove)."""
    form = _term_text(term)
    intercept, labels = _lhs_terms(term.expr)
    scope = _drop_scope(labels)
    if not labels or not scope:
        return [(form, None)]
    out = []
    for scp in scope:
        rest = [lab for lab in labels if lab != scp]
        if not rest:
            new = "1"
        else:
            new = " + ".join(rest) if intercept else "0 + " + " + ".join(rest)
        # a structure stays on what is left (diag(a + b | g) -> diag(a | g)); on one column it is none
        out.append((f"{scp} in {form}", RandomTerm(new, term.factors, term.name,
                                                    term.structure if rest else "us")))
    return out


def _unique_terms(random: list[RandomTerm]) -> list[RandomTerm]:
    """R's formula update drops a term identical to one already there ((1|g) + (1|g) is (1|g))."""
    seen, out = set(), []
    for t in random:
        key = _term_text(t)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def _formula_text(m, random) -> str:
    parts = [m.parsed.fixed] + [_term_text(t) for t in random] + [f"offset({o})" for o in m.parsed.offsets]
    return f"{m.parsed.response} ~ {' + '.join(parts)}"


# ---------------------------------------------------------------------------------------------
# ranova

def ranova(m) -> AnovaTable:
    """lmerTest's ``ranova(m)``: likelihood-ratio tests of reducing each random-effects term."""
    random = list(m.parsed.random)
    reml = bool(m.reml)
    rows = [("<none>", float(m.loglik), int(m.npar))]
    for k, term in enumerate(random):
        for name, new in reduce_random_term(term):
            reduced = random[:k] + ([new] if new is not None else []) + random[k + 1:]
            reduced = _unique_terms(reduced)
            ll, npar = _fit_random(m, reduced, reml)
            rows.append((name, ll, npar))
    names = [r[0] for r in rows]
    ll = np.array([r[1] for r in rows])
    npar = np.array([r[2] for r in rows], dtype=float)
    lrt = np.full(len(rows), np.nan)
    df = np.full(len(rows), np.nan)
    p = np.full(len(rows), np.nan)
    lrt[1:] = 2.0 * (ll[0] - ll[1:])
    df[1:] = npar[0] - npar[1:]
    ok = np.arange(len(rows)) > 0
    ok &= df > 0
    p[ok] = chi2_sf(lrt[ok], df[ok])
    tab = AnovaTable({"npar": npar.astype(int), "logLik": ll, "AIC": -2 * ll + 2 * npar, "LRT": lrt, "Df": df,
                      "Pr(>Chisq)": p}, index=pd.Index(names))
    tab.heading = ["ANOVA-like table for random-effects: Single term deletions", "", "Model:",
                   _deparse_formula(_formula_text(m, random))]
    return tab


# ---------------------------------------------------------------------------------------------
# drop1

def fixed_terms(m) -> list[tuple[str, tuple[str, ...], list[int]]]:
    """The fixed-effect terms (no intercept): (R label, variables, columns of X), in R's order."""
    from .anova import term_map

    tm = term_map(m)
    return [(lab, tuple(tm.variables[lab]), list(tm.cols[lab])) for lab in tm.labels]


def _marginal(terms):
    """R's drop.scope: the terms whose variables no other term contains."""
    fs = {lab: set(v) for lab, v, _ in terms}
    return [t for t in terms if not any(o[0] != t[0] and fs[t[0]] < fs[o[0]] for o in terms)]


def drop1(m, test: str | None = "F", ddf: str = "Satterthwaite") -> AnovaTable:
    """Tests of dropping each marginal fixed-effect term.

    ``test="F"`` (default): lmerTest's ``drop1`` with ``ddf`` "Satterthwaite" or "Kenward-Roger":
    columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``, the F test of the term's own
    coefficients being zero. ``test="Chisq"``: lme4's ``drop1(test="Chisq")``: ML refits without
    each term, columns ``npar, AIC, LRT, Pr(Chi)``; ``ddf="lme4"`` with ``test="F"`` or
    ``test=None`` gives lme4's ``npar, AIC`` table.
    """
    key = "none" if test is None else str(test).lower()
    if key not in ("f", "chisq", "none", "lrt"):
        raise ArgumentError(f"test must be 'F', 'Chisq' or None, got {test!r}")
    scope = _marginal(fixed_terms(m))
    if key in ("chisq", "lrt", "none") or ddf == "lme4":
        return _drop1_lrt(m, scope, with_test=key in ("chisq", "lrt"))
    columns = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    p = len(m.beta)
    s2 = m.sigma ** 2
    if ddf == "Kenward-Roger":
        from .kenward_roger import kr_f_test, kr_info

        info = kr_info(m)
    else:
        from .satterthwaite import f_test
    rows = {}
    for label, _, cols in scope:
        if not cols:  # every column aliased: nothing to test
            rows[label] = dict.fromkeys(columns, np.nan)
            continue
        L = np.eye(p)[cols]
        if ddf == "Kenward-Roger":
            r = kr_f_test(info, L, m.beta)
            F, ndf, den, ms = r["F"], r["NumDF"], r["DenDF"], r["FU"] * s2  # lmerTest: Sum Sq from unscaled F
        else:
            r = f_test(m._varpar, L, m.beta)
            F, ndf, den = r["F"], r["NumDF"], r["DenDF"]
            ms = F * s2
        rows[label] = {"Sum Sq": ms * ndf, "Mean Sq": ms, "NumDF": ndf, "DenDF": den, "F value": F,
                       "Pr(>F)": float(f_sf(F, ndf, den))}
    tab = AnovaTable(pd.DataFrame.from_dict(rows, orient="index", columns=columns))
    method = "Kenward-Roger's" if ddf == "Kenward-Roger" else "Satterthwaite's"
    tab.heading = [f"Single term deletions using {method} method:", "", "Model:", _deparse_formula(m.formula)]
    return tab


def glmer_drop1(m, test: str | None = None) -> AnovaTable:
    """lme4's ``drop1`` of a GLMM: refits without each marginal fixed-effect term (the same family,
    nAGQ and control, through the fit's own fitter); ``npar, AIC`` and with ``test="Chisq"`` the
    likelihood-ratio test ``LRT, Pr(Chi)``."""
    key = "none" if test is None else str(test).lower()
    if key not in ("chisq", "lrt", "none"):
        raise ArgumentError(f"drop1() of a GLMM takes test='Chisq' (the likelihood-ratio test) or None (AIC "
                            f"only), got {test!r}: a GLMM has no F test")
    setup = m.setup
    X, names = setup.fixed.X, list(setup.fixed.names)

    def refit_loglik(cols):
        keep = [j for j in range(X.shape[1]) if j not in cols]
        fixed = replace(setup.fixed, X=X[:, keep], names=[names[j] for j in keep], dropped=[], all_names=None)
        with silenced():
            r = m.fitter(replace(setup, fixed=fixed), m.family, m.nagq, m.control, warn=False)
        return float(r.loglik)

    return _drop1_lrt(m, _marginal(fixed_terms(m)), key != "none", refit_loglik, full=m)


def _drop1_lrt(m, scope, with_test: bool, refit_loglik=None, full=None) -> AnovaTable:
    """lme4's drop1: AIC of ML refits without each term (and the likelihood-ratio test).
    ``refit_loglik(cols)``: the log-likelihood of the refit without those columns of X (lmer's:
    the core's blocks without them, no pass over the rows)."""
    from .confint import xy_core

    if full is None:
        full = m if not m.reml else m.refit(REML=False)
    if refit_loglik is None:
        p = full.core.p

        def refit_loglik(cols):
            core = xy_core(full, [j for j in range(p) if j not in cols])
            return -_fit_objective(core, False, m.control) / 2.0
    ll0, npar0 = float(full.loglik), int(full.npar)
    names, ll, npar = ["<none>"], [ll0], [npar0]
    for label, _, cols in scope:
        names.append(label)
        ll.append(refit_loglik(cols))
        npar.append(npar0 - len(cols))
    ll_a, npar_a = np.array(ll), np.array(npar, dtype=float)
    dfs = npar_a[0] - npar_a
    dfs[0] = np.nan
    data = {"npar": dfs, "AIC": -2 * ll_a + 2 * npar_a}
    if with_test:
        lrt = 2.0 * (ll_a[0] - ll_a)
        lrt[0] = np.nan
        pv = np.full(len(ll_a), np.nan)
        ok = np.isfinite(lrt) & (dfs > 0)
        pv[ok] = chi2_sf(lrt[ok], dfs[ok])
        data.update({"LRT": lrt, "Pr(Chi)": pv})
    tab = AnovaTable(data, index=pd.Index(names))
    tab.heading = ["Single term deletions", "", "Model:", _deparse_formula(m.formula)]
    return tab
