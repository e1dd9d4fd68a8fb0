"""Reading Helm's release storage, as helm-controller's ``DetermineReleaseState`` does.

Helm keeps each revision of a release in a Secret
``sh.helm.release.v1.<name>.v<N>`` (type ``helm.sh/release.v1``, labels
``owner=helm``, ``name``, ``status``, ``version``) whose ``release`` key is
base64 of gzip of the release JSON. Helm's actions (run through
`sluice.helmsdk`) write them; this module only reads them, with one list
call on the controller's own connection and no Helm worker, so a no-change
reconcile costs no thread:

* `ReleaseStorage.latest` is Helm's ``storage.Last``: the highest version;
* `StoredRelease.digest` is the snapshot digest helm-controller records in
  ``status.history`` and compares later (a release written by someone else
  no longer matches: the release is then "Unmanaged" and upgraded);
* `StoredRelease.snapshot` is the ``status.history`` entry;
* `ReleaseStorage.relocate` moves a release's revisions from one namespace
  to another (copied byte for byte, then deleted): Helm's SDK writes a new
  install where it installs, and Sluice keeps the storage where Flux does
  (see `names`);
* `ReleaseStorage.unlock` is helm-controller's unlock of a release left
  ``pending-*`` by a crash: the one write made outside a Helm action, as in
  Flux (which calls the storage driver's Update): status ``failed``,
  description ``Release unlocked from stale '<status>' state``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx2

from sluice.kube.errors import KubeError
from sluice.kube.objects import Obj, Objects

from .errors import StorageError

__all__ = ["PENDING_STATUSES", "ReleaseStorage", "StoredRelease"]

PENDING_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
TEST_HOOK = "test"


def _decode(data: str) -> dict[str, Any]:
    raw = base64.b64decode(data)
    if raw[:3] == b"\x1f\x8b\x08":
        raw = gzip.decompress(raw)
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


def _encode(release: dict[str, Any]) -> str:
    raw = gzip.compress(json.dumps(release, separators=(",", ":")).encode())
    return base64.b64encode(raw).decode()


def _time(value: Any) -> str | None:
    """Helm's RFC 3339 nano timestamps as Kubernetes writes Time (seconds, Z)."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    head = value.split(".")[0].rstrip("Z")
    if "+" in head[10:]:
        head = head[: 10 + head[10:].index("+")]
    return head + "Z"


