"""``sluice cluster up`` (the embedded cluster alone) and ``sluice up`` (everything).

Both serve until SIGINT or SIGTERM and resume from ``--data-dir`` when started
again. ``sluice up`` runs, in one process and one event loop, the embedded
cluster and Sluice's controllers connected to it through the very kubeconfig
``sluice cluster up`` writes (``<data-dir>/kubeconfig``), so the controllers
exercise the same HTTPS API any client uses. Artifacts are stored under
``<data-dir>/artifacts`` and served on a loopback address, reachable from the
machine ``sluice up`` runs on.

Both also write their log, one JSON line per event, to
``<data-dir>/controllers.log`` (rotated at 5 MiB, two old files kept), where
``sluice logs --data-dir`` reads it. Only log records go there, never HTTP
request or response bodies: the HTTP client and server libraries, whose debug
output could carry a Secret, are kept out of the file below warnings.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
from pathlib import Path

import click

from sluice.apiserver.errors import DataDirInUse
from sluice.apiserver.server import EmbeddedCluster
from sluice.apiserver.store.datadir import private_dir
from sluice.cli.controllers import install_signal_handlers, serve_controllers, setup_logging
from sluice.cli.demo import install_demo
from sluice.cli.failing import CommandError
from sluice.cli.git_remote import LocalGitRemote
from sluice.cli.logs import LOG_FILE  # the name `sluice logs` looks for
from sluice.cli.ui_cmd import UIOptions, start_ui, ui_options
from sluice.controllers.notification.controller import NotificationOptions
from sluice.controllers.run import ControllerSettings
from sluice.kube.config import connect
from sluice.kube.errors import KubeError
from sluice.kube.objects import Objects
from sluice.runtime.manager import ManagerOptions, parse_address

DEFAULT_DATA_DIR = ".sluice"
LOG_FILE_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 2
# Libraries that log raw HTTP/SSH traffic at debug level: never in the file below WARNING.
_WIRE_LOGGERS = ("httpx", "httpx2", "httpcore", "h11", "h2", "hpack", "aiohttp", "asyncssh")


def _not_wire_traffic(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.WARNING:
        return True
    return not any(record.name == name or record.name.startswith(name + ".")
                   for name in _WIRE_LOGGERS)


def log_to_file(data_dir: Path) -> logging.Handler:
    """Also send the root logger's records to ``<data-dir>/controllers.log`` (rotating, JSON)."""
    from sluice.cli.controllers import JSONFormatter  # the encoding `sluice logs` parses

    private_dir(data_dir)
    handler = logging.handlers.RotatingFileHandler(
        data_dir / LOG_FILE, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS,
        encoding="utf-8")
    handler.setFormatter(JSONFormatter())
    handler.addFilter(_not_wire_traffic)
    logging.getLogger().addHandler(handler)
    return handler


def _options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=DEFAULT_DATA_DIR, show_default=True,
                        help="where the cluster keeps its objects, certificates and kubeconfig")(func)
    func = click.option("--port", type=int, default=6443, show_default=True,
                        help="port to listen on (0 picks a free one)")(func)
    func = click.option("--host", default="127.0.0.1", show_default=True,
                        help="address to listen on")(func)
    func = click.option("--insecure-http", is_flag=True, default=False,
                        help="serve plain HTTP instead of HTTPS (kubectl then sends no token)")(func)
    func = click.option("--pod-ready-delay", type=float, default=1.0, show_default=True,
                        help="seconds before simulated Pods become Ready")(func)
    return func


async def _start(cluster: EmbeddedCluster) -> None:
    try:
        await cluster.start()
    except DataDirInUse as exc:
        raise CommandError(str(exc)) from None


async def _serve(cluster: EmbeddedCluster, banner: str) -> None:
    await _start(cluster)
    try:
        click.echo(f"► {banner} listening on {cluster.url}", err=True)
        click.echo(f"✔ kubeconfig written to {cluster.kubeconfig}", err=True)
        click.echo(f"  export KUBECONFIG={cluster.kubeconfig.resolve()}", err=True)
        await cluster.serve_forever()
    finally:
        click.echo("◎ shutting down", err=True)
        await cluster.stop()


async def _serve_all(cluster: EmbeddedCluster, settings: ControllerSettings,
                     remote: LocalGitRemote | None = None, ui: UIOptions | None = None,
                     demo: bool = False, in_process: bool = True) -> None:
    """The embedded cluster plus the controllers (and the local Git remote), until a signal.

    The controllers share the cluster's process and loop: by default their client
    reaches its handlers through the in-process transport (no TLS or HTTP framing,
    about two thirds of their CPU with many objects); kubectl and every other
    client still use HTTPS.
    """
    stop = asyncio.Event()
    install_signal_handlers(stop)
    await _start(cluster)
    try:
        click.echo(f"► sluice (embedded cluster) listening on {cluster.url}", err=True)
        click.echo(f"✔ kubeconfig written to {cluster.kubeconfig}", err=True)
        click.echo(f"  export KUBECONFIG={cluster.kubeconfig.resolve()}", err=True)
        if remote is not None:
            try:
                await remote.start()
            except OSError as exc:
                raise CommandError(f"git remote: {exc} (change --git-http-addr/--git-ssh-addr, "
                                   "or set them empty to serve none)") from None
            for line in remote.instructions():
                click.echo(line, err=True)
        try:
            transport = cluster.in_process_transport() if in_process else None
            connection = connect(cluster.kubeconfig, field_manager=settings.manager.field_manager,
                                 transport=transport, fast_http=True)
        except KubeError as exc:
            raise CommandError(str(exc)) from None
        ui_server = None
        try:
            if demo and remote is not None:
                try:
                    lines = await install_demo(Objects(connection), remote)
                except (RuntimeError, KubeError) as exc:
                    raise CommandError(f"demo: {exc}") from None
                for line in lines:
                    click.echo(line, err=True)
            if ui is not None:
                ui_server = await start_ui(connection, ui)
            await serve_controllers(connection, settings, stop)
        finally:
            if ui_server is not None:
                await ui_server.close()
            await connection.aclose()
    finally:
        if remote is not None:
            await remote.close()
        await cluster.stop()


