"""Text rendering of model summaries exactly as R (lme4 / lmerTest) prints them.

This module does no fitting: it turns numbers into the characters R would
print, reproducing R 4.2's formatting rules (``format()``, ``round()``,
``signif()``, ``zapsmall()``, ``format.pval()``, ``abbreviate()``,
``strwrap()``, ``cat(fill=TRUE)``, ``print.default`` of vectors and matrices,
``printCoefmat()``) and on top of them lme4's ``print.summary.merMod`` and the
likelihood-ratio ``anova()`` table.  Everything is an independent
reimplementation of the documented / observed behaviour.

Conventions
-----------
* Renderers return what R writes to the console *without its final newline*,
  i.e. ``paste(capture.output(print(x)), collapse = "\\n")``; ``print()`` of
  the returned string therefore shows exactly R's console output.
* Missing values: a float NaN (and None) prints as R's ``NA``, the usual
  meaning of NaN in Python data.  Where R would print ``NaN`` (a computed
  0/0, e.g. a failed df) pass :data:`R_NAN`, a NaN with its own payload.
* Widths count characters (R counts display columns; they differ only for
  East Asian wide characters).
"""

from __future__ import annotations

import itertools
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "R_NA",
    "R_NAN",
    "DBL_EPSILON",
    "is_r_nan",
    "round_r",
    "signif_r",
    "zapsmall",
    "format_num",
    "format_pval",
    "signif_stars",
    "SIGNIF_LEGEND",
    "abbreviate",
    "strwrap",
    "cat_fill",
    "deparse_formula",
    "quantile7",
    "print_named_vector",
    "print_char_matrix",
    "print_coefmat",
    "VarCorrGroup",
    "LmerSummary",
    "GlmerSummary",
    "format_varcorr",
    "render_lmer_summary",
    "render_glmer_summary",
    "render_lrt_anova",
    "weights_label",
]

#: R's .Machine$double.eps
DBL_EPSILON = 2.220446049250313e-16
#: R's getOption("width")
WIDTH = 80
#: R_print.gap
_GAP = 1

# ---------------------------------------------------------------------------
# NA versus NaN
# ---------------------------------------------------------------------------
#: R's ``NA_real_`` bit pattern (low word 1954); any NaN but R_NAN prints NA.
R_NA: float = struct.unpack("<d", struct.pack("<Q", 0x7FF80000000007A2))[0]
_NAN_BITS = 0x7FF80000000BAD00
#: A NaN that prints as R's ``NaN``.
R_NAN: float = struct.unpack("<d", struct.pack("<Q", _NAN_BITS))[0]


def is_r_nan(x) -> bool:
    """True only for :data:`R_NAN` (R's ``is.nan``); False for NA and numbers."""
    if not (isinstance(x, (float, np.floating)) and math.isnan(x)):
        return False
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0] & 0x000FFFFFFFFFFFFF == \
        _NAN_BITS & 0x000FFFFFFFFFFFFF


def _as_floats(values) -> list[float]:
    """Flatten to a list of Python floats (NaN payloads kept); None -> R_NA."""
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
    """R's ``round(x, digits)`` (R >= 4.0 algorithm); scalar in, scalar out."""
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
    """R's ``signif(x, digits)``; scalar in, scalar out."""
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
    """
    arr = np.array(_as_floats(x), dtype=float)
    ok = ~np.isnan(arr)
    if not ok.any():
        return arr
    mx = float(np.max(np.abs(arr[ok])))
    dig = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    out = arr.copy()
    for i in range(len(arr)):
        if ok[i]:
            out[i] = _fround(float(arr[i]), dig)
    return out


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


def _format_real(xs: Sequence[float], digits: int, nsmall: int = 0) -> tuple[int, int, int]:
    """R's ``formatReal``: common (width, decimals, exponent flag) of a vector."""
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
        if wF <= w:  # + R_print.scipen (0): fixed notation if not wider
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


def format_num(values, digits: int = 7, nsmall: int = 0, width: int = 0) -> list[str]:
    """R's ``format()`` of a numeric vector.

    One common notation for all elements: the number of decimals is the
    largest any element needs to show ``digits`` significant digits (trailing
    zeros not counted), fixed notation unless scientific is narrower, and all
    strings right-justified to a common width (NaN, NA, Inf as in R).
    """
    xs = _as_floats(values)
    w, d, e = _format_real(xs, digits, nsmall)
    w = max(w, width)
    return [_encode_real(x, w, d, e) for x in xs]


def _format_one(x: float, digits: int = 7) -> str:
    """A single number as ``cat()``/``paste()`` would print it (7 digits)."""
    return format_num([x], digits)[0]


def _format_str(strings: Sequence[str], justify: str = "left") -> list[str]:
    """R's ``format()`` of a character vector: pad to common width."""
    if not strings:
        return []
    w = max(len(s) for s in strings)
    if justify == "left":
        return [s.ljust(w) for s in strings]
    if justify == "right":
        return [s.rjust(w) for s in strings]
    return list(strings)


# ---------------------------------------------------------------------------
# format.pval() and significance stars
# ---------------------------------------------------------------------------
def format_pval(pv, digits: int = 5, eps: float = DBL_EPSILON, na_form: str = "NA") -> list[str]:
    """R's ``format.pval``.

    Values below ``eps`` print as ``"<eps"``; the separator is a space unless
    digits collapse to 1 and the other entries are at most 6 wide, which is why
    a column of only tiny p-values shows ``"<2e-16"`` but ``"< 2e-16"`` next
    to ``"3.26e-06"``.
    """
    xs = _as_floats(pv)
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


#: The legend line printCoefmat writes under the table (UTF-8 quotes as in R).
SIGNIF_LEGEND = "0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1"


