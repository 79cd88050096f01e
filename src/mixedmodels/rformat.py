"""R's formatting of numbers: the characters R prints for a number, reproduced exactly.

R 4.2's rules for ``round()``, ``signif()``, ``zapsmall()``, ``format()`` of a numeric vector,
``format.pval()`` and the "2.5 %" / "97.5 %" column labels of confidence intervals
(``format.perc``).  Everything is an independent reimplementation of
the documented / observed behaviour.

The module sits at the bottom of the package, beside errors.py and arguments.py, because stages
below report/ show numbers as R does too: glmm/ names a negative binomial family by its formatted
theta, fit/, inference/ and linear/ label interval columns, inference/ zaps the small coefficients
of its contrasts as lmerTest does.  The printouts built on it (tables, summaries) are report/'s.

Conventions
-----------
* Missing values: a float NaN (and None) prints as R's ``NA``, the usual
  meaning of NaN in Python data.  Where R would print ``NaN`` (a computed
  0/0, e.g. a failed df) pass :data:`R_NAN`, a NaN with its own payload.
* Widths count characters (R counts display columns; they differ only for
  East Asian wide characters).
"""

from __future__ import annotations

import math
import struct
from typing import Sequence

import numpy as np

__all__ = [
    "R_NA",
    "R_NAN",
    "DBL_EPSILON",
    "WIDTH",
    "is_r_nan",
    "round_r",
    "signif_r",
    "zapsmall",
    "format_num",
    "format_pval",
    "format_perc",
    "percent_labels",
    "as_floats",
]

#: R's .Machine$double.eps
DBL_EPSILON = 2.220446049250313e-16
#: R's getOption("width")
WIDTH = 80

# ---------------------------------------------------------------------------
# NA versus NaN
# ---------------------------------------------------------------------------
#: R's ``NA_real_`` bit pattern (low word 1954); any NaN but R_NAN prints NA.
R_NA: float = struct.unpack("<d", struct.pack("<Q", 0x7FF80000000007A2))[0]
_NAN_BITS = 0x7FF80000000BAD00
#: A NaN that prints as R's ``NaN``.
R_NAN: float = struct.unpack("<d", struct.pack("<Q", _NAN_BITS))[0]


def is_r_nan(x) -> bool:
    """True only for :data:`R_NAN` (R's ``is.nan``); False for NA and numbers.

    Parameters
    ----------
    x : object
        Any value.

    Returns
    -------
    bool
        Whether ``x`` is a float NaN with R_NAN's payload.
    """
    if not (isinstance(x, (float, np.floating)) and math.isnan(x)):
        return False
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0] & 0x000FFFFFFFFFFFFF == \
        _NAN_BITS & 0x000FFFFFFFFFFFFF


def as_floats(values) -> list[float]:
    """Flatten to a list of Python floats (NaN payloads kept); None -> R_NA.

    Parameters
    ----------
    values : object or array_like
        A number, None, or any array_like of them.

    Returns
    -------
    list of float
        The values, flattened.
    """
    if np.isscalar(values) or values is None:
        values = [values]
    out = []
    for v in np.asarray(values, dtype=object).ravel():
        out.append(R_NA if v is None else float(v))
    return out


def _na_or_nan(x: float) -> str:
    return "NaN" if is_r_nan(x) else "NA"


# ---------------------------------------------------------------------------
# round(), signif(), zapsmall()
# ---------------------------------------------------------------------------
def _pow_di(x: float, n: int) -> float:
    """R_pow_di: x^n by repeated squaring (so 10^k rounds exactly as in R)."""
    xn = 1.0
    if n == 0:
        return xn
    neg = n < 0
    if neg:
        n = -n
    while True:
        if n & 1:
            xn *= x
        n >>= 1
        if n:
            x *= x
        else:
            break
    return 1.0 / xn if neg else xn


def _fround(x: float, digits: float) -> float:
    """One value of R (>= 4.0.0) ``round(x, digits)``: the nearer of the two
    decimal candidates, ties to the even last digit ("measure nearest")."""
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if math.isinf(x):
        return x
    max_digits = 308 + 15
    if digits > max_digits or x == 0.0:
        return x
    if digits < -308:
        return 0.0
    if digits == 0.0:
        return float(np.rint(x))
    dig = int(math.floor(digits + 0.5))  # non-integer digits are rounded
    sgn = 1.0
    if x < 0.0:
        sgn, x = -1.0, -x
    l10x = math.log10(2.0) * (0.5 + math.frexp(x)[1] - 1)  # M_LOG10_2*(0.5+logb(x))
    if l10x + dig > 15:  # DBL_DIG: no rounding needed
        return sgn * x
    if dig <= 308:
        pow10 = _pow_di(10.0, dig)
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:
        e10 = dig - 308
        p10 = _pow_di(10.0, e10)
        pow10 = _pow_di(10.0, 308)
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def round_r(x, digits: float = 0):
    """R's ``round(x, digits)`` (R >= 4.0 algorithm); scalar in, scalar out.

    Parameters
    ----------
    x : float or array_like of float
        The numbers.
    digits : float, default 0
        Decimals (rounded to an integer first, as R does).

    Returns
    -------
    float or numpy.ndarray
        The nearer of the two decimal candidates, ties to the even last digit.
    """
    if np.isscalar(x):
        return _fround(float(x), float(digits))
    arr = np.asarray(x, dtype=float)
    return np.vectorize(lambda v: _fround(float(v), float(digits)), otypes=[float])(arr)


