"""Powell's SUBROUTINE RESCUE: a fresh interpolation set when UPDATE's denominator cancels.

Part of the port of Powell's BOBYQA; copyright, license and the conventions of the port: the
docstring of :mod:`mixedmodels.optim.bobyqa`.
"""
from __future__ import annotations

from .kernels import SQRT2, zmat_part
from .objective import point
from .update import update

__all__ = ["rescue"]


def rescue(calfun, n, npt, xl, xu, xbase, xpt, fval, xopt, gopt, hq, pq, bmat, zmat,
           sl, su, delta, kopt, vlag):
    """Shift XBASE to XBASE+XOPT and regenerate BMAT and ZMAT from scratch.

    Interpolation points whose positions seem to cause near linear dependence
    are replaced by provisional points along coordinate directions, with new
    function values.  GOPT, HQ and PQ are revised for the final model.
    XOPT and GOPT are updated by the caller.

    Kept whole: it is a statement-by-statement port of Powell's SUBROUTINE RESCUE, checked bit
    for bit against the Fortran (tests/test_bobyqa.py); splitting it would break that
    correspondence.

    Parameters
    ----------
    calfun : Objective
        The objective.
    n, npt : int
        Number of variables and of interpolation points.
    xl, xu : list of float
        The bounds.
    xpt, xopt, xbase, fval, gopt, hq, pq, bmat, zmat, sl, su : list
        BOBYQB's arrays (see :func:`.bobyqb.bobyqb`), lists of floats (XPT, BMAT, ZMAT: lists of
        rows), read or revised in place as in Powell's code.
    delta : float
        The trust-region radius.
    kopt : int
        0-based index of the trust-region centre.
    vlag : list of float
        Working space (Powell's VLAG).

    Returns
    -------
    kopt : int
        The new index of the trust-region centre.
    ok : bool
        False when MAXFUN prevented further progress (Powell's NF=-1).
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
            zmat[0][c] = SQRT2 / abs(p1[c] * p2[c])
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
                update(n, npt, bmat, zmat, vlag, beta, denom, knew)
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
            beta = zmat_part(zmat, w, vlag, npt, nptm)
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
        f = calfun(point(xbase, xk, xl, xu, sl, su))
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
