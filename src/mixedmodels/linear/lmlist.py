r"""lme4's ``lmList``: one ordinary linear model per level of a grouping factor ("no pooling").

``lmlist("Reaction ~ Days | Subject", data)`` fits ``Reaction ~ Days`` separately to each subject.
Beside a mixed model's per-group coefficients (``coef(lmer)`` = fixef + ranef, "partial pooling")
it shows how much the mixed model shrinks each group towards the population.

The pooled residual standard deviation (lme4's ``pooledSD``) is

    s_pool = sqrt( sum_g RSS_g / sum_g (n_g - k_g) )

with k_g the number of coefficients of group g *including aliased ones* (as lme4 counts
``length(coef(fit))``). ``summary()`` uses it for every standard error and t test; ``confint()``
by default does not (lme4 1.1-31 uses each group's own ``confint.lm``), ``confint(pool=True)`` does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..distributions import t_ppf, t_sf
from ..arguments import check_level
from ..errors import ArgumentError, DataError, FormulaError, MixedModelError, MixedModelWarning, warn
from .lmlist_summary import LmListSummary, print_frame

__all__ = ["lmlist", "LmList", "LmListSummary", "LmListWarning"]  # LmListSummary: from .lmlist_summary


class LmListWarning(MixedModelWarning):
    """A group's linear model could not be fitted; its coefficients are NA."""


def _split_formula(formula: str) -> tuple[str, tuple[str, ...]]:
    """``"y ~ x | g"`` -> (``"y ~ x"``, ``("g",)``); ``| a:b`` gives ``("a", "b")``."""
    from ..formula.parse import point_at, top_level_positions

    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string such as 'y ~ x | g', got {type(formula).__name__}")
    text = " ".join(formula.split())
    tilde = top_level_positions(text, "~")
    bars = top_level_positions(text, "|")
    if len(tilde) != 1 or not bars or bars[-1] < tilde[0]:
        raise FormulaError(point_at(text, len(text), "lmList needs a formula 'response ~ terms | group', "
                                    "e.g. 'Reaction ~ Days | Subject'"))
    model, group = text[: bars[-1]].strip(), text[bars[-1] + 1:].strip()
    if not group:
        raise FormulaError(point_at(text, len(text), "no grouping factor after '|'"))
    factors = tuple(f.strip().strip("`") for f in group.split(":"))
    if not all(factors) or any(not f.replace(".", "").replace("_", "").isalnum() for f in factors):
        raise FormulaError(point_at(text, bars[-1] + 1, f"the grouping factor {group!r} must be a column name "
                                    "(or a:b for the combinations of two columns)"))
    return model, factors


