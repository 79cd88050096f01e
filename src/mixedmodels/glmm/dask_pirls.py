r"""PIRLS where the rows live on a Dask cluster: one map-reduce round per step, the same deviance as in memory.

A PIRLS step needs the rows only through sums: at the current linear predictor, the deviance
residuals' sum (for the penalized deviance ``sum devres + ||u||^2``), the family's aic (for the
Laplace deviance), and the crossproducts of ``[Z X z]`` weighted by the working weights (the next
step's penalized least-squares system). Each is a sum over partitions, and the linear predictor
itself never has to travel: every partition computes it from what the client sends, ``beta`` and
``b = Lambda u`` (one (levels x p) array per term), as ``eta = offset + X beta + Z b``, or, before
the first fit, from R's starting means (``offset + g(mustart)``, computed on the worker). So one
step is one round: the map :func:`glmm_round` on every persisted chunk, a tree reduce, and the
client's factorization and solve of the summed system (:class:`~mixedmodels.core.lmm.LmmCore`).

:class:`DaskGlmmModel` has the face of :class:`~mixedmodels.glmm.pirls.GlmmModel` that the
deviance functions and glmer's two optimization stages use (``pirls``, ``laplace``, ``start_eta``,
``layout``, ``x_scales``), so the fit runs unchanged on top of it. Its PIRLS is
:meth:`GlmmModel._pirls <mixedmodels.glmm.pirls.GlmmModel>`'s algorithm (lme4's ``pwrssUpdate``:
Fisher steps, step halving, the relative-change stop, the last step's factor or, with ``at_mode``,
the factor at the mode) written for a linear predictor that lives on the workers; every row
function is the in-memory one (:class:`~mixedmodels.glmm.row_family.RowFamily`), so the two differ
by the order of the sums only.

The aic is summed over rows too: the binomial's and Poisson's are sums; a family with a
dispersion (Gamma, inverse Gaussian) estimates it from the whole deviance, so each partition gives
the sums its aic needs (``Family.aic_sums``) and the client finishes it. Adaptive quadrature
(nAGQ > 1, one scalar term) adds one round per evaluation: the per-level sums of the deviance
residuals at the nodes (:func:`agq_sums`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.blocks import CrossBlocks
from ..core.dask_rows import DaskReduce
from ..core.layout import ThetaLayout
from ..core.lmm import LmmCore
from ..core.rows import RowChunk, chunk_blocks, combine_blocks, finish_blocks, term_shapes
from .pirls import (PirlsError, PirlsResult, RandomEffectsVector, agq_deviance, agq_nodes, check_pirls_settings,
                    halve_steps, pls_step)
from .row_family import RowFamily

__all__ = ["GlmmChunk", "glmm_chunk", "RemoteEta", "glmm_round", "combine_rounds", "chunk_values", "sorted_values",
           "ROW_VALUES", "glmm_stats",
           "combine_glmm_stats", "DaskPirlsResult", "DaskGlmmModel"]


@dataclass
class GlmmChunk(RowChunk):
    """A partition's rows as a GLMM reads them: ``y`` the family's response (proportions for
    cbind), ``weights`` the prior weights (times the trials for cbind), ``ntrials`` R's ``n``,
    ``mustart`` R's starting means."""

    ntrials: np.ndarray | None = None
    mustart: np.ndarray | None = None


def glmm_chunk(ch: RowChunk, family) -> GlmmChunk:
    """The family's view of a chunk (``family.initialize``, as in memory), run on its worker."""
    k = np.asarray(ch.X).shape[0]
    if not k:
        z = np.empty(0)
        return GlmmChunk(ch.X, z, ch.z, ch.codes, z, ch.offset, ch.index, ntrials=z, mustart=z)
    y, n, w, mustart = family.initialize(ch.y, ch.weights)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    return GlmmChunk(ch.X, np.asarray(y, dtype=float), ch.z, ch.codes, w, ch.offset, ch.index,
                     ntrials=np.asarray(n, dtype=float), mustart=np.asarray(mustart, dtype=float))


@dataclass(frozen=True)
class RemoteEta:
    """A linear predictor that lives on the workers: ``offset + X beta + Z b`` (``b`` one
    (levels x p) array per term), or with ``b`` None the start ``offset + g(mustart)``."""

    beta: np.ndarray | None = None
    b: tuple | None = None

    @property
    def is_start(self) -> bool:
        return self.b is None


