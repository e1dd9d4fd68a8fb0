"""REST mapping: from ``apiVersion`` + ``kind`` to the resource path, via discovery.

Kubernetes addresses objects by group, version and *plural resource name*
(``/apis/source.toolkit.fluxcd.io/v1/namespaces/x/gitrepositories``), while
manifests name a *kind*. Clients learn the mapping from the discovery
documents (``/api/v1``, ``/apis/<group>/<version>``). lightkube ships typed
classes for built-in kinds but makes no discovery calls, so anything applied
from Git (a CRD's custom resources included) needs this module.

`RestMapper` reads one group-version document at a time, caches it, and
refreshes it when a kind is missing (a CRD installed a moment ago becomes
usable without restarting). Each `ResourceMapping` also carries a lightkube
*generic* resource class (objects are plain dicts) with its ``/status``
subresource class, built without touching lightkube's global registry so
that typed lightkube classes used elsewhere never clash with ours.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube.core import resource as lkres
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericGlobalStatus,
    GenericNamespacedResource,
    GenericNamespacedStatus,
)

from sluice.kube.config import Connection
from sluice.kube.errors import DiscoveryError, NoKindMatch

__all__ = ["ResourceMapping", "RestMapper", "split_api_version"]

_VERBS = ["delete", "deletecollection", "get", "global_list", "global_watch", "list", "patch",
          "post", "put", "watch"]


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True)
class ResourceMapping:
    """Where objects of one kind live in the API."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    _classes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def resource(self) -> Any:
        """The lightkube generic resource class (objects are dicts)."""
        cls = self._classes.get("main")
        if cls is None:
            cls = self._build()
        return cls

    @property
    def status_resource(self) -> Any:
        """The lightkube class of the ``/status`` subresource."""
        return self.resource.Status

    def _build(self) -> Any:
        definition = lkres.ResourceDef(self.group, self.version, self.kind)
        info = lkres.ApiInfo(resource=definition, plural=self.plural, verbs=list(_VERBS))
        status_info = lkres.ApiInfo(resource=definition, parent=definition, plural=self.plural,
                                    verbs=["get", "patch", "put"], action="status")
        main_base: type = GenericNamespacedResource if self.namespaced else GenericGlobalResource
        status_base: type = GenericNamespacedStatus if self.namespaced else GenericGlobalStatus
        status_cls = type(f"{self.kind}Status", (status_base,), {"_api_info": status_info})
        cls = type(self.kind, (main_base,), {"_api_info": info, "Status": status_cls})
        self._classes["main"] = cls
        return cls


class RestMapper:
    """Discovery-backed, cached kind -> resource mapping for one connection."""

    def __init__(self, connection: Connection) -> None:
        self._http = connection.http
        # group/version -> kind -> mapping; a present-but-empty dict means
        # "discovered, and the group-version is not served".
        self._cache: dict[str, dict[str, ResourceMapping]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, api_version: str) -> asyncio.Lock:
        return self._locks.setdefault(api_version, asyncio.Lock())

    async def mapping(self, api_version: str, kind: str) -> ResourceMapping:
        """The mapping of ``kind`` in ``api_version``; `NoKindMatch` if not served."""
        known = self._cache.get(api_version)
        if known is not None and kind in known:
            return known[kind]
        async with self._lock(api_version):
            # Another task may have refreshed while we waited.
            known = self._cache.get(api_version)
            if known is None or kind not in known:
                known = await self._discover(api_version)
                self._cache[api_version] = known
        if kind not in known:
            raise NoKindMatch(api_version, kind)
        return known[kind]

    async def served(self) -> list[ResourceMapping]:
        """Every kind the API serves, in every group-version (core first).

        One ``/apis`` listing, then each group-version from the cache (a
        group-version not seen yet is discovered once). For callers that need
        the whole picture before any mapping of theirs is known: a
        post-renderer telling namespaced objects from cluster-scoped ones,
        Helm's ``.Capabilities.APIVersions``.
        """
        versions = ["v1"]
        try:
            resp = await self._http.get("/apis", headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise DiscoveryError(f"discovery of /apis failed: {exc}") from None
        if resp.status_code >= 400:
            raise DiscoveryError(f"discovery of /apis failed: HTTP {resp.status_code}")
        try:
            groups = resp.json().get("groups") or []
        except (ValueError, AttributeError):
            raise DiscoveryError("discovery of /apis returned invalid JSON") from None
        for group in groups:
            for ver in (group.get("versions") or []) if isinstance(group, dict) else []:
                if isinstance(ver, dict) and isinstance(ver.get("groupVersion"), str):
                    versions.append(ver["groupVersion"])
        out: list[ResourceMapping] = []
        for api_version in versions:
            known = self._cache.get(api_version)
            if known is None:
                async with self._lock(api_version):
                    known = self._cache.get(api_version)
                    if known is None:
                        known = await self._discover(api_version)
                        self._cache[api_version] = known
            out.extend(known.values())
        return out

    async def cluster_scoped_kinds(self) -> frozenset[str]:
        """``<group>/<Kind>`` of every cluster-scoped kind served (``""`` group for core)."""
        return frozenset(f"{m.group}/{m.kind}" for m in await self.served() if not m.namespaced)

    def invalidate(self, api_version: str | None = None) -> None:
        """Forget cached discovery (all of it, or one group-version)."""
        if api_version is None:
            self._cache.clear()
        else:
            self._cache.pop(api_version, None)

    async def _discover(self, api_version: str) -> dict[str, ResourceMapping]:
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            resp = await self._http.get(path, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise DiscoveryError(f"discovery of {api_version} failed: {exc}") from None
        if resp.status_code == 404:
            return {}
        if resp.status_code >= 400:
            raise DiscoveryError(f"discovery of {api_version} failed: HTTP {resp.status_code}")
        try:
            doc = resp.json()
        except ValueError:
            raise DiscoveryError(f"discovery of {api_version} returned invalid JSON") from None
        return parse_resource_list(group, version, doc)


def parse_resource_list(group: str, version: str, doc: Any) -> dict[str, ResourceMapping]:
    """Turn an ``APIResourceList`` into kind -> mapping (subresources folded in)."""
    resources = doc.get("resources") if isinstance(doc, dict) else None
    if not isinstance(resources, list):
        return {}
    subs: dict[str, set[str]] = {}
    mains: list[dict[str, Any]] = []
    for res in resources:
        if not isinstance(res, dict) or not isinstance(res.get("name"), str):
            continue
        plural, _, sub = res["name"].partition("/")
        if sub:
            subs.setdefault(plural, set()).add(sub)
        else:
            mains.append(res)
    out: dict[str, ResourceMapping] = {}
    for res in mains:
        kind = res.get("kind")
        if not isinstance(kind, str) or kind in out:
            continue
        plural = res["name"]
        out[kind] = ResourceMapping(group, version, kind, plural, bool(res.get("namespaced")),
                                    frozenset(subs.get(plural, ())))
    return out
