"""Namespaces' lifecycle: what appears in a new one, and how a deleted one empties.

Kubernetes gives every namespace a ``default`` ServiceAccount and a
``kube-root-ca.crt`` ConfigMap holding the cluster CA (``ca.crt``), and puts
them back when they are deleted or edited; workloads and clients (Helm,
kubectl debug, in-cluster clients) expect both.

Deleting a namespace only marks it: ``deletionTimestamp`` is set and the
phase becomes ``Terminating`` while ``spec.finalizers`` still lists
``kubernetes``. The namespace controller then deletes every namespaced object
in it, of every served type (custom resources included), and waits for the
ones whose finalizers hold them: a Flux Kustomization carries
``finalizers.fluxcd.io`` until its controller has cleaned up, pods may be
Terminating. Meanwhile the namespace's conditions say what remains, as
``kubectl describe namespace`` shows on a real cluster. Once nothing is
left, ``kubernetes`` is removed from ``spec.finalizers`` (the ``finalize``
subresource) and, with no finalizer of any kind left, the namespace itself
goes.
"""

from __future__ import annotations

import logging
from typing import Any

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest.objectmeta import now_rfc3339
from sluice.apiserver.rest.registry import Cluster, DeleteOptions, WriteOptions
from sluice.apiserver.schemas.resources import NAMESPACE_KEY, ResourceType
from sluice.core.jsoncopy import json_copy

log = logging.getLogger("sluice.apiserver.namespaces")

Obj = dict[str, Any]

MANAGER = "kube-controller-manager"
ROOT_CA = "kube-root-ca.crt"
DEFAULT_SA = "default"
SERVICE_ACCOUNTS = ("", "serviceaccounts")
CONFIGMAPS = ("", "configmaps")
KUBERNETES_FINALIZER = "kubernetes"

# The conditions kube-controller-manager keeps on a terminating namespace, with the values
# they take once the corresponding problem is absent.
_CLEAR = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered",
                                          "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions",
                                                    "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, "
                                        "may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers",
                                     "All content-preserving finalizers finished"),
}


