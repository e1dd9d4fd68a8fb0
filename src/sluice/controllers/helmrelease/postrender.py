"""The post-renderer Helm runs for every HelmRelease: Flux's labels, commonMetadata, postRenderers.

helm-controller hands Helm a Go post-renderer that adds
``helm.toolkit.fluxcd.io/name`` and ``namespace`` to every object's
``metadata.labels`` (after the user's ``spec.postRenderers`` and
``commonMetadata``); drift detection and ``sluice tree`` rely on those labels.
Helm v4's SDK takes post-renderers only as plugins (type
``postrenderer/v1``, runtime ``subprocess``), so Sluice installs one,
``sluice-postrender``, in the private Helm home (`install_plugin`) and Helm
pipes each rendered manifest through this file run as a script, with one
argument: a JSON file holding what to add (`write_spec`).

Cost: one short Python process per install/upgrade (about 50 ms with only
PyYAML imported; kustomize patches import Sluice's kustomize engine). The
manifest never leaves the machine and the spec file is private (0600) and
removed after the action.

Release namespace: Helm's SDK (helm-c) gives an action one namespace for
its release storage and for objects that name no namespace; when Helm's
storage lives elsewhere (``storageNamespace``, or Flux's default: the
HelmRelease's namespace, while the release goes to ``targetNamespace``) the
controller passes the release namespace and this script writes it into every
namespaced object (hooks included: the plugin runs in Helm's ``combined``
mode) that names none, so upgrades, rollbacks, tests and uninstalls run from
the storage namespace still act in the release namespace (see `names`).

Kustomize post-renderers: ``patches`` (strategic merge or JSON 6902, with
targets) and ``images`` are applied with `sluice.kustomize`; the deprecated
``patchesStrategicMerge`` and ``patchesJson6902`` are converted to
``patches`` as Flux does.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["PLUGIN_NAME", "install_plugin", "main", "render", "spec_for", "write_spec"]

PLUGIN_NAME = "sluice-postrender"


def install_plugin(plugins: Path) -> str:
    """Write the plugin (idempotent); returns its name for Helm's ``post_renderer`` option."""
    folder = plugins / PLUGIN_NAME
    folder.mkdir(parents=True, exist_ok=True)
    src = Path(__file__).resolve()
    root = src.parents[3]  # the directory holding the ``sluice`` package
    manifest = (
        "apiVersion: v1\n"
        "type: postrenderer/v1\n"
        f"name: {PLUGIN_NAME}\n"
        "version: 0.1.0\n"
        "runtime: subprocess\n"
        "runtimeConfig:\n"
        "  platformCommand:\n"
        f"    - command: {json.dumps(sys.executable)}\n"
        f"      args: [{json.dumps(str(src))}]\n"
    )
    target = folder / "plugin.yaml"
    if not target.exists() or target.read_text() != manifest:
        target.write_text(manifest)
    os.environ.setdefault("SLUICE_POSTRENDER_PATH", str(root))
    return PLUGIN_NAME


def spec_for(hr: Any, *, namespace: str | None = None,
             cluster_scoped: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What the post-renderer adds for a `HelmRelease` (the controller and ``sluice diff``).

    ``namespace`` (the release namespace, given when Helm's storage lives
    elsewhere) is written into every namespaced object that names none;
    ``cluster_scoped`` (``<group>/<Kind>``, from discovery) says which are not.
    """
    from sluice.api.meta import HELM_NAME_LABEL, HELM_NAMESPACE_LABEL

    spec: dict[str, Any] = {
        "labels": {HELM_NAME_LABEL: hr.name, HELM_NAMESPACE_LABEL: hr.namespace},
        "commonMetadata": hr.spec.common_metadata.to_dict() if hr.spec.common_metadata
        else None,
        "postRenderers": [p.to_dict() for p in hr.spec.post_renderers or []],
    }
    if namespace:
        spec["namespace"] = namespace
        spec["clusterScoped"] = sorted(cluster_scoped)
    return spec


def write_spec(spec: dict[str, Any]) -> str:
    fd, path = tempfile.mkstemp(prefix="sluice-postrender-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(spec, handle)
    return path


def _kustomize(objects: list[dict[str, Any]], renderer: dict[str, Any]) -> list[dict[str, Any]]:
    """Flux's kustomize post-renderer: a kustomization over the rendered objects."""
    import yaml

    from sluice.kustomize import build

    kustomization: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                     "kind": "Kustomization", "resources": ["all.yaml"]}
    patches = list(renderer.get("patches") or [])
    for smp in renderer.get("patchesStrategicMerge") or []:
        patches.append({"patch": yaml.safe_dump(smp)})
    for j in renderer.get("patchesJson6902") or []:
        patches.append({"patch": yaml.safe_dump(j.get("patch") or []),
                        "target": j.get("target") or {}})
    if patches:
        kustomization["patches"] = patches
    if renderer.get("images"):
        kustomization["images"] = renderer["images"]
    with tempfile.TemporaryDirectory(prefix="sluice-postrender-") as tmp:
        folder = Path(tmp)
        (folder / "all.yaml").write_text(yaml.safe_dump_all(objects))
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return [d for d in build(folder) if isinstance(d, dict)]


def render(text: str, spec: dict[str, Any]) -> str:
    import yaml

    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    for renderer in spec.get("postRenderers") or []:
        kustomize = renderer.get("kustomize") if isinstance(renderer, dict) else None
        if kustomize:
            docs = _kustomize(docs, kustomize)
    common = spec.get("commonMetadata") or {}
    labels = spec.get("labels") or {}
    namespace = spec.get("namespace")
    cluster_scoped = set(spec.get("clusterScoped") or ())
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if namespace and not meta.get("namespace"):
            group = str(doc.get("apiVersion") or "").rpartition("/")[0]
            if f"{group}/{doc.get('kind')}" not in cluster_scoped:
                meta["namespace"] = namespace
        if common.get("labels"):
            meta["labels"] = {**(meta.get("labels") or {}), **common["labels"]}
        if common.get("annotations"):
            meta["annotations"] = {**(meta.get("annotations") or {}), **common["annotations"]}
        if labels:
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("sluice-postrender: missing spec file argument\n")
        return 2
    with open(argv[-1]) as handle:
        spec = json.load(handle)
    root = os.environ.get("SLUICE_POSTRENDER_PATH") or str(Path(__file__).resolve().parents[3])
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        sys.stdout.write(render(sys.stdin.read(), spec))
    except Exception as exc:  # reported by Helm as the post-render error
        sys.stderr.write(f"post-renderer failed: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
