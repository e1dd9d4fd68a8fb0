"""Service endpoints: the Endpoints and EndpointSlice controllers, and load balancers.

For every Service with a selector, the pods it selects that have an address
are published in an ``Endpoints`` object of the same name (ready pods under
``addresses``, the others under ``notReadyAddresses``, terminating pods left
out) and in EndpointSlices ``<service>-<random>`` owned by the Service, where
terminating pods stay listed with ``terminating: true``. Named target ports
resolve against each pod's container ports, so pods that name them
differently land in different subsets or slices, as in Kubernetes.

A ``LoadBalancer`` Service gets an ingress address from 172.18.255.0/24, so
it reads as provisioned (kstatus waits for one).

The ClusterIP itself is allocated by the API server, not here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sluice.apiserver.simulation.context import (
    ENDPOINT_SLICES,
    ENDPOINTS,
    KCM,
    PODS,
    SERVICES,
    Sim,
)
from sluice.apiserver.simulation.shapes import (
    labels_of,
    meta,
    name_of,
    owner_reference,
    pod_ready,
    terminating,
    uid_of,
)
from sluice.apiserver.store.watch import Event
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str):
        if target.isdigit():
            return int(target)
        protocol = port.get("protocol", "TCP")
        for c in (pod.get("spec") or {}).get("containers") or []:
            for cp in c.get("ports") or []:
                if cp.get("name") == target and cp.get("protocol", "TCP") == protocol:
                    value = cp.get("containerPort")
                    return value if isinstance(value, int) else None
    return None


def _ports_for(svc: Obj, pod: Obj) -> tuple[tuple[str, int, str, str], ...] | None:
    """(name, port, protocol, appProtocol) per Service port for one pod; None if none resolve."""
    ports = (svc.get("spec") or {}).get("ports") or []
    out = []
    for p in ports:
        if not isinstance(p, dict):
            continue
        target = _target_port(p, pod)
        if target is not None:
            out.append((str(p.get("name") or ""), target, str(p.get("protocol") or "TCP"),
                        str(p.get("appProtocol") or "")))
    if ports and not out:
        return None
    return tuple(out)


def _ip_key(ip: str) -> tuple[int, str]:
    try:
        return (int(ipaddress.ip_address(ip)), ip)
    except ValueError:
        return (0, ip)


def _target_ref(pod: Obj) -> Obj:
    m = meta(pod)
    return {"kind": "Pod", "name": m.get("name"), "namespace": m.get("namespace"),
            "uid": m.get("uid")}


class Endpoints:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def reserve_addresses(self) -> None:
        for svc in self.sim.cluster.storage.list(SERVICES):
            for ing in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                if isinstance(ing, dict) and ing.get("ip"):
                    self.sim.lb_ips.reserve(str(ing["ip"]))

    def observe(self, ev: Event) -> None:
        if ev.key == SERVICES and ev.type == "DELETED":
            for ing in ((ev.obj.get("status") or {}).get("loadBalancer") or {}).get(
                    "ingress") or []:
                if isinstance(ing, dict) and ing.get("ip"):
                    self.sim.lb_ips.release(str(ing["ip"]))

    def sync(self, ns: str, name: str) -> None:
        svc = self.sim.get(SERVICES, ns, name)
        if svc is None:
            # The Service is gone: its Endpoints go too (slices follow their owner reference).
            ep = self.sim.get(ENDPOINTS, ns, name)
            if ep is not None:
                self.sim.delete(ENDPOINTS, ns, name, uid=uid_of(ep))
            return
        if terminating(svc):
            return
        svc = self._load_balancer(svc)
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if spec.get("type") == "ExternalName" or not isinstance(selector, dict) or not selector:
            return  # endpoints of selector-less Services belong to whoever writes them
        pods = [p for n in self.sim.index.pods_matching(ns, {str(k): str(v) for k, v in
                                                              selector.items()})
                if (p := self.sim.get(PODS, ns, n)) is not None
                and (p.get("status") or {}).get("podIP")]
        pods.sort(key=lambda p: _ip_key(str(p["status"]["podIP"])))
        groups: dict[tuple[tuple[str, int, str, str], ...], list[Obj]] = {}
        for pod in pods:
            ports = _ports_for(svc, pod)
            if ports is not None:
                groups.setdefault(ports, []).append(pod)
        labels = dict(labels_of(svc))
        if spec.get("clusterIP") == "None":
            labels[HEADLESS] = ""
        self._write_endpoints(svc, groups, labels)
        self._write_slices(svc, groups, labels)

    # ------------------------------------------------------------ Endpoints
    def _write_endpoints(self, svc: Obj, groups: dict[Any, list[Obj]],
                         labels: dict[str, str]) -> None:
        m = meta(svc)
        ns, name = str(m.get("namespace") or ""), name_of(svc)
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        subsets: list[Obj] = []
        for ports, pods in sorted(groups.items()):
            ready: list[Obj] = []
            unready: list[Obj] = []
            for pod in pods:
                if terminating(pod) and not publish:
                    continue
                addr: Obj = {"ip": pod["status"]["podIP"],
                             "nodeName": (pod.get("spec") or {}).get("nodeName"),
                             "targetRef": _target_ref(pod)}
                pspec = pod.get("spec") or {}
                if pspec.get("hostname") and pspec.get("subdomain") == name:
                    addr["hostname"] = pspec["hostname"]
                (ready if publish or pod_ready(pod) else unready).append(addr)
            if not ready and not unready:
                continue
            subset: Obj = {}
            if ready:
                subset["addresses"] = ready
            if unready:
                subset["notReadyAddresses"] = unready
            if ports:
                subset["ports"] = [_port(p) for p in ports]
            subsets.append(subset)
        current = self.sim.get(ENDPOINTS, ns, name)
        if current is None:
            body: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                         "metadata": {"name": name, **({"labels": labels} if labels else {})}}
            if subsets:
                body["subsets"] = subsets
            self.sim.create(ENDPOINTS, ns, body, KCM)
            return

        def change(o: Obj) -> None:
            if subsets:
                o["subsets"] = subsets
            else:
                o.pop("subsets", None)
            if labels:
                o["metadata"]["labels"] = labels
            else:
                o["metadata"].pop("labels", None)

        self.sim.write_spec(ENDPOINTS, current, KCM, change)

    # -------------------------------------------------------- EndpointSlices
    def _write_slices(self, svc: Obj, groups: dict[Any, list[Obj]],
                      labels: dict[str, str]) -> None:
        m = meta(svc)
        ns, name = str(m.get("namespace") or ""), name_of(svc)
        slice_labels = {**labels, SERVICE_NAME: name, MANAGED_BY: SLICE_CONTROLLER}
        wanted: list[tuple[list[Obj], list[Obj]]] = []
        for ports, pods in sorted(groups.items()):
            endpoints = []
            for pod in pods:
                ready = pod_ready(pod)
                gone = terminating(pod)
                ep: Obj = {"addresses": [pod["status"]["podIP"]],
                           "conditions": {"ready": ready and not gone, "serving": ready,
                                          "terminating": gone},
                           "nodeName": (pod.get("spec") or {}).get("nodeName"),
                           "targetRef": _target_ref(pod)}
                endpoints.append(ep)
            wanted.append(([_slice_port(p) for p in ports], endpoints))
        if not wanted:
            wanted.append(([], []))
        existing = sorted(self.sim.owned(svc, ENDPOINT_SLICES), key=name_of)
        # Reuse slices whose ports already match, then any others, then create.
        free = list(existing)
        plan: list[tuple[Obj | None, list[Obj], list[Obj]]] = []
        for ports, endpoints in wanted:
            match = next((s for s in free if (s.get("ports") or []) == ports), None)
            if match is not None:
                free.remove(match)
            plan.append((match, ports, endpoints))
        for i, (match, ports, endpoints) in enumerate(plan):
            if match is None and free:
                plan[i] = (free.pop(0), ports, endpoints)
        for s in free:
            sm = meta(s)
            self.sim.delete(ENDPOINT_SLICES, ns, str(sm.get("name")), uid=uid_of(s))
        for match, ports, endpoints in plan:
            if match is None:
                body: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                             "metadata": {"generateName": f"{name}-", "labels": slice_labels,
                                          "ownerReferences": [
                                              owner_reference(svc, "v1", "Service")]},
                             "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
                self.sim.create(ENDPOINT_SLICES, ns, body, KCM)
                continue

            def change(o: Obj, ports: list[Obj] = ports, endpoints: list[Obj] = endpoints) -> None:
                o["endpoints"] = endpoints
                o["ports"] = ports
                o["metadata"]["labels"] = {**(o["metadata"].get("labels") or {}),
                                           **slice_labels}

            self.sim.write_spec(ENDPOINT_SLICES, match, KCM, change)

    # -------------------------------------------------------- load balancers
    def _load_balancer(self, svc: Obj) -> Obj:
        spec = svc.get("spec") or {}
        status = svc.get("status") or {}
        ingress = (status.get("loadBalancer") or {}).get("ingress") or []
        if spec.get("type") == "LoadBalancer" and not ingress:
            ip = self.sim.lb_ips.allocate()
            new = json_copy(status)
            new["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}
            return self.sim.write_status(SERVICES, svc, new, KCM)
        if spec.get("type") != "LoadBalancer" and ingress:
            for ing in ingress:
                if isinstance(ing, dict) and ing.get("ip"):
                    self.sim.lb_ips.release(str(ing["ip"]))
            new = json_copy(status)
            new["loadBalancer"] = {}
            return self.sim.write_status(SERVICES, svc, new, KCM)
        return svc


def _port(p: tuple[str, int, str, str]) -> Obj:
    name, port, protocol, app = p
    out: Obj = {}
    if name:
        out["name"] = name
    out["port"] = port
    out["protocol"] = protocol
    if app:
        out["appProtocol"] = app
    return out


def _slice_port(p: tuple[str, int, str, str]) -> Obj:
    name, port, protocol, app = p
    out: Obj = {"name": name, "port": port, "protocol": protocol}
    if app:
        out["appProtocol"] = app
    return out
