"""The package's layout, kept by tests: imports point one way, modules stay small, private names stay home.

The layers, bottom to top (README, Architecture)::

    errors, arguments, distributions, version, progress, rformat, threads, datasets < formula < design < core < optim < glmm
        < postfit < report < inference < io < results < fit < linear < cli < __init__, __main__

The bottom layer holds what every stage may use: the errors and warnings, the shared argument
checks, the version, the progress bars of long loops, R's number formatting, a fit's BLAS thread
limit; and ``datasets/``, a leaf (bundled data frames; it imports only errors) used by cli and
``__init__``.

The concept modules below results/ (postfit/, report/, inference/, io/) take a fit as an argument
and read it through its attributes and methods, never importing a result class; a result object's
methods (``m.anova()``, ``m.confint()``, ``m.predict()``, ``m.summary()``, ``m.save()``) delegate
down to them. fit/ sits above results/: it builds the result objects. To refit (``m.refit()``,
``allfit()``, the null model of a GLMM's ICC) a result calls the fitting function it holds
(``m.fitter``, set by fit/), so that no import runs from results/ back up to fit/.

Every intra-package import, at module level or inside a function, must point to the same or a lower
layer. Every ``import``/``from ... import`` is read with ``ast`` (relative imports resolved against the
importing module's package; ``from .pkg import name`` counts as an import of ``pkg.name`` where that is
a module), wherever it stands: module level, ``if TYPE_CHECKING:`` blocks, functions and methods; and
no circle of files forms in the whole graph.

Within one layer the modules may import each other, but without circles: the strongly connected
components of the same-layer import graph are single modules.

Two more rules: no module passes 600 lines, and no private name (a leading underscore) is imported
from another module (``from .x import _y``): what another module needs is public in its home, or
moves to the module that uses it.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PKG = "mixedmodels"
SRC = Path(__file__).resolve().parent.parent / "src" / PKG
MAX_LINES = 600

LAYERS = [
    ("errors", "arguments", "datasets", "distributions", "version", "progress", "rformat", "threads"),
    ("formula",),
    ("design",),
    ("core",),
    ("optim",),
    ("glmm",),
    ("postfit",),
    ("report",),
    ("inference",),
    ("io",),
    ("results",),
    ("fit",),
    ("linear",),
    ("cli",),
    ("__init__", "__main__"),
]
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


MODULES = _modules()
UNRESOLVED: list[str] = []  # intra-package imports of modules that do not exist


def _short(module: str) -> str:
    return module.partition(".")[2] or "__init__"


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _layer_key(module: str) -> str:
    """The top-level stage a module belongs to: 'inference' for mixedmodels.inference.anova."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _layer(module: str) -> int:
    return LAYER[_layer_key(module)]


