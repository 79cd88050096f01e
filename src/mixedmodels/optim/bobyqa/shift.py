"""The shift of XBASE to XBASE+XOPT in BOBYQB (label 90): BMAT and the model follow the origin.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations



__all__ = ["shift_xbase"]


def shift_xbase(n, npt, xbase, xpt, xopt, xoptsq, hq, pq, bmat, zmat, sl, su, xnew):
    """Shift XBASE to XBASE+XOPT, revising BMAT and the model (BOBYQB, label 90).

    Parameters
    ----------
    n, npt : int
        Number of variables and of interpolation points.
    xbase, xpt, xopt, hq, pq, bmat, zmat, sl, su : list
        BOBYQB's arrays, revised in place (XOPT becomes zero).
    xoptsq : float
        The squared length of XOPT.
    xnew : list of float
        Shifted with the origin.
    """
    nptm = npt - n - 1
    fracsq = 0.25 * xoptsq
    sumpq = 0.0
    w = [0.0] * n
    wn = [0.0] * npt  # W(NPT+K)
    vl = [0.0] * max(npt, n)  # VLAG used as working space
    for k in range(npt):
        xk = xpt[k]
        sumpq = sumpq + pq[k]
        sm = -0.5 * xoptsq
        for i in range(n):
            sm = sm + xk[i] * xopt[i]
        wn[k] = sm
        temp = fracsq - 0.5 * sm
        bk = bmat[k]
        for i in range(n):
            w[i] = bk[i]
            vl[i] = sm * xk[i] + temp * xopt[i]
            bi = bmat[npt + i]
            for j in range(i + 1):
                bi[j] = bi[j] + w[i] * vl[j] + vl[i] * w[j]

    # Then the revisions of BMAT that depend on ZMAT are calculated.
    for jj in range(nptm):
        sumz = 0.0
        sumw = 0.0
        for k in range(npt):
            sumz = sumz + zmat[k][jj]
            vl[k] = wn[k] * zmat[k][jj]
            sumw = sumw + vl[k]
        for j in range(n):
            sm = (fracsq * sumz - 0.5 * sumw) * xopt[j]
            for k in range(npt):
                sm = sm + vl[k] * xpt[k][j]
            w[j] = sm
            for k in range(npt):
                bmat[k][j] = bmat[k][j] + sm * zmat[k][jj]
        for i in range(n):
            bi = bmat[npt + i]
            temp = w[i]
            for j in range(i + 1):
                bi[j] = bi[j] + temp * w[j]

    # The following instructions complete the shift, including the changes to
    # the second derivative parameters of the quadratic model.
    ih = 0
    for j in range(n):
        w[j] = -0.5 * sumpq * xopt[j]
        for k in range(npt):
            w[j] = w[j] + pq[k] * xpt[k][j]
            xpt[k][j] = xpt[k][j] - xopt[j]
        for i in range(j + 1):
            hq[ih] = hq[ih] + w[i] * xopt[j] + xopt[i] * w[j]
            ih += 1
            bmat[npt + i][j] = bmat[npt + j][i]
    for i in range(n):
        xbase[i] = xbase[i] + xopt[i]
        xnew[i] = xnew[i] - xopt[i]
        sl[i] = sl[i] - xopt[i]
        su[i] = su[i] - xopt[i]
        xopt[i] = 0.0
