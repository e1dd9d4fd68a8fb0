"""The Setters strategy: rewrite ``$imagepolicy``-marked YAML values, byte for byte.

A marker is a YAML line comment holding JSON, right after a scalar value::

    image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
    tag: "1.0.0"  # {"$imagepolicy": "flux-system:app:tag"}

Spaces or tabs may separate the value and the comment, the comment may
start with several ``#`` and the JSON may hold any whitespace, as kyaml
reads it (`_marker`, `_parseable`).

``<ns>:<name>`` sets the policy's ``latestRef`` as ``name:tag[@digest]``;
the suffixes ``:tag``, ``:name`` and ``:digest`` set one part (the digest is
empty when none is reflected). Markers naming a policy that is not in scope
(other namespace, not selected, no ``latestRef`` yet) are ignored, as in Flux.

Files considered are Flux's: regular files under the update path named
``*.yaml``, ``*.yml`` or ``Kustomization``, whose bytes contain the literal
``"$imagepolicy"``; files that do not parse as YAML are skipped. Unlike
Flux (kyaml re-serialises a changed file, and top-level sequences are
skipped, image-automation-controller#68/#624), the new value is *spliced*
into the original text at the parser's marks: every other byte of the file
(comments, quotes, indentation, CRLF line ends, key order) stays as it was,
and values inside top-level sequences are updated too. Only files with a
changed value are written. Symbolic links and ``.git`` are never followed,
so an update cannot write outside the checkout.

A quoted value keeps its quotes; a plain value stays plain unless the new
text would read back as something else than that string (``2.10`` is a
float, ``yes`` a bool in YAML 1.1, ``a: b`` a mapping), in which case it is
double-quoted, as kyaml does for setters typed ``string``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sluice.api.image import ImageRef
from sluice.controllers.image_automation.errors import UpdateError

__all__ = [
    "MARKER",
    "Change",
    "ObjectId",
    "Result",
    "apply_setters",
    "setter_values",
]

MARKER = "$imagepolicy"
_TOKEN = f'"{MARKER}"'.encode()
_COMMENT = re.compile(r"[ \t]+#(?P<text>[^\r\n]*)")
_AFTER_INDENT = re.compile(r"(?m)^([ \t]*)([^\n]*)$")
# Plain scalars that stay plain: no indicator first, no ": " or " #" inside.
_PLAIN_SAFE = re.compile(r"[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\r\n]*")


@dataclass(frozen=True, order=True)
class ObjectId:
    """The Kubernetes object a value belongs to (empty fields for plain YAML).

    Field order is Go's ``ObjectIdentifier{ResourceIdentifier{TypeMeta{
    APIVersion, Kind}, NameMeta{Name, Namespace}}}``, which is also the order
    Go's ``range`` visits map keys of this type in.
    """

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""

    def go_string(self) -> str:
        """How Go's ``fmt`` prints the identifier (``{{ $resource }}`` in a template)."""
        return f"{{{{{{{self.api_version} {self.kind}}} {{{self.name} {self.namespace}}}}}}}"


@dataclass(frozen=True)
class Change:
    """One value changed by one setter."""

    old_value: str
    new_value: str
    setter: str


@dataclass
class Result:
    """Every change, by file (relative to the update path) and object.

    ``images`` maps each setter that changed something to the policy's
    full image reference, for the older ``.Updated`` template data.
    """

    file_changes: dict[str, dict[ObjectId, list[Change]]] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)

    def add(self, file: str, obj: ObjectId, change: Change, image: str) -> None:
        self.file_changes.setdefault(file, {}).setdefault(obj, []).append(change)
        self.images[change.setter] = image

    def __bool__(self) -> bool:
        return bool(self.file_changes)

    def changes(self) -> list[Change]:
        """All changes, de-duplicated, in file order (Flux's ``.Changed.Changes``)."""
        seen: list[Change] = []
        for file in sorted(self.file_changes):
            for obj in sorted(self.file_changes[file]):
                for change in self.file_changes[file][obj]:
                    if change not in seen:
                        seen.append(change)
        return seen

    def objects(self) -> dict[ObjectId, list[Change]]:
        """Changes by object, merged across files (``.Changed.Objects``, Flux >= 1.2)."""
        merged: dict[ObjectId, list[Change]] = {}
        for file in sorted(self.file_changes):
            for obj, changes in self.file_changes[file].items():
                merged.setdefault(obj, []).extend(changes)
        return dict(sorted(merged.items()))

    def files(self) -> list[str]:
        return sorted(self.file_changes)


def setter_values(policies: Mapping[tuple[str, str], ImageRef]) -> dict[str, tuple[str, str]]:
    """Setter name -> (value, the policy's image reference), for policies in scope."""
    values: dict[str, tuple[str, str]] = {}
    for (namespace, name), ref in policies.items():
        image = str(ref)
        base = f"{namespace}:{name}"
        values[base] = (image, image)
        values[f"{base}:tag"] = (ref.tag, image)
        values[f"{base}:name"] = (ref.name, image)
        values[f"{base}:digest"] = (ref.digest or "", image)
    return values


def apply_setters(root: Path, path: str | None,
                  policies: Mapping[tuple[str, str], ImageRef]) -> Result:
    """Rewrite the marked values under ``root``/``path``; blocking (run it in a worker).

    Raises:
        UpdateError: ``path`` is missing or not a directory.
    """
    base = _update_root(root, path)
    setters = setter_values(policies)
    result = Result()
    if not setters:
        return result
    for file in _candidates(base):
        try:
            raw = file.read_bytes()
        except OSError:
            continue
        if _TOKEN not in raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        rel = file.relative_to(base).as_posix()
        updated = _update_text(text, rel, setters, result)
        if updated is not None and updated != text:
            file.write_bytes(updated.encode("utf-8"))
    return result


