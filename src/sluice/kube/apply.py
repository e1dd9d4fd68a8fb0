"""Staged server-side apply, the way kustomize-controller applies a build.

`ResourceManager` takes the objects a Kustomization built and brings the
cluster to them, with Flux's semantics (``fluxcd/pkg/ssa``) so that a
repository behaves the same under Sluice:

* objects are applied in stages (`sluice.kube.ordering`): CRDs, Namespaces
  and ClusterRoles first, then ``*Class`` kinds (each of these two stages
  waited for until healthy), then custom stage kinds, then everything else;
  up to ``concurrency`` (Flux's ``--concurrent-ssa``, 4) requests at a time;
* every object is first applied as a server-side **dry run** (field manager
  ``kustomize-controller``, force) and compared with the live object; only
  objects that would change are written, so a no-change reconcile writes
  nothing and resourceVersions stay put. All objects of a stage are dry-run
  before any of them is written, and when an earlier stage is about to write,
  the later stages' objects that can already be checked (their kind served,
  their namespace present) are dry-run too: an invalid object leaves the
  cluster untouched;
* the owner labels ``kustomize.toolkit.fluxcd.io/name|namespace`` are set on
  every object;
* per-object switches, as labels or annotations with values compared
  case-insensitively: ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` and
  ``kustomize.toolkit.fluxcd.io/ssa: Ignore`` skip the object (on either the
  manifest or the live object); ``ssa: IfNotPresent`` only creates;
  ``ssa: Merge`` keeps other managers' fields (no ownership take-over);
  ``kustomize.toolkit.fluxcd.io/force: Enabled`` (or ``spec.force`` for all)
  deletes and recreates an object whose change hits an immutable field;
* before writing an object, the field ownership of ``kubectl`` (client-side
  and server-side apply, edits, scales), ``before-first-apply`` and the
  controller's own old Update entries is transferred to the controller's
  Apply entry, and ``kubectl.kubernetes.io/last-applied-configuration`` is
  removed. Fields someone set by hand are then owned by the controller, so
  the next apply resets them or, when Git no longer has them, removes them.
  An object with no managedFields at all gets its ``before-first-apply``
  entry (made by the server on that first apply) taken over right after the
  apply, so the take-over costs one reconcile and the next one writes nothing.

Two appliers never fight over one object. Flux lets two Kustomizations that
build the same object both apply it, each relabelling it as its own every
interval, both Ready=True. Here, an object whose owner labels name another
applier that still claims it (the ``claims`` check the controller gives, e.g.
"it is in that Kustomization's inventory"; without one, any other owner's
labels) fails that object's dry run with an ownership conflict naming the
owner, before anything is written, so the second applier gets Ready=False and
the first keeps the object. An object annotated
``sluice.dev/shared-ownership: enabled`` (on the manifest or the live object)
is shared deliberately: each applier writes it in turn, as in Flux.

The result is a `ChangeSet`: one entry per object, ``created``,
``configured``, ``unchanged`` or ``skipped``, which Flux turns into events
(``Deployment/agnhost/agnhost created``) and into the inventory. Failures raise
`ApplyError` naming the object and the server's message
(``Deployment/agnhost/agnhost dry-run failed (Invalid): ...``), carrying the
changes made before the failure.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2

from sluice.api.meta import (
    ENABLED_VALUE,
    KUSTOMIZE_FORCE_ANNOTATION,
    KUSTOMIZE_SSA_ANNOTATION,
    SHARED_OWNERSHIP_ANNOTATION,
    SSA_IF_NOT_PRESENT,
    SSA_MERGE,
)
from sluice.kube.errors import ApiStatusError, KubeError, NoKindMatch, is_conflict, is_not_found
from sluice.kube.health import wait_for_health
from sluice.kube.inventory import (
    DEFAULT_FIELD_MANAGER,
    Action,
    ChangeSet,
    ChangeSetEntry,
    Owner,
    any_in_metadata,
    is_excluded,
)
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.kube.ordering import LAST_KINDS, ObjectRef, split_stages

# Action, ChangeSet, ChangeSetEntry and Owner live with the inventory they
# feed; they are re-exported here because every apply caller needs them.
__all__ = [
    "CLEANUP_ANNOTATIONS",
    "CLEANUP_LABELS",
    "DEFAULT_FIELD_MANAGER",
    "Action",
    "ApplyError",
    "ApplyOptions",
    "ChangeSet",
    "ChangeSetEntry",
    "DryRun",
    "Owner",
    "ResourceManager",
    "is_immutable_error",
]

Obj = dict[str, Any]
T = TypeVar("T")

APPLY_PATCH = "application/apply-patch+yaml"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Left behind by kubectl and by Flux v1; removed on apply as Flux does.
CLEANUP_ANNOTATIONS: tuple[str, ...] = (LAST_APPLIED, "kustomize.toolkit.fluxcd.io/checksum",
                                        "fluxcd.io/sync-checksum")
CLEANUP_LABELS: tuple[str, ...] = ("fluxcd.io/sync-gc-mark",)
# managedFields entries whose fields the controller takes over: edits made
# with kubectl (client-side apply records "kubectl-client-side-apply" in
# recent releases, "kubectl" before; scale/edit/patch record "kubectl"),
# server-side applies with --force-conflicts, fields that predate field
# tracking, and the controller's own Update entries from before it used SSA.
_CLEANUP_MANAGERS: tuple[tuple[str, str], ...] = (
    ("kubectl", "Apply"),
    ("kubectl", "Update"),
    ("kubectl-client-side-apply", "Update"),
    ("before-first-apply", "Update"),
)
# A 422 with one of these is a change to a field the API server will never
# accept on an existing object; force recreates it.
_IMMUTABLE_MARKERS = ("field is immutable", "immutable field", "is immutable",
                      "may not change once set", "Forbidden: updates to")


class ApplyError(KubeError):
    """Applying failed; ``change_set`` holds what was done before the failure."""

    def __init__(self, errors: Sequence[str], change_set: ChangeSet | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)
        self.change_set = change_set or ChangeSet()


@dataclass
class ApplyOptions:
    # spec.force: recreate any object whose change hits an immutable field.
    force: bool = False
    # How long stages 1 and 2 may take to become ready before apply fails.
    wait_timeout: float = 60.0
    # Flux polls staged objects every 2 s; the first check is immediate.
    wait_poll: float = 2.0
    # Transfer kubectl's field ownership and drop its annotation (Flux's default).
    cleanup: bool = True
    # More managers whose fields are taken over (``--override-manager``).
    override_managers: tuple[str, ...] = ()


def is_immutable_error(exc: BaseException) -> bool:
    """A 422 rejecting a change to an immutable field (the trigger of force-recreate)."""
    if not isinstance(exc, ApiStatusError) or exc.code != 422:
        return False
    text = exc.message.lower()
    return any(marker.lower() in text for marker in _IMMUTABLE_MARKERS)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ApiStatusError):
        return exc.reason or str(exc.code)
    return type(exc).__name__


def _message(exc: BaseException) -> str:
    if isinstance(exc, KubeError):
        return exc.message
    return str(exc) or type(exc).__name__


def _comparable(obj: Mapping[str, Any]) -> Obj:
    """What drift means: everything but status and server metadata (labels and
    annotations count)."""
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion")}
    meta = obj.get("metadata") or {}
    out["metadata"] = {"labels": meta.get("labels") or {},
                       "annotations": meta.get("annotations") or {}}
    return out


def _union(a: Any, b: Any) -> Any:
    """Union of two fieldsV1 trees."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return copy.deepcopy(b if isinstance(b, dict) else a)
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = _union(out[k], v) if k in out else copy.deepcopy(v)
    return out


