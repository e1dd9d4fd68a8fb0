"""Applying ``patches``, ``patchesStrategicMerge`` and ``patchesJson6902``.

A patch is a strategic-merge patch (one or more objects) or a JSON 6902
operation list, inline or in a file. Without a ``target`` a strategic-merge
patch applies to the object with its own group/version/kind/name/namespace
(matched against the object's current or earlier ids); with a ``target`` it
applies to every selected object and cannot rename it unless
``options.allowNameChange`` (or change its kind without ``allowKindChange``).
A patch that deletes the whole object (``$patch: delete``) removes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch  # type: ignore[import-untyped]
import yaml

from .decode import load_documents
from .errors import PatchError
from .loader import Loader
from .resources import ResId, ResMap, Resource, select, split_api_version
from .strategic import is_deleted, merge, schema_for


def _parse(text: str, where: str) -> list[Any]:
    try:
        return list(load_documents(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise PatchError(f"unable to parse patch: {exc}", path=where) from exc


def apply_smp(
    resources: ResMap,
    targets: list[Resource],
    patch: dict[str, Any],
    opts: dict[str, Any],
    where: str,
) -> None:
    for res in targets:
        name, namespace, kind = res.name, res.namespace, res.kind
        meta: dict[str, Any] = patch["metadata"] if isinstance(patch.get("metadata"), dict) else {}
        group, _ = split_api_version(res.api_version)
        merged = merge(res.obj, {**patch, "apiVersion": res.api_version}, schema_for(group, kind))
        if is_deleted(merged) or not merged:
            resources.remove(res)
            continue
        res.obj = merged
        if opts.get("allowNameChange") and meta.get("name"):
            name = str(meta["name"])
        if opts.get("allowKindChange") and patch.get("kind"):
            kind = str(patch["kind"])
        if name != res.name or kind != res.kind:
            res.store_previous_id()
        res.obj["kind"] = kind
        res.set_name(name)
        if namespace:
            res.set_namespace(namespace)
        elif isinstance(res.obj.get("metadata"), dict):
            res.obj["metadata"].pop("namespace", None)


def apply_json6902(targets: list[Resource], ops: list[Any], where: str) -> None:
    try:
        patch = jsonpatch.JsonPatch(ops)
    except Exception as exc:
        raise PatchError(f"invalid JSON patch: {exc}", path=where) from exc
    for res in targets:
        try:
            res.obj = patch.apply(res.obj)
        except Exception as exc:
            raise PatchError(
                f"unable to apply JSON patch to {res.cur_id().describe()}: {exc}", path=where
            ) from exc


def _is_json6902(docs: list[Any]) -> bool:
    return len(docs) == 1 and isinstance(docs[0], list)


def _patch_text(
    entry: dict[str, Any], loader: Loader, base: Path, source: Path, field: str
) -> tuple[str, str]:
    if entry.get("path") and entry.get("patch"):
        raise PatchError(
            f"{field}: patch and path can't be set at the same time", path=loader.display(source)
        )
    if entry.get("path"):
        path = loader.resolve(base, str(entry["path"]), field=field, source=source)
        return loader.read_text(path), loader.display(path)
    if entry.get("patch"):
        return str(entry["patch"]), loader.display(source)
    raise PatchError(f"{field}: must specify one of patch and path", path=loader.display(source))


def _by_id(resources: ResMap, patch: dict[str, Any], where: str) -> Resource:
    group, version = split_api_version(str(patch.get("apiVersion") or ""))
    meta: dict[str, Any] = patch["metadata"] if isinstance(patch.get("metadata"), dict) else {}
    rid = ResId(
        group,
        version,
        str(patch.get("kind") or ""),
        str(meta.get("name") or ""),
        str(meta.get("namespace") or ""),
    )
    matches = resources.by_any_id(rid)
    if len(matches) != 1:
        word = "multiple matches" if matches else "no matches"
        raise PatchError(
            f'no resource matches strategic merge patch "{rid.describe()}": '
            f"{word} for Id {rid.describe()}; failed to find unique target for patch "
            f"{rid.describe()}",
            path=where,
        )
    return matches[0]


def apply_patch_entry(
    resources: ResMap, entry: Any, loader: Loader, base: Path, source: Path
) -> None:
    """One entry of ``patches``."""
    if not isinstance(entry, dict):
        raise PatchError("patches entries must be maps", path=loader.display(source))
    text, where = _patch_text(entry, loader, base, source, "patches")
    docs = _parse(text, where)
    target = entry.get("target")
    opts = entry.get("options") or {}
    if _is_json6902(docs):
        if not isinstance(target, dict):
            raise PatchError("must specify a target for JSON patch", path=where)
        apply_json6902(select(resources, target), docs[0], where)
        return
    patches = [d for d in docs if d is not None]
    if not all(isinstance(d, dict) for d in patches):
        raise PatchError("unable to parse SM or JSON patch", path=where)
    if isinstance(target, dict):
        if len(patches) > 1:
            raise PatchError(
                "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field",
                path=where,
            )
        for patch in patches:
            apply_smp(resources, select(resources, target), patch, opts, where)
        return
    for patch in patches:
        apply_smp(resources, [_by_id(resources, patch, where)], patch, opts, where)


def apply_strategic_merge_entries(
    resources: ResMap, entries: list[Any], loader: Loader, base: Path, source: Path
) -> None:
    """``patchesStrategicMerge``: file paths or inline YAML, applied by id."""
    for entry in entries:
        text = str(entry)
        if "\n" in text or (":" in text and not text.strip().endswith((".yaml", ".yml", ".json"))):
            where = loader.display(source)
        else:
            path = loader.resolve(base, text, field="patchesStrategicMerge", source=source)
            text, where = loader.read_text(path), loader.display(path)
        for patch in _parse(text, where):
            if not isinstance(patch, dict):
                raise PatchError("a strategic merge patch must be a YAML map", path=where)
            apply_smp(resources, [_by_id(resources, patch, where)], patch, {}, where)


def apply_json6902_entries(
    resources: ResMap, entries: list[Any], loader: Loader, base: Path, source: Path
) -> None:
    """``patchesJson6902``: a target plus a JSON/YAML operation list."""
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("target"), dict):
            raise PatchError("patchesJson6902 entries need a target", path=loader.display(source))
        text, where = _patch_text(entry, loader, base, source, "patchesJson6902")
        docs = _parse(text, where)
        if not _is_json6902(docs):
            raise PatchError("expected a JSON 6902 operation list", path=where)
        apply_json6902(select(resources, entry["target"]), docs[0], where)