def _update_root(root: Path, path: str | None) -> Path:
    """``root``/``path`` clamped inside ``root`` (Flux's securejoin), which must be a directory."""
    parts = [p for p in Path(path or "").parts if p not in ("/", "")]
    clean: list[str] = []
    for part in parts:
        if part == "..":
            if clean:
                clean.pop()
        elif part != ".":
            clean.append(part)
    base = root.joinpath(*clean)
    if base.is_symlink() or not base.is_dir():
        raise UpdateError(f"update path '{path}' is not a directory in the repository")
    return base


def _candidates(base: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames
                             if d != ".git" and not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            if not (name.endswith((".yaml", ".yml")) or name == "Kustomization"):
                continue
            file = Path(dirpath, name)
            if not file.is_symlink() and file.is_file():
                yield file


def _update_text(text: str, rel: str, setters: Mapping[str, tuple[str, str]],
                 result: Result) -> str | None:
    """The text with marked values replaced (None if it does not parse)."""
    try:
        documents = list(YAML(typ="rt").compose_all(_parseable(text)))
    except YAMLError:
        return None
    edits: list[tuple[int, int, str]] = []
    pending: list[tuple[ObjectId, Change, str]] = []
    for doc in documents:
        if doc is None:
            continue
        obj = _identify(doc)
        for node in _value_scalars(doc):
            setter = _marker(text, node)
            if setter is None or setter not in setters:
                continue
            new, image = setters[setter]
            old = str(node.value)
            if old == new:
                continue
            span = _value_span(text, node)
            if span is None:
                continue
            edits.append((*span, _format(new, node.style)))
            pending.append((obj, Change(old, new, setter), image))
    if not edits:
        return text
    for obj, change, image in pending:
        result.add(rel, obj, change, image)
    out = text
    for start, end, replacement in sorted(edits, reverse=True):
        out = out[:start] + replacement + out[end:]
    return out


def _parseable(text: str) -> str:
    """`text` with each tab after a line's first non-blank character read as a space.

    YAML 1.2 (Go's yaml.v3, which Flux uses) accepts tabs as separation
    (``image: app:1.0<TAB># {"$imagepolicy": ...}``, ``key:<TAB>value``);
    ruamel.yaml refuses the whole file. One character for one keeps every
    parser mark an index into the original text, which is what is spliced;
    tabs that indent a line stay, and stay an error, as in Go.
    """
    if "\t" not in text:
        return text
    return _AFTER_INDENT.sub(lambda m: m.group(1) + m.group(2).replace("\t", " "), text)


def _value_scalars(node: Node) -> Iterator[ScalarNode]:
    """Scalars in value position (mapping values, sequence items), each once."""
    seen: set[int] = set()
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue  # an alias: its anchor was (or will be) visited
        seen.add(id(current))
        if isinstance(current, ScalarNode):
            yield current
        elif isinstance(current, MappingNode):
            stack.extend(value for _, value in reversed(current.value))
        elif isinstance(current, SequenceNode):
            stack.extend(reversed(current.value))


def _marker(text: str, node: ScalarNode) -> str | None:
    """The setter named by the line comment right after ``node``, if any."""
    m = _COMMENT.match(text, node.end_mark.index)
    if m is None:
        return None
    # kyaml's reading: every leading '#' dropped, then the rest must be a
    # JSON object of strings (Go's json.Unmarshal into map[string]string,
    # which allows whitespace around it and nothing else).
    body = m.group("text").lstrip("#").strip(" \t\r\n")
    if not body.startswith("{"):
        return None
    try:
        meta = json.loads(body)
    except ValueError:
        return None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        return None
    setter = meta.get(MARKER)
    return setter or None


def _value_span(text: str, node: ScalarNode) -> tuple[int, int] | None:
    """Where the scalar's own text is (after any tag or anchor); None for block scalars."""
    if node.style in ("|", ">"):
        return None
    start, end = node.start_mark.index, node.end_mark.index
    while start < end and text[start] in "!&":
        # skip `!!str ` / `&anchor ` before the value
        space = re.compile(r"[^ \t\r\n]*[ \t\r\n]+").match(text, start, end)
        if space is None:
            return None
        start = space.end()
    # An empty plain value (`image: # {...}`) has no text to replace.
    return (start, end) if start < end else None


def _format(value: str, style: str | None) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _plain_ok(value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return value


def _plain_ok(value: str) -> bool:
    """Would ``value`` written plain read back as this same string (YAML 1.1 and 1.2)?"""
    if not value or not _PLAIN_SAFE.fullmatch(value) or value != value.strip():
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    try:
        return bool(pyyaml.safe_load(value) == value)
    except pyyaml.YAMLError:
        return False


def _identify(doc: Node) -> ObjectId:
    """apiVersion, kind, metadata.name/namespace of a document (empty when absent)."""
    if not isinstance(doc, MappingNode):
        return ObjectId()
    top = _scalar_fields(doc)
    meta = next((v for k, v in doc.value
                 if isinstance(k, ScalarNode) and k.value == "metadata"
                 and isinstance(v, MappingNode)), None)
    names = _scalar_fields(meta) if meta is not None else {}
    return ObjectId(top.get("apiVersion", ""), top.get("kind", ""),
                    names.get("name", ""), names.get("namespace", ""))


def _scalar_fields(node: MappingNode) -> dict[str, str]:
    return {str(k.value): str(v.value) for k, v in node.value
            if isinstance(k, ScalarNode) and isinstance(v, ScalarNode)}
