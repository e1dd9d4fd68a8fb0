"""``sluice create`` without ``--export``: upsert the generated objects, then wait for them.

Every ``sluice create`` command funnels its objects through `apply_and_wait`,
which does what ``flux create`` does, with the same lines on stderr:

* the object is read; missing, it is created; present, its labels and spec
  (a Secret's data and type, a RoleBinding's subjects and role) replace the
  live ones, everything else (annotations, finalizers, status) is kept,
  so re-running a create updates in place (``✔ GitRepository source
  updated``);
* Flux objects are then waited for, polled until Ready for their current
  generation, within ``--timeout``: ``◎ waiting for GitRepository source
  reconciliation``, ``✔ GitRepository source reconciliation completed``,
  ``✔ fetched revision: main@sha1:...`` (sources), ``✔ Kustomization podinfo
  is ready`` and ``✔ applied revision ...`` (Kustomizations, HelmReleases).
  A kind whose controller does not run yet is still created; its wait ends
  at the timeout with flux's ``context deadline exceeded``. A Ready=False
  for the current generation (a wrong URL, a build error) fails at once with
  the controller's message. Alerts and Providers have no status and are
  ready as soon as they exist;
* Secrets and tenant objects are only upserted (``► git secret 'x' created
  in 'ns' namespace``, ``► applying namespace apps``).

Objects are written with the ``flux-client-side-apply`` field manager, the
one kustomize-controller leaves alone when it later takes over a resource.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sluice.cli.clientctx import Client, connect_client, log, run
from sluice.cli.failing import CommandError
from sluice.cli.kinds import ALL, FluxKind
from sluice.cli.options import Globals
from sluice.cli.readiness import poll, ready_verdict
from sluice.kube.mapping import ResourceMapping

__all__ = ["apply_and_wait", "apply_source_with_credentials", "upsert"]

Obj = dict[str, Any]

FIELD_MANAGER = "flux-client-side-apply"
# Kinds flux calls "<Kind> source" in its messages.
_SOURCE_KINDS = frozenset({"GitRepository", "HelmRepository", "OCIRepository", "Bucket",
                           "HelmChart"})
# The create commands print "✚ generating ..." themselves for these kinds.
_GENERATED_BY_COMMAND = frozenset({"Kustomization", "HelmRelease", "HelmChart", "Provider",
                                   "Alert", "Receiver"})
# Top-level fields replaced on update, besides labels; the rest of the live object stays.
_REPLACED = ("spec", "data", "stringData", "type", "subjects", "roleRef", "rules")
# Tenant objects are announced by what they are, in flux's words.
_PLAIN_NAMES = {"Namespace": "namespace", "ServiceAccount": "service account",
                "RoleBinding": "role binding", "ClusterRoleBinding": "cluster role binding"}


def _flux_kind(obj: Mapping[str, Any]) -> FluxKind | None:
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group = api_version.rpartition("/")[0]
    return next((fk for fk in ALL if fk.kind == kind and fk.group == group), None)


def _clean(obj: Mapping[str, Any]) -> Obj:
    """The object without the empty ``status`` and null ``creationTimestamp`` of Go structs."""
    out = {k: v for k, v in obj.items() if not (k == "status" and not v)}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if not (k == "creationTimestamp" and v is None)}
    out["metadata"] = meta
    return out


async def upsert(client: Client, mapping: ResourceMapping, obj: Mapping[str, Any]) -> tuple[
        Obj, bool]:
    """Create ``obj`` or replace its labels and spec; returns (live object, created)."""
    desired = _clean(obj)
    meta = desired["metadata"]
    namespace = meta.get("namespace") if mapping.namespaced else None
    existing = await client.objects.get_or_none(mapping, str(meta["name"]), namespace)
    if existing is None:
        created = await client.objects.create(mapping, desired, namespace,
                                              field_manager=FIELD_MANAGER)
        return created, True
    updated = dict(existing)
    updated_meta = dict(existing.get("metadata") or {})
    if meta.get("labels"):
        updated_meta["labels"] = meta["labels"]
    else:
        updated_meta.pop("labels", None)
    if meta.get("annotations"):
        updated_meta["annotations"] = {**(updated_meta.get("annotations") or {}),
                                       **meta["annotations"]}
    updated["metadata"] = updated_meta
    for key in _REPLACED:
        if key in desired:
            updated[key] = desired[key]
        elif key in ("data", "stringData") and desired.get("kind") == "Secret":
            updated.pop(key, None)
    result = await client.objects.replace(mapping, updated, namespace,
                                          field_manager=FIELD_MANAGER)
    return result, False


def _secret_flavour(obj: Mapping[str, Any]) -> str:
    """Which ``create secret`` made this Secret, for flux's "<flavour> secret" line."""
    keys = set((obj.get("stringData") or {}) | (obj.get("data") or {}))
    secret_type = str(obj.get("type") or "")
    if secret_type == "kubernetes.io/dockerconfigjson":
        return "oci"
    if "githubAppID" in keys:
        return "githubapp"
    if "address" in keys:
        return "proxy"
    if "token" in keys:
        return "receiver"
    if "trustpolicy.json" in keys:
        return "notation"
    if keys & {"identity", "known_hosts", "bearerToken"}:
        return "git"
    if keys and keys <= {"tls.crt", "tls.key", "ca.crt", "caFile", "certFile", "keyFile"}:
        return "tls"
    if secret_type == "kubernetes.io/basic-auth":
        return "helm"
    return "git"


