r"""Estimated marginal means and their pairwise contrasts, as R's emmeans computes them for lmer fits.

The reference grid crosses every level of each factor of the fixed part and puts each numeric
variable at its mean over the rows used. Its model matrix ``X_g`` (the fit's own formula, so that
``log()``, ``poly()``, ``scale()`` are evaluated as in the fit) gives each grid cell's prediction
``X_g beta``. The marginal mean of a level of ``specs`` is the equally weighted average of the cells
with that level: a row ``l`` of ``L``, with estimate ``l beta`` and variance ``l V l'``.

The df are Satterthwaite's (``V`` = vcov(beta)) or Kenward-Roger's (``V`` = the adjusted Phi_A and
pbkrtest's ``Lb_ddf``), row by row. Pairwise contrasts ``l_i - l_j`` are tested with a t ratio;
the Tukey adjustment uses the studentized range for the family of means in each ``by`` group.
Contrast labels follow emmeans: levels that read as numbers get their factor's name
("Product1 - Product2"), several factors are joined with spaces.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, norm_sf, t_ppf, t_sf
from ..arguments import check_level
from ..errors import ArgumentError

__all__ = ["EmmeansResult", "emmeans", "reference_grid"]

_ADJUST = ("tukey", "none", "bonferroni", "holm", "sidak")


@dataclass(frozen=True)
class EmmeansResult:
    """Marginal means (``emmeans``) and, with ``pairwise=True``, their pairwise ``contrasts``.

    What :func:`emmeans` (and ``m.emmeans(...)``) returns; ``str()`` prints both tables with
    emmeans' notes, and ``res["emmeans"]``/``res["contrasts"]`` index it as R's ``emm_list``.

    Attributes
    ----------
    emmeans : pandas.DataFrame
        One row per level (combination) of ``specs`` and ``by``: ``emmean, SE, df, lower.CL,
        upper.CL`` (``asymp.LCL, asymp.UCL`` with asymptotic df; ``prob``/``rate``/``response`` in
        place of ``emmean`` on the response scale).
    contrasts : pandas.DataFrame or None
        With ``pairwise=True``: ``contrast, <by>, estimate, SE, df, t.ratio, p.value``
        (``z.ratio`` with asymptotic df; ``ratio``/``odds.ratio`` on the response scale).
    ddf : str
        The df method: "Satterthwaite", "Kenward-Roger" or "lme4" (asymptotic).
    adjust : str
        The p-value adjustment of the contrasts ("tukey", "none", "bonferroni", "holm", "sidak").
    averaged_over : tuple of str
        The factors of the model the means are averaged over.
    level : float
        The confidence level of the intervals.
    scale : str or None
        A GLMM's link ("logit"): the scale of the means; None for a linear mixed model.
    back_transformed : bool
        Whether the means (and ratios) were back-transformed to the response scale.

    Examples
    --------
    >>> res = gm.emmeans("period")
    >>> res.emmeans.round(3)
      period  emmean     SE   df  asymp.LCL  asymp.UCL
    0      1  -1.398  0.231  inf     -1.851     -0.945
    1      2  -2.390  0.307  inf     -2.993     -1.788
    2      3  -2.527  0.327  inf     -3.168     -1.885
    3      4  -2.978  0.425  inf     -3.811     -2.145
    >>> res.keys(), res.scale, res.ddf
    (['emmeans'], 'logit', 'lme4')
    """

    emmeans: pd.DataFrame
    contrasts: pd.DataFrame | None = None
    ddf: str = "Satterthwaite"
    adjust: str = "tukey"
    averaged_over: tuple = ()
    level: float = 0.95
    scale: str | None = None       # a GLMM's link ("logit"): the means are on that scale
    back_transformed: bool = False  # type="response": means (and ratios) back-transformed

    def __getitem__(self, key: str):
        if key in ("emmeans", "contrasts"):
            return getattr(self, key)
        raise KeyError(key)

    def keys(self):
        """The tables held, as R's ``names(emm_list)``: ``["emmeans"]``, plus ``"contrasts"`` with pairs.

        Returns
        -------
        list of str
            The keys ``res[key]`` accepts.

        Examples
        --------
        >>> gm.emmeans("period", pairwise=True, adjust="none").keys()
        ['emmeans', 'contrasts']
        """
        return ["emmeans", "contrasts"] if self.contrasts is not None else ["emmeans"]

    def __str__(self) -> str:
        out = [self.emmeans.to_string(index=False)]
        if self.averaged_over:
            out.append(f"\nResults are averaged over the levels of: {', '.join(self.averaged_over)}")
        if self.scale is not None and not self.back_transformed:
            out.append(f"Results are given on the {self.scale} (not the response) scale.")
        elif self.scale is None:
            out.append(f"Degrees-of-freedom method: {self.ddf.lower()}")
        out.append(f"Confidence level used: {self.level:g}")
        if self.back_transformed:
            out.append(f"Intervals are back-transformed from the {self.scale} scale")
        if self.contrasts is not None:
            out += ["", self.contrasts.to_string(index=False), f"\nP value adjustment: {self.adjust}"]
            if self.back_transformed:
                out.append("Tests are performed on the " + ("log odds ratio" if self.scale == "logit" else "log")
                           + " scale")
        return "\n".join(out)


def to_response_scale(res: EmmeansResult, family) -> EmmeansResult:
    """emmeans' ``type = "response"`` for a glmer fit: means through the inverse link (SE by the
    delta method, intervals back-transformed); pairwise contrasts of a log or logit link as ratios
    (``ratio`` / ``odds.ratio`` = exp(difference), SE exp(d) SE_d, tested on the link scale)."""
    from dataclasses import replace

    link = str(family.link)
    t = res.emmeans.copy()
    eta, se = t["emmean"].to_numpy(float), t["SE"].to_numpy(float)
    name = "prob" if family.name == "binomial" else ("rate" if link == "log" else "response")
    lo, hi = family.linkinv(t["asymp.LCL"].to_numpy(float)), family.linkinv(t["asymp.UCL"].to_numpy(float))
    t["emmean"] = family.linkinv(eta)
    t["SE"] = np.abs(family.mu_eta(eta)) * se
    t["asymp.LCL"], t["asymp.UCL"] = np.minimum(lo, hi), np.maximum(lo, hi)
    t = t.rename(columns={"emmean": name})
    c = res.contrasts
    if c is not None:
        if link not in ("log", "logit"):
            raise ArgumentError(f"pairwise contrasts on the response scale need a log or logit link, not {link!r}; "
                                "use type='link'")
        c = c.copy()
        ratio = np.exp(c["estimate"].to_numpy(float))
        c["SE"] = ratio * c["SE"].to_numpy(float)
        c["estimate"] = ratio
        c["contrast"] = c["contrast"].str.replace(" - ", " / ", regex=False)
        c.insert(list(c.columns).index("z.ratio"), "null", 1.0)
        c = c.rename(columns={"estimate": "odds.ratio" if link == "logit" else "ratio"})
    return replace(res, emmeans=t, contrasts=c, back_transformed=True)


# ---------------------------------------------------------------------------- the reference grid
def _is_factor(col: pd.Series) -> bool:
    return (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col)
            or col.dtype == object or pd.api.types.is_string_dtype(col))


def _levels(m, var: str) -> list:
    col = m.frame.data[var]
    k, state = m.fixed.spec.encoder_state.get(var, (None, {}))
    if getattr(k, "value", None) == "categorical" and state.get("categories") is not None:
        levs = list(state["categories"])
    elif isinstance(col.dtype, pd.CategoricalDtype):
        levs = list(col.cat.categories)
    else:
        levs = sorted(pd.unique(col.dropna()))
    seen = set(pd.unique(col.dropna()))
    return [lev for lev in levs if lev in seen]          # R's model frame drops unused levels


def reference_grid(m) -> tuple[pd.DataFrame, list[str], dict]:
    """The grid (factors and two-valued numerics crossed, first varying fastest; other numerics at
    their mean), the factor names, and the numeric variables' values."""
    data = m.frame.data
    variables = [v for v in data.columns if v in set(m.fixed.spec.required_variables)]
    # emmeans' cov.keep = "2": a numeric variable with two values is kept at both, as a factor's levels
    factors = [v for v in variables if _is_factor(data[v]) or data[v].nunique(dropna=True) <= 2]
    numeric = {v: float(pd.to_numeric(data[v]).mean()) for v in variables if v not in factors}
    levels = {f: _levels(m, f) for f in factors}
    rows = itertools.product(*[levels[f] for f in reversed(factors)])
    grid = pd.DataFrame([list(reversed(r)) for r in rows], columns=factors)
    for f in factors:
        col = data[f]
        if isinstance(col.dtype, pd.CategoricalDtype):
            grid[f] = pd.Categorical(grid[f], categories=col.cat.categories)
    for v, val in numeric.items():
        grid[v] = val
    return grid, factors, numeric


