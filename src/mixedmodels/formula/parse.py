"""lme4's formula syntax: split ``y ~ fixed + (terms | group)`` into its parts.

The fixed part is left to formulaic (R's semantics for factors, ``*``, ``:``, ``I()``,
``poly()``...). Here we only find the random-effects terms and expand lme4's shorthands:

* ``(x || g)``  ->  ``(1 | g) + (0 + x | g)``  (uncorrelated terms)
* ``(1 | a/b)`` ->  ``(1 | b:a) + (1 | a)``    (nested grouping, named as lme4 names it)
* ``(1 | a:b)``  a grouping factor made of the observed combinations of ``a`` and ``b``;
* ``ar1(0 + f | g)`` and the other covariance structures of glmmTMB and lme4 2.x
  (:data:`STRUCTURES`): the term ``(0 + f | g)`` with that structure of its covariance.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaError
from .evaluate import check

__all__ = ["STRUCTURES", "RandomTerm", "ParsedFormula", "parse_formula", "parse_lm_formula", "has_random_terms",
           "split_top", "top_level_positions", "point_at"]


#: the covariance structures a random-effects term may name, as glmmTMB and lme4 2.x write them:
#: ``us`` (unstructured, lme4's ``(x | g)``), ``diag`` (own variances, no correlation), ``homdiag``
#: (one variance), ``cs`` (own variances, one correlation), ``homcs`` (one variance, one
#: correlation), ``ar1`` (one variance, correlation rho^|i-j| over a factor's ordered levels),
#: ``toep`` (own variances, one correlation per lag |i-j| over a factor's ordered levels)
STRUCTURES = ("us", "diag", "homdiag", "cs", "homcs", "ar1", "toep")


@dataclass(frozen=True)
class RandomTerm:
    """One ``(expr | group)`` term after expansion."""

    expr: str                 # the model formula of the term's columns, e.g. "1 + Days"
    factors: tuple[str, ...]  # grouping variables; several for an interaction a:b
    name: str = ""            # the grouping factor's name when it is not "a:b:c" (nesting)
    structure: str = "us"     # the covariance structure (STRUCTURES); "us" is lme4's (x | g)

    @property
    def group(self) -> str:
        """The grouping factor's name as lme4 prints it ("Subject", "cask:batch", "c:(b:a)")."""
        return self.name or ":".join(self.factors)

    def __str__(self) -> str:
        if self.structure != "us":
            return f"{self.structure}({self.expr} | {self.group})"
        return f"({self.expr} | {self.group})"


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into response, fixed part, offsets and random terms."""

    text: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...] = ()


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4 formula string.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (terms | group)"``, with lme4's ``||`` and ``a/b`` shorthands and
        ``offset()`` terms.

    Returns
    -------
    ParsedFormula
        Response, fixed part (``- x`` of bar terms carried over), offsets and the expanded
        random terms.

    Raises
    ------
    FormulaError
        Pointing at the problem; also when the formula has no random-effects term.
    """
    text, tilde, response, rhs = _sides(formula, "y ~ x + (1 | g)", "Reaction ~ Days + (Days | Subject)",
                                        random=True)
    offset0 = tilde + 1
    fixed, removed, random, offsets = [], [], [], []
    for start, piece in split_top(rhs, "+"):
        stripped = piece.strip()
        where = offset0 + start + (len(piece) - len(piece.lstrip()))
        if not stripped:
            raise FormulaError(point_at(text, where, "empty term: two '+' in a row or a '+' at an end"))
        head, *minus = (p.strip() for p in _split_minus(stripped))
        head = _unwrap(head)
        wrapped = _structure_call(head)
        if wrapped is not None:
            name, inner, at = wrapped
            if not (top_level_positions(inner, "|") or top_level_positions(inner, "||")):
                raise FormulaError(point_at(text, where, f"{name}() wraps a random-effects term: write "
                                            f"{name}(0 + f | g) or {name}(1 + x | g)"))
            if top_level_positions(inner, "||"):
                raise FormulaError(point_at(text, where + at + top_level_positions(inner, "||")[0],
                                            f"'||' inside {name}(): the structure already says how the "
                                            f"effects are correlated; write {name}(x | g) (diag(x | g) for "
                                            "uncorrelated effects)"))
            random.extend(RandomTerm(t.expr, t.factors, t.name, name)
                          for t in _expand_bar(inner.strip(), text, where + at))
            removed.extend(minus)
        elif _is_bar_term(head):
            random.extend(_expand_bar(head[1:-1].strip(), text, where + 1))
            removed.extend(minus)
        elif "|" in stripped:
            bars = top_level_positions(stripped, "|") or top_level_positions(stripped, "||")
            if bars:
                raise FormulaError(point_at(text, where + bars[0], "a random-effects term must be in "
                                            "parentheses, e.g. (1 + Days | Subject)"))
            raise FormulaError(point_at(text, where, "a random-effects term cannot be combined with other "
                                        "terms by '*', ':' or a function; add it with '+'"))
        elif re.match(r"^offset\s*\(", stripped):
            inner = stripped[stripped.index("(") + 1: -1].strip()
            if not inner or not stripped.endswith(")"):
                raise FormulaError(point_at(text, where, "offset() needs one expression inside, e.g. offset(log(n))"))
            offsets.append(inner)
        elif stripped == ".":
            raise FormulaError(point_at(text, where, "'.' (all other columns) is not supported: name the predictors, "
                                        "e.g. y ~ x1 + x2 + (1 | g)"))
        else:
            fixed.append(stripped)
    fixed_text = " + ".join(fixed) if fixed else "1"
    fixed_text += "".join(f" - {r}" for r in removed)
    if not random:
        raise FormulaError(f"no random-effects terms in the formula {formula!r}: add one such as (1 | group), "
                           "or fit an ordinary linear model with mm.lm()")
    return ParsedFormula(text=text, response=response, fixed=fixed_text,
                         random=tuple(random), offsets=tuple(offsets))