def _normalize(obj: Obj) -> None:
    """Flux's pre-apply normalisation of native kinds.

    A Secret's ``stringData`` is written as ``data`` (base64): the API server
    folds ``stringData`` into ``data`` and never returns it, so applying it as
    is would report drift, and leave stale keys, on every run. A CRD's
    conversion webhook ``caBundle`` is dropped: it is injected in the cluster
    (cert-manager's CA injector), and applying Git's copy would undo that.
    """
    if obj.get("kind") == "CustomResourceDefinition":
        webhook = ((obj.get("spec") or {}).get("conversion") or {}).get("webhook")
        client = webhook.get("clientConfig") if isinstance(webhook, dict) else None
        if isinstance(client, dict):
            client.pop("caBundle", None)
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data")
            data = dict(data) if isinstance(data, dict) else {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data


@dataclass
class DryRun:
    """What applying one object would do, found by a server-side dry run."""

    ref: ObjectRef
    desired: Obj  # the manifest as it will be applied (owner labels set)
    mapping: ResourceMapping
    existing: Obj | None
    merged: Obj | None  # the dry-run result; None when skipped or recreated
    action: Action
    # The body that takes kubectl's field ownership over, if the object needs it.
    cleanup: Obj | None = None
    # The change hits an immutable field and force is on: delete, then create.
    recreate: bool = False
    # Why the dry run failed: the message for users, and the server's error.
    error: str | None = None
    failure: BaseException | None = field(default=None, repr=False)


def _path(m: ResourceMapping, namespace: str, name: str | None = None) -> str:
    base = f"/apis/{m.group}/{m.version}" if m.group else f"/api/{m.version}"
    parts = [base]
    if m.namespaced:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(m.plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    return "/".join(parts)


# Does this other applier still claim this object (e.g. list it in its inventory)?
ClaimCheck = Callable[[Owner, ObjectRef], Awaitable[bool]]


class ResourceManager:
    """Applies, deletes and waits for sets of objects on one cluster, as one owner."""

    def __init__(self, client: Objects, owner: Owner, *, concurrency: int = 4,
                 custom_stage_kinds: frozenset[tuple[str, str]] = frozenset(),
                 claims: ClaimCheck | None = None) -> None:
        self.client = client
        self.owner = owner
        self.claims = claims
        self.concurrency = max(1, concurrency)
        self.custom_stage_kinds = custom_stage_kinds
        self._http: httpx2.AsyncClient = client.connection.http

    # ------------------------------------------------------------ requests
    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        resp = await self._http.request(method, path, params=dict(params or {}),
                                        content=content, headers=headers)
        if resp.status_code >= 400:
            try:
                status = json.loads(resp.content)
            except ValueError:
                status = None
            err = ApiStatusError.from_status(status, resp.status_code)
            err.code = resp.status_code
            raise err
        return resp.json() if resp.content else None

    async def _ssa(self, d: DryRun | tuple[ResourceMapping, Obj], *, dry_run: bool) -> Obj:
        mapping, obj = (d.mapping, d.desired) if isinstance(d, DryRun) else d
        meta = obj["metadata"]
        params = {"fieldManager": self.owner.field_manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        out: Obj = await self._request("PATCH", _path(mapping, meta.get("namespace", ""),
                                                      meta["name"]),
                                       params=params, body=obj, content_type=APPLY_PATCH)
        return out

    async def get(self, mapping: ResourceMapping, namespace: str, name: str) -> Obj | None:
        try:
            out: Obj = await self._request("GET", _path(mapping, namespace, name))
        except ApiStatusError as exc:
            if is_not_found(exc):
                return None
            raise
        return out

    async def delete(self, mapping: ResourceMapping, namespace: str, name: str, *,
                     propagation: str = "Background", uid: str | None = None) -> bool:
        """Delete one object; False when it was already gone."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions",
                     "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self._request("DELETE", _path(mapping, namespace, name), body=body)
        except ApiStatusError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    async def _gather(self, items: Sequence[T], fn: Callable[[T], Awaitable[Any]]) -> list[Any]:
        sem = asyncio.Semaphore(self.concurrency)

        async def run(item: T) -> Any:
            async with sem:
                return await fn(item)

        return list(await asyncio.gather(*(run(i) for i in items)))

    # -------------------------------------------------------------- prepare
    async def prepare(self, obj: Mapping[str, Any]) -> tuple[ResourceMapping, Obj]:
        """Resolve the kind and copy the manifest with owner labels and Flux's normalisation.

        Raises `ApplyError` for a kind the cluster does not serve or a
        namespaced object without a namespace.
        """
        desired: Obj = copy.deepcopy(dict(obj))
        ref = ObjectRef.of(desired)
        if not ref.kind or not ref.version or not ref.name:
            raise ApplyError([f"{ref.subject or 'object'} is missing apiVersion, kind or "
                              f"metadata.name"])
        try:
            mapping = await self.client.mapping(ref.api_version, ref.kind)
        except NoKindMatch as exc:
            raise ApplyError([f"{ref.subject} dry-run failed: {exc.message}"]) from None
        meta = desired.setdefault("metadata", {})
        if mapping.namespaced and not meta.get("namespace"):
            raise ApplyError([f"{ref.subject} namespace not specified"])
        if not mapping.namespaced:
            # kustomize may set a namespace on a cluster-scoped custom kind it
            # does not know; the API server ignores it, so must the identity.
            meta.pop("namespace", None)
        for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields",
                  "generation", "selfLink"):
            meta.pop(k, None)
        labels = meta.get("labels")
        meta["labels"] = {**(labels if isinstance(labels, dict) else {}), **self.owner.labels}
        _normalize(desired)
        return mapping, desired

    # ------------------------------------------------------------- dry runs
    def _cleanup_body(self, existing: Obj, desired: Obj, opts: ApplyOptions) -> Obj | None:
        """The live object with kubectl's ownership transferred, or None if already clean."""
        if not opts.cleanup or any_in_metadata(desired, KUSTOMIZE_SSA_ANNOTATION, SSA_MERGE) \
                or any_in_metadata(existing, KUSTOMIZE_SSA_ANNOTATION, SSA_MERGE):
            return None
        meta = existing.get("metadata") or {}
        managers = set(_CLEANUP_MANAGERS)
        managers.add((self.owner.field_manager, "Update"))
        managers.update((m, op) for m in opts.override_managers for op in ("Apply", "Update"))
        entries = meta.get("managedFields") or []
        taken: Any = {}
        kept: list[Obj] = []
        found = False
        for entry in entries:
            ident = (entry.get("manager"), entry.get("operation"))
            if ident in managers and entry.get("subresource", "") != "status":
                taken = _union(taken, entry.get("fieldsV1") or {})
                found = True
            else:
                kept.append(entry)
        annotations = dict(meta.get("annotations") or {})
        labels = dict(meta.get("labels") or {})
        stale_ann = [k for k in CLEANUP_ANNOTATIONS if k in annotations]
        stale_lab = [k for k in CLEANUP_LABELS if k in labels]
        if not found and not stale_ann and not stale_lab:
            return None
        body = copy.deepcopy(existing)
        bmeta = body["metadata"]
        if found:
            own = next((e for e in kept if e.get("manager") == self.owner.field_manager
                        and e.get("operation") == "Apply" and not e.get("subresource")), None)
            if own is None:
                own = {"manager": self.owner.field_manager, "operation": "Apply",
                       "apiVersion": existing.get("apiVersion", ""),
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "fieldsType": "FieldsV1", "fieldsV1": {}}
                kept.append(own)
            own["fieldsV1"] = _union(own.get("fieldsV1") or {}, taken)
            bmeta["managedFields"] = kept
        # Only maps that lose a key are rewritten, and an emptied one goes: sending
        # ``annotations: {}`` for an object that had none would be a change of its
        # own, recorded as a kustomize-controller Update entry that the next
        # reconcile would take over again, reporting the object configured each time.
        for key, stale, values in (("annotations", stale_ann, annotations),
                                   ("labels", stale_lab, labels)):
            if not stale:
                continue
            for k in stale:
                values.pop(k)
            if values:
                bmeta[key] = values
            else:
                bmeta.pop(key, None)
        return body

    async def dry_run(self, mapping: ResourceMapping, desired: Obj,
                      opts: ApplyOptions) -> DryRun:
        """Dry-run one prepared object (see `prepare`); failures are in the result."""
        ref = ObjectRef.of(desired)
        meta = desired["metadata"]
        namespace = meta.get("namespace", "")
        if is_excluded(desired):
            return DryRun(ref, desired, mapping, None, None, Action.SKIPPED)
        # The live object and the dry run are independent: ask for both at once.
        got, tried = await asyncio.gather(
            self.get(mapping, namespace, meta["name"]),
            self._ssa((mapping, desired), dry_run=True), return_exceptions=True)
        for outcome in (got, tried):
            if isinstance(outcome, BaseException) and not isinstance(outcome, ApiStatusError):
                raise outcome
        if isinstance(got, ApiStatusError):
            return DryRun(ref, desired, mapping, None, None, Action.UNKNOWN,
                          error=f"{ref.subject} query failed: {got.message}", failure=got)
        existing: Obj | None = got if isinstance(got, dict) else None
        failure = tried if isinstance(tried, ApiStatusError) else None
        merged: Obj | None = tried if isinstance(tried, dict) else None
        if existing is not None and (
                is_excluded(existing)
                or any_in_metadata(desired, KUSTOMIZE_SSA_ANNOTATION, SSA_IF_NOT_PRESENT)):
            return DryRun(ref, desired, mapping, existing, None, Action.SKIPPED)
        if existing is not None:
            conflict = await self._ownership_conflict(ref, desired, existing)
            if conflict is not None:
                return DryRun(ref, desired, mapping, existing, None, Action.UNKNOWN,
                              error=conflict)
        if failure is not None:
            force = opts.force or any(
                any_in_metadata(o, KUSTOMIZE_FORCE_ANNOTATION, ENABLED_VALUE)
                for o in (desired, existing))
            if existing is not None and force and is_immutable_error(failure):
                return DryRun(ref, desired, mapping, existing, None, Action.CREATED,
                              recreate=True)
            return DryRun(ref, desired, mapping, existing, None, Action.UNKNOWN,
                          error=self._dry_run_error(ref, failure), failure=failure)
        assert merged is not None
        if existing is None:
            return DryRun(ref, desired, mapping, None, merged, Action.CREATED)
        cleanup = self._cleanup_body(existing, desired, opts)
        drifted = _comparable(existing) != _comparable(merged)
        action = Action.CONFIGURED if drifted or cleanup is not None else Action.UNCHANGED
        return DryRun(ref, desired, mapping, existing, merged, action, cleanup=cleanup)

    async def _ownership_conflict(self, ref: ObjectRef, desired: Obj,
                                  existing: Obj) -> str | None:
        """Why this owner may not write ``existing``: another applier's object."""
        other = self.owner.labelled_owner(existing)
        if other is None or (other.name, other.namespace) == (self.owner.name,
                                                              self.owner.namespace):
            return None
        if any(any_in_metadata(o, SHARED_OWNERSHIP_ANNOTATION, ENABLED_VALUE)
               for o in (desired, existing)):
            return None
        if self.claims is not None and not await self.claims(other, ref):
            return None  # left behind by an applier that no longer has it: adopted
        return (f"{ref.subject} ownership conflict: it belongs to {other.kind} "
                f"{other.namespace}/{other.name} ({self.owner.name_label}, "
                f"{self.owner.namespace_label} labels); remove it from one of them, or "
                f"annotate it {SHARED_OWNERSHIP_ANNOTATION}: {ENABLED_VALUE} to share it")

    @staticmethod
    def _dry_run_error(ref: ObjectRef, exc: BaseException) -> str:
        return f"{ref.subject} dry-run failed ({_reason(exc)}): {_message(exc)}"

    async def dry_run_all(self, objects: Sequence[Mapping[str, Any]],
                          opts: ApplyOptions | None = None) -> list[DryRun]:
        """Dry-run every object (no write); `ApplyError` lists every failure.

        Objects keep their order. This is what ``sluice diff`` shows and what
        apply does before writing a stage.
        """
        opts = opts or ApplyOptions()
        prepared, errors = await self._prepare_all(objects)
        results: list[DryRun] = await self._gather(
            prepared, lambda p: self.dry_run(p[0], p[1], opts))
        errors += [d.error for d in results if d.error]
        if errors:
            raise ApplyError(errors)
        return results

    async def _prepare_all(self, objects: Sequence[Mapping[str, Any]]
                           ) -> tuple[list[tuple[ResourceMapping, Obj]], list[str]]:
        async def one(obj: Mapping[str, Any]) -> tuple[ResourceMapping, Obj] | str:
            try:
                return await self.prepare(obj)
            except ApplyError as exc:
                return exc.message

        out = await asyncio.gather(*(one(o) for o in objects))
        prepared = [p for p in out if not isinstance(p, str)]
        errors = [p for p in out if isinstance(p, str)]
        return prepared, errors

    # ---------------------------------------------------------------- writes
    async def _write_one(self, d: DryRun, opts: ApplyOptions) -> ChangeSetEntry:
        meta = d.desired["metadata"]
        namespace = meta.get("namespace", "")
        if d.recreate:
            assert d.existing is not None
            uid = (d.existing.get("metadata") or {}).get("uid")
            try:
                await self.delete(d.mapping, namespace, meta["name"], uid=uid)
            except ApiStatusError as exc:
                raise ApplyError([f"{d.ref.subject} immutable field detected, failed to delete "
                                  f"object: {exc.message}"]) from None
            await self._wait_gone(d, opts.wait_timeout)
        elif d.cleanup is not None:
            await self._take_over(d, opts)
        try:
            applied = await self._ssa(d, dry_run=False)
        except ApiStatusError as exc:
            raise ApplyError([f"{d.ref.subject} apply failed: {exc.message}"]) from None
        if d.existing is not None and not (d.existing.get("metadata") or {}).get("managedFields"):
            # An object with no field ownership at all (written before tracking, or
            # by the embedded cluster itself): the server has just given what it held
            # to ``before-first-apply``. Take it over now, so that this first apply
            # is the one that takes ownership and the next one finds nothing to do.
            cleanup = self._cleanup_body(applied, d.desired, opts)
            if cleanup is not None:
                await self._take_over(replace(d, cleanup=cleanup), opts)
        return ChangeSetEntry(d.ref, d.action)

    async def _take_over(self, d: DryRun, opts: ApplyOptions) -> None:
        """Write the cleaned-up live object (a PUT guarded by its resourceVersion).

        A full update rather than Flux's JSON patch: every API server honours
        ``managedFields`` in an update, and the resourceVersion guard means a
        concurrent writer costs a retry, never its change.
        """
        body = d.cleanup
        meta = d.desired["metadata"]
        namespace = meta.get("namespace", "")
        path = _path(d.mapping, namespace, meta["name"])
        for _attempt in range(3):
            if body is None:
                return
            try:
                await self._request("PUT", path, params={"fieldManager":
                                                         self.owner.field_manager}, body=body)
                return
            except ApiStatusError as exc:
                if is_not_found(exc):
                    return
                if not is_conflict(exc):
                    raise ApplyError([f"{d.ref.subject} metadata.managedFields cleanup failed: "
                                      f"{exc.message}"]) from None
            live = await self.get(d.mapping, namespace, meta["name"])
            body = self._cleanup_body(live, d.desired, opts) if live else None
        raise ApplyError([f"{d.ref.subject} metadata.managedFields cleanup failed: the object "
                          "kept changing"])

    async def _wait_gone(self, d: DryRun, timeout: float) -> None:  # noqa: ASYNC109
        meta = d.desired["metadata"]
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            live = await self.get(d.mapping, meta.get("namespace", ""), meta["name"])
            if live is None:
                return
            if time.monotonic() >= deadline:
                raise ApplyError([f"{d.ref.subject} immutable field detected, timeout waiting "
                                  "for the old object to be deleted"])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _execute(self, plans: Sequence[DryRun], opts: ApplyOptions) -> ChangeSet:
        todo = [d for d in plans if d.action in (Action.CREATED, Action.CONFIGURED)]

        async def write(d: DryRun) -> ChangeSetEntry | str:
            try:
                return await self._write_one(d, opts)
            except ApplyError as exc:
                return exc.message
            except (KubeError, httpx2.HTTPError) as exc:
                return f"{d.ref.subject} apply failed: {_message(exc)}"

        # Writes run concurrently, except that admission webhooks wait for the
        # rest: registered first, they would be asked to admit their own set.
        first = [d for d in todo if d.ref.kind not in LAST_KINDS]
        last = [d for d in todo if d.ref.kind in LAST_KINDS]
        done: dict[int, ChangeSetEntry | str] = {}
        for group in (first, last):
            written = await self._gather(group, write)
            done.update((id(d), w) for d, w in zip(group, written, strict=True))
        changes = ChangeSet()
        errors: list[str] = []
        for d in plans:
            result = done.get(id(d))
            if result is None:
                changes.add(ChangeSetEntry(d.ref, d.action))
            elif isinstance(result, str):
                errors.append(result)
            else:
                changes.add(result)
        if errors:
            raise ApplyError(errors, changes)
        return changes

    # ----------------------------------------------------------------- apply
    async def apply_all(self, objects: Sequence[Mapping[str, Any]],
                        opts: ApplyOptions | None = None) -> ChangeSet:
        """Dry-run then apply one set of objects, without stages or waits."""
        opts = opts or ApplyOptions()
        plans = await self.dry_run_all(objects, opts)
        return await self._execute(plans, opts)

    async def apply_all_staged(self, objects: Sequence[Mapping[str, Any]],
                               opts: ApplyOptions | None = None) -> ChangeSet:
        """Apply ``objects`` stage by stage (see the module docstring).

        Raises `ApplyError` with the changes made so far; nothing is written
        for a stage unless all its objects passed their dry run.
        """
        opts = opts or ApplyOptions()
        changes = ChangeSet()
        stages = split_stages([dict(o) for o in objects], self.custom_stage_kinds)
        checked_ahead = False
        for index, (stage, members) in enumerate(stages):
            try:
                plans = await self.dry_run_all(members, opts)
            except ApplyError as exc:
                raise ApplyError(exc.errors, changes) from None
            writes = [d for d in plans if d.action in (Action.CREATED, Action.CONFIGURED)]
            later = [o for _, objs in stages[index + 1:] for o in objs]
            if writes and later and not checked_ahead:
                checked_ahead = True
                errors = await self._check_ahead(later, plans, opts)
                if errors:
                    raise ApplyError(errors, changes)
            try:
                stage_changes = await self._execute(plans, opts)
            except ApplyError as exc:
                changes.extend(exc.change_set)
                raise ApplyError(exc.errors, changes) from None
            changes.extend(stage_changes)
            if stage.waits:
                await self._wait_stage(stage_changes, opts, changes)
                self._refresh_mappings(plans)
        return changes

    async def _check_ahead(self, later: Sequence[Mapping[str, Any]], current: Sequence[DryRun],
                           opts: ApplyOptions) -> list[str]:
        """Dry-run later stages' objects that can be checked before this stage writes.

        Skipped: objects in a namespace this stage creates, kinds not served
        yet, and kinds whose CRD this stage changes (their schema may be about
        to change). Their own stage checks them.
        """
        creating_ns = {d.ref.name for d in current
                       if d.ref.kind == "Namespace" and d.action is Action.CREATED}
        changing_groups = {
            str(((d.desired.get("spec") or {}).get("group")) or "") for d in current
            if d.ref.kind == "CustomResourceDefinition"
            and d.action in (Action.CREATED, Action.CONFIGURED)}
        candidates: list[Mapping[str, Any]] = []
        for obj in later:
            ref = ObjectRef.of(obj)
            if ref.namespace in creating_ns or ref.group in changing_groups:
                continue
            candidates.append(obj)

        async def check(obj: Mapping[str, Any]) -> str | None:
            try:
                mapping, desired = await self.prepare(obj)
            except ApplyError as exc:
                # An unknown kind may be defined by this very stage.
                return None if "no matches for kind" in exc.message else exc.message
            d = await self.dry_run(mapping, desired, opts)
            if d.failure is not None and (is_not_found(d.failure)
                                          or is_immutable_error(d.failure)):
                return None  # a missing namespace, or left to force and the stage itself
            return d.error

        results = await self._gather(candidates, check)
        return [r for r in results if r]

    async def _wait_stage(self, stage_changes: ChangeSet, opts: ApplyOptions,
                          changes: ChangeSet) -> None:
        """Wait until a definitions or classes stage is ready (CRDs Established,
        Namespaces Active); kinds without status are Current at once."""
        refs = stage_changes.refs(skipped=False)
        if not refs:
            return
        report = await wait_for_health(self.client, refs, opts.wait_timeout, opts.wait_poll)
        if not report.healthy:
            raise ApplyError([report.error or "timeout"], changes)

    def _refresh_mappings(self, plans: Sequence[DryRun]) -> None:
        """Forget discovery of the group-versions a CRD of this stage serves."""
        for d in plans:
            if d.ref.kind != "CustomResourceDefinition" or d.action not in (
                    Action.CREATED, Action.CONFIGURED):
                continue
            spec = d.desired.get("spec") or {}
            for v in spec.get("versions") or []:
                if isinstance(v, dict) and v.get("name"):
                    self.client.mapper.invalidate(f"{spec.get('group')}/{v['name']}")
