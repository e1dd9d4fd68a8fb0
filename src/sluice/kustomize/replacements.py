"""``replacements``: copy a field of one object into fields of others.

A source names one object (selector fields are regular expressions, as in
patch targets) and a ``fieldPath`` (default ``metadata.name``); each target
selects objects (minus ``reject``) and lists field paths. Paths are dotted,
``[name=web]`` picks a list element by field, a number picks by index, ``*``
fans out. ``options.delimiter``/``index`` read or write one part of a
delimited string; ``options.create`` creates missing fields.
"""

from __future__ import annotations

import copy
from typing import Any

from sluice.core.splitting import split_outside_brackets

from .decode import resolve_plain
from .errors import ReplacementError
from .resources import ResMap, Resource, select


def split_field_path(path: str) -> list[str]:
    """A dotted field path's steps; dots inside ``[name=a.b]`` do not cut, empty steps go."""
    return [p for p in split_outside_brackets(path, ".", "[", "]") if p]


def _match_item(item: Any, selector: str) -> bool:
    key, _, value = selector.partition("=")
    return isinstance(item, dict) and str(item.get(key)) == value


def _lookup(node: Any, parts: list[str]) -> list[Any]:
    if not parts:
        return [node]
    head, rest = parts[0], parts[1:]
    results: list[Any] = []
    if isinstance(node, list):
        if head.startswith("[") and head.endswith("]") and "=" in head:
            for item in node:
                if _match_item(item, head[1:-1]):
                    results.extend(_lookup(item, rest))
        elif head == "*":
            for item in node:
                results.extend(_lookup(item, rest))
        elif head.isdigit() and int(head) < len(node):
            results.extend(_lookup(node[int(head)], rest))
        return results
    if isinstance(node, dict):
        key = head[1:-1] if head.startswith("[") and head.endswith("]") else head
        if head == "*":
            for value in node.values():
                results.extend(_lookup(value, rest))
        elif key in node:
            results.extend(_lookup(node[key], rest))
    return results


def _set(node: Any, parts: list[str], value: Any, options: dict[str, Any], create: bool) -> int:
    """Sets every match of the path; returns how many places were set."""
    head, rest = parts[0], parts[1:]
    count = 0
    if isinstance(node, list):
        if head.startswith("[") and head.endswith("]") and "=" in head:
            matched = [i for i, item in enumerate(node) if _match_item(item, head[1:-1])]
            if not matched and create:
                key, _, val = head[1:-1].partition("=")
                node.append({key: val})
                matched = [len(node) - 1]
            indices = matched
        elif head == "*":
            indices = list(range(len(node)))
        elif head.isdigit():
            indices = [int(head)] if int(head) < len(node) else []
        else:
            return 0
        for i in indices:
            if not rest:
                node[i] = _combine(node[i], value, options)
                count += 1
            else:
                count += _set(node[i], rest, value, options, create)
        return count
    if not isinstance(node, dict):
        return 0
    key = head[1:-1] if head.startswith("[") and head.endswith("]") else head
    keys = list(node) if head == "*" else [key]
    for k in keys:
        if not rest:
            if k in node or create:
                node[k] = _combine(node.get(k), value, options, k in node)
                count += 1
            continue
        if k not in node or node[k] is None:
            if not create:
                continue
            nxt = rest[0]
            node[k] = [] if nxt.startswith("[") and "=" in nxt else {}
        count += _set(node[k], rest, value, options, create)
    return count


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _combine(old: Any, value: Any, options: dict[str, Any], exists: bool = True) -> Any:
    """The new value of a target field, typed as kyaml would leave it.

    kyaml copies only the text of a scalar into an existing scalar field, so the
    field keeps its type when it was a string and is re-read otherwise; a
    created field is re-read too (``"8080"`` lands as the number 8080).
    """
    is_scalar = not isinstance(value, (dict, list))
    if not is_scalar and not options.get("delimiter"):
        return copy.deepcopy(value)
    text = _text(value)
    delimiter = options.get("delimiter")
    if delimiter:
        index = int(options.get("index") or 0)
        parts = _text(old).split(str(delimiter)) if exists and old is not None else [""]
        if index < 0:
            parts.insert(0, text)
        elif index >= len(parts):
            parts.append(text)
        else:
            parts[index] = text
        text = str(delimiter).join(parts)
    if exists and isinstance(old, (dict, list)):
        return copy.deepcopy(value)
    if exists and isinstance(old, str):
        return text
    return resolve_plain(text) if text else text


def _source_value(resources: ResMap, spec: dict[str, Any], where: str) -> Any:
    matches = select(resources, spec)
    if len(matches) != 1:
        word = "multiple matches" if matches else "nothing selected"
        raise ReplacementError(f"{word} for replacement source {_describe(spec)}", path=where)
    field_path = str(spec.get("fieldPath") or "metadata.name")
    values = _lookup(matches[0].obj, split_field_path(field_path))
    if not values:
        raise ReplacementError(
            f"fieldPath `{field_path}` is missing for replacement source "
            f"{matches[0].cur_id().describe()}",
            path=where,
        )
    value = values[0]
    options = spec.get("options") or {}
    if options.get("delimiter"):
        pieces = str(value).split(str(options["delimiter"]))
        index = int(options.get("index") or 0)
        if index < 0 or index >= len(pieces):
            raise ReplacementError(
                f"options.index {index} is out of bounds for value {value!r}", path=where
            )
        value = pieces[index]
    return value


def _describe(spec: dict[str, Any]) -> str:
    keys = ("group", "version", "kind", "name", "namespace")
    return "[" + ", ".join(f"{k}={spec[k]}" for k in keys if spec.get(k)) + "]"


def _rejected(res: Resource, rejects: list[dict[str, Any]]) -> bool:
    return any(res in select(ResMap([res]), r) for r in rejects)


def apply_replacements(resources: ResMap, replacements: list[dict[str, Any]], where: str) -> None:
    for replacement in replacements:
        source = replacement.get("source")
        if not isinstance(source, dict):
            raise ReplacementError("a replacement needs a source", path=where)
        value = _source_value(resources, source, where)
        for target in replacement.get("targets") or []:
            selector = target.get("select")
            if not isinstance(selector, dict):
                raise ReplacementError("a replacement target needs select", path=where)
            options = target.get("options") or {}
            create = bool(options.get("create"))
            for res in select(resources, selector):
                if _rejected(res, target.get("reject") or []):
                    continue
                for field_path in target.get("fieldPaths") or ["metadata.name"]:
                    parts = split_field_path(str(field_path))
                    if not _set(res.obj, parts, value, options, create) and "*" not in parts:
                        raise ReplacementError(
                            f"unable to find field `{field_path}` in replacement target "
                            f"{res.cur_id().describe()}",
                            path=where,
                        )
