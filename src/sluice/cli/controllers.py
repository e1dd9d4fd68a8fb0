"""``sluice controllers run``: Sluice's controllers against the current cluster.

The equivalent of running Flux's controller Deployments: it connects with
``--kubeconfig``/``--context`` (or the in-cluster service account), serves
artifacts from ``--storage-path`` on ``--artifact-addr``, exposes metrics and
health on ``--metrics-addr`` and reconciles until SIGINT/SIGTERM. The flags
carry Flux's controller names and defaults. ``setup_logging`` is shared
with ``sluice up``: one line per event, as JSON (Flux's default encoding)
or readable console text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx2

from sluice.cli.failing import CommandError
from sluice.controllers.notification.controller import NotificationOptions
from sluice.controllers.run import CONTROLLERS, Controllers, ControllerSettings
from sluice.core.durations import SECOND, DurationError, parse_duration
from sluice.kube.config import Connection, connect
from sluice.kube.errors import KubeError
from sluice.runtime.leader import LeadershipLost
from sluice.runtime.manager import ManagerOptions, parse_address

__all__ = ["controllers", "install_signal_handlers", "serve_controllers", "setup_logging"]

_STRUCTURED = ("object", "result", "revision", "duration")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "level": record.levelname.lower(),
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _STRUCTURED:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "info", encoding: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if encoding == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter (aiohttp access lines, httpx requests) stays quiet.
    for noisy in ("httpx", "httpx2", "httpcore", "aiohttp.access", "asyncssh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def serve_controllers(connection: Connection, settings: ControllerSettings,
                            stop: asyncio.Event) -> None:
    """Create, start and run the controllers until ``stop`` is set; one-line errors."""
    try:
        ctrls = await Controllers.create(connection, settings)
    except KubeError as exc:
        raise CommandError(f"{connection.source}: {exc}") from None
    except httpx2.HTTPError as exc:
        raise CommandError(f"cannot reach {connection.server} ({connection.source}): "
                           f"{exc or type(exc).__name__}") from None
    except OSError as exc:
        raise CommandError(f"cannot start the artifact server on "
                           f"{settings.artifact_addr}: {exc.strerror or exc}") from None
    try:
        await ctrls.manager.start()
    except OSError as exc:
        await ctrls.manager.shutdown()
        await ctrls.artifact_server.close()
        raise CommandError(f"cannot serve metrics on {settings.manager.metrics_addr}: "
                           f"{exc.strerror or exc}") from None
    click.echo(f"✔ controllers running, artifacts served at {ctrls.artifact_url}", err=True)
    if ctrls.manager.metrics_url:
        click.echo(f"  metrics and health at {ctrls.manager.metrics_url}", err=True)
    runner = asyncio.create_task(ctrls.run())
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        click.echo("◎ shutting down", err=True)
        ctrls.stop()
    else:
        stopper.cancel()
    try:
        await runner
    except LeadershipLost as exc:
        raise CommandError(str(exc)) from None


async def _run(kubeconfig: str | None, context: str | None, settings: ControllerSettings) -> None:
    try:
        # A long-running process: aiohttp's client costs far less CPU per request.
        connection = connect(kubeconfig, context, field_manager=settings.manager.field_manager,
                             fast_http=True)
    except KubeError as exc:
        raise CommandError(str(exc)) from None
    try:
        click.echo(f"► connecting to {connection.server} ({connection.source})", err=True)
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await serve_controllers(connection, settings, stop)
    finally:
        await connection.aclose()


log = logging.getLogger("sluice.controllers")


def _seconds(value: str, flag: str) -> float:
    try:
        return parse_duration(value) / SECOND
    except DurationError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None

# Groups `sluice install` deploys that later versions fill in (Flux's component names).
PLANNED_GROUPS = frozenset({"helm", "notification", "image-reflector", "image-automation"})


@click.group()
def controllers() -> None:
    """Run Sluice's controllers."""


@controllers.command("run")
@click.option("--kubeconfig", envvar="KUBECONFIG", default=None,
              help="path to the kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
@click.option("--context", default=None, help="kubeconfig context to use")
@click.option("--storage-path", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".sluice/artifacts"), show_default=True,
              help="directory where artifacts are stored")
@click.option("--artifact-addr", "--storage-addr", default=":9090", show_default=True,
              help="address the artifact server binds to")
