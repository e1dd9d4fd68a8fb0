"""The embedded cluster as one object: storage, API, background controllers, TLS, kubeconfig.

``EmbeddedCluster`` is what ``sluice cluster up`` and ``sluice up`` run and what
the pytest plugin starts for every test session. It opens (or resumes) the
SQLite store in the data directory, installs the Flux CRDs and the namespaces
a fresh cluster has, starts the in-process controllers a control plane runs
(garbage collector, namespace lifecycle, workload simulator), serves HTTPS
with its own CA and a bearer token, and writes ``<data-dir>/kubeconfig``.

The data directory is created private and locked for the server's lifetime
(:mod:`datadir`); connections are accepted by :mod:`listener` (plain-HTTP
refusal, header deadline); request bodies are decoded as Kubernetes decodes
them (:mod:`decoding`), large ones in bounded workers (:mod:`offload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from sluice.apiserver.errors import ApiError
from sluice.apiserver.rest import decoding
from sluice.apiserver.rest.handlers import Api
from sluice.apiserver.rest.registry import Cluster, WriteOptions
from sluice.apiserver.schemas import builtin_schemas
from sluice.apiserver.schemas.resources import CRD_KEY, ResourceType
from sluice.apiserver.simulation.collector import GarbageCollector
from sluice.apiserver.simulation.pod_subresources import COMPONENT_LOG
from sluice.apiserver.simulation.workloads import WorkloadSimulator
from sluice.apiserver.store.datadir import DataDirLock, private_dir
from sluice.apiserver.store.storage import Storage
from sluice.apiserver.transport.inprocess import InProcessTransport
from sluice.apiserver.transport.kubeconfig import ensure_token, write_kubeconfig
from sluice.apiserver.transport.listener import HEADER_TIMEOUT, Listener
from sluice.apiserver.transport.tls import ensure_certificates

log = logging.getLogger("sluice.apiserver")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _crds() -> list[dict[str, Any]]:
    from sluice.api.crds import all_crds

    return all_crds()


class EmbeddedCluster:
    """A Kubernetes-compatible control plane without nodes, in this process."""

    def __init__(self, data_dir: Path | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 insecure_http: bool = False, pod_ready_delay: float = 0.5,
                 bookmark_interval: float = 5.0, install_flux_crds: bool = True,
                 header_timeout: float = HEADER_TIMEOUT) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sluice-cluster-")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.insecure_http = insecure_http
        self.pod_ready_delay = pod_ready_delay
        self.bookmark_interval = bookmark_interval
        self.install_flux_crds = install_flux_crds
        self.cluster: Cluster | None = None
        self.token = ""
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._api: Api | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock: DataDirLock | None = None
        self._listener: Listener | None = None
        self.header_timeout = header_timeout

    def observe_requests(self, observer: Callable[[web.Request], None]) -> Callable[[], None]:
        """Call ``observer`` with every request (on the server's loop); returns the undo."""
        assert self._api is not None, "the cluster is not started"
        observers = self._api.request_observers
        observers.append(observer)
        return lambda: observers.remove(observer) if observer in observers else None

    def in_process_transport(self) -> InProcessTransport:
        """An httpx transport to this cluster's handlers, for clients in this process."""
        assert self._runner is not None, "the cluster is not started"
        return InProcessTransport(self._runner.app)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    async def start(self) -> None:
        private_dir(self.data_dir)
        # Before anything is opened: a second server on this directory stops here.
        lock = DataDirLock(self.data_dir)
        lock.acquire()
        self._lock = lock
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        # Objects may nest 10,000 levels deep, as in Kubernetes; the recursive walks over
        # them (copies, merges, validation) need that many Python frames and more.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), decoding.RECURSION_LIMIT))
        storage = Storage(self.data_dir / "cluster.db")
        cluster = Cluster(storage)
        cluster.builtin_schema = _builtin_schema
        self.cluster = cluster
        self._bootstrap(cluster)
        ca_pem = ""
        if not self.insecure_http:
            ca_pem = ensure_certificates(self.data_dir / "pki").ca_cert.read_text()
        self._tasks = [
            asyncio.create_task(GarbageCollector(cluster, ca_pem=ca_pem).run(),
                                name="garbage-collector"),
            asyncio.create_task(WorkloadSimulator(cluster, self.pod_ready_delay).run(),
                                name="workload-simulator"),
        ]
        self.token = ensure_token(self.data_dir)
        api = Api(cluster, {self.token}, self.bookmark_interval)
        api.component_log = self.data_dir / COMPONENT_LOG
        self._api = api
        app = web.Application(client_max_size=4 * 1024 * 1024)
        api.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        ssl_ctx = None
        ca_bytes: bytes | None = None
        if not self.insecure_http:
            certs = ensure_certificates(self.data_dir / "pki")
            ssl_ctx = certs.server_context()
            ca_bytes = certs.ca_cert.read_bytes()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        server = self._runner.server
        assert server is not None
        self._listener = Listener(server, sock, ssl_ctx, self.header_timeout)
        await self._listener.start()
        scheme = "http" if self.insecure_http else "https"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{scheme}://{host}:{self.port}"
        write_kubeconfig(self.kubeconfig, self.url, self.token, ca_bytes)
        log.info("embedded cluster listening on %s (kubeconfig %s)", self.url, self.kubeconfig)

    def _bootstrap(self, cluster: Cluster) -> None:
        ns_type = cluster.catalogue.get("", "v1", "namespaces")
        assert ns_type is not None
        # flux-system comes with the Flux CRDs, as `flux install` creates it.
        names = SYSTEM_NAMESPACES + (("flux-system",) if self.install_flux_crds else ())
        for name in names:
            if cluster.storage.get(ns_type.storage_key, "", name) is None:
                cluster.create(ns_type, "", {"metadata": {"name": name}}, WriteOptions())
        if self.install_flux_crds:
            crd_type = cluster.catalogue.get("apiextensions.k8s.io", "v1",
                                             "customresourcedefinitions")
            assert crd_type is not None
            opts = WriteOptions(manager="sluice")
            for crd in _crds():
                name = crd["metadata"]["name"]
                existing = cluster.storage.get(CRD_KEY, "", name)
                try:
                    if existing is None:
                        cluster.create(crd_type, "", crd, opts)
                    elif existing.get("spec") != crd.get("spec"):
                        body = dict(crd)
                        body["metadata"] = {**crd["metadata"], "resourceVersion":
                                            existing["metadata"]["resourceVersion"]}
                        cluster.update(crd_type, "", name, body, opts)
                except ApiError as exc:
                    log.error("cannot install CRD %s: %s", name, exc)

    async def stop(self) -> None:
        if self._api is not None:
            self._api.stop_watches()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.cluster is not None:
            self.cluster.storage.close()
            self.cluster = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> EmbeddedCluster:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def _builtin_schema(rt: ResourceType) -> dict[str, Any] | None:
    return builtin_schemas.schema_for(rt.group, rt.version, rt.kind)
