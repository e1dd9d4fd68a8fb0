"""Server-side apply and the ``metadata.managedFields`` bookkeeping behind it.

Every write to the embedded cluster records which field manager set which
fields, in the shape Kubernetes uses (structured-merge-diff's "fieldsV1"), so
that ``kubectl apply --server-side``, ``kubectl get -o yaml --show-managed-fields``
and Flux-style controllers see the ownership a real API server would show:

* :func:`apply` serves ``application/apply-patch+yaml``: it merges the applied
  configuration into the live object, removes what the manager applied before
  but no longer applies (unless someone else owns it), and refuses with a 409
  naming each conflicting field when another manager owns a field the
  configuration changes, unless ``force`` moves the ownership;
* :func:`record_update` serves every other write (create, update, JSON, merge
  and strategic patches): the manager takes the fields whose values changed.

A field set is a Python ``set`` of paths; a path is a tuple of path elements
written as in fieldsV1: ``f:name`` for a map field, ``k:{"name":"app"}`` for an
item of a list keyed by its map keys, ``v:"value"`` for an item of a set and
``i:3`` for a positional item. Which lists and maps are granular comes from the
object's inlined OpenAPI schema (``x-kubernetes-list-type``, ``-list-map-keys``,
``-map-type``, or for built-ins ``x-kubernetes-patch-strategy`` and
``-patch-merge-key``); the walking itself lives in :mod:`.fieldsets`, the
fieldsV1 encoding (one shared copy of each tree) in :mod:`.fieldsv1`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sluice.apiserver.apply.fieldsets import (
    Path,
    compare,
    fields_of,
    merge_values,
    named_field_closure,
    path_order,
    path_text,
    remove_path,
    root_schema,
    tracked,
)
from sluice.apiserver.apply.fieldsv1 import from_fields_v1, to_fields_v1
from sluice.apiserver.errors import ApiError, BadRequest, Cause
from sluice.core.jsoncopy import json_copy

__all__ = [
    "Path",
    "apply",
    "fields_of",
    "from_fields_v1",
    "record_update",
    "to_fields_v1",
]

# Kubernetes folds the oldest Update entries into one per apiVersion past this many.
_MAX_UPDATE_MANAGERS = 10
_ANCIENT_MANAGER = "ancient-changes"
# Owner of everything in an object that existed before managedFields were kept.
_BEFORE_FIRST_APPLY = "before-first-apply"
# Fields set by the server, never removed by apply whatever the ownership says.
_PROTECTED: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",),
     ("f:metadata", "f:name"), ("f:metadata", "f:namespace")}
)
# Metadata a client cannot set through apply; the live values stay.
_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp",
                    "generation", "selfLink", "deletionTimestamp")


@dataclass
class _Entry:
    """One managedFields entry: a manager's field set for one operation and subresource."""

    manager: str
    operation: str
    api_version: str
    time: str | None
    subresource: str
    fields: set[Path] = field(default_factory=set)

    def ident(self) -> tuple[str, str, str, str]:
        # Appliers keep one entry whatever apiVersion they use; updaters get one per
        # apiVersion, as Kubernetes keys its entries.
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, self.subresource, version)

    def identifier_json(self) -> str:
        """The manager identifier Kubernetes sorts conflict messages by."""
        body: dict[str, str] = {}
        if self.manager:
            body["manager"] = self.manager
        body["operation"] = self.operation
        if self.operation != "Apply" and self.api_version:
            body["apiVersion"] = self.api_version
        if self.subresource:
            body["subresource"] = self.subresource
        return json.dumps(body, separators=(",", ":"))

    def describe(self) -> str:
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


# --- public entry points ------------------------------------------------------------------


def apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    force: bool,
    schema: dict[str, Any] | None,
    now: str,
    subresource: str = "",
    *,
    ignore_status: bool = True,
) -> dict[str, Any]:
    """Server-side apply ``config`` for ``manager`` onto ``live`` (None creates).

    Returns the object to store, with ``metadata.managedFields`` updated; neither
    input changes. ``ignore_status`` says the kind has a status subresource, so
    an apply to the main resource leaves ``status`` alone; ``subresource="status"``
    applies only the ``status`` part. Raises a 409 :class:`ApiError` listing the
    conflicts, or a 400 when the configuration carries ``metadata.managedFields``.
    """
    if not isinstance(config, dict):
        raise BadRequest("the applied configuration must be a JSON object")
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and config_meta.get("managedFields") is not None:
        raise BadRequest("metadata.managedFields must be nil")
    root = root_schema(schema)
    # Read only: the merge below shares its untouched parts, then is copied whole.
    current: dict[str, Any] = live if live is not None else {}
    entries = _decode_or_empty(current)
    if live is not None and not entries:
        # An object written before field tracking: whatever it holds belongs to a
        # pseudo-manager, so that applying over it still reports conflicts.
        baseline = _update_set(_creation_baseline(current), current, root, subresource, ignore_status)
        if baseline:
            entries = [_Entry(_BEFORE_FIRST_APPLY, "Update", str(current.get("apiVersion", "")),
                              now, "", baseline)]

    view = _config_view(config, subresource, ignore_status)
    claimed_full = fields_of(view, schema, strip=False)
    claimed = {p for p in claimed_full if tracked(p, subresource, ignore_status)}
    api_version = str(config.get("apiVersion") or current.get("apiVersion") or "")

    # The merge shares untouched subtrees with ``current``; pruning edits in place,
    # and ``current`` must stay as it was for the comparison below.
    merged: dict[str, Any] = json_copy(merge_values(current, view, root))
    this_id = (manager, "Apply", subresource, "")
    previous = next((e for e in entries if e.ident() == this_id), None)
    others = [e for e in entries if e.ident() != this_id]
    if previous is not None:
        _prune(merged, previous.fields, others, claimed_full, root)

    added, modified, removed_all = compare(current, merged, root)
    changed = {p for p in added | modified if tracked(p, subresource, ignore_status)}
    removed = {p for p in removed_all if tracked(p, subresource, ignore_status)}
    conflicts = [(e, sorted(e.fields & changed, key=path_order)) for e in others]
    conflicts = [(e, paths) for e, paths in conflicts if paths]
    if conflicts and not force:
        raise _conflict_error(config, conflicts)
    for entry in others:
        entry.fields -= changed
        entry.fields -= removed

    object_changed = bool(changed or removed)
    if previous is None:
        previous = _Entry(manager, "Apply", api_version, now, subresource)
        entries.append(previous)
    elif object_changed or previous.time is None:
        previous.time = now
    previous.api_version = api_version
    previous.fields = claimed

    _store(merged, entries)
    return merged


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    schema: dict[str, Any] | None,
    now: str,
    subresource: str = "",
    operation: str = "Update",
    *,
    ignore_status: bool = True,
) -> list[dict[str, Any]]:
    """The ``metadata.managedFields`` to store with ``new`` after a non-apply write.

    ``manager`` takes every tracked field whose value changed from ``old`` (None
    for a create) to ``new``; other managers lose those fields and the removed
    ones, and managers left with nothing are dropped. The entries to start from
    are the ones ``new`` carries (a client may rewrite managedFields; a single
    empty entry ``[{}]`` resets them), else the ones of ``old``. An empty list
    means the object should carry no managedFields.
    """
    root = root_schema(schema)
    entries = _base_entries(old, new, subresource)
    before = old if old is not None else _creation_baseline(new)
    added, modified, removed_all = compare(before, new, root)
    changed = {p for p in added | modified if tracked(p, subresource, ignore_status)}
    removed = {p for p in removed_all if tracked(p, subresource, ignore_status)}

    api_version = str(new.get("apiVersion") or (old or {}).get("apiVersion") or "")
    this = _Entry(manager, operation, api_version, now, subresource)
    for entry in entries:
        entry.fields -= changed
        entry.fields -= removed
    if changed:
        existing = next((e for e in entries if e.ident() == this.ident()), None)
        if existing is None:
            entries.append(this)
            existing = this
        existing.fields |= changed
        existing.time = now
    return _encode(_cap_updaters(entries))


