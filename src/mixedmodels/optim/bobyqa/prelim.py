"""Powell's SUBROUTINE PRELIM: the initial interpolation points, quadratic model and H matrix.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

from .kernels import SQRT2, SQRTHALF
from .objective import point

__all__ = ["prelim"]


def prelim(calfun, n, npt, x, xl, xu, rhobeg, xbase, xpt, fval, gopt, hq, bmat, zmat, sl, su):
    """Initial interpolation points, quadratic model and H matrix.

    Sets XBASE, XPT, FVAL, GOPT (the gradient of the model at XBASE), HQ, BMAT
    and ZMAT (PQ and the rest are zero on entry).  CALFUN counts NF.

    Kept whole: it is a statement-by-statement port of Powell's SUBROUTINE PRELIM, checked bit
    for bit against the Fortran (tests/test_bobyqa.py); splitting it would break that
    correspondence.

    Parameters
    ----------
    calfun : Objective
        The objective.
    n, npt : int
        Number of variables and of interpolation points.
    x, xl, xu : list of float
        Starting point and bounds.
    rhobeg : float
        Initial trust-region radius: the spacing of the initial points.
    xbase, xpt, fval, gopt, hq, bmat, zmat, sl, su : list
        BOBYQB's arrays (see :func:`.bobyqb.bobyqb`), lists of floats (XPT, BMAT, ZMAT: lists of
        rows), read or revised in place as in Powell's code.

    Returns
    -------
    int
        KOPT, the 0-based index of the least calculated function value.
    """
    rhosq = rhobeg * rhobeg
    recip = 1.0 / rhosq
    np_ = n + 1
    xbase[:] = x

    # Begin the initialization procedure. NF becomes one more than the number
    # of function values so far. The coordinates of the displacement of the
    # next initial interpolation point from XBASE are set in XPT(NF+1,.).
    # (nf, nfm, nfx, ipt and jpt are Powell's 1-based numbers.)
    kopt = 0
    fbeg = 0.0
    stepa = stepb = 0.0
    ipt = jpt = 0
    nf = 0
    while True:  # label 50
        nfm = nf
        nfx = nf - n
        nf += 1
        if nfm <= 2 * n:
            if 1 <= nfm <= n:
                stepa = rhobeg
                if su[nfm - 1] == 0.0:
                    stepa = -stepa
                xpt[nf - 1][nfm - 1] = stepa
            elif nfm > n:
                stepa = xpt[nf - n - 1][nfx - 1]
                stepb = -rhobeg
                if sl[nfx - 1] == 0.0:
                    stepb = min(2.0 * rhobeg, su[nfx - 1])
                if su[nfx - 1] == 0.0:
                    stepb = max(-2.0 * rhobeg, sl[nfx - 1])
                xpt[nf - 1][nfx - 1] = stepb
        else:
            itemp = (nfm - np_) // n
            jpt = nfm - itemp * n - n
            ipt = jpt + itemp
            if ipt > n:
                itemp = jpt
                jpt = ipt - n
                ipt = itemp
            xpt[nf - 1][ipt - 1] = xpt[ipt][ipt - 1]
            xpt[nf - 1][jpt - 1] = xpt[jpt][jpt - 1]

        # Calculate the next value of F. The least function value so far and
        # its index are required.
        f = calfun(point(xbase, xpt[nf - 1], xl, xu, sl, su))
        fval[nf - 1] = f
        if nf == 1:
            fbeg = f
            kopt = 0
        elif f < fval[kopt]:
            kopt = nf - 1

        # Set the nonzero initial elements of BMAT and the quadratic model in
        # the cases when NF is at most 2*N+1. If NF exceeds N+1, then the
        # positions of the NF-th and (NF-N)-th interpolation points may be
        # switched, in order that the function value at the first of them
        # contributes to the off-diagonal second derivative terms of the
        # initial quadratic model.
        if nf <= 2 * n + 1:
            if 2 <= nf <= n + 1:
                gopt[nfm - 1] = (f - fbeg) / stepa
                if npt < nf + n:
                    bmat[0][nfm - 1] = -1.0 / stepa
                    bmat[nf - 1][nfm - 1] = 1.0 / stepa
                    bmat[npt + nfm - 1][nfm - 1] = -0.5 * rhosq
            elif nf >= n + 2:
                j = nfx - 1
                ih = (nfx * (nfx + 1)) // 2 - 1
                temp = (f - fbeg) / stepb
                diff = stepb - stepa
                hq[ih] = 2.0 * (temp - gopt[j]) / diff
                gopt[j] = (gopt[j] * stepb - temp * stepa) / diff
                if stepa * stepb < 0.0:
                    if f < fval[nf - n - 1]:
                        fval[nf - 1] = fval[nf - n - 1]
                        fval[nf - n - 1] = f
                        if kopt == nf - 1:
                            kopt = nf - n - 1
                        xpt[nf - n - 1][j] = stepb
                        xpt[nf - 1][j] = stepa
                bmat[0][j] = -(stepa + stepb) / (stepa * stepb)
                bmat[nf - 1][j] = -0.5 / xpt[nf - n - 1][j]
                bmat[nf - n - 1][j] = -bmat[0][j] - bmat[nf - 1][j]
                zmat[0][j] = SQRT2 / (stepa * stepb)
                zmat[nf - 1][j] = SQRTHALF / rhosq
                zmat[nf - n - 1][j] = -zmat[0][j] - zmat[nf - 1][j]
        else:
            # Set the off-diagonal second derivatives of the Lagrange functions
            # and the initial quadratic model.
            ih = (ipt * (ipt - 1)) // 2 + jpt - 1
            c = nfx - 1
            zmat[0][c] = recip
            zmat[nf - 1][c] = recip
            zmat[ipt][c] = -recip
            zmat[jpt][c] = -recip
            temp = xpt[nf - 1][ipt - 1] * xpt[nf - 1][jpt - 1]
            hq[ih] = (fbeg - fval[ipt] - fval[jpt] + f) / temp
        if nf < npt and nf < calfun.maxfun:
            continue
        return kopt
