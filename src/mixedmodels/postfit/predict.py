r"""Predictions from a fitted mixed model, as lme4's ``predict.merMod``, with standard errors and intervals.

For a row with fixed-effects row ``x`` and, for each random-effects term ``k`` kept by ``re_form``,
the term's row ``z_k`` and level ``j``:

    eta = x' beta + offset + sum_k z_k' b_k[j]

``re_form=None`` keeps every term (lme4's default), ``re_form="~0"`` (or ``"NA"``, NaN) none, and a
formula such as ``"~(1|Subject)"`` the terms it names. A level not seen in the fit contributes 0
(the population value of that term) when ``allow_new_levels=True`` and is an error otherwise.

Standard errors (an addition to lme4, which has none). Conditional on theta, Henderson's mixed-model
equations give the covariance of the prediction errors of ``(beta, u)``: ``sigma^2 C^{-1}`` with
``C = [[L'Z'ZL + I, L'Z'X], [X'ZL, X'X]]`` (``L`` = Lambda). Hence, with
``w = [Lambda' z; x]`` (the kept terms at levels seen in the fit),

    se^2 = sigma^2 w' C^{-1} w

which is ``x' vcov(beta) x`` for population-level predictions. Intervals:

* ``interval="confidence"``: ``fit +- q se``; ``q`` is Student's t with Satterthwaite's df for rows
  predicted at the population level (as lmerTest/emmeans test ``x' beta``), the normal quantile
  for rows that include conditional modes (no df theory exists for those).
* ``interval="prediction"``: a new observation ``y = eta + (effects not conditioned on) + e``:
  ``fit +- z sqrt(se^2 + sigma^2 + sum_k z_k' Sigma_k z_k)``, the sum over terms dropped by
  ``re_form`` or at new levels (their variance enters because their value is unknown), ``z`` the
  normal quantile. Both are conditional on the estimated variance parameters.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, t_ppf
from ..design.columns import r_label as _label, variables_in

from ..design.matrix import evaluate_numeric, r_column_name
from ..design.newdata import spec_model_matrix
from ..arguments import check_level
from ..errors import ArgumentError, DataError, FormulaError

__all__ = ["predict", "parse_re_form", "NewDesign", "new_design"]


# ---------------------------------------------------------------------------------------------- re_form

def _is_na_like(x) -> bool:
    if x is None:
        return False
    if isinstance(x, float) and math.isnan(x):
        return True
    try:
        if x is pd.NA or x is pd.NaT:
            return True
    except Exception:  # pragma: no cover - old pandas
        pass
    return False


def _term_key(expr: str) -> frozenset:
    """The columns a term's formula generates, as a set of term names ('1', 'Days', 'x:z')."""
    from formulaic import Formula

    from ..design.matrix import formulaic_text as _to_python

    try:
        return frozenset(str(t) for t in Formula(_to_python(expr)))
    except Exception:  # keep odd expressions comparable as text
        return frozenset([" ".join(expr.split())])


def parse_re_form(m, re_form) -> list[int]:
    """Indices (into ``m.terms``) of the random-effects terms that ``re_form`` keeps."""
    n = len(m.terms)
    if re_form is None:
        return list(range(n))
    if _is_na_like(re_form):
        return []
    if not isinstance(re_form, str):
        raise ArgumentError(f"re_form must be None, a formula string such as '~(1|Subject)', or '~0'; "
                            f"got {re_form!r}")
    text = " ".join(re_form.split())
    rhs = text.split("~", 1)[1].strip() if "~" in text else text
    if rhs in ("0", "NA", "-1", "0 + 0", "") or rhs.upper() == "NA":
        return []
    from ..formula.parse import parse_formula

    try:
        parsed = parse_formula("y__ ~ " + rhs)
    except FormulaError as e:
        raise ArgumentError(f"cannot read re_form {re_form!r}: {e}") from None
    if parsed.fixed.replace(" ", "") not in ("1", "0", "1-1"):
        raise ArgumentError(f"re_form {re_form!r} may only name random-effects terms such as (1|Subject); "
                            f"found fixed terms '{parsed.fixed}'")
    keep = []
    for rt in parsed.random:
        key = _term_key(rt.expr)
        hits = [i for i, t in enumerate(m.terms)
                if tuple(t.term.factors) == tuple(rt.factors) and _term_key(t.term.expr) == key]
        if not hits:
            have = ", ".join(str(t.term) for t in m.terms)
            raise ArgumentError(f"re_form names the term {rt}, which is not in the model; the model's "
                                f"random-effects terms are {have}")
        keep.extend(i for i in hits if i not in keep)
    return sorted(keep)


