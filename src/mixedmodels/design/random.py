"""The random-effects terms: for each ``(expr | group)`` the level code of every row and the
term's own small model matrix, from which the core forms ``Z'Z`` and friends without ever
building ``Z`` densely; and lme4's checks of the terms against the number of observations.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning, FormulaError, warn
from ..formula.parse import ParsedFormula, RandomTerm
from .columns import r_label
from .frame import ModelFrame
from .matrix import check_finite_columns, drop_unused_levels, model_matrix

__all__ = ["ReTerm", "random_terms", "grouping_codes", "factor_codes", "check_terms", "check_ar1",
           "warn_skipped_levels"]


@dataclass
class ReTerm:
    """One random-effects term: ``(expr | group)`` evaluated on the model frame.

    Z for this term has ``nlev * p`` columns, level-major (for each level its ``p`` columns),
    as lme4's ``Zt`` rows: row i of Z has ``z[i]`` in the columns of level ``codes[i]``.
    """

    term: RandomTerm
    group: str               # grouping factor's name, "Subject" or "cask:batch"
    levels: list[str]        # level labels in lme4's order
    codes: np.ndarray        # level index of each row (int64)
    cnames: list[str]        # column names of the term, e.g. ["(Intercept)", "Days"]
    z: np.ndarray            # n x p model matrix of the term
    spec: object = field(default=None, repr=False)  # formulaic ModelSpec, for new data
    #: the levels as the data hold them, for the index of ``ranef``'s frames (an integer column's
    #: levels stay integers, so that the frames join back to the data); None: the labels
    level_values: object = field(default=None, repr=False)

    @property
    def level_index(self) -> pd.Index:
        """The levels as an index: the data's values where they are integers, else the labels."""
        return pd.Index(self.levels) if self.level_values is None else pd.Index(self.level_values)

    @property
    def nlev(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)

    @property
    def p(self) -> int:
        """Number of columns of the term (random effects per level)."""
        return self.z.shape[1]

    @property
    def q(self) -> int:
        """Number of columns of Z for this term."""
        return self.nlev * self.p


def random_terms(parsed: ParsedFormula, frame: ModelFrame) -> list[ReTerm]:
    """The random-effects terms of a formula on the model frame.

    Parameters
    ----------
    parsed : ParsedFormula
        The model formula.
    frame : ModelFrame
        The rows used (:func:`model_frame`).

    Returns
    -------
    list of ReTerm
        Ordered as lme4 orders them: by decreasing number of levels (stable, as R's ``order()``).

    Raises
    ------
    FormulaError
        For a term without columns.
    DataError
        For a term whose matrix has NaN/infinite entries.
    """
    terms = []
    for t in parsed.random:
        codes, levels = grouping_codes(t.factors, frame.data)
        # R's model frame drops a factor's unused levels, in the random part too: no all-zero
        # column of Z whose variance no row informs
        data = drop_unused_levels(t.expr, frame.data)
        if t.structure in ("ar1", "toep"):
            warn_skipped_levels(t, frame.data, data)
        z, cnames, spec = model_matrix(t.expr, data, f"the random-effects term {t}")
        if z.shape[1] == 0:
            raise FormulaError(f"the random-effects term {t} has no columns")
        check_finite_columns(z, cnames, frame.data.index, f"the random-effects term {t}")
        if t.structure in ("ar1", "toep"):
            check_ar1(t, z, frame.data)
        terms.append(ReTerm(t, t.group, levels, codes, cnames, z, spec,
                            level_values=integer_levels(t.factors, frame.data, len(levels))))
    order = sorted(range(len(terms)), key=lambda i: -terms[i].nlev)  # stable, like R's order()
    return [terms[i] for i in order]


_FACTOR_EXPR = re.compile(r"^\s*(?:0|-\s*1)\s*\+\s*(?:factor\s*\(\s*)?`?([A-Za-z_.][A-Za-z0-9_. ]*?)`?\s*\)?\s*$"
                          r"|^\s*(?:factor\s*\(\s*)?`?([A-Za-z_.][A-Za-z0-9_. ]*?)`?\s*\)?\s*(?:\+\s*0|-\s*1)\s*$")


def warn_skipped_levels(t: RandomTerm, before: pd.DataFrame, after: pd.DataFrame) -> None:
    """An ar1()/toep() factor whose unused levels lie between used ones: they are dropped (as R's
    model frame and glmmTMB drop them), so the levels either side become neighbours, one step
    apart. Said, because it changes what the correlation means."""
    for v in after.columns:
        if v in before.columns and isinstance(before[v].dtype, pd.CategoricalDtype) \
                and len(after[v].cat.categories) < len(before[v].cat.categories):
            cats = list(before[v].cat.categories)
            used = [i for i, c in enumerate(cats) if c in set(after[v].cat.categories)]
            inside = [cats[i] for i in range(used[0], used[-1] + 1) if i not in used] if used else []
            if inside:
                warn(f"{t.structure}() over {v!r}: the level(s) {inside[:5]} have no rows and are dropped, so "
                     "their neighbours count as one step apart (as glmmTMB counts them); to keep the real "
                     "spacing, give the factor a row at every level, or use evenly spaced numbers",
                     DataWarning, stacklevel=5)