def _grid_matrix(m, grid: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The fit's fixed-effects model matrix on the grid, every column (dropped ones included)."""
    from ..design.matrix import r_column_name
    from ..design.newdata import spec_model_matrix

    # on a private copy of the fitted spec: formulaic writes its state back into the spec it is given
    mm = spec_model_matrix(m.fixed.spec, grid, "the fixed-effects model matrix on the reference grid",
                           error=ArgumentError)
    A = np.asarray(mm, dtype=float)
    if A.ndim == 1:
        A = A.reshape(-1, 1)
    if A.shape[0] != len(grid) and A.shape[0] == 1:
        A = np.broadcast_to(A, (len(grid), A.shape[1])).copy()
    return A, [r_column_name(str(c)) for c in mm.columns]


def _nonestimable(m, L_full: np.ndarray) -> np.ndarray:
    """Rows of L (in all of X's columns) that are not estimable when columns were dropped."""
    if not m.fixed.dropped:
        return np.zeros(L_full.shape[0], dtype=bool)
    Xf, _ = _grid_matrix(m, m.frame.data)
    _, s, Vt = np.linalg.svd(Xf, full_matrices=True)
    rank = int(np.sum(s > 1e-7 * s[0]))
    N = Vt[rank:].T                                       # null space of the full X
    scale = np.maximum(np.abs(L_full).sum(axis=1), 1.0)
    return np.abs(L_full @ N).max(axis=1) > 1e-6 * scale if N.size else np.zeros(L_full.shape[0], dtype=bool)


# ---------------------------------------------------------------------------- inference per row
def _row_stats(m, L: np.ndarray, ddf: str):
    """(estimate, SE, df) of each row of L."""
    est = L @ m.beta
    if ddf == "Kenward-Roger":
        from .kenward_roger import kr_contrast, kr_info

        info = kr_info(m)
        vd = [kr_contrast(info, row) for row in L]
    elif ddf == "lme4":
        V = m.vcov.to_numpy()
        vd = [(float(row @ V @ row), np.inf) for row in L]
    else:
        from .satterthwaite import contrast_df

        vd = [contrast_df(m._varpar, row) for row in L]
    var = np.array([v for v, _ in vd])
    df = np.array([d for _, d in vd], dtype=float)
    return est, np.sqrt(np.maximum(var, 0.0)), df


def _tquant(p: float, df: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(df), t_ppf(p, np.where(np.isfinite(df), df, 1.0)), norm_ppf(p))


def _p_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(df), 2 * t_sf(np.abs(t), np.where(np.isfinite(df), df, 1.0)),
                    2 * norm_sf(np.abs(t)))


