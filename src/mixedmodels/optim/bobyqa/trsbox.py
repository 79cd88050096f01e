"""Powell's SUBROUTINE TRSBOX: the trust-region step within the bounds (truncated conjugate gradients).

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math

__all__ = ["trsbox"]


def trsbox(n, npt, xpt, xopt, gopt, hq, pq, sl, su, delta, xnew, d, gnew):
    """Approximate minimizer of the model in the trust region and the bounds.

    A version of the truncated conjugate gradient method; when the trust
    region boundary is reached, further changes are made to D in the two
    dimensional space spanned by D and the gradient of Q at XOPT+D, staying on
    the boundary.

    Kept whole: it is a statement-by-statement port of Powell's SUBROUTINE TRSBOX, checked bit
    for bit against the Fortran (tests/test_bobyqa.py); splitting it would break that
    correspondence.

    Parameters
    ----------
    n, npt : int
        Number of variables and of interpolation points.
    xpt, xopt, gopt, hq, pq, sl, su : list
        BOBYQB's arrays (see :func:`.bobyqb.bobyqb`), read only.
    delta : float
        The trust-region radius.
    xnew, d, gnew : list of float
        Set in place: XOPT + D, the step D, and the model gradient at XOPT + D.

    Returns
    -------
    dsq : float
        The square of the length of D.
    crvmin : float
        The least curvature of H in the unconstrained conjugate gradient searches
        (0 if D reached the trust region boundary, -1 if every search was constrained).
    """
    xbdi = [0.0] * n
    s = [0.0] * n
    hs = [0.0] * n
    hred = [0.0] * n

    # The sign of GOPT(I) gives the sign of the change to the I-th variable
    # that will reduce Q from its value at XOPT. Thus XBDI(I) shows whether or
    # not to fix the I-th variable at one of its bounds initially, with NACT
    # being set to the number of fixed variables. D and GNEW are also set for
    # the first iteration. DELSQ is the upper bound on the sum of squares of
    # the free variables. QRED is the reduction in Q so far.
    iterc = 0
    nact = 0
    for i in range(n):
        xbdi[i] = 0.0
        if xopt[i] <= sl[i]:
            if gopt[i] >= 0.0:
                xbdi[i] = -1.0
        elif xopt[i] >= su[i]:
            if gopt[i] <= 0.0:
                xbdi[i] = 1.0
        if xbdi[i] != 0.0:
            nact += 1
        d[i] = 0.0
        gnew[i] = gopt[i]
    delsq = delta * delta
    qred = 0.0
    crvmin = -1.0

    itermax = 0
    beta = 0.0
    gredsq = ggsav = stepsq = 0.0
    blen = stplen = shs = sdec = 0.0
    dredsq = dredg = sredg = 0.0
    angbd = xsav = 0.0
    rdprev = rdnext = 0.0
    iact = -1

    def hess_mul():
        # Label 210: multiply the current S-vector by the second derivative
        # matrix of the quadratic model, putting the product in HS.  (Powell
        # then branches to 50 if CRVMIN is nonzero, else to 150 if ITERC >
        # ITCSAV, else to 120 after HRED=HS; each caller below continues at
        # that label directly.)
        ih = 0
        for j in range(n):
            hs[j] = 0.0
            sj = s[j]
            for i in range(j + 1):
                if i < j:
                    hs[j] = hs[j] + hq[ih] * s[i]
                hs[i] = hs[i] + hq[ih] * sj
                ih += 1
        for k in range(npt):
            if pq[k] != 0.0:
                xk = xpt[k]
                temp = 0.0
                for j in range(n):
                    temp = temp + xk[j] * s[j]
                temp = temp * pq[k]
                for i in range(n):
                    hs[i] = hs[i] + temp * xk[i]

    label = 20
    while True:
        if label == 20:
            # Set the next search direction of the conjugate gradient method.
            # It is the steepest descent direction initially and when the
            # iterations are restarted because a variable has just been fixed
            # by a bound, and of course the components of the fixed variables
            # are zero. ITERMAX is an upper bound on the indices of the
            # conjugate gradient iterations.
            beta = 0.0
            label = 30

        if label == 30:
            stepsq = 0.0
            for i in range(n):
                if xbdi[i] != 0.0:
                    s[i] = 0.0
                elif beta == 0.0:
                    s[i] = -gnew[i]
                else:
                    s[i] = beta * s[i] - gnew[i]
                stepsq = stepsq + s[i] * s[i]
            if stepsq == 0.0:
                label = 190
                continue
            if beta == 0.0:
                gredsq = stepsq
                itermax = iterc + n - nact
            if gredsq * delsq <= 1e-4 * qred * qred:
                label = 190
                continue
            # Multiply the search direction by the second derivative matrix of
            # Q and calculate some scalars for the choice of steplength. Then
            # set BLEN to the length of the step to the trust region boundary
            # and STPLEN to the steplength, ignoring the simple bounds.
            hess_mul()
            label = 50

        if label == 50:
            resid = delsq
            ds = 0.0
            shs = 0.0
            for i in range(n):
                if xbdi[i] == 0.0:
                    resid = resid - d[i] * d[i]
                    ds = ds + s[i] * d[i]
                    shs = shs + s[i] * hs[i]
            if resid <= 0.0:
                label = 90
            else:
                temp = math.sqrt(stepsq * resid + ds * ds)
                if ds < 0.0:
                    blen = (temp - ds) / stepsq
                else:
                    blen = resid / (temp + ds)
                stplen = blen
                if shs > 0.0:
                    stplen = min(blen, gredsq / shs)

                # Reduce STPLEN if necessary in order to preserve the simple
                # bounds, letting IACT be the index of the new constrained
                # variable.
                iact = -1
                for i in range(n):
                    if s[i] != 0.0:
                        xsum = xopt[i] + d[i]
                        if s[i] > 0.0:
                            temp = (su[i] - xsum) / s[i]
                        else:
                            temp = (sl[i] - xsum) / s[i]
                        if temp < stplen:
                            stplen = temp
                            iact = i

                # Update CRVMIN, GNEW and D. Set SDEC to the decrease that
                # occurs in Q.
                sdec = 0.0
                if stplen > 0.0:
                    iterc += 1
                    temp = shs / stepsq
                    if iact < 0 and temp > 0.0:
                        crvmin = min(crvmin, temp)
                        if crvmin == -1.0:
                            crvmin = temp
                    ggsav = gredsq
                    gredsq = 0.0
                    for i in range(n):
                        gnew[i] = gnew[i] + stplen * hs[i]
                        if xbdi[i] == 0.0:
                            gredsq = gredsq + gnew[i] * gnew[i]
                        d[i] = d[i] + stplen * s[i]
                    sdec = max(stplen * (ggsav - 0.5 * stplen * shs), 0.0)
                    qred = qred + sdec

                # Restart the conjugate gradient method if it has hit a new bound.
                if iact >= 0:
                    nact += 1
                    xbdi[iact] = 1.0
                    if s[iact] < 0.0:
                        xbdi[iact] = -1.0
                    delsq = delsq - d[iact] * d[iact]
                    label = 90 if delsq <= 0.0 else 20
                    continue

                # If STPLEN is less than BLEN, then either apply another
                # conjugate gradient iteration or RETURN.
                if stplen < blen:
                    if iterc == itermax:
                        label = 190
                        continue
                    if sdec <= 0.01 * qred:
                        label = 190
                        continue
                    beta = gredsq / ggsav
                    label = 30
                    continue
                label = 90

        if label == 90:
            crvmin = 0.0
            label = 100

        if label == 100:
            # Prepare for the alternative iteration by calculating some scalars
            # and by multiplying the reduced D by the second derivative matrix
            # of Q, where S holds the reduced D in the call of GGMULT.
            if nact >= n - 1:
                label = 190
                continue
            dredsq = 0.0
            dredg = 0.0
            gredsq = 0.0
            for i in range(n):
                if xbdi[i] == 0.0:
                    dredsq = dredsq + d[i] * d[i]
                    dredg = dredg + d[i] * gnew[i]
                    gredsq = gredsq + gnew[i] * gnew[i]
                    s[i] = d[i]
                else:
                    s[i] = 0.0
            # Label 210 returns here with ITERC = ITCSAV: set HRED = HS and go to 120.
            hess_mul()
            hred[:] = hs
            label = 120

        if label == 120:
            # Let the search direction S be a linear combination of the reduced
            # D and the reduced G that is orthogonal to the reduced D.
            iterc += 1
            temp = gredsq * dredsq - dredg * dredg
            if temp <= 1e-4 * qred * qred:
                label = 190
                continue
            temp = math.sqrt(temp)
            for i in range(n):
                if xbdi[i] == 0.0:
                    s[i] = (dredg * d[i] - dredsq * gnew[i]) / temp
                else:
                    s[i] = 0.0
            sredg = -temp

            # By considering the simple bounds on the variables, calculate an
            # upper bound on the tangent of half the angle of the alternative
            # iteration, namely ANGBD, except that, if already a free variable
            # has reached a bound, there is a branch back to label 100 after
            # fixing that variable.
            angbd = 1.0
            iact = -1
            label = 150
            for i in range(n):
                if xbdi[i] == 0.0:
                    tempa = xopt[i] + d[i] - sl[i]
                    tempb = su[i] - xopt[i] - d[i]
                    if tempa <= 0.0:
                        nact += 1
                        xbdi[i] = -1.0
                        label = 100
                        break
                    elif tempb <= 0.0:
                        nact += 1
                        xbdi[i] = 1.0
                        label = 100
                        break
                    ssq = d[i] * d[i] + s[i] * s[i]
                    t = xopt[i] - sl[i]
                    temp = ssq - t * t
                    if temp > 0.0:
                        temp = math.sqrt(temp) - s[i]
                        if angbd * temp > tempa:
                            angbd = tempa / temp
                            iact = i
                            xsav = -1.0
                    t = su[i] - xopt[i]
                    temp = ssq - t * t
                    if temp > 0.0:
                        temp = math.sqrt(temp) + s[i]
                        if angbd * temp > tempb:
                            angbd = tempb / temp
                            iact = i
                            xsav = 1.0
            if label == 100:
                continue
            # Calculate HHD and some curvatures for the alternative iteration.
            hess_mul()

        if label == 150:
            shs = 0.0
            dhs = 0.0
            dhd = 0.0
            for i in range(n):
                if xbdi[i] == 0.0:
                    shs = shs + s[i] * hs[i]
                    dhs = dhs + d[i] * hs[i]
                    dhd = dhd + d[i] * hred[i]

            # Seek the greatest reduction in Q for a range of equally spaced
            # values of ANGT in [0,ANGBD], where ANGT is the tangent of half the
            # angle of the alternative iteration.
            redmax = 0.0
            isav = 0
            redsav = 0.0
            iu = int(17.0 * angbd + 3.1)
            angt = 0.0
            for i in range(1, iu + 1):
                angt = angbd * float(i) / float(iu)
                sth = (angt + angt) / (1.0 + angt * angt)
                temp = shs + angt * (angt * dhd - dhs - dhs)
                rednew = sth * (angt * dredg - sredg - 0.5 * sth * temp)
                if rednew > redmax:
                    redmax = rednew
                    isav = i
                    rdprev = redsav
                elif i == isav + 1:
                    rdnext = rednew
                redsav = rednew

            # Return if the reduction is zero. Otherwise, set the sine and
            # cosine of the angle of the alternative iteration, and calculate SDEC.
            if isav == 0:
                label = 190
                continue
            if isav < iu:
                temp = (rdnext - rdprev) / (redmax + redmax - rdprev - rdnext)
                angt = angbd * (float(isav) + 0.5 * temp) / float(iu)
            cth = (1.0 - angt * angt) / (1.0 + angt * angt)
            sth = (angt + angt) / (1.0 + angt * angt)
            temp = shs + angt * (angt * dhd - dhs - dhs)
            sdec = sth * (angt * dredg - sredg - 0.5 * sth * temp)
            if sdec <= 0.0:
                label = 190
                continue

            # Update GNEW, D and HRED. If the angle of the alternative
            # iteration is restricted by a bound on a free variable, that
            # variable is fixed at the bound.
            dredg = 0.0
            gredsq = 0.0
            for i in range(n):
                gnew[i] = gnew[i] + (cth - 1.0) * hred[i] + sth * hs[i]
                if xbdi[i] == 0.0:
                    d[i] = cth * d[i] + sth * s[i]
                    dredg = dredg + d[i] * gnew[i]
                    gredsq = gredsq + gnew[i] * gnew[i]
                hred[i] = cth * hred[i] + sth * hs[i]
            qred = qred + sdec
            if iact >= 0 and isav == iu:
                nact += 1
                xbdi[iact] = xsav
                label = 100
                continue

            # If SDEC is sufficiently small, then RETURN after setting XNEW to
            # XOPT+D, giving careful attention to the bounds.
            if sdec > 0.01 * qred:
                label = 120
                continue
            label = 190

        if label == 190:
            dsq = 0.0
            for i in range(n):
                v = xopt[i] + d[i]
                v = v if v <= su[i] else su[i]
                v = v if v >= sl[i] else sl[i]
                if xbdi[i] == -1.0:
                    v = sl[i]
                if xbdi[i] == 1.0:
                    v = su[i]
                xnew[i] = v
                d[i] = v - xopt[i]
                dsq = dsq + d[i] * d[i]
            return dsq, crvmin
