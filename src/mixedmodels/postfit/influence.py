"""Influence of observations or groups on an LMM fit (lme4's ``influence.merMod``): refits.

The model is refitted without each observation (or each level of a grouping factor), starting from
the full fit's theta. ``dfbeta = beta_(-i) - beta``; ``dfbetas`` divides by the deleted fit's
standard errors; Cook's distance is ``(n-p)/(n p) dfbeta' vcov(beta)^-1 dfbeta`` with ``n`` the
number of deleted units, as lme4 (or, ``method="hat"``, lme4's one-step formula from hat values).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import ArgumentError, silenced
from .leverage import hatvalues, require_lmm, residuals

__all__ = ["Influence", "refit_without", "influence", "cooks_distance", "dfbetas"]


@dataclass(frozen=True)
class Influence:
    """The refits behind lme4's ``influence()``: one row per deleted observation or group."""

    group: str                       # "case" or the grouping variable(s)
    units: list                      # labels of the deleted units, in data order
    fixef: pd.Series                 # full fit
    fixef_deleted: pd.DataFrame      # units x coefficients
    varcomp: pd.Series               # sigma^2, then each term's covariance (lower triangle by column)
    varcomp_deleted: pd.DataFrame
    vcov: pd.DataFrame               # full fit's vcov(beta)
    vcov_deleted: list = field(repr=False)
    converged: np.ndarray = field(repr=False)
    nevals: np.ndarray = field(repr=False)
    n_units: int | None = None       # all units of the data (Cook's n), when only some were refitted

    def dfbeta(self, which: str = "fixed") -> pd.DataFrame:
        """Deleted minus full estimates (``which="var.cov"`` for the variance components)."""
        if which == "fixed":
            return self.fixef_deleted - self.fixef
        if which in ("var.cov", "varcov", "varcomp"):
            return self.varcomp_deleted - self.varcomp
        raise ArgumentError(f"which must be 'fixed' or 'var.cov', got {which!r}")

    def dfbetas(self) -> pd.DataFrame:
        """dfbeta divided by the deleted fit's standard errors."""
        se = np.array([np.sqrt(np.diag(v)) for v in self.vcov_deleted])
        return self.dfbeta() / se

    def cooks_distance(self) -> pd.Series:
        """Cook's distance as lme4: (n-p)/(n p) * dfbeta' vcov^-1 dfbeta, n = number of units."""
        db = self.dfbeta().to_numpy()
        n, p = db.shape
        n = self.n_units or n
        Vi = np.linalg.inv(self.vcov.to_numpy()) * (n - p) / (n * p)
        with np.errstate(invalid="ignore"):
            d = np.einsum("ij,jk,ik->i", db, Vi, db)
        return pd.Series(d, index=self.fixef_deleted.index, name="cooks_distance")


def _varcomp(fit) -> tuple[np.ndarray, list[str]]:
    """sigma^2, then each term's covariance, lower triangle by column (lme4's influence order)."""
    s2 = float(fit.sigma) ** 2
    vals, names = [s2], ["sigma^2"]
    labels = fit.group_labels
    single = len(fit.terms) == 1
    for lab, t, T in zip(labels, fit.terms, fit.templates):
        C = s2 * (T @ T.T)
        pre = "" if single else f"{lab}:"
        for j in range(t.p):
            for i in range(j, t.p):
                vals.append(C[i, j])
                nm = f"v[{t.cnames[i]}]" if i == j else f"C[{t.cnames[i]},{t.cnames[j]}]"
                names.append(pre + nm)
    return np.array(vals), names


def _unit_labels(m, group) -> tuple[str, np.ndarray, list]:
    """(name, unit index of each row, unit labels in order of first appearance)."""
    data = m.frame.data
    if group is None:
        labels = [str(i) for i in data.index]
        return "case", np.arange(len(data)), labels
    cols = [group] if isinstance(group, str) else list(group)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ArgumentError(f"group {missing} is not a column of the data; columns: {', '.join(map(str, data.columns))}")
    from ..design.columns import r_label as _label

    keys = [".".join(_label(v) for v in row) for row in zip(*(data[c].astype(object).to_numpy() for c in cols))]
    order = list(dict.fromkeys(keys))
    pos = {k: i for i, k in enumerate(order)}
    return ".".join(cols), np.array([pos[k] for k in keys]), order