def _adjust(t: np.ndarray, df: np.ndarray, adjust: str, nmeans: int) -> np.ndarray:
    """Adjusted p values of one family of pairwise t ratios."""
    raw = _p_two_sided(t, df)
    k = len(t)
    if adjust == "none" or k == 0:
        return raw
    if adjust == "tukey":
        if nmeans <= 2:      # the range of two means is their difference: the t test itself
            return raw
        q = np.abs(t) * np.sqrt(2.0)
        dfs = np.where(np.isfinite(df), df, 1e6)
        from scipy import stats   # the studentized range (Tukey's adjustment) is only in scipy.stats

        return np.array([float(stats.studentized_range.sf(qi, nmeans, di)) if nmeans > 1 else 1.0
                         for qi, di in zip(q, dfs)]).clip(0, 1)
    if adjust == "bonferroni":
        return np.minimum(1.0, raw * k)
    if adjust == "sidak":
        return 1.0 - (1.0 - raw) ** k
    # holm: step-down, monotone
    order = np.argsort(raw)
    adj = np.empty(k)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (k - rank) * raw[i])
        adj[i] = min(1.0, running)
    return adj


# ---------------------------------------------------------------------------- the public function
def _check_names(value, arg: str) -> None:
    """specs and by name factors: a str, or a list / tuple of str (anything else is a usage error)."""
    ok = isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))
    if not ok:
        raise ArgumentError(f"{arg} must name factors of the fixed part: a name such as 'recipe', a list of names "
                            f"such as ['recipe', 'temp'], or a formula such as 'pairwise ~ recipe | temp'; got "
                            f"{type(value).__name__} {value!r}")