async def _wait(client: Client, fk: FluxKind, name: str, namespace: str,
                deadline: float) -> Obj:
    mapping = await client.mapping(fk)
    last = [""]

    async def probe() -> tuple[bool, Obj]:
        obj = await client.objects.get(mapping, name, namespace)
        if not fk.has_status:
            return True, obj
        verdict = ready_verdict(obj)
        last[0] = verdict.last
        if verdict.done and verdict.error:
            raise CommandError(verdict.error)
        return verdict.done, obj

    what = f"{fk.kind} '{name}' in '{namespace}' namespace to be ready"
    return await poll(probe, max(0.0, deadline - time.monotonic()), what, lambda: last[0])


async def _apply_flux_object(client: Client, fk: FluxKind, obj: Mapping[str, Any],
                             deadline: float, announce: bool = True) -> None:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace") or client.namespace)
    label = f"{fk.kind} source" if fk.kind in _SOURCE_KINDS else fk.kind
    if announce and fk.kind not in _GENERATED_BY_COMMAND:
        log.generate(f"generating {label}")
    log.action(f"applying {label}")
    mapping = await client.mapping(fk)
    _, created = await upsert(client, mapping, {**obj, "metadata": {**meta,
                                                                    "namespace": namespace}})
    log.success(f"{label} {'created' if created else 'updated'}")
    if fk.kind == "HelmRepository" and (obj.get("spec") or {}).get("type") == "oci":
        # OCI Helm repositories are static: nothing reconciles them.
        log.success("Helm repository is Ready")
        return
    log.waiting(f"waiting for {label} reconciliation")
    live = await _wait(client, fk, name, namespace, deadline)
    if fk.kind in _SOURCE_KINDS:
        log.success(f"{label} reconciliation completed")
        artifact = (live.get("status") or {}).get("artifact") or {}
        if not artifact.get("revision"):
            raise CommandError(f"{label} reconciliation completed but no artifact was found")
        log.success(f"fetched revision: {artifact['revision']}")
    elif fk.kind in ("Kustomization", "HelmRelease"):
        log.success(f"{fk.kind} {name} is ready")
        if fk.success is not None:
            log.success(fk.success(live))
    elif fk.has_status and fk.success is not None:
        log.success(f"{fk.kind} reconciliation completed")
        log.success(fk.success(live))
        if fk.kind == "Receiver":
            path = (live.get("status") or {}).get("webhookPath")
            if path:
                log.success(f"generated webhook URL {path}")
    else:
        log.success(f"{fk.kind} {name} is ready")


async def _apply_plain(client: Client, obj: Mapping[str, Any]) -> None:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    name = str(meta.get("name", ""))
    mapping = await client.objects.mapping(str(obj.get("apiVersion", "")), kind)
    namespace = str(meta.get("namespace") or client.namespace)
    body = {**obj, "metadata": {**meta, "namespace": namespace}} if mapping.namespaced else obj
    if kind == "Secret":
        await upsert(client, mapping, body)
        keys = (obj.get("stringData") or {})
        public = keys.get("identity.pub")
        if public:
            log.generate(f"deploy key: {str(public).strip()}")
        log.action(f"{_secret_flavour(obj)} secret '{name}' created in '{namespace}' namespace")
        return
    plain = _PLAIN_NAMES.get(kind, kind.lower())
    log.action(f"applying {plain} {name}")
    _, created = await upsert(client, mapping, body)
    log.success(f"{plain} {name} {'created' if created else 'updated'}")


def apply_and_wait(objects: Sequence[dict[str, Any]], globals_: Globals) -> None:
    """Upsert ``objects`` (in order) in the cluster and wait for the Flux ones to be ready.

    ``objects`` are plain JSON-shaped Kubernetes objects (apiVersion, kind,
    metadata, ...), the same dicts ``--export`` prints.
    """
    async def main() -> None:
        client = connect_client(globals_)
        deadline = time.monotonic() + client.timeout
        try:
            for obj in objects:
                fk = _flux_kind(obj)
                if fk is None:
                    await _apply_plain(client, obj)
                else:
                    await _apply_flux_object(client, fk, obj, deadline)
        finally:
            await client.aclose()

    run(main)


def apply_source_with_credentials(source: dict[str, Any],
                                  credentials: Callable[[], dict[str, Any] | None],
                                  action: str, globals_: Globals) -> None:
    """``flux create source`` with generated credentials: the Secret first, then the source.

    Once connected, ``✚ generating <Kind> source`` is printed and
    ``credentials`` called (in a thread: it may scan an SSH host and prompt);
    it returns the Secret to create, or None. Flux upserts that Secret
    quietly after ``► <action>``, points ``spec.secretRef`` at it, says
    ``✔ authentication configured``, then applies and waits for the source
    as `apply_and_wait` does.
    """
    async def main() -> None:
        client = connect_client(globals_)
        deadline = time.monotonic() + client.timeout
        try:
            fk = _flux_kind(source)
            if fk is None:
                raise CommandError(f"not a Flux source: {source.get('kind')}")
            log.generate(f"generating {fk.kind} source")
            secret = await asyncio.to_thread(credentials)
            obj = source
            if secret is not None:
                log.action(action)
                meta = secret.get("metadata") or {}
                mapping = await client.objects.mapping("v1", "Secret")
                await upsert(client, mapping, {**secret, "metadata": {
                    **meta, "namespace": str(meta.get("namespace") or client.namespace)}})
                spec = {**(source.get("spec") or {}), "secretRef": {"name": meta["name"]}}
                obj = {**source, "spec": spec}
                log.success("authentication configured")
            await _apply_flux_object(client, fk, obj, deadline, announce=False)
        finally:
            await client.aclose()

    run(main)
