"""R's coding of factors in a model matrix, where it differs from formulaic's.

formulaic finds a full-rank coding of its own; R's ``model.matrix`` codes a factor by contrasts or
by dummies for all levels following the terms (Chambers & Hastie 1992, ch. 5), and an ordered
factor by polynomial contrasts (``contr.poly``). Here formulaic's coding by dummies for all levels
is recoded as R codes it, and :class:`RCodedSpec` replays that coding on new data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..formula import evaluate as evaluator
from .columns import logicals_as_factors, variables_in
from .matrix import LazySpec, formulaic_text, model_matrix, quiet, r_column_name, split_colon

__all__ = ["fixed_matrix", "contr_poly", "RCodedSpec"]


def fixed_matrix(expr: str, data: pd.DataFrame, what: str):
    """formulaic's matrix of ``expr`` recoded as R's ``model.matrix`` codes it.

    Parameters
    ----------
    expr : str
        R's text of the fixed part (interactions in R's order, :func:`r_term_order`).
    data : pandas.DataFrame
        The model frame's data.
    what : str
        How error messages name the matrix.

    Returns
    -------
    tuple
        (n x p float array, R's column names, spec for new data: formulaic's ModelSpec, or an
        :class:`RCodedSpec` where R's coding differs from formulaic's, :func:`_r_coding`).
    """
    used = variables_in(expr, data.columns)
    if len(used) < data.shape[1] and len(set(data.columns)) == data.shape[1]:
        # only the formula's columns: logicals_as_factors converts every integer column it is given
        data = data.loc[:, used]
    X, names, spec = model_matrix(expr, data, what)
    if isinstance(spec, LazySpec):      # additive plain columns: R's coding is formulaic's
        return X, names, spec
    coded = _r_coding(expr, data, spec, names)
    if coded is not None:
        X, names, spec = coded
    return X, names, spec


def contr_poly(k: int) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts on the scores 1..k, and R's names.

    Parameters
    ----------
    k : int
        Number of levels, at least 2.

    Returns
    -------
    numpy.ndarray
        k x (k-1) matrix; column j is the degree-(j+1) polynomial, orthogonal to the lower ones
        and to the constant, of unit length, signed as R signs it.
    list of str
        ``[".L", ".Q", ".C", "^4", "^5", ...]``.
    """
    x = np.arange(1, k + 1, dtype=float)
    V = np.vander(x - x.mean(), k, increasing=True)
    Q, R = np.linalg.qr(V)
    # R's make.poly: qr.qy(QR, diag(R)) normalised, i.e. each Q column times the sign of R's diagonal
    Z = Q * np.sign(np.diag(R))
    names = [".L", ".Q", ".C"][: k - 1] + [f"^{d}" for d in range(4, k)]
    return Z[:, 1:], names


def _r_factor_codes(terms: list[list[str]], categorical: set, intercept: bool) -> list[dict]:
    """R's ``attr(terms, "factors")`` coding of each factor in each term: 1 by contrasts, 2 by
    dummies for all levels. A variable is coded by contrasts when the term without it is empty or
    lies within an earlier term; without an intercept, model.matrix codes the first factor of the
    first term that has one by dummies (Chambers & Hastie 1992, ch. 5)."""
    codes = []
    for j, t in enumerate(terms):
        c = {}
        for v in t:
            rest = set(t) - {v}
            c[v] = 1 if (not rest or any(rest <= set(b) for b in terms[:j])) else 2
        codes.append(c)
    if not intercept:
        for j, t in enumerate(terms):
            first = next((v for v in t if v in categorical), None)
            if first is not None:
                codes[j][first] = 2
                break
    return codes


