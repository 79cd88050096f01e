r"""ANOVA tables of the fixed-effect terms, as lmerTest's ``anova()`` computes them.

Each term ``t`` gets a hypothesis matrix ``L_t`` (rows: contrasts of beta) and one F test of
``L_t beta = 0`` with Satterthwaite's or Kenward-Roger's denominator df. The types differ only in
``L_t`` (Kuznetsova, Brockhoff & Christensen 2017, and lmerTest's code):

* Type I (sequential): the rows of ``U = L'`` of the Doolittle factorization ``X'X = L U`` that
  belong to the term's columns: each term adjusted for the terms before it.
* Type II: a term that no other term contains is tested by its own coefficients (marginal); a term
  contained in others gets the type I rows after reordering ``X`` so that the term and the terms
  containing it come last.
* Type III: the contrasts of the "cell means" of every term (``model.matrix(~ 0 + term)``,
  expressed in beta by least squares), made orthogonal to the terms that contain it, from the
  highest order down. The construction does not depend on the coding of the factors.

``Sum Sq = F * NumDF * sigma^2`` and ``Mean Sq = F * sigma^2`` (for Kenward-Roger, F before the
scaling factor, as lmerTest reports it). Containment follows lmerTest: term A is contained in term B
if B has every variable of A and more, and the same numeric variables, where a term's variables are
those R codes by contrasts (its ``terms()`` "factors" attribute).

The hypotheses are built on X as R codes it (:func:`r_design`): the same as ours except where a
factor's margin is missing from the formula (``a:b`` without ``a``), and mapped to our beta.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..distributions import chi2_sf, f_sf
from ..errors import ArgumentError
from ..rformat import zapsmall

__all__ = ["anova_table", "wald_chisq_table", "TermMap", "term_map", "hypotheses", "doolittle", "COLUMNS"]

COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]

_TYPES = {"1": 1, "i": 1, "2": 2, "ii": 2, "3": 3, "iii": 3}
# calls that R evaluates to a matrix (its dataClasses says "nmatrix.k", not "numeric")
_MATRIX_CALL = re.compile(r"^\s*(poly|scale|ns|bs|cbind|matrix|cr|cc|te|s)\s*\(")


def _type(type) -> int:
    if isinstance(type, bool) or not isinstance(type, (int, np.integer, str)):
        raise ArgumentError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), got {type!r}")
    key = str(type).strip().lower()
    if key not in _TYPES:
        raise ArgumentError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), got {type!r}")
    return _TYPES[key]


# ---------------------------------------------------------------------------- terms and columns
@dataclass
class TermMap:
    """The fixed-effect terms of a fit and the columns of X that belong to each."""

    labels: list[str]                    # R's term labels ("recipe", "temp", "recipe:temp")
    cols: dict[str, list[int]]           # label -> column indices of X (after rank-dropping)
    intercept: bool
    variables: dict[str, list[str]]      # label -> its variables (formulaic expressions)
    kind: dict[str, str] = field(default_factory=dict)   # variable -> factor|numeric|matrix|logical
    levels: dict[str, list] = field(default_factory=dict)  # factor variable -> its observed levels
    order: dict[str, int] = field(default_factory=dict)   # label -> number of variables
    codes: dict[str, dict] = field(default_factory=dict)  # label -> {variable: 1 (contrasts) | 2 (dummies)}


def term_map(m) -> TermMap:
    """Terms of the fixed part from formulaic's ModelSpec, with R's labels and X's column indices."""
    from ..design.matrix import r_column_name

    spec = m.fixed.spec
    index = {nm: j for j, nm in enumerate(m.fixed.names)}
    labels, cols, variables, order = [], {}, {}, {}
    intercept = False
    text = _squash(m.parsed.fixed)
    for s in spec.structure:
        facs = [str(f.expr) for f in s.term.factors if str(f.expr) != "1"]
        if not facs:
            intercept = True
            continue
        # R orders the variables of an interaction as they first appear in the formula
        facs = sorted(facs, key=lambda v: _first_position(v, text))
        label = ":".join(r_column_name(v) for v in facs)
        labels.append(label)
        cols[label] = [index[r_column_name(c)] for c in s.columns if r_column_name(c) in index]
        variables[label] = facs
        order[label] = len(facs)
    kind, levels = {}, {}
    data = m.frame.data
    for var in {v for vs in variables.values() for v in vs}:
        k, state = spec.encoder_state.get(var, (None, {}))
        kname = getattr(k, "value", str(k))
        if kname == "categorical":
            kind[var] = "factor"
            seen = set(pd.unique(data[var].dropna())) if var in data.columns else None
            levels[var] = [lev for lev in state.get("categories", []) if seen is None or lev in seen]
        elif var in data.columns and pd.api.types.is_bool_dtype(data[var]):
            kind[var] = "logical"
        elif _MATRIX_CALL.match(var):
            kind[var] = "matrix"
        else:
            kind[var] = "numeric"
    # R's "factors" attribute: a variable of a term is coded by contrasts (1) when the term without
    # it is empty or is part of an earlier term, by dummies for all levels (2) otherwise
    codes = {}
    for i, lab in enumerate(labels):
        codes[lab] = {}
        for v in variables[lab]:
            rest = set(variables[lab]) - {v}
            early = any(rest <= set(variables[b]) for b in labels[:i])
            codes[lab][v] = 1 if (not rest or early) else 2
    return TermMap(labels, cols, intercept, variables, kind, levels, order, codes)


