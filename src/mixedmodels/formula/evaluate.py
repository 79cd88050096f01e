"""The closed formula evaluator: what a formula may say, and its translation for formulaic.

A model formula is code: formulaic evaluates each term with Python's ``eval``. So nothing reaches
formulaic before it has passed this gate, and what passes can name only

* the data's columns (any name, quoted in backticks when it is not a syntactic R name:
  ``\u0060my col\u0060``; names with dots and non-ASCII letters need no quotes),
* numbers in R's forms (``2``, ``0.5``, ``.5``, ``1e-3``, ``2L``, ``0x10``), the constants
  ``pi``, ``TRUE``/``FALSE`` (``T``/``F``), and strings as arguments,
* R's arithmetic and comparison operators and the formula operators,
* the functions in :data:`FUNCTIONS` (those lme4's users write), with keyword arguments such as
  ``raw=TRUE`` or ``df=3``.

There is no attribute access (``np.log``, ``x.__class__``), no Python builtin (``exec``,
``__import__``, ``open``, ``chr``), no subscript, no brace: a name that is not allowed is a
:class:`~mixedmodels.errors.FormulaError` that names it and lists what is allowed. The scan is one
pass over the text (linear in its length), and brackets may nest :data:`MAX_DEPTH` deep, far
beyond any model formula and well within what formulaic's recursive parser can take.

:func:`check` is the syntax gate that :func:`mixedmodels.formula.parse.parse_formula` runs on every
formula; :func:`to_formulaic` re-checks a term against the data's columns and writes it as
formulaic reads it (R's ``^`` inside calls is ``**``, ``2L`` is ``2``, ``TRUE`` is ``True``,
``as.numeric`` is ``as_numeric``, column names that Python cannot spell are back-quoted); and
the mapping :func:`context` is everything the evaluated text can see besides the columns and formulaic's own
transforms, which the allow-list filters. Fitting, prediction and loading a saved result all go
through here.
"""
from __future__ import annotations

import functools
import keyword
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FormulaError

__all__ = ["FUNCTIONS", "CONSTANTS", "MAX_DEPTH", "context", "Token", "tokenize", "check", "variables",
           "to_formulaic", "r_name", "r_level", "is_syntactic"]

MAX_DEPTH = 40

# R name -> the name formulaic's evaluation sees (a key of context() or one of formulaic's transforms)
FUNCTIONS: dict[str, str] = {
    **{f: f for f in ("log", "log2", "log10", "log1p", "exp", "expm1", "sqrt", "abs", "sin", "cos", "tan",
                      "asin", "acos", "atan", "sinh", "cosh", "tanh", "floor", "ceiling", "trunc", "round",
                      "sign")},
    "I": "I", "poly": "poly", "scale": "scale", "center": "center", "bs": "bs", "C": "C",
    "factor": "factor", "as.factor": "as_factor", "as.numeric": "as_numeric", "as.double": "as_numeric",
    "as.integer": "as_integer", "offset": "offset",
    # glmer's two-column binomial response; read by glmer itself, never evaluated by formulaic
    "cbind": "cbind",
}
CONSTANTS: dict[str, str] = {"pi": "pi", "TRUE": "True", "FALSE": "False", "T": "True", "F": "False"}


def _log(x, base=None):
    """R's ``log(x, base)``."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


def _as_numeric(x):
    """R's ``as.numeric``: a factor gives its level codes 1, 2, ...; text that is not a number is NA."""
    if isinstance(getattr(x, "dtype", None), pd.CategoricalDtype):
        codes = np.asarray(x.cat.codes, dtype=float)
        codes[codes < 0] = np.nan
        # a logical column reaches formulaic as a factor (FALSE, TRUE); R's as.numeric of it is 0/1
        start = 0 if list(x.cat.categories) == [False, True] else 1
        return pd.Series(codes + start, index=x.index) if isinstance(x, pd.Series) else codes + start
    if isinstance(x, pd.Series):
        return pd.to_numeric(x, errors="coerce").astype(float)
    return np.asarray(pd.to_numeric(pd.Series(np.asarray(x).ravel()), errors="coerce"), dtype=float)


