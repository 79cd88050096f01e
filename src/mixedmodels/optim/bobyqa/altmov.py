"""Powell's SUBROUTINE ALTMOV: alternative positions of the interpolation point to be replaced.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math

from .kernels import SQRT2, add_implicit_hess

__all__ = ["altmov"]


def altmov(n, npt, xpt, xopt, bmat, zmat, sl, su, kopt, knew, adelt, xnew, xalt, minqa_compat):
    """Alternative new positions XNEW and XALT for interpolation point KNEW.

    XNEW is on a straight line through XOPT and another interpolation point and
    should give a large denominator in the next UPDATE; XALT is a constrained
    Cauchy step of the KNEW-th Lagrange function.  Both satisfy the SL/SU
    bounds and ||X - XOPT|| <= ADELT.

    Kept whole: it is a statement-by-statement port of Powell's SUBROUTINE ALTMOV, checked bit
    for bit against the Fortran (tests/test_bobyqa.py); splitting it would break that
    correspondence.

    Parameters
    ----------
    n, npt : int
        Number of variables and of interpolation points.
    xpt, xopt, bmat, zmat, sl, su : list
        BOBYQB's arrays (see :func:`.bobyqb.bobyqb`), read only.
    kopt, knew : int
        0-based indices of the trust-region centre and of the point to be replaced.
    adelt : float
        Bound on the length of the step from XOPT.
    xnew, xalt : list of float
        Set in place to the two alternative positions.
    minqa_compat : bool
        Reset IBDSAV after the line searches, as minqa >= 1.2.5 does.

    Returns
    -------
    alpha : float
        The KNEW-th diagonal element of H.
    cauchy : float
        The square of the KNEW-th Lagrange function at XALT (0 if XALT was not calculated).
    """
    nptm = npt - n - 1
    const = 1.0 + SQRT2

    # Set the first NPT components of HCOL to the leading elements of the
    # KNEW-th column of the H matrix.
    hcol = [0.0] * npt
    zk = zmat[knew]
    for j in range(nptm):
        temp = zk[j]
        for k in range(npt):
            hcol[k] = hcol[k] + temp * zmat[k][j]
    alpha = hcol[knew]
    ha = 0.5 * alpha

    # Calculate the gradient of the KNEW-th Lagrange function at XOPT.
    glag = list(bmat[knew])
    add_implicit_hess(glag, hcol, xpt, xopt, npt, n)

    # Search for a large denominator along the straight lines through XOPT and
    # another interpolation point. SLBD and SUBD will be lower and upper bounds
    # on the step along each of these lines in turn. PREDSQ will be set to the
    # square of the predicted denominator for each line. PRESAV will be set to
    # the largest admissible value of PREDSQ that occurs.
    presav = 0.0
    ksav = kopt  # (unset in Powell's code when no line is admissible)
    stpsav = 0.0
    ibdsav = 0
    step = 0.0
    for k in range(npt):
        if k == kopt:
            continue
        xk = xpt[k]
        dderiv = 0.0
        distsq = 0.0
        for i in range(n):
            temp = xk[i] - xopt[i]
            dderiv = dderiv + glag[i] * temp
            distsq = distsq + temp * temp
        subd = adelt / math.sqrt(distsq)
        slbd = -subd
        ilbd = 0
        iubd = 0
        sumin = min(1.0, subd)

        # Revise SLBD and SUBD if necessary because of the bounds in SL and SU.
        for i in range(n):
            temp = xk[i] - xopt[i]
            if temp > 0.0:
                if slbd * temp < sl[i] - xopt[i]:
                    slbd = (sl[i] - xopt[i]) / temp
                    ilbd = -(i + 1)
                if subd * temp > su[i] - xopt[i]:
                    subd = max(sumin, (su[i] - xopt[i]) / temp)
                    iubd = i + 1
            elif temp < 0.0:
                if slbd * temp > su[i] - xopt[i]:
                    slbd = (su[i] - xopt[i]) / temp
                    ilbd = i + 1
                if subd * temp < sl[i] - xopt[i]:
                    subd = max(sumin, (sl[i] - xopt[i]) / temp)
                    iubd = -(i + 1)

        # Seek a large modulus of the KNEW-th Lagrange function when the index
        # of the other interpolation point on the line through XOPT is KNEW.
        if k == knew:
            diff = dderiv - 1.0
            step = slbd
            vlag = slbd * (dderiv - slbd * diff)
            isbd = ilbd
            temp = subd * (dderiv - subd * diff)
            if abs(temp) > abs(vlag):
                step = subd
                vlag = temp
                isbd = iubd
            tempd = 0.5 * dderiv
            tempa = tempd - diff * slbd
            tempb = tempd - diff * subd
            if tempa * tempb < 0.0:
                temp = tempd * tempd / diff
                if abs(temp) > abs(vlag):
                    step = tempd / diff
                    vlag = temp
                    isbd = 0
        else:
            # Search along each of the other lines through XOPT and another point.
            step = slbd
            vlag = slbd * (1.0 - slbd)
            isbd = ilbd
            temp = subd * (1.0 - subd)
            if abs(temp) > abs(vlag):
                step = subd
                vlag = temp
                isbd = iubd
            if subd > 0.5:
                if abs(vlag) < 0.25:
                    step = 0.5
                    vlag = 0.25
                    isbd = 0
            vlag = vlag * dderiv

        # Calculate PREDSQ for the current line search and maintain PRESAV.
        temp = step * (1.0 - step) * distsq
        predsq = vlag * vlag * (vlag * vlag + ha * temp * temp)
        if predsq > presav:
            presav = predsq
            ksav = k
            stpsav = step
            ibdsav = isbd

    # Construct XNEW in a way that satisfies the bound constraints exactly.
    if minqa_compat:
        ibdsav = 0  # minqa >= 1.2.5: "IBDSAV=0" placed after the loop
    xk = xpt[ksav]
    for i in range(n):
        temp = xopt[i] + stpsav * (xk[i] - xopt[i])
        v = su[i] if su[i] <= temp else temp
        xnew[i] = sl[i] if sl[i] >= v else v
    if ibdsav < 0:
        xnew[-ibdsav - 1] = sl[-ibdsav - 1]
    if ibdsav > 0:
        xnew[ibdsav - 1] = su[ibdsav - 1]

    # Prepare for the iterative method that assembles the constrained Cauchy
    # step in W. The sum of squares of the fixed components of W is formed in
    # WFIXSQ, and the free components of W are set to BIGSTP.
    bigstp = adelt + adelt
    iflag = 0
    csave = 0.0
    w = [0.0] * n
    xsave = [0.0] * n
    while True:  # label 100
        wfixsq = 0.0
        ggfree = 0.0
        for i in range(n):
            w[i] = 0.0
            tempa = min(xopt[i] - sl[i], glag[i])
            tempb = max(xopt[i] - su[i], glag[i])
            if tempa > 0.0 or tempb < 0.0:
                w[i] = bigstp
                ggfree = ggfree + glag[i] * glag[i]
        if ggfree == 0.0:
            return alpha, 0.0

        # Investigate whether more components of W can be fixed.
        while True:  # label 120
            temp = adelt * adelt - wfixsq
            if temp > 0.0:
                wsqsav = wfixsq
                step = math.sqrt(temp / ggfree)
                ggfree = 0.0
                for i in range(n):
                    if w[i] == bigstp:
                        temp = xopt[i] - step * glag[i]
                        if temp <= sl[i]:
                            w[i] = sl[i] - xopt[i]
                            wfixsq = wfixsq + w[i] * w[i]
                        elif temp >= su[i]:
                            w[i] = su[i] - xopt[i]
                            wfixsq = wfixsq + w[i] * w[i]
                        else:
                            ggfree = ggfree + glag[i] * glag[i]
                if wfixsq > wsqsav and ggfree > 0.0:
                    continue
            break

        # Set the remaining free components of W and all components of XALT,
        # except that W may be scaled later.
        gw = 0.0
        for i in range(n):
            if w[i] == bigstp:
                w[i] = -step * glag[i]
                v = xopt[i] + w[i]
                v = su[i] if su[i] <= v else v
                xalt[i] = sl[i] if sl[i] >= v else v
            elif w[i] == 0.0:
                xalt[i] = xopt[i]
            elif glag[i] > 0.0:
                xalt[i] = sl[i]
            else:
                xalt[i] = su[i]
            gw = gw + glag[i] * w[i]

        # Set CURV to the curvature of the KNEW-th Lagrange function along W.
        # Scale W by a factor less than one if that can reduce the modulus of
        # the Lagrange function at XOPT+W. Set CAUCHY to the final value of the
        # square of this function.
        curv = 0.0
        for k in range(npt):
            xk = xpt[k]
            temp = 0.0
            for j in range(n):
                temp = temp + xk[j] * w[j]
            curv = curv + hcol[k] * temp * temp
        if iflag == 1:
            curv = -curv
        if curv > -gw and curv < -const * gw:
            scale = -gw / curv
            for i in range(n):
                temp = xopt[i] + scale * w[i]
                v = su[i] if su[i] <= temp else temp
                xalt[i] = sl[i] if sl[i] >= v else v
            t = 0.5 * gw * scale
            cauchy = t * t
        else:
            t = gw + 0.5 * curv
            cauchy = t * t

        # If IFLAG is zero, then XALT is calculated as before after reversing
        # the sign of GLAG. Thus two XALT vectors become available. The one
        # that is chosen is the one that gives the larger value of CAUCHY.
        if iflag == 0:
            for i in range(n):
                glag[i] = -glag[i]
                xsave[i] = xalt[i]
            csave = cauchy
            iflag = 1
            continue
        if csave > cauchy:
            xalt[:] = xsave
            cauchy = csave
        return alpha, cauchy