def _r_coding(expr: str, data: pd.DataFrame, spec, names: list[str]):
    """X coded as R's model.matrix codes it, where that differs from formulaic's full-rank coding
    (a factor whose margin is missing from the formula: ``f:g``, ``0 + x + x:f``); None where the
    two agree or where the formula is beyond this (non-treatment contrasts, a one-level factor).

    Built from formulaic's coding by dummies for all levels, leaving out each contrast-coded
    factor's first level; lme4 then drops the columns that depend on earlier ones."""
    try:
        from formulaic import model_matrix as mm_

        enc = spec.encoder_state
    except Exception:
        return None
    terms, intercept = _term_factors(spec)
    cats = _treatment_factors(terms, enc)
    if not cats:  # None (beyond this) or no factor at all: formulaic's coding is R's
        return None
    # ordered factors get R's polynomial contrasts (contr.poly), formulaic's coding never does
    ordered = {v for v in cats if v in data.columns and isinstance(data[v].dtype, pd.CategoricalDtype)
               and data[v].cat.ordered}
    codes = _r_factor_codes(terms, set(cats), intercept)
    try:
        with quiet():
            full = mm_(formulaic_text(expr, data.columns), logicals_as_factors(data), context=evaluator.context(),
                       na_action="ignore",
                       ensure_full_rank=False)
    except Exception:
        return None
    fspec = full.model_spec
    fterms, fintercept = _term_factors(fspec)
    if fterms != terms or fintercept != intercept:
        return None
    keep = _kept_columns(terms, codes, cats, ordered, fspec, intercept)
    if keep is None:
        return None
    rnames = [r_column_name(col) for col in keep]
    if (rnames == list(names) and not ordered) or len(set(rnames)) != len(rnames):
        return None
    out = _combined(full, keep, len(data))
    return None if out is None else (out, rnames, RCodedSpec(fspec, keep))


def _term_factors(spec) -> tuple[list[list[str]], bool]:
    """(the factors of each term but the intercept, whether there is an intercept) of a spec."""
    terms, intercept = [], False
    for st in spec.structure:
        facs = [str(f.expr) for f in st.term.factors if str(f.expr) != "1"]
        if facs:
            terms.append(facs)
        else:
            intercept = True
    return terms, intercept


def _treatment_factors(terms: list[list[str]], enc: dict) -> dict | None:
    """The levels of each categorical variable of the terms; None when one of them is coded other
    than by formulaic's default treatment contrasts, or has fewer than two levels."""
    try:
        from formulaic.transforms.contrasts import TreatmentContrasts
        from formulaic.utils.sentinels import UNSET
    except ImportError:  # another formulaic: leave its coding as it is
        return None

    cats = {}
    for t in terms:
        for v in t:
            kind, state = enc.get(v, (None, None))
            if getattr(kind, "value", kind) != "categorical":
                continue
            if not isinstance(state, dict):
                return None
            contr = getattr(state.get("contrasts"), "contrasts", None)
            levels = list(state.get("categories") or [])
            if not isinstance(contr, TreatmentContrasts) or contr.base is not UNSET or len(levels) < 2:
                return None
            cats[v] = levels
    return cats


def _kept_columns(terms, codes, cats, ordered, fspec, intercept) -> list | None:
    """The columns of the full coding R keeps (formulaic's names, or :class:`_Combo` for an ordered
    factor's contrasts), term by term; None when formulaic's columns are not as expected."""
    keep: list[str] = ["Intercept"] if intercept else []
    for t, c, st in zip(terms, codes, [st for st in fspec.structure if str(st.term) != "1"]):
        cols = [str(col) for col in st.columns]
        if any(v in ordered and c[v] == 1 for v in t):
            combos = _contrast_columns(t, c, cats, ordered, cols)
            if combos is None:
                return None
            keep += combos
            continue
        drop = set()
        for p, v in enumerate(t):
            if v not in cats or c[v] != 1:
                continue
            ref = f"{v}[{cats[v][0]}]"
            hit = [col for col in cols if len(split_colon(col)) == len(t) and split_colon(col)[p] == ref]
            if len(hit) * len(cats[v]) != len(cols):
                return None  # columns not as expected: leave formulaic's coding
            drop.update(hit)
        keep += [col for col in cols if col not in drop]
    return keep


def _combined(full, keep: list, n: int) -> np.ndarray | None:
    """The kept columns of the full model matrix, a :class:`_Combo` as its weighted sum; None when
    a column is missing or the rows do not match the data's."""
    pos = {str(col): j for j, col in enumerate(full.columns)}
    if any(k not in pos for col in keep for k in (col.weights if isinstance(col, _Combo) else [col])):
        return None
    X = np.asarray(full, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] != n:
        return None
    out = np.empty((X.shape[0], len(keep)))
    for j, col in enumerate(keep):
        if isinstance(col, _Combo):
            out[:, j] = sum(w * X[:, pos[k]] for k, w in col.weights.items())
        else:
            out[:, j] = X[:, pos[col]]
    return out


