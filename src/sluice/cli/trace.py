"""``sluice trace NAME --kind K --api-version G/V``: which Flux objects deliver an object.

An object applied by Flux carries its owner's labels
(``kustomize.toolkit.fluxcd.io/name|namespace`` or
``helm.toolkit.fluxcd.io/name|namespace``); trace follows them to the
Kustomization (or HelmRelease, and its HelmChart) and on to the source, and
prints each link as flux does::

    <blank line>
    Object:          deployment/agnhost
    Namespace:       agnhost
    Status:          Managed by Flux
    ---
    Kustomization:   agnhost
    Namespace:       agnhost
    Path:            ./agnhost
    Revision:        main@sha1:...
    Status:          Last reconciled at 2024-01-02 03:04:05 +0000 UTC
    Message:         Applied revision: main@sha1:...
    ---
    GitRepository:   k8s-kind-apps
    ...

The kind may also be given as the first argument (``trace deployment
agnhost``); ``--api-version`` is needed only for kinds the CLI cannot guess
(anything but the common built-in kinds and Flux's own).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from sluice.api.meta import (
    HELM_NAME_LABEL,
    HELM_NAMESPACE_LABEL,
    KUSTOMIZE_NAME_LABEL,
    KUSTOMIZE_NAMESPACE_LABEL,
)
from sluice.cli import kinds as k
from sluice.cli.clientctx import Client, connect_client, run
from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind, condition, kind_by_name
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.cli.tables import parse_time

__all__ = ["trace"]

Obj = dict[str, Any]
_COMMON = {"deployment": ("apps/v1", "Deployment"), "statefulset": ("apps/v1", "StatefulSet"),
           "daemonset": ("apps/v1", "DaemonSet"), "replicaset": ("apps/v1", "ReplicaSet"),
           "service": ("v1", "Service"), "configmap": ("v1", "ConfigMap"),
           "secret": ("v1", "Secret"), "namespace": ("v1", "Namespace"),
           "serviceaccount": ("v1", "ServiceAccount"), "pod": ("v1", "Pod"),
           "job": ("batch/v1", "Job"), "cronjob": ("batch/v1", "CronJob"),
           "ingress": ("networking.k8s.io/v1", "Ingress")}


def _go_time(value: object) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return "unknown"
    return parsed.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _status_lines(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    ready = condition(obj, "Ready")
    if ready is None:
        return [("Status", "Unknown"), ("Message", "waiting to be reconciled")]
    if ready.get("status") == "True":
        status = f"Last reconciled at {_go_time(ready.get('lastTransitionTime'))}"
    else:
        status = f"{ready.get('reason') or 'Failed'} at {_go_time(ready.get('lastTransitionTime'))}"
    return [("Status", status), ("Message", str(ready.get("message") or ""))]


def _section(rows: list[tuple[str, str]], width: int) -> str:
    return "".join(f"{(label + ':').ljust(width)}{value}\n" for label, value in rows)


def _source_rows(fk: FluxKind, obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    rows = [(fk.kind, str(meta.get("name", ""))), ("Namespace", str(meta.get("namespace", "")))]
    if spec.get("url"):
        rows.append(("URL", str(spec["url"])))
    ref = spec.get("ref") or {}
    for key, label in (("branch", "Branch"), ("tag", "Tag"), ("semver", "Semver"),
                       ("name", "Ref"), ("commit", "Commit")):
        if ref.get(key):
            rows.append((label, str(ref[key])))
    if fk is k.HELM_CHART:
        rows += [("Chart", str(spec.get("chart", ""))), ("Version", str(spec.get("version", "*")))]
    revision = ((obj.get("status") or {}).get("artifact") or {}).get("revision")
    if revision:
        rows.append(("Revision", str(revision)))
    return rows + _status_lines(obj)


async def _trace(client: Client, api_version: str, kind: str, name: str) -> str:
    namespace = client.namespace
    mapping = await client.objects.mapping(api_version, kind)
    obj = await client.objects.get_or_none(mapping, name,
                                           namespace if mapping.namespaced else None)
    if obj is None:
        raise CommandError(f"{kind} object '{name}' not found in \"{namespace}\" namespace")
    labels = (obj.get("metadata") or {}).get("labels") or {}
    head = [("Object", f"{kind.lower()}/{name}")]
    if mapping.namespaced:
        head.append(("Namespace", namespace))
    if labels.get(KUSTOMIZE_NAME_LABEL):
        width = 17
        owner_fk, owner_name = k.KUSTOMIZATION, labels[KUSTOMIZE_NAME_LABEL]
        owner_ns = labels.get(KUSTOMIZE_NAMESPACE_LABEL) or namespace
    elif labels.get(HELM_NAME_LABEL):
        width = 16
        owner_fk, owner_name = k.HELM_RELEASE, labels[HELM_NAME_LABEL]
        owner_ns = labels.get(HELM_NAMESPACE_LABEL) or namespace
    else:
        raise CommandError("object not managed by Flux")
    parts = ["\n" + _section([*head, ("Status", "Managed by Flux")], width)]
    owner = await client.get(owner_fk, owner_name, owner_ns)
    spec = owner.get("spec") or {}
    status = owner.get("status") or {}
    rows = [(owner_fk.kind, owner_name), ("Namespace", owner_ns)]
    if spec.get("targetNamespace"):
        rows.append(("Target", str(spec["targetNamespace"])))
    if owner_fk is k.KUSTOMIZATION:
        rows.append(("Path", str(spec.get("path") or "")))
        rows.append(("Revision", str(status.get("lastAppliedRevision") or "")))
    else:
        rows.append(("Revision", k.helmrelease_revision(owner)))
    parts.append(_section(rows + _status_lines(owner), width))
    chain: list[tuple[FluxKind, Obj]] = []
    if owner_fk is k.HELM_RELEASE and not spec.get("chartRef"):
        ref = owner_fk.source_ref(owner)
        if ref is not None:
            chart = await client.get_or_none(k.HELM_CHART, f"{owner_ns}-{owner_name}", ref[1])
            if chart is not None:
                chain.append((k.HELM_CHART, chart))
                ref = k.HELM_CHART.source_ref(chart)
    else:
        ref = owner_fk.source_ref(owner)
        chart_ref = spec.get("chartRef")
        if isinstance(chart_ref, Mapping):
            ref = (str(chart_ref.get("kind", "")), str(chart_ref.get("namespace") or owner_ns),
                   str(chart_ref.get("name", "")))
    if ref is not None:
        source_fk = kind_by_name(ref[0])
        if source_fk is not None:
            source = await client.get_or_none(source_fk, ref[2], ref[1])
            if source is not None:
                chain.append((source_fk, source))
    for fk, item in chain:
        parts.append(_section(_source_rows(fk, item), width))
    return "---\n".join(parts)


@click.command("trace", cls=SluiceCommand,
               short_help="Trace an in-cluster object throughout the GitOps delivery pipeline")
@click.argument("args", nargs=-1, metavar="[KIND] NAME")
@click.option("--kind", default="", help="the Kubernetes object kind, e.g. Deployment")
@click.option("--api-version", default="", help="the Kubernetes object API version, "
                                               "e.g. apps/v1")
@global_options
def trace(args: tuple[str, ...], kind: str, api_version: str, globals_: Globals) -> None:
    """Show the Flux objects that deliver an object, up to its source."""
    if not args:
        raise CommandError("object name is required")
    if len(args) >= 2:
        kind, name = args[0], args[1]
    else:
        name = args[0]
    if not kind:
        raise CommandError("object kind is required (--kind)")
    fk = kind_by_name(kind)
    common = _COMMON.get(kind.lower())
    if fk is not None:
        kind, api_version = fk.kind, api_version or fk.api_version
    elif common is not None:
        kind, api_version = common[1], api_version or common[0]
    elif not api_version:
        raise CommandError("API version is required (--api-version)")

    async def main() -> str:
        client = connect_client(globals_)
        try:
            return await _trace(client, api_version, kind, name)
        finally:
            await client.aclose()

    sys.stdout.write(run(main))
    sys.stdout.flush()