# ---------------------------------------------------------------------------------------------- new data

class NewDesign:
    """The model's matrices evaluated on new data.

    ``X`` (n x p, NaN rows where a fixed-part variable is missing), ``offset`` (n), and for each kept
    term ``zs[k]`` (n x p_k) and ``codes[k]`` (level index, -1 for a new level or a missing group).
    """

    def __init__(self, X, offset, keep, zs, codes, index, data=None):
        self.data = data          # the new data frame (None: the rows of the fit)
        self.X = X
        self.offset = offset
        self.keep = keep
        self.zs = zs
        self.codes = codes
        self.index = index

    @property
    def n(self) -> int:
        return self.X.shape[0]


def newdata_frame(newdata) -> pd.DataFrame:
    """newdata as a pandas DataFrame, by the converter of the model data (polars without pyarrow)."""
    try:
        from ..design.columns import as_pandas as _as_pandas
    except ImportError:  # pragma: no cover - before the shared converter
        _as_pandas = None
    if _as_pandas is not None:
        return _as_pandas(newdata, "newdata")
    if isinstance(newdata, pd.DataFrame):
        return newdata
    if hasattr(newdata, "to_pandas"):
        return newdata.to_pandas()
    if isinstance(newdata, dict):
        return pd.DataFrame(newdata)
    raise DataError(f"newdata must be a pandas or polars DataFrame, got {type(newdata).__name__}")


def needed_columns(expr: str, m, nd: pd.DataFrame, what: str) -> list[str]:
    """Columns of the fitting data used by ``expr``; error if newdata lacks one."""
    names = variables_in(expr, m.frame.data.columns)
    missing = [v for v in names if v not in nd.columns]
    if missing:
        raise DataError(f"newdata lacks the column(s) {', '.join(map(repr, missing))} needed for {what}; "
                        f"it has: {', '.join(map(str, nd.columns[:20]))}")
    return names


def numeric_as_fitted(fit_data: pd.DataFrame, nd: pd.DataFrame, names) -> pd.DataFrame:
    """newdata with each variable that was numeric in the fit as numbers.

    Numbers stored as objects (a column of ints and None, say) become floats; strings, booleans
    and categoricals where the fit had numbers are refused with a DataError, as R's ``predict``
    refuses them ("variable 'x' was fitted with type numeric"), before formulaic sees them.
    """
    out = nd
    for v in names:
        if v not in fit_data.columns or v not in nd.columns:
            continue
        fit_col, col = fit_data[v], nd[v]
        if (not pd.api.types.is_numeric_dtype(fit_col) or pd.api.types.is_bool_dtype(fit_col)
                or (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))):
            continue
        if col.dtype == object:
            vals = [x for x in col.tolist() if not pd.api.types.is_scalar(x) or not pd.isna(x)]
            if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))
                   for x in vals):
                if out is nd:
                    out = nd.copy()
                out[v] = np.array([np.nan if (pd.api.types.is_scalar(x) and pd.isna(x)) else float(x)
                                   for x in col.tolist()], dtype=float)
                continue
        vals = col.dropna()
        shown = ", ".join(map(repr, list(pd.unique(vals.astype(object)))[:3]))
        kind = "categorical" if isinstance(col.dtype, pd.CategoricalDtype) else str(col.dtype)
        raise DataError(f"the variable {v!r} was numeric in the fit, but newdata gives {kind} values"
                        f"{' such as ' + shown if shown else ''}; pass numbers for it")
    return out


