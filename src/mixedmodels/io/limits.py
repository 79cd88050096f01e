"""The limits that keep :func:`mixedmodels.load_result` cheap on any file, however crafted.

Reading: the file's size, the size of its decompressed text and how deeply its JSON nests are
checked before anything large is allocated or parsed. Rebuilding: an upper bound on the size of the
model matrices the formula asks for is checked before formulaic builds them. Each limit is a module
constant; raise one here to load a larger file you trust.
"""
from __future__ import annotations

import json
import math
import re
import stat
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PersistError

__all__ = ["MAX_FILE_BYTES", "MAX_JSON_BYTES", "MIN_JSON_LIMIT", "GZIP_RATIO", "MAX_DEPTH", "MAX_DESIGN_CELLS",
           "read_document", "check_design_size"]

MAX_FILE_BYTES = 512 * 2**20   # the largest file read at all
MAX_JSON_BYTES = 512 * 2**20   # the largest JSON text accepted (after decompression)
MIN_JSON_LIMIT = 16 * 2**20    # a gzip file may always decompress to this much ...
GZIP_RATIO = 32                # ... or to this many times its size; real files compress 2-10x, bombs 1000x
MAX_DESIGN_CELLS = 2**25      # rows x columns (at most) of the model matrices a formula may ask for
MAX_DEPTH = 16                 # the format nests 6 levels deep; control settings may add a few
_CHUNK = 2**20                 # decompression step: memory in use overshoots the limit by at most this


def _bad(msg: str):
    return PersistError(f"{msg}; the file is damaged or was edited: refit the model and save it again")


