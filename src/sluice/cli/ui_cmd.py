"""``sluice ui``: serve the web UI for the current kubeconfig context (``sluice up`` serves it too).

The UI itself lives in `sluice.ui`; this module only parses the flags, connects,
and prints the login address. The address carries a one-time login token: it
is printed on stderr, never logged. Listening beyond loopback is allowed but
said out loud, since anyone who can reach the port and learns the token can act
on the cluster with the kubeconfig's rights (use ``--read-only`` there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options

__all__ = ["UIOptions", "start_ui", "ui", "ui_options"]

F = TypeVar("F", bound=Callable[..., Any])
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class UIOptions:
    addr: str
    read_only: bool = False


def ui_options(func: F) -> F:
    func = click.option("--ui-addr", default="127.0.0.1:9400", show_default=True,
                        help="address of the web UI (empty to disable)")(func)
    func = click.option("--ui-read-only", is_flag=True, default=False,
                        help="serve the UI without any action (no reconcile, suspend, resume)")(func)
    return func


async def start_ui(connection: Any, options: UIOptions) -> Any:
    """Start the UI on `options.addr` and print its login address; returns the server."""
    from sluice.runtime.manager import parse_address
    from sluice.ui.server import UIServer

    try:
        host, port = parse_address(options.addr, default_host="127.0.0.1")
    except ValueError as exc:
        raise CommandError(f"--ui-addr: {exc}") from None
    server = UIServer(connection, host, port, read_only=options.read_only)
    try:
        await server.start()
    except OSError as exc:
        raise CommandError(f"web UI: cannot listen on {options.addr}: {exc.strerror or exc}"
                           ) from None
    mode = " (read-only)" if options.read_only else ""
    click.echo(f"► web UI{mode} on {server.url}", err=True)
    click.echo(f"  open {server.login_url}", err=True)
    if host not in _LOOPBACK:
        click.echo(f"⚠ the UI listens on {host}, beyond loopback: anyone with the address "
                   "and token acts with this kubeconfig's rights", err=True)
    return server


@click.command("ui")
@ui_options
@global_options
def ui(globals_: Globals, ui_addr: str, ui_read_only: bool) -> None:
    """Serve the web UI for the current cluster until interrupted."""
    g = globals_
    from sluice.kube.config import connect
    from sluice.kube.errors import KubeError

    async def main() -> None:
        try:
            connection = connect(g.kubeconfig, g.context)
        except KubeError as exc:
            raise CommandError(str(exc)) from None
        server = None
        try:
            server = await start_ui(connection, UIOptions(ui_addr or "127.0.0.1:9400",
                                                          ui_read_only))
            await asyncio.Event().wait()
        finally:
            if server is not None:
                await server.close()
            await connection.aclose()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