# --- apply steps ----------------------------------------------------------------------------


def _config_view(config: dict[str, Any], subresource: str, ignore_status: bool) -> dict[str, Any]:
    """The part of an applied configuration that apply may write."""
    if subresource == "status":
        return {"status": json_copy(config["status"])} if "status" in config else {}
    view = json_copy(config)
    if ignore_status:
        view.pop("status", None)
    meta = view.get("metadata")
    if isinstance(meta, dict):
        for key in _SERVER_METADATA:
            meta.pop(key, None)
    return view


def _prune(
    merged: dict[str, Any],
    last: set[Path],
    others: list[_Entry],
    claimed: set[Path],
    root: dict[str, Any],
) -> None:
    """Remove what the applier applied last time and no longer does, unless owned.

    A named (schema-declared) field counts as owned when anything under it is,
    so dropping ``.spec.a`` never takes ``.spec`` with it while ``.spec.b`` is
    still claimed; a list item, though, goes when nobody owns the item itself,
    even if an updater owns a field inside it, as in Kubernetes.
    """
    owned: set[Path] = set(claimed)
    for entry in others:
        owned |= entry.fields
    owned = named_field_closure(owned, root)
    doomed = [p for p in named_field_closure(last, root)
              if p not in owned and p not in _PROTECTED]
    for path in sorted(doomed, key=len):
        remove_path(merged, path, root)


