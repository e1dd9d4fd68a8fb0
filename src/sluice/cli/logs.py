"""``sluice logs``: the controllers' log lines, filtered like ``flux logs``.

Where the lines come from depends on where the controllers run:

* in a cluster (``sluice install``): from the logs of the controller Pods in
  ``--flux-namespace`` (``GET .../pods/<pod>/log``);
* in-process (``sluice up``, ``sluice controllers run``): those commands log
  to their own stderr; when they were started with their output saved to
  ``<data-dir>/controllers.log`` (``sluice up 2> .sluice/controllers.log``),
  that file is read. Otherwise the command says so in one line rather than
  printing nothing.

JSON lines (``--log-encoding json``) are filtered by ``--level``, ``--kind``,
``--name`` and namespace (``-n``, or ``-A`` for all) and printed as
``<time> <level> <Kind>/<name>.<namespace> - <message>``; other lines are
printed as they are. ``--tail N`` keeps the last N lines.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from sluice.apiserver.simulation.pod_subresources import COMPONENT_LOG
from sluice.cli.clientctx import Client, connect_client, run
from sluice.cli.failing import CommandError
from sluice.cli.install import DEFAULT_COMPONENTS, EXTRA_COMPONENTS
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand
from sluice.kube.errors import KubeError

__all__ = ["format_line", "logs"]

LOG_FILE = COMPONENT_LOG  # also where component Pods read their `kubectl logs`


def _object(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    obj = entry.get("object")
    if isinstance(obj, Mapping):
        return (str(obj.get("kind") or ""), str(obj.get("name") or ""),
                str(obj.get("namespace") or ""))
    return str(entry.get("kind") or ""), str(entry.get("name") or ""), \
        str(entry.get("namespace") or "")


def format_line(line: str, *, level: str, kind: str, name: str,
                namespace: str | None) -> str | None:
    """The printed form of one log line, or None when the filters drop it."""
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        return None if (level or kind or name) else line.rstrip("\n")
    obj_kind, obj_name, obj_ns = _object(entry)
    if level and str(entry.get("level", "")).lower() != level.lower():
        return None
    if kind and obj_kind.lower() != kind.lower():
        return None
    if name and obj_name != name:
        return None
    if namespace is not None and obj_ns and obj_ns != namespace:
        return None
    subject = f"{obj_kind}/{obj_name}.{obj_ns}" if obj_kind else str(entry.get("logger", ""))
    return f"{entry.get('ts', '')} {entry.get('level', '')} {subject} - {entry.get('msg', '')}"


async def _pod_lines(client: Client, flux_namespace: str) -> list[str] | None:
    """Log lines of the controller Pods, or None when there are none to read."""
    try:
        mapping = await client.objects.mapping("v1", "Pod")
        pods, _ = await client.objects.list(mapping, flux_namespace)
    except KubeError:
        return None
    names = set(DEFAULT_COMPONENTS) | set(EXTRA_COMPONENTS)
    lines: list[str] = []
    read_any = False
    for pod in pods:
        app = ((pod.get("metadata") or {}).get("labels") or {}).get("app")
        if app not in names:
            continue
        path = f"/api/v1/namespaces/{flux_namespace}/pods/{pod['metadata']['name']}/log"
        resp = await client.connection.http.get(path)
        if resp.status_code >= 400:
            continue
        read_any = True
        lines.extend(resp.text.splitlines())
    return lines if read_any else None


def _print(lines: Iterable[str], tail: int, **filters: Any) -> None:
    out = [f for f in (format_line(line, **filters) for line in lines) if f is not None]
    if tail >= 0:
        out = out[-tail:] if tail else []
    for line in out:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


@click.command("logs", cls=SluiceCommand, short_help="Display formatted logs for the controllers")
@click.option("--level", default="", help="log level, available options are: (debug, info, "
                                          "error)")
@click.option("--kind", default="", help="displays errors of a particular toolkit kind e.g "
                                         "GitRepository")
@click.option("--name", default="", help="specifies the name of the object logs to be "
                                         "displayed")
@click.option("--tail", default=-1, type=int, help="lines of recent log file to display")
@click.option("--flux-namespace", default="flux-system", help="the namespace where the "
                                                              "controllers are installed")
@click.option("-A", "--all-namespaces", "all_namespaces", is_flag=True, default=False,
              help="displays logs for objects across all namespaces")
@click.option("--data-dir", default=".sluice", help="data directory of 'sluice up', where "
                                                    f"{LOG_FILE} is looked for")
@global_options
def logs(level: str, kind: str, name: str, tail: int, flux_namespace: str,
         all_namespaces: bool, data_dir: str, globals_: Globals) -> None:
    """Display the controllers' logs, filtered by level, kind, name and namespace."""
    filters: dict[str, Any] = {"level": level, "kind": kind, "name": name,
                               "namespace": None if all_namespaces else globals_.namespace}
    log_file = Path(data_dir) / LOG_FILE
    if log_file.is_file():
        with log_file.open(encoding="utf-8", errors="replace") as handle:
            _print(handle, tail, **filters)
        return

    async def main() -> list[str] | None:
        client = connect_client(globals_)
        try:
            return await _pod_lines(client, flux_namespace)
        finally:
            await client.aclose()

    lines = run(main)
    if lines is None:
        raise CommandError(
            f"no controller logs found: no controller Pods in namespace '{flux_namespace}' "
            f"and no {log_file}; controllers run by 'sluice up' or 'sluice controllers run' "
            "log to that command's stderr (save it to that file to read it here)")
    _print(lines, tail, **filters)
