"""The package's layers, as DEVELOPERS.md draws them, checked against every import in the
code (function-level imports included): nothing imports upwards, and no module imports
itself through others."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "genre_lab"

#: Bottom to top. A module may import its own unit (e.g. ``features.segments`` imports
#: ``features.frontend``) and units of lower layers, never a unit of its own layer or above.
LAYERS = [
    {"__init__"},                       # GENRES, __version__
    {"config", "catalog", "lessons"},   # profiles and feature settings, model names;
                                        # lessons asserted with their margins
    {"store", "warmup", "audio", "parallel"},  # the one cache; numba warm-up; decoding and
                                        # cutting; process pools and progress bars
    {"data"},                           # GTZAN, the synthetic set, splits, fetch
    {"features"},                       # frames, table, frontend, segments
    {"dataset", "evaluate", "models"},  # datasets; metrics; networks
    {"pretrained"},                     # musicnn's weights, embeddings, probes
    {"augment"},                        # transforms, SpecAugment, mixup, augmented copies
    {"train", "checkpoint"},            # the training loop; the one checkpoint format
    {"experiment", "compress", "scale", "inference"},  # orchestration; pruning, int8; Ray;
                                        # checkpoint + audio -> answer
    {"plots"},
    {"widgets", "cli"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The genre_lab modules an ``from ... import ...`` statement reaches."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = importer.split(".") if is_package else importer.split(".")[:-1]
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    out = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        as_path = PACKAGE.parent / candidate.replace(".", "/")
        out.append(candidate if as_path.with_suffix(".py").is_file() or as_path.is_dir()
                   else base)
    return out


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                targets.update(resolve(name, path.name == "__init__.py", node))
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        graph[name] = {t for t in targets if t.split(".")[0] == "genre_lab"} - {name}
    return graph


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_unit_has_a_layer():
    units = {unit(m) for m in import_graph()}
    assert units == set(RANK), f"add to LAYERS (and DEVELOPERS.md): {units ^ set(RANK)}"


def upward(graph: dict[str, set[str]]) -> list[str]:
    return [f"{a} imports {b}" for a, targets in graph.items() for b in targets
            if unit(a) != unit(b) and RANK[unit(b)] >= RANK[unit(a)]]


def test_no_import_goes_up_or_sideways():
    wrong = upward(import_graph())
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = import_graph()
    # A package imports its submodules by design (``from .frames import ...``); a cycle
    # through modules is what breaks.
    edges = {a: {b for b in targets if b in graph and not b.startswith(a + ".")}
             for a, targets in graph.items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in edges:
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_a_violation():
    # relative imports resolve to the module they reach ...
    node = ast.parse("from ..widgets import Explorer").body[0]
    assert resolve("genre_lab.features.segments", False, node) == ["genre_lab.widgets"]
    node = ast.parse("from .. import audio, GENRES").body[0]
    assert resolve("genre_lab.data.gtzan", False, node) == ["genre_lab.audio", "genre_lab"]
    # ... and an upward or sideways one is reported
    assert upward({"genre_lab.features.segments": {"genre_lab.widgets"},
                   "genre_lab.train": {"genre_lab.checkpoint"},
                   "genre_lab.experiment": {"genre_lab.train"}}) == [
        "genre_lab.features.segments imports genre_lab.widgets",
        "genre_lab.train imports genre_lab.checkpoint"]