def _squash(expr: str) -> str:
    return re.sub(r"\s+", "", expr).replace("**", "^")


def _is_name_char(c: str) -> bool:
    return bool(c) and (c.isalnum() or c in "._")


def _first_position(var: str, text: str) -> int:
    """Where a variable (a name or a call such as log(x)) first appears in the formula's text."""
    v = _squash(var)
    for m in re.finditer(re.escape(v), text):
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if not _is_name_char(before) and not _is_name_char(after):
            return m.start()
    return len(text)


def containment(tm: TermMap) -> dict[str, list[str]]:
    """For each term, the terms that contain it (lmerTest's rule).

    As lmerTest, a term's variables are those coded by contrasts in R's ``factors`` attribute, so
    that e.g. in ``a + x:b`` the term ``x:b`` (both variables coded 2) counts as contained in ``a``.
    """
    def vars_(t):
        return {v for v in tm.variables[t] if tm.codes[t][v] == 1}

    def nums(t):
        return {v for v in vars_(t) if tm.kind[v] == "numeric"}

    return {a: [b for b in tm.labels if vars_(a) <= vars_(b) and vars_(b) - vars_(a) and nums(a) == nums(b)]
            for a in tm.labels}


@dataclass
class RDesign:
    """lme4's X as R's model.matrix builds it (R's coding and names, aliased columns dropped), with
    ``to_ours`` mapping its coefficients to ours: beta_R = to_ours @ beta."""

    X: np.ndarray
    names: list[str]
    cols: dict[str, list[int]]
    to_ours: np.ndarray


def _variable_columns(m, tm: TermMap, var: str, coding: int):
    """Columns and (formulaic-style) names of one variable inside a term."""
    from ..design.matrix import model_matrix

    data = m.frame.data
    if tm.kind[var] == "factor" and var in data.columns:
        levs = tm.levels[var] if coding == 2 else tm.levels[var][1:]
        vals = data[var]
        return [np.asarray(vals == lev, dtype=float) for lev in levs], [f"{var}[{lev}]" for lev in levs]
    # numeric variables and calls (log(x), poly(x, 2), C(f)): formulaic evaluates them as in the fit
    Xv, _, spec = model_matrix(f"0 + {var}", data, f"the variable {var}")
    names = [str(c) for c in spec.column_names] if spec is not None else [var] * Xv.shape[1]
    first = 1 if (tm.kind[var] == "factor" and coding == 1) else 0     # a factor call by contrasts
    return [Xv[:, k] for k in range(first, Xv.shape[1])], names[first:]