def _offset(ch: GlmmChunk, k: int) -> np.ndarray:
    return np.zeros(k) if ch.offset is None else np.asarray(ch.offset, dtype=float)


def chunk_eta(ch: GlmmChunk, eta: RemoteEta, family) -> np.ndarray:
    """The chunk's rows of a remote linear predictor."""
    X = np.asarray(ch.X, dtype=float)
    k = X.shape[0]
    out = _offset(ch, k).copy()
    if eta.is_start:
        with np.errstate(all="ignore"):
            return out + family.linkfun(ch.mustart)
    if X.shape[1]:
        out += X @ eta.beta
    for z, codes, B in zip(ch.z, ch.codes, eta.b):
        out += np.einsum("ij,ij->i", np.asarray(z, dtype=float), B[np.asarray(codes, dtype=np.intp)])
    return out


def glmm_round(ch: GlmmChunk, family, many_trials: bool, eta: RemoteEta, base_beta, shapes, system: bool,
               with_x: bool) -> dict | None:
    """One PIRLS round's map on a chunk: at ``eta``, the sums of the deviance residuals and of the
    aic, and (``system``) the blocks of the next step's system: ``[Z X z]`` (X only ``with_x``)
    weighted by the working weights, the working response taken about ``offset + X base_beta``
    (``base_beta`` None: about the offset). None for a chunk without rows."""
    X = np.asarray(ch.X, dtype=float)
    k = X.shape[0]
    if not k:
        return None
    rows = RowFamily(family, ch.y, ch.ntrials, ch.weights, many_trials)
    with np.errstate(all="ignore"):
        e = chunk_eta(ch, eta, family)
        mu = rows.linkinv(e)
        devres = rows.dev_resids(mu)
        dev = float(np.sum(devres))
        out = dict(dev=dev, aic=rows.aic_sums(mu, dev), finite=bool(np.all(np.isfinite(e))), blocks=None)
        if system:
            base = _offset(ch, k)
            if base_beta is not None and X.shape[1]:
                base = base + X @ base_beta
            w, z = rows.working(e, mu, base)
    if system:
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(z))):
            out["finite"] = False
        else:
            sub = RowChunk(X if with_x else np.zeros((k, 0)), z, ch.z, ch.codes, w, None)
            out["blocks"] = chunk_blocks(sub, shapes, 0.0, None, 0.0, False)
    return out


def combine_rounds(a: dict | None, b: dict | None) -> dict | None:
    """The reduce of :func:`glmm_round`: sums, and finite where both are."""
    if a is None or b is None:
        return a if b is None else b
    blocks = None if a["blocks"] is None or b["blocks"] is None else combine_blocks(a["blocks"], b["blocks"])
    return dict(dev=a["dev"] + b["dev"], aic=a["aic"] + b["aic"], finite=a["finite"] and b["finite"], blocks=blocks)


ROW_VALUES = ("eta", "mu", "response", "pearson", "deviance", "working")


def chunk_values(ch: GlmmChunk, family, many_trials: bool, eta: RemoteEta, what: str) -> np.ndarray:
    """A chunk's rows of the linear predictor ("eta"), the means ("mu") or residuals of a kind
    (lme4's ``residuals(m, type)``: "response", "pearson", "deviance", "working") at ``eta``, in
    the rows' order."""
    e = chunk_eta(ch, eta, family)
    if what == "eta":
        return e
    rows = RowFamily(family, ch.y, ch.ntrials, ch.weights, many_trials)
    mu = rows.linkinv(e)
    y = np.asarray(ch.y, dtype=float)
    if what == "mu":
        return mu
    if what == "response":
        return y - mu
    if what == "pearson":
        return np.sqrt(np.asarray(ch.weights, dtype=float) / family.variance(mu)) * (y - mu)
    if what == "deviance":
        d = np.sqrt(np.maximum(rows.dev_resids(mu), 0.0))
        return np.where(y > mu, d, -d)
    return (y - mu) / family.mu_eta(e)


def pearson_ss(ch: GlmmChunk, family, many_trials: bool, eta: RemoteEta) -> float:
    """A chunk's Pearson chi-square ``sum w (y - mu)^2 / V(mu)`` at ``eta`` (a scale family's sigma)."""
    if not np.asarray(ch.X).shape[0]:
        return 0.0
    r = chunk_values(ch, family, many_trials, eta, "pearson")
    return float(r @ r)