def _as_integer(x):
    """R's ``as.integer``: truncation toward zero (kept as floats, so NA stays NaN)."""
    return np.trunc(_as_numeric(x))


def _context() -> dict:
    from formulaic.transforms import TRANSFORMS

    numpy_names = {"log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "expm1": np.expm1,
                   "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "tan": np.tan,
                   "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
                   "tanh": np.tanh, "floor": np.floor, "ceiling": np.ceil, "trunc": np.trunc,
                   "round": np.round, "sign": np.sign}
    return {**numpy_names, "log": _log, "pi": math.pi, "as_numeric": _as_numeric, "as_integer": _as_integer,
            # formulaic's categorical transform is R's factor(): levels in sorted order, kept for new data
            "factor": TRANSFORMS["C"], "as_factor": TRANSFORMS["C"]}


@functools.lru_cache(maxsize=None)
def context() -> dict:
    """Everything an evaluated formula sees besides the columns and formulaic's transforms (whose
    names the gate filters): R's functions as numpy's, and ``pi``. Built on first use, so that
    importing the package does not import formulaic."""
    return _context()


# ------------------------------------------------------------------ tokens

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<quoted>`[^`]*`)
  | (?P<string>"[^"\\]*"|'[^'\\]*')
  | (?P<number>0[xX][0-9a-fA-F]+L?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<name>(?:[^\W\d]|\.(?!\d))[\w.]*)
  | (?P<op>\|\||&&|%in%|%/%|%%|\*\*|==|!=|<=|>=|[~+\-*/^:|()<>=,&!])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str    # "quoted", "string", "number", "name", "op"
    text: str
    pos: int


def _point(text: str, pos: int, message: str) -> str:
    pos = max(0, min(pos, len(text)))
    return f"{message}\n    {text}\n    {' ' * pos}^ (position {pos})"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens in one pass; a character no formula uses is a FormulaError."""
    out, pos, depth = [], 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            ch = text[pos]
            hint = {"{": "braces are not formula syntax", "[": "subscripts are not allowed",
                    "$": "write the column's name alone", "`": "a back-quote is never closed",
                    ";": "a formula is one expression", "@": "not formula syntax",
                    '"': "a string is never closed", "'": "a string is never closed",
                    "\\": "backslashes are not allowed"}.get(ch, "it is not formula syntax")
            raise FormulaError(_point(text, pos, f"character {ch!r} is not allowed in a formula: {hint}"))
        kind = m.lastgroup
        if kind != "ws":
            tok = m.group(kind)
            if tok == "(":
                depth += 1
                if depth > MAX_DEPTH:
                    raise FormulaError(_point(text, pos, f"brackets nest more than {MAX_DEPTH} deep; "
                                              "write the formula with fewer brackets"))
            elif tok == ")":
                depth -= 1
            out.append(Token(kind, tok, pos))
        pos = m.end()
    return out


def is_syntactic(name: str) -> bool:
    """Whether R can write ``name`` without back-quotes (letters, digits, '.', '_'; not a number)."""
    return bool(re.fullmatch(r"(?:[^\W\d_]|\.(?!\d))[\w.]*", name)) and name not in _R_RESERVED


_R_RESERVED = {"if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
               "Inf", "NaN", "NA", "in"}


# ------------------------------------------------------------------ the gate

@dataclass(frozen=True)
class _Role:
    """What a name token is: a call of a function, a keyword of a call, or a value."""

    kind: str   # "call", "keyword", "value"


