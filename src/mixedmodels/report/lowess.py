"""Cleveland's robust locally weighted regression (R's ``lowess``), for the smooth lines of the
residual plots. Hand-written because the maintained implementation (statsmodels') would add a
large dependency for one curve; checked against R's lowess in tests/test_plots.py."""
from __future__ import annotations

import numpy as np

__all__ = ["lowess"]


def lowess(x, y, frac: float = 2 / 3, iters: int = 3, delta: float | None = None):
    """Cleveland's robust locally weighted regression (the algorithm of R's ``lowess``).

    At each anchor point a straight line is fitted by weighted least squares to the ``frac * n``
    nearest points with tricube weights; ``iters`` robustness passes downweight points with large
    residuals (bisquare weights, scale 6 * median |residual|). Anchors are at least ``delta``
    (default 1% of the range of x) apart; between them the fit is interpolated linearly.
    Returns ``(x_sorted, smoothed)``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    order = np.argsort(x, kind="mergesort")
    x, y = x[order], y[order]
    n = x.size
    if n < 3:
        return x, y.copy()
    k = int(max(min(round(frac * n), n), 2))
    rng = x[-1] - x[0]
    delta = 0.01 * rng if delta is None else float(delta)
    # anchors as R's clowess picks them: after an anchor, skip ahead to the last point within
    # delta of it (ties share their fit); the last point is always an anchor
    anchors, last = [0], 0
    while last < n - 1:
        i = last + 1
        while i < n and x[i] <= x[last] + delta:
            if x[i] == x[last]:
                last = i
            i += 1
        nxt = max(last + 1, i - 1)
        anchors.append(nxt)
        last = nxt
    xa = x[np.array(anchors)]
    D = np.abs(x[None, :] - xa[:, None])
    h = np.partition(D, k - 1, axis=1)[:, k - 1]
    h = np.maximum(h, 1e-12 * max(rng, 1.0))
    U = np.clip(D / h[:, None], 0.0, 1.0)
    base_w = (1 - U ** 3) ** 3
    rw = np.ones(n)
    fit = y.copy()
    for it in range(iters + 1):
        W = base_w * rw[None, :]
        sw = W.sum(axis=1)
        sw[sw == 0] = 1.0
        mx = (W @ x) / sw
        my = (W @ y) / sw
        dx = x[None, :] - mx[:, None]
        sxx = np.einsum("ij,ij->i", W, dx * dx)
        sxy = np.einsum("ij,ij->i", W, dx * (y[None, :] - my[:, None]))
        slope = np.where(sxx > 1e-12 * (rng ** 2 + 1e-300), sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        fa = my + slope * (xa - mx)
        fit = np.interp(x, xa, fa)
        if it == iters:
            break
        r = y - fit
        s = np.median(np.abs(r))
        if s == 0:
            break
        u = np.clip(r / (6 * s), -1, 1)
        rw = (1 - u ** 2) ** 2
    return x, fit