def parse_lm_formula(formula: str) -> ParsedFormula:
    """Parse the formula of an ordinary linear model, ``y ~ fixed`` without ``(x | g)`` terms.

    Parameters
    ----------
    formula : str
        ``"y ~ x + f"``; ``offset()`` terms are allowed.

    Returns
    -------
    ParsedFormula
        With no random terms.

    Raises
    ------
    FormulaError
        Pointing at the problem; also at a random-effects term (lm() fits none).
    """
    text, tilde, response, rhs = _sides(formula, "y ~ x", "Reaction ~ Days", random=False)
    fixed, offsets = [], []
    for start, piece in split_top(rhs, "+"):
        term = piece.strip()
        where = tilde + 1 + start
        if not term:
            raise FormulaError(point_at(text, where, "empty term: two '+' in a row or a '+' at an end"))
        if _is_bar_term(term) or top_level_positions(term, "|") or top_level_positions(term, "||"):
            raise FormulaError(point_at(text, where + len(piece) - len(piece.lstrip()),
                                        "lm() fits no random effects; use mm.lmer() for a formula with "
                                        "(terms | group)"))
        if term.startswith("offset(") and term.endswith(")"):
            offsets.append(term[len("offset("):-1].strip())
        else:
            fixed.append(term)
    return ParsedFormula(text=text, response=response, fixed=" + ".join(fixed) if fixed else "1",
                         random=(), offsets=tuple(offsets))


def has_random_terms(formula: str) -> bool:
    """Whether a formula has an lme4 random-effects term ``(... | g)``.

    Parameters
    ----------
    formula : str

    Returns
    -------
    bool
        True also for a text that is not a formula with one '~', so that lmer() reports the
        problem with its own message.
    """
    if not isinstance(formula, str) or len(top_level_positions(formula, "~")) != 1:
        return True  # let lmer() report the problem with its own message
    rhs = formula[top_level_positions(formula, "~")[0] + 1:]
    return any("|" in piece for _, piece in split_top(rhs, "+"))