def _roles(tokens: list[Token]) -> list[_Role | None]:
    """The role of every name token (None for other tokens), from its neighbours alone."""
    roles: list[_Role | None] = []
    calls: list[bool] = []  # for each open bracket: is it a call's argument list?
    for i, t in enumerate(tokens):
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        prev = tokens[i - 1].text if i else ""
        if t.kind == "op" and t.text == "(":
            calls.append(i > 0 and tokens[i - 1].kind in ("name", "quoted"))
        elif t.kind == "op" and t.text == ")":
            if calls:
                calls.pop()
        if t.kind != "name":
            roles.append(None)
        elif nxt == "(":
            roles.append(_Role("call"))
        elif nxt == "=" and calls and calls[-1] and prev in ("(", ","):
            roles.append(_Role("keyword"))
        else:
            roles.append(_Role("value"))
    return roles


def _allowed_list() -> str:
    return ", ".join(f"{f}()" for f in FUNCTIONS) + "; constants " + ", ".join(CONSTANTS)


def check(text: str, wrappers: tuple[str, ...] = ()) -> list[Token]:
    """The syntax gate of a whole formula: allowed characters, functions and keywords only.

    Parameters
    ----------
    text : str
        A formula or a part of one, in R's syntax.
    wrappers : tuple of str
        Names that may be called at the top level only (outside any bracket): the covariance
        structures that wrap a random-effects term, ``ar1(0 + f | g)``. The parser takes them
        apart; they never reach an evaluator.

    Returns
    -------
    list of Token
        Its tokens.

    Raises
    ------
    FormulaError
        At the first character, function, attribute access or keyword that a formula may not use,
        with the position and the list of what is allowed.
    """
    tokens = tokenize(text)
    calls: list[bool] = []
    for i, (t, role) in enumerate(zip(tokens, _roles(tokens))):
        if t.kind == "op":
            if t.text == "(":
                calls.append(i > 0 and tokens[i - 1].kind in ("name", "quoted"))
            elif t.text == ")" and calls:
                calls.pop()
            elif t.text == "~" and calls:
                raise FormulaError(_point(text, t.pos, "'~' belongs only between the response and the terms, "
                                          "not inside brackets"))
            elif t.text in ("%in%", "&&", "!"):
                raise FormulaError(_point(text, t.pos, f"the operator {t.text!r} is not supported in a formula"
                                          + ("; write nested grouping as a/b or a:b" if t.text == "%in%" else "")))
            elif t.text in ("==", "!=", "<", ">", "<=", ">=", "&", ",", "=") and not (calls and calls[-1]):
                what = "a keyword argument" if t.text == "=" else f"{t.text!r}"
                raise FormulaError(_point(text, t.pos, f"{what} may only appear inside a function's brackets, "
                                          f"e.g. I(x > 3) or poly(x, 2, raw = TRUE)"))
            continue
        if t.kind == "string" and not (calls and calls[-1]):
            raise FormulaError(_point(text, t.pos, "a string may only be a function's argument"))
        # a string must stand alone as an argument: a name glued to it (f"...", rb'...') would make
        # Python read a prefixed literal, and f"{...}" runs the code inside the braces
        if t.kind == "string" and (i == 0 or tokens[i - 1].kind != "op" or tokens[i - 1].text not in _BEFORE_STRING
                                   or i + 1 >= len(tokens) or tokens[i + 1].text not in _AFTER_STRING):
            # ... and never an operand of arithmetic ("a" * 10^9 asks for gigabytes); I(f == "a") is fine
            raise FormulaError(_point(text, t.pos, "a string may only be a whole argument of a function or "
                                      "compared, e.g. C(f, \"contr.sum\") or I(f == \"a\")"))
        if t.kind == "quoted" and role is None and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            raise FormulaError(_point(text, t.pos, f"{t.text} is called as a function: only "
                                      f"{_allowed_list()} may be called"))
        if t.kind != "name":
            continue
        if t.text.startswith("__") or ".__" in t.text:
            raise FormulaError(_point(text, t.pos, f"{t.text!r} is not allowed in a formula: names with '__' are "
                                      "Python's internals; allowed are column names, " + _allowed_list()))
        if role.kind == "call" and t.text in wrappers and not calls:
            continue
        if role.kind == "call" and t.text not in FUNCTIONS:
            raise FormulaError(_point(text, t.pos, f"{t.text!r} is not a function a formula may call; allowed: "
                                      f"{_allowed_list()}" + _hint(t.text)))
        if role.kind == "keyword" and t.text.startswith("_"):
            raise FormulaError(_point(text, t.pos, f"the keyword {t.text!r} is not allowed"))
    return tokens


