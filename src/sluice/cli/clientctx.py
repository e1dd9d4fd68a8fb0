"""The cluster side of a CLI command: opening a client, running the coroutine, failing cleanly.

Every command that talks to a cluster does the same three things, kept here
so that they behave the same everywhere:

* `connect_client` opens a connection from the global flags (``--kubeconfig``,
  ``--context``) and wraps it in `Client`, which knows the namespace the
  command works in (``-n``, default ``flux-system``);
* `run` executes the command's coroutine and turns what can go wrong into one
  `CommandError` line: an unusable kubeconfig, an unreachable cluster
  (``unable to connect to the cluster at https://...: connection refused``),
  an API error (``the server says: ...``), anything unexpected. A traceback
  is shown only when ``SLUICE_DEBUG`` is set;
* `log` prints flux's progress lines on stderr with its glyphs
  (``►`` action, ``✚`` generate, ``◎`` waiting, ``✔`` success, ``⚠️``
  warning, ``✗`` failure).

``--timeout`` is parsed once (`timeout_seconds`), as a Go duration like
flux's (``5m0s``, ``30s``).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import click
import httpx2

from sluice.cli.failing import CommandError
from sluice.cli.kinds import FluxKind
from sluice.cli.options import Globals
from sluice.core.durations import SECOND, DurationError, go_quote, parse_duration
from sluice.kube.config import Connection, connect
from sluice.kube.errors import DiscoveryError, KubeError, NoKindMatch, is_not_found
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Obj, Objects

__all__ = [
    "Client",
    "connect_client",
    "log",
    "not_found",
    "run",
    "timeout_seconds",
]

T = TypeVar("T")



@dataclass
class _Current:
    """The command's API server and flags (a command runs once per process)."""

    server: str = ""
    globals_: Globals | None = None


# Not a ContextVar: asyncio.run would keep the values inside the command's task.
_current = _Current()


class log:  # a namespace of functions, like flux's logger
    """flux's stderr logger: one glyph, one space, the message."""

    @staticmethod
    def action(message: str) -> None:
        click.echo(f"► {message}", err=True)

    @staticmethod
    def generate(message: str) -> None:
        click.echo(f"✚ {message}", err=True)

    @staticmethod
    def waiting(message: str) -> None:
        click.echo(f"◎ {message}", err=True)

    @staticmethod
    def success(message: str) -> None:
        click.echo(f"✔ {message}", err=True)

    @staticmethod
    def warning(message: str) -> None:
        click.echo(f"⚠️ {message}", err=True)

    @staticmethod
    def failure(message: str) -> None:
        click.echo(f"✗ {message}", err=True)


def timeout_seconds(globals_: Globals) -> float:
    """``--timeout`` in seconds; a malformed value fails like pflag's duration flag."""
    try:
        nanos = parse_duration(globals_.timeout)
    except DurationError as exc:
        raise CommandError(f"invalid argument {go_quote(globals_.timeout)} for "
                           f'"--timeout" flag: {exc}') from None
    return nanos / SECOND


@dataclass
class Client:
    """A connection, generic object access, and the command's namespace."""

    connection: Connection
    objects: Objects
    namespace: str
    timeout: float

    @property
    def server(self) -> str:
        return self.connection.server

    async def aclose(self) -> None:
        await self.connection.aclose()

    async def mapping(self, fk: FluxKind) -> ResourceMapping:
        """Where ``fk`` lives; a cluster without its CRD fails with the API's words."""
        return await self.objects.mapping(fk.api_version, fk.kind)

    async def get_or_none(self, fk: FluxKind, name: str,
                          namespace: str | None = None) -> Obj | None:
        return await self.objects.get_or_none(await self.mapping(fk), name,
                                              namespace or self.namespace)

    async def get(self, fk: FluxKind, name: str, namespace: str | None = None) -> Obj:
        """The object, or flux's "not found" line."""
        ns = namespace or self.namespace
        found = await self.get_or_none(fk, name, ns)
        if found is None:
            raise CommandError(not_found(fk, name, ns))
        return found

    async def list(self, fk: FluxKind, namespace: str | None, *,
                   label_selector: str | None = None) -> list[Obj]:
        """Objects of ``fk`` in ``namespace`` (all namespaces for None), sorted like kubectl."""
        items, _ = await self.objects.list(await self.mapping(fk), namespace,
                                           label_selector=label_selector)
        return sorted(items, key=lambda o: ((o.get("metadata") or {}).get("namespace") or "",
                                            (o.get("metadata") or {}).get("name") or ""))

    async def merge_patch(self, fk: FluxKind, name: str, patch: Obj,
                          namespace: str | None = None) -> Obj:
        ns = namespace or self.namespace
        try:
            return await self.objects.merge_patch(await self.mapping(fk), name, patch, ns)
        except KubeError as exc:
            if is_not_found(exc):
                raise CommandError(not_found(fk, name, ns)) from None
            raise


