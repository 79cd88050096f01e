"""Where theta goes: the lower-triangular templates T_k of the terms and the pattern of Lambda.

lme4's order: term by term, each template's lower triangle column by column; a structured term
(:mod:`.structures`) fills its template from fewer parameters.
"""
from __future__ import annotations

import numpy as np

from .structures import Structure

__all__ = ["ThetaLayout", "block_pattern"]


class ThetaLayout:
    """Where theta goes: the template T_k of each term, from the term's own parameters.

    Two index spaces. ``theta`` is what the optimizer moves: term by term, each term's parameters
    (:mod:`.structures`; for lme4's unstructured terms the template's lower triangle column by
    column). ``phi`` is every template's lower triangle, by column, in the same term order: lme4's
    theta of the unstructured model with the same templates. The numerical core indexes Lambda by
    phi (``rows``, ``cols``, ``offsets``); for a model of unstructured terms only, phi is theta
    itself (no copy, no cost).

    Parameters
    ----------
    ps : list of int
        The number of columns of each term.
    structures : list of str, optional
        Each term's structure (``"us"``, ``"diag"``, ``"homdiag"``, ``"cs"``, ``"homcs"``,
        ``"ar1"``); all ``"us"`` when not given.
    """

    def __init__(self, ps: list[int], structures=None):
        self.ps = list(ps)
        names = list(structures) if structures is not None else ["us"] * len(self.ps)
        self.structures = [Structure(n, p) for n, p in zip(names, self.ps)]
        self.rows = [s.rows for s in self.structures]
        self.cols = [s.cols for s in self.structures]
        self.sizes = [s.size for s in self.structures]
        self.offsets = list(np.cumsum([0] + [r.size for r in self.rows])[:-1].astype(int))
        self.theta_offsets = list(np.cumsum([0] + self.sizes)[:-1].astype(int))
        self.size = int(sum(self.sizes))
        self.phi_size = int(sum(r.size for r in self.rows))
        self.unstructured = all(s.name == "us" for s in self.structures)

    @classmethod
    def for_terms(cls, terms) -> "ThetaLayout":
        """The layout of a model's random-effects terms (their structures from the formula)."""
        return cls([t.p for t in terms], [getattr(t.term, "structure", "us") for t in terms])

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        """theta cut into each term's parameters."""
        return [theta[o: o + k] for o, k in zip(self.theta_offsets, self.sizes)]

    def phi(self, theta: np.ndarray) -> np.ndarray:
        """Every template's lower triangle (the core's index space of Lambda) at theta."""
        if self.unstructured:
            return theta
        return np.concatenate([s.lower_entries(th) for s, th in zip(self.structures, self.split(theta))])

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The templates T_k (p_k x p_k lower triangular) at theta."""
        return [s.template(th) for s, th in zip(self.structures, self.split(np.asarray(theta, dtype=float)))]

    def chain(self, theta: np.ndarray, grad_phi: np.ndarray) -> np.ndarray:
        """A gradient in phi taken back to theta: ``J' grad_phi`` term by term."""
        if self.unstructured:
            return grad_phi
        out = []
        for s, th, o, r in zip(self.structures, self.split(theta), self.offsets, self.rows):
            g = grad_phi[o: o + r.size]
            out.append(g if s.name == "us" else s.jacobian(th).T @ g)
        return np.concatenate(out)

    def start(self) -> np.ndarray:
        """lme4's starting value: 1 on the diagonal, 0 elsewhere; for the layout of an LmmCore whose
        terms are all random intercepts, lme4's moment-based start instead (LmmCore.start_theta)."""
        if getattr(self, "_start", None) is not None:
            return self._start.copy()
        return self.default_start()

    def default_start(self) -> np.ndarray:
        """1 for every scale, 0 for every correlation (a structure's own start)."""
        return np.concatenate([s.start() for s in self.structures]) if self.structures else np.zeros(0)

    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for the scales (lme4's diagonal entries), -inf for the others."""
        return np.concatenate([s.lower() for s in self.structures]) if self.structures else np.zeros(0)

    def is_diagonal(self) -> np.ndarray:
        """Whether each theta entry is a scale: a diagonal entry of an unstructured template, or a
        structure's sd (lme4's isSingular looks at these)."""
        return np.concatenate([s.is_sd() for s in self.structures]) if self.structures else np.zeros(0, bool)

    def template_diagonals(self, theta: np.ndarray) -> np.ndarray:
        """The diagonal entries of every template: where a structured term is singular (a
        correlation at its bound makes a diagonal entry 0 though no sd is)."""
        T = self.templates(theta)
        return np.concatenate([np.diag(t) for t in T]) if T else np.zeros(0)


def block_pattern(terms, layout_offsets, ps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pattern of blockdiag(I_l (x) T_k) over several terms: rows, cols, theta index of each entry."""
    R, C, I = [], [], []
    base = 0
    for t, off, p in zip(terms, layout_offsets, ps):
        idx = 0
        local_r, local_c, local_i = [], [], []
        for j in range(p):
            for i in range(j, p):
                local_r.append(i)
                local_c.append(j)
                local_i.append(off + idx)
                idx += 1
        lr, lc, li = map(np.array, (local_r, local_c, local_i))
        lev = np.arange(t.nlev)[:, None] * p
        R.append((lev + lr[None, :]).ravel() + base)
        C.append((lev + lc[None, :]).ravel() + base)
        I.append(np.tile(li, t.nlev))
        base += t.q
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, dtype=np.int64))
    return cat(R), cat(C), cat(I)


