"""``sluice diff kustomization NAME --path DIR``: what a reconcile of a local folder would change.

``sluice diff helmrelease NAME [--path CHART]`` (beyond flux) previews the
next Helm release the same way; its rendering is `sluice.cli.diff_helmrelease`.

The folder is built exactly as ``sluice build kustomization`` builds it (the
controller's steps), then every object is applied to the cluster as a
server-side dry run by the controller's own apply machinery
(`sluice.kube.diff`: field manager ``kustomize-controller``, owner labels),
and compared with the live object. Objects left out of the build that the
Kustomization's inventory still lists are reported as deleted when prune is
on. Nothing is written.

Output, on stdout, as flux prints it::

    ► Deployment/agnhost/agnhost created
    ► Service/agnhost/agnhost drifted

    spec.ports.http.port
    ± value change
    - 9899
    + 9898

    ► ConfigMap/agnhost/old deleted

Secret values never appear: a changed key reads ``*** (before)`` /
``*** (after)``. The exit code is 1 when anything would change (or an object
cannot be applied), 0 with ``✔ no changes detected`` otherwise.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import click
import yaml

from sluice.cli.build import build_kustomization, load_kustomization, resolve_folder
from sluice.cli.clientctx import connect_client, log, run
from sluice.cli.create_flags import bool_flag
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand, SluiceGroup, group_global_options
from sluice.kube.apply import Action, ResourceManager
from sluice.kube.diff import MISSING, DiffReport, FieldChange, diff_objects, show_value
from sluice.kube.inventory import Inventory, Owner

__all__ = ["diff", "render_report"]

_KEYED = re.compile(r"\[[^\]=]+=([^\]]*)\]")
_INDEX = re.compile(r"\[(\d+)\]")


def _dot_path(path: str) -> str:
    """``spec.ports[name=http].port`` as dyff writes it: ``spec.ports.http.port``."""
    return _INDEX.sub(r".\1", _KEYED.sub(r".\1", path))


def _block(value: Any) -> list[str]:
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")
    return text.splitlines()


def _change_lines(change: FieldChange) -> list[str]:
    path = _dot_path(change.path)
    parent, _, key = path.rpartition(".")
    is_item = change.path.endswith("]")
    if change.before is MISSING:
        what = "list entry added" if is_item else "map entry added"
        body = [change.after] if is_item else {key: change.after}
        return [parent or path, f"+ one {what}:", *_block(body)]
    if change.after is MISSING:
        what = "list entry removed" if is_item else "map entry removed"
        body = [change.before] if is_item else {key: change.before}
        return [parent or path, f"- one {what}:", *_block(body)]
    return [path, "± value change", f"- {show_value(change.before)}",
            f"+ {show_value(change.after)}"]


def render_report(report: DiffReport) -> str:
    """flux's diff text for a report (empty when nothing changes)."""
    lines: list[str] = []
    for obj in report.objects:
        if (headline := obj.headline) is None:
            continue
        lines.append(headline)
        if obj.action is Action.CONFIGURED:
            for change in obj.changes:
                lines.append("")
                lines.extend(_change_lines(change))
            lines.append("")
    return "".join(line + "\n" for line in lines)


@click.group("diff", cls=SluiceGroup, aliases={"ks": "kustomization", "hr": "helmrelease"})
@group_global_options
def diff() -> None:
    """Diff a flux object against the cluster."""


@diff.command("kustomization", cls=SluiceCommand,
              short_help="Diff a Kustomization built from a local folder")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--path", default="", help="path to a local directory that matches the "
                                         "specified Kustomization.spec.path")
@click.option("--kustomization-file", default="",
              help="path to the Flux Kustomization YAML file")
@bool_flag("--strict-substitute", help="fail when a variable without a default value is "
                                       "not set")
@click.option("--progress-bar", default="true", hidden=True)
@global_options
def diff_ks(args: tuple[str, ...], path: str, kustomization_file: str, strict_substitute: bool,
            progress_bar: str, globals_: Globals) -> None:
    """Diff a Kustomization built from a local folder against the cluster."""
    if not args:
        raise CommandError("name is required")
    root = resolve_folder(path)

    async def main() -> DiffReport:
        client = connect_client(globals_)
        try:
            ks_obj = await load_kustomization(client, args[0], globals_.namespace,
                                              kustomization_file)
            objects = await build_kustomization(client, ks_obj, root,
                                                strict=strict_substitute)
            meta = ks_obj.get("metadata") or {}
            owner = Owner(str(meta.get("name") or ""),
                          str(meta.get("namespace") or globals_.namespace))
            manager = ResourceManager(client.objects, owner)
            inventory = Inventory.from_status((ks_obj.get("status") or {}).get("inventory"))
            prune = bool((ks_obj.get("spec") or {}).get("prune"))
            return await diff_objects(manager, objects, inventory=inventory, prune=prune)
        finally:
            await client.aclose()

    _print_report(run(main))


def _print_report(report: DiffReport) -> None:
    sys.stdout.write(render_report(report))
    sys.stdout.flush()
    for error in report.errors:
        log.failure(error)
    if report.has_changes or report.errors:
        raise SystemExit(1)
    log.success("no changes detected")


@diff.command("helmrelease", cls=SluiceCommand,
              short_help="Diff a HelmRelease's next release against the cluster")
@click.argument("args", nargs=-1, metavar="NAME")
@click.option("--path", default="", help="a local chart directory or packaged chart to "
                                         "render instead of the source's artifact")
@global_options
def diff_hr(args: tuple[str, ...], path: str, globals_: Globals) -> None:
    """Diff the release a HelmRelease would make against the cluster."""
    from pathlib import Path

    if not args:
        raise CommandError("name is required")
    chart_path = None
    if path:
        chart_path = Path(path).expanduser().resolve()
        if not chart_path.exists():
            raise CommandError(f"invalid chart path '{path}': no such file or directory")

    async def main() -> DiffReport:
        # Imported here: Helm's SDK and the HelmRelease controller's steps.
        from sluice.cli.diff_helmrelease import diff_release

        client = connect_client(globals_)
        try:
            return await diff_release(client, args[0], chart_path)
        finally:
            await client.aclose()

    _print_report(run(main))
