"""``sluice check [--pre]``: is the cluster ready for Sluice, and is Sluice healthy in it?

``--pre`` only checks the Kubernetes version (Sluice needs 1.30 or later)::

    ► checking prerequisites
    ✔ Kubernetes 1.32.0+sluice >=1.30.0-0
    ✔ prerequisites checks passed

The full check adds the controllers (their Deployments in the namespace,
ready, with their images; on Sluice's embedded cluster, the components a
controller process announces as running, each missing one a failure) and the CRDs with their stored
versions (``✔ gitrepositories.source.toolkit.fluxcd.io/v1``), ending with
``✔ all checks passed`` or a failure and exit code 1.
"""

from __future__ import annotations

import re
import time

import click

from sluice.api import kinds as api_kinds
from sluice.api.crds import all_crds
from sluice.cli.clientctx import Client, connect_client, log, run
from sluice.cli.component_health import embedded_component_lines, not_running_message
from sluice.cli.failing import CommandError
from sluice.cli.install import resolve_components
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.kube.health import Status, compute_status

__all__ = ["MIN_KUBERNETES", "check"]

MIN_KUBERNETES = (1, 30, 0)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


async def _server_version(client: Client) -> str:
    resp = await client.connection.http.get("/version")
    if resp.status_code >= 400:
        raise CommandError(f"unable to read the Kubernetes version: HTTP {resp.status_code}")
    return str(resp.json().get("gitVersion", ""))


async def _pre(client: Client) -> bool:
    log.action("checking prerequisites")
    git_version = await _server_version(client)
    wanted = ".".join(str(p) for p in MIN_KUBERNETES) + "-0"
    match = _VERSION.match(git_version)
    shown = git_version.lstrip("v")
    if match is None:
        log.failure(f"unable to parse the Kubernetes version {git_version!r}")
        return False
    if tuple(int(g) for g in match.groups()) < MIN_KUBERNETES:
        log.failure(f"Kubernetes version {shown} does not match >={wanted}")
        return False
    log.success(f"Kubernetes {shown} >={wanted}")
    return True


async def _controllers(client: Client, components: list[str], embedded: bool) -> bool:
    log.action("checking controllers")
    if embedded:
        # The Deployments' simulated pods prove nothing: what runs is what a controller
        # process announces (`sluice.cli.component_health`).
        missing, running = await embedded_component_lines(client, components)
        if missing:
            log.failure(not_running_message(missing, running))
        return not missing
    mapping = await client.objects.mapping("apps/v1", "Deployment")
    ok = True
    for name in sorted(components):
        obj = await client.objects.get_or_none(mapping, name, client.namespace)
        if obj is None:
            log.failure(f"{name}: deployment not found")
            ok = False
            continue
        result = compute_status(obj)
        if result.status is Status.CURRENT:
            log.success(f"{name}: deployment ready")
        else:
            log.failure(f"{name}: {result.message or result.status}")
            ok = False
        for container in obj["spec"]["template"]["spec"].get("containers") or []:
            log.action(str(container.get("image", "")))
    return ok


async def _crds(client: Client, components: list[str]) -> bool:
    log.action("checking crds")
    mapping = await client.objects.mapping("apiextensions.k8s.io/v1",
                                           "CustomResourceDefinition")
    ok = True
    for crd in all_crds():
        spec = crd["spec"]
        if api_kinds.kind_class(spec["group"], spec["names"]["kind"]).info.component \
                not in components:
            continue
        name = crd["metadata"]["name"]
        live = await client.objects.get_or_none(mapping, name)
        if live is None:
            log.failure(f"{name} not found")
            ok = False
            continue
        stored = (live.get("status") or {}).get("storedVersions") or []
        log.success(f"{name}/{stored[-1] if stored else spec['versions'][0]['name']}")
    return ok


@click.command("check", cls=SluiceCommand, short_help="Check requirements and installation")
@click.option("--pre", is_flag=True, default=False, help="only run pre-installation checks")
@click.option("--components", multiple=True, help="list of components, accepts "
                                                  "comma-separated values")
@click.option("--components-extra", multiple=True, help="list of components in addition to "
                                                        "those supplied or defaulted")
@click.option("--poll-interval", default="5s", hidden=True)
@global_options
def check(pre: bool, components: tuple[str, ...], components_extra: tuple[str, ...],
          poll_interval: str, globals_: Globals) -> None:
    """Check the Kubernetes version and, after install, the controllers and CRDs."""
    chosen = resolve_components(components, components_extra)

    async def main() -> bool:
        client = connect_client(globals_)
        try:
            if not await _pre(client):
                return False
            if pre:
                log.success("prerequisites checks passed")
                return True
            embedded = (await _server_version(client)).endswith("+sluice")
            ok = await _controllers(client, chosen, embedded)
            ok = await _crds(client, chosen) and ok
            if ok:
                log.success("all checks passed")
            return ok
        finally:
            await client.aclose()

    started = time.monotonic()
    if not run(main):
        raise CommandError(f"check failed after {time.monotonic() - started:.1f}s")