def _fprec(x: float, digits: float) -> float:
    """One value of R's ``signif(x, digits)`` (nmath/fprec.c)."""
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if math.isinf(x):
        return x
    if math.isinf(digits):
        if digits > 0:
            return x
        digits = 1.0
    if x == 0:
        return x
    dig = int(math.copysign(math.floor(abs(digits) + 0.5), digits))  # C round(): ties away from 0
    if dig > 22:
        return x
    if dig < 1:
        dig = 1
    sgn = 1.0
    if x < 0.0:
        sgn, x = -1.0, -x
    l10 = math.log10(x)
    e10 = int(dig - 1 - math.floor(l10))
    max10e = 308
    if abs(l10) < max10e - 2:
        p10 = 1.0
        if e10 > max10e:
            p10 = _pow_di(10.0, e10 - max10e)
            e10 = max10e
        if e10 > 0:
            pow10 = _pow_di(10.0, e10)
            return sgn * (float(np.rint((x * pow10) * p10)) / pow10) / p10
        pow10 = _pow_di(10.0, -e10)
        return sgn * (float(np.rint(x / pow10)) * pow10)
    do_round = max10e - l10 >= _pow_di(10.0, -dig)
    e2 = dig + (22 if e10 > 0 else -22)
    p10 = _pow_di(10.0, e2)
    x *= p10
    P10 = _pow_di(10.0, e10 - e2)
    x *= P10
    if do_round:
        x += 0.5
    x = math.floor(x) / p10
    return sgn * x / P10


def signif_r(x, digits: float = 6):
    """R's ``signif(x, digits)``; scalar in, scalar out.

    Parameters
    ----------
    x : float or array_like of float
        The numbers.
    digits : float, default 6
        Significant digits (at least 1).

    Returns
    -------
    float or numpy.ndarray
        The rounded values (nmath/fprec.c).
    """
    if np.isscalar(x):
        return _fprec(float(x), float(digits))
    arr = np.asarray(x, dtype=float)
    return np.vectorize(lambda v: _fprec(float(v), float(digits)), otypes=[float])(arr)


def zapsmall(x, digits: int = 7) -> np.ndarray:
    """R 4.2's ``zapsmall``: ``round(x, digits - log10(max|x|))``.

    R 4.2 does not take ``ceiling()`` of the log (R >= 4.4 does); with
    ``round()`` rounding non-integer digits to the nearest integer this is why
    lme4 prints Penicillin's residual quantiles (max 2.98) with 5 decimals but
    sleepstudy's (max 5.18) with 4.

    Parameters
    ----------
    x : array_like of float
        The numbers (NaN and None are left as they are and do not count for the maximum).
    digits : int, default 7
        Significant digits of the largest entry.

    Returns
    -------
    numpy.ndarray
        The rounded values: a 1-d array for a vector or list, a matrix keeps its shape.
    """
    arr = np.array(as_floats(x), dtype=float)
    ok = ~np.isnan(arr)
    out = arr.copy()
    if ok.any():
        mx = float(np.max(np.abs(arr[ok])))
        dig = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
        for i in range(len(arr)):
            if ok[i]:
                out[i] = _fround(float(arr[i]), dig)
    return out.reshape(np.shape(x)) if np.ndim(x) > 1 else out


# ---------------------------------------------------------------------------
# format() of numbers: formatReal / scientific / encodeReal
# ---------------------------------------------------------------------------
_LD = np.longdouble
# R's table of powers of ten is a long double array initialised from *double*
# literals, so entries above 1e22 carry the double's representation error.
_TBL = [_LD(float("1e%d" % k)) for k in range(28)]
_KP_MAX = 27


