"""The fieldsV1 encoding of field sets, with one shared copy of each tree the store keeps.

``metadata.managedFields`` is half of what the embedded cluster keeps in memory
(issue 14: 44.5 of 85 MiB at 1,000 Kustomizations) and its encoding and
decoding run on every write. Yet the trees repeat: the 1,000 Deployments of
Flux's benchmark carry the same field sets, and an object's versions in the
watch history mostly carry the ones of the version before. So:

- :func:`to_fields_v1` builds each tree node once and hash-conses it: equal
  subtrees (down to the empty leaf ``{}``) are the same dict, within a tree,
  across managers and across objects; a field set already encoded is looked
  up, not rebuilt;
- :func:`from_fields_v1` knows the field set of every tree it built, so
  reading the entries of a stored object back costs a set copy.

The shared trees must never be changed in place. Nothing does: stored objects
are immutable (each write stores a new one, reads get copies or read-only
views, see ``Cluster.served_view``), and a tree a client sends is a fresh
value of its own. The tables are bounded; past the bound they start over,
which only costs sharing between the trees built before and after.
"""

from __future__ import annotations

import json
from typing import Any

from sluice.apiserver.apply.fieldsets import Path, canonical_json, element_key

__all__ = ["from_fields_v1", "to_fields_v1"]

Tree = dict[str, Any]

# Distinct nodes kept before the tables start over (about 100 bytes each).
_LIMIT = 200_000
# Node by (element, id(child)) pairs; a node holds its children, so their ids stay theirs.
_nodes: dict[tuple[tuple[str, int], ...], Tree] = {}
# The tree of a field set, and the field set of a tree built here (by id; the value
# holds the tree, so the id cannot be reused while it is in the table).
_by_paths: dict[frozenset[Path], Tree] = {}
_paths_of: dict[int, tuple[Tree, frozenset[Path]]] = {}


def _forget_all() -> None:
    _nodes.clear()
    _by_paths.clear()
    _paths_of.clear()


def to_fields_v1(paths: set[Path] | frozenset[Path]) -> Tree:
    """The fieldsV1 JSON of a field set, e.g. ``{"f:data": {".": {}, "f:a": {}}}``.

    A path that is a member and also has members below it gets a ``.`` entry.
    The tree returned is shared (see the module's docstring): read it, copy it
    before any change.
    """
    key = frozenset(paths)
    known = _by_paths.get(key)
    if known is not None:
        return known
    if len(_nodes) > _LIMIT:
        _forget_all()
    trie: dict[str, Any] = {}
    for path in key:
        children = trie
        for depth, element in enumerate(path):
            node = children.setdefault(element, [False, {}])
            if depth == len(path) - 1:
                node[0] = True
            children = node[1]

    def emit(children: dict[str, Any]) -> Tree:
        items: list[tuple[str, Tree]] = []
        for element in sorted(children, key=element_key):
            member, below = children[element]
            body = emit(below)
            if member and below:
                body = _node([(".", _node([])), *body.items()])
            items.append((element, body))
        return _node(items)

    tree = emit(trie)
    _by_paths[key] = tree
    _paths_of[id(tree)] = (tree, key)
    return tree


def _node(items: list[tuple[str, Tree]]) -> Tree:
    ident = tuple((element, id(child)) for element, child in items)
    node = _nodes.get(ident)
    if node is None:
        node = dict(items)
        _nodes[ident] = node
    return node


def from_fields_v1(fields_v1: Tree) -> set[Path]:
    """The field set a fieldsV1 JSON object encodes; ValueError when malformed."""
    known = _paths_of.get(id(fields_v1))
    if known is not None and known[0] is fields_v1:
        return set(known[1])
    out: set[Path] = set()

    def walk(node: Tree, prefix: Path) -> None:
        for key, child in node.items():
            if not isinstance(child, dict):
                raise ValueError(f"fieldsV1 entry {key!r} must be an object")
            if key == ".":
                if prefix:
                    out.add(prefix)
                continue
            path = (*prefix, _normalize_element(key))
            if child:
                walk(child, path)
            else:
                out.add(path)

    walk(fields_v1, ())
    return out


def _normalize_element(element: str) -> str:
    kind, body = element[:2], element[2:]
    if kind == "f:":
        return element
    if kind in ("k:", "v:"):
        value = json.loads(body)
        if kind == "k:" and not isinstance(value, dict):
            raise ValueError(f"a key element must hold a JSON object: {element!r}")
        return kind + canonical_json(value)
    if kind == "i:" and body.lstrip("-").isdigit():
        return f"i:{int(body)}"
    raise ValueError(f"unknown path element {element!r}")