def _labels(col: pd.Series) -> list:
    """Each value's level label as the fit labelled levels (None for missing)."""
    vals = col.astype(object).to_numpy()
    return [None if (v is None or (not isinstance(v, str) and pd.isna(v))) else _label(v) for v in vals]


def coerce_categoricals(spec, nd: pd.DataFrame) -> pd.DataFrame:
    """Make each factor of the fixed part a categorical with the fit's levels; unseen level -> error."""
    out = nd
    for var, (kind, state) in getattr(spec, "encoder_state", {}).items():
        if getattr(kind, "value", kind) != "categorical" or not isinstance(state, dict):
            continue
        cats = state.get("categories")
        if cats is None or var not in nd.columns:
            continue
        by_label = {}
        for c in cats:
            by_label.setdefault(_label(c), c)
        labels = _labels(nd[var])
        unseen = sorted({lab for lab in labels if lab is not None and lab not in by_label})
        if unseen:
            raise DataError(f"newdata has level(s) {', '.join(map(repr, unseen[:10]))} of the factor {var!r} "
                            f"that the model was not fitted to (its levels: "
                            f"{', '.join(map(str, list(cats)[:20]))}); a fixed effect cannot be predicted "
                            "for a level it was never estimated for")
        mapped = [None if lab is None else by_label[lab] for lab in labels]
        if out is nd:
            out = nd.copy()
        out[var] = pd.Categorical(mapped, categories=list(cats))
    return out


def _evaluate(spec, nd: pd.DataFrame, names: list[str], what: str) -> np.ndarray:
    """spec's model matrix on nd with R's column names, columns ordered as ``names``."""
    mm = spec_model_matrix(spec, nd, f"{what} on newdata")
    cols = [r_column_name(str(c)) for c in mm.columns]
    A = np.asarray(mm, dtype=float)
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    if A.shape[0] != len(nd):  # e.g. an intercept-only spec on some formulaic versions
        A = np.broadcast_to(A[:1], (len(nd), A.shape[1])).copy() if A.shape[0] == 1 else A
    pos = {c: j for j, c in enumerate(cols)}
    missing = [c for c in names if c not in pos]
    if missing:
        raise DataError(f"{what} on newdata lacks the column(s) {missing}; newdata gives {cols}")
    return A[:, [pos[c] for c in names]]


def new_design(m, newdata, keep: list[int], allow_new_levels: bool = False) -> NewDesign:
    """Evaluate the fixed part, the offsets and the kept random-effects terms on ``newdata``."""
    nd = newdata_frame(newdata)
    n = len(nd)
    parsed = m.parsed
    fvars = needed_columns(parsed.fixed, m, nd, "the fixed effects")
    used = " + ".join([parsed.fixed, *(t.term.expr for t in m.terms)])
    nd = numeric_as_fitted(m.frame.data, nd, variables_in(used, m.frame.data.columns))
    nd_fixed = coerce_categoricals(m.fixed.spec, nd)
    X = _evaluate(m.fixed.spec, nd_fixed, list(m.fixed.names), "the fixed-effects model matrix")
    bad = np.zeros(n, dtype=bool)
    for v in fvars:
        bad |= pd.isna(nd[v]).to_numpy()
    offset = np.zeros(n)
    for expr in parsed.offsets:
        ovars = needed_columns(expr, m, nd, f"the offset {expr}")
        for v in ovars:
            bad |= pd.isna(nd[v]).to_numpy()
        offset = offset + evaluate_numeric(expr, nd, "the offset")
    X = X.copy()
    X[bad] = np.nan
    offset[bad] = np.nan
    zs, codes = [], []
    for k in keep:
        t = m.terms[k]
        needed_columns(t.term.expr, m, nd, f"the random-effects term {t.term}")
        missing_f = [f for f in t.term.factors if f not in nd.columns]
        if missing_f:
            raise DataError(f"newdata lacks the grouping factor column(s) {missing_f} of the term {t.term}; "
                            "add them, or predict at the population level with re_form='~0'")
        zvars = variables_in(t.term.expr, m.frame.data.columns)
        z = _evaluate(t.spec, coerce_categoricals(t.spec, nd), list(t.cnames), f"the term {t.term}").copy()
        zbad = np.zeros(n, dtype=bool)
        for v in zvars:
            zbad |= pd.isna(nd[v]).to_numpy()
        z[zbad] = np.nan
        labs = [_labels(nd[f]) for f in t.term.factors]
        pos = {lab: i for i, lab in enumerate(t.levels)}
        code = np.full(n, -1, dtype=np.int64)
        na_rows, new = [], []
        for i in range(n):
            parts = [lab[i] for lab in labs]
            if any(p is None for p in parts):
                na_rows.append(i)
                continue
            j = pos.get(":".join(parts))
            if j is None:
                new.append(":".join(parts))
            else:
                code[i] = j
        if not allow_new_levels:
            if na_rows:
                raise DataError(f"newdata has missing values in the grouping factor {t.group} (rows "
                                f"{', '.join(map(str, nd.index[na_rows[:10]]))}); pass allow_new_levels=True to "
                                "predict those rows at the population level, or drop them")
            if new:
                uniq = list(dict.fromkeys(new))
                raise DataError(f"new level(s) of {t.group} in newdata: {', '.join(map(repr, uniq[:10]))}"
                                f"{' ...' if len(uniq) > 10 else ''}; the model has no random effect for them. "
                                "Pass allow_new_levels=True to predict them at the population level for this term")
        zs.append(z)
        codes.append(code)
    return NewDesign(X, offset, list(keep), zs, codes, nd.index, data=nd)


