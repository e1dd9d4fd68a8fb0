"""``pods/log``, ``exec``, ``attach`` and ``portforward`` on a cluster that runs no containers.

The embedded cluster's Pods are simulated: their status is what a kubelet would
report, but no process runs. Rather than the confusing ``pods "x" not found``
that `kubectl logs` got before, these subresources answer:

* for the Pods of Sluice's own component Deployments (``flux-system``, label
  ``app: <component>`` as in Flux's ``gotk-components.yaml``), ``log`` returns
  that controller's own log lines, read from the process log ``sluice up``
  writes (`COMPONENT_LOG`, JSON lines, the format Flux's controllers log in),
  picked by the kinds the component serves;
* for every other Pod, and for ``exec``/``attach``/``portforward`` on any Pod, a
  400 Status saying that the embedded cluster runs no containers and what to
  do instead.

Reading the log file is blocking: callers run `component_log` in a worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluice.apiserver.errors import ApiError
from sluice.core.components import COMPONENT_KINDS, COMPONENTS_NAMESPACE

__all__ = ["COMPONENT_KINDS", "COMPONENT_LOG", "POD_SUBRESOURCES", "component_log",
           "component_of", "no_containers"]

COMPONENT_LOG = "controllers.log"
POD_SUBRESOURCES = ("log", "exec", "attach", "portforward")
# Logger names of lines that carry no object but belong to a component.
_LOGGERS = {
    "source-controller": ("sluice.controllers.source",),
    "kustomize-controller": ("sluice.controllers.kustomization",),
    "helm-controller": ("sluice.controllers.helmrelease",),
    "notification-controller": ("sluice.controllers.notification",),
    "image-reflector-controller": ("sluice.controllers.image_reflector",),
    "image-automation-controller": ("sluice.controllers.image_automation",),
}
MAX_BYTES = 8 * 1024 * 1024


def component_of(pod: Mapping[str, Any]) -> str | None:
    meta = pod.get("metadata") or {}
    if meta.get("namespace") != COMPONENTS_NAMESPACE:
        return None
    app = (meta.get("labels") or {}).get("app")
    return app if app in COMPONENT_KINDS else None


def no_containers(pod_name: str, subresource: str) -> ApiError:
    action = {"log": "no logs to show", "exec": "nothing to exec into",
              "attach": "nothing to attach to",
              "portforward": "nothing listens to forward to"}[subresource]
    return ApiError(400, "BadRequest", (
        f'pod "{pod_name}" is simulated by Sluice\'s embedded cluster, which runs no '
        f"containers: {action}. Its status is what a kubelet would report; to run the "
        "image itself, use a real cluster (kind, k3d) or `docker run`."))


def _belongs(line: Mapping[str, Any], component: str) -> bool:
    obj = line.get("object")
    if isinstance(obj, Mapping) and obj.get("kind") in COMPONENT_KINDS[component]:
        return True
    logger = str(line.get("logger") or "")
    return logger.startswith(_LOGGERS[component])


def component_log(path: Path, component: str, tail_lines: int | None = None) -> str:
    """The component's lines of the process log (oldest first), as kubectl prints them."""
    files = [p for p in (path.with_name(path.name + ".1"), path) if p.is_file()]
    lines: list[str] = []
    for file in files:
        with file.open("rb") as f:
            size = file.stat().st_size
            if size > MAX_BYTES:
                f.seek(size - MAX_BYTES)
                f.readline()  # skip the partial first line
            for raw in f:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, Mapping) and _belongs(entry, component):
                    lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
    if tail_lines is not None and tail_lines >= 0:
        lines = lines[-tail_lines:] if tail_lines else []
    return "".join(f"{line}\n" for line in lines)