def signif_stars(pv) -> list[str]:
    """``symnum`` with cutpoints 0, .001, .01, .05, .1, 1 (intervals closed on
    the right, first one closed on both sides); NA gives ``""``.  Not padded."""
    return _stars(pv)


def _stars(pv) -> list[str]:
    out = []
    for p in _as_floats(pv):
        if math.isnan(p):
            out.append("")
        elif p <= 0.001:
            out.append("***" if p >= -1e-5 else "")
        elif p <= 0.01:
            out.append("**")
        elif p <= 0.05:
            out.append("*")
        elif p <= 0.1:
            out.append(".")
        elif p <= 1 + 1e-5:
            out.append(" ")
        else:
            out.append("")
    return out


# ---------------------------------------------------------------------------
# abbreviate()
# ---------------------------------------------------------------------------
def _isspace(c: str) -> bool:
    return c in " \t\n\v\f\r"


def _islower(c: str) -> bool:
    return "a" <= c <= "z"


def _stripchars(inchar: str, minlen: int, usecl: bool = True) -> str:
    """R's C ``stripchars``: drop characters from the right, in order lower
    case vowels ending a word, other lower case vowels, lower case letters
    ending a word, other lower case letters, then anything but a word's first
    character, until ``minlen`` characters remain (first char always kept)."""
    s = list(inchar)
    nspace = 0

    def short() -> bool:
        return len(s) - nspace <= minlen

    def first(i: int) -> bool:  # FIRSTCHAR: s[i] starts a word
        return _isspace(s[i - 1])

    def last(i: int) -> bool:  # LASTCHAR: s[i] ends a word
        return (not _isspace(s[i - 1])) and (i + 1 >= len(s) or _isspace(s[i + 1]))

    def vowel(i: int) -> bool:
        return s[i] in "aeiou"

    def run() -> None:
        nonlocal nspace
        if len(s) < minlen:
            return
        j = True
        for i in range(len(s) - 1, 0, -1):
            if _isspace(s[i]):
                if j:
                    del s[i:]
                else:
                    nspace += 1
            else:
                j = False
            if short():
                return
        if usecl:
            passes = (
                lambda i: vowel(i) and last(i),
                lambda i: vowel(i) and not first(i),
                lambda i: _islower(s[i]) and last(i),
                lambda i: _islower(s[i]) and not first(i),
            )
            for cond in passes:
                for i in range(len(s) - 1, 0, -1):
                    if cond(i):
                        del s[i]
                    if short():
                        return
        for i in range(len(s) - 1, 0, -1):
            if not first(i) and not _isspace(s[i]):
                del s[i]
            if short():
                return

    run()
    if len(s) > minlen:  # remove internal spaces
        for i in range(len(s) - 1, 0, -1):
            if _isspace(s[i]):
                del s[i]
    return "".join(s)


def _abbrev_internal(names: Sequence[str], minlength: int, use_classes: bool) -> list[str]:
    return [_stripchars(n, minlength, use_classes) if len(n) > minlength else n for n in names]


def abbreviate(names: Sequence[str], minlength: int = 4, use_classes: bool = True,
               strict: bool = False) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (method "left.kept", ASCII names).

    If abbreviations collide, the colliding names are abbreviated again with
    ``minlength + 1`` and so on (unless ``strict``).
    """
    names = [re.sub("^ +", "", re.sub(" +$", "", str(n))) for n in names]
    if minlength <= 0:
        return ["" for _ in names]
    uniq: list[str] = []
    for n in names:
        if n not in uniq:
            uniq.append(n)
    x = list(uniq)
    if strict:
        x = _abbrev_internal(uniq, minlength, use_classes)
    else:
        dup2 = [True] * len(uniq)
        these = list(uniq)
        while True:
            ans = _abbrev_internal(these, minlength, use_classes)
            it = iter(ans)
            for i in range(len(x)):
                if dup2[i]:
                    x[i] = next(it)
            seen: set[str] = set()
            dup2 = []
            for v in x:
                dup2.append(v in seen)
                seen.add(v)
            if not any(dup2):
                break
            minlength += 1
            dupvals = {v for v, dd in zip(x, dup2) if dd}
            dup2 = [dd or (v in dupvals) for v, dd in zip(x, dup2)]
            these = [u for u, dd in zip(uniq, dup2) if dd]
    lookup = dict(zip(uniq, x))
    return [lookup[n] for n in names]


# ---------------------------------------------------------------------------
# strwrap() and cat(fill = TRUE)
# ---------------------------------------------------------------------------
def _strsplit(text: str, pattern: str) -> list[str]:
    """R's strsplit for one string: like re.split but without a trailing ""."""
    pieces = re.split(pattern, text)
    if pieces and pieces[-1] == "":
        pieces.pop()
    return pieces


def strwrap(text: str, width: int, indent: int = 0, exdent: int = 0,
            prefix: str = "", initial: str | None = None) -> list[str]:
    """R's ``strwrap`` for one string: greedy filling to lines shorter than
    ``width``; paragraphs (split at blank lines) are separated by ``prefix``."""
    if initial is None:
        initial = prefix
    yi: list[str] = []
    for para in _strsplit(text, r"\n[ \t\n]*\n"):
        words = _strsplit(para, r"[ \t\n]")
        # drop empty words (from repeated blanks) except right after a sentence end
        keep = [i for i, w in enumerate(words)
                if w or (i > 0 and re.search(r"[.?!][)\"']{0,1}$", words[i - 1]))]
        words = [words[i] for i in keep]
        nc = [len(w) for w in words]
        if not words:
            yi.extend(["", initial])
            continue
        lower, upper = [0], []
        lens = list(itertools.accumulate(n + 1 for n in nc))
        cur = -1
        max_len = width - len(initial) - indent
        is_first = True
        while lens:
            k = max(sum(1 for ln in lens if ln <= max_len), 1)
            if is_first:
                is_first = False
                max_len = width - len(prefix) - exdent
            cur += k
            upper.append(cur - 1 if nc[cur] == 0 else cur)
            if len(lens) > k:
                if nc[cur + 1] == 0:
                    cur += 1
                    k += 1
                lower.append(cur + 1)
            if len(lens) > k:
                base = lens[k - 1]
                lens = [ln - base for ln in lens[k:]]
            else:
                lens = []
        for b in range(len(upper)):
            lead = initial + " " * indent if b == 0 else prefix + " " * exdent
            yi.append(lead + " ".join(words[lower[b]:upper[b] + 1]))
        yi.append(prefix)
        initial = prefix
    return yi[:-1] if yi else [""]