def _contrast_columns(t: list[str], c: dict, cats: dict, ordered: set, cols: list[str]):
    """The columns of one term with R's coding when it has an ordered factor coded by contrasts:
    for each factor its basis (polynomial contrasts, treatment contrasts, or dummies for all
    levels; a numeric variable is itself), and the term's columns their products, the first factor
    varying fastest as in R. None when formulaic's columns are not as expected."""
    import itertools

    bases = []
    for v in t:
        if v not in cats:
            bases.append([(v, {v: 1.0})])
            continue
        levels = cats[v]
        ind = [(f"{v}[{lev}]", {f"{v}[{lev}]": 1.0}) for lev in levels]
        if c[v] == 2:
            bases.append(ind)
        elif v in ordered:
            P, suffix = contr_poly(len(levels))
            bases.append([(f"{v}{suffix[j]}", {f"{v}[{lev}]": float(P[i, j]) for i, lev in enumerate(levels)})
                          for j in range(P.shape[1])])
        else:
            bases.append(ind[1:])
    have = set(cols)
    out = []
    for combo in itertools.product(*reversed(bases)):
        combo = combo[::-1]  # first factor fastest
        name = ":".join(nm for nm, _ in combo)
        weights = {}
        for parts in itertools.product(*[list(w.items()) for _, w in combo]):
            key = ":".join(k for k, _ in parts)
            if key not in have:
                return None
            w = float(np.prod([x for _, x in parts]))
            if w != 0.0:
                weights[key] = weights.get(key, 0.0) + w
        if len(weights) == 1 and name in weights and weights[name] == 1.0:
            out.append(name)  # an indicator or numeric column: formulaic's own
        else:
            out.append(_Combo(name, weights))
    return out


class RCodedSpec:
    """A formulaic ModelSpec that codes every factor by dummies for all levels, restricted to the
    columns R's ``model.matrix`` keeps: new data get exactly the columns of the fit.

    An entry of ``columns`` is formulaic's name of a column kept as it is, or a :class:`_Combo`:
    a column R forms from several of them (an ordered factor's polynomial contrasts), with its
    weights; so the contrasts of the fit are replayed on new data.
    """

    def __init__(self, inner, columns):
        self.inner = inner
        self.columns = list(columns)  # formulaic's names of the columns kept (or _Combo), in order

    def get_model_matrix(self, data, *args, **kwargs):
        mm = self.inner.get_model_matrix(data, *args, **kwargs)
        pos = {str(c): j for j, c in enumerate(mm.columns)}
        if not any(isinstance(c, _Combo) for c in self.columns):
            idx = [pos[c] for c in self.columns]
            return mm.iloc[:, idx] if hasattr(mm, "iloc") else mm[:, idx]
        A = np.asarray(mm, dtype=float)
        if A.ndim == 1:
            A = A.reshape(-1, 1)
        out = np.empty((A.shape[0], len(self.columns)))
        for j, c in enumerate(self.columns):
            if isinstance(c, _Combo):
                out[:, j] = sum(w * A[:, pos[k]] for k, w in c.weights.items())
            else:
                out[:, j] = A[:, pos[c]]
        index = mm.index if hasattr(mm, "index") else None
        return pd.DataFrame(out, columns=[str(c) for c in self.columns], index=index)

    @property
    def column_names(self) -> tuple:
        return tuple(str(c) for c in self.columns)

    @property
    def structure(self):
        """The inner spec's terms, each with the columns kept for it (anova() groups by these)."""
        out = []
        for st in self.inner.structure:
            own = set(map(str, st.columns))
            cols = [str(c) for c in self.columns
                    if (set(c.weights) <= own if isinstance(c, _Combo) else c in own)]
            out.append(st._replace(columns=cols) if hasattr(st, "_replace") else st)
        return out

    def __getattr__(self, name):  # everything else (encoder_state, ...) is the inner spec's
        if name.startswith("__") or name in ("inner", "columns"):
            raise AttributeError(name)
        return getattr(self.inner, name)


class _Combo(str):
    """A model-matrix column that is a weighted sum of formulaic's columns; its text is its name."""

    def __new__(cls, name: str, weights: dict):
        obj = super().__new__(cls, name)
        obj.weights = dict(weights)
        return obj

    def __reduce__(self):  # pickle and deepcopy keep the weights
        return (_Combo, (str(self), self.weights))
