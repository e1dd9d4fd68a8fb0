"""The Deployment controller: ReplicaSets per pod template, rollouts, status.

Each distinct pod template gets a ReplicaSet ``<deployment>-<pod-template-hash>``
carrying the ``pod-template-hash`` label, a controller ownerReference and the
``deployment.kubernetes.io/{revision,desired-replicas,max-replicas}``
annotations. A RollingUpdate scales the new ReplicaSet up within ``maxSurge``
and the old ones down only as far as ``maxUnavailable`` allows, counting
available pods as the ReplicaSets report them; Recreate empties the old
ReplicaSets and waits for their pods to be gone before creating the new one;
a paused Deployment only scales. Percentages resolve like Kubernetes' (surge
rounds up, unavailable down, and both zero means one unavailable).

Scaling decisions wait until every ReplicaSet has reported on its latest spec
(``status.observedGeneration``): acting on a count from before the last scale
could take more pods away than ``maxUnavailable`` allows.

The status carries the counts and the ``Available`` and ``Progressing``
conditions with Kubernetes' reasons and messages, which kstatus, ``kubectl
rollout status`` and Flux's health checks read.
"""

from __future__ import annotations

from typing import Any

from sluice.apiserver.simulation.conditions import get_condition, remove_condition, set_condition
from sluice.apiserver.simulation.context import DEPLOYMENTS, KCM, PODS, REPLICASETS, Sim
from sluice.apiserver.simulation.recorder import DEPLOYMENT_CONTROLLER
from sluice.apiserver.simulation.shapes import (
    POD_TEMPLATE_HASH,
    epoch,
    int_field,
    meta,
    name_of,
    now,
    owner_reference,
    same_template,
    scaled_value,
    template_hash,
    terminating,
    uid_of,
)
from sluice.core.jsoncopy import json_copy

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that are not copied onto its ReplicaSets.
_NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
               DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
# progressDeadlineSeconds meaning "never": no Progressing condition is kept.
_NO_DEADLINE = 2147483647