def cat_fill(items: Sequence[Sequence[str] | str], sep: str = " ", fill: int | None = WIDTH) -> str:
    """R's ``cat(..., sep = sep, fill = fill)`` of character vectors.

    Before an item that would make the line longer than ``fill`` a newline is
    started (after the separator has already been written, so the broken line
    keeps a trailing separator).  Ends with a newline when filling.
    """
    vecs = [[v] if isinstance(v, str) else list(v) for v in items]
    pwidth = fill if fill else None
    buf: list[str] = []
    width = 0
    sepw = len(sep)
    for iobj, vec in enumerate(vecs):
        if iobj != 0:
            buf.append(sep)
        if not vec:
            continue
        for i, p in enumerate(vec):
            w = len(p)
            if i == 0:
                if iobj > 0 and pwidth is not None and width + w + sepw > pwidth:
                    buf.append("\n")
                    width = 0
            buf.append(p)
            width += w + sepw
            if i < len(vec) - 1:
                buf.append(sep)
                nw = len(vec[i + 1])
                if pwidth is not None and width + nw + sepw > pwidth:
                    buf.append("\n")
                    width = 0
    if pwidth is not None or "\n" in sep:
        buf.append("\n")
    return "".join(buf)


# ---------------------------------------------------------------------------
# deparse() of a formula (spacing and line breaking at width.cutoff)
# ---------------------------------------------------------------------------
_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE",
             "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_",
             "NA_character_", "NA_complex_", "in"}

# binary operators: (precedence level, right associative, spaced "a op b")
_BINOPS = {
    "~": (5, False, True), "||": (6, False, True), "|": (6, False, True),
    "&&": (7, False, True), "&": (7, False, True),
    "==": (9, False, True), "!=": (9, False, True), "<": (9, False, True),
    ">": (9, False, True), "<=": (9, False, True), ">=": (9, False, True),
    "+": (10, False, True), "-": (10, False, True), "*": (11, False, True),
    "/": (11, False, False), "%%": (12, False, False), "%/%": (12, False, False),
    ":": (13, False, False), "^": (15, True, False), "$": (16, False, False),
    "@": (16, False, False), "::": (17, False, False), ":::": (17, False, False),
    "<-": (3, True, True), "<<-": (3, True, True),
}
_UNARY = {"-": 14, "+": 14, "!": 8, "~": 5}
_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<name>(?:[^\W\d]|\.(?![0-9]))[\w.]*|`[^`]+`)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>%[^%\n]*%|:::|::|\|\||&&|==|!=|<=|>=|<<-|<-|[~|&<>+\-*/^:$@!(),=])
""", re.VERBOSE)


class _Unsupported(Exception):
    pass


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, toks = 0, []
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise _Unsupported(text[pos:])
        pos = m.end()
        kind = m.lastgroup
        if kind != "ws":
            toks.append((kind, m.group()))
    return toks


class _Parser:
    """Tiny Pratt parser for R expressions as they occur in model formulas."""

    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def parse(self):
        node = self.expr(0)
        if self.i != len(self.toks):
            raise _Unsupported("trailing tokens")
        return node

    def expr(self, min_bp: int):
        kind, val = self.take()
        if kind in ("num", "name", "str"):
            left = (kind, val)
        elif kind == "op" and val == "(":
            inner = self.expr(0)
            if self.take() != ("op", ")"):
                raise _Unsupported("unbalanced parenthesis")
            left = ("paren", inner)
        elif kind == "op" and val in _UNARY:
            left = ("unary", val, self.expr(2 * _UNARY[val]))
        else:
            raise _Unsupported(str(val))
        while True:
            kind, val = self.peek()
            if kind != "op":
                if kind is None:
                    break
                raise _Unsupported(str(val))
            if val == "(":
                if 2 * 18 < min_bp:
                    break
                self.take()
                left = ("call", left, self.args())
                continue
            if val in _BINOPS or (val.startswith("%") and len(val) > 1):
                prec, rassoc, _ = _BINOPS.get(val, (12, False, True))
                lbp = 2 * prec
                if lbp < min_bp:
                    break
                self.take()
                right = self.expr(lbp if rassoc else lbp + 1)
                left = ("bin", val, left, right)
                continue
            break
        return left

    def args(self):
        out = []
        if self.peek() == ("op", ")"):
            self.take()
            return out
        while True:
            name = None
            k, v = self.peek()
            if k in ("name", "str") and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == ("op", "="):
                name = v
                self.i += 2
            out.append((name, self.expr(0)))
            k, v = self.take()
            if (k, v) == ("op", ")"):
                return out
            if (k, v) != ("op", ","):
                raise _Unsupported("bad argument list")


def _valid_name(s: str) -> bool:
    return bool(re.fullmatch(r"(?:[^\W\d_]|\.(?![0-9]))[\w.]*|\.", s)) and s not in _RESERVED


class _Deparser:
    """The parts of R's deparse2buff that formulas use, with its line breaking:
    after writing ``"lhs op "`` or ``", "`` a new line (indented 4 spaces per
    level) is started once the current line is longer than the cutoff."""

    def __init__(self, cutoff: int):
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf = ""
        self.indent = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                self.buf += "    " if i <= 4 else "  "
        self.buf += s

    def writeline(self) -> None:
        self.lines.append(self.buf)
        self.buf = ""
        self.startline = True

    def linebreak(self, state: list[bool]) -> None:
        if len(self.buf) > self.cutoff:
            if not state[0]:
                state[0] = True
                self.indent += 1
            self.writeline()

    def node(self, n) -> None:
        kind = n[0]
        if kind == "name":
            v = n[1]
            if v.startswith("`"):
                inner = v[1:-1]
                v = inner if _valid_name(inner) else v
            self.put(v)
        elif kind == "num":
            v = n[1]
            if v.endswith("L"):
                self.put(v)
            else:
                self.put(format_num([float(v)], 15)[0].strip())
        elif kind == "str":
            body = n[1][1:-1]
            if n[1][0] == "'":
                body = body.replace("\\'", "'").replace('"', '\\"')
            self.put('"' + body + '"')
        elif kind == "paren":
            self.put("(")
            self.node(n[1])
            self.put(")")
        elif kind == "unary":
            self.put(n[1])
            self.node(n[2])
        elif kind == "bin":
            op, lhs, rhs = n[1], n[2], n[3]
            spaced = _BINOPS.get(op, (12, False, True))[2]
            self.node(lhs)
            if spaced:
                self.put(" " + op + " ")
                state = [False]
                if op not in ("<-", "<<-"):
                    self.linebreak(state)
                self.node(rhs)
                if state[0]:
                    self.indent -= 1
            else:
                self.put(op)
                self.node(rhs)
        elif kind == "call":
            fn, args = n[1], n[2]
            self.node(fn)
            self.put("(")
            state = [False]
            for j, (name, val) in enumerate(args):
                if name is not None:
                    nm = name[1:-1] if name[0] in "\"'`" else name
                    self.put((nm if _valid_name(nm) else "`" + nm + "`") + " = ")
                self.node(val)
                if j < len(args) - 1:
                    self.put(", ")
                    self.linebreak(state)
            if state[0]:
                self.indent -= 1
            self.put(")")
        else:  # pragma: no cover - parser produces only the kinds above
            raise _Unsupported(kind)