class NamespaceLifecycle:
    """Creates the defaults of new namespaces and empties deleted ones."""

    def __init__(self, cluster: Cluster, ca_pem: str = "") -> None:
        self.cluster = cluster
        self.ca_pem = ca_pem

    def _type(self, key: tuple[str, str]) -> ResourceType | None:
        types = self.cluster.catalogue.for_storage_key(*key)
        for rt in types:
            if not rt.storage_version or rt.storage_version == rt.version:
                return rt
        return types[0] if types else None

    def sync(self, name: str) -> bool:
        """Bring one namespace forward; True while it waits on content that is still going."""
        ns = self.cluster.storage.get(NAMESPACE_KEY, "", name)
        if ns is None:
            return False
        if not ns["metadata"].get("deletionTimestamp"):
            self._ensure_defaults(name)
            return False
        return self._terminate(ns)

    # ------------------------------------------------------------- defaults
    def _ensure_defaults(self, namespace: str) -> None:
        storage = self.cluster.storage
        sa_type, cm_type = self._type(SERVICE_ACCOUNTS), self._type(CONFIGMAPS)
        try:
            if sa_type is not None and storage.get(SERVICE_ACCOUNTS, namespace,
                                                   DEFAULT_SA) is None:
                self.cluster.create(sa_type, namespace, {
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": DEFAULT_SA}}, WriteOptions(manager=MANAGER))
            if cm_type is None:
                return
            data = {"ca.crt": self.ca_pem}
            cm = storage.get(CONFIGMAPS, namespace, ROOT_CA)
            if cm is None:
                self.cluster.create(cm_type, namespace, {
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ROOT_CA},
                    "data": data}, WriteOptions(manager=MANAGER))
            elif cm.get("data") != data or cm.get("binaryData"):
                # Edited by someone: the CA publisher writes it back.
                body = json_copy(cm)
                body["data"] = data
                body.pop("binaryData", None)
                self.cluster.update(cm_type, namespace, ROOT_CA, body,
                                    WriteOptions(manager=MANAGER))
        except ApiError as exc:
            # A namespace deleted meanwhile refuses new content; nothing to do then.
            log.debug("namespace %s defaults: %s", namespace, exc)

    # ---------------------------------------------------------- termination
    def _terminate(self, ns: Obj) -> bool:
        name = ns["metadata"]["name"]
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        failures: list[str] = []
        seen: set[tuple[str, str]] = set()
        for rt in sorted(self.cluster.catalogue, key=lambda t: (t.group, t.plural)):
            if not rt.namespaced or rt.storage_key in seen or "delete" not in rt.verbs:
                continue
            seen.add(rt.storage_key)
            rtype = self._type(rt.storage_key) or rt
            for obj in self.cluster.storage.list(rt.storage_key, name):
                meta = obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    try:
                        self.cluster.delete(rtype, name, meta["name"], DeleteOptions(
                            propagation="Background", precondition_uid=meta.get("uid", "")))
                    except ApiError as exc:
                        if exc.code != 404:
                            failures.append(f"{rt.plural}.{rt.group} \"{meta['name']}\": {exc}")
                left = self.cluster.storage.get(rt.storage_key, name, meta["name"])
                if left is None:
                    continue
                label = f"{rt.plural}.{rt.group}"
                remaining[label] = remaining.get(label, 0) + 1
                for f in left["metadata"].get("finalizers") or []:
                    finalizers[f] = finalizers.get(f, 0) + 1
        if remaining or failures:
            self._report(ns, remaining, finalizers, failures)
            return True
        return self._finalize(ns)

    def _report(self, ns: Obj, remaining: dict[str, int], finalizers: dict[str, int],
                failures: list[str]) -> None:
        """Say on the namespace what its deletion waits for."""
        wanted: dict[str, tuple[str, str, str]] = {
            t: ("False", reason, message) for t, (reason, message) in _CLEAR.items()}
        if failures:
            wanted["NamespaceDeletionContentFailure"] = (
                "True", "ContentDeletionFailed",
                "Failed to delete all resource types, " + str(len(failures)) +
                " remaining: " + ", ".join(failures))
        if remaining:
            wanted["NamespaceContentRemaining"] = (
                "True", "SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                    f"{k} has {v} resource instances" for k, v in sorted(remaining.items())))
        if finalizers:
            wanted["NamespaceFinalizersRemaining"] = (
                "True", "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: " + ", ".join(
                    f"{k} in {v} resource instances" for k, v in sorted(finalizers.items())))
        status = json_copy(ns.get("status") or {})
        old = {c.get("type"): c for c in status.get("conditions") or []}
        at = now_rfc3339()
        conditions = []
        for ctype, (cstatus, reason, message) in wanted.items():
            prev = old.get(ctype)
            if prev and (prev.get("status"), prev.get("reason"), prev.get("message")) == (
                    cstatus, reason, message):
                conditions.append(prev)
                continue
            conditions.append({"type": ctype, "status": cstatus, "lastTransitionTime": at,
                               "reason": reason, "message": message})
        if conditions == status.get("conditions"):
            return
        status["conditions"] = conditions
        body = json_copy(ns)
        body["status"] = status
        rt = self._type(NAMESPACE_KEY)
        if rt is None:
            return
        try:
            self.cluster.update(rt, "", ns["metadata"]["name"], body,
                                WriteOptions(manager=MANAGER), subresource="status")
        except ApiError as exc:
            log.debug("namespace %s status: %s", ns["metadata"]["name"], exc)

    def _finalize(self, ns: Obj) -> bool:
        """Empty namespace: drop the ``kubernetes`` finalizer, then the namespace itself."""
        rt = self._type(NAMESPACE_KEY)
        if rt is None:
            return False
        name = ns["metadata"]["name"]
        spec_finalizers = list((ns.get("spec") or {}).get("finalizers") or [])
        try:
            if KUBERNETES_FINALIZER in spec_finalizers:
                body = json_copy(ns)
                body.setdefault("spec", {})["finalizers"] = [
                    f for f in spec_finalizers if f != KUBERNETES_FINALIZER]
                self.cluster.update(rt, "", name, body, WriteOptions(manager=MANAGER),
                                    subresource="finalize")
        except ApiError as exc:
            log.debug("namespace %s finalize: %s", name, exc)
            return True
        current = self.cluster.storage.get(NAMESPACE_KEY, "", name)
        if current is None:
            return False
        if (current.get("spec") or {}).get("finalizers") or \
                current["metadata"].get("finalizers"):
            return False  # other finalizers: their owners remove them, which brings us back
        # Nothing holds it any more: the finalize write above removed it (the registry
        # deletes a namespace once both finalizer lists are empty).
        return False
