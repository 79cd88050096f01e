"""Replacing an interpolation point: Powell's choice of KNEW in BOBYQB and his SUBROUTINE UPDATE.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math

__all__ = ["choose_knew", "update"]


def choose_knew(npt, n, zmat, vlag, beta, xpt, centre, delsq, skip):
    """The interpolation point to replace (Powell's KNEW choice in BOBYQB).

    The point with the largest
    max(1, (|x_k - centre|^2 / delsq)^2) * (beta * H_kk + vlag_k^2), skipping point ``skip``.

    Parameters
    ----------
    npt, n : int
        Number of interpolation points and of variables.
    zmat, xpt : list of list of float
        ZMAT and the interpolation points.
    vlag : list of float
        The values of the Lagrange functions at the new point.
    beta : float
        BETA of the updating formula.
    centre : list of float
        The point distances are measured from.
    delsq : float
        The squared trust-region radius.
    skip : int
        An index to leave out (-1: none).

    Returns
    -------
    knew : int
        The point chosen; -1 where no product is positive.
    denom : float
        Its denominator.
    scaden, biglsq : float
        The largest weighted denominator and the largest weighted squared VLAG.
    """
    scaden = 0.0
    biglsq = 0.0
    knew = -1
    denom = 0.0
    for k in range(npt):
        if k == skip:
            continue
        hdiag = 0.0
        for v in zmat[k]:
            hdiag = hdiag + v * v
        den = beta * hdiag + vlag[k] * vlag[k]
        xk = xpt[k]
        distsq = 0.0
        for j in range(n):
            t = xk[j] - centre[j]
            distsq = distsq + t * t
        t = distsq / delsq
        temp = max(1.0, t * t)
        if temp * den > scaden:
            scaden = temp * den
            knew = k
            denom = den
        biglsq = max(biglsq, temp * (vlag[k] * vlag[k]))
    return knew, denom, scaden, biglsq


def update(n, npt, bmat, zmat, vlag, beta, denom, knew):
    """Update BMAT and ZMAT for the new position of interpolation point KNEW.

    Parameters
    ----------
    n, npt : int
        Number of variables and of interpolation points.
    bmat, zmat : list of list of float
        Revised in place.
    vlag : list of float
        (length npt + n) The first NPT and last N components of the product Hw of
        equation (4.11) of Powell's NEWUOA paper; VLAG(KNEW) is decreased by one, as in
        Powell's code.
    beta, denom : float
        BETA and the denominator of the updating formula.
    knew : int
        0-based index of the point replaced.
    """
    nptm = npt - n - 1
    ztest = 0.0
    for k in range(npt):
        for v in zmat[k]:
            av = abs(v)
            if av > ztest:
                ztest = av
    ztest = 1e-20 * ztest

    # Apply the rotations that put zeros in the KNEW-th row of ZMAT.
    zk = zmat[knew]
    for j in range(1, nptm):
        if abs(zk[j]) > ztest:
            temp = math.sqrt(zk[0] * zk[0] + zk[j] * zk[j])
            tempa = zk[0] / temp
            tempb = zk[j] / temp
            for i in range(npt):
                zi = zmat[i]
                temp = tempa * zi[0] + tempb * zi[j]
                zi[j] = tempa * zi[j] - tempb * zi[0]
                zi[0] = temp
        zk[j] = 0.0

    # Put the first NPT components of the KNEW-th column of HLAG into W, and
    # calculate the parameters of the updating formula.
    w = [zk[0] * zmat[i][0] for i in range(npt)] + [0.0] * n
    alpha = w[knew]
    tau = vlag[knew]
    vlag[knew] = vlag[knew] - 1.0

    # Complete the updating of ZMAT.
    temp = math.sqrt(denom)
    tempb = zk[0] / temp
    tempa = tau / temp
    for i in range(npt):
        zmat[i][0] = tempa * zmat[i][0] - tempb * vlag[i]

    # Finally, update the matrix BMAT.
    for j in range(n):
        jp = npt + j
        w[jp] = bmat[knew][j]
        tempa = (alpha * vlag[jp] - tau * w[jp]) / denom
        tempb = (-beta * w[jp] - tau * vlag[jp]) / denom
        for i in range(jp + 1):
            bmat[i][j] = bmat[i][j] + tempa * vlag[i] + tempb * w[i]
            if i >= npt:
                bmat[jp][i - npt] = bmat[i][j]
