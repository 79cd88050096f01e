"""The documentation is tested: the tutorial's code runs and prints what the page shows; the site builds.

Conventions in docs/tutorial.md:

* every ```python block runs, in order, in one namespace;
* a ```text block right after a python block is that block's expected output (compared line by
  line, trailing spaces ignored);
* ``<!-- requires: matplotlib, mixedmodels.report.plots -->`` on the line before a block: the block (and
  its output) is skipped when one of those modules cannot be imported;
* an image ``![...](img/NAME.png)`` right after a block shows the figure ``fig`` that it made.

``python tests/test_docs.py --update`` reruns the page and rewrites the output blocks and images.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_REQUIRES = re.compile(r"^<!--\s*requires:\s*(.*?)\s*-->\s*$")
_IMAGE = re.compile(r"^!\[[^\]]*\]\((img/[^)]+\.png)\)\s*$")


@dataclass
class Block:
    lang: str
    code: str
    line: int            # 1-based line of the opening fence
    end: int             # 0-based index of the closing fence line
    requires: list
    output: "Block | None" = None
    image: str | None = None


def parse(text: str) -> list[Block]:
    """Fenced blocks of a Markdown page, with their requirements, outputs and images."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        req = _REQUIRES.match(prev)
        blocks.append(Block(m.group(1), "\n".join(lines[i + 1:j]), i + 1, j,
                            [r.strip() for r in req.group(1).split(",")] if req else []))
        i = j + 1
    # attach outputs and images to the python block before them
    for a, b in zip(blocks, blocks[1:]):
        between = lines[a.end + 1: b.line - 1]
        if a.lang == "python" and b.lang == "text" and not any(s.strip() for s in between):
            a.output = b
    for blk in blocks:
        if blk.lang == "python":
            for s in lines[blk.end + 1:]:
                if s.strip():
                    img = _IMAGE.match(s)
                    blk.image = img.group(1) if img else None
                    break
    return blocks


def _available(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def _normalize(text: str) -> list[str]:
    lines = [s.rstrip() for s in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_blocks(blocks: list[Block], save_images: bool = False):
    """Run the python blocks; yield (block, printed output or None when skipped)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    ns: dict = {"__name__": "__tutorial__"}
    for blk in blocks:
        if blk.lang != "python":
            continue
        if not all(_available(r) for r in blk.requires):
            yield blk, None
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(blk.code, f"{TUTORIAL.name}:{blk.line}", "exec"), ns)
        if blk.image and "fig" in ns:
            if save_images:
                ns["fig"].savefig(TUTORIAL.parent / blk.image, dpi=72)
            import matplotlib.pyplot as plt

            plt.close("all")
        yield blk, buf.getvalue()


def test_tutorial_code_runs_and_prints_what_the_page_shows():
    blocks = parse(TUTORIAL.read_text(encoding="utf-8"))
    assert sum(b.lang == "python" for b in blocks) >= 10
    checked = 0
    for blk, printed in run_blocks(blocks):
        if printed is None or blk.output is None:
            continue
        assert _normalize(printed) == _normalize(blk.output.code), (
            f"output of the block at docs/tutorial.md line {blk.line} differs from the page "
            "(python tests/test_docs.py --update rewrites it)")
        checked += 1
    assert checked >= 5


def test_tutorial_images_exist():
    for blk in parse(TUTORIAL.read_text(encoding="utf-8")):
        if blk.image:
            assert (TUTORIAL.parent / blk.image).is_file(), blk.image


def test_docs_pages_in_nav_exist():
    nav = re.findall(r":\s*([\w-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert "tutorial.md" in nav and "api.md" in nav
    for page in nav:
        assert (ROOT / "docs" / page).is_file(), page


@pytest.mark.skipif(not (_available("mkdocs") and _available("mkdocstrings")
                         and _available("mkdocstrings_handlers.python")),
                    reason="mkdocs and mkdocstrings[python] are not installed")
def test_mkdocs_build_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "tutorial" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "LmerResult" in api and "lmlist" in api
    # every public member of the result classes is listed (with or without a docstring, inherited
    # ones too), and numpydoc sections are rendered, not shown as text
    from mixedmodels.linear.lm import LmResult
    from mixedmodels.results.glmer import GlmerResult
    from mixedmodels.results.lmer import LmerResult

    for cls in (LmerResult, GlmerResult, LmResult):
        missing = [n for n in dir(cls) if not n.startswith("_") and f'id="{cls.__module__}.{cls.__name__}.{n}"' not in api]
        assert not missing, (cls.__name__, missing)
    assert "----------" not in api
    # code in table cells keeps its | (an escaped \| in a code span would show the backslash)
    r = (tmp_path / "site" / "coming-from-r" / "index.html").read_text(encoding="utf-8")
    assert "\\|" not in r and "(Days &#124; Subject)" in r


def update() -> None:
    """Rewrite the tutorial's output blocks (and images) from a fresh run."""
    text = TUTORIAL.read_text(encoding="utf-8")
    lines = text.split("\n")
    blocks = parse(text)
    edits = []
    for blk, printed in run_blocks(blocks, save_images=True):
        if printed is not None and blk.output is not None:
            out = blk.output
            edits.append((out.line, out.end, printed.rstrip("\n").split("\n")))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    TUTORIAL.write_text("\n".join(lines), encoding="utf-8")
    print(f"updated {len(edits)} output blocks in {TUTORIAL}")


if __name__ == "__main__":
    if "--update" in sys.argv:
        update()
    else:
        sys.exit(pytest.main([__file__, "-q"]))