def _sides(formula, short: str, example: str, random: bool) -> tuple[str, int, str, str]:
    """(text, position of '~', response, right-hand side) of a formula that passed the evaluator's
    gate; ``short`` and ``example`` are the formulas the error messages show. A mixed model's
    formula (``random``) is also refused empty brackets and a '|' in the response."""
    if not isinstance(formula, str):
        raise FormulaError(f"the formula must be a string such as {short!r}, got {type(formula).__name__}")
    text = " ".join(formula.split())
    _check_brackets(text)
    # the closed evaluator's gate: characters, functions, keywords; nesting depth (a mixed model's
    # formula may wrap a top-level term in a covariance structure, which the parser takes apart)
    check(text, STRUCTURES if random else ())
    if random:
        _check_empty_brackets(text)
    tilde = top_level_positions(text, "~")
    if len(tilde) != 1:
        raise FormulaError(point_at(text, tilde[1] if tilde else len(text),
                                    "a formula needs exactly one '~' between the response and the terms, "
                                    f"e.g. {example!r}"))
    response, rhs = text[: tilde[0]].strip(), text[tilde[0] + 1:]
    if not response:
        raise FormulaError(point_at(text, 0, "the formula has no response on the left of '~'"))
    if random and "|" in response:
        raise FormulaError(point_at(text, response.index("|"), "random-effects terms (... | g) belong on the right "
                                    "of '~', e.g. y ~ x + (1 | g)"))
    if not rhs.strip():
        raise FormulaError(point_at(text, len(text), "the formula has no terms on the right of '~'"))
    return text, tilde[0], response, rhs


def _expand_bar(inner: str, text: str, where: int) -> list[RandomTerm]:
    """Expand the inside of one parenthesised bar term into RandomTerms."""
    double = top_level_positions(inner, "||")
    if double:
        lhs, rhs = inner[: double[0]].strip(), inner[double[0] + 2:].strip()
    else:
        bars = top_level_positions(inner, "|")
        if len(bars) > 1:
            raise FormulaError(point_at(text, where + bars[1], "a random-effects term has one '|' between its terms and "
                                      "its grouping factor; for several factors add terms: (1 | a) + (1 | b)"))
        lhs, rhs = inner[:bars[0]].strip(), inner[bars[0] + 1:].strip()
    if not lhs:
        raise FormulaError(point_at(text, where, "nothing on the left of '|': write (1 | g) for a random intercept"))
    if not rhs:
        raise FormulaError(point_at(text, where + len(inner), "no grouping factor on the right of '|'"))
    if rhs.startswith("|"):
        raise FormulaError(point_at(text, where + inner.index("|"), "'|||' is not an operator: use '|' for correlated "
                                  "or '||' for uncorrelated random effects"))
    groups = _expand_nesting(rhs, text, where)
    exprs = _uncorrelated(lhs) if double else [lhs]
    return [RandomTerm(expr, factors, name) for factors, name in groups for expr in exprs]


def _uncorrelated(lhs: str) -> list[str]:
    """``x + z || g``: an intercept term (if any) and one ``0 + term`` per other term."""
    intercept, others = True, []
    for _, piece in split_top(lhs, "+"):
        first, *removed = (p.strip() for p in _split_minus(piece))
        if first == "0":
            intercept = False
        elif first and first != "1":
            others.append(first)
        if "1" in removed:
            intercept = False
    return (["1"] if intercept else []) + [f"0 + {o}" for o in others]


def _expand_nesting(rhs: str, text: str, where: int) -> list[tuple[tuple[str, ...], str]]:
    """``a/b/c`` -> terms for c:(b:a), b:a and a, as lme4 expands and names them.

    Returns (factors, name) pairs; factors list the variables with the innermost first, which
    is also the order in which the level labels are joined ("c1:b1:a1").
    """
    parts = []
    for _, p in split_top(rhs, "/"):
        names = []
        for _, raw in split_top(p.strip(), ":"):
            raw = raw.strip()
            if not _NAME.fullmatch(raw):
                hint = (f"; for crossed grouping factors write separate terms, e.g. (1 | {raw.split('+')[0].strip()}) "
                        f"+ (1 | {raw.split('+')[-1].strip()})" if "+" in raw else
                        "; quote a name with spaces in backticks, e.g. `my group`")
                raise FormulaError(point_at(text, where + max(0, text[where:].find(raw) if raw else 0),
                                          f"grouping factor {raw!r} must be a column name (or a:b, a/b of names)"
                                          + hint))
            names.append(raw.strip("`"))
        parts.append(tuple(names))
    out = []
    factors: tuple[str, ...] = ()
    name = ""
    for k, f in enumerate(parts):
        factors = f + factors
        label = ":".join(f)
        name = label if k == 0 else (f"{label}:{name}" if k == 1 else f"{label}:({name})")
        out.append((factors, name if k > 1 else ""))
    return out[::-1]