def check_ar1(t: RandomTerm, z: np.ndarray, data: pd.DataFrame) -> None:
    """An ``ar1()`` term must be ``0 + f`` for one factor ``f`` whose levels have an order that
    the data state: a pandas Categorical (its categories' order, as R's factor levels), or evenly
    spaced numbers (``factor(Days)`` with Days 0, 1, ..., 9). AR(1) counts one step between
    neighbouring levels, so text sorted alphabetically or numbers with gaps would silently give
    the wrong correlation.

    Raises
    ------
    FormulaError
        For a term that is not the indicator columns of one factor.
    DataError
        For levels without a stated order, or unevenly spaced numeric levels.
    """
    m = _FACTOR_EXPR.match(t.expr)
    name = (m.group(1) or m.group(2)) if m else None
    one_hot = z.shape[1] > 1 and np.all((z == 0) | (z == 1)) and np.all(z.sum(axis=1) == 1)
    if name is None or name not in data.columns or not one_hot:
        raise FormulaError(f"{t.structure}() needs the indicator columns of one factor and no intercept, e.g. "
                           f"ar1(0 + factor(Days) | Subject); got {t}")
    col = data[name]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        values = np.unique(col.to_numpy(dtype=float))
        steps = np.diff(values)
        if steps.size and not np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
            raise DataError(f"{t.structure}() over {name!r}: its values {values.tolist()[:8]} are not evenly spaced, and "
                            "the structure counts one step between neighbouring levels, so a gap would count as one "
                            f"step; to accept that, make {name!r} a pandas Categorical (its categories in order)")
        return
    raise DataError(f"{t.structure}() over {name!r}: its levels have no stated order (sorted as text, 'day10' comes "
                    f"before 'day2'); make {name!r} a pandas Categorical with its categories in time order, "
                    "or use numbers")


def grouping_codes(factors: tuple[str, ...], data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Level codes and labels of a grouping factor (an interaction ``a:b`` for several names).

    Parameters
    ----------
    factors : tuple of str
        The grouping columns; several for an interaction.
    data : pandas.DataFrame
        The model frame's data.

    Returns
    -------
    numpy.ndarray
        The level index of each row (int64).
    list of str
        The level labels. Levels follow R: a factor's own level order (unused levels dropped),
        sorted values for other columns; for ``a:b`` the combinations seen, ``a`` varying
        slowest, labelled ``"a1:b1"``.
    """
    codes = np.zeros(len(data), dtype=np.int64)
    if not factors:
        return codes, [""]
    labels: list[str] = []
    for k, f in enumerate(factors):
        c, lab = factor_codes(data[f])
        # only the combinations that occur: the codes so far (ranks of the used combinations in
        # sorted order) times this factor's level count keep that order, and never the full
        # product of labels (1000 schools x 50,000 students would be 50 million labels)
        used, codes = np.unique(codes * len(lab) + c, return_inverse=True)
        codes = codes.reshape(-1)
        prev = labels
        labels = [f"{prev[u // len(lab)]}:{lab[u % len(lab)]}" if k else lab[u] for u in used.tolist()]
    return codes.astype(np.int64), labels


def integer_levels(factors: tuple[str, ...], data: pd.DataFrame, nlev: int) -> np.ndarray | None:
    """The sorted values of a single integer grouping column (its levels in R's order, as
    :func:`factor_codes` sorts them), or None: for an interaction, a categorical or any other dtype
    the labels are the levels."""
    if len(factors) != 1:
        return None
    col = data[factors[0]]
    if not (pd.api.types.is_integer_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)):
        return None
    values = np.unique(col.to_numpy())
    return values if len(values) == nlev else None


def factor_codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """One column as R's ``factor()`` codes it.

    Parameters
    ----------
    col : pandas.Series

    Returns
    -------
    numpy.ndarray
        The level index of each row (int64; -1 for a missing value of a categorical).
    list of str
        The labels (:func:`r_label`): a categorical's categories in order, sorted values otherwise
        (compared as text when they cannot be compared as they are).
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [r_label(c) for c in col.cat.categories]
        return col.cat.codes.to_numpy().astype(np.int64), cats
    values = col.to_numpy()
    try:
        uniq, inv = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types: compare as text
        uniq, inv = np.unique(values.astype(str), return_inverse=True)
    return inv.astype(np.int64), [r_label(u) for u in uniq]


def check_terms(terms: list[ReTerm], n: int) -> None:
    """lme4's checks of the random-effects structure against the number of observations.

    Parameters
    ----------
    terms : list of ReTerm
    n : int
        The number of observations.

    Raises
    ------
    DataError
        For a grouping factor with one level or as many levels as observations, or an
        unstructured term with at least as many random effects as observations.
    """
    one = [t.group for t in terms if t.nlev < 2]
    if one:
        raise DataError(f"grouping factors must have > 1 sampled level (problems: {', '.join(one)}); "
                        "a random effect needs several groups to estimate a variance")
    many = sorted({t.group for t in terms if t.nlev >= n})
    if many:
        raise DataError("number of levels of each grouping factor must be < number of observations "
                        f"(problems: {', '.join(many)}); each group needs repeated observations (a continuous "
                        "variable with a different value in every row cannot be a grouping factor)")
    for t in terms:
        # a structured term's few parameters are identified however many effects it has (an
        # ar1() over every time point has one effect per row, as nlme's corAR1 with a nugget)
        if t.q >= n and t.term.structure == "us":
            raise DataError(f"number of observations (={n}) <= number of random effects (={t.q}) for term "
                            f"{t.term}; the random-effects parameters and the residual variance are probably "
                            "unidentifiable: simplify the random-effects term")