def _training_design(m, keep: list[int]) -> NewDesign:
    """The design of the rows used in the fit (newdata=None)."""
    n = m.nobs
    off = m.frame.offset
    offset = np.zeros(n) if off is None else np.asarray(off, dtype=float)
    return NewDesign(np.asarray(m.fixed.X, dtype=float), offset, list(keep),
                     [m.terms[k].z for k in keep], [m.terms[k].codes for k in keep], m.frame.data.index)


# ---------------------------------------------------------------------------------------------- predict

def _family(m):
    fam = getattr(m, "family", None)
    if fam is None:
        return None
    name = str(getattr(fam, "name", getattr(fam, "family", fam))).lower()
    link = str(getattr(fam, "link", "identity")).lower()
    if name == "gaussian" and "identity" in link:
        return None
    return fam


def _linkinv(fam):
    for attr in ("linkinv", "inverse_link", "inverse", "mu"):
        f = getattr(fam, attr, None)
        if callable(f):
            return f
    link = getattr(fam, "link", None)
    for attr in ("linkinv", "inverse", "inverse_link"):
        f = getattr(link, attr, None)
        if callable(f):
            return f
    raise ArgumentError("this model's family has no inverse link function; use type='link'")


def predict(m, newdata=None, re_form=None, allow_new_levels: bool = False, se_fit: bool = False,
            interval: str | None = None, level: float = 0.95, type: str = "link", offset=None,
            random_only: bool = False, ddf: str = "Satterthwaite"):
    """Predictions as lme4's ``predict()``; see the module docstring for the formulas.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fitted model. It is never modified, also not by a call that fails: newdata is
        evaluated on private copies of the fit's formulaic specs, whose ``scale()``, ``poly()``
        and ``center()`` replay the values of the fit.
    newdata : pandas.DataFrame, polars.DataFrame or dict, optional
        Rows to predict; None predicts the rows used in the fit.
    re_form : None, str or NaN, optional
        Random-effects terms to include: None all (lme4's default), ``"~0"`` none, or a formula
        such as ``"~(1|Subject)"``.
    allow_new_levels : bool, optional
        Predict a level of a grouping factor not seen in the fit (or a missing one) at the
        population level for that term, instead of raising.
    se_fit : bool, optional
        Return standard errors as well.
    interval : {None, "confidence", "prediction"}, optional
        Add the interval's ``lwr, upr`` columns.
    level : float, optional
        Confidence level of the interval, between 0 and 1.
    type : {"link", "response"}, optional
        The scale of GLMM predictions (lme4's default: "link"); ignored for lmer fits.
    offset : array_like, optional
        Added to the linear predictor for newdata (like lme4, the ``offset=`` of the fit is not
        carried to newdata; offsets written in the formula are).
    random_only : bool, optional
        Return the random part of the linear predictor only.
    ddf : str, optional
        ``"none"`` uses normal quantiles for population-level confidence intervals too (default:
        Satterthwaite's t).

    Returns
    -------
    pandas.Series or pandas.DataFrame
        A Series indexed like ``newdata`` (like the rows of the fit when newdata is None); with
        ``se_fit=True`` or ``interval``, a DataFrame with columns ``fit, se`` (and ``lwr, upr``).

    Raises
    ------
    DataError
        When newdata lacks a variable, has a level of a fixed-effects factor that the fit never
        saw, a non-number for a numeric variable, or (without ``allow_new_levels``) a new or
        missing level of a grouping factor.
    ArgumentError
        For a bad ``re_form``, ``type``, ``interval`` or ``level``.
    """
    if type not in ("link", "response"):
        raise ArgumentError(f"type must be 'link' or 'response', got {type!r}")
    if interval is not None and interval not in ("confidence", "prediction"):
        raise ArgumentError(f"interval must be None, 'confidence' or 'prediction', got {interval!r}")
    level = check_level(level)
    fam = _family(m)
    if fam is not None and interval == "prediction":
        raise ArgumentError("prediction intervals are only defined here for Gaussian (lmer) models; "
                            "use interval='confidence' or simulate()")
    keep = parse_re_form(m, re_form)
    if newdata is None:
        d = _training_design(m, keep)
    else:
        d = new_design(m, newdata, keep, allow_new_levels)
    beta = np.asarray(m.fixef, dtype=float)
    eta = np.zeros(d.n)
    if not random_only:
        eta = d.X @ beta + d.offset
        if offset is not None:
            o = np.asarray(offset, dtype=float).ravel()
            if o.size not in (1, d.n):
                raise DataError(f"offset has {o.size} values for {d.n} rows of newdata")
            eta = eta + o
    for k, z, code in zip(d.keep, d.zs, d.codes):
        b = m.b[k]
        known = code >= 0
        contrib = np.zeros(d.n)
        contrib[known] = np.einsum("ij,ij->i", z[known], b[code[known]])
        contrib[~known & np.isnan(z).any(axis=1)] = np.nan
        eta = eta + contrib
    name = "fit"
    if not se_fit and interval is None:
        out = eta
        if fam is not None and type == "response":
            out = np.asarray(_linkinv(fam)(eta), dtype=float)
        return pd.Series(out, index=d.index, name=name)
    return _with_se(m, d, eta, fam, type, interval, level, random_only, ddf)