def _scientific(x: float, digits: int) -> tuple[int, int, int, bool]:
    """R's format.c ``scientific()``: (neg, kpower, nsig, roundingwidens)."""
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0 else 0
    r = -x if neg else x
    if digits >= 16:  # DBL_DIG + 1: R goes through sprintf
        buf = "%#.*e" % (digits - 1, r)
        kpower = int(buf[digits + 1 + 1:])
        i = digits
        while i >= 2 and buf[i] == "0":
            i -= 1
        return neg, kpower, i, False
    kp = int(math.floor(math.log10(r))) - digits + 1
    # alpha = |x| / 10^kp, scaled in long double (80-bit on x86) like R
    r_prec = _LD(r)
    if abs(kp) <= _KP_MAX:
        if kp > 0:
            r_prec = r_prec / _TBL[kp]
        elif kp < 0:
            r_prec = r_prec * _TBL[-kp]
    else:
        r_prec = r_prec / np.power(_LD(10), _LD(kp))
    if r_prec < _TBL[digits - 1]:
        r_prec = r_prec * _LD(10)
        kp -= 1
    alpha = float(np.rint(r_prec))  # nearbyintl: ties to even
    nsig = digits
    for _ in range(digits):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    # 9996 with 3 digits is 1e+04 in scientific but 9996 in fixed notation
    rgt = min(max(digits - kpower, 0), _KP_MAX)
    fuzz = 0.5 / float(_TBL[rgt])
    widens = 0 < kpower <= _KP_MAX and _LD(r) < _TBL[kpower] - _LD(fuzz)
    return neg, kpower, nsig, bool(widens)


def _format_real(xs: Sequence[float], digits: int, nsmall: int = 0, scipen: int = 0) -> tuple[int, int, int]:
    """R's ``formatReal``: common (width, decimals, exponent flag) of a vector.

    ``scipen`` is R's ``R_print.scipen``: fixed notation unless it is more than ``scipen``
    characters wider than scientific (``format(scientific = FALSE)`` sets it to 100)."""
    naflag = nanflag = posinf = neginf = False
    neg = 0
    mxl = rgt = mxsl = mxns = -(10**9)
    mnl = 10**9
    for x in xs:
        if math.isnan(x):
            if is_r_nan(x):
                nanflag = True
            else:
                naflag = True
        elif math.isinf(x):
            if x > 0:
                posinf = True
            else:
                neginf = True
        else:
            neg_i, kpower, nsig, widens = _scientific(x, digits)
            left = kpower + 1
            if widens:
                left -= 1
            sleft = neg_i + (1 if left <= 0 else left)
            right = nsig - left
            if neg_i:
                neg = 1
            rgt = max(rgt, right)
            mxl = max(mxl, left)
            mnl = min(mnl, left)
            mxsl = max(mxsl, sleft)
            mxns = max(mxns, nsig)
    if digits == 0:
        rgt = 0
    if mxl < 0:
        mxsl = 1 + neg
    if rgt < 0:
        rgt = 0
    wF = mxsl + rgt + (rgt != 0)
    e = 2 if (mxl > 100 or mnl <= -99) else 1
    if mxns != -(10**9):
        d = mxns - 1
        w = neg + (d > 0) + d + 4 + e
        if wF <= w + scipen:  # fixed notation if not wider (by more than scipen)
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                wF = mxsl + rgt + (rgt != 0)
            d = rgt
            w = wF
    else:
        w = d = e = 0
    if naflag and w < 2:
        w = 2
    if nanflag and w < 3:
        w = 3
    if posinf and w < 3:
        w = 3
    if neginf and w < 4:
        w = 4
    return w, d, e


def _encode_real(x: float, w: int, d: int, e: int) -> str:
    """R's ``EncodeReal0``: sprintf with %w.df or %#w.de."""
    if math.isnan(x):
        return "%*s" % (w, _na_or_nan(x))
    if math.isinf(x):
        return "%*s" % (w, "Inf" if x > 0 else "-Inf")
    if x == 0.0:
        x = 0.0  # drop the sign of -0
    if e:
        if d:
            return "%#*.*e" % (w, d, x)
        return "%*.*e" % (w, d, x)
    return "%*.*f" % (w, d, x)


def format_num(values, digits: int = 7, nsmall: int = 0, width: int = 0,
               scientific: bool | None = None) -> list[str]:
    """R's ``format()`` of a numeric vector.

    One common notation for all elements: the number of decimals is the
    largest any element needs to show ``digits`` significant digits (trailing
    zeros not counted), fixed notation unless scientific is narrower, and all
    strings right-justified to a common width (NaN, NA, Inf as in R).

    Parameters
    ----------
    values : float or array_like of float
        The numbers; None and NaN print as ``NA``, :data:`R_NAN` as ``NaN``.
    digits : int, default 7
        Significant digits (R's ``digits``).
    nsmall : int, default 0
        At least this many decimals in fixed notation (R's ``nsmall``).
    width : int, default 0
        At least this width (R's ``width``).
    scientific : bool or None, default None
        R's ``scientific``: None chooses the narrower notation, False forces fixed notation
        (R's penalty of 100 characters), True scientific.

    Returns
    -------
    list of str
        One string per value, all of the same width.
    """
    xs = as_floats(values)
    scipen = 0 if scientific is None else (-100 if scientific else 100)
    w, d, e = _format_real(xs, digits, nsmall, scipen)
    w = max(w, width)
    return [_encode_real(x, w, d, e) for x in xs]


