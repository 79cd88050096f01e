"""Every public function and result member in the API reference has a numpydoc docstring.

The reference (docs/api.md) lists what is public with mkdocstrings' ``::: dotted.name`` lines; this
test reads the same list, so that a name added there is checked here. For each function, method
and property:

* a summary line;
* a ``Parameters`` section naming every parameter of the signature (``self`` aside);
* a ``Returns`` section for a function or method (not for a property, whose summary says what it is,
  nor for one annotated ``-> None``);
* an ``Examples`` section with at least one ``>>>`` line (tests/test_docstring_examples.py runs them).

A class's public data fields and class attributes are named in its ``Attributes`` section.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import re
from functools import cached_property
from pathlib import Path

import pytest

API = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _entries():
    """(dotted name, members option) for each ``:::`` line of the reference."""
    lines = API.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r":::\s+(\S+)", line)
        if not m:
            continue
        members = None
        for opt in lines[i + 1:i + 4]:
            mm = re.match(r"\s+members:\s*(.+)", opt)
            if mm:
                members = mm.group(1).strip()
        out.append((m.group(1), members))
    return out


def _resolve(dotted):
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for p in parts[k:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(dotted)


def _sections(doc: str) -> dict[str, str]:
    """numpydoc sections: title -> body (the text up to the next underlined title)."""
    out, title, body = {}, "", []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
            out[title] = "\n".join(body)
            title, body = lines[i].strip(), []
            i += 2
            continue
        body.append(lines[i])
        i += 1
    out[title] = "\n".join(body)
    return out


def _param_names(fn) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values() if p.name not in ("self", "cls")]


def _documented(name: str, body: str) -> bool:
    """Whether a Parameters/Attributes body names ``name``: a line ``name : type``, ``a, name``,
    ``*name`` or ``**name`` at the entries' indentation."""
    for line in body.splitlines():
        if not line.strip() or line[:1].isspace():
            continue  # a description line, not an entry
        head = line.split(" : ")[0]
        names = [n.strip().lstrip("*") for n in head.split(",")]
        if name in names:
            return True
    return False


def _problems(qualname: str, obj, kind: str) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return [f"{qualname}: no docstring"]
    sec = _sections(doc)
    out = []
    if kind != "property":
        params = _param_names(obj)
        if params and "Parameters" not in sec:
            out.append(f"{qualname}: no Parameters section")
        elif params:
            out += [f"{qualname}: parameter {p!r} not in Parameters" for p in params
                    if not _documented(p, sec["Parameters"])]
        ret = inspect.signature(obj).return_annotation
        if ret not in ("None", None) and "Returns" not in sec and "Yields" not in sec:
            out.append(f"{qualname}: no Returns section")
    if ">>>" not in sec.get("Examples", ""):
        out.append(f"{qualname}: no Examples section with a >>> line")
    return out


def _class_problems(dotted: str, cls) -> list[str]:
    out = []
    doc = inspect.getdoc(cls) or ""
    if not doc.strip():
        out.append(f"{dotted}: no class docstring")
    sec = _sections(doc)
    fields = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    plain = [n for n in vars(cls) if not n.startswith("_") and not callable(getattr(cls, n))
             and not isinstance(vars(cls)[n], (property, cached_property))]
    for name in dict.fromkeys(fields + plain):
        if name.startswith("_"):
            continue
        if not _documented(name, sec.get("Attributes", "")):
            out.append(f"{dotted}.{name}: not in the class's Attributes section")
    for name in sorted(dir(cls)):
        if name.startswith("_") or name in fields:
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("mixedmodels"):
            continue  # pandas' or object's own members
        raw = vars(owner)[name]
        if isinstance(raw, (property, cached_property)):
            out += _problems(f"{dotted}.{name}", raw.fget if isinstance(raw, property) else raw.func, "property")
        elif callable(raw) or isinstance(raw, (staticmethod, classmethod)):
            fn = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
            out += _problems(f"{dotted}.{name}", fn, "method")
    return out


@functools.lru_cache(maxsize=1)
def _all_problems() -> tuple[str, ...]:
    out = []
    for dotted, members in _entries():
        obj = _resolve(dotted)
        if inspect.ismodule(obj):
            if members in (None, "false"):
                continue
            for name in re.findall(r"\w+", members):
                out += _problems(f"{dotted}.{name}", getattr(obj, name), "function")
        elif inspect.isclass(obj):
            out += _class_problems(dotted, obj)
        else:
            out += _problems(dotted, obj, "function")
    return tuple(out)


def test_reference_lists_entries():
    assert len(_entries()) >= 10


@pytest.mark.parametrize("dotted", [d for d, _ in _entries()])
def test_numpydoc_complete(dotted):
    problems = [p for p in _all_problems() if p.startswith(dotted + ".") or p.startswith(dotted + ":")]
    assert not problems, "\n".join(problems)


if __name__ == "__main__":  # a report of what is missing, for the one writing docstrings
    for p in _all_problems():
        print(p)