def add(a, b):
    """The reduce of :func:`pearson_ss` and :func:`agq_sums`: a sum (None: a chunk without rows)."""
    if a is None or b is None:
        return a if b is None else b
    return a + b


def agq_sums(ch: GlmmChunk, family, many_trials: bool, eta: RemoteEta, theta0: float, shifts) -> np.ndarray | None:
    """Adaptive quadrature's round on a chunk: the per-level sums of the deviance residuals at the
    mode ``eta`` (row 0) and with the first term's effects moved by each node's ``shifts[j]`` (one
    value per level; rows 1..K), what :func:`~mixedmodels.glmm.pirls.agq_deviance` takes."""
    if not np.asarray(ch.X).shape[0]:
        return None
    rows = RowFamily(family, ch.y, ch.ntrials, ch.weights, many_trials)
    codes = np.asarray(ch.codes[0], dtype=np.intp)
    zc = np.asarray(ch.z[0], dtype=float)[:, 0]
    nlev = shifts.shape[1]
    out = np.empty((1 + shifts.shape[0], nlev))
    with np.errstate(all="ignore"):
        e = chunk_eta(ch, eta, family)
        out[0] = np.bincount(codes, weights=rows.dev_resids(rows.linkinv(e)), minlength=nlev)
        for j, s in enumerate(shifts, start=1):
            mu = rows.linkinv(e + theta0 * zc * s[codes])
            out[j] = np.bincount(codes, weights=rows.dev_resids(mu), minlength=nlev)
    return out


def sorted_values(ch: GlmmChunk, family, many_trials: bool, eta: RemoteEta, what: str) -> np.ndarray:
    """:func:`chunk_values`, sorted (for :func:`~mixedmodels.core.dask_rows.exact_quantiles`)."""
    return np.sort(chunk_values(ch, family, many_trials, eta, what))


def glmm_stats(ch: GlmmChunk) -> dict | None:
    """The first round's map: rows, whether some row has more than one binomial trial, the range of
    the response and the largest |x| of each column of X."""
    X = np.asarray(ch.X, dtype=float)
    if not X.shape[0]:
        return None
    return dict(n=X.shape[0], many=bool(np.any(ch.ntrials > 1)), ylo=float(np.min(ch.y)), yhi=float(np.max(ch.y)),
                big=np.max(np.abs(X), axis=0) if X.shape[1] else np.zeros(0))


def combine_glmm_stats(a: dict | None, b: dict | None) -> dict | None:
    """The reduce of :func:`glmm_stats`."""
    if a is None or b is None:
        return a if b is None else b
    return dict(n=a["n"] + b["n"], many=a["many"] or b["many"], ylo=min(a["ylo"], b["ylo"]),
                yhi=max(a["yhi"], b["yhi"]), big=np.maximum(a["big"], b["big"]))


@dataclass
class DaskPirlsResult(PirlsResult):
    """A PIRLS fit whose rows' values (eta, mu, the deviance residuals) stay on the cluster: ``eta``
    is a :class:`RemoteEta`, ``mu`` and ``devres`` are None, and the sums the deviance needs are
    held."""

    dev_sum: float = math.nan
    aic_sum: float = math.nan

    @property
    def dev(self) -> float:
        return float(self.dev_sum)


