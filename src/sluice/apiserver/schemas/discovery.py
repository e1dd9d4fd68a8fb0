"""Discovery documents: how clients learn which resources the embedded cluster serves.

Every Kubernetes client starts by asking the server what it serves. kubectl
1.32 asks ``/api`` and ``/apis`` for *aggregated* discovery
(``apidiscovery.k8s.io/v2`` ``APIGroupDiscoveryList``: all groups, versions and
resources in one answer) and falls back to the legacy documents (``/api``
APIVersions, ``/apis`` APIGroupList, then one ``APIResourceList`` per
group-version) when the server answers plain JSON. The official Python
client's DynamicClient and Helm use the legacy documents. ``/version``
tells clients which Kubernetes release to expect.

All functions here are pure: they turn a :class:`Catalogue` into the JSON
documents. The HTTP handlers choose between them with :func:`negotiate`.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import re
import sys
from typing import Any

from sluice.apiserver.schemas.resources import Catalogue, ResourceType

Doc = dict[str, Any]

KUBE_MAJOR = "1"
KUBE_MINOR = "32"
# Build metadata (``+sluice``) rather than a pre-release suffix: Helm compares a
# chart's ``kubeVersion: ">=1.21.0"`` with semver rules that reject every
# pre-release (``v1.32.0-sluice``), as k3s's ``v1.32.0+k3s1`` shows.
GIT_VERSION = f"v{KUBE_MAJOR}.{KUBE_MINOR}.0+sluice"

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUBRESOURCE_VERBS = ["get", "patch", "update"]


def version_info(git_version: str = GIT_VERSION) -> Doc:
    """The ``/version`` document (``version.Info``)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    m = re.match(r"^v(\d+)\.(\d+)", git_version)
    major, minor = (m[1], m[2]) if m else (KUBE_MAJOR, KUBE_MINOR)
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"{sys.platform}/{arch}",
    }


# ---------------------------------------------------------------------------
# Ordering.

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in Kubernetes' preference order.

    GA before beta before alpha, newer major and minor first (v2, v1, v1beta2,
    v1beta1, v1alpha1), then anything not shaped like a Kubernetes version, by name.
    """
    m = _KUBE_VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    stability = {None: 0, "beta": 1, "alpha": 2}[m[2]]
    return (stability, -int(m[1]), -int(m[3] or 0), "")


def group_versions(cat: Catalogue) -> dict[str, list[str]]:
    """Group name to served versions, preferred first; built-in groups keep catalogue order."""
    groups: dict[str, list[str]] = {}
    custom: set[str] = set()
    for rt in cat:
        versions = groups.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
        if rt.is_custom:
            custom.add(rt.group)
    ordered = [g for g in groups if g not in custom] + sorted(custom - {""})
    return {g: sorted(groups[g], key=version_priority) for g in ordered}


def _resources(cat: Catalogue, group: str, version: str) -> list[ResourceType]:
    return sorted((rt for rt in cat if rt.group == group and rt.version == version),
                  key=lambda rt: rt.plural)


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def storage_version_hash(cat: Catalogue, rt: ResourceType) -> str:
    """The opaque hash Kubernetes publishes to tell storage-version changes apart."""
    storage = rt.storage_version or rt.version
    kind = rt.kind
    stored = cat.get(rt.group, storage, rt.plural)
    if stored is not None:
        kind = stored.kind
    digest = hashlib.sha256(f"{rt.group}/{storage}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


# ---------------------------------------------------------------------------
# Legacy discovery.


def api_versions(server_address: str = "") -> Doc:
    """``/api``: the core group's versions (``APIVersions``)."""
    cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}] if server_address else []
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs}


def api_groups(cat: Catalogue) -> Doc:
    """``/apis``: every named group with its versions, preferred first (``APIGroupList``)."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [api_group(cat, g) for g in group_versions(cat) if g]}


def api_group(cat: Catalogue, group: str) -> Doc | None:
    """``/apis/<group>``: one group (``APIGroup``), or None when it is not served."""
    versions = group_versions(cat).get(group)
    if not group or not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
            "preferredVersion": entries[0]}


def resource_list(cat: Catalogue, group: str, version: str) -> Doc | None:
    """``/api/v1`` or ``/apis/<g>/<v>`` (``APIResourceList``), or None when not served."""
    rts = _resources(cat, group, version)
    if not rts:
        return None
    resources: list[Doc] = []
    for rt in rts:
        entry: Doc = {"name": rt.plural, "singularName": rt.singular,
                      "namespaced": rt.namespaced, "kind": rt.kind, "verbs": list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entry["storageVersionHash"] = storage_version_hash(cat, rt)
        resources.append(entry)
        if rt.scale is not None:
            resources.append({"name": f"{rt.plural}/scale", "singularName": "",
                              "namespaced": rt.namespaced, "group": "autoscaling",
                              "version": "v1", "kind": "Scale", "verbs": _SUBRESOURCE_VERBS})
        if rt.status:
            resources.append({"name": f"{rt.plural}/status", "singularName": "",
                              "namespaced": rt.namespaced, "kind": rt.kind,
                              "verbs": _SUBRESOURCE_VERBS})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": _group_version(group, version), "resources": resources}


# ---------------------------------------------------------------------------
# Aggregated discovery (apidiscovery.k8s.io/v2).


def _discovery_resource(rt: ResourceType) -> Doc:
    entry: Doc = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subresources: list[Doc] = []
    if rt.scale is not None:
        subresources.append({
            "subresource": "scale",
            "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "verbs": _SUBRESOURCE_VERBS})
    if rt.status:
        subresources.append({
            "subresource": "status",
            "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "verbs": _SUBRESOURCE_VERBS})
    if subresources:
        entry["subresources"] = subresources
    return entry


def aggregated(cat: Catalogue, legacy: bool) -> Doc:
    """The ``APIGroupDiscoveryList`` for ``/api`` (``legacy=True``) or ``/apis``.

    Versions come preferred first, which is how clients pick the preferred one.
    Serve it with the Content-Type :data:`AGGREGATED_CONTENT_TYPE`.
    """
    items: list[Doc] = []
    for group, versions in group_versions(cat).items():
        if bool(group) == legacy:
            continue
        meta: Doc = {"creationTimestamp": None}
        if group:
            meta["name"] = group
        items.append({
            "metadata": meta,
            "versions": [{
                "version": v,
                "resources": [_discovery_resource(rt) for rt in _resources(cat, group, v)],
                "freshness": "Current",
            } for v in versions],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def negotiate(accept: str) -> str | None:
    """Which discovery form an ``Accept`` header asks for at ``/api`` and ``/apis``.

    Returns ``"aggregated"`` when ``apidiscovery.k8s.io/v2`` APIGroupDiscoveryList
    comes first among what the server can give, ``"legacy"`` for plain JSON
    (also for an empty header or ``*/*``), and None when nothing acceptable is
    offered (answer 406). The v2beta1 form is not served: clients that list it
    list v2 or plain JSON too.
    """
    if not accept.strip():
        return "legacy"
    for media_range in accept.split(","):
        mime, *raw_params = (p.strip() for p in media_range.split(";"))
        params = dict(p.partition("=")[::2] for p in raw_params)
        if params.get("q") == "0":
            continue
        if mime in ("application/json", "application/*", "*/*"):
            if (params.get("g"), params.get("v"), params.get("as")) == (
                    "apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList"):
                return "aggregated"
            if "as" not in params and "g" not in params:
                return "legacy"
    return None