@click.option("--storage-adv-addr", default=None,
              help="host:port written in artifact URLs (default: the bound address)")
@click.option("--watch-label-selector", default=None,
              help="only reconcile objects matching this label selector "
                   "(e.g. sharding.fluxcd.io/key=shard1)")
@click.option("--watch-namespace", default=None,
              help="only watch this namespace (default: all namespaces)")
@click.option("--concurrent", type=click.IntRange(1, 256), default=4, show_default=True,
              help="number of concurrent reconciles per controller")
@click.option("--enable-leader-election", is_flag=True, default=False,
              help="hold a Lease so that only one replica reconciles")
@click.option("--leader-election-namespace", default="flux-system", show_default=True,
              help="namespace of the leader election Lease")
@click.option("--metrics-addr", default=":8080", show_default=True,
              help="address of the /metrics, /healthz and /readyz endpoint")
@click.option("--events-addr", default="",
              help="the notification controller's event endpoint, where events are POSTed "
                   "(e.g. http://notification-controller.flux-system.svc.cluster.local./); "
                   "empty: only Kubernetes Events, unless the notification controllers run "
                   "in this process")
@click.option("--event-server-addr", default=":9091", show_default=True,
              help="where the notification controller's event server listens (Flux's "
                   "notification-controller --events-addr; empty to disable)")
@click.option("--receiver-addr", "--receiverAddr", default=":9292", show_default=True,
              help="where the notification controller's webhook receiver listens "
                   "(empty to disable)")
@click.option("--rate-limit-interval", default="5m", show_default=True,
              help="interval in which rate limit has effect on duplicate events")
@click.option("--no-cross-namespace-refs", is_flag=True, default=False,
              help="refuse Alerts and Receivers referring to other namespaces")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.option("--log-encoding", type=click.Choice(["json", "console"]), default="json",
              show_default=True)
@click.option("--controllers", "groups", default="",
              help="comma-separated controller groups to run (source, kustomize); "
                   "default: all (one Deployment per group in a cluster)")
def controllers_run(kubeconfig: str | None, context: str | None, storage_path: Path,
                    artifact_addr: str, storage_adv_addr: str | None,
                    watch_label_selector: str | None, watch_namespace: str | None,
                    concurrent: int, enable_leader_election: bool,
                    leader_election_namespace: str, metrics_addr: str, events_addr: str,
                    event_server_addr: str, receiver_addr: str, rate_limit_interval: str,
                    no_cross_namespace_refs: bool, log_level: str, log_encoding: str,
                    groups: str) -> None:
    """Run the controllers against the current kubeconfig context (or in-cluster)."""
    setup_logging(log_level, log_encoding)
    known = {group for _, group, _ in CONTROLLERS}
    chosen = frozenset(g.strip() for g in groups.split(",") if g.strip()) or None
    if chosen is not None:
        unknown = chosen - known - PLANNED_GROUPS
        if unknown:
            raise click.BadParameter(f"unknown controller group(s): {', '.join(sorted(unknown))}"
                                     f" (available: {', '.join(sorted(known))})",
                                     param_hint="--controllers")
        for group in sorted(chosen & PLANNED_GROUPS - known):
            log.warning("the %s controllers are not part of this Sluice version yet; "
                        "this process runs nothing for them", group)
    settings = ControllerSettings(
        controllers=chosen,
        storage_path=storage_path,
        artifact_addr=artifact_addr,
        storage_adv_addr=storage_adv_addr,
        manager=ManagerOptions(
            watch_label_selector=watch_label_selector,
            watch_namespace=watch_namespace,
            concurrent=concurrent,
            metrics_addr=metrics_addr or None,
            leader_election=enable_leader_election,
            leader_election_namespace=leader_election_namespace,
            events_addr=events_addr or None,
        ),
        notification=NotificationOptions(
            event_server_addr=event_server_addr or None,
            receiver_addr=receiver_addr or None,
            rate_limit_interval=_seconds(rate_limit_interval, "--rate-limit-interval"),
            no_cross_namespace_refs=no_cross_namespace_refs,
        ),
    )
    for addr in (artifact_addr, metrics_addr, event_server_addr, receiver_addr):
        if addr:
            try:
                parse_address(addr)
            except ValueError as exc:
                raise click.BadParameter(str(exc)) from None
    asyncio.run(_run(kubeconfig, context, settings))