def _parse_specs(specs, by, pairwise):
    """specs: a name, a list of names, or an emmeans formula such as "pairwise ~ recipe | temp"."""
    _check_names(specs, "specs")
    if by is not None:
        _check_names(by, "by")
    if isinstance(specs, str) and "~" in specs:
        lhs, rhs = specs.split("~", 1)
        lhs = lhs.strip()
        if lhs:
            if lhs not in ("pairwise", "revpairwise"):
                raise ArgumentError(f"only 'pairwise ~ ...' contrasts are supported, got {lhs!r}")
            pairwise = True
        if "|" in rhs:
            rhs, b = rhs.split("|", 1)
            by = [x.strip() for x in b.split("+") if x.strip()]
        specs = [x.strip() for x in rhs.split("+") if x.strip()]
    if isinstance(specs, str):
        specs = [specs]
    # "Variety:Year" is the cells of Variety and Year, as emmeans reads ~ Variety:Year
    specs = [part.strip() for s in specs for part in str(s).split(":") if part.strip()]
    if by is None:
        by = []
    elif isinstance(by, str):
        by = [by]
    return list(specs), list(by), bool(pairwise)


#: R's emmeans: Kenward-Roger df up to this many observations (pbkrtest.limit), Satterthwaite up
#: to lmerTest.limit, asymptotic beyond
_KR_LIMIT = _SATTERTHWAITE_LIMIT = 3000


def default_ddf(m) -> str:
    """R's emmeans default df method for an lmer fit (``emm_options(lmer.df = "kenward-roger")``).

    Kenward-Roger up to 3000 observations (pbkrtest.limit), Satterthwaite up to 3000
    (lmerTest.limit), asymptotic beyond. Two departures: an ML fit and a structure whose
    covariance is not linear in its parameters (cs, ar1, toep), where Kenward-Roger does not apply
    here, get Satterthwaite's df (R's emmeans gives ML fits pbkrtest's adjustment at the ML
    estimates).

    Parameters
    ----------
    m : LmerResult
        The fit.

    Returns
    -------
    str
        "Kenward-Roger", "Satterthwaite" or "lme4" (asymptotic: normal quantiles).

    Examples
    --------
    >>> from mixedmodels.inference.emmeans import default_ddf
    >>> default_ddf(m)
    'Kenward-Roger'
    >>> default_ddf(m.refit(REML=False))
    'Satterthwaite'
    """
    from .kenward_roger import LINEAR_STRUCTURES

    n = int(m.nobs)
    linear = all(t.p == 1 or t.term.structure in LINEAR_STRUCTURES for t in m.terms)
    if n <= _KR_LIMIT and m.reml and linear:
        return "Kenward-Roger"
    return "Satterthwaite" if n <= _SATTERTHWAITE_LIMIT else "lme4"