class DaskGlmmModel(RandomEffectsVector):
    """A GLMM whose rows are persisted Dask chunks (:class:`GlmmChunk`), with the face of
    :class:`~mixedmodels.glmm.pirls.GlmmModel` that glmer's fit uses.

    Parameters
    ----------
    family : Family
        Binomial, Poisson, Gamma or inverse Gaussian.
    terms : list of ReTerm
        The random-effects terms (levels and columns; no rows).
    chunks : list
        The persisted delayed chunks.
    n : int
        Rows in all.
    p : int
        Columns of X.
    x_scales : numpy.ndarray
        :func:`~mixedmodels.optim.scales.column_scales` of X, from the rows' summaries.
    many_trials : bool
        Whether some row has more than one binomial trial (the binomial aic's convention).
    tol, maxit : float, int
        PIRLS's relative tolerance and iteration limit.
    at_mode : bool
        The Laplace deviance from the system at the mode's weights (else lme4's last step's).
    """

    def __init__(self, family, terms, chunks, n: int, p: int, x_scales, many_trials: bool, *, tol=1e-7,
                 maxit=100, at_mode: bool = False):
        self.family, self.terms = family, terms
        self.reduce = DaskReduce(chunks)
        self.n, self.p = int(n), int(p)
        self.layout = ThetaLayout.for_terms(terms)
        self.q = int(sum(t.q for t in terms))
        self.x_scales = np.asarray(x_scales, dtype=float)
        self.many_trials = bool(many_trials)
        check_pirls_settings(tol, maxit)
        self.tol, self.maxit, self.at_mode = tol, maxit, bool(at_mode)
        self.shapes = term_shapes(terms)
        self.npirls = 0
        self.rounds = 0
        self._start = None   # (eta, round with X): the round every PIRLS from one start begins with

    # ------------------------------------------------------------------ the rows' side
    def _round(self, eta: RemoteEta, base_beta, with_x: bool, system: bool = True) -> dict:
        """One map-reduce round at ``eta`` (:func:`glmm_round`)."""
        self.rounds += 1
        out = self.reduce(glmm_round, combine_rounds, self.family, self.many_trials, eta, base_beta, self.shapes,
                          system, with_x)
        if out is None:
            raise PirlsError("PIRLS: the data have no rows")
        return out

    def _first_round(self, eta: RemoteEta, base_beta, with_x: bool) -> dict:
        """The round PIRLS begins with from a start ``eta``, without a pass over the rows after the
        first at that start.

        The deviance functions start every PIRLS from one linear predictor, so the working weights
        of the first step are the same at every evaluation. The round with X (the response about
        the offset, ``z0``) is kept; stage 2's system of u alone at a new ``beta`` has the working
        response ``z0 - X beta``, whose crossproducts follow from it by algebra:
        ``Z'W(z0 - X beta) = Z'Wz0 - Z'WX beta`` (the in-memory PIRLS refills the same column).
        """
        if self._start is None or self._start[0] is not eta:
            self._start = (eta, self._round(eta, None, True))
        full = self._start[1]
        if with_x or full["blocks"] is None or not self.p:
            return full
        beta = np.asarray(base_beta, dtype=float)
        A, p = full["blocks"], self.p
        moved = dict(A)
        moved["C0"] = (A["C0"][..., p] - A["C0"][..., :p] @ beta)[..., None]
        if A["ArX"] is not None:
            moved["ArX"] = (A["ArX"][:, p] - A["ArX"][:, :p] @ beta)[:, None]
        X_z, X_X = A["AXX"][:p, p], A["AXX"][:p, :p]
        moved["AXX"] = np.array([[A["AXX"][p, p] - 2.0 * float(beta @ X_z) + float(beta @ X_X @ beta)]])
        return dict(full, blocks=moved)

    def _core(self, blocks: dict, with_x: bool) -> LmmCore:
        """The penalized least-squares system from a round's summed blocks."""
        p = self.p if with_x else 0
        A = finish_blocks(blocks, None, p)
        cols = list(range(p + 1))
        sel = (lambda M: None if M is None else M[..., cols])
        cb = CrossBlocks(self.n, p, 0.0, np.zeros(p), float(A["AXX"][p, p]), self.layout.default_start(), A["A00"],
                         sel(A["C0"]), A["Ar0"], A["Arr"], sel(A["ArX"]), A["AXX"][np.ix_(cols, cols)])
        return LmmCore.from_blocks(self.terms, self.layout, cb)

    def start_eta(self, mustart=None) -> RemoteEta:
        """The start ``offset + g(mustart)``, each partition's own (``mustart`` is computed there).

        Raises
        ------
        FitError
            Where it is not finite somewhere.
        """
        from ..errors import FitError

        eta = RemoteEta()
        if not self._first_round(eta, None, True)["finite"]:  # kept: the first PIRLS starts with it
            fam = self.family
            raise FitError(f"cannot find valid starting values for the {fam.name} family with the {fam.link} link")
        return eta

    # ------------------------------------------------------------------ PIRLS
    def pirls(self, theta, beta=None, eta_start=None, u_start=None, beta_start=None) -> DaskPirlsResult:
        """The conditional mode at theta: of u given ``beta``, or of (beta, u) with ``beta`` None, as
        :meth:`GlmmModel.pirls <mixedmodels.glmm.pirls.GlmmModel.pirls>`; each step one round.

        Raises
        ------
        PirlsError
            Where PIRLS cannot converge, as in memory.
        """
        self.npirls += 1
        theta = np.asarray(theta, dtype=float)
        uonly = beta is not None
        with_x = not uonly
        b = (np.asarray(beta, dtype=float) if uonly else
             np.zeros(self.p) if beta_start is None else np.asarray(beta_start, dtype=float).copy())
        u = np.zeros(self.q) if u_start is None else np.asarray(u_start, dtype=float).copy()
        base_beta = b if uonly else None
        if eta_start is not None:
            state = self._first_round(eta_start, base_beta, with_x)
        else:
            state = self._round(self._eta(theta, b, u), base_beta, with_x)
        oldpdev = np.finfo(float).max
        tol = self.tol
        converged = False
        f = core = None
        it = 0
        for it in range(1, self.maxit + 1):
            u_old, b_old = u, b
            if not state["finite"] or state["blocks"] is None:
                raise PirlsError("PIRLS: non-finite working weights or response")
            core = self._core(state["blocks"], with_x)
            f, bnew, u = pls_step(core, theta)
            if not uonly:
                b = bnew
            state, pdev = self._update(theta, b, u, base_beta, with_x)
            if abs((oldpdev - pdev) / pdev) < tol:
                converged = True
                break
            if math.isnan(pdev) or pdev > oldpdev:
                state, u, b, pdev = halve_steps(lambda b_, u_: self._update(theta, b_, u_, base_beta, with_x),
                                                u_old, b_old, u, b, uonly, pdev, oldpdev, tol)
            oldpdev = pdev
        if not converged:
            raise PirlsError(f"PIRLS did not converge in {self.maxit} iterations")
        if not math.isfinite(pdev):
            raise PirlsError("PIRLS produced a non-finite deviance")
        if self.at_mode and state["finite"] and state["blocks"] is not None:
            # the last round was at the mode: its blocks are the system at the mode's weights
            mode_core = self._core(state["blocks"], with_x)
            f_mode = mode_core.factor(theta)
            if f_mode is not None:
                core, f = mode_core, f_mode
        return DaskPirlsResult(theta, np.asarray(b, dtype=float), u, self._eta(theta, b, u), None, None, float(pdev),
                               f, core, it, None, dev_sum=state["dev"],
                               aic_sum=self.family.aic_from_sums(state["aic"], state["dev"]))

    def mode_system(self, r: DaskPirlsResult) -> LmmCore:
        """The penalized least-squares system with X at the working weights of the mode ``r``, the
        working response about the offset (what the in-memory result factors for condVar and the
        fallback vcov): one more round."""
        state = self._round(r.eta, None, True)
        if not state["finite"] or state["blocks"] is None:
            raise PirlsError("PIRLS: non-finite working weights or response at the mode")
        return self._core(state["blocks"], True)

    def _eta(self, theta, b, u) -> RemoteEta:
        return RemoteEta(np.asarray(b, dtype=float), tuple(self.b_list(theta, u)))

    def _update(self, theta, b, u, base_beta, with_x):
        """The round at the new (beta, u): the penalized deviance there, and the next step's system."""
        state = self._round(self._eta(theta, b, u), base_beta, with_x)
        pdev = state["dev"] + float(u @ u) if state["finite"] else math.nan
        return state, pdev

    # ------------------------------------------------------------------ deviance functions
    def laplace(self, r: DaskPirlsResult) -> float:
        """lme4's Laplace deviance: ldL2 + ||u||^2 + aic(mu), the aic summed on the cluster."""
        return float(r.f.ldL2 + r.sqr_u + r.aic_sum)

    def agq(self, r: DaskPirlsResult, rule) -> float:
        """lme4's adaptive Gauss-Hermite deviance (one scalar term): the per-level sums at the mode
        and at the nodes in one round (:func:`agq_sums`), the rest as in memory."""
        sd = 1.0 / r.f.L00[:, 0, 0]
        shifts = np.array([zk * sd for zk in agq_nodes(rule)]).reshape(-1, sd.size)
        S = self.reduce(agq_sums, add, self.family, self.many_trials, r.eta, float(r.theta[0]), shifts)
        return agq_deviance(r.u, sd, rule, S, r.f.ldL2)
