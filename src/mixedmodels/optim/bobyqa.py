"""BOBYQA: bound-constrained derivative-free minimization (M. J. D. Powell, 2009).

A pure-Python port of Powell's Fortran BOBYQA (report DAMTP 2009/NA06, "The
BOBYQA algorithm for bound constrained optimization without derivatives"),
translated from the C version that ships with NLopt and checked line by line
against Powell's Fortran.  It reproduces the sequence of evaluation points of
Powell's code, for any number of interpolation points ``npt`` in
``[n+2, (n+1)(n+2)/2]``.  NLopt's additions (its extra stopping tests and
its rescaling of the variables) are left out.

Every floating-point operation is done in Powell's order (scalar loops over
Python floats, not numpy reductions): where the optimum lies on a bound, some
decisions of the algorithm test quantities that are exactly zero in Powell's
arithmetic and merely tiny under another summation order, so anything but
Powell's order changes the iterates.  With the same order the evaluation
points agree with the Fortran code bit for bit.

Python port for mixedmodels.

Copyright (c) 2009 M. J. D. Powell (mjdp@cam.ac.uk)
Modifications Copyright (c) 2010 Massachusetts Institute of Technology

Permission is hereby granted, free of charge, to any person obtaining
a copy of this software and associated documentation files (the
"Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to
the following conditions:

The above copyright notice and this permission notice shall be
included in all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE
LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Conventions of the port
-----------------------
* Arrays are Python lists, indices 0-based: ``XPT(K,J)`` is ``xpt[k][j]``,
  ``BMAT(I,J)`` is ``bmat[i][j]`` (``npt + n`` rows of ``n``), ``ZMAT(K,J)`` is
  ``zmat[k][j]`` (``npt`` rows of ``npt - n - 1``).  ``HQ`` keeps Powell's packed
  upper-triangle storage: element ``(i, j)``, ``i <= j``, is
  ``hq[i + j * (j + 1) // 2]``.
* Indices meaning "none" (Fortran ``KNEW=0``, ``IACT=0``) are ``-1``.  Signed
  bound indicators (``ILBD``, ``IUBD``, ``ISBD``, ``IBDSAV`` in ALTMOV) and the
  coordinate numbers decoded from ``PTSID`` in RESCUE stay 1-based, as in the
  Fortran, with ``- 1`` at the array access.
* The ``GOTO`` structure of BOBYQB and TRSBOX is kept as a loop over a
  ``label`` variable whose values are Powell's statement labels.
* Differences from R's minqa (the code lme4 uses): minqa >= 1.2.5 resets
  ``IBDSAV`` to zero after the line searches in ALTMOV, so that XNEW is not
  put exactly onto the bound that limited the step, and minqa maps a
  non-finite objective value to the largest double.  ``minqa_compat=True``
  reproduces both.  (minqa's RESCUE also passes an undefined variable to
  CALFUN; that defect is not reproduced: RESCUE here is Powell's.)
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["BobyqaResult", "bobyqa"]

#: messages for minqa's status codes
STATUS_MESSAGES = {
    0: "Normal exit from bobyqa: rho reached rhoend",
    1: "Return from bobyqa because calfun has been called maxfun times",
    3: "Return from bobyqa because a trust region step has failed to reduce q",
    5: "Return from bobyqa because of much cancellation in a denominator",
}

_SQRT2 = math.sqrt(2.0)
_SQRTHALF = math.sqrt(0.5)


@dataclass
class BobyqaResult:
    """Outcome of :func:`bobyqa`.

    ``x`` and ``fun`` are the best point found and its value, ``nfev`` the number
    of evaluations of the objective, ``status`` minqa's code (0 normal exit,
    1 maxfun reached, 3 trust region step failed to reduce q, 5 too much
    cancellation in a denominator) and ``message`` the corresponding text.
    ``nrescue`` counts the calls of Powell's RESCUE (diagnostic).
    """

    x: np.ndarray
    fun: float
    nfev: int
    status: int
    message: str
    nrescue: int = 0


class _Objective:
    """CALFUN: evaluates the user's function on a fresh numpy array, counts NF."""

    def __init__(self, fun, maxfun, minqa_compat):
        self.fun = fun
        self.maxfun = maxfun
        self.minqa_compat = minqa_compat
        self.nf = 0
        self.nrescue = 0

    def __call__(self, x):
        self.nf += 1
        f = float(self.fun(np.array(x, dtype=float)))
        if self.minqa_compat and not math.isfinite(f):
            f = sys.float_info.max
        return f


def _point(xbase, xstep, xl, xu, sl, su):
    """The vector of variables XBASE+XSTEP handed to CALFUN, with exact bounds.

    ``X(I)=DMIN1(DMAX1(XL(I),XBASE(I)+XSTEP(I)),XU(I))``, and ``X(I)`` is set to
    the bound itself when ``XSTEP(I)`` equals ``SL(I)`` or ``SU(I)``.
    """
    x = []
    for i in range(len(xstep)):
        v = xbase[i] + xstep[i]
        v = xl[i] if xl[i] >= v else v
        v = v if v <= xu[i] else xu[i]
        if xstep[i] == sl[i]:
            v = xl[i]
        if xstep[i] == su[i]:
            v = xu[i]
        x.append(v)
    return x


# ----------------------------------------------------------------------------
# UPDATE
# ----------------------------------------------------------------------------
def _update(n, npt, bmat, zmat, vlag, beta, denom, knew):
    """Update BMAT and ZMAT for the new position of interpolation point KNEW.

    VLAG (length npt + n) holds the first NPT and last N components of the
    product Hw of equation (4.11) of Powell's NEWUOA paper; VLAG(KNEW) is
    decreased by one, as in Powell's code.  DENOM is the denominator of the
    updating formula.
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


# ----------------------------------------------------------------------------
# PRELIM
# ----------------------------------------------------------------------------
def _prelim(calfun, n, npt, x, xl, xu, rhobeg, xbase, xpt, fval, gopt, hq, bmat, zmat, sl, su):
    """Initial interpolation points, quadratic model and H matrix.

    Sets XBASE, XPT, FVAL, GOPT (the gradient of the model at XBASE), HQ, BMAT
    and ZMAT (PQ and the rest are zero on entry).  Returns KOPT, the index of
    the least calculated function value.  CALFUN counts NF.
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
        f = calfun(_point(xbase, xpt[nf - 1], xl, xu, sl, su))
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
                zmat[0][j] = _SQRT2 / (stepa * stepb)
                zmat[nf - 1][j] = _SQRTHALF / rhosq
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