@click.group()
def cluster() -> None:
    """Run Sluice's embedded Kubernetes-compatible cluster."""


@cluster.command("up")
@_options
def cluster_up(data_dir: Path, port: int, host: str, insecure_http: bool,
               pod_ready_delay: float) -> None:
    """Start the embedded cluster and serve until interrupted."""
    setup_logging("info", "console")
    handler = log_to_file(data_dir)
    ec = EmbeddedCluster(data_dir, host=host, port=port, insecure_http=insecure_http,
                         pod_ready_delay=pod_ready_delay)
    try:
        asyncio.run(_serve(ec, "embedded cluster"))
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _check_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value:
        try:
            parse_address(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.command("up")
@_options
@click.option("--artifact-addr", default="127.0.0.1:9090", show_default=True,
              callback=_check_address,
              help="address of the artifact server (port 0 picks a free one)")
@click.option("--metrics-addr", default="127.0.0.1:8080", show_default=True,
              callback=_check_address,
              help="address of /metrics, /healthz and /readyz (empty to disable)")
@click.option("--concurrent", type=click.IntRange(1, 256), default=4, show_default=True,
              help="number of concurrent reconciles per controller")
@click.option("--event-server-addr", default="127.0.0.1:9091", show_default=True,
              callback=_check_address,
              help="address of the notification event server, for senders outside this "
                   "process (empty to disable; Sluice's own controllers need no HTTP hop)")
@click.option("--receiver-addr", default="127.0.0.1:9292", show_default=True,
              callback=_check_address,
              help="address of the webhook receiver (/hook/...; empty to disable)")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.option("--log-format", "--log-encoding", "log_format", default="console",
              type=click.Choice(["console", "json"]), show_default=True,
              help="how log lines are written on stderr (the log file is always JSON)")
@click.option("--git-http-addr", default="127.0.0.1:9300", show_default=True,
              callback=_check_address,
              help="address of the local Git remote over smart HTTP (empty to disable)")
@click.option("--git-ssh-addr", default="127.0.0.1:2222", show_default=True,
              callback=_check_address,
              help="address of the local Git remote over SSH (empty to disable)")
@click.option("--git-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder of bare repositories the local Git remote serves [DATA_DIR/git]")
@ui_options
@click.option("--demo", is_flag=True, default=False,
              help="put the walkthrough's agnhost app in the local Git remote and deliver it")
@click.option("--controllers-over-https", is_flag=True, default=False,
              help="have the controllers (and the UI) call the cluster over HTTPS like any "
                   "client, instead of reaching its handlers in-process")
def up(data_dir: Path, port: int, host: str, insecure_http: bool, pod_ready_delay: float,
       artifact_addr: str, metrics_addr: str, concurrent: int, event_server_addr: str,
       receiver_addr: str, log_level: str, log_format: str,
       git_http_addr: str, git_ssh_addr: str, git_dir: Path | None, ui_addr: str,
       ui_read_only: bool, demo: bool, controllers_over_https: bool) -> None:
    """Start the embedded cluster with Sluice's controllers, and serve until interrupted."""
    setup_logging(log_level, log_format)
    handler = log_to_file(data_dir)
    ec = EmbeddedCluster(data_dir, host=host, port=port, insecure_http=insecure_http,
                         pod_ready_delay=pod_ready_delay)
    settings = ControllerSettings(
        storage_path=data_dir / "artifacts",
        artifact_addr=artifact_addr,
        manager=ManagerOptions(concurrent=concurrent, metrics_addr=metrics_addr or None),
        mark_unserved=True,
        notification=NotificationOptions(event_server_addr=event_server_addr or None,
                                         receiver_addr=receiver_addr or None),
    )
    remote = None
    if demo and not git_http_addr:
        raise CommandError("--demo needs the local Git remote over HTTP (--git-http-addr)")
    if git_http_addr or git_ssh_addr:
        remote = LocalGitRemote(git_dir or data_dir / "git", git_http_addr, git_ssh_addr)
    try:
        asyncio.run(_serve_all(ec, settings, remote,
                               UIOptions(ui_addr, ui_read_only) if ui_addr else None, demo,
                               in_process=not controllers_over_https))
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
