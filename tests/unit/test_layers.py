"""The import layering of ``service/``: no cycles, and no import from a lower layer up.

A module may import its own layer and the layers below it. The layers are assigned by prefix,
so a new module lands in the layer of its package: a platform package under
``service.platforms``, a delivery module under ``service.delivery``, and so on. A module that
no entry names falls to the bottom (``service``, the vocabulary), where it may import only
vocabulary: the test then names it, and its place is a line in :data:`LAYERS`.

Imports inside functions count like module-level ones (they run, and they tie the modules as
firmly); only those under ``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"

Graph = Mapping[str, frozenset[str]]

# From the bottom. An entry names a module or package and everything under it; an entry ending
# in ``*`` is a plain name prefix (``service.cli*`` is ``cli``, ``cli_send``, ...). The longest
# entry that matches a module decides its layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "vocabulary: types, pure rules, and leaf helpers that know no platform, store or engine",
        (
            "service",
            "service.backoff",
            "service.durations",
            "service.events",
            "service.failures",
            "service.gc_tuning",
            "service.health",
            "service.http_server",
            "service.kafka*",
            "service.logs",
            "service.mapping",
            "service.merge",
            "service.metrics",
            "service.offsets",
            "service.openapi_ui",
            "service.redaction",
            "service.tenant_fields",
            "service.transport",
        ),
    ),
    (
        "platforms and the ledger: what a vendor or a store is, and the tenants that name them",
        (
            "service.auth",
            "service.ledger",
            "service.platforms",
            "service.simulators",
            "service.tenants",
        ),
    ),
    ("delivery: lanes, attempts, retries, dead letters and replay", ("service.delivery",)),
    (
        "the engine: the consumer loop, what it commits and writes out, the process's settings",
        (
            "service.checkpoint",
            "service.kafka_clients",
            "service.outbox",
            "service.pipeline",
            "service.settings",
        ),
    ),
    ("the HTTP surface: health, metrics and the admin API", ("service.admin", "service.api")),
    ("the process: wires the engine to its stores and its HTTP surface", ("service.runtime",)),
    (
        "commands and dev mode",
        ("service.cli*", "service.dev", "service.sending", "service.topic_report"),
    ),
)

KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}
"""Imports that break the rules today, each with what removes it. An entry whose import is
gone fails the test too, so the list only shrinks."""


# --- the checker --------------------------------------------------------------------------


def _covers(entry: str, module: str) -> bool:
    if entry.endswith("*"):
        return module.startswith(entry[:-1])
    return module == entry or module.startswith(entry + ".")


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> int:
    """The index of the layer whose longest matching entry covers ``module``."""
    best, depth = -1, 0
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            size = len(entry.rstrip("*"))
            if _covers(entry, module) and size > best:
                best, depth = size, index
    if best < 0:
        raise LookupError(f"{module} is in no layer")
    return depth


def upward_imports(
    graph: Graph, layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS
) -> list[str]:
    """Every import of a module from a higher layer, described."""
    found = []
    for module, imported in sorted(graph.items()):
        own = layer_of(module, layers)
        for target in sorted(imported):
            theirs = layer_of(target, layers)
            if theirs > own:
                found.append(
                    f"{module} ({layers[own][0].split(':')[0]}) imports {target} "
                    f"({layers[theirs][0].split(':')[0]})"
                )
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), as a path that
    starts and ends at the same module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, group) for group in groups]


def _path_through(graph: Graph, group: list[str]) -> list[str]:
    """The shortest way from the group's first module back to itself, inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target == start:
                    return [*paths[node], start]
                if target in members and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    return [*group, start]  # unreachable for a strongly connected group


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, frozenset[str]]:
    """Every module under ``root`` (a package directory) to the modules of the same package
    it imports, from the source, without importing anything."""
    paths = {module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    top = root.name
    return {
        name: frozenset(
            target
            for target in _imports(name, path, set(paths))
            if target != name and (target == top or target.startswith(top + "."))
        )
        for name, path in paths.items()
    }


def _imports(name: str, path: Path, modules: set[str]) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _running(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in modules else base


def _absolute(package: str, module: str | None, level: int) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _running(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` except what sits under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.orelse:
                yield statement
                yield from _running(statement)
            continue
        yield child
        yield from _running(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


# --- the service ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, frozenset[str]]:
    return import_graph(SERVICE)


def _allowed(graph: Graph) -> dict[str, frozenset[str]]:
    return {
        module: frozenset(t for t in imported if (module, t) not in KNOWN_VIOLATIONS)
        for module, imported in graph.items()
    }


def test_no_import_cycle(graph: Graph) -> None:
    found = cycles(_allowed(graph))
    assert found == [], "import cycles:\n" + "\n".join(" -> ".join(path) for path in found)


def test_no_import_from_a_higher_layer(graph: Graph) -> None:
    found = upward_imports(_allowed(graph))
    assert found == [], (
        "imports from a higher layer (move the shared part down, or the module to its layer "
        "in LAYERS):\n" + "\n".join(found)
    )


def test_known_violations_still_exist(graph: Graph) -> None:
    gone = [edge for edge in KNOWN_VIOLATIONS if edge[1] not in graph.get(edge[0], ())]
    assert gone == [], f"no longer imported, remove from KNOWN_VIOLATIONS: {gone}"


# --- the checker on small graphs --------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("service", 0),
        ("service.events", 0),
        ("service.kafka_memory", 0),  # a name prefix
        ("service.kafka_clients", 3),  # its own entry is longer than service.kafka*
        ("service.durations_v2", 0),  # named nowhere: the bottom
        ("service.platforms.acme_notes.adapter", 1),  # a new platform package
        ("service.auth.flows", 1),
        ("service.delivery.retry_policy", 2),
        ("service.pipeline", 3),
        ("service.outbox", 3),
        ("service.pipelines", 0),  # a package entry is not a name prefix
        ("service.admin.routes", 4),
        ("service.runtime", 5),
        ("service.cli_send", 6),
        ("service.dev.devmode", 6),
    ],
)
def test_layer_of(module: str, layer: int) -> None:
    assert layer_of(module) == layer


@pytest.mark.parametrize(
    ("graph", "upward"),
    [
        ({"service.delivery.lanes": frozenset({"service.events"})}, []),
        ({"service.ledger.base": frozenset({"service.platforms.base"})}, []),  # same layer
        (
            {"service.events": frozenset({"service.delivery.lanes"})},
            ["service.events (vocabulary) imports service.delivery.lanes (delivery)"],
        ),
        (
            {"service.platforms.nice_cxone": frozenset({"service.pipeline"})},
            [
                "service.platforms.nice_cxone (platforms and the ledger) imports "
                "service.pipeline (the engine)"
            ],
        ),
        (
            {"service.delivery.lanes": frozenset({"service.admin.context", "service.merge"})},
            ["service.delivery.lanes (delivery) imports service.admin.context (the HTTP surface)"],
        ),
    ],
)
def test_upward_imports(graph: Graph, upward: list[str]) -> None:
    assert upward_imports(graph) == upward


@pytest.mark.parametrize(
    ("graph", "found"),
    [
        ({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}, []),
        ({"a": frozenset({"b"}), "b": frozenset({"a"})}, [["a", "b", "a"]]),
        (
            {
                "a": frozenset({"b"}),
                "b": frozenset({"c"}),
                "c": frozenset({"a", "d"}),
                "d": frozenset(),
            },
            [["a", "b", "c", "a"]],
        ),
        (
            {
                "a": frozenset({"b"}),
                "b": frozenset({"a"}),
                "x": frozenset({"y"}),
                "y": frozenset({"x"}),
            },
            [["a", "b", "a"], ["x", "y", "x"]],
        ),
    ],
)
def test_cycles(graph: Graph, found: list[list[str]]) -> None:
    assert sorted(cycles(graph)) == found


def test_import_graph_reads_every_kind_of_import(tmp_path: Path) -> None:
    """Module level, inside a function, relative, and a name from a package or a module; not
    under ``TYPE_CHECKING``, and nothing outside the package."""
    package = tmp_path / "service"
    (package / "sub").mkdir(parents=True)
    sources = {
        "__init__.py": "",
        "low.py": "import json\n",
        "high.py": "",
        "typed.py": "",
        "sub/__init__.py": "from .inner import thing\n",
        "sub/inner.py": "thing = 1\n",
        "user.py": (
            "from typing import TYPE_CHECKING\n"
            "import service.low\n"
            "from service.sub import inner\n"
            "from . import sub\n"
            "if TYPE_CHECKING:\n"
            "    from service import typed\n"
            "else:\n"
            "    pass\n"
            "def late() -> None:\n"
            "    from service.high import x\n"
        ),
    }
    for name, text in sources.items():
        (package / name).write_text(text, encoding="utf-8")
    graph = import_graph(package)
    assert graph["service.user"] == {
        "service.low",
        "service.sub.inner",
        "service.sub",
        "service.high",
    }
    assert graph["service.sub"] == {"service.sub.inner"}
    assert graph["service.low"] == frozenset()


def test_a_deliberate_upward_import_fails(tmp_path: Path) -> None:
    """The whole check on a small tree: a vocabulary module that reaches up into delivery."""
    package = tmp_path / "service"
    (package / "delivery").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "delivery" / "__init__.py").write_text("", encoding="utf-8")
    (package / "delivery" / "lanes.py").write_text("from service import merge\n", "utf-8")
    (package / "merge.py").write_text(
        "def f() -> None:\n    import service.delivery.lanes\n", "utf-8"
    )
    graph = import_graph(package)
    assert upward_imports(graph) == [
        "service.merge (vocabulary) imports service.delivery.lanes (delivery)"
    ]
    assert cycles(graph) == [["service.delivery.lanes", "service.merge", "service.delivery.lanes"]]
