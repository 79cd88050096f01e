"""R's ``deparse()`` of a formula: the text R prints for it, with R's spacing and line breaks.

Summaries print ``Formula: Reaction ~ Days + (Days | Subject)`` however the formula was typed:
R parses the formula and deparses it again, spacing binary operators its way (``a + b``, ``a:b``,
``x^2``) and breaking lines once they pass ``width.cutoff``.  A small Pratt parser for the R
expressions that occur in model formulas builds the tree, and a deparser with the parts of R's
``deparse2buff`` that formulas use writes it out.

The summary's "Weights:" line is a deparsed argument too (:func:`weights_label`).

Only text is handled here: no formula is evaluated, and text the parser does not understand is
returned unchanged (a printout must not fail on an unusual formula).
"""

from __future__ import annotations

import re

from ..rformat import format_num

__all__ = ["deparse_formula", "r_deparse", "weights_label"]

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

    Parameters
    ----------
    text : str
        The formula (or any R expression of the kinds formulas use).
    cutoff : int, default 60
        R's ``width.cutoff``: after an operator or a comma a new line is started once the
        current one is longer than this.

    Returns
    -------
    list of str
        The lines; ``[text]`` when the small parser does not understand the text.
    """
    try:
        tree = _Parser(text).parse()
    except (_Unsupported, IndexError):
        return [text]
    d = _Deparser(cutoff)
    d.node(tree)
    d.writeline()
    return d.lines




def r_deparse(formula: str) -> str:
    """The formula on one line, spaced as R's ``deparse()`` writes it (anova's "Models:" lines).

    Parameters
    ----------
    formula : str
        The formula's text.

    Returns
    -------
    str
        :func:`deparse_formula` with no line breaking, or ``formula`` itself when it cannot be
        deparsed.
    """
    try:
        return " ".join(deparse_formula(formula, cutoff=500))
    except Exception:  # noqa: BLE001 - printing must not fail on an unusual formula
        return formula


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
