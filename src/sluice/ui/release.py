"""A HelmRelease's merged values and Helm release history, for its page (loaded on demand).

A HelmRelease's status does not say two things users ask for:

* the *merged values*: ``spec.valuesFrom`` then ``spec.values``, composed by
  helm-controller's own function (`controllers.helmrelease.values.compose_values`),
  so the page shows what the next release would be given. A Secret's values
  are masked *before* the merge: each scalar of the Secret's YAML document (or
  the whole value of a ``targetPath`` reference) becomes `MASK`. A password
  held in a Secret shows where it lands, never what it is. ConfigMap values
  are shown as they are.
* the *release history* as Helm stored it (``sh.helm.release.v1.<name>.v<N>``
  Secrets in the storage namespace, read with
  `controllers.helmrelease.storage.ReleaseStorage`): each revision with its
  chart version, app version, status, time and Helm's description ("Install
  complete", "Upgrade complete", "Rollback to 1", the failure), including the
  revisions Flux's ``status.history`` no longer keeps. A release's stored
  values (``config``) and manifest are never read into the page.

Both need reads of ConfigMaps and Secrets that the live informers do not
hold, so the fragment is fetched when the page opens and again when the
object changes. Nothing is written.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sluice.api.helm import HelmRelease
from sluice.controllers.helmrelease.errors import StorageError, ValuesError
from sluice.controllers.helmrelease.names import release_name
from sluice.controllers.helmrelease.storage import ReleaseStorage
from sluice.controllers.helmrelease.values import compose_values
from sluice.kube.errors import KubeError
from sluice.kube.objects import Obj, Objects
from sluice.ui.redact import MASK

__all__ = ["HISTORY_SHOWN", "ReleaseView", "Revision", "mask_scalars", "masked_values",
           "release_view"]

HISTORY_SHOWN = 20


@dataclass(frozen=True)
class Revision:
    version: int
    status: str
    chart: str
    app_version: str
    description: str
    deployed: str


@dataclass
class ReleaseView:
    release: str = ""
    storage_namespace: str = ""
    values_yaml: str = ""
    values_problem: str = ""
    masked_sources: list[str] = field(default_factory=list)  # "Secret/name" whose values hide
    revisions: list[Revision] = field(default_factory=list)
    history_problem: str = ""


def mask_scalars(value: Any) -> Any:
    """`value` with every scalar replaced by `MASK` (maps and lists kept)."""
    if isinstance(value, dict):
        return {k: mask_scalars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_scalars(v) for v in value]
    return MASK


def _masked_text(text: str) -> str:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if isinstance(doc, dict):
        return yaml.safe_dump(mask_scalars(doc), allow_unicode=True)
    # A scalar (a targetPath value) or a document compose_values would refuse: the mask
    # alone, so neither the value nor a parse error quoting it reaches the page.
    return MASK


def _masked_secret(secret: Obj) -> Obj:
    """The Secret as compose_values reads it, every value masked."""
    data: dict[str, str] = {}
    for key, raw in (secret.get("data") or {}).items():
        try:
            text = base64.b64decode(str(raw), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = ""
        data[str(key)] = base64.b64encode(_masked_text(text).encode()).decode()
    for key, text in (secret.get("stringData") or {}).items():
        data[str(key)] = base64.b64encode(_masked_text(str(text)).encode()).decode()
    return {"data": data}


async def masked_values(objects: Objects, hr: HelmRelease,
                        masked_sources: list[str]) -> dict[str, Any]:
    """The merged values with every scalar from a Secret masked (Secrets read go in
    ``masked_sources``). Raises `ValuesError` and `KubeError` like `compose_values`."""
    async def fetch(kind: str, namespace: str, name: str) -> Obj | None:
        mapping = await objects.mapping("v1", kind)
        found = await objects.get_or_none(mapping, name, namespace)
        if found is None or kind != "Secret":
            return found
        masked_sources.append(f"Secret/{name}")
        return _masked_secret(found)

    return await compose_values(hr, fetch)


async def _values(objects: Objects, hr: HelmRelease, view: ReleaseView) -> None:
    try:
        values = await masked_values(objects, hr, view.masked_sources)
    except ValuesError as exc:
        view.values_problem = exc.message
        return
    except KubeError as exc:
        view.values_problem = f"cannot read the values sources: {exc}"
        return
    if values:
        view.values_yaml = yaml.safe_dump(values, sort_keys=True, default_flow_style=False,
                                          allow_unicode=True)


def _when(value: object) -> str:
    """Helm's RFC 3339 time with nanoseconds, to the second: ``2026-12-07 03:33:43``."""
    text = str(value or "")
    if not text or text.startswith("0001-01-01"):
        return ""
    return text.split(".")[0].rstrip("Z").replace("T", " ")


async def release_view(objects: Objects, obj: Mapping[str, Any]) -> ReleaseView:
    try:
        hr = HelmRelease.from_dict(dict(obj))
    except (KeyError, TypeError, ValueError) as exc:
        return ReleaseView(values_problem=f"invalid HelmRelease: {exc}")
    status = obj.get("status") or {}
    history = status.get("history") or []
    # The name Flux recorded wins: a spec change does not move an installed release.
    name = str(history[0].get("name") or "") if history else ""
    storage_ns = str(status.get("storageNamespace") or hr.storage_namespace())
    view = ReleaseView(release=name or release_name(hr), storage_namespace=storage_ns)
    await _values(objects, hr, view)
    try:
        stored = await ReleaseStorage(objects).history(storage_ns, view.release)
    except StorageError as exc:
        view.history_problem = str(exc)
        return view
    for rel in reversed(stored[-HISTORY_SHOWN:]):
        info = rel.info
        view.revisions.append(Revision(
            rel.version, rel.status, f"{rel.chart_name}@{rel.chart_version}", rel.app_version,
            str(info.get("description") or ""), _when(info.get("last_deployed"))))
    return view
