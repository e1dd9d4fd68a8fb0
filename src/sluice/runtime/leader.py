"""Leader election on a ``coordination.k8s.io/v1`` Lease, as controller-runtime does it.

When several replicas of the controllers run (``--enable-leader-election``),
only the holder of the Lease reconciles; the others wait and take over when
the holder stops renewing. The protocol is client-go's:

* the Lease records ``holderIdentity``, ``leaseDurationSeconds``,
  ``acquireTime``, ``renewTime`` and ``leaseTransitions``;
* a candidate may take the Lease when it is free (no holder) or when its
  record has not changed for ``lease_duration`` *as observed on the
  candidate's own clock* (so clock skew between machines does not matter);
* every write carries the resourceVersion it read, so two candidates racing
  for an expired Lease cannot both win (one gets a 409 and keeps waiting);
* the leader renews every ``retry_period``; if it cannot renew for
  ``renew_deadline`` it considers leadership lost and the manager stops;
* on a clean shutdown the leader releases the Lease (empty holder), so a
  standby takes over at once instead of after ``lease_duration``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx2

from sluice.kube.errors import KubeError, is_conflict, is_not_found
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects

__all__ = ["LeaderElector", "LeadershipLost", "default_identity"]

log = logging.getLogger("sluice.runtime.leader")


class LeadershipLost(Exception):
    """The Lease could not be renewed in time; the process must stop reconciling."""


def default_identity() -> str:
    """``<hostname>_<random>``, unique per process like controller-runtime's."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquire, hold and release one Lease."""

    def __init__(self, objects: Objects, namespace: str, name: str, *,
                 identity: str | None = None, lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("leader election needs retry_period < renew_deadline < lease_duration")
        self.objects = objects
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.is_leader = False
        self._mapping: ResourceMapping | None = None
        # The last record seen and when (loop clock) it was first seen.
        self._observed: tuple[Any, float] | None = None

    async def _leases(self) -> ResourceMapping:
        if self._mapping is None:
            self._mapping = await self.objects.mapping("coordination.k8s.io/v1", "Lease")
        return self._mapping

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _spec(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        now = _micro_time()
        prev = previous or {}
        taking_over = prev.get("holderIdentity") != self.identity
        transitions = int(prev.get("leaseTransitions") or 0)
        if taking_over and previous is not None:
            # client-go counts every change of holder, a released Lease included.
            transitions += 1
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": now if taking_over else prev.get("acquireTime", now),
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the Lease afterwards."""
        m = await self._leases()
        try:
            lease = await self.objects.get_or_none(m, self.name, self.namespace)
            if lease is None:
                body: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": self.name, "namespace": self.namespace},
                             "spec": self._spec(None)}
                await self.objects.create(m, body, self.namespace)
                self._observed = None
                return True
            spec = lease.get("spec") or {}
            record = (spec.get("holderIdentity"), spec.get("renewTime"),
                      spec.get("leaseDurationSeconds"))
            now = self._now()
            if self._observed is None or self._observed[0] != record:
                self._observed = (record, now)
            holder = spec.get("holderIdentity")
            if holder and holder != self.identity:
                duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
                if now - self._observed[1] < duration:
                    return False
            lease["spec"] = self._spec(spec)
            await self.objects.replace(m, lease, self.namespace)
            return True
        except KubeError as exc:
            if is_conflict(exc) or is_not_found(exc):
                return False
            log.warning("leader election: lease %s/%s: %s", self.namespace, self.name, exc)
            return False
        except httpx2.HTTPError as exc:
            log.warning("leader election: lease %s/%s: %s", self.namespace, self.name,
                        type(exc).__name__)
            return False

    async def acquire(self) -> None:
        """Return once we hold the Lease."""
        log.info("attempting to acquire leader lease %s/%s", self.namespace, self.name)
        while True:
            if await self.try_acquire_or_renew():
                break
            # Polling is the protocol here: the Lease is a record, not a signal.
            await asyncio.sleep(self.retry_period)
        self.is_leader = True
        log.info("successfully acquired lease %s/%s as %s", self.namespace, self.name,
                 self.identity)

    async def hold(self) -> None:
        """Renew until cancelled; raise `LeadershipLost` if renewal fails for too long."""
        last_renew = self._now()
        while True:
            await asyncio.sleep(self.retry_period)
            if await self.try_acquire_or_renew():
                last_renew = self._now()
                continue
            if self._now() - last_renew >= self.renew_deadline:
                self.is_leader = False
                raise LeadershipLost(f"failed to renew lease {self.namespace}/{self.name}")

    async def release(self) -> None:
        """Give the Lease up if we hold it (best effort)."""
        if not self.is_leader:
            return
        self.is_leader = False
        try:
            m = await self._leases()
            lease = await self.objects.get_or_none(m, self.name, self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"] = {**lease["spec"], "holderIdentity": None,
                             "leaseDurationSeconds": 1, "renewTime": _micro_time()}
            await self.objects.replace(m, lease, self.namespace)
            log.info("released lease %s/%s", self.namespace, self.name)
        except (KubeError, httpx2.HTTPError) as exc:
            log.warning("cannot release lease %s/%s: %s", self.namespace, self.name, exc)
