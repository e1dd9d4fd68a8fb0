"""What would applying a build change? A server-side dry-run diff, as ``flux diff`` shows.

``sluice diff kustomization`` previews a reconcile without touching the
cluster: every object of the build is applied as a server-side dry run by the
same `ResourceManager` the controller uses (same field manager, owner labels
and annotations), and the result is compared with the live object:

- ``created``: the object does not exist yet (or its namespace or kind does
  not, because the same build creates them);
- ``configured``: it exists and would change; `FieldChange` lists each
  changed field path (``spec.replicas``,
  ``spec.template.spec.containers[name=agnhost].image``) with the values
  before and after;
- ``deleted``: given the Kustomization's current inventory, it left the build
  and still carries the owner labels, so prune would delete it;
- ``unchanged`` and ``skipped`` objects are listed too, and `render` leaves
  them out, as ``flux diff`` does.

Secret values never appear: ``data``/``stringData`` values are replaced by
``***``, marked ``*** (before)`` / ``*** (after)`` when they differ, so a
user sees that a key changed without seeing it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx2

from sluice.kube.apply import Action, ApplyError, ApplyOptions, ResourceManager
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.inventory import Inventory, is_prune_excluded
from sluice.kube.ordering import ObjectRef, sort_key

__all__ = [
    "MASK",
    "MISSING",
    "DiffReport",
    "FieldChange",
    "ObjectDiff",
    "diff_objects",
    "field_changes",
    "mask_secret",
    "show_value",
]

Obj = dict[str, Any]
MASK = "***"


class _Missing:
    """A field that is absent on one side of a change."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is MISSING:
            return "added"
        if self.after is MISSING:
            return "removed"
        return "changed"


@dataclass
class ObjectDiff:
    ref: ObjectRef
    action: Action
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.ref.subject

    @property
    def headline(self) -> str | None:
        """``► Kind/ns/name created|deleted|drifted``; None for what a diff leaves out."""
        verb = _HEADLINE_VERBS.get(self.action)
        return None if verb is None else f"► {self.subject} {verb}"


# flux diff names a changed object "drifted"; unchanged and skipped ones are not shown.
_HEADLINE_VERBS: Final = {Action.CREATED: "created", Action.DELETED: "deleted",
                          Action.CONFIGURED: "drifted"}


@dataclass
class DiffReport:
    objects: list[ObjectDiff] = field(default_factory=list)
    # Objects whose dry run failed (the messages apply would fail with).
    errors: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(o.action in (Action.CREATED, Action.CONFIGURED, Action.DELETED)
                   for o in self.objects)

    def to_map(self) -> dict[str, str]:
        return {o.subject: str(o.action) for o in self.objects}

    def get(self, subject: str) -> ObjectDiff | None:
        return next((o for o in self.objects if o.subject == subject), None)

    def render(self) -> str:
        """Human text: ``► Kind/ns/name drifted`` followed by each changed field."""
        lines: list[str] = []
        for o in self.objects:
            if (headline := o.headline) is None:
                continue
            lines.append(headline)
            if o.action is Action.CONFIGURED:
                for c in o.changes:
                    lines.append("")
                    lines.append(c.path)
                    if c.kind == "added":
                        lines.append("  + one field added")
                        lines.append(f"    + {show_value(c.after)}")
                    elif c.kind == "removed":
                        lines.append("  - one field removed")
                        lines.append(f"    - {show_value(c.before)}")
                    else:
                        lines.append("  ± value change")
                        lines.append(f"    - {show_value(c.before)}")
                        lines.append(f"    + {show_value(c.after)}")
                lines.append("")
        for e in self.errors:
            lines.append(f"✗ {e}")
        return "\n".join(lines).rstrip("\n") + ("\n" if lines else "")


