"""``configMapGenerator``, ``secretGenerator`` and the name-suffix hash.

Data comes from ``envs`` files (``KEY=VALUE`` lines), then ``literals``
(``key=value``, surrounding quotes dropped), then ``files`` (``path`` or
``key=path``), as kustomize reads them; a repeated key is an error. Values
that are not UTF-8 go to ``binaryData``. Secrets are base64-encoded and typed
``Opaque`` unless told otherwise. An env line with a bare ``KEY`` takes its
value from the process environment in kustomize; here it is empty instead, so
that a build never leaks the controller's environment into the cluster.

The hash suffix is computed exactly as kustomize does: SHA-256 over the JSON
of kind, an (always empty) name, data (and binaryData/type/stringData), first ten hex digits
with ``0 1 3 a e`` mapped to ``g h k m t``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .errors import GeneratorError, IdConflict
from .loader import Loader
from .resources import GeneratorInfo, ResId, ResMap, Resource

_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME_RE = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _remove_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _env_pairs(text: str, display: str) -> list[tuple[str, str]]:
    pairs = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.lstrip("\ufeff") if number == 0 else raw
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not _ENV_NAME_RE.match(key):
            raise GeneratorError(f"{key!r} is not a valid key name", path=display)
        pairs.append((key, value if sep else ""))
    return pairs


def _collect(
    entry: dict[str, Any], loader: Loader, base: Path, source: Path, field: str
) -> list[tuple[str, bytes | str]]:
    pairs: list[tuple[str, bytes | str]] = []
    envs = list(entry.get("envs") or [])
    if entry.get("env"):
        envs.append(entry["env"])
    for env in envs:
        path = loader.resolve(base, str(env), field=f"{field}.envs", source=source)
        pairs.extend(_env_pairs(loader.read_text(path), loader.display(path)))
    for literal in entry.get("literals") or []:
        key, sep, value = str(literal).partition("=")
        if not sep:
            raise GeneratorError(
                f"{field}: invalid literal source {literal!r}, expected key=value",
                path=loader.display(source),
            )
        pairs.append((key, _remove_quotes(value)))
    for item in entry.get("files") or []:
        text = str(item)
        key, sep, rel = text.partition("=")
        if not sep:
            key, rel = Path(text).name, text
        elif not key:
            raise GeneratorError(
                f"{field}: key names or file paths cannot be empty: {text!r}",
                path=loader.display(source),
            )
        path = loader.resolve(base, rel, field=f"{field}.files", source=source)
        if path.is_dir():
            raise GeneratorError(
                f"{field}: file sources must be files, {rel!r} is a directory",
                path=loader.display(source),
            )
        pairs.append((key, loader.read_bytes(path)))
    return pairs


def _data_maps(
    pairs: list[tuple[str, bytes | str]], name: str, kind: str, display: str
) -> tuple[dict[str, str], dict[str, str]]:
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, value in pairs:
        if not _KEY_RE.match(key):
            raise GeneratorError(
                f"{kind.lower()} {name} illegal key {key!r}: a valid config key must consist "
                "of alphanumeric characters, '-', '_' or '.'",
                path=display,
            )
        if key in data or key in binary:
            raise GeneratorError(
                f'{kind.lower()} {name} illegal repeated key "{key}"', path=display
            )
        if isinstance(value, bytes):
            try:
                data[key] = value.decode("utf-8")
            except UnicodeDecodeError:
                binary[key] = base64.b64encode(value).decode()
        else:
            data[key] = value
    return data, binary


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (value or {}).items()}


def make_generated(
    kind: str,
    entry: dict[str, Any],
    options: dict[str, Any],
    loader: Loader,
    base: Path,
    source: Path,
) -> Resource:
    field = "configMapGenerator" if kind == "ConfigMap" else "secretGenerator"
    display = loader.display(source)
    name = entry.get("name")
    if not name:
        raise GeneratorError(f"{field}: a generator needs a name", path=display)
    name = str(name)
    pairs = _collect(entry, loader, base, source, f"{field}[{name}]")
    data, binary = _data_maps(pairs, name, kind, display)
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if entry.get("namespace"):
        obj["metadata"]["namespace"] = str(entry["namespace"])
    local = entry.get("options") or {}
    labels = {**_string_map(options.get("labels")), **_string_map(local.get("labels"))}
    annotations = {
        **_string_map(options.get("annotations")),
        **_string_map(local.get("annotations")),
    }
    if labels:
        obj["metadata"]["labels"] = labels
    if annotations:
        obj["metadata"]["annotations"] = annotations
    if kind == "Secret":
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        encoded.update(binary)
        if encoded:
            obj["data"] = encoded
        obj["type"] = str(entry.get("type") or "Opaque")
    else:
        if data:
            obj["data"] = data
        if binary:
            obj["binaryData"] = binary
    if local.get("immutable") or options.get("immutable"):
        obj["immutable"] = True
    # A local ``false`` cannot re-enable a hash the global options disabled: kustomize
    # merges the two flags with a logical or.
    disable = bool(local.get("disableNameSuffixHash")) or bool(options.get("disableNameSuffixHash"))
    behavior = str(entry.get("behavior") or "create")
    if behavior not in ("create", "merge", "replace"):
        raise GeneratorError(f"{field}[{name}]: unknown behavior {behavior!r}", path=display)
    return Resource(obj, display, generated=GeneratorInfo(behavior, not bool(disable)))


def absorb(resources: ResMap, new: Resource) -> None:
    """Adds a generated object, or merges/replaces the one it names (``behavior``)."""
    assert new.generated is not None
    rid = new.cur_id()
    matches = resources.by_any_id(rid)
    behavior = new.generated.behavior
    if not matches:
        if behavior in ("merge", "replace"):
            raise GeneratorError(
                f"id {rid.describe()} does not exist; cannot merge or replace", path=new.source
            )
        resources.append(new)
        return
    if len(matches) > 1:
        raise IdConflict(f"found multiple objects that could accept merge of {rid.describe()}")
    old = matches[0]
    if behavior == "create":
        raise IdConflict(
            f"id {rid.describe()} exists; behavior must be merge or replace", path=new.source
        )
    merged = new.copy()
    meta = merged.metadata
    labels = {**old.labels(), **merged.labels()}
    annotations = {**old.annotations(), **merged.annotations()}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    meta["name"] = old.name
    if old.namespace:
        meta["namespace"] = old.namespace
    else:
        meta.pop("namespace", None)
    if behavior == "merge":
        for field in ("data", "binaryData"):
            combined = {**(old.obj.get(field) or {}), **(merged.obj.get(field) or {})}
            if combined:
                merged.obj[field] = combined
    merged.prev_ids = list(old.prev_ids)
    merged.generated = GeneratorInfo(
        behavior, (old.generated.hash_suffix if old.generated else False)
    )
    if new.generated.hash_suffix is False:
        merged.generated.hash_suffix = False
    resources.replace(old, merged)


def _go_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # Go's encoder escapes HTML-significant characters and the JS line separators.
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def content_hash(res: Resource) -> str:
    """kustomize's name-suffix hash of a ConfigMap or Secret."""
    obj = res.obj
    # kustomize looks the name up with a path that never matches, so every hash is
    # computed with an empty name; matching that keeps suffixes identical.
    name = ""

    def field(name: str) -> Any:
        value = obj.get(name)
        return "" if value is None else value

    if res.kind == "ConfigMap":
        encoded: dict[str, Any] = {"kind": "ConfigMap", "name": name, "data": field("data")}
        if isinstance(obj.get("binaryData"), dict):
            encoded["binaryData"] = obj["binaryData"]
    elif res.kind == "Secret":
        encoded = {
            "kind": "Secret",
            "type": field("type"),
            "name": name,
            "data": field("data"),
        }
        if isinstance(obj.get("stringData"), dict):
            encoded["stringData"] = obj["stringData"]
    else:
        encoded = obj
    digest = hashlib.sha256(_go_json(encoded).encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def add_hash_suffixes(resources: ResMap) -> None:
    for res in resources:
        if res.generated and res.generated.hash_suffix:
            res.store_previous_id()
            res.set_name(f"{res.name}-{content_hash(res)}")


def generated_ids(resources: ResMap) -> list[ResId]:
    return [r.cur_id() for r in resources if r.generated]