# ---------------------------------------------------------------------------
# format.pval() and significance stars
# ---------------------------------------------------------------------------
def format_pval(pv, digits: int = 5, eps: float = DBL_EPSILON, na_form: str = "NA") -> list[str]:
    """R's ``format.pval``.

    Values below ``eps`` print as ``"<eps"``; the separator is a space unless
    digits collapse to 1 and the other entries are at most 6 wide, which is why
    a column of only tiny p-values shows ``"<2e-16"`` but ``"< 2e-16"`` next
    to ``"3.26e-06"``.

    Parameters
    ----------
    pv : float or array_like of float
        The p-values (NaN and None are missing).
    digits : int, default 5
        Significant digits.
    eps : float, default DBL_EPSILON
        Values below it print as ``"<eps"``.
    na_form : str, default "NA"
        The text of a missing value.

    Returns
    -------
    list of str
        One string per value (not padded to a common width).
    """
    xs = as_floats(pv)
    na = [math.isnan(x) for x in xs]
    vals = [x for x, n in zip(xs, na) if not n]
    is0 = [v < eps for v in vals]
    r = [""] * len(vals)
    rr: list[str] = []
    if not all(is0):
        keep = [v for v, z in zip(vals, is0) if not z]
        expo = [math.floor(math.log10(v if v > 0 else 1e-50)) for v in keep]
        fixp = [ex >= -3 or (ex == -4 and digits > 1) for ex in expo]
        rr = [""] * len(keep)
        fixed_idx = [i for i, f in enumerate(fixp) if f]
        sci_idx = [i for i, f in enumerate(fixp) if not f]
        if fixed_idx:
            for i, s in zip(fixed_idx, format_num([keep[i] for i in fixed_idx], digits)):
                rr[i] = s
        if sci_idx:
            for i, s in zip(sci_idx, format_num([keep[i] for i in sci_idx], digits)):
                rr[i] = s
        it = iter(rr)
        for i, z in enumerate(is0):
            if not z:
                r[i] = next(it)
    if any(is0):
        dig = max(1, digits - 2)
        if not all(is0):
            nc = max(len(s) for s in rr)
            if dig > 1 and dig + 6 > nc:
                dig = max(1, nc - 7)
            sep = "" if (dig == 1 and nc <= 6) else " "
        else:
            sep = "" if dig == 1 else " "
        lab = "<" + sep + format_num([eps], dig)[0]
        for i, z in enumerate(is0):
            if z:
                r[i] = lab
    out, it = [], iter(r)
    for n in na:
        out.append(na_form if n else next(it))
    return out


# ---------------------------------------------------------------------------
# format.perc(): the column labels of confidence intervals
# ---------------------------------------------------------------------------
def format_perc(probs: Sequence[float], digits: int = 3) -> list[str]:
    """R's (stats-internal) ``format.perc``: probabilities as percent labels.

    ``paste(format(100 * probs, trim = TRUE, scientific = FALSE, digits = digits), "%")``: the
    values are formatted *together*, so each label has the decimals the most precise one needs
    (``c(0.0125, 0.9875)`` gives "1.25 %" and "98.75 %", not "98.8 %").

    Parameters
    ----------
    probs : sequence of float
        Probabilities, e.g. ``[0.025, 0.975]``.
    digits : int, default 3
        Significant digits, as R's ``digits``.

    Returns
    -------
    list of str
        One label per probability, e.g. ``["2.5 %", "97.5 %"]``.
    """
    return [s.strip() + " %" for s in format_num([100 * float(p) for p in probs], digits, scientific=False)]


def percent_labels(level: float) -> list[str]:
    """The two column labels R gives a confidence interval of ``level``.

    ``a <- (1 - level) / 2; format.perc(c(a, 1 - a), 3)``, as in ``confint.lm``,
    ``confint.merMod`` and lme4's bootstrap intervals: 0.95 gives "2.5 %" and "97.5 %".

    Parameters
    ----------
    level : float
        The confidence level, in (0, 1).

    Returns
    -------
    list of str
        The lower and the upper bound's label.
    """
    a = (1 - level) / 2
    return format_perc([a, 1 - a], 3)