def deparse_formula(text: str, cutoff: int = 60) -> list[str]:
    """R's ``deparse()`` of a formula given as text: R's spacing around
    operators and its line breaks once a line exceeds ``width.cutoff``.
    Text that the small parser does not understand is returned unchanged."""
    try:
        tree = _Parser(text).parse()
    except (_Unsupported, IndexError):
        return [text]
    d = _Deparser(cutoff)
    d.node(tree)
    d.writeline()
    return d.lines


# ---------------------------------------------------------------------------
# quantile(type = 7)
# ---------------------------------------------------------------------------
def quantile7(x, probs=(0.0, 0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """R's default ``quantile(x, probs, na.rm = TRUE)`` (type 7), using R's
    interpolation formula ``(1 - h) * x[lo] + h * x[hi]``."""
    arr = np.array(_as_floats(x), dtype=float)
    arr = np.sort(arr[~np.isnan(arr)])
    n = len(arr)
    out = []
    for p in probs:
        if n == 0:
            out.append(R_NA)
            continue
        index = 1 + max(n - 1, 0) * p
        lo, hi = math.floor(index), math.ceil(index)
        qs = arr[lo - 1]
        xhi = arr[hi - 1]
        if index > lo and xhi != qs:
            h = index - lo
            qs = (1 - h) * qs + h * xhi
        out.append(float(qs))
    return np.array(out)


# ---------------------------------------------------------------------------
# print.default of named vectors and character matrices
# ---------------------------------------------------------------------------
def print_named_vector(values: Sequence[str] | Sequence[float], names: Sequence[str],
                       digits: int = 7, width: int = WIDTH) -> str:
    """R's print of a named vector (numbers formatted jointly with ``digits``,
    strings printed as-is): names and values right-justified in columns of a
    common width, each followed by one space; ends with a newline."""
    if len(values) and isinstance(values[0], str):
        cells = list(values)
    else:
        cells = format_num(values, digits)
    n = len(cells)
    if n == 0:
        return "named numeric(0)\n"
    w = max(max(len(c) for c in cells), max(len(s) for s in names))
    perline = max(width // (w + _GAP), 1)
    out = []
    for start in range(0, n, perline):
        idx = range(start, min(start + perline, n))
        out.append("".join(names[k].rjust(w) + " " * _GAP for k in idx) + "\n")
        out.append("".join(cells[k].rjust(w) + " " * _GAP for k in idx) + "\n")
    return "".join(out)


def print_char_matrix(cells: Sequence[Sequence[str]], row_names: Sequence[str] | None,
                      col_names: Sequence[str] | None, right: bool = False,
                      width: int = WIDTH, ncol: int | None = None) -> str:
    """R's ``print(<character matrix>, quote = FALSE, right = right)``.

    Row names are left-justified; columns (and their labels) left- or
    right-justified to their widest entry, one space apart.  Columns that do
    not fit in ``width`` continue in further blocks below.  Ends with "\\n".
    ``ncol`` is only needed for a matrix with no rows and no column names.
    """
    r = len(cells)
    c = len(cells[0]) if r else (len(col_names) if col_names is not None else (ncol or 0))
    if r == 0 and c == 0:
        return "<0 x 0 matrix>\n"
    if row_names is not None and len(row_names) == 0:
        row_names = None  # R drops zero-length dimnames
    if row_names is not None:
        rlabels = list(row_names)
        rlabw = max(len(s) for s in rlabels)
    else:
        rlabels = ["[%d,]" % (i + 1) for i in range(r)]
        rlabw = len(str(r + 1)) + 3
    clabels = list(col_names) if col_names is not None else ["[,%d]" % (j + 1) for j in range(c)]
    # without column names R left-justifies the "[,j]" labels even when right=TRUE
    lab_right = right and col_names is not None
    w = []
    for j in range(c):
        wj = max([len(cells[i][j]) for i in range(r)], default=0)
        w.append(max(wj, len(clabels[j])))
    out: list[str] = []
    if c == 0:
        out.append(" " * rlabw)
        for i in range(r):
            out.append("\n" + rlabels[i].ljust(rlabw))
        out.append("\n")
        return "".join(out)
    jmin = 0
    while jmin < c:
        tot = rlabw
        jmax = jmin
        while True:
            tot += w[jmax] + _GAP
            jmax += 1
            if not (jmax < c and tot + w[jmax] + _GAP < width):
                break
        line = " " * rlabw
        for j in range(jmin, jmax):
            lab = clabels[j]
            line += " " * _GAP + (lab.rjust(w[j]) if lab_right else lab.ljust(w[j]))
        out.append(line)
        for i in range(r):
            line = "\n" + rlabels[i].ljust(rlabw)
            for j in range(jmin, jmax):
                v = cells[i][j]
                line += " " * _GAP + (v.rjust(w[j]) if right else v.ljust(w[j]))
            out.append(line)
        out.append("\n")
        jmin = jmax
    return "".join(out)


# ---------------------------------------------------------------------------
# printCoefmat()
# ---------------------------------------------------------------------------
_MISSING = object()


def _num_or_nan(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return float("nan")


def print_coefmat(table: pd.DataFrame, digits: int = 5, signif_stars: bool = True,
                  signif_legend: bool | None = None, dig_tst=_MISSING, cs_ind=_MISSING,
                  tst_ind=_MISSING, zap_ind: Sequence[int] = (), p_values: bool | None = None,
                  has_pvalue: bool | None = None, eps_pvalue: float = DBL_EPSILON,
                  na_print: str = "NA", right: bool = True, width: int = WIDTH) -> str:
    """R's ``printCoefmat`` (stats).  Column indices are 0-based.

    Defaults as in R: the last column is a p-value column when its name starts
    with "Pr(" or "p-v" (and there are >= 4 columns); ``tst_ind`` is the
    column before it and ``cs_ind`` all columns before that.  The cs columns
    (estimates, standard errors, and lmerTest's df) are rounded to
    ``digits - digmin`` decimals and formatted *together*; the test statistic
    is rounded to ``dig_tst`` decimals; p-values go through
    :func:`format_pval` with ``digits = dig_tst``.  Returns the printed table
    plus, when stars were shown, the ``---`` and "Signif. codes:" lines.
    """
    xm_df = table
    colnames = [str(c) for c in xm_df.columns]
    rownames = [str(r) for r in xm_df.index]
    nc = len(colnames)
    if dig_tst is _MISSING:
        dig_tst = max(1, min(5, digits - 1))
    if has_pvalue is None:
        has_pvalue = nc >= 4 and colnames[-1][:3] in ("Pr(", "p-v")
    if p_values is None:
        p_values = has_pvalue
    elif p_values and not has_pvalue:
        raise ValueError("'P.values' is TRUE, but 'has.Pvalue' is not")
    xm = np.array([[R_NA if v is None else float(v) for v in row]
                   for row in xm_df.to_numpy(dtype=object)], dtype=float).reshape(len(rownames), nc)
    if has_pvalue and not p_values:
        xm = xm[:, :-1]
        colnames = colnames[:-1]
        nc -= 1
        has_pvalue = False
    k = nc - int(has_pvalue) - (1 if tst_ind is _MISSING else len(tst_ind))
    if cs_ind is _MISSING:
        cs_ind = list(range(k))
    elif cs_ind is None:
        cs_ind = []
    if tst_ind is _MISSING:
        tst_ind = [k]
    elif tst_ind is None:
        tst_ind = []
    cs_ind, tst_ind = list(cs_ind), list(tst_ind)
    nr = xm.shape[0]
    Cf = [["" for _ in range(nc)] for _ in range(nr)]
    ina = np.isnan(xm)
    ok = ~ina
    for i in zap_ind:
        xm[:, i] = zapsmall(xm[:, i], digits)
    if cs_ind:
        coef_se = xm[:, cs_ind]
        acs = np.abs(coef_se)
        finite = np.isfinite(acs)
        if finite.any():
            nz = acs[finite & (acs != 0)]
            if nz.size:
                digmin = [1 + math.floor(math.log10(float(nz.min()))),
                          1 + math.floor(math.log10(float(nz.max())))]
            else:
                digmin = [1]
            ndig = max([1] + [digits - d for d in digmin])
            # format() of the rounded matrix: one common format for all cs columns
            flat = [_fround(float(v), ndig) for v in coef_se.T.ravel()]
            strs = format_num(flat, digits)
            for jj, j in enumerate(cs_ind):
                for i in range(nr):
                    Cf[i][j] = strs[jj * nr + i]
    if tst_ind:
        vals = xm[:, tst_ind]
        flat = [_fround(float(v), dig_tst) for v in vals.T.ravel()]
        strs = format_num(flat, digits)
        for jj, j in enumerate(tst_ind):
            for i in range(nr):
                Cf[i][j] = strs[jj * nr + i]
    others = [j for j in range(nc) if j not in cs_ind and j not in tst_ind
              and not (has_pvalue and j == nc - 1)]
    for j in others:
        strs = format_num(list(xm[:, j]), digits)
        for i in range(nr):
            Cf[i][j] = strs[i]
    okc = ok.copy()
    for j in tst_ind:
        okc[:, j] = False
    ncheck = nc - 1 if has_pvalue else nc
    # entries that are non-zero but print as zero are re-formatted with fewer digits
    pos = [(i, j) for j in range(ncheck) for i in range(nr) if okc[i, j]]
    bad = [(i, j) for (i, j) in pos
           if not math.isnan(_num_or_nan(Cf[i][j]))
           and (xm[i, j] == 0) != (_num_or_nan(Cf[i][j]) == 0)]
    if bad:
        strs = format_num([xm[i, j] for (i, j) in bad], max(1, digits - 1))
        for (i, j), s in zip(bad, strs):
            Cf[i][j] = s
    for i in range(nr):
        for j in range(nc):
            if ina[i, j]:
                Cf[i][j] = "NaN" if is_r_nan(xm[i, j]) else na_print
    show_stars = False
    if p_values:
        okp = ok[:, nc - 1]
        if okp.any():
            pv = xm[:, nc - 1]
            strs = format_pval([pv[i] for i in range(nr) if okp[i]], dig_tst, eps_pvalue)
            it = iter(strs)
            for i in range(nr):
                if okp[i]:
                    Cf[i][nc - 1] = next(it)
            show_stars = signif_stars and any(pv[i] < 0.1 for i in range(nr) if okp[i])
            if show_stars:
                stars = _format_str(_stars(pv))
                for i in range(nr):
                    Cf[i].append(stars[i])
                colnames = colnames + [""]
    text = print_char_matrix(Cf, rownames, colnames, right=right, width=width)
    if signif_legend is None:
        signif_legend = show_stars
    if show_stars and signif_legend:
        text += "---\nSignif. codes:  " + SIGNIF_LEGEND + "\n"
    return text


# ---------------------------------------------------------------------------
# Summary data
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)  # eq=False: numpy/pandas fields do not compare to a bool
class VarCorrGroup:
    """One block of the "Random effects:" table.

    ``name`` is the printed group name ("Subject", "Subject.1", "cask:batch"),
    ``terms`` the random-effect term names, ``sd`` their standard deviations and
    ``corr`` their correlation matrix (None for a single term or independent
    terms).
    """

    name: str
    terms: list[str]
    sd: np.ndarray
    corr: np.ndarray | None = None


@dataclass(frozen=True, eq=False)  # eq=False: numpy/pandas fields do not compare to a bool
class LmerSummary:
    """Everything ``print(summary(<lmerModLmerTest>))`` shows.

    ``ddf`` is "Satterthwaite", "Kenward-Roger" or "lme4" (lme4's own summary
    without df and p-values).  ``coef`` columns: "Estimate", "Std. Error",
    "df", "t value", "Pr(>|t|)" (for "lme4": "Estimate", "Std. Error",
    "t value").  ``scaled_residuals`` are all scaled residuals (their
    quartiles are printed).  ``messages`` are the optimizer / lme4 lines printed
    last ("optimizer (nloptwrap) convergence code: 0 (OK)", "boundary
    (singular) fit: see help('isSingular')"); ``fit_warnings`` are printed
    under "fit warnings:" (e.g. rank-deficient X).  ``reml_criterion`` is
    printed for REML fits; ``aic``, ``bic``, ``loglik``, ``deviance``
    (-2 logLik) and ``df_resid`` for ML fits.  ``ngroups`` pairs a grouping
    factor with its number of levels, in lme4's order.
    """

    reml: bool
    ddf: str
    formula: str
    data_name: str | None
    reml_criterion: float | None
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    scaled_residuals: np.ndarray
    varcorr: list[VarCorrGroup]
    residual_sd: float
    nobs: int
    ngroups: list[tuple[str, int]]
    coef: pd.DataFrame
    corr_fixef: np.ndarray | None
    messages: list[str] = field(default_factory=list)
    weights: str | None = None
    fit_warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)  # eq=False: numpy/pandas fields do not compare to a bool
class GlmerSummary:
    """Everything ``print(summary(<glmerMod>))`` shows.

    ``coef`` columns: "Estimate", "Std. Error", "z value", "Pr(>|z|)" (or
    "t value"/"Pr(>|t|)" for families with a scale).  ``residual_sd`` is only
    given for families with a dispersion parameter (a "Residual" row is then
    printed).  ``deviance`` is the value in summary's table, -2 logLik (not
    ``deviance(m)``).  ``nagq`` is nAGQ: 1 prints "(Laplace Approximation)".
    """

    family: str
    link: str
    nagq: int
    formula: str
    data_name: str | None
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    scaled_residuals: np.ndarray
    varcorr: list[VarCorrGroup]
    nobs: int
    ngroups: list[tuple[str, int]]
    coef: pd.DataFrame
    corr_fixef: np.ndarray | None
    messages: list[str] = field(default_factory=list)
    residual_sd: float | None = None
    weights: str | None = None
    fit_warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Blocks of print.summary.merMod
# ---------------------------------------------------------------------------
_SUMMARY_DIGITS = 4  # max(3, getOption("digits") - 3)
_COR_MAX = 12  # getOption("lme4.summary.cor.max")


def _block_title(method_title: str, obj_class: str) -> str:
    """lme4's .prt.methTit: "<title> ['<class>']", or, when too long for the
    width, the title wrapped and cat(fill = TRUE) with " [<class>]"."""
    if len(method_title) + 5 + len(obj_class) > WIDTH:
        lines = strwrap(method_title, width=WIDTH - 2, exdent=2)
        return cat_fill([lines, " [", obj_class, "]"], sep="")
    return "%s ['%s']\n" % (method_title, obj_class)


def _lmm_method_title(s: LmerSummary) -> tuple[str, str]:
    base = "Linear mixed model fit by " + ("REML" if s.reml else "maximum likelihood ")
    if s.ddf == "lme4":
        return base, "lmerMod"
    names = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's"}
    if s.ddf not in names:
        raise ValueError("ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', got %r" % (s.ddf,))
    name = names[s.ddf]
    return base + ". t-tests use " + name + " method", "lmerModLmerTest"


def _glmm_method_title(s: GlmerSummary) -> str:
    if s.nagq == 1:
        how = "(Laplace Approximation)"
    else:
        how = "(Adaptive Gauss-Hermite Quadrature, nAGQ = %d)" % s.nagq
    return "Generalized linear mixed model fit by maximum likelihood " + how


def _block_family(family: str, link: str) -> str:
    return cat_fill([" Family:", family, " ( " + link + " )"])


def weights_label(weights) -> str | None:
    """The name the summary's "Weights:" line gives the ``weights`` argument.

    R deparses the argument: ``weights = w`` prints ``Weights: w``. Here a column name is printed as
    given, a pandas Series by its name, and anything else (a plain array or list, which has no name)
    as ``<array>``, so that the line still says the fit is weighted.

    Parameters
    ----------
    weights : str, pandas.Series, array_like or None
        The ``weights`` argument of ``lmer()`` / ``glmer()``.

    Returns
    -------
    str or None
        None when no weights were given.
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        return weights
    name = getattr(weights, "name", None)
    if isinstance(name, str) and name:
        return name
    return "<array>"


def _block_call(formula: str, data_name: str | None, weights: str | None) -> str:
    """lme4's .prt.call: Formula / Data / Weights lines via cat(fill = TRUE)."""
    out = cat_fill(["Formula:", deparse_formula(formula)])
    if data_name is not None:
        out += cat_fill(["   Data:", deparse_formula(data_name)])
    if weights is not None:
        out += cat_fill(["Weights:", deparse_formula(weights)])
    return out


def _block_reml(crit: float) -> str:
    # round(, 1) then cat(), which prints up to 7 significant digits
    return cat_fill(["REML criterion at convergence:", _format_one(_fround(crit, 1))])


def _block_aictab(aic: float, bic: float, loglik: float, deviance: float, df_resid: float) -> str:
    """lme4's .prt.aictab: all five rounded to 1 decimal and formatted
    together, except df.resid which is formatted on its own."""
    vals = [_fround(float(v), 1) for v in (aic, bic, loglik, deviance, df_resid)]
    cells = format_num(vals)
    cells[4] = format_num([vals[4]])[0]
    return print_named_vector(cells, ["AIC", "BIC", "logLik", "deviance", "df.resid"])


def _block_resids(resids, digits: int = _SUMMARY_DIGITS) -> str:
    """lme4's .prt.resids: zapsmall()ed quartiles printed with ``digits``."""
    q = zapsmall(quantile7(resids), digits + 1)
    return "Scaled residuals: \n" + print_named_vector(
        list(q), ["Min", "1Q", "Median", "3Q", "Max"], digits=digits) + "\n"


def format_varcorr(groups: Sequence[VarCorrGroup], residual_sd: float | None,
                   digits: int = _SUMMARY_DIGITS) -> tuple[list[list[str]], list[str]]:
    """lme4's formatVC with comp = c("Variance", "Std.Dev."): the cells and
    column names of the random-effects table.

    Variances (sd^2) and standard deviations are each formatted as one column
    with ``digits``; each group's correlation matrix is rounded to
    ``max(2, digits - 2)`` decimals, formatted on its own, and its strict
    lower triangle placed to the right (so a term's correlations with earlier
    terms appear on its row).
    """
    sds: list[float] = []
    rows: list[list[str]] = []
    lens = []
    for g in groups:
        sd = np.atleast_1d(np.asarray(g.sd, dtype=float))
        lens.append(len(sd))
        for t, term in enumerate(g.terms):
            rows.append([g.name if t == 0 else "", term])
        sds.extend(float(v) for v in sd)
    if residual_sd is not None:
        rows.append(["Residual", ""])
        sds.append(float(residual_sd))
        lens.append(1)
    var_s = format_num([v * v for v in sds], digits)
    sd_s = format_num(sds, digits)
    for r, (v, s) in zip(rows, zip(var_s, sd_s)):
        r.extend([v, s])
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    maxlen = max(lens) if lens else 0
    if maxlen > 1:
        dig = max(2, digits - 2)
        corr_rows: list[list[str]] = []
        for g in groups:
            p = len(np.atleast_1d(g.sd))
            cm = np.eye(p) if g.corr is None else np.asarray(g.corr, dtype=float).reshape(p, p)
            flat = format_num([_fround(float(v), dig) for v in cm.T.ravel()], nsmall=dig)
            for i in range(p):
                row = [flat[j * p + i] if i > j else "" for j in range(p)]
                row += [""] * (maxlen - p)
                corr_rows.append(row[:maxlen - 1])
        while len(corr_rows) < len(rows):
            corr_rows.append([""] * (maxlen - 1))
        for r, cr in zip(rows, corr_rows):
            r.extend(cr)
        colnames += ["Corr"] + [""] * (maxlen - 2)
    return rows, colnames


def _block_varcorr(groups, residual_sd) -> str:
    rows, colnames = format_varcorr(groups, residual_sd)
    return "Random effects:\n" + print_char_matrix(rows, [""] * len(rows), colnames, right=False)


def _block_ngroups(nobs: int, ngroups: Sequence[tuple[str, int]]) -> str:
    """lme4's .prt.grps: "Number of obs: n, groups:  g1, n1; g2, n2"."""
    grp = "; ".join("%s, %d" % (g, n) for g, n in ngroups)
    return cat_fill(["Number of obs: %d, groups: " % nobs, grp])


def _block_corr_fixef(names: Sequence[str], corr: np.ndarray) -> str:
    """Lower triangle of the fixed-effect correlations, 3 decimals, rows
    labelled by abbreviate(, 11) and columns by abbreviate(, 6)."""
    p = len(names)
    if p <= 1:
        return ""
    rns = abbreviate(names, minlength=11)
    cns = abbreviate(names, minlength=6)
    cm = np.asarray(corr, dtype=float).reshape(p, p)
    flat = format_num([_fround(float(v), 3) for v in cm.T.ravel()], nsmall=3)
    cells = [[flat[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return "\nCorrelation of Fixed Effects:\n" + print_char_matrix(cells, rns[1:], cns[:p - 1])


def _block_fixef(coef: pd.DataFrame, corr, correlation: bool | None, object_name: str,
                 cor_note: bool = True) -> tuple[str, str]:
    """Fixed-effects table and correlation block; second item is lme4's
    note (a message, on stderr in R) when p > 12 hides the correlations."""
    p = coef.shape[0]
    if p == 0:
        return "", ""
    out = "\nFixed effects:\n" + print_coefmat(coef, digits=_SUMMARY_DIGITS)
    note = ""
    has_cor = corr is not None
    if correlation is None:
        correlation = has_cor and p <= _COR_MAX
        if not correlation and p > _COR_MAX and cor_note:
            nam = object_name if len(object_name) < 32 else "...."
            note = ("\nCorrelation matrix not shown by default, as p = %d > %d.\n"
                    "Use print(%s, correlation=TRUE)  or\n"
                    "    vcov(%s)        if you need it\n\n" % (p, _COR_MAX, nam, nam))
    if correlation and has_cor:
        out += _block_corr_fixef([str(i) for i in coef.index], corr)
    return out, note


def _block_messages(fit_warnings: Sequence[str], messages: Sequence[str]) -> str:
    out = ""
    if fit_warnings and any(len(m) for m in fit_warnings):
        out += "fit warnings:\n" + "".join(m + "\n" for m in fit_warnings)
    if messages:
        # cat(convmsg, msgs, sep = "\n"); cat("\n")
        out += "\n".join(messages) + "\n\n"
    return out


def _strip_final_newline(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text


def render_lmer_summary(s: LmerSummary, correlation: bool | None = None,
                        object_name: str = "x", cor_note: bool = True) -> str:
    """``print(summary(m))`` of an lmerTest / lme4 linear mixed model.

    ``correlation``: None shows the fixed-effect correlations when p <= 12.
    Otherwise lme4 writes a note (a message, i.e. to stderr) naming
    ``object_name``; it is included where it appears on the console unless
    ``cor_note`` is False (``capture.output`` in R does not contain it).
    """
    title, cls = _lmm_method_title(s)
    out = _block_title(title, cls)
    out += _block_call(s.formula, s.data_name, s.weights)
    out += "\n"
    if s.reml:
        out += _block_reml(float(s.reml_criterion))
    else:
        out += _block_aictab(s.aic, s.bic, s.loglik, s.deviance, s.df_resid)
    out += "\n"
    out += _block_resids(s.scaled_residuals)
    out += _block_varcorr(s.varcorr, s.residual_sd)
    out += _block_ngroups(s.nobs, s.ngroups)
    fx, note = _block_fixef(s.coef, s.corr_fixef, correlation, object_name, cor_note)
    out += fx + note
    out += _block_messages(s.fit_warnings, s.messages)
    return _strip_final_newline(out)


def render_glmer_summary(s: GlmerSummary, correlation: bool | None = None,
                         object_name: str = "x", cor_note: bool = True) -> str:
    """``print(summary(m))`` of an lme4 generalized linear mixed model
    (arguments as for :func:`render_lmer_summary`)."""
    out = _block_title(_glmm_method_title(s), "glmerMod")
    out += _block_family(s.family, s.link)
    out += _block_call(s.formula, s.data_name, s.weights)
    out += "\n"
    out += _block_aictab(s.aic, s.bic, s.loglik, s.deviance, s.df_resid)
    out += "\n"
    out += _block_resids(s.scaled_residuals)
    out += _block_varcorr(s.varcorr, s.residual_sd)
    out += _block_ngroups(s.nobs, s.ngroups)
    fx, note = _block_fixef(s.coef, s.corr_fixef, correlation, object_name, cor_note)
    out += fx + note
    out += _block_messages(s.fit_warnings, s.messages)
    return _strip_final_newline(out)


def render_lrt_anova(table: pd.DataFrame, formulas: Sequence[str], data_name: str,
                     subset: str | None = None) -> str:
    """lme4's ``anova(m1, m2, ...)`` print: heading (data, models) and the
    table via print.anova, i.e. printCoefmat with digits 5, the information
    criteria zapsmall()ed, Chisq as test statistic and NA shown blank.

    ``table`` columns: npar, AIC, BIC, logLik, deviance, Chisq, Df,
    Pr(>Chisq); its index gives the model names (e.g. MODEL1, MODEL2).  NaN
    (lme4's NA: first model, Df 0) prints as a blank cell.
    """
    names = [str(i) for i in table.index]
    heading = ["Data: " + data_name]
    if subset is not None:
        heading.append("Subset: " + subset)
    heading.append("Models:")
    for nm, f in zip(names, formulas):
        heading.append(nm + ": " + " ".join(deparse_formula(f, cutoff=500)))
    out = "".join(h + "\n" for h in heading)
    cn = [str(c) for c in table.columns]
    nc = len(cn)
    has_p = bool(re.match(r"^(P|Pr)\(", cn[-1]))
    zap = list(range(nc - 1 if has_p else nc))
    tst = [j for j, c in enumerate(cn) if c[1:7] == " value"]
    tst += [j for j, c in enumerate(cn) if c in ("F", "Cp", "Chisq")]
    zap = [j for j in zap if j not in tst]
    dfc = [j for j, c in enumerate(cn) if c.endswith("Df")]
    zap = [j for j in zap if j not in dfc]
    out += print_coefmat(table, digits=5, has_pvalue=has_p, p_values=has_p, cs_ind=None,
                         zap_ind=zap, tst_ind=tst, na_print="")
    return _strip_final_newline(out)