def not_found(fk: FluxKind, name: str, namespace: str) -> str:
    """flux's message for a missing object."""
    return f'{fk.kind} object \'{name}\' not found in "{namespace}" namespace'


def is_no_match(exc: BaseException) -> bool:
    """The cluster does not serve the kind (its CRD is not installed)."""
    return isinstance(exc, NoKindMatch)


def connect_client(globals_: Globals) -> Client:
    """Open a client for the command (no request is made yet)."""
    timeout = timeout_seconds(globals_)
    try:
        connection = connect(globals_.kubeconfig, globals_.context,
                             field_manager="flux-client-side-apply")
    except KubeError as exc:
        raise CommandError(str(exc)) from None
    _current.server = connection.server
    _current.globals_ = globals_
    return Client(connection, Objects(connection), globals_.namespace, timeout)


async def _probe_server() -> None:
    """Reach the API server once more; a transport failure raises its own exception.

    Discovery reports an unreachable server as a `DiscoveryError` without the
    cause; asking again tells "connection refused" from "not served".
    """
    globals_ = _current.globals_
    if globals_ is None:
        return
    connection = connect(globals_.kubeconfig, globals_.context, timeout=5.0)
    try:
        await connection.http.get("/version")
    finally:
        await connection.aclose()


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _connection_reason(exc: BaseException) -> str:
    """A short reason for a failed connection, without the library's noise."""
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
    text = str(exc).strip()
    lowered = text.lower()
    if "connection refused" in lowered or "connect call failed" in lowered:
        return "connection refused"
    if "certificate verify failed" in lowered:
        return "TLS certificate not trusted"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host not found"
    return text or type(exc).__name__


def _translate(exc: BaseException) -> CommandError | None:
    """The one line a user sees for an exception escaping a command, or None to re-raise."""
    if isinstance(exc, CommandError):
        return exc
    server = _current.server or "the configured address"
    if isinstance(exc, KubeError):
        return CommandError(str(exc))
    # httpx (not the httpx2 lightkube uses) is imported only by the commands that
    # need it; importing it here would cost every command ~60 ms of start-up.
    httpx = sys.modules.get("httpx")
    timeouts: tuple[type[BaseException], ...] = (httpx2.TimeoutException,)
    transport: tuple[type[BaseException], ...] = (httpx2.TransportError, ConnectionError)
    if httpx is not None:
        timeouts += (httpx.TimeoutException,)
        transport += (httpx.TransportError,)
    if isinstance(exc, timeouts):
        return CommandError(f"unable to connect to the cluster at {server}: timed out")
    if isinstance(exc, transport):
        return CommandError(f"unable to connect to the cluster at {server}: "
                            f"{_connection_reason(exc)}")
    if isinstance(exc, httpx2.HTTPStatusError):
        return CommandError(f"the cluster at {server} answered HTTP "
                            f"{exc.response.status_code}")
    if isinstance(exc, KeyboardInterrupt | SystemExit | click.exceptions.Exit
                  | click.ClickException | click.Abort):
        return None
    if os.environ.get("SLUICE_DEBUG"):
        return None
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return CommandError(f"unexpected error ({type(exc).__name__}){': ' + detail if detail else ''}"
                        " — run again with SLUICE_DEBUG=1 for details")


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine; every failure becomes one `CommandError` line."""
    async def wrapper() -> T:
        try:
            return await main()
        except DiscoveryError:
            await _probe_server()
            raise

    try:
        return asyncio.run(wrapper())
    except BaseException as exc:  # every failure is mapped to one line below
        translated = _translate(exc)
        if translated is None:
            raise
        if translated is exc:
            raise
        raise translated from None