def _conflict_error(config: dict[str, Any], conflicts: list[tuple[_Entry, list[Path]]]) -> ApiError:
    conflicts.sort(key=lambda c: c[0].identifier_json())
    causes = [Cause(field=path_text(p), message=f"conflict with {entry.describe()}",
                    reason="FieldManagerConflict")
              for entry, paths in conflicts for p in paths]
    if len(causes) == 1:
        entry, paths = conflicts[0]
        message = (f"Apply failed with 1 conflict: conflict with {entry.describe()}: "
                   f"{path_text(paths[0])}")
    else:
        lines: list[str] = []
        for entry, paths in conflicts:
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {path_text(p)}" for p in paths)
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    api_version = str(config.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    meta = config.get("metadata")
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    # Kubernetes words an apply conflict without the "Operation cannot be fulfilled"
    # prefix that errors.Conflict adds, so the Status is built directly.
    return ApiError(409, "Conflict", message, group=group,
                    kind=str(config.get("kind", "")).lower(), name=name, causes=causes)


# --- update steps ---------------------------------------------------------------------------


def _update_set(before: dict[str, Any], after: dict[str, Any], root: dict[str, Any],
                subresource: str, ignore_status: bool) -> set[Path]:
    """Fields an update sets: those added or changed (Kubernetes' compare)."""
    added, modified, _ = compare(before, after, root)
    return {p for p in added | modified if tracked(p, subresource, ignore_status)}


def _creation_baseline(new: dict[str, Any]) -> dict[str, Any]:
    """The object a create is compared with.

    Kubernetes compares a created object with the empty object of its kind. For
    a custom resource that is empty, so the creator's set shows ``f:spec`` with
    ``.``. For a built-in kind it is a Go struct whose non-pointer fields already
    exist, so ``f:spec``, ``f:template`` or ``f:strategy`` carry no ``.`` and nor
    does the always-present ``containers`` list; the workload shapes are mirrored
    here.
    """
    baseline: dict[str, Any] = {"metadata": {}}
    api_version = str(new.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    spec = new.get("spec")
    if ("." in group and not group.endswith(".k8s.io")) or not isinstance(spec, dict):
        return baseline
    baseline["spec"] = _zero_spec(spec)
    return baseline


def _zero_spec(spec: dict[str, Any]) -> dict[str, Any]:
    zero: dict[str, Any] = {}
    for key in ("strategy", "updateStrategy"):
        if isinstance(spec.get(key), dict):
            zero[key] = {}
    if "containers" in spec:
        zero["containers"] = None
    for key in ("template", "jobTemplate"):
        inner = spec.get(key)
        if isinstance(inner, dict):
            zero[key] = {"metadata": {}}
            if isinstance(inner.get("spec"), dict):
                zero[key]["spec"] = _zero_spec(inner["spec"])
    return zero


def _base_entries(old: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> list[_Entry]:
    """The entries a write starts from: the client's own, unless it sent none or is
    writing a subresource, then the stored ones."""
    new_meta = new.get("metadata")
    sent = new_meta.get("managedFields") if isinstance(new_meta, dict) else None
    if not subresource and isinstance(sent, list) and sent:
        if sent == [{}]:
            return []
        try:
            return _decode(sent)
        except ValueError:
            pass
    return _decode_or_empty(old or {})


# --- entries ----------------------------------------------------------------------------------


def _decode_or_empty(obj: dict[str, Any]) -> list[_Entry]:
    meta = obj.get("metadata")
    raw = meta.get("managedFields") if isinstance(meta, dict) else None
    if not isinstance(raw, list):
        return []
    try:
        return _decode(raw)
    except ValueError:
        # Kubernetes starts afresh when the stored entries cannot be read.
        return []


def _decode(raw: list[Any]) -> list[_Entry]:
    entries: dict[tuple[str, str, str, str], _Entry] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("a managedFields entry must be an object")
        if item.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f"unsupported fieldsType {item.get('fieldsType')!r}")
        operation = item.get("operation")
        if operation not in ("Apply", "Update"):
            raise ValueError(f"unknown operation {operation!r}")
        fields_v1 = item.get("fieldsV1") or {}
        if not isinstance(fields_v1, dict):
            raise ValueError("fieldsV1 must be an object")
        entry = _Entry(str(item.get("manager", "")), operation, str(item.get("apiVersion", "")),
                       item.get("time"), str(item.get("subresource", "")),
                       from_fields_v1(fields_v1))
        known = entries.get(entry.ident())
        if known is None:
            entries[entry.ident()] = entry
        else:
            known.fields |= entry.fields
    return list(entries.values())


def _cap_updaters(entries: list[_Entry]) -> list[_Entry]:
    """Fold the oldest Update entries into one ``ancient-changes`` entry per apiVersion
    once there are more than ten, as Kubernetes does."""
    updaters = [e for e in entries if e.operation == "Update"]
    excess = len(updaters) - _MAX_UPDATE_MANAGERS
    if excess <= 0:
        return entries
    kept = list(entries)
    for entry in sorted(updaters, key=lambda e: (e.time or "", e.manager)):
        if entry.manager == _ANCIENT_MANAGER:
            continue
        if excess <= 0:
            break
        kept.remove(entry)
        bucket = next((e for e in kept if e.manager == _ANCIENT_MANAGER
                       and e.operation == "Update" and e.api_version == entry.api_version), None)
        if bucket is None:
            # The folded entry takes the bucket's place: the count stays the same.
            kept.append(_Entry(_ANCIENT_MANAGER, "Update", entry.api_version, entry.time, "",
                               set(entry.fields)))
            continue
        bucket.fields |= entry.fields
        bucket.time = max(bucket.time or "", entry.time or "") or None
        excess -= 1
    return kept


def _encode(entries: list[_Entry]) -> list[dict[str, Any]]:
    """Entries as Kubernetes stores them: Apply before Update, then oldest first."""
    live = [e for e in entries if e.fields]
    live.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    out: list[dict[str, Any]] = []
    for entry in live:
        item: dict[str, Any] = {}
        if entry.manager:
            item["manager"] = entry.manager
        item["operation"] = entry.operation
        if entry.api_version:
            item["apiVersion"] = entry.api_version
        if entry.time:
            item["time"] = entry.time
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = to_fields_v1(entry.fields)
        if entry.subresource:
            item["subresource"] = entry.subresource
        out.append(item)
    return out


def _store(obj: dict[str, Any], entries: list[_Entry]) -> None:
    encoded = _encode(_cap_updaters(entries))
    meta = obj.setdefault("metadata", {})
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)