def emmeans(m, specs, by=None, pairwise: bool = False, adjust: str = "tukey",
            ddf: str | None = None, level: float = 0.95) -> EmmeansResult:
    """Estimated marginal means of ``specs`` (optionally within ``by`` groups) and pairwise contrasts.

    R's ``emmeans(m, ~ specs | by)`` (``pairwise ~ specs`` with ``pairwise=True``). A mean is the
    equally weighted average of the reference grid's predictions ``X_g beta`` over the cells with
    that level: ``l beta`` with SE ``sqrt(l V l')`` (see the module's docstring). With asymptotic
    df (``ddf="lme4"``, and every glmer fit, whose means are on the link scale) the columns are
    emmeans': ``asymp.LCL, asymp.UCL`` and ``z.ratio``.

    Parameters
    ----------
    m : LmerResult or GlmerResult
        The fit.
    specs : str or list of str
        The factors whose means are wanted: a name, a list, or a formula-like ``"A + B"``,
        ``"~ A | B"``, ``"pairwise ~ A"`` (``"A:B"`` is ``"A + B"``, as in emmeans). Numeric
        variables with two values count as factors (emmeans' ``cov.keep = "2"``).
    by : str or list of str, optional
        Factors within whose levels the means (and contrasts) are computed.
    pairwise : bool, default False
        Also every pairwise difference of the means (within ``by`` groups).
    adjust : {"tukey", "none", "bonferroni", "holm", "sidak"}, default "tukey"
        The p-value adjustment of the contrasts (Tukey: the studentized range of the family of
        means in each ``by`` group).
    ddf : {None, "Satterthwaite", "Kenward-Roger", "lme4"}, optional
        The df method of an lmer fit; None takes R's emmeans default (:func:`default_ddf`). A
        glmer fit always uses asymptotic df.
    level : float, default 0.95
        The confidence level of the intervals.

    Returns
    -------
    EmmeansResult
        ``.emmeans`` with columns ``<factors>, emmean, SE, df, lower.CL, upper.CL``;
        ``.contrasts`` (with ``pairwise=True``) with ``contrast, <by>, estimate, SE, df, t.ratio,
        p.value``.

    Raises
    ------
    ArgumentError
        For a name that is not a factor of the fixed part, a factor both in ``specs`` and ``by``,
        an unknown ``adjust`` or ``ddf``, or a ``level`` outside (0, 1).

    Examples
    --------
    >>> from mixedmodels.inference.emmeans import emmeans
    >>> res = emmeans(gm, "period", pairwise=True)
    >>> res.contrasts.round(3)
                contrast  estimate     SE   df  z.ratio  p.value
    0  period1 - period2     0.992  0.303  inf    3.272    0.006
    1  period1 - period3     1.128  0.323  inf    3.495    0.003
    2  period1 - period4     1.580  0.422  inf    3.743    0.001
    3  period2 - period3     0.136  0.376  inf    0.363    0.984
    4  period2 - period4     0.588  0.464  inf    1.267    0.584
    5  period3 - period4     0.452  0.478  inf    0.945    0.781
    >>> res.emmeans["emmean"].round(3).tolist()
    [-1.398, -2.39, -2.527, -2.978]
    """
    from .ddf import normalize_ddf

    link = None
    if hasattr(m, "family"):  # a glmer fit: Wald on the link scale, as emmeans does
        link, ddf = str(m.family.link), "lme4"
    ddf = default_ddf(m) if ddf is None else normalize_ddf(ddf)
    specs, by, pairwise = _parse_specs(specs, by, pairwise)
    adjust = str(adjust).lower()
    if adjust not in _ADJUST:
        raise ArgumentError(f"adjust must be one of {', '.join(_ADJUST)}, got {adjust!r}")
    level = check_level(level)
    grid, factors, _ = reference_grid(m)
    for f in specs + by:
        if f not in factors:
            what = "a numeric variable" if f in grid.columns else "not a variable of the fixed part"
            raise ArgumentError(f"{f!r} is {what}; emmeans needs factors (or numbers with two values) of the fixed part "
                                f"({', '.join(factors) if factors else 'the model has none'})")
    if not specs:
        raise ArgumentError("specs must name at least one factor")
    if len(set(specs + by)) != len(specs + by):
        raise ArgumentError("a factor cannot be both in specs and in by")

    Xg, cols = _grid_matrix(m, grid)
    pos = {c: j for j, c in enumerate(cols)}
    names = list(m.fixed.names)
    missing = [c for c in names if c not in pos]
    if missing:
        raise ArgumentError(f"the reference grid's model matrix lacks the column(s) {missing}")
    keys = specs + by
    # cells of specs x by, the first factor varying fastest (emmeans' order)
    combos = [tuple(reversed(c)) for c in itertools.product(*[_levels(m, f) for f in reversed(keys)])]
    gkey = list(zip(*[grid[f].astype(object).to_numpy() for f in keys])) if keys else []
    Lfull = np.zeros((len(combos), Xg.shape[1]))
    for i, combo in enumerate(combos):
        sel = np.array([g == combo for g in gkey])
        Lfull[i] = Xg[sel].mean(axis=0)
    nonest = _nonestimable(m, Lfull)
    L = Lfull[:, [pos[c] for c in names]]
    est, se, df = _row_stats(m, L, ddf)
    est, se, df = (np.where(nonest, np.nan, a) for a in (est, se, df))
    a = (1 - float(level)) / 2
    tq = _tquant(1 - a, df)
    table = pd.DataFrame({f: [c[k] for c in combos] for k, f in enumerate(keys)})
    for f in keys:
        col = m.frame.data[f]
        if isinstance(col.dtype, pd.CategoricalDtype):
            table[f] = pd.Categorical(table[f], categories=_levels(m, f))
    table["emmean"], table["SE"], table["df"] = est, se, df
    table["lower.CL"], table["upper.CL"] = est - tq * se, est + tq * se
    averaged = tuple(f for f in factors if f not in keys)

    contrasts = None
    if pairwise:
        contrasts = _pairs(m, combos, specs, by, L, nonest, ddf, adjust)
    if ddf == "lme4":  # infinite df: emmeans names the intervals and tests asymptotic
        table = table.rename(columns={"lower.CL": "asymp.LCL", "upper.CL": "asymp.UCL"})
        if contrasts is not None:
            contrasts = contrasts.rename(columns={"t.ratio": "z.ratio"})
    return EmmeansResult(table, contrasts, ddf, adjust, averaged, float(level), scale=link)


