"""What a HelmRelease released, read the way the CLI needs it: values, release, objects.

``debug helmrelease``, ``diff helmrelease`` and ``tree`` all look at a
HelmRelease from outside the controller, and must see what the controller
sees, so they reuse its code instead of repeating it:

* `merged_values`: ``valuesFrom`` then ``values``, composed by the
  controller's own `compose_values` (Flux's order and error texts) with the
  CLI's connection doing the reads;
* `current_release`: the latest Helm revision of the release, read from
  Helm's Secret storage (`ReleaseStorage`, the storage namespace and release
  name the HelmRelease's status and latest snapshot record, falling back to
  the names the spec gives);
* `release_refs`: the objects of that revision's manifest (hooks are not in
  it), with the release namespace filled in only for namespaced kinds, as
  flux's ``tree`` lists a HelmRelease's objects (a HelmRelease has no
  ``status.inventory``: the release is its inventory).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.api.helm import HelmRelease
from sluice.cli.clientctx import Client
from sluice.cli.failing import CommandError
from sluice.controllers.helmrelease.drift import manifest_objects
from sluice.controllers.helmrelease.errors import StorageError, ValuesError
from sluice.controllers.helmrelease.names import release_name, storage_namespace
from sluice.controllers.helmrelease.storage import ReleaseStorage, StoredRelease
from sluice.controllers.helmrelease.values import compose_values
from sluice.kube.errors import KubeError
from sluice.kube.ordering import ObjectRef

__all__ = ["current_release", "merged_values", "release_location", "release_refs"]

Obj = dict[str, Any]


async def merged_values(client: Client, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The values the next release of ``obj`` gets (Secrets' values included, as flux)."""
    hr = HelmRelease.from_dict(dict(obj))

    async def fetch(kind: str, namespace: str, name: str) -> Obj | None:
        mapping = await client.objects.mapping("v1", kind)
        return await client.objects.get_or_none(mapping, name, namespace)

    try:
        return await compose_values(hr, fetch)
    except ValuesError as exc:
        raise CommandError(exc.message) from None


def release_location(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(storage namespace, release namespace, release name) of the latest release."""
    hr = HelmRelease.from_dict(dict(obj))
    status = hr.status
    snap = status.history[0] if status.history else None
    storage = status.storage_namespace or storage_namespace(hr)
    if snap is not None:
        return storage, snap.namespace or hr.release_namespace(), snap.name or release_name(hr)
    return storage, hr.release_namespace(), release_name(hr)


async def current_release(client: Client, obj: Mapping[str, Any]) -> StoredRelease | None:
    """The latest stored revision of ``obj``'s release, None before the first install."""
    storage_ns, _, name = release_location(obj)
    try:
        return await ReleaseStorage(client.objects).latest(storage_ns, name)
    except StorageError as exc:
        raise CommandError(exc.message) from None


async def release_refs(client: Client, obj: Mapping[str, Any]) -> list[ObjectRef]:
    """The objects the latest release of ``obj`` holds, in manifest order."""
    rel = await current_release(client, obj)
    if rel is None:
        return []
    refs: list[ObjectRef] = []
    for doc in manifest_objects(rel.manifest, rel.namespace):
        ref = ObjectRef.of(doc)
        try:
            mapping = await client.objects.mapping(str(doc.get("apiVersion") or ""),
                                                   str(doc.get("kind") or ""))
            namespaced = mapping.namespaced
        except KubeError:
            namespaced = True  # a kind the cluster no longer serves: keep what Helm wrote
        if not namespaced:
            ref = ObjectRef(ref.group, ref.kind, "", ref.name, ref.version)
        refs.append(ref)
    return refs