def _product_columns(parts, n: int):
    """Row-wise products of the variables' columns, the first variable varying fastest (R's order)."""
    from ..design.matrix import r_column_name

    cols, names = [], []
    for combo in itertools.product(*[range(len(c)) for c, _ in reversed(parts)]):
        idx = list(reversed(combo))
        col = np.ones(n)
        for (cs, _), k in zip(parts, idx):
            col = col * cs[k]
        cols.append(col)
        names.append(r_column_name(":".join(nm[k] for (_, nm), k in zip(parts, idx))))
    return cols, names


def r_design(m, tm: TermMap) -> RDesign:
    """R's coding of the fixed part. It equals ours (to_ours = I) except where a factor's margin is
    missing from the formula (``a:b`` without ``a``): R then codes it by dummies and lme4 drops the
    aliased columns, where formulaic finds a full-rank coding of the same column space."""
    X = np.asarray(m.fixed.X, dtype=float)
    n = X.shape[0]
    cols_all, names_all, term_of = [], [], []
    if tm.intercept:
        cols_all.append(np.ones(n))
        names_all.append("(Intercept)")
        term_of.append(None)
    codes = {lab: dict(c) for lab, c in tm.codes.items()}
    if not tm.intercept:
        # model.matrix codes the first factor of a model without intercept by dummies for all levels
        first = next(((lab, v) for lab in tm.labels for v in tm.variables[lab] if tm.kind[v] == "factor"), None)
        if first:
            codes[first[0]][first[1]] = 2
    for lab in tm.labels:
        parts = [_variable_columns(m, tm, v, codes[lab][v] if tm.kind[v] == "factor" else 1)
                 for v in tm.variables[lab]]
        cs, nm = _product_columns(parts, n)
        cols_all += cs
        names_all += nm
        term_of += [lab] * len(cs)
    XR = np.column_stack(cols_all) if cols_all else np.zeros((n, 0))
    if XR.shape == X.shape and names_all == list(m.fixed.names) and np.allclose(XR, X):
        cols = {lab: list(tm.cols[lab]) for lab in tm.labels}
        return RDesign(X, names_all, cols, np.eye(X.shape[1]))
    from ..design.fixed import independent_columns

    keep = independent_columns(XR)
    XR = XR[:, keep]
    names = [names_all[j] for j in keep]
    cols = {lab: [i for i, j in enumerate(keep) if term_of[j] == lab] for lab in tm.labels}
    to_ours, *_ = np.linalg.lstsq(XR, X, rcond=None)
    return RDesign(XR, names, cols, to_ours)