def refit_without(m, drop: np.ndarray):
    """The model refitted on the rows where ``drop`` is False, starting at the full fit's theta."""
    from ..core.lmm import LmmCore
    from ..design.fixed import independent_columns as _independent_columns
    from ..optim.nlopt import minimize_theta

    keep = ~np.asarray(drop, dtype=bool)
    fr = m.frame
    X = np.asarray(m.fixed.X, dtype=float)[keep]
    cols = _independent_columns(X)
    names = [m.fixed.names[j] for j in cols]
    X = X[:, cols]
    terms = [replace(t, codes=t.codes[keep], z=t.z[keep]) for t in m.terms]
    w = None if fr.weights is None else np.asarray(fr.weights)[keep]
    off = None if fr.offset is None else np.asarray(fr.offset)[keep]
    y = np.asarray(fr.y, dtype=float)[keep]
    core = LmmCore(terms, X, y, weights=w, offset=off)
    lay = core.layout
    with silenced():
        theta, _, info = minimize_theta(lambda th: core.objective(th, m.reml), np.asarray(m.theta, dtype=float),
                                        lay.lower(), m.control)
    frame = replace(fr, data=fr.data.loc[keep], y=y, weights=w, offset=off)
    fixed = replace(m.fixed, X=X, names=names)
    return replace(m, frame=frame, fixed=fixed, terms=terms, core=core, theta=theta, optimizer_report=info)


def influence(m, group=None, units=None) -> Influence:
    """Refit without each observation (``group=None``) or each level of ``group`` (lme4's influence()).

    ``units`` restricts the refits to some observations (row labels of the data) or levels; Cook's
    distance then still uses the number of all units, so that its values equal the full run's.
    """
    require_lmm(m, "influence()")
    gname, unit, labels = _unit_labels(m, group)
    n_all = len(labels)
    if units is not None:
        want = [str(u) for u in (units if isinstance(units, (list, tuple, np.ndarray, pd.Index)) else [units])]
        pos = {lab: i for i, lab in enumerate(labels)}
        unknown = [u for u in want if u not in pos]
        if unknown:
            raise ArgumentError(f"unknown unit(s) {unknown[:5]} for {gname}; e.g. {labels[:5]}")
        remap = np.full(n_all, -1)
        for i, u in enumerate(want):
            remap[pos[u]] = i
        unit, labels = remap[unit], want
    names = list(m.fixed.names)
    vc0, vc_names = _varcomp(m)
    B = np.full((len(labels), len(names)), np.nan)
    VC = np.full((len(labels), len(vc0)), np.nan)
    vcovs, conv, nev = [], np.zeros(len(labels), dtype=bool), np.zeros(len(labels), dtype=int)
    for u in range(len(labels)):
        sub = refit_without(m, unit == u)
        pos = {nm: j for j, nm in enumerate(sub.fixed.names)}
        V = np.full((len(names), len(names)), np.nan)
        subV = sub.vcov.to_numpy()
        idx = [pos.get(nm) for nm in names]
        for a, ia in enumerate(idx):
            if ia is None:
                continue
            B[u, a] = sub.beta[ia]
            for b_, ib in enumerate(idx):
                if ib is not None:
                    V[a, b_] = subV[ia, ib]
        vcovs.append(V)
        VC[u] = _varcomp(sub)[0]
        conv[u] = bool(sub.optinfo.converged)
        nev[u] = int(sub.optinfo.nevals)
    return Influence(group=gname, units=labels, fixef=pd.Series(m.beta, index=names),
                     fixef_deleted=pd.DataFrame(B, index=labels, columns=names),
                     varcomp=pd.Series(vc0, index=vc_names),
                     varcomp_deleted=pd.DataFrame(VC, index=labels, columns=vc_names),
                     vcov=pd.DataFrame(np.asarray(m.vcov, dtype=float), index=names, columns=names),
                     vcov_deleted=vcovs, converged=conv, nevals=nev, n_units=n_all)


def cooks_distance(m, group=None, method: str = "refit", infl: Influence | None = None) -> pd.Series:
    """Cook's distance of each observation (or group).

    ``method="refit"`` (default): lme4's ``cooks.distance(influence(m, groups))`` from refits;
    ``method="hat"``: lme4's ``cooks.distance(m)``, the one-step formula
    ``(r_i / (1 - h_i))^2 h_i / (sigma^2 p)`` with Pearson residuals and hat values (observations only).
    """
    if method == "hat":
        if group is not None:
            raise ArgumentError("method='hat' gives Cook's distance per observation; use method='refit' for groups")
        require_lmm(m, "cooks_distance()")
        h = hatvalues(m)
        r = residuals(m, type="pearson").to_numpy()
        p = np.linalg.matrix_rank(np.asarray(m.fixed.X, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (r / (1 - h)) ** 2 * h / (float(m.sigma) ** 2 * p)
        d[np.isinf(d)] = np.nan
        return pd.Series(d, index=m.frame.data.index, name="cooks_distance")
    if method != "refit":
        raise ArgumentError(f"method must be 'refit' or 'hat', got {method!r}")
    return (infl or influence(m, group)).cooks_distance()


def dfbetas(m, group=None, infl: Influence | None = None) -> pd.DataFrame:
    """Scaled change of each fixed effect when an observation (or group) is left out (lme4's dfbetas)."""
    return (infl or influence(m, group)).dfbetas()
