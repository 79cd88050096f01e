"""Inner loops shared by Powell's subroutines, in Powell's order of operations.

Products with ZMAT and with the implicit part of the model Hessian recur in ALTMOV, RESCUE and
BOBYQB; the constants are those of PRELIM, ALTMOV and RESCUE.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math

__all__ = ["SQRT2", "SQRTHALF", "add_implicit_hess", "zmat_part"]

SQRT2 = math.sqrt(2.0)
SQRTHALF = math.sqrt(0.5)


def zmat_part(zmat, w, vlag, npt, nptm) -> float:
    """The ZMAT part of Powell's VLAG and BETA, in Powell's order.

    For each column z of ZMAT, s = z'w; s z is added to VLAG (in place).

    Parameters
    ----------
    zmat : list of list of float
        ZMAT, ``npt`` rows of ``nptm``.
    w : list of float
        The vector multiplied (its first ``npt`` components are used).
    vlag : list of float
        Revised in place.
    npt, nptm : int
        Number of interpolation points and of columns of ZMAT.

    Returns
    -------
    float
        Minus the sum of the squares of s: the start of BETA.
    """
    beta = 0.0
    for j in range(nptm):
        sm = 0.0
        for k in range(npt):
            sm = sm + zmat[k][j] * w[k]
        beta = beta - sm * sm
        for k in range(npt):
            vlag[k] = vlag[k] + sm * zmat[k][j]
    return beta


def add_implicit_hess(g, coef, xpt, x, npt, n):
    """Add the implicit part of the model Hessian times x to g, in Powell's order.

    g += sum_k coef_k (x_k . x) x_k, with coef Powell's PQ or a column of H.

    Parameters
    ----------
    g : list of float
        Revised in place.
    coef : list of float
        The ``npt`` coefficients.
    xpt : list of list of float
        The interpolation points x_k.
    x : list of float
        The vector multiplied.
    npt, n : int
        Number of interpolation points and of variables.
    """
    for k in range(npt):
        xk = xpt[k]
        temp = 0.0
        for j in range(n):
            temp = temp + xk[j] * x[j]
        temp = coef[k] * temp
        for i in range(n):
            g[i] = g[i] + temp * xk[i]