# ------------------------------------------------------------------ scanning helpers (public ones: for linear/)

_NAME = re.compile(r"`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*")


def _check_empty_brackets(text: str) -> None:
    """'()' that is not a call's argument list (``f()``) holds no term: point at it."""
    for m in re.finditer(r"\(\s*\)", text):
        before = text[: m.start()].rstrip()
        if not before or not re.search(r"[A-Za-z0-9_.]$", before):
            raise FormulaError(point_at(text, m.start(), "empty parentheses '()': put a term inside, e.g. (1 | g)"))


def _unwrap(s: str) -> str:
    """``((1 | g))`` -> ``(1 | g)``: lme4 looks through redundant parentheses around a bar term."""
    while s.startswith("((") and s.endswith("))") and _closes_at_end(s) and _closes_at_end(s[1:-1].strip()):
        s = s[1:-1].strip()
    return s


def _closes_at_end(s: str) -> bool:
    if not (s.startswith("(") and s.endswith(")")):
        return False
    return all(depth > 0 for i, _, depth in _depths(s) if i < len(s) - 1)


def _check_brackets(text: str) -> None:
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(point_at(text, i, "unmatched ')'"))
    if depth:
        raise FormulaError(point_at(text, text.rfind("("), "unmatched '(': a bracket is never closed"))


def _depths(s: str):
    depth = 0
    for i, ch in enumerate(s):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        yield i, ch, depth


def top_level_positions(s: str, token: str) -> list[int]:
    """Positions of ``token`` outside any brackets.

    Parameters
    ----------
    s : str
        A formula or a part of one.
    token : str
        ``"~"``, ``"+"``, ``"|"``, ``"||"``, ...; ``"|"`` does not match inside ``"||"``.

    Returns
    -------
    list of int
    """
    out, i, depth = [], 0, 0
    while i < len(s):
        ch = s[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and s.startswith(token, i):
            if token == "|" and s.startswith("||", i):
                i += 2
                continue
            out.append(i)
            i += len(token)
            continue
        i += 1
    return out


def split_top(s: str, sep: str) -> list[tuple[int, str]]:
    """Split a formula on ``sep`` outside any brackets: the one top-level splitter of the package's
    formula texts (lmer's, lm's and lmList's formulas).

    Parameters
    ----------
    s : str
        A formula or a part of one.
    sep : str
        The separator, e.g. ``"+"``, ``"/"``, ``":"``.

    Returns
    -------
    list of (int, str)
        (offset of the piece in ``s``, the piece unstripped), for error messages that point.
    """
    cuts = top_level_positions(s, sep)
    starts = [0] + [c + len(sep) for c in cuts]
    ends = cuts + [len(s)]
    return [(a, s[a:b]) for a, b in zip(starts, ends)]


def _split_minus(s: str) -> list[str]:
    return [p for _, p in split_top(s, "-")]


def _structure_call(s: str) -> tuple[str, str, int] | None:
    """``ar1(0 + f | g)`` -> ("ar1", "0 + f | g", offset of the inside); None for anything else."""
    m = re.match(r"^(" + "|".join(STRUCTURES) + r")\s*\(", s)
    if not m or not s.endswith(")") or not _closes_at_end(s[m.end() - 1:]):
        return None
    return m.group(1), s[m.end(): -1], m.end()


def _is_bar_term(s: str) -> bool:
    if not (s.startswith("(") and s.endswith(")")):
        return False
    # the opening bracket must close at the very end
    for i, _, depth in _depths(s):
        if depth == 0 and i < len(s) - 1:
            return False
    return bool(top_level_positions(s[1:-1], "|") or top_level_positions(s[1:-1], "||"))


def point_at(text: str, pos: int, message: str) -> str:
    """An error message with the formula below it and a caret at ``pos``.

    Parameters
    ----------
    text : str
        The formula.
    pos : int
        Where the problem is (clipped to the text).
    message : str

    Returns
    -------
    str
    """
    pos = max(0, min(pos, len(text)))
    return f"{message}\n    {text}\n    {' ' * pos}^ (position {pos})"