def lmlist(formula: str, data, *, pool: bool = True, data_name: str | None = None) -> "LmList":
    """Fit ``y ~ x`` separately in each group of ``formula = "y ~ x | g"`` (lme4's ``lmList``).

    Parameters
    ----------
    formula : str
        ``"response ~ terms | group"``; ``| a:b`` for the combinations of two columns.
    data : pandas.DataFrame, polars.DataFrame, dict, ...
        The data.
    pool : bool, default True
        Use the pooled residual standard deviation in ``summary()`` and the printout (lme4's
        default).
    data_name : str, optional
        How the printed call names the data.

    Returns
    -------
    LmList
        Groups in R's order (a factor's levels, sorted values otherwise). A group whose model
        cannot be fitted (a factor with one level there, too few rows) gets NA coefficients and
        an ``LmListWarning``, as lme4 does.

    Raises
    ------
    DataError
        When no group can be fitted.
    FormulaError
        For a formula without ``| group`` or with a grouping that is not a column name.

    Examples
    --------
    >>> fits = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy"))
    >>> len(fits), fits.groups[:3]
    (18, ['308', '309', '310'])
    >>> fits.coef().head(3).round(2)
             (Intercept)   Days
    Subject
    308           244.19  21.76
    309           205.05   2.26
    310           203.48   6.11
    """
    from ..design.columns import as_pandas, variables_in
    from ..design.frame import model_frame
    from ..design.random import factor_codes, grouping_codes
    from ..formula.parse import RandomTerm, parse_lm_formula
    from .lm import lm

    model, factors = _split_formula(formula)
    parsed = parse_lm_formula(model)
    data = as_pandas(data)  # polars (also lazy) without pyarrow, dicts
    name = str(data_name or getattr(data, "attrs", {}).get("name") or "data")
    # rows used: no missing value in any variable of the model or in the grouping factor
    from dataclasses import replace

    frame = model_frame(replace(parsed, random=(RandomTerm("1", factors),)), data)
    codes, levels = grouping_codes(factors, frame.data)
    used = variables_in(" + ".join([parsed.response, parsed.fixed, *parsed.offsets]), frame.data.columns)
    discrete = [v for v in used if _is_discrete(frame.data[v])]
    fits: dict[str, object] = {}
    problems = []
    for k, lev in enumerate(levels):
        sub = frame.data.loc[codes == k].copy()
        for v in discrete:
            if isinstance(sub[v].dtype, pd.CategoricalDtype):
                sub[v] = sub[v].cat.remove_unused_categories()  # R's drop.unused.levels in lm()
        one = [v for v in discrete if len(factor_codes(sub[v])[1]) < 2 and v != parsed.response]
        if one:
            problems.append(f"{lev}: contrasts can be applied only to factors with 2 or more levels "
                            f"({', '.join(one)})")
            fits[lev] = None
            continue
        try:
            fits[lev] = lm(model, sub, data_name=name)
        except MixedModelError as e:
            problems.append(f"{lev}: {e}")
            fits[lev] = None
    if problems:
        warn(f"fitting failed for {len(problems)} group(s): " + "; ".join(problems), LmListWarning,
             stacklevel=2)
    if all(f is None for f in fits.values()):
        raise DataError(f"lmList could not fit {model!r} in any group of {':'.join(factors)}")
    return LmList(formula=" ".join(formula.split()), model=model, group=":".join(factors), data_name=name,
                  fits=fits, pool=bool(pool))


def _is_discrete(col: pd.Series) -> bool:
    from ..design.columns import object_numbers

    if col.dtype == object:  # numbers stored as objects are numbers, as in the fit (design.logicals_as_factors)
        return object_numbers(col) is None
    return (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col)
            or pd.api.types.is_bool_dtype(col))


