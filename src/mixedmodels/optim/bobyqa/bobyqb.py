"""Powell's SUBROUTINE BOBYQB: the main iteration of BOBYQA.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

import math

from .altmov import altmov
from .kernels import add_implicit_hess, zmat_part
from .objective import point
from .prelim import prelim
from .rescue import rescue
from .shift import shift_xbase
from .trsbox import trsbox
from .update import choose_knew, update

__all__ = ["bobyqb"]


def bobyqb(calfun, n, npt, x, xl, xu, rhobeg, rhoend, sl, su, minqa_compat):
    """Powell's BOBYQB: the main iteration.

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

    Kept whole: it is a statement-by-statement port of Powell's SUBROUTINE BOBYQB, checked bit
    for bit against the Fortran (tests/test_bobyqa.py); splitting it would break that
    correspondence: its GOTO structure is a loop over
    Powell's statement labels, whose state (some twenty scalars shared between the labels) does
    not divide; the self-contained pieces are already out (prelim, trsbox, altmov, rescue,
    update, choose_knew, shift_xbase, the kernels).

    Parameters
    ----------
    calfun : Objective
        The objective; counts the evaluations.
    n, npt : int
        Number of variables and of interpolation points.
    x, xl, xu : list of float
        Starting point (already moved off the bounds by the driver) and the bounds.
    rhobeg, rhoend : float
        Initial and final trust-region radius.
    sl, su : list of float
        XL-XBASE and XU-XBASE, revised in place.
    minqa_compat : bool
        Reproduce minqa where it differs from Powell's code.

    Returns
    -------
    x : list of float
        The best point found.
    f : float
        Its value.
    status : int
        minqa's status code (0, 1, 3 or 5).
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
    kopt = prelim(calfun, n, npt, x, xl, xu, rhobeg, xbase, xpt, fval, gopt, hq, bmat, zmat, sl, su)
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
                    add_implicit_hess(gopt, pq, xpt, xopt, npt, n)
            label = 60

        if label == 60:
            # Generate the next point in the trust region that provides a small
            # value of the quadratic model subject to the constraints on the
            # variables. The integer NTRITS is set to the number "trust region"
            # iterations that have occurred since the last "alternative"
            # iteration. If the length of XNEW-XOPT is less than HALF*RHO,
            # however, then there is a branch to label 650 or 680 with
            # NTRITS=-1, instead of calculating F at XNEW.
            dsq, crvmin = trsbox(n, npt, xpt, xopt, gopt, hq, pq, sl, su, delta, xnew, d, gnew)
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
                shift_xbase(n, npt, xbase, xpt, xopt, xoptsq, hq, pq, bmat, zmat, sl, su, xnew)
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
            kopt, ok = rescue(calfun, n, npt, xl, xu, xbase, xpt, fval, xopt, gopt, hq, pq,
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
            alpha, cauchy = altmov(n, npt, xpt, xopt, bmat, zmat, sl, su, kopt, knew, adelt,
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
            beta = zmat_part(zmat, wk, vlag, npt, nptm)
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
                knew, den, scaden, biglsq = choose_knew(npt, n, zmat, vlag, beta, xpt, xopt, delta * delta, kopt)
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
            xlast = point(xbase, xnew, xl, xu, sl, su)
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
                    knew, den, scaden, biglsq = choose_knew(npt, n, zmat, vlag, beta, xpt, xnew, delta * delta, -1)
                    if knew >= 0:
                        denom = den
                    if scaden <= 0.5 * biglsq:
                        knew = ksav
                        denom = densav

            # Update BMAT and ZMAT, so that the KNEW-th interpolation point can
            # be moved. Also update the second derivative terms of the model.
            update(n, npt, bmat, zmat, vlag, beta, denom, knew)
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
                add_implicit_hess(gopt, pq, xpt, d, npt, n)

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
                return point(xbase, xopt, xl, xu, sl, su), fval[kopt], status
            # the last evaluated point (a final Newton-Raphson step) is better
            return xlast, f, status