@dataclass
class StoredRelease:
    """One decoded revision of a Helm release."""

    secret: str
    release: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.release.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.release.get("namespace") or "")

    @property
    def version(self) -> int:
        return int(self.release.get("version") or 0)

    @property
    def info(self) -> dict[str, Any]:
        info = self.release.get("info")
        return info if isinstance(info, dict) else {}

    @property
    def status(self) -> str:
        return str(self.info.get("status") or "")

    @property
    def chart_metadata(self) -> dict[str, Any]:
        chart = self.release.get("chart") or {}
        meta = chart.get("metadata") if isinstance(chart, dict) else None
        return meta if isinstance(meta, dict) else {}

    @property
    def chart_name(self) -> str:
        return str(self.chart_metadata.get("name") or "")

    @property
    def chart_version(self) -> str:
        return str(self.chart_metadata.get("version") or "")

    @property
    def app_version(self) -> str:
        return str(self.chart_metadata.get("appVersion") or "")

    @property
    def config(self) -> dict[str, Any]:
        config = self.release.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def manifest(self) -> str:
        return str(self.release.get("manifest") or "")

    @property
    def apply_method(self) -> str:
        return str(self.release.get("apply_method") or "")

    @property
    def hooks(self) -> list[dict[str, Any]]:
        return [h for h in self.release.get("hooks") or [] if isinstance(h, dict)]

    def test_hooks(self) -> dict[str, dict[str, Any]]:
        """Test hooks by name with their last run, as ``status.history[].testHooks``."""
        out: dict[str, dict[str, Any]] = {}
        for hook in self.hooks:
            if TEST_HOOK not in (hook.get("events") or []):
                continue
            run = hook.get("last_run") or {}
            entry: dict[str, Any] = {}
            if started := _time(run.get("started_at")):
                entry["lastStarted"] = started
            if completed := _time(run.get("completed_at")):
                entry["lastCompleted"] = completed
            if run.get("phase"):
                entry["phase"] = run["phase"]
            out[str(hook.get("name"))] = entry
        return out

    def digest(self) -> str:
        """``sha256:`` over what identifies this revision (test hook runs excluded)."""
        observed = {
            "name": self.name, "version": self.version, "namespace": self.namespace,
            "info": {k: v for k, v in self.info.items() if k != "notes"},
            "chartMetadata": self.chart_metadata, "config": self.config,
            "manifest": self.manifest,
            "hooks": [h for h in self.hooks if TEST_HOOK not in (h.get("events") or [])],
        }
        text = json.dumps(observed, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def snapshot(self, config_digest: str, action: str) -> dict[str, Any]:
        """The ``status.history`` entry of this revision."""
        snap: dict[str, Any] = {
            "apiVersion": "v2", "digest": self.digest(), "name": self.name,
            "namespace": self.namespace, "version": self.version, "status": self.status,
            "chartName": self.chart_name, "chartVersion": self.chart_version,
            "configDigest": config_digest,
            "firstDeployed": _time(self.info.get("first_deployed")) or "",
            "lastDeployed": _time(self.info.get("last_deployed")) or "",
            "action": action,
        }
        if self.app_version:
            snap["appVersion"] = self.app_version
        if deleted := _time(self.info.get("deleted")):
            snap["deleted"] = deleted
        tests = self.test_hooks()
        if tests and any(tests.values()):
            snap["testHooks"] = tests
        return snap


class ReleaseStorage:
    """Helm's Secret storage driver, read side (plus unlock), on one connection."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    async def _secrets(self, namespace: str, name: str) -> list[Obj]:
        try:
            mapping = await self.objects.mapping("v1", "Secret")
            items, _ = await self.objects.list(mapping, namespace,
                                               label_selector=f"owner=helm,name={name}")
        except (KubeError, httpx2.HTTPError) as exc:
            raise StorageError(f"failed to read Helm storage for release '{namespace}/{name}': "
                               f"{exc}") from None
        return items

    async def history(self, namespace: str, name: str) -> list[StoredRelease]:
        """Every stored revision, oldest first."""
        out: list[StoredRelease] = []
        for secret in await self._secrets(namespace, name):
            data = (secret.get("data") or {}).get("release")
            if not data:
                continue
            try:
                release = _decode(base64.b64decode(str(data)).decode())
            except (binascii.Error, OSError, ValueError, UnicodeDecodeError):
                raise StorageError(f"release Secret '{namespace}/"
                                   f"{secret['metadata']['name']}' cannot be decoded") from None
            out.append(StoredRelease(str(secret["metadata"]["name"]), release))
        out.sort(key=lambda r: r.version)
        return out

    async def latest(self, namespace: str, name: str) -> StoredRelease | None:
        revisions = await self.history(namespace, name)
        return revisions[-1] if revisions else None

    async def get(self, namespace: str, name: str, version: int) -> StoredRelease | None:
        for rel in await self.history(namespace, name):
            if rel.version == version:
                return rel
        return None

    async def relocate(self, name: str, source: str, target: str) -> int:
        """Move every stored revision of release ``name`` from ``source`` to ``target``.

        Each Secret is created in ``target`` with the same name, type, labels
        and data (Helm's encoding untouched), then deleted from ``source``;
        one already in ``target`` with the same data is kept (a move cut
        short earlier). Returns how many were moved.
        """
        moved = 0
        try:
            mapping = await self.objects.mapping("v1", "Secret")
            for secret in await self._secrets(source, name):
                meta = secret.get("metadata") or {}
                copy = {"apiVersion": "v1", "kind": "Secret", "type": secret.get("type"),
                        "metadata": {"name": meta["name"], "namespace": target,
                                     "labels": dict(meta.get("labels") or {})},
                        "data": dict(secret.get("data") or {})}
                existing = await self.objects.get_or_none(mapping, meta["name"], target)
                if existing is None:
                    await self.objects.create(mapping, copy, target)
                elif (existing.get("data") or {}) != copy["data"]:
                    raise StorageError(f"cannot move Helm release '{name}' to namespace "
                                       f"'{target}': Secret '{meta['name']}' already exists "
                                       "there with other content")
                await self.objects.delete(mapping, meta["name"], source)
                moved += 1
        except (KubeError, httpx2.HTTPError) as exc:
            raise StorageError(f"failed to move Helm storage of release '{name}' from "
                               f"'{source}' to '{target}': {exc}") from None
        return moved

    async def unlock(self, namespace: str, rel: StoredRelease) -> None:
        """Mark a pending release ``failed`` so Helm's next action may proceed."""
        previous = rel.status
        release = json.loads(json.dumps(rel.release))
        release.setdefault("info", {})["status"] = "failed"
        release["info"]["description"] = f"Release unlocked from stale '{previous}' state"
        body = {"data": {"release": base64.b64encode(_encode(release).encode()).decode()},
                "metadata": {"labels": {"status": "failed"}}}
        try:
            mapping = await self.objects.mapping("v1", "Secret")
            await self.objects.merge_patch(mapping, rel.secret, body, namespace)
        except (KubeError, httpx2.HTTPError) as exc:
            raise StorageError(f"failed to unlock release '{namespace}/{rel.name}': "
                               f"{exc}") from None
        rel.release = release
