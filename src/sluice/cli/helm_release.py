"""What a HelmRelease released, read the way the CLI needs it: values, release, objects.

``debug helmrelease``, ``diff helmrelease`` and ``tree`` all look at a
HelmRelease from outside the controller, and must see what the controller
sees, so they reuse its code instead of repeating it:

* `merged_values`: ``valuesFrom`` then ``values``, composed by the
  controller's own `compose_values` (Flux's order and error texts) with the
  CLI's connection doing the reads;
* `current_release`: the latest Helm revision of the release, read from
  Helm's Secret storage at the place the HelmRelease's status and latest
  snapshot record, falling back to the names the spec gives;
* `release_refs`: the objects of that revision's manifest (hooks are not in
  it), as flux's ``tree`` lists a HelmRelease's objects.

The last two are `controllers.helmrelease.preview`'s (the UI reads releases
too), worded here as command errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.api.helm import HelmRelease
from sluice.cli.clientctx import Client
from sluice.cli.failing import CommandError
from sluice.controllers.helmrelease import preview
from sluice.controllers.helmrelease.errors import StorageError, ValuesError
from sluice.controllers.helmrelease.preview import release_location
from sluice.controllers.helmrelease.storage import StoredRelease
from sluice.controllers.helmrelease.values import compose_values
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


async def current_release(client: Client, obj: Mapping[str, Any]) -> StoredRelease | None:
    """The latest stored revision of ``obj``'s release, None before the first install."""
    try:
        return await preview.current_release(client.objects, obj)
    except StorageError as exc:
        raise CommandError(exc.message) from None


async def release_refs(client: Client, obj: Mapping[str, Any]) -> list[ObjectRef]:
    """The objects the latest release of ``obj`` holds, in manifest order."""
    try:
        return await preview.release_refs(client.objects, obj)
    except StorageError as exc:
        raise CommandError(exc.message) from None