_COMPARE = ("==", "!=", "<", ">", "<=", ">=")
_BEFORE_STRING = ("(", ",", "=") + _COMPARE
_AFTER_STRING = (")", ",") + _COMPARE


def _hint(name: str) -> str:
    head, _, attr = name.partition(".")
    if head in ("np", "numpy", "math", "scipy", "pd", "pandas") and attr:
        return f" (write {attr}() without the module)" if attr in FUNCTIONS else " (no module paths)"
    if name == "ns":
        return " (natural splines are not available: use bs() or poly())"
    return ""


def variables(expr: str) -> list[str]:
    """The names an expression uses as values (columns or constants), in order, without repeats.

    Back-quoted names are unquoted; function names and keywords are not values.
    """
    tokens = tokenize(expr)
    out: list[str] = []
    for t, role in zip(tokens, _roles(tokens)):
        if t.kind == "quoted":
            name = t.text[1:-1]
        elif t.kind == "name" and role.kind == "value":
            name = t.text
        else:
            continue
        if name not in out:
            out.append(name)
    return out


def to_formulaic(expr: str, columns) -> str:
    """``expr`` checked against ``columns`` and written as formulaic evaluates it.

    Parameters
    ----------
    expr : str
        One side or part of a formula in R's syntax (no random-effects bars), e.g.
        ``"1 + log(Days) + I(x^2)"``.
    columns : iterable of str
        The data's column names: the only values besides numbers, strings and :data:`CONSTANTS`.

    Returns
    -------
    str
        Python-formula text for formulaic, to be evaluated with :func:`context` and nothing else.

    Raises
    ------
    FormulaError
        When ``expr`` uses anything the gate does not allow, or a name that is neither a column nor
        a constant.
    """
    tokens = check(expr)
    cols = set(map(str, columns))
    roles = _roles(tokens)
    depth, out, calls = 0, [], []
    prev_end = 0
    for i, (t, role) in enumerate(zip(tokens, roles)):
        space = " " if t.pos > prev_end else ""
        # never glue two word-like tokens: Python would read `1` `j` as 1j, `0` `b1` as 0b1, or a
        # name and a string as a prefixed literal (f"..."); with a space each stays its own token
        if i and t.kind in ("name", "number", "string", "quoted") \
                and tokens[i - 1].kind in ("name", "number", "string", "quoted"):
            space = " "
        prev_end = t.pos + len(t.text)
        text = t.text
        if t.kind == "op":
            if text == "(":
                depth += 1
                calls.append(i > 0 and tokens[i - 1].kind == "name")
            elif text == ")":
                depth -= 1
                if calls:
                    calls.pop()
            elif text == "^" and depth > 0:
                text = "**"   # R's power inside calls and brackets; formula-level ^ stays
            elif text == "%%":
                text = "%"
            elif text == "%/%":
                text = "//"
        elif t.kind == "number":
            text = _python_number(text)
            # formulaic expands (a + b + c)^k in time exponential in k, so (x + f + b)^20 hangs; beyond
            # the number of factors in the bracket the power adds no term, so cap it there
            if depth == 0 and i >= 2 and tokens[i - 1].text == "^" and tokens[i - 2].text == ")" \
                    and text.isdigit():
                text = str(min(int(text), max(1, _factors_before(tokens, i - 2))))
            elif depth > 0 and text.isdigit() and not _whole_argument(tokens, i, calls):
                # inside an expression a whole number is R's double: 10^10^10 is then an overflow
                # (an error) instead of Python's exact integer power, which would never finish;
                # whole arguments (poly(x, 2), df = 3) stay integers; r_name writes 2.0 as R's 2
                text += ".0"
        elif t.kind == "quoted":
            name = text[1:-1]
            if name not in cols:
                raise FormulaError(f"{text} in {expr!r} is not a column of the data")
        elif t.kind == "name":
            if role.kind == "call":
                text = FUNCTIONS[text]
            elif role.kind == "value":
                if text in cols:
                    text = text if _python_spells(text) else f"`{text}`"
                elif text in CONSTANTS:
                    text = CONSTANTS[text]
                else:
                    raise FormulaError(f"{text!r} in {expr!r} is neither a column of the data nor an allowed "
                                       f"constant ({', '.join(CONSTANTS)})")
        out.append(space + text)
    return "".join(out).strip()