# ---------------------------------------------------------------------------- hypothesis matrices
def doolittle(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """LU factorization x = L U without pivoting (L unit lower), entries below eps set to 0 (lmerTest)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = x[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


def _type1(D: RDesign, tm: TermMap) -> dict[str, np.ndarray]:
    X = D.X
    p = X.shape[1]
    if p == 0 or (p == 1 and tm.intercept):
        return {lab: np.zeros((0, p)) for lab in tm.labels}
    Lt = np.ones((1, 1)) if p == 1 else doolittle(X.T @ X)[0].T
    return {lab: Lt[D.cols[lab], :] for lab in tm.labels}


def _type2(D: RDesign, tm: TermMap) -> dict[str, np.ndarray]:
    X = D.X
    p = X.shape[1]
    if p <= 1 or len(tm.labels) <= 1:
        return _type1(D, tm)
    cont = containment(tm)
    I = np.eye(p)
    out = {t: I[D.cols[t], :] for t in tm.labels if not cont[t]}     # marginal
    for term in (t for t in tm.labels if cont[t]):
        last = [j for t in [term] + cont[term] for j in D.cols[t]]
        first = [j for j in range(p) if j not in set(last)]
        perm = first + last
        Lc = doolittle(X[:, perm].T @ X[:, perm])[0].T
        rows = [k for k, j in enumerate(perm) if j in set(D.cols[term])]
        L = np.zeros((len(rows), p))
        L[:, perm] = Lc[rows, :]
        out[term] = L
    return {t: out[t] for t in tm.labels}


def _resid(Xc: np.ndarray, Y: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Residuals of the least-squares fit of the columns of Y on the columns of Xc (R's lm.fit)."""
    if Xc.shape[1] == 0:
        return Y
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    keep = s > tol * (s[0] if s.size else 0.0)
    Uk = U[:, keep]
    return Y - Uk @ (Uk.T @ Y)


def _type3(m, D: RDesign, tm: TermMap) -> dict[str, np.ndarray]:
    X = D.X
    p = X.shape[1]
    if p <= 1 or len(tm.labels) <= 1:
        return _type1(D, tm)
    n = X.shape[0]
    # the "cell means" of every term: model.matrix(~ 0 + term), all factors by dummies
    blocks, rd_names = [], []
    if tm.intercept:
        blocks.append(np.ones((n, 1)))
        rd_names.append("(Intercept)")
    for lab in tm.labels:
        parts = [_variable_columns(m, tm, v, 2) for v in tm.variables[lab]]
        cs, nm = _product_columns(parts, n)
        blocks.append(np.column_stack(cs) if cs else np.zeros((n, 0)))
        rd_names += nm
    rdX = np.column_stack(blocks)
    coef, *_ = np.linalg.lstsq(X, rdX, rcond=None)          # ginv(X) rdX
    L = zapsmall(coef.T)                                    # rows: cell columns; columns: X's
    cont = containment(tm)
    for term in sorted(tm.labels, key=lambda t: -tm.order[t]):   # stable: highest order first
        if cont[term] and D.cols[term]:
            others = [j for t in cont[term] for j in D.cols[t]]
            L[:, D.cols[term]] = zapsmall(_resid(L[:, others], L[:, D.cols[term]]))
    # lmerTest keeps the rows named as X's columns, in X's order
    pos = {nm: i for i, nm in enumerate(rd_names)}
    Lsel = np.zeros((p, p))
    for j, nm in enumerate(D.names):
        if nm in pos:
            Lsel[j] = L[pos[nm]]
    out = {}
    for lab in tm.labels:
        H = Lsel[:, D.cols[lab]].T
        out[lab] = H[np.sum(np.abs(H), axis=1) > 1e-8]
    return out


def hypotheses(m, type=3) -> dict[str, np.ndarray]:
    """The hypothesis matrix L_t (rows: contrasts of our beta) of every fixed-effect term."""
    tm = term_map(m)
    return _hypotheses(m, _type(type), tm, r_design(m, tm))


def _hypotheses(m, t: int, tm: TermMap, D: RDesign) -> dict[str, np.ndarray]:
    if t == 1:
        H = _type1(D, tm)
    elif t == 2:
        H = _type2(D, tm)
    else:
        H = _type3(m, D, tm)
    return {lab: L @ D.to_ours for lab, L in H.items()}


# ---------------------------------------------------------------------------- the table
def _row_satterthwaite(m, L: np.ndarray):
    from .satterthwaite import f_test

    r = f_test(m._varpar, L, m.beta)
    F, ndf, ddf = r["F"], r["NumDF"], r["DenDF"]
    ms = F * m.sigma ** 2
    return [ms * ndf, ms, ndf, ddf, F, float(f_sf(F, ndf, ddf))]


def _row_kr(m, L: np.ndarray):
    from .kenward_roger import kr_f_test, kr_info

    r = kr_f_test(kr_info(m), L)
    ms = r["FU"] * m.sigma ** 2
    return [ms * r["NumDF"], ms, r["NumDF"], r["DenDF"], r["F"], r["p"]]


def anova_table(m, type=3, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lmerTest's anova(m, type, ddf): one F test per fixed-effect term.

    Columns ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``; index = R's term labels.
    ``ddf="lme4"`` gives lme4's sequential table (``npar, Sum Sq, Mean Sq, F value``).
    """
    from .ddf import normalize_ddf

    ddf = normalize_ddf(ddf)
    t = _type(type)
    if ddf == "lme4":
        return _lme4_table(m)
    tm = term_map(m)
    D = r_design(m, tm)
    rows, index, missing = [], [], []
    p = D.X.shape[1]
    if p == 0 or (p == 1 and tm.intercept):       # nothing to test beyond the intercept
        return pd.DataFrame([], index=pd.Index([], dtype=object), columns=COLUMNS, dtype=float)
    Ls = _hypotheses(m, t, tm, D)
    row = _row_kr if ddf == "Kenward-Roger" else _row_satterthwaite
    for lab in tm.labels:
        L = Ls[lab]
        if L.shape[0] == 0:
            missing.append(lab)          # nothing left to test (aliased): lmerTest lists it last, NA
            continue
        rows.append(row(m, L))
        index.append(lab)
    for lab in missing:
        rows.append([np.nan] * 6)
        index.append(lab)
    from ..report.anova_table import AnovaTable  # prints as R prints it

    out = AnovaTable(rows, index=index, columns=COLUMNS, dtype=float)
    out.heading = [f"Type {'I' * t if t < 4 else t} Analysis of Variance Table with {ddf}'s method"]
    out.attrs["heading"] = out.heading[0]
    return out


def _lme4_table(m) -> pd.DataFrame:
    """lme4's anova() of one model: sequential sums of squares from R_X beta, no df, no p."""
    tm = term_map(m)
    V = m.vcov.to_numpy() / m.sigma ** 2           # (R_X'R_X)^-1
    RX = np.linalg.cholesky(np.linalg.inv(V)).T    # upper triangular, R_X'R_X = V^-1
    eff = RX @ m.beta
    rows, index = [], []
    for lab in tm.labels:
        c = tm.cols[lab]
        if not c:
            continue
        ss = float(np.sum(eff[c] ** 2))
        ms = ss / len(c)
        rows.append([len(c), ss, ms, ms / m.sigma ** 2])
        index.append(lab)
    return pd.DataFrame(rows, index=index, columns=["npar", "Sum Sq", "Mean Sq", "F value"], dtype=float)


def wald_chisq_table(m, type=3) -> pd.DataFrame:
    r"""Wald chi-square tests of the fixed-effect terms (car's ``Anova(m, type = 3)`` for a GLMM).

    For each term's hypothesis matrix ``L`` (the rows of :func:`hypotheses`, R's contrasts),

        Chisq = (L beta)' (L V L')^-1 (L beta),   Df = rank(L),   Pr(>Chisq) = P(chi2_Df > Chisq)

    with ``V = vcov(beta)``: no denominator degrees of freedom, as for any model whose scale is
    known (or estimated with the fit), which is what car and emmeans use for lme4's glmer fits.

    Parameters
    ----------
    m : fitted model
        With ``beta``, ``vcov`` and the fixed-effects design (a GLMM fit).
    type : {1, 2, 3}
        The hypotheses' type (3 by default, as car's ``type = 3``).

    Returns
    -------
    AnovaTable
        Columns ``Chisq, Df, Pr(>Chisq)``, index = R's term labels (the intercept first for type
        3, as car lists it).
    """
    t = _type(type)
    tm = term_map(m)
    D = r_design(m, tm)
    beta = np.asarray(m.beta, dtype=float)
    V = np.asarray(m.vcov, dtype=float)
    Ls = _hypotheses(m, t, tm, D)
    rows, index = [], []
    labels = (["(Intercept)"] if t == 3 and tm.intercept else []) + list(tm.labels)
    for lab in labels:
        if lab == "(Intercept)":
            L = np.zeros((1, len(beta)))
            L[0, list(m.fixed.names).index("(Intercept)")] = 1.0
        else:
            L = Ls[lab]
        if L.shape[0] == 0:
            rows.append([np.nan, np.nan, np.nan])
        else:
            Lb = L @ beta
            chisq = float(Lb @ np.linalg.solve(L @ V @ L.T, Lb))
            df = int(np.linalg.matrix_rank(L))
            rows.append([chisq, df, float(chi2_sf(chisq, df))])
        index.append(lab)
    from ..report.anova_table import AnovaTable

    out = AnovaTable(rows, index=index, columns=["Chisq", "Df", "Pr(>Chisq)"], dtype=float)
    out.heading = [f"Analysis of Deviance Table (Type {'I' * t} Wald chisquare tests)", "",
                   f"Response: {m.parsed.response}" if hasattr(m, "parsed") else ""]
    out.attrs["heading"] = out.heading[0]
    return out
