"""Import rules: the runtime imports no tools, imports run down the layers, and no module imports form a cycle.

The import graph is read from the source with ``ast`` (every import, including the ones inside functions),
so a rule broken by a lazy import fails here too, not only on the machine that reaches that line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top-level parts of livestyle, lowest first; a module may import its own part and any part below it.
LAYERS = (
    ("livestyle", "errors", "frame", "fsutil", "slot", "stats", "security", "extras"),
    ("controls", "ops", "looks", "keys", "runconfig"),
    ("models",),
    ("styles",),
    ("runners", "sources", "sinks", "people"),
    ("adaptive", "stages", "capture", "views"),
    ("pipeline",),
    ("control", "obs"),
    ("session",),
    ("export", "training", "quality", "bench"),
    ("doctor", "cli", "commands", "__main__"),
)
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}
RUNTIME = ("pipeline", "session", "stages", "capture", "views", "keys", "runconfig", "adaptive", "stats", "slot",
           "frame", "controls", "ops", "sources", "sinks", "runners", "control", "people", "security")
TOOLS = ("export", "training", "quality", "bench", "doctor", "cli", "commands")

# Arrows that still run up, each with why it is left (module, imported module).
KNOWN_BACK: set[tuple[str, str]] = set()
KNOWN_CYCLES: list[set[str]] = []


def _modules() -> dict[str, Path]:
    out = {}
    for p in (ROOT / "livestyle").rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _edges() -> list[tuple[str, str, bool]]:
    """(importer, imported module, inside a function) for every import of a livestyle module."""
    mods = _modules()

    def resolve(name: str) -> str:
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    edges = []
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]

        def walk(node, lazy):
            for child in ast.iter_child_nodes(node):
                inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, ast.Import):
                    yield from ((a.name, inner) for a in child.names)
                elif isinstance(child, ast.ImportFrom):
                    base = ".".join(package[: len(package) - child.level + 1] + [child.module or ""]).strip(".") \
                        if child.level else (child.module or "")
                    yield from ((f"{base}.{a.name}", inner) for a in child.names)
                yield from walk(child, inner)

        for name, lazy in walk(ast.parse(path.read_text()), False):
            if name.startswith("livestyle"):
                target = resolve(name)
                if target != mod and not mod.startswith(target + "."):  # not a module's own package
                    edges.append((mod, target, lazy))
    return edges


def _part(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else "livestyle"


def _cycles(edges) -> list[set[str]]:
    graph = defaultdict(set)
    for a, b, _ in edges:
        graph[a].add(b)
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_every_part_of_livestyle_has_a_layer():
    assert {_part(m) for m in _modules()} <= set(RANK)


def test_imports_run_down_the_layers():
    back = {(a, b) for a, b, _ in _edges() if RANK[_part(a)] < RANK[_part(b)]}
    assert back <= KNOWN_BACK, sorted(back - KNOWN_BACK)


def test_the_runtime_imports_no_tool():
    bad = sorted((a, b) for a, b, _ in _edges() if _part(a) in RUNTIME and _part(b) in TOOLS)
    assert not bad, bad


def test_no_import_cycles():
    edges = _edges()
    assert _cycles([e for e in edges if not e[2]]) == []  # module-level imports: none at all
    assert all(c in KNOWN_CYCLES for c in _cycles(edges)), _cycles(edges)


def test_the_checker_sees_a_back_arrow_and_a_cycle():
    edges = [("livestyle.models.x", "livestyle.styles.y", True), ("livestyle.styles.y", "livestyle.models.x", False)]
    assert RANK[_part(edges[0][0])] < RANK[_part(edges[0][1])]
    assert _cycles(edges) == [{"livestyle.models.x", "livestyle.styles.y"}]


def test_importing_the_runtime_loads_no_torch_tensorrt_or_export():
    code = ("import sys, livestyle.pipeline, livestyle.session, livestyle.stages.look, livestyle.views, "
            "livestyle.runners.tensorrt, livestyle.runners.trt.cache\n"
            "print(sorted(m for m in sys.modules if m in ('torch', 'tensorrt', 'onnx') "
            "or m == 'livestyle.export' or m.startswith('livestyle.export.')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout
