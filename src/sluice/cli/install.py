"""``sluice install`` and ``sluice uninstall``: Sluice's controllers inside a real cluster.

`component_manifests` writes what ``flux install --export`` writes, for
Sluice: the ``flux-system`` Namespace, the CRDs of the selected components,
a ServiceAccount per controller, the RBAC Flux's controllers get (a
``crd-controller-<ns>`` ClusterRole for the toolkit groups and the objects
they read, ``cluster-admin`` for the appliers through
``cluster-reconciler-<ns>``), the Services (``source-controller`` serving
artifacts, ``notification-controller``, ``webhook-receiver``) and one
Deployment per controller running the image built from the repository's
``Dockerfile`` (``sluice controllers run``). The same text becomes
``gotk-components.yaml`` in ``sluice bootstrap``.

Components follow flux's flags: ``--components`` (default
``source-controller,kustomize-controller,helm-controller,notification-controller``)
and ``--components-extra`` (``image-reflector-controller``,
``image-automation-controller``).

``install`` without ``--export`` applies the manifests with a staged
server-side apply (CRDs and the Namespace first) and waits for the
Deployments. ``uninstall`` removes what install created: the Flux objects'
finalizers first (so that no controller is needed for their deletion), then
the Deployments, Services and RBAC, the CRDs, and the namespace unless
``--keep-namespace``; ``--dry-run`` lists what would go.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

from sluice import __version__
from sluice.api import kinds as api_kinds
from sluice.api.crds import all_crds
from sluice.cli.clientctx import Client, connect_client, log, run
from sluice.cli.create_flags import bool_flag, string_slice
from sluice.cli.exporting import dump
from sluice.cli.failing import CommandError
from sluice.cli.kinds import ALL
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.cli.readiness import poll
from sluice.kube.apply import ApplyError, ApplyOptions, ResourceManager
from sluice.kube.errors import KubeError, is_not_found
from sluice.kube.health import Status, compute_status
from sluice.kube.inventory import Owner
from sluice.kube.ordering import ObjectRef

__all__ = [
    "DEFAULT_COMPONENTS",
    "EXTRA_COMPONENTS",
    "apply_components",
    "component_manifests",
    "component_objects",
    "install",
    "resolve_components",
    "uninstall",
]

Obj = dict[str, Any]

DEFAULT_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller",
                      "notification-controller")
EXTRA_COMPONENTS = ("image-reflector-controller", "image-automation-controller")
DEFAULT_REGISTRY = "ghcr.io/sluice-gitops"
IMAGE_NAME = "sluice"
# `sluice controllers run --controllers` selects what one Deployment runs.
_CONTROLLER_FLAG = {
    "source-controller": "source",
    "kustomize-controller": "kustomize",
    "helm-controller": "helm",
    "notification-controller": "notification",
    "image-reflector-controller": "image-reflector",
    "image-automation-controller": "image-automation",
}
FIELD_MANAGER = "flux"


def version_tag() -> str:
    return f"v{__version__}"


def resolve_components(components: Sequence[str], extra: Sequence[str]) -> list[str]:
    """``--components`` + ``--components-extra``, validated, without duplicates."""
    chosen = string_slice(components) or list(DEFAULT_COMPONENTS)
    for name in string_slice(extra):
        if name not in EXTRA_COMPONENTS:
            raise CommandError(f"component {name} is not supported, must be one of: "
                               + ", ".join(EXTRA_COMPONENTS))
        chosen.append(name)
    for name in chosen:
        if name not in _CONTROLLER_FLAG:
            raise CommandError(f"component {name} is not supported, must be one of: "
                               + ", ".join(_CONTROLLER_FLAG))
    return list(dict.fromkeys(chosen))


def _labels(namespace: str, component: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/instance": namespace, "app.kubernetes.io/part-of": "flux",
              "app.kubernetes.io/version": version_tag()}
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _crds(components: Sequence[str]) -> list[Obj]:
    out = []
    for crd in all_crds():
        spec = crd["spec"]
        info = api_kinds.kind_class(spec["group"], spec["names"]["kind"]).info
        if info.component in components:
            out.append(crd)
    return out


def _deployment(namespace: str, component: str, image: str, log_level: str,
                watch_all: bool) -> Obj:
    args = ["controllers", "run", f"--controllers={_CONTROLLER_FLAG[component]}",
            "--enable-leader-election", f"--leader-election-namespace={namespace}",
            f"--log-level={log_level}", "--log-encoding=json", "--metrics-addr=:8080"]
    if not watch_all:
        args.append(f"--watch-namespace={namespace}")
    if component != "notification-controller":
        # As Flux's manifests: every controller posts its events to the
        # notification controller's Service (port 80 -> container 9090).
        args.append(f"--events-addr=http://notification-controller.{namespace}"
                    ".svc.cluster.local./")
    ports: list[Obj] = [{"containerPort": 8080, "name": "http-prom", "protocol": "TCP"}]
    volumes: list[Obj] = [{"emptyDir": {}, "name": "temp"}]
    mounts: list[Obj] = [{"mountPath": "/tmp", "name": "temp"}]
    if component == "source-controller":
        args += ["--storage-path=/data", "--artifact-addr=:9090",
                 f"--storage-adv-addr=source-controller.{namespace}.svc.cluster.local."]
        ports.insert(0, {"containerPort": 9090, "name": "http", "protocol": "TCP"})
        volumes.append({"emptyDir": {}, "name": "data"})
        mounts.append({"mountPath": "/data", "name": "data"})
    if component == "notification-controller":
        # Its own ports as Flux's (events 9090, webhooks 9292); it serves no artifacts.
        args += ["--event-server-addr=:9090", "--receiver-addr=:9292",
                 "--artifact-addr=127.0.0.1:0"]
        ports.insert(0, {"containerPort": 9090, "name": "http", "protocol": "TCP"})
        ports.append({"containerPort": 9292, "name": "http-webhook", "protocol": "TCP"})
    container: Obj = {
        "args": args,
        "env": [{"name": "RUNTIME_NAMESPACE",
                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http-prom"}},
        "name": "manager",
        "ports": ports,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http-prom"}},
        "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"},
                      "requests": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"labels": {**_labels(namespace, component), "control-plane": "controller"},
                     "name": component, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": component}},
            "template": {
                "metadata": {"labels": {"app": component}},
                "spec": {"containers": [container], "securityContext": {"fsGroup": 1337},
                         "serviceAccountName": component,
                         "terminationGracePeriodSeconds": 60, "volumes": volumes},
            },
        },
    }


def _service(namespace: str, name: str, component: str, target: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"labels": {**_labels(namespace, component),
                                    "control-plane": "controller"},
                         "name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                "targetPort": target}],
                     "selector": {"app": component}, "type": "ClusterIP"}}


def _rbac(namespace: str, components: Sequence[str]) -> list[Obj]:
    groups = sorted({fk.group for fk in ALL})
    role: Obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"labels": _labels(namespace), "name": f"crd-controller-{namespace}"},
        "rules": [
            {"apiGroups": groups, "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["namespaces", "secrets", "configmaps",
                                              "serviceaccounts"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
        ],
    }
    subjects = [{"kind": "ServiceAccount", "name": c, "namespace": namespace}
                for c in components]
    appliers = [s for s in subjects if s["name"] in ("kustomize-controller", "helm-controller")]
    bindings = [{
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"labels": _labels(namespace), "name": f"crd-controller-{namespace}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": f"crd-controller-{namespace}"},
        "subjects": subjects,
    }]
    if appliers:
        bindings.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"labels": _labels(namespace),
                         "name": f"cluster-reconciler-{namespace}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": appliers,
        })
    return [role, *bindings]


def component_objects(namespace: str, components: Sequence[str], *,
                      registry: str = DEFAULT_REGISTRY, log_level: str = "info",
                      watch_all_namespaces: bool = True) -> list[Obj]:
    """Every object of the install, in the order they are written."""
    image = f"{registry.rstrip('/')}/{IMAGE_NAME}:{version_tag()}"
    namespace_obj: Obj = {"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"labels": {**_labels(namespace),
                                                  "pod-security.kubernetes.io/warn":
                                                      "restricted",
                                                  "pod-security.kubernetes.io/warn-version":
                                                      "latest"},
                                       "name": namespace}}
    objects: list[Obj] = [namespace_obj, *_crds(components)]
    for component in components:
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"labels": _labels(namespace, component),
                                     "name": component, "namespace": namespace}})
    objects += _rbac(namespace, components)
    if "source-controller" in components:
        objects.append(_service(namespace, "source-controller", "source-controller", "http"))
    if "notification-controller" in components:
        objects.append(_service(namespace, "notification-controller",
                                "notification-controller", "http"))
        objects.append(_service(namespace, "webhook-receiver", "notification-controller",
                                "http-webhook"))
    for component in components:
        objects.append(_deployment(namespace, component, image, log_level,
                                   watch_all_namespaces))
    return objects


def component_manifests(namespace: str, components: Sequence[str], **options: Any) -> str:
    """The install as one multi-document YAML text (``install --export``)."""
    header = ("---\n# This manifest was generated by sluice. DO NOT EDIT.\n"
              f"# Flux Version: {version_tag()}\n# Components: {','.join(components)}\n")
    body = "---\n".join(dump(obj) for obj in component_objects(namespace, components,
                                                               **options))
    return header + body


async def apply_components(client: Client, objects: Sequence[Obj], wait: float) -> None:
    """Staged server-side apply of the install (CRDs and Namespace first, waited for)."""
    manager = ResourceManager(client.objects, Owner(client.namespace, client.namespace,
                                                    field_manager=FIELD_MANAGER))
    try:
        await manager.apply_all_staged(objects, ApplyOptions(wait_timeout=wait,
                                                             wait_poll=0.5))
    except ApplyError as exc:
        raise CommandError(f"install failed: {exc.message}") from None


async def wait_for_deployments(client: Client, names: Sequence[str], deadline: float) -> None:
    """``✔ <name>: deployment ready`` for each controller Deployment, within the deadline."""
    mapping = await client.objects.mapping("apps/v1", "Deployment")
    for name in names:
        async def probe(name: str = name) -> tuple[bool, None]:
            obj = await client.objects.get_or_none(mapping, name, client.namespace)
            result = compute_status(obj, ObjectRef("apps", "Deployment", client.namespace,
                                                   name, "v1"))
            if result.status is Status.FAILED:
                raise CommandError(f"{name}: {result.message}")
            return result.status is Status.CURRENT, None

        await poll(probe, max(0.0, deadline - time.monotonic()), f"{name} deployment")
        log.success(f"{name}: deployment ready")


def _component_options(func: Any) -> Any:
    func = click.option("--components", multiple=True,
                        help="list of components, accepts comma-separated values")(func)
    func = click.option("--components-extra", multiple=True,
                        help="list of components in addition to those supplied or defaulted, "
                             "accepts comma-separated values")(func)
    func = click.option("--registry", default=DEFAULT_REGISTRY,
                        help="container registry where the controller image is "
                             "published")(func)
    func = click.option("--log-level", default="info",
                        type=click.Choice(["debug", "info", "error"]),
                        help="log level")(func)
    func = click.option("--watch-all-namespaces", default=True, type=bool,
                        help="watch for custom resources in all namespaces")(func)
    return func


@click.command("install", cls=SluiceCommand, short_help="Install or upgrade Sluice's controllers")
@bool_flag("--export", help="write the install manifests to stdout and exit")
@_component_options
@global_options
def install(export: bool, components: tuple[str, ...], components_extra: tuple[str, ...],
            registry: str, log_level: str, watch_all_namespaces: bool,
            globals_: Globals) -> None:
    """Install or upgrade the controllers (CRDs, RBAC, Deployments) in a cluster."""
    chosen = resolve_components(components, components_extra)
    options: dict[str, Any] = {"registry": registry, "log_level": log_level,
                               "watch_all_namespaces": watch_all_namespaces}
    if export:
        click.echo(component_manifests(globals_.namespace, chosen, **options), nl=False)
        return

    async def main() -> None:
        client = connect_client(globals_)
        deadline = time.monotonic() + client.timeout
        try:
            log.generate("generating manifests")
            objects = component_objects(client.namespace, chosen, **options)
            log.success("manifests build completed")
            log.action(f"installing components in {client.namespace} namespace")
            await apply_components(client, objects, client.timeout)
            log.success("install completed")
            log.waiting("verifying installation")
            await wait_for_deployments(client, chosen, deadline)
            log.success("install finished")
        finally:
            await client.aclose()

    run(main)


async def _delete(client: Client, api_version: str, kind: str, name: str,
                  namespace: str | None, dry_run: bool) -> None:
    try:
        mapping = await client.objects.mapping(api_version, kind)
        if await client.objects.get_or_none(mapping, name, namespace) is None:
            return
        subject = f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
        if not dry_run:
            await client.objects.delete(mapping, name, namespace)
        log.success(f"{subject} deleted{' (dry run)' if dry_run else ''}")
    except KubeError as exc:
        if not is_not_found(exc):
            log.failure(str(exc))


@click.command("uninstall", cls=SluiceCommand,
               short_help="Uninstall Sluice's controllers and the Flux objects")
@bool_flag("--keep-namespace", help="skip namespace deletion")
@bool_flag("--dry-run", help="only print the objects that would be deleted")
@bool_flag("-s", "--silent", help="delete components without asking for confirmation")
@global_options
def uninstall(keep_namespace: bool, dry_run: bool, silent: bool, globals_: Globals) -> None:
    """Uninstall the controllers, the Flux objects' finalizers, the CRDs and the namespace."""
    if not dry_run and not silent and not click.confirm(
            "Are you sure you want to delete Flux and its custom resource definitions",
            default=False, err=True):
        raise CommandError("aborting")

    async def main() -> None:
        client = connect_client(globals_)
        ns = client.namespace
        try:
            log.action(f"deleting components in {ns} namespace")
            for component in (*DEFAULT_COMPONENTS, *EXTRA_COMPONENTS):
                await _delete(client, "apps/v1", "Deployment", component, ns, dry_run)
            for service in ("source-controller", "notification-controller", "webhook-receiver"):
                await _delete(client, "v1", "Service", service, ns, dry_run)
            for component in (*DEFAULT_COMPONENTS, *EXTRA_COMPONENTS):
                await _delete(client, "v1", "ServiceAccount", component, ns, dry_run)
            for binding in (f"crd-controller-{ns}", f"cluster-reconciler-{ns}"):
                await _delete(client, "rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
                              binding, None, dry_run)
            await _delete(client, "rbac.authorization.k8s.io/v1", "ClusterRole",
                          f"crd-controller-{ns}", None, dry_run)
            log.action("deleting toolkit.fluxcd.io finalizers in all namespaces")
            for fk in ALL:
                try:
                    items = await client.list(fk, None)
                except KubeError:
                    continue
                for item in items:
                    meta = item.get("metadata") or {}
                    if not meta.get("finalizers"):
                        continue
                    if not dry_run:
                        await client.merge_patch(fk, meta["name"],
                                                 {"metadata": {"finalizers": None}},
                                                 meta.get("namespace"))
                    log.success(f"{fk.kind}/{meta.get('namespace')}/{meta['name']} "
                                "finalizers deleted")
            log.action("deleting toolkit.fluxcd.io custom resource definitions")
            for crd in all_crds():
                await _delete(client, "apiextensions.k8s.io/v1", "CustomResourceDefinition",
                              crd["metadata"]["name"], None, dry_run)
            if not keep_namespace:
                await _delete(client, "v1", "Namespace", ns, None, dry_run)
            log.success("uninstall finished")
        finally:
            await client.aclose()

    run(main)