def _with_se(m, d: NewDesign, eta, fam, type_, interval, level, random_only, ddf):
    if random_only:
        raise ArgumentError("se_fit and intervals are not available with random_only=True")
    var_fit, pop_rows, unconditioned = _fit_variance(m, d, need_unconditioned=interval == "prediction")
    se = np.sqrt(np.maximum(var_fit, 0.0))
    se[np.isnan(eta)] = np.nan
    cols = {"fit": eta, "se": se}
    if interval is not None:
        alpha = 1.0 - float(level)
        zq = norm_ppf(1 - alpha / 2)
        if interval == "confidence":
            q = np.full(d.n, zq)
            if fam is None and str(ddf).lower() not in ("none", "lme4", "z", "asymptotic") and pop_rows.any():
                df = _satterthwaite_df(m, d.X[pop_rows])
                q[pop_rows] = t_ppf(1 - alpha / 2, df)
            half = q * se
        else:
            sd = np.sqrt(np.maximum(var_fit + float(m.sigma) ** 2 + unconditioned, 0.0))
            half = zq * sd
        cols["lwr"] = eta - half
        cols["upr"] = eta + half
    if fam is not None and type_ == "response":
        inv = _linkinv(fam)
        mu = np.asarray(inv(eta), dtype=float)
        h = 1e-6 * np.maximum(1.0, np.abs(eta))
        dmu = (np.asarray(inv(eta + h), dtype=float) - np.asarray(inv(eta - h), dtype=float)) / (2 * h)
        cols["fit"] = mu
        cols["se"] = se * np.abs(dmu)  # delta method
        if interval is not None:
            lo, hi = np.asarray(inv(cols["lwr"]), dtype=float), np.asarray(inv(cols["upr"]), dtype=float)
            cols["lwr"], cols["upr"] = np.minimum(lo, hi), np.maximum(lo, hi)
    return pd.DataFrame(cols, index=d.index)