# ----------------------------------------------------------------------------
# TRSBOX
# ----------------------------------------------------------------------------
def _trsbox(n, npt, xpt, xopt, gopt, hq, pq, sl, su, delta, xnew, d, gnew):
    """Approximate minimizer of the model in the trust region and the bounds.

    A version of the truncated conjugate gradient method; when the trust
    region boundary is reached, further changes are made to D in the two
    dimensional space spanned by D and the gradient of Q at XOPT+D, staying on
    the boundary.  Sets XNEW (= XOPT + D), D and GNEW (the model gradient at
    XOPT + D) in place; returns ``(dsq, crvmin)``: the square of the length of
    D, and the least curvature of H in the unconstrained conjugate gradient
    searches (0 if D reached the trust region boundary, -1 if every search
    was constrained).
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


# ----------------------------------------------------------------------------
# ALTMOV
# ----------------------------------------------------------------------------
def _altmov(n, npt, xpt, xopt, bmat, zmat, sl, su, kopt, knew, adelt, xnew, xalt, minqa_compat):
    """Alternative new positions XNEW and XALT for interpolation point KNEW.

    XNEW is on a straight line through XOPT and another interpolation point and
    should give a large denominator in the next UPDATE; XALT is a constrained
    Cauchy step of the KNEW-th Lagrange function.  Both satisfy the SL/SU
    bounds and ||X - XOPT|| <= ADELT.  Sets XNEW and XALT in place and returns
    ``(alpha, cauchy)``: the KNEW-th diagonal element of H and the square of
    the KNEW-th Lagrange function at XALT (0 if XALT was not calculated).
    """
    nptm = npt - n - 1
    const = 1.0 + _SQRT2

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
    _add_implicit_hess(glag, hcol, xpt, xopt, npt, n)

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


# ----------------------------------------------------------------------------
# RESCUE
# ----------------------------------------------------------------------------
def _rescue(calfun, n, npt, xl, xu, xbase, xpt, fval, xopt, gopt, hq, pq, bmat, zmat,
            sl, su, delta, kopt, vlag):
    """Shift XBASE to XBASE+XOPT and regenerate BMAT and ZMAT from scratch.

    Interpolation points whose positions seem to cause near linear dependence
    are replaced by provisional points along coordinate directions, with new
    function values.  GOPT, HQ and PQ are revised for the final model.
    Returns ``(kopt, ok)``; ``ok`` is False when MAXFUN prevented further
    progress (Powell's NF=-1).  XOPT and GOPT are updated by the caller.
    """
    np_ = n + 1
    ndim = npt + n
    sfrac = 0.5 / float(np_)
    nptm = npt - np_

    # Shift the interpolation points so that XOPT becomes the origin, and set
    # the elements of ZMAT to zero. The value of SUMPQ is required in the
    # updating of HQ below. The squares of the distances from XOPT to the
    # other interpolation points are set at the end of W. Increments of WINC
    # may be added later to these squares to balance the consideration of the
    # choice of point that is going to become current.
    wd = [0.0] * npt  # W(NDIM+K)
    sumpq = 0.0
    winc = 0.0
    for k in range(npt):
        xk = xpt[k]
        distsq = 0.0
        for j in range(n):
            xk[j] = xk[j] - xopt[j]
            distsq = distsq + xk[j] * xk[j]
        sumpq = sumpq + pq[k]
        wd[k] = distsq
        winc = max(winc, distsq)
        zk = zmat[k]
        for j in range(nptm):
            zk[j] = 0.0

    # Update HQ so that HQ and PQ define the second derivatives of the model
    # after XBASE has been shifted to the trust region centre.
    w = [0.0] * ndim
    ih = 0
    for j in range(n):
        w[j] = 0.5 * sumpq * xopt[j]
        for k in range(npt):
            w[j] = w[j] + pq[k] * xpt[k][j]
        for i in range(j + 1):
            hq[ih] = hq[ih] + w[i] * xopt[j] + w[j] * xopt[i]
            ih += 1

    # Shift XBASE, SL, SU and XOPT. Set the elements of BMAT to zero, and also
    # set the elements of PTSAUX.
    ptsaux = [[0.0] * n, [0.0] * n]
    p1, p2 = ptsaux
    for j in range(n):
        xbase[j] = xbase[j] + xopt[j]
        sl[j] = sl[j] - xopt[j]
        su[j] = su[j] - xopt[j]
        xopt[j] = 0.0
        p1[j] = min(delta, su[j])
        p2[j] = max(-delta, sl[j])
        if p1[j] + p2[j] < 0.0:
            p1[j], p2[j] = p2[j], p1[j]
        if abs(p2[j]) < 0.5 * abs(p1[j]):
            p2[j] = 0.5 * p1[j]
        for i in range(ndim):
            bmat[i][j] = 0.0
    fbase = fval[kopt]

    # Set the identifiers of the artificial interpolation points that are
    # along a coordinate direction from XOPT, and set the corresponding
    # nonzero elements of BMAT and ZMAT.  (j, jp, jpn are 1-based numbers.)
    ptsid = [0.0] * npt
    ptsid[0] = sfrac
    for j in range(1, n + 1):
        jp = j + 1
        jpn = jp + n
        c = j - 1
        ptsid[jp - 1] = float(j) + sfrac
        if jpn <= npt:
            ptsid[jpn - 1] = float(j) / float(np_) + sfrac
            temp = 1.0 / (p1[c] - p2[c])
            bmat[jp - 1][c] = -temp + 1.0 / p1[c]
            bmat[jpn - 1][c] = temp + 1.0 / p2[c]
            bmat[0][c] = -bmat[jp - 1][c] - bmat[jpn - 1][c]
            zmat[0][c] = _SQRT2 / abs(p1[c] * p2[c])
            zmat[jp - 1][c] = zmat[0][c] * p2[c] * temp
            zmat[jpn - 1][c] = -zmat[0][c] * p1[c] * temp
        else:
            bmat[0][c] = -1.0 / p1[c]
            bmat[jp - 1][c] = 1.0 / p1[c]
            bmat[j + npt - 1][c] = -0.5 * (p1[c] * p1[c])

    # Set any remaining identifiers with their nonzero elements of ZMAT.
    if npt >= n + np_:
        for k in range(2 * np_, npt + 1):  # 1-based point number
            iw = int((float(k - np_) - 0.5) / float(n))
            ip = k - np_ - iw * n
            iq = ip + iw
            if iq > n:
                iq -= n
            ptsid[k - 1] = float(ip) + float(iq) / float(np_) + sfrac
            temp = 1.0 / (p1[ip - 1] * p1[iq - 1])
            c = k - np_ - 1
            zmat[0][c] = temp
            zmat[ip][c] = -temp
            zmat[iq][c] = -temp
            zmat[k - 1][c] = temp

    def decode(k):
        # the 1-based coordinate numbers p and q encoded in PTSID(K)
        ip = int(ptsid[k])
        iq = int(float(np_) * ptsid[k] - float(ip * np_))
        return ip, iq

    nrem = npt
    kold = 0
    knew = kopt
    beta = 0.0
    denom = 0.0
    label = 80
    while True:
        if label == 80:
            # Reorder the provisional points in the way that exchanges
            # PTSID(KOLD) with PTSID(KNEW).
            bk, bn = bmat[kold], bmat[knew]
            for j in range(n):
                bk[j], bn[j] = bn[j], bk[j]
            zo, zn = zmat[kold], zmat[knew]
            for j in range(nptm):
                zo[j], zn[j] = zn[j], zo[j]
            ptsid[kold] = ptsid[knew]
            ptsid[knew] = 0.0
            wd[knew] = 0.0
            nrem -= 1
            if knew != kopt:
                vlag[kold], vlag[knew] = vlag[knew], vlag[kold]
                # Update the BMAT and ZMAT matrices so that the status of the
                # KNEW-th interpolation point can be changed from provisional
                # to original. The branch to label 350 occurs if all the
                # original points are reinstated. The nonnegative values of
                # W(NDIM+K) are required in the search below.
                _update(n, npt, bmat, zmat, vlag, beta, denom, knew)
                if nrem == 0:
                    return kopt, True
                for k in range(npt):
                    wd[k] = abs(wd[k])
            label = 120

        if label == 120:
            # Pick the index KNEW of an original interpolation point that has
            # not yet replaced one of the provisional interpolation points,
            # giving attention to the closeness to XOPT and to previous tries
            # with KNEW.
            dsqmin = 0.0
            for k in range(npt):
                if wd[k] > 0.0:
                    if dsqmin == 0.0 or wd[k] < dsqmin:
                        knew = k
                        dsqmin = wd[k]
            if dsqmin == 0.0:
                break  # to label 260

            # Form the W-vector of the chosen original interpolation point.
            for j in range(n):
                w[npt + j] = xpt[knew][j]
            for k in range(npt):
                sm = 0.0
                if k == kopt:
                    pass
                elif ptsid[k] == 0.0:
                    xk = xpt[k]
                    for j in range(n):
                        sm = sm + w[npt + j] * xk[j]
                else:
                    ip, iq = decode(k)
                    if ip > 0:
                        sm = w[npt + ip - 1] * p1[ip - 1]
                    if iq > 0:
                        pa = p1 if ip > 0 else p2
                        sm = sm + w[npt + iq - 1] * pa[iq - 1]
                w[k] = 0.5 * sm * sm

            # Calculate VLAG and BETA for the required updating of the H matrix
            # if XPT(KNEW,.) is reinstated in the set of interpolation points.
            for k in range(npt):
                bk = bmat[k]
                sm = 0.0
                for j in range(n):
                    sm = sm + bk[j] * w[npt + j]
                vlag[k] = sm
            beta = _zmat_part(zmat, w, vlag, npt, nptm)
            bsum = 0.0
            distsq = 0.0
            for j in range(n):
                sm = 0.0
                for k in range(npt):
                    sm = sm + bmat[k][j] * w[k]
                jp = j + npt
                bsum = bsum + sm * w[jp]
                for ip in range(npt, ndim):
                    sm = sm + bmat[ip][j] * w[ip]
                bsum = bsum + sm * w[jp]
                vlag[jp] = sm
                distsq = distsq + xpt[knew][j] * xpt[knew][j]
            beta = 0.5 * distsq * distsq + beta - bsum
            vlag[kopt] = vlag[kopt] + 1.0

            # KOLD is set to the index of the provisional interpolation point
            # that is going to be deleted to make way for the KNEW-th original
            # interpolation point. The choice of KOLD is governed by the
            # avoidance of a small value of the denominator in the updating
            # calculation of UPDATE.
            denom = 0.0
            vlmxsq = 0.0
            for k in range(npt):
                if ptsid[k] != 0.0:
                    hdiag = 0.0
                    for v in zmat[k]:
                        hdiag = hdiag + v * v
                    den = beta * hdiag + vlag[k] * vlag[k]
                    if den > denom:
                        kold = k
                        denom = den
                vlmxsq = max(vlmxsq, vlag[k] * vlag[k])
            if denom <= 1e-2 * vlmxsq:
                wd[knew] = -wd[knew] - winc
                label = 120
            else:
                label = 80

    # Label 260: all the final positions of the interpolation points have been
    # chosen although any changes have not been included yet in XPT. Also the
    # final BMAT and ZMAT matrices are complete, but, apart from the shift of
    # XBASE, the updating of the quadratic model remains to be done. The
    # following cycle through the new interpolation points begins by putting
    # the new point in XPT(KPT,.) and by setting PQ(KPT) to zero, except that
    # a RETURN occurs if MAXFUN prohibits another value of F.
    for kpt in range(npt):
        if ptsid[kpt] == 0.0:
            continue
        if calfun.nf >= calfun.maxfun:
            return kopt, False
        xk = xpt[kpt]
        ih = 0
        for j in range(n):
            w[j] = xk[j]
            xk[j] = 0.0
            temp = pq[kpt] * w[j]
            for i in range(j + 1):
                hq[ih] = hq[ih] + temp * w[i]
                ih += 1
        pq[kpt] = 0.0
        ip, iq = decode(kpt)
        xp = xq = 0.0
        ihp = 0
        if ip > 0:
            xp = p1[ip - 1]
            xk[ip - 1] = xp
        if iq > 0:
            xq = p1[iq - 1]
            if ip == 0:
                xq = p2[iq - 1]
            xk[iq - 1] = xq

        # Set VQUAD to the value of the current model at the new point.
        # (ihp, ihq, iw are Powell's 1-based packed indices of HQ.)
        vquad = fbase
        if ip > 0:
            ihp = (ip + ip * ip) // 2
            vquad = vquad + xp * (gopt[ip - 1] + 0.5 * xp * hq[ihp - 1])
        if iq > 0:
            ihq = (iq + iq * iq) // 2
            vquad = vquad + xq * (gopt[iq - 1] + 0.5 * xq * hq[ihq - 1])
            if ip > 0:
                iw = max(ihp, ihq) - abs(ip - iq)
                vquad = vquad + xp * xq * hq[iw - 1]
        for k in range(npt):
            temp = 0.0
            if ip > 0:
                temp = temp + xp * xpt[k][ip - 1]
            if iq > 0:
                temp = temp + xq * xpt[k][iq - 1]
            vquad = vquad + 0.5 * pq[k] * temp * temp

        # Calculate F at the new interpolation point, and set DIFF to the
        # factor that is going to multiply the KPT-th Lagrange function when
        # the model is updated to provide interpolation to the new function
        # value.
        f = calfun(_point(xbase, xk, xl, xu, sl, su))
        fval[kpt] = f
        if f < fval[kopt]:
            kopt = kpt
        diff = f - vquad

        # Update the quadratic model. The RETURN from the subroutine occurs
        # when all the new interpolation points are included in the model.
        bk = bmat[kpt]
        for i in range(n):
            gopt[i] = gopt[i] + diff * bk[i]
        zp = zmat[kpt]
        for k in range(npt):
            zk = zmat[k]
            sm = 0.0
            for j in range(nptm):
                sm = sm + zk[j] * zp[j]
            temp = diff * sm
            if ptsid[k] == 0.0:
                pq[k] = pq[k] + temp
            else:
                ip, iq = decode(k)
                ihq = (iq * iq + iq) // 2
                if ip == 0:
                    hq[ihq - 1] = hq[ihq - 1] + temp * (p2[iq - 1] * p2[iq - 1])
                else:
                    ihp = (ip * ip + ip) // 2
                    hq[ihp - 1] = hq[ihp - 1] + temp * (p1[ip - 1] * p1[ip - 1])
                    if iq > 0:
                        hq[ihq - 1] = hq[ihq - 1] + temp * (p1[iq - 1] * p1[iq - 1])
                        iw = max(ihp, ihq) - abs(iq - ip)
                        hq[iw - 1] = hq[iw - 1] + temp * p1[ip - 1] * p1[iq - 1]
        ptsid[kpt] = 0.0
    return kopt, True


# ----------------------------------------------------------------------------
# BOBYQB
# ----------------------------------------------------------------------------

def _zmat_part(zmat, w, vlag, npt, nptm) -> float:
    """The ZMAT part of Powell's VLAG and BETA: for each column z of ZMAT, s = z'w; adds s z to
    VLAG (in place) and returns -sum of s^2 (BETA's start), in Powell's order."""
    beta = 0.0
    for j in range(nptm):
        sm = 0.0
        for k in range(npt):
            sm = sm + zmat[k][j] * w[k]
        beta = beta - sm * sm
        for k in range(npt):
            vlag[k] = vlag[k] + sm * zmat[k][j]
    return beta


def _add_implicit_hess(g, coef, xpt, x, npt, n):
    """g += sum_k coef_k (x_k . x) x_k: the implicit part of the model Hessian (Powell's PQ, or a
    column of H) times x, added to g in place in Powell's order."""
    for k in range(npt):
        xk = xpt[k]
        temp = 0.0
        for j in range(n):
            temp = temp + xk[j] * x[j]
        temp = coef[k] * temp
        for i in range(n):
            g[i] = g[i] + temp * xk[i]


def _choose_knew(npt, n, zmat, vlag, beta, xpt, centre, delsq, skip):
    """The interpolation point to replace (Powell's KNEW choice in BOBYQB): the largest
    max(1, (|x_k - centre|^2 / delsq)^2) * (beta * H_kk + vlag_k^2), skipping point ``skip``.
    Returns (knew, its denominator, scaden, biglsq); knew is -1 where no product is positive."""
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

def _bobyqb(calfun, n, npt, x, xl, xu, rhobeg, rhoend, sl, su, minqa_compat):
    """Powell's BOBYQB: the main iteration.  Returns ``(x, f, status)``.

    XBASE holds a shift of origin that should reduce the contributions from
    rounding errors to values of the model and Lagrange functions.  XPT holds
    the interpolation points relative to XBASE, FVAL the values of F there.
    XOPT is the displacement from XBASE of the trust region centre, GOPT the
    gradient of the quadratic model at XBASE+XOPT.  HQ holds the explicit
    second derivatives of the model, PQ the parameters of the implicit ones.
    BMAT holds the last N columns of H; ZMAT holds the factorization of the
    leading NPT by NPT submatrix of H, this factorization being ZMAT times
    ZMAT^T.  SL and SU hold XL-XBASE and XU-XBASE.  XNEW is chosen by TRSBOX or
    ALTMOV, XALT (by ALTMOV) may replace it to increase the denominator of
    UPDATE; D is the trial step XNEW-XOPT; VLAG holds the values of the
    Lagrange functions at a new point.
    """
    np_ = n + 1
    ndim = npt + n
    nptm = npt - np_
    nh = (n * np_) // 2

    xbase = [0.0] * n
    xpt = [[0.0] * n for _ in range(npt)]
    fval = [0.0] * npt
    gopt = [0.0] * n
    hq = [0.0] * nh
    pq = [0.0] * npt
    bmat = [[0.0] * n for _ in range(ndim)]
    zmat = [[0.0] * nptm for _ in range(npt)]
    xnew = [0.0] * n
    xalt = [0.0] * n
    d = [0.0] * n
    vlag = [0.0] * ndim
    gnew = [0.0] * n  # W(1..N) after TRSBOX: the model gradient at XNEW
    wk = [0.0] * npt  # W(1..NPT)
    wn = [0.0] * npt  # W(NPT+1..2*NPT): XPT(K,.) . D, used for VQUAD
    status = 0

    # The call of PRELIM sets the elements of XBASE, XPT, FVAL, GOPT, HQ, PQ,
    # BMAT and ZMAT for the first iteration, with the corresponding values of
    # NF and KOPT, which are the number of calls of CALFUN so far and the index
    # of the interpolation point at the trust region centre. Then the initial
    # XOPT is set too. The branch to label 720 occurs if MAXFUN is less than
    # NPT. GOPT will be updated if KOPT is different from KBASE.
    kopt = _prelim(calfun, n, npt, x, xl, xu, rhobeg, xbase, xpt, fval, gopt, hq, bmat, zmat, sl, su)
    xopt = list(xpt[kopt])
    xoptsq = 0.0
    for i in range(n):
        xoptsq = xoptsq + xopt[i] * xopt[i]
    fsave = fval[0]
    xlast = None  # the last vector of variables given to CALFUN at label 360
    label = 20
    if calfun.nf < npt:
        status = 1
        label = 720
    kbase = 0

    # Complete the settings that are required for the iterative procedure.
    rho = rhobeg
    delta = rho
    nresc = calfun.nf
    ntrits = 0
    diffa = diffb = diffc = 0.0
    itest = 0
    nfsav = calfun.nf
    knew = -1
    alpha = adelt = cauchy = ratio = denom = dnorm = dsq = crvmin = beta = 0.0
    f = fopt = vquad = distsq = 0.0

    while True:
        if label == 20:
            # Update GOPT if necessary before the first iteration and after
            # each call of RESCUE that makes a call of CALFUN.
            if kopt != kbase:
                ih = 0
                for j in range(n):
                    for i in range(j + 1):
                        if i < j:
                            gopt[j] = gopt[j] + hq[ih] * xopt[i]
                        gopt[i] = gopt[i] + hq[ih] * xopt[j]
                        ih += 1
                if calfun.nf > npt:
                    _add_implicit_hess(gopt, pq, xpt, xopt, npt, n)
            label = 60

        if label == 60:
            # Generate the next point in the trust region that provides a small
            # value of the quadratic model subject to the constraints on the
            # variables. The integer NTRITS is set to the number "trust region"
            # iterations that have occurred since the last "alternative"
            # iteration. If the length of XNEW-XOPT is less than HALF*RHO,
            # however, then there is a branch to label 650 or 680 with
            # NTRITS=-1, instead of calculating F at XNEW.
            dsq, crvmin = _trsbox(n, npt, xpt, xopt, gopt, hq, pq, sl, su, delta, xnew, d, gnew)
            dnorm = min(delta, math.sqrt(dsq))
            if dnorm < 0.5 * rho:
                ntrits = -1
                distsq = (10.0 * rho) * (10.0 * rho)
                if calfun.nf <= nfsav + 2:
                    label = 650
                    continue

                # The following choice between labels 650 and 680 depends on
                # whether or not our work with the current RHO seems to be
                # complete. Either RHO is decreased or termination occurs if the
                # errors in the quadratic model at the last three interpolation
                # points compare favourably with predictions of likely
                # improvements to the model within distance HALF*RHO of XOPT.
                errbig = max(diffa, diffb, diffc)
                frhosq = 0.125 * rho * rho
                if crvmin > 0.0 and errbig > frhosq * crvmin:
                    label = 650
                    continue
                bdtol = errbig / rho
                label = 680
                for j in range(n):
                    bdtest = bdtol
                    if xnew[j] == sl[j]:
                        bdtest = gnew[j]
                    if xnew[j] == su[j]:
                        bdtest = -gnew[j]
                    if bdtest < bdtol:
                        curv = hq[(j + 1 + (j + 1) * (j + 1)) // 2 - 1]
                        for k in range(npt):
                            curv = curv + pq[k] * (xpt[k][j] * xpt[k][j])
                        bdtest = bdtest + 0.5 * curv * rho
                        if bdtest < bdtol:
                            label = 650
                            break
                continue
            ntrits += 1
            label = 90

        if label == 90:
            # Severe cancellation is likely to occur if XOPT is too far from
            # XBASE. If the following test holds, then XBASE is shifted so that
            # XOPT becomes zero. The appropriate changes are made to BMAT and to
            # the second derivatives of the current model, beginning with the
            # changes to BMAT that do not depend on ZMAT. VLAG is used
            # temporarily for working space.
            if dsq <= 1e-3 * xoptsq:
                _shift_xbase(n, npt, xbase, xpt, xopt, xoptsq, hq, pq, bmat, zmat, sl, su, xnew)
                xoptsq = 0.0
            label = 210 if ntrits == 0 else 230

        if label == 190:
            # XBASE is also moved to XOPT by a call of RESCUE. This calculation
            # is more expensive than the previous shift, because new matrices
            # BMAT and ZMAT are generated from scratch, which may include the
            # replacement of interpolation points whose positions seem to be
            # causing near linear dependence in the interpolation conditions.
            # Therefore RESCUE is called only if rounding errors have reduced
            # by at least a factor of two the denominator of the formula for
            # updating the H matrix. It provides a useful safeguard, but is not
            # invoked in most applications of BOBYQA.
            nfsav = calfun.nf
            kbase = kopt
            calfun.nrescue += 1
            kopt, ok = _rescue(calfun, n, npt, xl, xu, xbase, xpt, fval, xopt, gopt, hq, pq,
                               bmat, zmat, sl, su, delta, kopt, vlag)

            # XOPT is updated now in case the branch below to label 720 is
            # taken. Any updating of GOPT occurs after the branch below to label
            # 20, which leads to a trust region iteration as does the branch to
            # label 60.
            xoptsq = 0.0
            if kopt != kbase:
                for i in range(n):
                    xopt[i] = xpt[kopt][i]
                    xoptsq = xoptsq + xopt[i] * xopt[i]
            if not ok:
                status = 1
                label = 720
                continue
            nresc = calfun.nf
            if nfsav < calfun.nf:
                nfsav = calfun.nf
                label = 20
                continue
            if ntrits > 0:
                label = 60
                continue
            label = 210

        if label == 210:
            # Pick two alternative vectors of variables, relative to XBASE, that
            # are suitable as new positions of the KNEW-th interpolation point.
            # Firstly, XNEW is set to the point on a line through XOPT and
            # another interpolation point that minimizes the predicted value of
            # the next denominator, subject to ||XNEW - XOPT|| .LEQ. ADELT and
            # to the SL and SU bounds. Secondly, XALT is set to the best
            # feasible point on a constrained version of the Cauchy step of the
            # KNEW-th Lagrange function, the corresponding value of the square
            # of this function being returned in CAUCHY. The choice between
            # these alternatives is going to be made when the denominator is
            # calculated.
            alpha, cauchy = _altmov(n, npt, xpt, xopt, bmat, zmat, sl, su, kopt, knew, adelt,
                                    xnew, xalt, minqa_compat)
            for i in range(n):
                d[i] = xnew[i] - xopt[i]
            label = 230

        if label == 230:
            # Calculate VLAG and BETA for the current choice of D. The scalar
            # product of D with XPT(K,.) is going to be held in W(NPT+K) for
            # use when VQUAD is calculated.
            for k in range(npt):
                xk = xpt[k]
                bk = bmat[k]
                suma = 0.0
                sumb = 0.0
                sm = 0.0
                for j in range(n):
                    suma = suma + xk[j] * d[j]
                    sumb = sumb + xk[j] * xopt[j]
                    sm = sm + bk[j] * d[j]
                wk[k] = suma * (0.5 * suma + sumb)
                vlag[k] = sm
                wn[k] = suma
            beta = _zmat_part(zmat, wk, vlag, npt, nptm)
            dsq = 0.0
            bsum = 0.0
            dx = 0.0
            for j in range(n):
                dsq = dsq + d[j] * d[j]
                sm = 0.0
                for k in range(npt):
                    sm = sm + wk[k] * bmat[k][j]
                bsum = bsum + sm * d[j]
                jp = npt + j
                bj = bmat[jp]
                for i in range(n):
                    sm = sm + bj[i] * d[i]
                vlag[jp] = sm
                bsum = bsum + sm * d[j]
                dx = dx + d[j] * xopt[j]
            beta = dx * dx + dsq * (xoptsq + dx + dx + 0.5 * dsq) + beta - bsum
            vlag[kopt] = vlag[kopt] + 1.0

            # If NTRITS is zero, the denominator may be increased by replacing
            # the step D of ALTMOV by a Cauchy step. Then RESCUE may be called
            # if rounding errors have damaged the chosen denominator.
            if ntrits == 0:
                denom = vlag[knew] * vlag[knew] + alpha * beta
                if denom < cauchy and cauchy > 0.0:
                    for i in range(n):
                        xnew[i] = xalt[i]
                        d[i] = xnew[i] - xopt[i]
                    cauchy = 0.0
                    label = 230
                    continue
                if denom <= 0.5 * (vlag[knew] * vlag[knew]):
                    if calfun.nf > nresc:
                        label = 190
                        continue
                    # Return because of much cancellation in a denominator.
                    status = 5
                    label = 720
                    continue
            else:
                # Alternatively, if NTRITS is positive, then set KNEW to the
                # index of the next interpolation point to be deleted to make
                # room for a trust region step. Again RESCUE may be called if
                # rounding errors have damaged the chosen denominator, which is
                # the reason for attempting to select KNEW before calculating
                # the next value of the objective function.
                knew, den, scaden, biglsq = _choose_knew(npt, n, zmat, vlag, beta, xpt, xopt, delta * delta, kopt)
                if knew >= 0:
                    denom = den
                if scaden <= 0.5 * biglsq:
                    if calfun.nf > nresc:
                        label = 190
                        continue
                    # Return because of much cancellation in a denominator.
                    status = 5
                    label = 720
                    continue
            label = 360

        if label == 360:
            # Put the variables for the next calculation of the objective
            # function in XNEW, with any adjustments for the bounds, and
            # calculate the value of the objective function at XBASE+XNEW,
            # unless the limit on the number of calculations of F has been
            # reached.
            xlast = _point(xbase, xnew, xl, xu, sl, su)
            if calfun.nf >= calfun.maxfun:
                status = 1
                label = 720
                continue
            f = calfun(xlast)
            if ntrits == -1:
                fsave = f
                label = 720
                continue

            # Use the quadratic model to predict the change in F due to the
            # step D, and set DIFF to the error of this prediction.
            fopt = fval[kopt]
            vquad = 0.0
            ih = 0
            for j in range(n):
                vquad = vquad + d[j] * gopt[j]
                for i in range(j + 1):
                    temp = d[i] * d[j]
                    if i == j:
                        temp = 0.5 * temp
                    vquad = vquad + hq[ih] * temp
                    ih += 1
            for k in range(npt):
                vquad = vquad + 0.5 * pq[k] * (wn[k] * wn[k])
            diff = f - fopt - vquad
            diffc = diffb
            diffb = diffa
            diffa = abs(diff)
            if dnorm > rho:
                nfsav = calfun.nf

            # Pick the next value of DELTA after a trust region step.
            if ntrits > 0:
                if vquad >= 0.0:
                    # Return because a trust region step has failed to reduce Q.
                    status = 3
                    label = 720
                    continue
                ratio = (f - fopt) / vquad
                if ratio <= 0.1:
                    delta = min(0.5 * delta, dnorm)
                elif ratio <= 0.7:
                    delta = max(0.5 * delta, dnorm)
                else:
                    delta = max(0.5 * delta, dnorm + dnorm)
                if delta <= 1.5 * rho:
                    delta = rho

                # Recalculate KNEW and DENOM if the new F is less than FOPT.
                if f < fopt:
                    ksav = knew
                    densav = denom
                    knew, den, scaden, biglsq = _choose_knew(npt, n, zmat, vlag, beta, xpt, xnew, delta * delta, -1)
                    if knew >= 0:
                        denom = den
                    if scaden <= 0.5 * biglsq:
                        knew = ksav
                        denom = densav

            # Update BMAT and ZMAT, so that the KNEW-th interpolation point can
            # be moved. Also update the second derivative terms of the model.
            _update(n, npt, bmat, zmat, vlag, beta, denom, knew)
            ih = 0
            pqold = pq[knew]
            pq[knew] = 0.0
            xk = xpt[knew]
            for i in range(n):
                temp = pqold * xk[i]
                for j in range(i + 1):
                    hq[ih] = hq[ih] + temp * xk[j]
                    ih += 1
            zkn = zmat[knew]
            for jj in range(nptm):
                temp = diff * zkn[jj]
                for k in range(npt):
                    pq[k] = pq[k] + temp * zmat[k][jj]

            # Include the new interpolation point, and make the changes to GOPT
            # at the old XOPT that are caused by the updating of the quadratic
            # model.
            fval[knew] = f
            w = [0.0] * n
            for i in range(n):
                xk[i] = xnew[i]
                w[i] = bmat[knew][i]
            for k in range(npt):
                zk = zmat[k]
                suma = 0.0
                for jj in range(nptm):
                    suma = suma + zkn[jj] * zk[jj]
                xk2 = xpt[k]
                sumb = 0.0
                for j in range(n):
                    sumb = sumb + xk2[j] * xopt[j]
                temp = suma * sumb
                for i in range(n):
                    w[i] = w[i] + temp * xk2[i]
            for i in range(n):
                gopt[i] = gopt[i] + diff * w[i]

            # Update XOPT, GOPT and KOPT if the new calculated F is less than
            # FOPT.
            if f < fopt:
                kopt = knew
                xoptsq = 0.0
                ih = 0
                for j in range(n):
                    xopt[j] = xnew[j]
                    xoptsq = xoptsq + xopt[j] * xopt[j]
                    for i in range(j + 1):
                        if i < j:
                            gopt[j] = gopt[j] + hq[ih] * d[i]
                        gopt[i] = gopt[i] + hq[ih] * d[j]
                        ih += 1
                _add_implicit_hess(gopt, pq, xpt, d, npt, n)

            # Calculate the parameters of the least Frobenius norm interpolant
            # to the current data, the gradient of this interpolant at XOPT
            # being put into VLAG(NPT+I), I=1,2,...,N.
            if ntrits > 0:
                for k in range(npt):
                    vlag[k] = fval[k] - fval[kopt]
                    wk[k] = 0.0
                for j in range(nptm):
                    sm = 0.0
                    for k in range(npt):
                        sm = sm + zmat[k][j] * vlag[k]
                    for k in range(npt):
                        wk[k] = wk[k] + sm * zmat[k][j]
                for k in range(npt):
                    xk2 = xpt[k]
                    sm = 0.0
                    for j in range(n):
                        sm = sm + xk2[j] * xopt[j]
                    wn[k] = wk[k]
                    wk[k] = sm * wk[k]
                gqsq = 0.0
                gisq = 0.0
                for i in range(n):
                    sm = 0.0
                    for k in range(npt):
                        sm = sm + bmat[k][i] * vlag[k] + xpt[k][i] * wk[k]
                    if xopt[i] == sl[i]:
                        t = min(0.0, gopt[i])
                        gqsq = gqsq + t * t
                        t = min(0.0, sm)
                        gisq = gisq + t * t
                    elif xopt[i] == su[i]:
                        t = max(0.0, gopt[i])
                        gqsq = gqsq + t * t
                        t = max(0.0, sm)
                        gisq = gisq + t * t
                    else:
                        gqsq = gqsq + gopt[i] * gopt[i]
                        gisq = gisq + sm * sm
                    vlag[npt + i] = sm

                # Test whether to replace the new quadratic model by the least
                # Frobenius norm interpolant, making the replacement if the test
                # is satisfied.
                itest += 1
                if gqsq < 10.0 * gisq:
                    itest = 0
                if itest >= 3:
                    for i in range(max(npt, nh)):
                        if i < n:
                            gopt[i] = vlag[npt + i]
                        if i < npt:
                            pq[i] = wn[i]
                        if i < nh:
                            hq[i] = 0.0
                        itest = 0

            # If a trust region step has provided a sufficient decrease in F,
            # then branch for another trust region calculation. The case
            # NTRITS=0 occurs when the new interpolation point was reached by
            # an alternative step.
            if ntrits == 0:
                label = 60
                continue
            if f <= fopt + 0.1 * vquad:
                label = 60
                continue

            # Alternatively, find out if the interpolation points are close
            # enough to the best point so far.
            distsq = max((2.0 * delta) * (2.0 * delta), (10.0 * rho) * (10.0 * rho))
            label = 650

        if label == 650:
            knew = -1
            for k in range(npt):
                xk = xpt[k]
                sm = 0.0
                for j in range(n):
                    t = xk[j] - xopt[j]
                    sm = sm + t * t
                if sm > distsq:
                    knew = k
                    distsq = sm

            # If KNEW is positive, then ALTMOV finds alternative new positions
            # for the KNEW-th interpolation point within distance ADELT of XOPT.
            # It is reached via label 90. Otherwise, there is a branch to label
            # 60 for another trust region iteration, unless the calculations
            # with the current RHO are complete.
            if knew >= 0:
                dist = math.sqrt(distsq)
                if ntrits == -1:
                    delta = min(0.1 * delta, 0.5 * dist)
                    if delta <= 1.5 * rho:
                        delta = rho
                ntrits = 0
                adelt = max(min(0.1 * dist, delta), rho)
                dsq = adelt * adelt
                label = 90
                continue
            if ntrits == -1:
                label = 680
            elif ratio > 0.0 or max(delta, dnorm) > rho:
                label = 60
                continue
            else:
                label = 680

        if label == 680:
            # The calculations with the current value of RHO are complete.
            # Pick the next values of RHO and DELTA.
            if rho > rhoend:
                delta = 0.5 * rho
                ratio = rho / rhoend
                if ratio <= 16.0:
                    rho = rhoend
                elif ratio <= 250.0:
                    rho = math.sqrt(ratio) * rhoend
                else:
                    rho = 0.1 * rho
                delta = max(delta, rho)
                ntrits = 0
                nfsav = calfun.nf
                label = 60
                continue

            # Return from the calculation, after another Newton-Raphson step,
            # if it is too short to have been tried before.
            if ntrits == -1:
                label = 360
                continue
            label = 720

        if label == 720:
            if fval[kopt] <= fsave or xlast is None:
                return _point(xbase, xopt, xl, xu, sl, su), fval[kopt], status
            # the last evaluated point (a final Newton-Raphson step) is better
            return xlast, f, status


def _shift_xbase(n, npt, xbase, xpt, xopt, xoptsq, hq, pq, bmat, zmat, sl, su, xnew):
    """Shift XBASE to XBASE+XOPT, revising BMAT and the model (BOBYQB, label 90)."""
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


# ----------------------------------------------------------------------------
# Driver (Powell's SUBROUTINE BOBYQA)
# ----------------------------------------------------------------------------
def bobyqa(
    fun: Callable[[np.ndarray], float],
    x0,
    lower,
    upper,
    *,
    rhobeg: float,
    rhoend: float,
    npt: int | None = None,
    maxfun: int = 10000,
    minqa_compat: bool = False,
) -> BobyqaResult:
    """Minimize ``fun(x)`` subject to ``lower <= x <= upper`` by Powell's BOBYQA.

    Parameters
    ----------
    fun : callable ``fun(x) -> float``; ``x`` is a fresh 1-D float array.
    x0 : starting point, within the bounds.  As in Powell's driver, a component
        closer than ``rhobeg`` to a bound is moved onto that bound (if it is on
        it) or to distance ``rhobeg`` from it.
    lower, upper : bounds (scalars or arrays; ``-inf`` / ``inf`` allowed).  Every
        ``upper - lower`` must be at least ``2 * rhobeg``.
    rhobeg, rhoend : initial and final trust-region radius,
        ``0 < rhoend <= rhobeg``.
    npt : number of interpolation points, ``n + 2 <= npt <= (n+1)(n+2)/2``;
        default ``2n + 1`` (Powell's recommendation; lme4 uses ``n + 2``).
    maxfun : maximum number of evaluations of ``fun``.
    minqa_compat : reproduce R package minqa (>= 1.2.5) instead of Powell's
        original code where the two differ: minqa does not put an ALTMOV step
        exactly onto the bound that limited it, and it replaces a non-finite
        value of ``fun`` by the largest double.

    Returns
    -------
    BobyqaResult with the best point found, its value, the number of
    evaluations and minqa's status code (0, 1, 3 or 5) with its message.
    """
    x = np.array(x0, dtype=float).ravel()
    n = x.size
    if n < 1:
        raise ValueError("bobyqa: x0 must have at least one component")
    try:
        xl = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
        xu = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
    except ValueError as exc:
        raise ValueError(f"bobyqa: lower and upper must be scalars or have length {n}") from exc
    if not np.all(np.isfinite(x)):
        raise ValueError("bobyqa: x0 must be finite")
    if np.any(np.isnan(xl)) or np.any(np.isnan(xu)):
        raise ValueError("bobyqa: the bounds must not be NaN")
    rhobeg = float(rhobeg)
    rhoend = float(rhoend)
    if not (math.isfinite(rhobeg) and rhobeg > 0.0):
        raise ValueError(f"bobyqa: rhobeg must be positive and finite, got {rhobeg}")
    if not (math.isfinite(rhoend) and rhoend > 0.0):
        raise ValueError(f"bobyqa: rhoend must be positive and finite, got {rhoend}")
    if rhoend > rhobeg:
        raise ValueError(f"bobyqa: rhoend ({rhoend}) must not exceed rhobeg ({rhobeg})")
    if npt is None:
        npt = 2 * n + 1
    if isinstance(npt, bool) or int(npt) != npt:
        raise ValueError(f"bobyqa: npt must be an integer, got {npt!r}")
    npt = int(npt)
    nmax = (n + 1) * (n + 2) // 2
    if npt < n + 2 or npt > nmax:
        raise ValueError(
            f"bobyqa: npt = {npt} is not in the required interval "
            f"[n+2, (n+1)(n+2)/2] = [{n + 2}, {nmax}] for n = {n}"
        )
    if isinstance(maxfun, bool) or int(maxfun) != maxfun or maxfun < 1:
        raise ValueError(f"bobyqa: maxfun must be a positive integer, got {maxfun!r}")
    maxfun = int(maxfun)
    bad = np.flatnonzero((x < xl) | (x > xu))
    if bad.size:
        raise ValueError(f"bobyqa: x0 violates the bounds in component(s) {bad.tolist()}")

    # Return if there is insufficient space between the bounds. Modify the
    # initial X if necessary in order to avoid conflicts between the bounds and
    # the construction of the first quadratic model. The lower and upper bounds
    # on moves from the updated X are set now, in SL and SU, in order to
    # provide useful and exact information about components of X that become
    # within distance RHOBEG from their bounds.
    x = x.tolist()
    xl = xl.tolist()
    xu = xu.tolist()
    sl = [0.0] * n
    su = [0.0] * n
    for j in range(n):
        temp = xu[j] - xl[j]
        if temp < rhobeg + rhobeg:
            raise ValueError(
                f"bobyqa: upper - lower = {temp} is less than 2*rhobeg = {2 * rhobeg} "
                f"in component {j}"
            )
        sl[j] = xl[j] - x[j]
        su[j] = xu[j] - x[j]
        if sl[j] >= -rhobeg:
            if sl[j] >= 0.0:
                x[j] = xl[j]
                sl[j] = 0.0
                su[j] = temp
            else:
                x[j] = xl[j] + rhobeg
                sl[j] = -rhobeg
                su[j] = max(xu[j] - x[j], rhobeg)
        elif su[j] <= rhobeg:
            if su[j] <= 0.0:
                x[j] = xu[j]
                sl[j] = -temp
                su[j] = 0.0
            else:
                x[j] = xu[j] - rhobeg
                sl[j] = min(xl[j] - x[j], -rhobeg)
                su[j] = rhobeg

    calfun = _Objective(fun, maxfun, minqa_compat)
    xbest, fbest, status = _bobyqb(calfun, n, npt, x, xl, xu, rhobeg, rhoend, sl, su, minqa_compat)
    return BobyqaResult(
        x=np.array(xbest, dtype=float),
        fun=float(fbest),
        nfev=calfun.nf,
        status=status,
        message=STATUS_MESSAGES[status],
        nrescue=calfun.nrescue,
    )