def show_value(value: Any) -> str:
    """A changed value on one line: YAML-style scalars, JSON for maps and lists."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


# ------------------------------------------------------------------ field paths


def _list_key(*lists: list[Any]) -> str | None:
    """A field that names every item of each list of objects (``name``, ``port``...)."""
    if not any(lists) or not all(isinstance(i, dict) for items in lists for i in items):
        return None
    for key in ("name", "type", "containerPort", "port", "key", "ip", "mountPath"):
        if all(_unique(items, key) for items in lists):
            return key
    return None


def _unique(items: list[Any], key: str) -> bool:
    values = [str(i.get(key)) for i in items if i.get(key) is not None]
    return len(values) == len(items) and len(set(values)) == len(values)


def _walk(before: Any, after: Any, path: str, out: list[FieldChange]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{k}" if path else str(k)
            _walk(before.get(k, MISSING), after.get(k, MISSING), sub, out)
        return
    if isinstance(before, list) and isinstance(after, list):
        key = _list_key(before, after)
        if key is not None:
            old = {str(i[key]): i for i in before}
            new = {str(i[key]): i for i in after}
            order = [str(i[key]) for i in before] + [str(i[key]) for i in after
                                                     if str(i[key]) not in old]
            for name in order:
                _walk(old.get(name, MISSING), new.get(name, MISSING),
                      f"{path}[{key}={name}]", out)
            return
        if len(before) == len(after):
            for i, (b, a) in enumerate(zip(before, after, strict=True)):
                _walk(b, a, f"{path}[{i}]", out)
            return
    out.append(FieldChange(path, before, after))


def _comparable(obj: Mapping[str, Any] | None) -> Obj:
    """The parts a diff shows: no status, no server metadata, labels and annotations kept."""
    if obj is None:
        return {}
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    if kept:
        out["metadata"] = kept
    return out


def mask_secret(before: Obj | None, after: Obj | None) -> tuple[Obj | None, Obj | None]:
    """Copies of two versions of a Secret with ``data``/``stringData`` values masked."""
    def masked(obj: Obj | None) -> Obj | None:
        if obj is None:
            return None
        out = dict(obj)
        for section in ("data", "stringData"):
            if isinstance(obj.get(section), dict):
                out[section] = dict(obj[section])
        return out

    b, a = masked(before), masked(after)
    for section in ("data", "stringData"):
        bs = b.get(section) if b is not None else None
        as_ = a.get(section) if a is not None else None
        bs = bs if isinstance(bs, dict) else {}
        as_ = as_ if isinstance(as_, dict) else {}
        for k in set(bs) | set(as_):
            if k in bs and k in as_ and bs[k] != as_[k]:
                bs[k], as_[k] = f"{MASK} (before)", f"{MASK} (after)"
            else:
                if k in bs:
                    bs[k] = MASK
                if k in as_:
                    as_[k] = MASK
    return b, a


def field_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
                  ) -> list[FieldChange]:
    """Changed field paths between a live object and its dry-run result (Secrets masked)."""
    b, a = _comparable(before), _comparable(after)
    kind = (after or before or {}).get("kind")
    if kind == "Secret":
        mb, ma = mask_secret(b, a)
        b, a = mb or {}, ma or {}
    out: list[FieldChange] = []
    _walk(b, a, "", out)
    return out


# ------------------------------------------------------------------ the diff


async def diff_objects(manager: ResourceManager, objects: Sequence[Mapping[str, Any]], *,
                       inventory: Inventory | None = None, prune: bool = True,
                       opts: ApplyOptions | None = None) -> DiffReport:
    """Dry-run ``objects`` and compare with the cluster; nothing is written.

    ``inventory`` (the Kustomization's ``status.inventory``) lets the diff
    report what prune would delete. Objects whose namespace or kind the build
    itself creates are reported as created; other dry-run failures go to
    ``errors``.
    """
    opts = opts or ApplyOptions()
    report = DiffReport()
    created_ns = {str((o.get("metadata") or {}).get("name")) for o in objects
                  if o.get("kind") == "Namespace"}
    created_kinds: set[tuple[str, str]] = set()
    for o in objects:
        if o.get("kind") == "CustomResourceDefinition":
            spec = o.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            created_kinds.add((str(spec.get("group") or ""), str(kind or "")))
    sem = asyncio.Semaphore(manager.concurrency)

    async def one(obj: Mapping[str, Any]) -> tuple[ObjectRef, ObjectDiff | str]:
        ref = ObjectRef.of(obj)
        try:
            mapping, desired = await manager.prepare(obj)
        except ApplyError as exc:
            if (ref.group, ref.kind) in created_kinds:
                return ref, ObjectDiff(ref, Action.CREATED)
            return ref, exc.message
        async with sem:
            d = await manager.dry_run(mapping, desired, opts)
        if d.error is not None:
            if d.failure is not None and is_not_found(d.failure) and (
                    d.ref.namespace in created_ns or d.existing is None):
                # The namespace is created by this same build (or not yet).
                return d.ref, ObjectDiff(d.ref, Action.CREATED)
            return d.ref, d.error
        if d.recreate:
            return d.ref, ObjectDiff(d.ref, Action.CONFIGURED,
                                     field_changes(d.existing, d.desired))
        if d.action is Action.CONFIGURED:
            changes = field_changes(d.existing, d.merged)
            # Only ownership would change (kubectl's fields taken over): not a drift.
            return d.ref, ObjectDiff(d.ref, Action.CONFIGURED if changes else Action.UNCHANGED,
                                     changes)
        return d.ref, ObjectDiff(d.ref, d.action)

    results = await asyncio.gather(*(one(o) for o in sorted(objects, key=sort_key)))
    new_refs = [ref for ref, _ in results]
    for _, outcome in results:
        if isinstance(outcome, str):
            report.errors.append(outcome)
        else:
            report.objects.append(outcome)
    if inventory is not None and prune:
        stale = inventory.diff(Inventory.from_refs(new_refs))
        for ref in sorted(stale, key=sort_key, reverse=True):
            if await _would_prune(manager, ref):
                report.objects.append(ObjectDiff(ref, Action.DELETED))
    return report


async def _would_prune(manager: ResourceManager, ref: ObjectRef) -> bool:
    try:
        mapping = await manager.client.mapping(ref.api_version, ref.kind)
        live = await manager.get(mapping, ref.namespace if mapping.namespaced else "", ref.name)
    except (KubeError, httpx2.HTTPError):
        return False  # NoKindMatch included: nothing of an unserved kind can exist
    return live is not None and manager.owner.owns(live) and not is_prune_excluded(live)