def read_document(path: Path, max_bytes):
    """The parsed JSON of ``path``, read within the size and nesting limits.

    Parameters
    ----------
    path : Path
        The file.
    max_bytes : int or None
        The largest JSON text accepted; None for the default limits.

    Raises
    ------
    PersistError
        If the file cannot be read, is too large, is damaged gzip, nests too deeply or is not JSON.
    """
    where = repr(str(path))
    try:
        st = path.stat()
    except OSError as e:
        raise PersistError(f"cannot read {where}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise PersistError(f"cannot read {where}: not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise PersistError(f"{where} has {st.st_size} bytes, more than a saved result may have "
                           f"({MAX_FILE_BYTES}); it is not a saved mixedmodels result")
    try:
        with open(path, "rb") as f:
            # read(n) allocates n bytes up front: ask for what stat() saw, plus one to notice growth
            raw = f.read(st.st_size + 1)
    except OSError as e:
        raise PersistError(f"cannot read {where}: {e.strerror or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise PersistError(f"{where} is larger than a saved result may be ({MAX_FILE_BYTES} bytes)")
    if max_bytes is None:
        limit = MAX_JSON_BYTES if raw[:2] != b"\x1f\x8b" else min(MAX_JSON_BYTES,
                                                                 max(MIN_JSON_LIMIT, GZIP_RATIO * len(raw)))
    elif isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and max_bytes > 0:
        limit = max_bytes
    else:
        raise PersistError(f"max_bytes must be a positive whole number of bytes, got {max_bytes!r}")
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, limit, where)
    elif len(raw) > limit:
        raise PersistError(f"{where} has {len(raw)} bytes, more than max_bytes={limit}")
    not_json = PersistError(f"{where} is not a saved mixedmodels result (not JSON); save one with m.save(path)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise not_json from None
    del raw
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise _bad(f"{where} nests its data {depth} levels deep, a saved result at most {MAX_DEPTH}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # ValueError: bad JSON, or an integer with too many digits
        raise not_json from None


def _gunzip(raw: bytes, limit: int, where: str) -> bytes:
    """Decompress one gzip member in bounded steps, refusing more than ``limit`` bytes of output."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out = bytearray()
    buf = raw
    try:
        while True:
            chunk = d.decompress(buf, _CHUNK)
            out += chunk
            if len(out) > limit:
                raise PersistError(f"{where} decompresses to more than {limit} bytes, more than a saved result of "
                                   f"its size has; if you trust it, load it with max_bytes=<a larger limit>")
            buf = d.unconsumed_tail
            if d.eof or (not chunk and not buf):
                break
    except zlib.error as e:
        raise PersistError(f"{where} is a damaged gzip file ({e}); refit the model and save it again") from None
    if not d.eof:
        raise PersistError(f"{where} is a truncated gzip file; refit the model and save it again")
    if d.unused_data:
        raise PersistError(f"{where} has data after its gzip stream; refit the model and save it again")
    return bytes(out)


# a JSON string; an unterminated one runs to the end of the text, so that a match never fails and
# is never retried from a later quote (which would make '"\\"\\"\\"...' quadratic)
_STRING = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?\Z)')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _max_depth(text: str) -> int:
    """How deeply the JSON text nests, in one linear pass (string contents do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


_CAP = 2**62
_BOUND_TOKEN = re.compile(r"\s*(?:`([^`]*)`|([A-Za-z_.][A-Za-z0-9_.]*)\s*(\()?|(\d+\.?\d*(?:[eE][+-]?\d+)?)"
                          r"|(\*\*|\S))")
_POWER = ("^", "**")  # formulaic reads Python's ** as R's ^


def _design_bound(expr: str, data: pd.DataFrame) -> tuple[int, int]:
    """Upper bounds on the terms and the columns of the model matrix of ``expr``, from its text alone.

    A formula is short but its matrix need not be: ``x1*x2*...*x20`` has a million columns, and
    ``f:g`` of two factors with 1000 levels as many. Bounding them before formulaic builds anything
    refuses such a file at once. Each operand is (terms, sum of columns, product of 1 + columns).

    Kept as one function: it is one operator-precedence scan (a stack of operands and operators
    over the tokens, in a single pass, so that its time is linear in the text); its parts share that
    stack and split apart only into functions that pass it around.
    """
    toks = [m for m in _BOUND_TOKEN.finditer(expr) if m.group(0).strip()]
    pos = 0
    levels: dict[str, int] = {}

    def sat(v):
        return min(_CAP, v)

    def power(b, e):  # saturating b ** e
        return b if b <= 1 or e <= 1 else (_CAP if e * math.log2(b) > 62 else b ** e)

    def ncol(name):  # columns of one variable: 1, or its levels when it is a factor
        if name not in levels:
            col = data[name] if name in data.columns else None
            if col is None or (pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)):
                levels[name] = 1
            elif isinstance(col.dtype, pd.CategoricalDtype):
                levels[name] = max(1, len(col.cat.categories))
            else:
                levels[name] = max(1, int(col.nunique()))
        return levels[name]

    def one(c):
        return (1, c, sat(1 + c))

    def plus(a, b):
        return (sat(a[0] + b[0]), sat(a[1] + b[1]), sat(a[2] * b[2]))

    def colon(a, b):
        return (sat(a[0] * b[0]), sat(a[1] * b[1]), sat(power(a[2], b[0]) * power(b[2], a[0])))

    def op(k):
        return toks[k].group(5) if k < len(toks) else None

    def atom():
        nonlocal pos
        if pos >= len(toks):
            return one(1)
        m = toks[pos]
        pos += 1
        quoted, name, call, _, sym = m.groups()
        if sym == "(":
            v = total()
            pos += op(pos) == ")"
            return v
        if sym in ("-", "+"):
            return atom()
        if call:  # a function's columns: those of its widest variable, times its degree or df
            depth, names = 1, []
            while pos < len(toks) and depth:
                g = toks[pos].groups()
                depth += (g[2] == "(" or g[4] == "(") - (g[4] == ")")
                names += [g[0] or g[1]] if (g[0] or g[1]) else []
                pos += 1
            inner = expr[m.end():toks[pos - 1].start() if depth == 0 else len(expr)]
            k = re.search(r"(?:degree|df)\s*=\s*(\d{1,18})" + (r"|^[^,]*,\s*(\d{1,18})" if name == "poly" else ""),
                          inner)
            times = int(next(filter(None, k.groups()))) if k else 1
            return one(sat(max([1] + [ncol(v) for v in names]) * times))
        return one(ncol(quoted or name) if (quoted or name) else 1)

    def pw():
        nonlocal pos
        a = atom()
        if op(pos) in _POWER:
            pos += 1
            e = toks[pos].group(4) if pos < len(toks) else None
            k = min(int(float(e)), 64) if e else 64
            atom()  # past the exponent: a number, or anything else, then taken as any power
            # subsets of at most k terms: their number, and columns at most prod(1 + c) - 1 in all
            t = sum(math.comb(a[0], j) for j in range(1, k + 1)) if a[0] <= 64 else _CAP
            a = (sat(t), sat(a[2]), power(a[2], sat(t)))
        return a

    def inter():
        nonlocal pos
        a = pw()
        while op(pos) == ":":
            pos += 1
            a = colon(a, pw())
        return a

    def prod():
        nonlocal pos
        a = inter()
        # any other operator (%in%, ==, ...) is taken as *, the widest but ^
        while op(pos) not in (None, "+", "-", ")", ":") and op(pos) not in _POWER:
            nested = op(pos) == "/"
            pos += 1
            b = inter()
            # a*b = a + b + a:b; a/b = a + (all of a):b, whose columns are at most prod(1 + c) - 1
            a = plus(a, colon(one(sat(a[2] - 1)), b)) if nested else plus(plus(a, b), colon(a, b))
        return a

    def total():
        nonlocal pos
        a = prod()
        while op(pos) in ("+", "-"):
            minus = op(pos) == "-"
            pos += 1
            b = prod()
            a = a if minus else plus(a, b)
        return a

    if not toks:
        return 0, 0
    acc = total()
    while pos < len(toks):  # a stray ")": count what follows too
        pos += 1
        acc = plus(acc, total())
    return acc[0], sat(acc[1] + 1)  # and the intercept, which is implicit


def check_design_size(parsed, data: pd.DataFrame) -> None:
    """Refuse a formula whose model matrices could exceed ``MAX_DESIGN_CELLS`` on ``data``."""
    n = len(data)
    terms, cols = _design_bound(parsed.fixed, data)
    for t in parsed.random:
        cols += _design_bound(t.expr, data)[1]
    if terms > 10_000 or cols * n > MAX_DESIGN_CELLS:
        raise PersistError(f"the formula {parsed.text[:200]!r} could give a model matrix of up to {cols} columns "
                           f"for {n} rows, more than a saved result may rebuild (MAX_DESIGN_CELLS="
                           f"{MAX_DESIGN_CELLS}); if you trust the file, raise mixedmodels.io.limits.MAX_DESIGN_CELLS")
