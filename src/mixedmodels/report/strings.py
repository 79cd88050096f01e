"""R's functions on character strings that printouts use: ``abbreviate()``, ``strwrap()`` and
``cat(fill = TRUE)``.

lme4 labels the rows and columns of the fixed effects' correlations with ``abbreviate()``d names,
and wraps a long title with ``strwrap()`` and ``cat(fill = TRUE)``; their exact rules decide where
R's lines break, so they are reproduced here (ASCII text; widths count characters).
"""

from __future__ import annotations

import itertools
import re
from typing import Sequence

from ..rformat import WIDTH

__all__ = ["abbreviate", "strwrap", "cat_fill"]


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

    Parameters
    ----------
    names : sequence of str
        The names.
    minlength : int, default 4
        The length to abbreviate to.
    use_classes : bool, default True
        Drop lower case vowels, then lower case letters, before other characters.
    strict : bool, default False
        Keep ``minlength`` even where abbreviations collide.

    Returns
    -------
    list of str
        One abbreviation per name.
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
    ``width``; paragraphs (split at blank lines) are separated by ``prefix``.

    Parameters
    ----------
    text : str
        The text.
    width : int
        Lines are shorter than this.
    indent, exdent : int, default 0
        Spaces before the first line of a paragraph, and before the others.
    prefix, initial : str
        Text before every line, and before the first (default ``prefix``).

    Returns
    -------
    list of str
        The lines.
    """
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

    Parameters
    ----------
    items : sequence of str or of sequences of str
        The arguments of ``cat()``, each a string or a character vector.
    sep : str, default " "
        The separator.
    fill : int or None, default WIDTH
        The line width to fill to; None for no filling.

    Returns
    -------
    str
        What ``cat()`` writes.
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