class _Imports(ast.NodeVisitor):
    """Collects (target module, imported names, line, inside a function) for intra-package imports."""

    def __init__(self, module: str):
        self.module = module
        self.package = module if _is_package(module) else module.rpartition(".")[0]
        self.depth = 0
        self.found: list[tuple[str, tuple[str, ...], int, bool]] = []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, names: tuple[str, ...], line: int):
        self.found.append((target, names, line, self.depth > 0))

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            if alias.name == PKG or alias.name.startswith(PKG + "."):
                target = alias.name
                if target not in MODULES:
                    UNRESOLVED.append(f"{_short(self.module)}:{node.lineno} imports {_short(target)}")
                while target not in MODULES:
                    target = target.rpartition(".")[0]
                self._add(target, (), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[: -(node.level - 1)]
            base = ".".join(base)
            if node.module:
                base = f"{base}.{node.module}"
        else:
            base = node.module or ""
            if not (base == PKG or base.startswith(PKG + ".")):
                return
        plain = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in MODULES:  # from .inference import anova: the module inference.anova
                self._add(sub, (), node.lineno)
            else:
                plain.append(alias.name)
        if plain:
            if base not in MODULES:  # a module that is not there: reported by test_imports_resolve
                UNRESOLVED.append(f"{_short(self.module)}:{node.lineno} imports from {_short(base)}")
                while base not in MODULES:
                    base = base.rpartition(".")[0]
            self._add(base, tuple(plain), node.lineno)


def _imports() -> dict[str, list[tuple[str, tuple[str, ...], int, bool]]]:
    out = {}
    for module, path in MODULES.items():
        visitor = _Imports(module)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        out[module] = [f for f in visitor.found if f[0] != module]
    return out


IMPORTS = _imports()


def _direction_violations() -> list[str]:
    bad = []
    for module, found in IMPORTS.items():
        for target, _names, line, in_function in found:
            if _layer(target) <= _layer(module):
                continue
            where = "in a function" if in_function else "at module level"
            bad.append(f"{_short(module)}:{line} imports {_short(target)} ({where})")
    return sorted(bad)


def _strongly_connected(nodes, edges) -> list[list[str]]:
    """Tarjan's algorithm; the components, each a list of nodes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return components


def _same_layer_cycles() -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, found in IMPORTS.items():
        for target, *_ in found:
            if _layer(target) == _layer(module):
                edges[module].add(target)
    return [c for c in _strongly_connected(MODULES, edges) if len(c) > 1]


def test_every_module_has_a_layer():
    unknown = sorted({_layer_key(m) for m in MODULES} - set(LAYER))
    assert not unknown, f"modules outside the layers (add them to LAYERS and the README): {unknown}"


def test_the_graph_is_read():
    # a guard against a test that passes because it sees nothing
    assert len(MODULES) > 40
    assert any(t == f"{PKG}.results.lmer" for t, *_ in IMPORTS[f"{PKG}.fit.lmer"])
    lmer_modules = [mod for mod in IMPORTS if mod == f"{PKG}.results.lmer" or mod.startswith(f"{PKG}.results.lmer_")]
    assert any(
        _layer_key(t) == "inference" and f for mod in lmer_modules for t, _n, _l, f in IMPORTS[mod]
    ), "results/lmer*.py (LmerResult and its mixins) should delegate to inference/ inside their methods"


def test_no_circles_of_files():
    # every import, also inside functions: a circle there is a circle of the design, whatever the timing
    edges: dict[str, set[str]] = defaultdict(set)
    for module, found in IMPORTS.items():
        for target, *_ in found:
            edges[module].add(target)
    cycles = [c for c in _strongly_connected(MODULES, edges) if len(c) > 1]
    assert not cycles, "circles of imports:\n  " + "\n  ".join(" <-> ".join(_short(m) for m in c) for c in cycles)


def test_imports_resolve():
    assert not UNRESOLVED, "imports of modules that are not there:\n  " + "\n  ".join(sorted(UNRESOLVED))


def test_imports_point_down():
    bad = _direction_violations()
    assert not bad, "imports pointing to a higher layer:\n  " + "\n  ".join(bad)


def test_no_circles_within_a_layer():
    cycles = _same_layer_cycles()
    assert not cycles, "circles between modules of one layer:\n  " + "\n  ".join(
        " <-> ".join(_short(m) for m in c) for c in cycles
    )


def test_modules_stay_small():
    big = sorted(
        (n, _short(m))
        for m, p in MODULES.items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert not big, f"modules over {MAX_LINES} lines:\n  " + "\n  ".join(f"{m}: {n}" for n, m in big)


def _private_imports() -> list[str]:
    bad = []
    for module, found in IMPORTS.items():
        for target, names, line, _ in found:
            private = [n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
            if private:
                bad.append(f"{_short(module)}:{line} from {_short(target)} import {', '.join(private)}")
    return sorted(bad)


def test_no_private_names_imported():
    bad = _private_imports()
    assert not bad, (
        "private names (leading underscore) imported from another module; make them public in "
        "their module, or move them to the module that uses them:\n  " + "\n  ".join(bad)
    )