def _label(value, factor: str, enhance: bool) -> str:
    from ..design.columns import r_label

    s = r_label(value)
    return f"{factor}{s}" if enhance else s


def _reads_as_number(values) -> bool:
    try:
        [float(str(v)) for v in values]
        return True
    except ValueError:
        return False


def _pairs(m, combos, specs, by, L, nonest, ddf, adjust) -> pd.DataFrame:
    ns = len(specs)
    enhance = {f: _reads_as_number(set(c[k] for c in combos)) for k, f in enumerate(specs)}
    groups: dict = {}
    for i, c in enumerate(combos):
        groups.setdefault(tuple(c[ns:]), []).append(i)
    frames = []
    for bkey, idx in groups.items():
        rows, labels = [], []
        for a_, b_ in itertools.combinations(range(len(idx)), 2):
            i, j = idx[a_], idx[b_]
            rows.append(L[i] - L[j])
            lab = [" ".join(_label(combos[r][k], f, enhance[f]) for k, f in enumerate(specs)) for r in (i, j)]
            labels.append(f"{lab[0]} - {lab[1]}")
        if not rows:
            continue
        D = np.array(rows)
        est, se, df = _row_stats(m, D, ddf)
        bad = np.array([nonest[idx[a_]] or nonest[idx[b_]]
                        for a_, b_ in itertools.combinations(range(len(idx)), 2)])
        est, se, df = (np.where(bad, np.nan, x) for x in (est, se, df))
        t = est / se
        p = _adjust(t, df, adjust, len(idx))
        fr = pd.DataFrame({"contrast": labels})
        for k, f in enumerate(by):
            fr[f] = bkey[k]
        fr["estimate"], fr["SE"], fr["df"], fr["t.ratio"], fr["p.value"] = est, se, df, t, p
        frames.append(fr)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["contrast", *by, "estimate", "SE", "df", "t.ratio", "p.value"])
    for f in by:
        col = m.frame.data[f]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[f] = pd.Categorical(out[f], categories=_levels(m, f))
    return out
