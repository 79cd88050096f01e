"""Tables of the random effects shared by lmer and glmer results: ranef, VarCorr, group names.

Inputs are the model's terms (design.ReTerm, lme4's order), the conditional modes ``b`` (one
(nlev, p) array per term), their conditional covariances and the templates ``T`` with
``Sigma_k = sigma^2 T_k T_k'``.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["group_labels", "groups", "ngroups", "ranef_frames", "ranef_table", "varcorr_frame"]


def group_labels(terms) -> list[str]:
    """Group names as VarCorr prints them: a repeated factor gets .1, .2 (R's make.unique)."""
    seen: dict[str, int] = {}
    out = []
    for t in terms:
        k = seen.get(t.group, 0)
        out.append(t.group if k == 0 else f"{t.group}.{k}")
        seen[t.group] = k + 1
    return out


def groups(terms) -> dict[str, list[int]]:
    """Grouping factor -> indices of its terms, in lme4's order."""
    g: dict[str, list[int]] = {}
    for i, t in enumerate(terms):
        g.setdefault(t.group, []).append(i)
    return g


def ngroups(terms) -> dict[str, int]:
    """Grouping factor -> number of levels, in lme4's order (a factor named once)."""
    return {g: terms[idx[0]].nlev for g, idx in groups(terms).items()}


def ranef_frames(terms, b) -> dict[str, pd.DataFrame]:
    """Conditional modes: grouping factor -> DataFrame (levels x term columns)."""
    out = {}
    for g, idx in groups(terms).items():
        frames = [pd.DataFrame(b[i], index=terms[i].level_index, columns=terms[i].cnames) for i in idx]
        out[g] = pd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
    return out


def ranef_table(terms, b, condvar) -> pd.DataFrame:
    """R's as.data.frame(ranef(m, condVar=TRUE)): grpvar, term, grp, condval, condsd."""
    rows = []
    for g, idx in groups(terms).items():
        for i in idx:
            t = terms[i]
            sd = np.sqrt(np.maximum(np.diagonal(condvar[i], axis1=1, axis2=2), 0))
            for k, name in enumerate(t.cnames):
                rows.append(pd.DataFrame({"grpvar": g, "term": name, "grp": t.levels,
                                          "condval": b[i][:, k], "condsd": sd[:, k]}))
    return pd.concat(rows, ignore_index=True)


def varcorr_frame(terms, templates, sigma: float, residual: bool = True) -> pd.DataFrame:
    """R's as.data.frame(VarCorr(m)): grp, var1, var2, vcov, sdcor; variances of a term, then its
    covariances (var1 = column, var2 = row of the lower triangle), ``Residual`` last."""
    rows = []
    s2 = sigma ** 2
    for name, t, T in zip(group_labels(terms), terms, templates):
        C = s2 * (T @ T.T)
        sd = np.sqrt(np.diag(C))
        for k, c in enumerate(t.cnames):
            rows.append((name, c, "", C[k, k], sd[k]))
        for j in range(t.p):
            for k in range(j + 1, t.p):
                corr = C[k, j] / (sd[k] * sd[j]) if sd[k] > 0 and sd[j] > 0 else np.nan
                rows.append((name, t.cnames[j], t.cnames[k], C[k, j], corr))
    if residual:
        rows.append(("Residual", "", "", s2, sigma))
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])


class RandomEffectsFace:
    """Mixin of both result classes: the conditional modes, their tables and the group names that
    every concept module reads. The class provides ``terms``, ``_b`` (the modes) and ``_b_condvar``
    (their conditional covariances), computed on first use.

    The examples use ``m = mm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)``.
    """

    @property
    def b(self) -> list[np.ndarray]:
        """The conditional modes ``b = Lambda u``, one (levels x p) array per term (lme4's
        ``getME(m, "b")``, split by term).

        Examples
        --------
        >>> [a.shape for a in m.b]
        [(18, 2)]
        """
        return self._b

    @property
    def group_labels(self) -> list[str]:
        """The group names as VarCorr prints them, one per term: a repeated factor gets .1, .2
        (R's make.unique).

        Examples
        --------
        >>> m.group_labels
        ['Subject']
        """
        return self._group_labels

    @cached_property
    def _group_labels(self) -> list[str]:
        return group_labels(self.terms)

    @cached_property
    def ngroups(self) -> dict:
        """Grouping factor -> its number of levels, in lme4's order (lme4's ``ngrps``).

        Examples
        --------
        >>> m.ngroups
        {'Subject': 18}
        """
        return ngroups(self.terms)

    def ranef(self) -> dict:
        """The conditional modes of the random effects, as lme4's ``ranef(m)``.

        Returns
        -------
        dict
            Grouping factor -> DataFrame, one row per level (the index keeps the data's dtype),
            one column per random-effect term.

        Examples
        --------
        >>> m.ranef()["Subject"].round(2).head(2)
             (Intercept)  Days
        308         2.26  9.20
        309       -40.40 -8.62
        """
        return ranef_frames(self.terms, self._b)

    def ranef_table(self) -> pd.DataFrame:
        """The conditional modes with their conditional standard deviations, as R's
        ``as.data.frame(ranef(m, condVar = TRUE))``.

        Returns
        -------
        pandas.DataFrame
            Columns ``grpvar, term, grp, condval, condsd``, one row per level and term.

        Examples
        --------
        >>> m.ranef_table().round(2).head(2)
          grpvar         term  grp  condval  condsd
        0  Subject  (Intercept)  308     2.26   12.07
        1  Subject  (Intercept)  309   -40.40   12.07
        """
        return ranef_table(self.terms, self._b, self._b_condvar)

    def coef(self) -> dict:
        """Each level's coefficients, fixed plus random effects, as lme4's ``coef(m)``.

        Returns
        -------
        dict
            Grouping factor -> DataFrame, one row per level, one column per fixed effect (a
            random-effect column without a fixed effect of its name comes first).

        Examples
        --------
        >>> m.coef()["Subject"].round(2).head(2)
             (Intercept)   Days
        308       253.66  19.67
        309       211.01   1.85
        """
        from ..report.tidy import coef

        return coef(self)
