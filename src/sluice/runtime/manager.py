"""The manager: every controller of a process in one asyncio loop, with shared caches.

``sluice controllers run`` and ``sluice up`` build one `Manager`, register
controllers and side services (the artifact server) on it, and run it until
a signal arrives. The manager owns:

* the connection helpers (`Objects`, `RestMapper`) and one shared
  `Informer` per watched kind, so two controllers watching GitRepositories
  share one list+watch and one cache. Informers for Flux kinds honour
  ``--watch-label-selector`` (e.g. ``sharding.fluxcd.io/key=shard1``), which
  is how Flux shards objects between controller replicas;
* leader election (``--enable-leader-election``): informers and controllers
  start only once this replica holds the Lease, while *runnables* that must
  serve regardless (the artifact server) start immediately. Losing the
  Lease stops the manager with `LeadershipLost`, as controller-runtime
  exits, so a supervisor restarts it as a standby;
* an aiohttp endpoint (``--metrics-addr``) with ``/metrics`` (Prometheus),
  ``/healthz`` (liveness: the loop answers) and ``/readyz`` (readiness:
  caches synced, or waiting as a standby);
* the event forwarder every recorder shares (``--events-addr``): events
  go to the notification controller in the background; under ``sluice up``
  the notification controller plugs itself in as the forwarder's local
  receiver;
* clean shutdown: controllers stop taking work and finish in-flight
  reconciles (bounded), informers and runnables are cancelled, the Lease is
  released, the HTTP endpoint closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sluice.kube.config import Connection
from sluice.kube.events import EventForwarder, EventRecorder
from sluice.kube.objects import Objects
from sluice.runtime.controller import Controller
from sluice.runtime.informer import Informer
from sluice.runtime.leader import LeaderElector, LeadershipLost
from sluice.runtime.metrics import ControllerMetrics

__all__ = ["Manager", "ManagerOptions", "Runnable", "parse_address"]

log = logging.getLogger("sluice.runtime.manager")

Runnable = Callable[[], Awaitable[None]]


def parse_address(addr: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``:8080`` / ``127.0.0.1:0`` / ``[::1]:9440`` -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid address {addr!r}: expected [host]:port")
    host = host.strip("[]") or default_host
    return host, int(port)


@dataclass
class ManagerOptions:
    """Flags shared by every controller of the process (Flux's names in comments)."""

    # --watch-label-selector: only Flux objects matching it are reconciled.
    watch_label_selector: str | None = None
    # --watch-all-namespaces=false is expressed by naming one namespace.
    watch_namespace: str | None = None
    # --concurrent: workers per controller.
    concurrent: int = 2
    # --metrics-addr; None disables the HTTP endpoint.
    metrics_addr: str | None = ":8080"
    # --enable-leader-election and its Lease.
    leader_election: bool = False
    leader_election_id: str = "sluice-controllers-leader-election"
    leader_election_namespace: str = "flux-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # How long in-flight reconciles may take to finish on shutdown.
    graceful_shutdown_timeout: float = 30.0
    # Field manager for status/finalizer writes.
    field_manager: str = "sluice"
    # --watch-configs-label-selector: the ConfigMaps/Secrets whose changes reconcile their
    # consumers at once (sluice.runtime.config_watch).
    watch_configs_label_selector: str = "reconcile.fluxcd.io/watch=Enabled"
    # --events-addr: where events are POSTed (Flux's event JSON); None: nowhere,
    # unless the notification controller runs in this process.
    events_addr: str | None = None


class Manager:
    """Runs informers, controllers and runnables; see the module docs."""

    def __init__(self, connection: Connection, options: ManagerOptions | None = None,
                 metrics: ControllerMetrics | None = None) -> None:
        self.connection = connection
        self.options = options or ManagerOptions()
        self.objects = Objects(connection)
        self.metrics = metrics or ControllerMetrics()
        self.controllers: list[Controller] = []
        self._informers: dict[tuple[str, str, str | None, str | None], Informer] = {}
        self._runnables: list[tuple[str, Runnable]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._controller_tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._leading = asyncio.Event()
        self._started = False
        self.elector: LeaderElector | None = None
        self.metrics_url = ""
        self.event_forwarder = EventForwarder(self.options.events_addr)

    # -------------------------------------------------------------- building
    async def informer(self, api_version: str, kind: str, *, selector: bool = True,
                       namespace: str | None = None,
                       label_selector: str | None = None) -> Informer:
        """The shared informer for a kind (filtered by the watch label selector if asked).

        ``label_selector``, when given, is used instead of the watch label selector.
        """
        if label_selector is None:
            label_selector = self.options.watch_label_selector if selector else None
        ns = namespace if namespace is not None else self.options.watch_namespace
        key = (api_version, kind, label_selector, ns)
        existing = self._informers.get(key)
        if existing is not None:
            return existing
        mapping = await self.objects.mapping(api_version, kind)
        informer = Informer(self.objects, mapping, namespace=ns, label_selector=label_selector,
                            strip_managed_fields=True)
        self._informers[key] = informer
        if self._leading.is_set():
            self._start_informer(informer)
        return informer

    def event_recorder(self, controller: str) -> EventRecorder:
        return EventRecorder(self.objects, controller, forwarder=self.event_forwarder)

    def add_controller(self, controller: Controller) -> None:
        if self._started:
            raise RuntimeError("controllers must be added before the manager starts")
        self.controllers.append(controller)

    def add_runnable(self, name: str, runnable: Runnable) -> None:
        """Run ``runnable`` for the manager's lifetime, leader or not."""
        self._runnables.append((name, runnable))
        if self._started:
            self._tasks.append(self._spawn(name, runnable))

    # --------------------------------------------------------------- running
    @property
    def ready(self) -> bool:
        if not self._started or self._stop.is_set():
            return False
        if not self._leading.is_set():
            return True  # a standby replica is ready to take over
        return all(i.synced for i in self._informers.values())

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def _spawn(self, name: str, runnable: Runnable) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await runnable()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("%s stopped: %s", name, exc)
                self._fail(exc)

        return asyncio.create_task(guarded(), name=name)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._stop.set()

    def _start_informer(self, informer: Informer) -> None:
        self._controller_tasks.append(
            asyncio.create_task(informer.run(), name=f"informer-{informer.name}"))

    async def start(self) -> None:
        """Start serving; returns once everything is launched (not when it ends)."""
        if self._started:
            return
        self._started = True
        if self.options.metrics_addr:
            await self._serve_http(self.options.metrics_addr)
        for name, runnable in self._runnables:
            self._tasks.append(self._spawn(name, runnable))
        if self.options.leader_election:
            o = self.options
            self.elector = LeaderElector(self.objects, o.leader_election_namespace,
                                         o.leader_election_id, lease_duration=o.lease_duration,
                                         renew_deadline=o.renew_deadline,
                                         retry_period=o.retry_period)
            self._tasks.append(self._spawn("leader-election", self._lead))
        else:
            self._start_controllers()

    async def _lead(self) -> None:
        assert self.elector is not None
        await self.elector.acquire()
        self._start_controllers()
        try:
            await self.elector.hold()
        except LeadershipLost:
            log.error("leader election lost")
            raise

    def _start_controllers(self) -> None:
        self._leading.set()
        for informer in self._informers.values():
            self._start_informer(informer)
        for ctrl in self.controllers:
            self._controller_tasks.append(self._spawn(f"controller-{ctrl.kind}", ctrl.run))
        log.info("started %d controller(s): %s", len(self.controllers),
                 ", ".join(c.kind for c in self.controllers) or "none")

    async def wait(self) -> None:
        """Block until `stop` is called or a component fails; re-raise that failure."""
        await self._stop.wait()
        if self._failure is not None:
            raise self._failure

    async def run(self) -> None:
        """Start, wait until stopped, shut down cleanly."""
        await self.start()
        try:
            await self.wait()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        """Ask a running manager to shut down (safe from signal handlers)."""
        self._stop.set()

    async def shutdown(self) -> None:
        self._stop.set()
        if self.controllers:
            await asyncio.gather(*(c.stop() for c in self.controllers), return_exceptions=True)
        for task in [*self._controller_tasks, *self._tasks]:
            task.cancel()
        for task in [*self._controller_tasks, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._controller_tasks.clear()
        self._tasks.clear()
        await self.event_forwarder.aclose()
        if self.elector is not None:
            await self.elector.release()
        self._leading.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ HTTP
    async def _serve_http(self, addr: str) -> None:
        host, port = parse_address(addr)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        self.metrics_url = f"http://{shown}:{bound}"
        log.info("metrics and health endpoints on %s", self.metrics_url)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(),
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.Response(text="ok")
        return web.Response(status=503, text="not ready")
