"""Where theta goes: the lower-triangular templates T_k of the terms and the pattern of Lambda.

lme4's order: term by term, each template's lower triangle column by column.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ThetaLayout", "block_pattern"]


class ThetaLayout:
    """Where each theta entry goes in the lower-triangular template T_k of each term.

    lme4's order: term by term, each template's lower triangle column by column.
    """

    def __init__(self, ps: list[int]):
        self.ps = list(ps)
        self.rows, self.cols, self.offsets = [], [], []
        off = 0
        for p in ps:
            r, c = [], []
            for j in range(p):
                for i in range(j, p):
                    r.append(i)
                    c.append(j)
            self.rows.append(np.array(r, dtype=np.intp))
            self.cols.append(np.array(c, dtype=np.intp))
            self.offsets.append(off)
            off += len(r)
        self.size = off

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The templates T_k (p_k x p_k lower triangular) filled from theta."""
        out = []
        for p, r, c, off in zip(self.ps, self.rows, self.cols, self.offsets):
            T = np.zeros((p, p))
            T[r, c] = theta[off: off + len(r)]
            out.append(T)
        return out

    def start(self) -> np.ndarray:
        """lme4's starting value: 1 on the diagonal, 0 elsewhere; for the layout of an LmmCore whose
        terms are all random intercepts, lme4's moment-based start instead (LmmCore.start_theta)."""
        if getattr(self, "_start", None) is not None:
            return self._start.copy()
        return self.default_start()

    def default_start(self) -> np.ndarray:
        """1 on the diagonal of each template, 0 elsewhere."""
        return np.concatenate([(r == c).astype(float) for r, c in zip(self.rows, self.cols)])

    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for diagonal entries, -inf for the others."""
        return np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in zip(self.rows, self.cols)])

    def is_diagonal(self) -> np.ndarray:
        """Whether each theta entry is a diagonal entry of its template."""
        return np.concatenate([r == c for r, c in zip(self.rows, self.cols)])


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


