"""``sluice cluster up`` (the embedded cluster alone) and ``sluice up`` (everything).

Both serve until SIGINT or SIGTERM and resume from ``--data-dir`` when started
again. ``sluice up`` adds Sluice's controllers as they become available; today
it runs the embedded cluster and says so.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from sluice.apiserver.server import EmbeddedCluster

DEFAULT_DATA_DIR = ".sluice"


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


async def _serve(cluster: EmbeddedCluster, banner: str) -> None:
    await cluster.start()
    try:
        click.echo(f"► {banner} listening on {cluster.url}", err=True)
        click.echo(f"✔ kubeconfig written to {cluster.kubeconfig}", err=True)
        click.echo(f"  export KUBECONFIG={cluster.kubeconfig.resolve()}", err=True)
        await cluster.serve_forever()
    finally:
        click.echo("◎ shutting down", err=True)
        await cluster.stop()


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@click.group()
def cluster() -> None:
    """Run Sluice's embedded Kubernetes-compatible cluster."""


@cluster.command("up")
@_options
def cluster_up(data_dir: Path, port: int, host: str, insecure_http: bool,
               pod_ready_delay: float) -> None:
    """Start the embedded cluster and serve until interrupted."""
    _setup_logging()
    ec = EmbeddedCluster(data_dir, host=host, port=port, insecure_http=insecure_http,
                         pod_ready_delay=pod_ready_delay)
    asyncio.run(_serve(ec, "embedded cluster"))


@click.command("up")
@_options
def up(data_dir: Path, port: int, host: str, insecure_http: bool, pod_ready_delay: float) -> None:
    """Start the embedded cluster with Sluice's controllers, and serve until interrupted."""
    _setup_logging()
    ec = EmbeddedCluster(data_dir, host=host, port=port, insecure_http=insecure_http,
                         pod_ready_delay=pod_ready_delay)
    asyncio.run(_serve(ec, "sluice (embedded cluster)"))