def _fit_variance(m, d: NewDesign, need_unconditioned: bool):
    """Prediction-error variance of each row's fit; which rows are population-level; and the
    variance of the random effects the prediction does not condition on."""
    n = d.n
    X = np.nan_to_num(d.X)
    zs_known, codes_known = [], []
    pop_rows = np.ones(n, dtype=bool)
    for z, code in zip(d.zs, d.codes):
        known = code >= 0
        pop_rows &= ~known
        zs_known.append(np.nan_to_num(z) * known[:, None])
        codes_known.append(np.where(known, code, 0))
    if not d.keep or not (~pop_rows).any():
        V = np.asarray(m.vcov, dtype=float)
        var_fit = np.einsum("ij,jk,ik->i", X, V, X)
    else:
        if not hasattr(m, "core") or _family(m) is not None:
            raise ArgumentError("standard errors of predictions that include random effects are only "
                                "available for lmer models; use re_form='~0' for population-level ones")
        from .leverage import penalized_quadform

        full_z = [np.zeros((n, t.p)) for t in m.terms]
        full_c = [np.zeros(n, dtype=np.int64) for _ in m.terms]
        for k, z, c in zip(d.keep, zs_known, codes_known):
            full_z[k], full_c[k] = z, c
        var_fit = float(m.sigma) ** 2 * penalized_quadform(m, X, full_z, full_c)
    unconditioned = np.zeros(n)
    if need_unconditioned:
        kept = dict(zip(d.keep, d.codes))
        s2 = float(m.sigma) ** 2
        for k, t in enumerate(m.terms):
            Sigma = s2 * (m.templates[k] @ m.templates[k].T)
            if k in kept:
                rows = kept[k] < 0
                z = d.zs[d.keep.index(k)]
            else:
                rows = np.ones(n, dtype=bool)
                z = _term_rows(m, d, k)
            zr = np.nan_to_num(z[rows])
            unconditioned[rows] += np.einsum("ij,jk,ik->i", zr, Sigma, zr)
    return var_fit, pop_rows, unconditioned


def _term_rows(m, d: NewDesign, k: int) -> np.ndarray:
    """Term k's own model-matrix rows for the rows of d (for a term that re_form dropped)."""
    t = m.terms[k]
    if d.data is None:
        return t.z
    needed_columns(t.term.expr, m, d.data, f"the random-effects term {t.term}")
    z = _evaluate(t.spec, coerce_categoricals(t.spec, d.data), list(t.cnames), f"the term {t.term}").copy()
    for v in variables_in(t.term.expr, m.frame.data.columns):
        z[pd.isna(d.data[v]).to_numpy()] = np.nan
    return z


def _satterthwaite_df(m, X: np.ndarray) -> np.ndarray:
    """Satterthwaite df of x' beta for each row x (lmerTest's formula, vectorized)."""
    info = getattr(m, "_varpar", None)
    if info is None:
        return np.full(X.shape[0], np.inf)
    X = np.nan_to_num(X)
    v = np.einsum("ij,jk,ik->i", X, info.vcov, X)
    g = np.einsum("ni,ijk,nj->nk", X, info.J, X)
    denom = np.einsum("nk,kl,nl->n", g, info.A, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denom > 0, 2.0 * v * v / denom, np.inf)
    return df