@dataclass(frozen=True, eq=False)
class LmList:
    """Separate linear models per group (lme4's ``lmList4``), as :func:`lmlist` returns them.

    ``fl[level]`` is the group's :class:`~mixedmodels.linear.lm_result.LmResult` (None where it
    could not be fitted), ``len(fl)`` the number of groups; ``str()`` prints lme4's ``show``. The
    examples of the members fit
    ``fl = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy"))``.

    Attributes
    ----------
    formula : str
        The whole formula, ``"response ~ terms | group"``.
    model : str
        The formula fitted in each group, ``"response ~ terms"``.
    group : str
        The grouping factor (``"a:b"`` for combinations of two columns).
    data_name : str
        How the printed call names the data.
    fits : dict
        Group level (str) -> LmResult, or None for a group that could not be fitted.
    pool : bool
        Whether ``summary()`` and the printout use the pooled residual SD (lme4's default).

    Examples
    --------
    >>> fl = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy"))
    >>> fl["308"].fixef.round(3).to_dict()
    {'(Intercept)': 244.193, 'Days': 21.765}
    """

    formula: str
    model: str
    group: str
    data_name: str
    fits: dict = field(repr=False)
    pool: bool = True

    @property
    def groups(self) -> list[str]:
        """The group levels, in R's order (a factor's levels, sorted values otherwise).

        Examples
        --------
        >>> mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).groups[:3]
        ['308', '309', '310']
        """
        return list(self.fits)

    def __len__(self) -> int:
        return len(self.fits)

    def __getitem__(self, level):
        return self.fits[str(level)]

    @property
    def nobs(self) -> int:
        """Observations used by the fitted groups' models, all together.

        Examples
        --------
        >>> mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).nobs
        180
        """
        return sum(len(f.frame.y) for f in self.fits.values() if f is not None)

    @property
    def coef_names(self) -> list[str]:
        """Union of the groups' coefficient names, in order of first appearance (as lme4).

        Examples
        --------
        >>> mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).coef_names
        ['(Intercept)', 'Days']
        """
        out: list[str] = []
        for f in self.fits.values():
            if f is not None:
                out += [n for n in f.coef_names if n not in out]
        return out

    def coef(self) -> pd.DataFrame:
        """lme4's ``coef(lmList)``: one row per group, one column per coefficient.

        Returns
        -------
        pandas.DataFrame
            Indexed by the group levels (index name: the grouping factor), columns
            :attr:`coef_names`; NaN where a group has no estimate (aliased, or not fitted).

        Examples
        --------
        >>> fl = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy"))
        >>> fl.coef().shape
        (18, 2)
        >>> fl.coef().loc["309"].round(2).tolist()
        [205.05, 2.26]
        """
        names = self.coef_names
        rows = [f.coefficients.reindex(names).to_numpy() if f is not None else np.full(len(names), np.nan)
                for f in self.fits.values()]
        return pd.DataFrame(rows, index=pd.Index(self.groups, name=self.group), columns=names)

    def pooled_sd(self) -> tuple[float, int]:
        """(pooled residual SD, its degrees of freedom), lme4's ``pooledSD``.

        s_pool = sqrt(sum_g RSS_g / sum_g (n_g - k_g)), k_g the group's coefficients, aliased ones
        included (unweighted residuals, as lme4).

        Returns
        -------
        tuple of (float, int)
            The pooled SD and its df, sum_g (n_g - k_g).

        Raises
        ------
        DataError
            When no degrees of freedom are left (each group has as many coefficients as rows).

        Examples
        --------
        >>> sd, df = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).pooled_sd()
        >>> round(sd, 3), df
        (25.592, 144)
        """
        rss = df = 0.0
        for f in self.fits.values():
            if f is not None:
                r = f.residuals.to_numpy()
                rss += float(r @ r)  # unweighted, as lme4 sums resid()^2
                df += len(r) - len(f.coef_names)
        if df <= 0:
            raise DataError("no degrees of freedom left for the pooled standard deviation: each group has "
                            "as many coefficients as observations")
        return math.sqrt(rss / df), int(df)

    def _bounds(self, level: float) -> tuple[float, list[str]]:
        level = check_level(level)
        from ..rformat import percent_labels

        a = (1 - level) / 2
        return a, percent_labels(level)

    def confint(self, level: float = 0.95, pool: bool = False) -> pd.DataFrame:
        """lme4's ``confint(lmList)``: intervals per group (rows) and coefficient (columns).

        ``pool=False`` (lme4's default): each group's own ``confint.lm``. ``pool=True``: estimate
        +- t(pooled df) * pooled SD * sqrt((X_g'X_g)^-1_jj).

        Parameters
        ----------
        level : float, default 0.95
            The confidence level, between 0 and 1.
        pool : bool, default False
            Use the pooled residual SD and its df instead of each group's own.

        Returns
        -------
        pandas.DataFrame
            One row per group; columns a MultiIndex (coefficient, bound), the bounds named as R's
            percentages (``2.5 %``, ``97.5 %``); NaN where a group has no estimate.

        Examples
        --------
        >>> fl = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy"))
        >>> fl.confint()["Days"].head(2).round(2)
                 2.5 %  97.5 %
        Subject
        308       9.63   33.90
        309       0.01    4.51
        >>> fl.confint(pool=True)["Days"].head(2).round(2)
                 2.5 %  97.5 %
        Subject
        308      16.20   27.33
        309      -3.31    7.83
        """
        a, labels = self._bounds(level)
        names = self.coef_names
        cols = pd.MultiIndex.from_product([names, labels])
        out = pd.DataFrame(np.nan, index=pd.Index(self.groups, name=self.group), columns=cols)
        if pool:
            sd, df = self.pooled_sd()
            q = t_ppf(1 - a, df)
        for g, f in self.fits.items():
            if f is None:
                continue
            if pool:
                est = f.fixef
                se = sd * np.sqrt(np.diag(f._qr[1]))
                lo, hi = est - q * se, est + q * se
            else:
                ci = f.confint(level).dropna()
                lo, hi = ci.iloc[:, 0], ci.iloc[:, 1]
            for n in lo.index:
                out.loc[g, (n, labels[0])] = lo[n]
                out.loc[g, (n, labels[1])] = hi[n]
        return out

    def summary(self, pool: bool | None = None) -> "LmListSummary":
        """lme4's ``summary(lmList)``: per coefficient, a table over groups (pooled SD by default).

        With pooling a group's standard error is its own times s_pool / sigma_g, and the t tests
        use the pooled df.

        Parameters
        ----------
        pool : bool, optional
            Use the pooled residual SD; None takes the ``pool`` given to :func:`lmlist`.

        Returns
        -------
        LmListSummary
            ``coefficients[name]``: Estimate, Std. Error, t value, Pr(>|t|) per group.

        Examples
        --------
        >>> s = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).summary()
        >>> s.coefficients["Days"].head(2).round(3)
                 Estimate  Std. Error  t value  Pr(>|t|)
        Subject
        308        21.765       2.818    7.725     0.000
        309         2.262       2.818    0.803     0.423
        """
        pool = self.pool if pool is None else pool
        names = self.coef_names
        if pool:
            sd, df = self.pooled_sd()
        tables = {}
        for n in names:
            rows = []
            for f in self.fits.values():
                row = [np.nan] * 4
                if f is not None and n in f.fixef.index:
                    ct = f.coef_table().loc[n]
                    est, se = float(ct["Estimate"]), float(ct["Std. Error"])
                    t, p = float(ct["t value"]), float(ct["Pr(>|t|)"])
                    if pool:
                        se = se * sd / f.sigma
                        t = est / se
                        p = 2 * t_sf(abs(t), df)
                    row = [est, se, t, p]
                rows.append(row)
            tables[n] = pd.DataFrame(rows, index=pd.Index(self.groups, name=self.group),
                                     columns=["Estimate", "Std. Error", "t value", "Pr(>|t|)"])
        rse, rdf = (sd, df) if pool else (None, None)
        return LmListSummary(model=self.model, group=self.group, data_name=self.data_name,
                             coefficients=tables, pool=pool, rse=rse, df_resid=rdf)

    def plot(self, mixed=None, level: float = 0.95, pool: bool = False, figsize=None):
        """Dot plot per coefficient: each group's estimate and interval (no pooling).

        With ``mixed`` (a fitted lmer), the mixed model's per-group coefficients beside them
        (partial pooling) and its fixed effect as a vertical line: the picture of shrinkage.

        Parameters
        ----------
        mixed : LmerResult, optional
            A mixed model with random effects for the same grouping factor.
        level : float, default 0.95
            The level of the intervals (:meth:`confint`).
        pool : bool, default False
            Intervals from the pooled residual SD.
        figsize : tuple of float, optional
            The figure's size in inches; by default from the numbers of coefficients and groups.

        Returns
        -------
        matplotlib.figure.Figure
            One panel per coefficient.

        Raises
        ------
        ArgumentError
            When ``mixed`` has no random effects for the grouping factor.

        Examples
        --------
        >>> fl = mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy"))
        >>> fig = fl.plot(mixed=m)
        >>> type(fig).__name__, len(fig.axes)
        ('Figure', 2)
        """
        import matplotlib.pyplot as plt

        coefs = self.coef()
        ci = self.confint(level, pool=pool)
        mix = _mixed_coef(mixed, self.group, coefs.columns) if mixed is not None else None
        k = len(coefs.columns)
        n = len(coefs)
        fig, axes = plt.subplots(1, k, sharey=True, squeeze=False,
                                 figsize=figsize or (3.2 * k + 1, max(3.0, 0.28 * n + 1.2)))
        ypos = np.arange(n)
        for j, name in enumerate(coefs.columns):
            ax = axes[0, j]
            lo, hi = ci[name].iloc[:, 0].to_numpy(), ci[name].iloc[:, 1].to_numpy()
            shift = 0.15 if mix is not None else 0.0  # side by side, not on top of each other
            ax.hlines(ypos - shift, lo, hi, color="0.55", lw=1.5, label=f"lmList {int(round(100 * level))}% CI")
            ax.plot(coefs[name].to_numpy(), ypos - shift, "o", color="C0", ms=5, label="lmList (no pooling)")
            if mix is not None and name in mix.columns:
                ax.plot(mix[name].reindex(coefs.index).to_numpy(), ypos + shift, "D", color="C3", ms=4,
                        mfc="none", label="lmer (partial pooling)")
                fe = getattr(mixed, "fixef", None)
                if fe is not None and name in fe.index:
                    ax.axvline(float(fe[name]), color="C3", lw=0.8, ls="--", label="lmer fixed effect")
            ax.set_title(name)
            ax.grid(axis="x", color="0.9")
        axes[0, 0].set_yticks(ypos, list(coefs.index))
        axes[0, 0].set_ylabel(self.group)
        axes[0, 0].invert_yaxis()
        handles, labels = axes[0, -1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize="small")
        fig.suptitle(f"{self.model} | {self.group}")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return fig

    # ------------------------------------------------------------------ printing
    @property
    def call(self) -> str:
        """The call as R prints it: ``lmList(formula = y ~ x | g, data = d)``.

        Examples
        --------
        >>> mm.lmlist("Reaction ~ Days | Subject", mm.load_dataset("sleepstudy")).call
        'lmList(formula = Reaction ~ Days | Subject, data = sleepstudy)'
        """
        return f"lmList(formula = {self.formula}, data = {self.data_name})"

    def __str__(self) -> str:
        """lme4's ``show(lmList)``: the call, the coefficients, pooled df and residual SD."""
        from ..formula.deparse import deparse_formula
        from ..rformat import format_num

        out = "Call: " + " ".join(deparse_formula(self.call)) + " \nCoefficients:\n"
        out += print_frame(self.coef())
        if self.pool:
            sd, df = self.pooled_sd()
            out += f"\nDegrees of freedom: {self.nobs} total; {df} residual\n"
            out += f"Residual standard error: {format_num([sd])[0]}\n"
        return out[:-1]

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        from ..report.html import to_html

        return to_html(self)


def _mixed_coef(mixed, group: str, names) -> pd.DataFrame:
    """``coef(lmer)[[group]]``: fixed effects plus the group's conditional modes."""
    if hasattr(mixed, "coef") and callable(mixed.coef):
        got = mixed.coef()
        if isinstance(got, dict) and group in got:
            return got[group]
    re = mixed.ranef()
    if group not in re:
        raise ArgumentError(f"the mixed model has no random effects for {group!r} "
                            f"(it has: {', '.join(re)})")
    b = re[group]
    fe = mixed.fixef
    out = pd.DataFrame({n: np.full(len(b), float(fe[n])) if n in fe.index else np.nan for n in fe.index},
                       index=b.index)
    for n in b.columns:
        out[n] = out[n] + b[n] if n in out.columns else b[n]
    return out