def surge_and_unavailable(d: Obj) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down) as pod counts."""
    spec = d.get("spec") or {}
    replicas = int_field(d, "spec", "replicas", default=1)
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, 0
    ru = strategy.get("rollingUpdate") or {}
    surge = scaled_value(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        # Both zero could never make progress; Kubernetes then allows one unavailable pod.
        unavailable = 1
    return surge, unavailable


def max_unavailable(d: Obj) -> int:
    replicas = int_field(d, "spec", "replicas", default=1)
    if ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate" or replicas == 0:
        return 0
    return min(surge_and_unavailable(d)[1], replicas)


def _spec(rs: Obj | None) -> int:
    return int_field(rs, "spec", "replicas", default=1) if rs is not None else 0


def _stat(rs: Obj | None, field: str) -> int:
    return int_field(rs, "status", field) if rs is not None else 0


def _revision(rs: Obj) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _observed(rs: Obj) -> bool:
    gen = meta(rs).get("generation")
    return gen is None or int_field(rs, "status", "observedGeneration", default=-1) >= int(gen)


def _age_order(rs: Obj) -> tuple[float, str]:
    return (epoch(meta(rs).get("creationTimestamp")) or 0.0, name_of(rs))


class Deployments:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def sync(self, ns: str, name: str) -> None:
        d = self.sim.get(DEPLOYMENTS, ns, name)
        if d is None or terminating(d):
            return
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        self.sim.adopt(d, REPLICASETS, "apps/v1", "Deployment")
        owned = [rs for rs in self.sim.owned(d, REPLICASETS) if not terminating(rs)]
        owned.sort(key=_age_order)
        new = next((rs for rs in owned if same_template(
            (rs.get("spec") or {}).get("template"), template)), None)
        olds = [rs for rs in owned if rs is not new]
        collisions = int_field(d, "status", "collisionCount")
        if not all(_observed(rs) for rs in owned):
            self._write_status(d, new, olds, collisions, created=False)
            return
        max_old = max((_revision(rs) for rs in olds), default=0)
        if new is not None and _revision(new) <= max_old:
            # The template went back to an older ReplicaSet's: it becomes the newest revision.
            new = self._set_revision(new, max_old + 1)
        if new is not None:
            new = self._follow_deployment(d, new)
        created = False
        if spec.get("paused"):
            new, olds = self._scale_paused(d, new, olds)
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            new, olds, created, collisions = self._recreate(d, new, olds, max_old, collisions)
        else:
            new, olds, created, collisions = self._rolling(d, new, olds, max_old, collisions)
        if new is not None:
            rev = str(_revision(new))

            def annotate(o: Obj) -> None:
                o["metadata"].setdefault("annotations", {})[REVISION] = rev

            d = self.sim.write_spec(DEPLOYMENTS, d, KCM, annotate)
        complete = self._write_status(d, new, olds, collisions, created)
        if complete:
            self._clean_history(d, olds)

    # ----------------------------------------------------------- strategies
    def _rolling(self, d: Obj, new: Obj | None, olds: list[Obj], max_old: int,
                 collisions: int) -> tuple[Obj | None, list[Obj], bool, int]:
        replicas = int_field(d, "spec", "replicas", default=1)
        surge, unavailable = surge_and_unavailable(d)
        created = False
        if new is None:
            count = self._new_count(replicas, surge, 0, olds)
            new, collisions = self._create(d, count, max_old + 1, collisions)
            if new is None:
                return None, olds, False, collisions
            created = True
        elif _spec(new) > replicas:
            new = self._scale(d, new, replicas)
        elif _spec(new) < replicas:
            count = self._new_count(replicas, surge, _spec(new), olds)
            if count != _spec(new):
                new = self._scale(d, new, count)
        olds = self._scale_down_olds(d, new, olds, replicas - unavailable)
        return new, olds, created, collisions

    @staticmethod
    def _new_count(replicas: int, surge: int, current: int, olds: list[Obj]) -> int:
        """How many pods the new ReplicaSet may have without passing replicas + maxSurge."""
        total = current + sum(_spec(rs) for rs in olds)
        room = replicas + surge - total
        if room <= 0:
            return current
        return current + max(0, min(room, replicas - current))

    def _scale_down_olds(self, d: Obj, new: Obj, olds: list[Obj],
                         min_available: int) -> list[Obj]:
        old_total = sum(_spec(rs) for rs in olds)
        if old_total == 0:
            return olds
        new_unavailable = _spec(new) - _stat(new, "availableReplicas")
        budget = old_total + _spec(new) - min_available - new_unavailable
        if budget <= 0:
            return olds
        olds = list(olds)
        # First the old pods that are not available anyway: removing them costs nothing.
        cleaned = 0
        for i, rs in enumerate(olds):
            if cleaned >= budget:
                break
            unhealthy = _spec(rs) - _stat(rs, "availableReplicas")
            if _spec(rs) == 0 or unhealthy <= 0:
                continue
            step = min(unhealthy, budget - cleaned)
            olds[i] = self._scale(d, rs, _spec(rs) - step)
            cleaned += step
        # Then available ones, as far as the available total stays at min_available.
        available = _stat(new, "availableReplicas") + sum(_stat(rs, "availableReplicas")
                                                          for rs in olds)
        allowed = available - min_available
        done = 0
        for i, rs in enumerate(olds):
            if done >= allowed:
                break
            if _spec(rs) == 0:
                continue
            step = min(_spec(rs), allowed - done)
            olds[i] = self._scale(d, rs, _spec(rs) - step)
            done += step
        return olds

    def _recreate(self, d: Obj, new: Obj | None, olds: list[Obj], max_old: int,
                  collisions: int) -> tuple[Obj | None, list[Obj], bool, int]:
        replicas = int_field(d, "spec", "replicas", default=1)
        if any(_spec(rs) > 0 for rs in olds):
            return new, [self._scale(d, rs, 0) if _spec(rs) else rs for rs in olds], False, \
                collisions
        # The new pods start only once every old one has stopped, Terminating included.
        for rs in olds:
            if any((p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                   for p in self.sim.owned(rs, PODS)):
                return new, olds, False, collisions
        if new is None:
            new, collisions = self._create(d, replicas, max_old + 1, collisions)
            return new, olds, new is not None, collisions
        if _spec(new) != replicas:
            new = self._scale(d, new, replicas)
        return new, olds, False, collisions

    def _scale_paused(self, d: Obj, new: Obj | None,
                      olds: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        """A paused Deployment follows spec.replicas without rolling anything out."""
        replicas = int_field(d, "spec", "replicas", default=1)
        everything = ([new] if new is not None else []) + olds
        total = sum(_spec(rs) for rs in everything)
        if not everything or total == replicas:
            return new, olds
        active = [rs for rs in everything if _spec(rs) > 0]
        target = new if new is not None else (active or everything)[-1]
        if len(active) > 1 and target is not new:
            target = max(active, key=_age_order)
        count = max(0, _spec(target) + replicas - total)
        scaled = self._scale(d, target, count)
        if target is new:
            return scaled, olds
        return new, [scaled if rs is target else rs for rs in olds]

    # -------------------------------------------------------------- writes
    def _create(self, d: Obj, count: int, revision: int,
                collisions: int) -> tuple[Obj | None, int]:
        m = meta(d)
        ns, dname = str(m.get("namespace") or ""), name_of(d)
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        replicas = int_field(d, "spec", "replicas", default=1)
        surge, _ = surge_and_unavailable(d)
        for _ in range(10):
            h = template_hash(template, collisions)
            existing = self.sim.get(REPLICASETS, ns, f"{dname}-{h}")
            if existing is None:
                break
            # Another template (or someone else's ReplicaSet) has this name: hash again.
            collisions += 1
        else:
            return None, collisions
        tpl = json_copy(template)
        tpl.setdefault("metadata", {}).setdefault("labels", {})[POD_TEMPLATE_HASH] = h
        selector = json_copy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH] = h
        annotations = {k: v for k, v in (m.get("annotations") or {}).items()
                       if k not in _NOT_COPIED}
        annotations.update({DESIRED_REPLICAS: str(replicas),
                            MAX_REPLICAS: str(replicas + surge), REVISION: str(revision)})
        rs_spec: Obj = {"replicas": count, "selector": selector, "template": tpl}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        body: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{dname}-{h}", "labels": dict(tpl["metadata"]["labels"]),
                         "annotations": annotations,
                         "ownerReferences": [owner_reference(d, "apps/v1", "Deployment")]},
            "spec": rs_spec,
        }
        created = self.sim.create(REPLICASETS, ns, body, KCM)
        if created is not None and count > 0:
            self._scaled(d, created, 0, count)
        return created, collisions

    def _scale(self, d: Obj, rs: Obj, count: int) -> Obj:
        replicas = int_field(d, "spec", "replicas", default=1)
        surge, _ = surge_and_unavailable(d)

        def change(o: Obj) -> None:
            o["spec"]["replicas"] = count
            ann = o["metadata"].setdefault("annotations", {})
            ann[DESIRED_REPLICAS] = str(replicas)
            ann[MAX_REPLICAS] = str(replicas + surge)

        before = _spec(rs)
        written = self.sim.write_spec(REPLICASETS, rs, KCM, change)
        if before != count and written is not rs:
            self._scaled(d, written, before, count)
        return written

    def _scaled(self, d: Obj, rs: Obj, before: int, after: int) -> None:
        """The ``ScalingReplicaSet`` Event ``kubectl describe deployment`` lists."""
        way = "up" if after > before else "down"
        self.sim.events.normal(d, "ScalingReplicaSet",
                               f"Scaled {way} replica set {name_of(rs)} from {before} to {after}",
                               DEPLOYMENT_CONTROLLER, api_version="apps/v1", kind="Deployment")

    def _follow_deployment(self, d: Obj, rs: Obj) -> Obj:
        """The new ReplicaSet keeps the Deployment's annotations and minReadySeconds."""
        spec = d.get("spec") or {}
        copied = {k: v for k, v in (meta(d).get("annotations") or {}).items()
                  if k not in _NOT_COPIED}

        def change(o: Obj) -> None:
            if copied:
                o["metadata"].setdefault("annotations", {}).update(copied)
            if spec.get("minReadySeconds"):
                o["spec"]["minReadySeconds"] = spec["minReadySeconds"]
            else:
                o["spec"].pop("minReadySeconds", None)

        return self.sim.write_spec(REPLICASETS, rs, KCM, change)

    def _set_revision(self, rs: Obj, revision: int) -> Obj:
        def change(o: Obj) -> None:
            ann = o["metadata"].setdefault("annotations", {})
            old = ann.get(REVISION)
            if old:
                history = [h for h in str(ann.get(REVISION_HISTORY, "")).split(",") if h]
                ann[REVISION_HISTORY] = ",".join([*history, old])
            ann[REVISION] = str(revision)

        return self.sim.write_spec(REPLICASETS, rs, KCM, change)

    def _clean_history(self, d: Obj, olds: list[Obj]) -> None:
        """Delete empty old ReplicaSets beyond ``revisionHistoryLimit``, oldest revision first."""
        limit = int_field(d, "spec", "revisionHistoryLimit", default=10)
        candidates = sorted((rs for rs in olds if not terminating(rs)), key=_revision)
        extra = len(candidates) - limit
        for rs in candidates:
            if extra <= 0:
                break
            if _spec(rs) == 0 and _stat(rs, "replicas") == 0 and _observed(rs):
                m = meta(rs)
                self.sim.delete(REPLICASETS, str(m.get("namespace") or ""), name_of(rs),
                                uid=uid_of(rs))
                extra -= 1

    # -------------------------------------------------------------- status
    def _write_status(self, d: Obj, new: Obj | None, olds: list[Obj], collisions: int,
                      created: bool) -> bool:
        """Write the Deployment's status; True when the rollout is complete."""
        spec = d.get("spec") or {}
        replicas = int_field(d, "spec", "replicas", default=1)
        everything = ([new] if new is not None else []) + olds
        total = sum(_stat(rs, "replicas") for rs in everything)
        updated = _stat(new, "replicas")
        ready = sum(_stat(rs, "readyReplicas") for rs in everything)
        available = sum(_stat(rs, "availableReplicas") for rs in everything)
        unavailable = max(0, sum(_spec(rs) for rs in everything) - available)
        old_status = d.get("status") or {}
        status: Obj = {}
        if meta(d).get("generation") is not None:
            status["observedGeneration"] = meta(d)["generation"]
        # Zero counts are omitted, as Kubernetes serialises them.
        for field, value in (("replicas", total), ("updatedReplicas", updated),
                             ("readyReplicas", ready), ("availableReplicas", available),
                             ("unavailableReplicas", unavailable)):
            if value:
                status[field] = value
        if collisions:
            status["collisionCount"] = collisions
        at = now()
        conds: list[Obj] = list(old_status.get("conditions") or [])
        if available >= replicas - max_unavailable(d):
            conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.", at, update_time=True)
        else:
            conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.", at,
                                  update_time=True)
        complete = updated == replicas and total == replicas and available == replicas
        rs_name = name_of(new) if new is not None else ""
        current = get_condition(conds, "Progressing")
        deadline = spec.get("progressDeadlineSeconds")
        if deadline is None or deadline == _NO_DEADLINE:
            conds = remove_condition(conds, "Progressing")
        elif spec.get("paused"):
            conds = set_condition(conds, "Progressing", "Unknown", "DeploymentPaused",
                                  "Deployment is paused", at, update_time=True)
        elif current is not None and current.get("reason") == "DeploymentPaused":
            conds = set_condition(conds, "Progressing", "Unknown", "DeploymentResumed",
                                  "Deployment is resumed", at, update_time=True)
        elif created:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{rs_name}"', at, update_time=True)
        elif not (total == updated and current is not None and
                  current.get("reason") == "NewReplicaSetAvailable"):
            if complete:
                msg = (f'ReplicaSet "{rs_name}" has successfully progressed.' if rs_name
                       else "Deployment has successfully progressed.")
                conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                      msg, at, update_time=True)
            elif current is None or _progressed(old_status, status):
                msg = (f'ReplicaSet "{rs_name}" is progressing.' if rs_name
                       else "Deployment is progressing.")
                conds = set_condition(conds, "Progressing", "True", "ReplicaSetUpdated", msg, at,
                                      update_time=True, touch=True)
        if conds:
            status["conditions"] = conds
        self.sim.write_status(DEPLOYMENTS, d, status, KCM)
        return complete


def _progressed(old: Obj, new: Obj) -> bool:
    """More updated, ready or available pods, or fewer old ones, than the last status said."""
    def n(s: Obj, k: str) -> int:
        v = s.get(k, 0)
        return v if isinstance(v, int) else 0

    old_olds = n(old, "replicas") - n(old, "updatedReplicas")
    new_olds = n(new, "replicas") - n(new, "updatedReplicas")
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas") or new_olds < old_olds or
            n(new, "readyReplicas") > n(old, "readyReplicas") or
            n(new, "availableReplicas") > n(old, "availableReplicas"))