def _whole_argument(tokens: list[Token], i: int, calls: list[bool]) -> bool:
    """Whether ``tokens[i]`` is a whole argument of a call: ``poly(x, 2)``, ``bs(x, df = 3)``."""
    before = tokens[i - 1].text if i else ""
    after = tokens[i + 1].text if i + 1 < len(tokens) else ""
    return bool(calls and calls[-1]) and before in ("(", ",", "=") and after in (")", ",")


def _factors_before(tokens: list[Token], close: int) -> int:
    """An upper bound on the factors in the bracket that ends at ``tokens[close]``: its names,
    back-quoted names and numbers (each factor has at least one)."""
    depth, count = 0, 0
    for j in range(close, -1, -1):
        t = tokens[j]
        if t.text == ")" and t.kind == "op":
            depth += 1
        elif t.text == "(" and t.kind == "op":
            depth -= 1
            if depth == 0:
                return count
        elif t.kind in ("name", "quoted", "number"):
            count += 1
    return count


def _python_spells(name: str) -> bool:
    """Whether formulaic reads ``name`` as a plain variable (a Python identifier, not a keyword, and
    no name of formulaic's or ours that would shadow the column inside a call)."""
    # non-ASCII names are quoted: Python folds identifiers by NFKC, so a full-width "ｅｘｅｃ" would
    # be read as the name exec; inside back-quotes formulaic looks the column up by its exact name
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")


def _python_number(text: str) -> str:
    """R's number literal as Python's: ``2L`` -> ``2``, ``1e5L`` -> ``100000``, ``0x1FL`` -> ``31``."""
    if text.endswith("L"):
        text = text[:-1]
        if text.lower().startswith("0x"):
            return str(int(text, 16))
        value = float(text)
        return str(int(value)) if value.is_integer() else text
    if text.lower().startswith("0x"):
        return str(int(text, 16))
    return text


def r_level(expr: str, level: str) -> str:
    """The label R gives column ``level`` of the term ``expr`` (formulaic's spelling): formulaic
    numbers the columns of a raw ``poly()`` from 0, R from 1, as for the orthogonal ones."""
    if level.isdigit() and re.match(r"poly\(.*raw\s*=\s*(True|TRUE|T)\b", expr):
        return str(int(level) + 1)
    return level


def r_name(formulaic_name: str) -> str:
    """A formulaic column name written back in R's spelling: ``as_numeric(x)`` -> ``as.numeric(x)``,
    ``x ** 2`` -> ``x^2``, ``True`` -> ``TRUE``, back-quotes kept only where R needs them."""
    text = formulaic_name
    for r, py in FUNCTIONS.items():
        if r != py:
            text = re.sub(rf"(?<![\w.]){re.escape(py)}\(", f"{r}(", text)
    text = text.replace(" ** ", "^").replace("**", "^")
    text = re.sub(r"\s*(?<![=!<>])=(?!=)\s*", " = ", text)  # R deparses keyword arguments as raw = TRUE
    text = re.sub(r"(?<![\w.])(\d+)\.0(?![\w.])", r"\1", text)  # R deparses the double 2.0 as 2
    text = re.sub(r"(?<![\w.`])True(?![\w.])", "TRUE", text)
    text = re.sub(r"(?<![\w.`])False(?![\w.])", "FALSE", text)
    return re.sub(r"`([^`]+)`", lambda m: m.group(1) if is_syntactic(m.group(1)) else m.group(0), text)
