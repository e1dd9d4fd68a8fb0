"""The delivery graph: sources -> Kustomizations/HelmReleases -> dependsOn, as inline SVG.

Edges are the references Flux follows: a Kustomization's `sourceRef`, a
HelmRelease's chart source (`spec.chart.spec.sourceRef`) or `chartRef`, a
HelmChart's `sourceRef`, an ImagePolicy's `imageRepositoryRef`, an
ImageUpdateAutomation's `sourceRef`, and `dependsOn` between appliers.
References default to the referrer's namespace, as in Flux.

Layout is done here, in Python, so that no JavaScript library is needed:
each node goes in the column of its longest path from a node with no inbound
edge (sources first), nodes of a column are sorted by kind and name, and
edges are drawn as curves from the right of one box to the left of the next.
A node's colour is its state (see `summary`); a blocked node's tooltip says
which dependency holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sluice.ui.summary import summarize

__all__ = ["Edge", "Graph", "Node", "build_graph", "render_svg"]

NodeKey = tuple[str, str, str]

BOX_W, BOX_H, COL_GAP, ROW_GAP, MARGIN = 210, 46, 70, 18, 12


@dataclass
class Node:
    key: NodeKey
    state: str
    message: str
    column: int = 0
    row: int = 0


@dataclass(frozen=True)
class Edge:
    source: NodeKey
    target: NodeKey
    label: str  # "source" or "dependsOn"


@dataclass
class Graph:
    nodes: dict[NodeKey, Node]
    edges: list[Edge]


def _ref(ref: Mapping[str, Any] | None, namespace: str, default_kind: str = "") -> NodeKey | None:
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    kind = str(ref.get("kind") or default_kind)
    return (kind, str(ref.get("namespace") or namespace), str(ref["name"]))


def _references(kind: str, obj: Mapping[str, Any]) -> Iterable[tuple[NodeKey, str]]:
    spec = obj.get("spec") or {}
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    refs: list[tuple[NodeKey | None, str]] = []
    if kind in ("Kustomization", "HelmChart", "ImageUpdateAutomation"):
        refs.append((_ref(spec.get("sourceRef"), ns, "GitRepository"), "source"))
    if kind == "HelmRelease":
        chart_spec = (spec.get("chart") or {}).get("spec") or {}
        refs.append((_ref(chart_spec.get("sourceRef"), ns, "HelmRepository"), "source"))
        refs.append((_ref(spec.get("chartRef"), ns), "source"))
    if kind == "ImagePolicy":
        refs.append((_ref(spec.get("imageRepositoryRef"), ns, "ImageRepository"), "source"))
    if kind in ("Kustomization", "HelmRelease"):
        for dep in spec.get("dependsOn") or []:
            refs.append((_ref(dep, ns, kind), "dependsOn"))
    return [(r, label) for r, label in refs if r is not None]


def build_graph(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> Graph:
    nodes: dict[NodeKey, Node] = {}
    edges: list[Edge] = []
    for kind, obj in objects:
        meta = obj.get("metadata") or {}
        key = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        s = summarize(obj)
        nodes[key] = Node(key, s.state, s.message)
        for target, label in _references(kind, obj):
            # The referenced object is upstream: the edge goes from it to the referrer.
            edges.append(Edge(target, key, label))
    for edge in edges:
        if edge.source not in nodes:
            nodes[edge.source] = Node(edge.source, "unknown", "not found")
    _layout(nodes, edges)
    return Graph(nodes, edges)


def _layout(nodes: dict[NodeKey, Node], edges: list[Edge]) -> None:
    inbound: dict[NodeKey, list[NodeKey]] = {k: [] for k in nodes}
    for e in edges:
        inbound[e.target].append(e.source)
    depth: dict[NodeKey, int] = {}

    def column(key: NodeKey, visiting: frozenset[NodeKey]) -> int:
        if key in depth:
            return depth[key]
        if key in visiting:  # a dependsOn cycle: Flux reports it; draw it flat
            return 0
        parents = inbound[key]
        value = 1 + max((column(p, visiting | {key}) for p in parents), default=-1)
        depth[key] = value
        return value

    for key in nodes:
        column(key, frozenset())
    rows: dict[int, int] = {}
    for key in sorted(nodes, key=lambda k: (depth[k], k)):
        node = nodes[key]
        node.column = depth[key]
        node.row = rows.get(node.column, 0)
        rows[node.column] = node.row + 1


def _xy(node: Node) -> tuple[int, int]:
    return (MARGIN + node.column * (BOX_W + COL_GAP), MARGIN + node.row * (BOX_H + ROW_GAP))


def _url(key: NodeKey) -> str:
    kind, ns, name = key
    return f"/object/{kind}/{ns}/{name}"


def render_svg(graph: Graph) -> str:
    """The graph as an `<svg>` element (no scripts, no inline styles: CSP-safe)."""
    if not graph.nodes:
        return '<p class="empty">No Flux objects yet.</p>'
    width = MARGIN * 2 + (max(n.column for n in graph.nodes.values()) + 1) * (BOX_W + COL_GAP)
    height = MARGIN * 2 + (max(n.row for n in graph.nodes.values()) + 1) * (BOX_H + ROW_GAP)
    parts = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="delivery graph">']
    for e in graph.edges:
        sx, sy = _xy(graph.nodes[e.source])
        tx, ty = _xy(graph.nodes[e.target])
        x1, y1, x2, y2 = sx + BOX_W, sy + BOX_H // 2, tx, ty + BOX_H // 2
        mid = (x1 + x2) // 2
        parts.append(f'<path class="edge {e.label}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} '
                     f'{x2},{y2}"/>')
    for node in sorted(graph.nodes.values(), key=lambda n: n.key):
        x, y = _xy(node)
        kind, ns, name = node.key
        title = f"{kind} {ns}/{name}: {node.state}" + (f": {node.message}" if node.message else "")
        label = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<a href={quoteattr(_url(node.key))} class="node state-{node.state}" '
            f'data-key={quoteattr("/".join(node.key))}>'
            f"<title>{escape(title)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + 18}" class="kind">{escape(kind)}</text>'
            f'<text x="{x + 10}" y="{y + 36}" class="name">{escape(ns)}/{escape(label)}</text>'
            "</a>")
    parts.append("</svg>")
    return "".join(parts)
