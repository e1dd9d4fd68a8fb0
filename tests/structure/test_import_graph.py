"""No import circles in ``sluice``: every module's imports, function-level ones included.

A circle makes start-up order matter (a half-initialised module hands out
names it has not defined yet) and glues the modules on it into one piece
that cannot be moved, tested or split on its own. A function-level import
only hides a circle from the interpreter; it is still one. The graph is
grimp's (the engine under import-linter), built from the source without
importing it: it sees imports inside functions and under ``TYPE_CHECKING``.

The failure message lists each circle as its strongly connected modules
and the import lines that tie them, so that whoever adds one sees where.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import grimp
import pytest


def strongly_connected(nodes: Iterable[str],
                       edges: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """Tarjan's components of more than one node, or of a node importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        # Iterative, so that a long chain of imports cannot hit the recursion limit.
        work: list[tuple[str, list[str]]] = [(root, sorted(edges(root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges(nxt))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges(node):
                    found.append(sorted(component))
    return found


def import_cycles(package: str, cache_dir: Path) -> list[str]:
    """Each circle of `package` as text: its modules, then the imports that tie them."""
    graph = grimp.build_graph(package, cache_dir=str(cache_dir))
    reports = []
    for component in strongly_connected(graph.modules, graph.find_modules_directly_imported_by):
        members = set(component)
        lines = [" <-> ".join(component)]
        for importer in component:
            for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    lines.append(f"    {importer}:{detail['line_number']}: "
                                 f"{detail['line_contents']}")
        reports.append("\n".join(lines))
    return reports


def test_sluice_has_no_import_cycles(tmp_path: Path) -> None:
    cycles = import_cycles("sluice", tmp_path)
    assert not cycles, "import cycles in sluice:\n" + "\n".join(cycles)


@pytest.fixture
def tiny_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package whose one circle is closed by an import inside a function."""
    root = tmp_path / "src" / "circles_probe"
    root.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from circles_probe import b\n")
    (root / "b.py").write_text("def late():\n    from circles_probe.a import b\n    return b\n")
    (root / "c.py").write_text("import circles_probe.a\n")
    monkeypatch.syspath_prepend(str(root.parent))
    yield root
    sys.modules.pop("circles_probe", None)


def test_a_circle_closed_inside_a_function_is_reported(tiny_package: Path,
                                                        tmp_path: Path) -> None:
    # The check above would pass vacuously if grimp skipped function bodies.
    cycles = import_cycles("circles_probe", tmp_path / "cache")
    assert cycles == [
        "circles_probe.a <-> circles_probe.b\n"
        "    circles_probe.a:1: from circles_probe import b\n"
        "    circles_probe.b:2: from circles_probe.a import b"
    ]
