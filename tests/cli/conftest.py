"""Running the ``sluice`` CLI in-process against the embedded cluster, with live controllers.

`sluice` runs the real entry point (``sluice.cli.main.main``) with stdout and
stderr captured separately and returns the exit code, the way a user sees a
command: what went to each stream and whether it failed. The commands call
``asyncio.run`` themselves, so the controllers they wait for run in a
thread of their own (`BackgroundControllers`): the GitRepository and
Kustomization controllers with their artifact server, watching every
namespace, with short retry delays.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner

from sluice.controllers.kustomization.controller import setup_kustomization_controller
from sluice.controllers.kustomization.reconciler import KustomizationOptions
from sluice.controllers.source.artifact_server import ArtifactServer
from sluice.controllers.source.artifacts import Storage
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.controllers.source.helmchart import setup_helmchart_controller
from sluice.controllers.source.helmrepository import setup_helmrepository_controller
from sluice.controllers.source.ocirepository import setup_ocirepository_controller
from sluice.core.sshkeys import generate_key_pair
from sluice.kube.config import connect
from sluice.runtime.heartbeat import add_component_heartbeat
from sluice.runtime.manager import Manager, ManagerOptions
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.sshgit import GitSSHServer

T = TypeVar("T")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def run_sluice(kubeconfig: Path | str | None, *args: str, input: str | None = None,
               env: dict[str, str | None] | None = None) -> Result:
    """``sluice <args>`` in-process: (exit code, stdout, stderr)."""
    from sluice.cli.main import main

    runner = CliRunner()
    full_env: dict[str, str | None] = {"KUBECONFIG": str(kubeconfig) if kubeconfig else None,
                                       "SLUICE_DEBUG": None}
    full_env.update(env or {})
    code = 0
    with runner.isolation(input=input, env=full_env) as (out, err, _):
        old_argv = sys.argv
        sys.argv = ["sluice", *args]
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = old_argv
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode()
        stderr = err.getvalue().decode()
    return Result(code, stdout, stderr)


class BackgroundControllers:
    """The source and Kustomization controllers on a loop in a daemon thread.

    They announce the ``source-controller`` and ``kustomize-controller`` components
    (`sluice.runtime.heartbeat`); commands asking for others report them not running.
    """

    def __init__(self, kubeconfig: Path, store: Path, *, helm: bool = False) -> None:
        self.kubeconfig = kubeconfig
        self.store = store
        # With the HelmRelease controller too (announcing ``helm-controller``).
        self.helm = helm
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="controllers",
                                       daemon=True)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.conn = connect(self.kubeconfig, field_manager="pytest")
        self.store.mkdir(parents=True, exist_ok=True)
        self.server = ArtifactServer(self.store, "127.0.0.1", 0)
        await self.server.start()
        storage = Storage(self.store, self.server.address)
        self.manager = Manager(self.conn, ManagerOptions(metrics_addr=None, concurrent=4))
        await setup_gitrepository_controller(self.manager, storage)
        await setup_helmrepository_controller(self.manager, storage)
        await setup_helmchart_controller(self.manager, storage)
        await setup_ocirepository_controller(self.manager, storage)
        await setup_kustomization_controller(self.manager, KustomizationOptions(
            health_poll=0.2, requeue_dependency=1.0, artifact_retry_wait=0.05,
            min_timeout=5.0))
        components = ["source", "kustomize"]
        if self.helm:
            from sluice.controllers.helmrelease.controller import setup_helmrelease_controller
            from sluice.controllers.helmrelease.reconciler import HelmReleaseOptions

            await setup_helmrelease_controller(self.manager, HelmReleaseOptions(
                requeue_dependency=1.0, source_retry=0.5, http_retry=2))
            components.append("helm")
        # Announce what runs, as `sluice up` does (check and bootstrap trust only that).
        await add_component_heartbeat(self.manager, components)
        await self.manager.start()

    async def _stop(self) -> None:
        try:
            await self.manager.shutdown()
        finally:
            await self.server.close()
            await self.conn.aclose()

    def start(self) -> BackgroundControllers:
        self.thread.start()
        self.call(self._start())
        return self

    def stop(self) -> None:
        try:
            self.call(self._stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


class BackgroundGit:
    """A loopback Git server on its own loop (the CLI blocks the test thread)."""

    def __init__(self, server: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="git", daemon=True)
        self.server = server

    def start(self) -> Any:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self.server

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def controllers(kubeconfig: Path, namespace: str,
                tmp_path: Path) -> Iterator[BackgroundControllers]:
    bg = BackgroundControllers(kubeconfig, tmp_path / "artifacts").start()
    try:
        yield bg
    finally:
        bg.stop()
        release(kubeconfig, namespace)


def release(kubeconfig: Path, namespace: str) -> None:
    """Drop the finalizers of the test's Flux objects, as ``flux uninstall`` does.

    Run once the controllers are stopped: deleting the namespace then prunes
    nothing. A bootstrapped Kustomization owns the Flux CRDs of the shared
    session cluster, and a controller finalizing it later would delete them.
    """
    from sluice.cli.kinds import ALL
    from sluice.kube.errors import KubeError
    from sluice.kube.objects import Objects

    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            for fk in ALL:
                try:
                    m = await objects.mapping(fk.api_version, fk.kind)
                    items, _ = await objects.list(m, namespace)
                except KubeError:
                    continue
                for item in items:
                    if item["metadata"].get("finalizers"):
                        await objects.merge_patch(m, item["metadata"]["name"],
                                                  {"metadata": {"finalizers": None}},
                                                  namespace)
        finally:
            await conn.aclose()

    asyncio.run(main())


def delete_namespace(kubeconfig: Path, name: str) -> None:
    """Delete a namespace the test made, if it is still there."""
    from sluice.kube.objects import Objects

    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            m = await objects.mapping("v1", "Namespace")
            if await objects.get_or_none(m, name) is not None:
                await objects.delete(m, name)
        finally:
            await conn.aclose()

    asyncio.run(main())


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitHTTPServer]:
    bg = BackgroundGit(GitHTTPServer(tmp_path / "git"))
    try:
        yield bg.start()
    finally:
        bg.stop()


@pytest.fixture
def ssh_keys() -> tuple[str, str]:
    """A fresh deploy key: (private key PEM, public key line)."""
    pair = generate_key_pair()
    return pair.private_key.decode(), pair.public_key


@pytest.fixture
def ssh_server(tmp_path: Path, ssh_keys: tuple[str, str]) -> Iterator[GitSSHServer]:
    """A loopback Git server over SSH that accepts ``ssh_keys``."""
    bg = BackgroundGit(GitSSHServer(tmp_path / "ssh", [ssh_keys[1]]))
    try:
        yield bg.start()
    finally:
        bg.stop()


_HEX = re.compile(r"\b[0-9a-f]{40}\b")
_SHORT = re.compile(r"@sha1:[0-9a-f]{8}\b")
_AGE = re.compile(r"^(\S+)", re.MULTILINE)


def mask(text: str, namespace: str | None = None) -> str:
    """Output with what varies between runs replaced: namespaces, revisions."""
    if namespace:
        text = text.replace(namespace, "<ns>")
    text = _HEX.sub("<sha>", text)
    return _SHORT.sub("@sha1:<short>", text)


def load_objects(kubeconfig: Path, text: str, namespace: str) -> None:
    """Create the objects of a YAML text in ``namespace``, status included (via /status)."""
    import yaml

    from sluice.kube.objects import Objects

    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            for doc in yaml.safe_load_all(text):
                if not doc:
                    continue
                m = await objects.mapping(doc["apiVersion"], doc["kind"])
                if m.namespaced:
                    doc.setdefault("metadata", {})["namespace"] = namespace
                status = doc.pop("status", None)
                created = await objects.create(m, doc)
                if status is not None:
                    await objects.patch_status(m, created["metadata"]["name"],
                                               {"status": status}, namespace)
        finally:
            await conn.aclose()

    asyncio.run(main())


GOLDEN_DIR = Path(__file__).parent / "golden_output"


def golden(name: str, text: str) -> None:
    """Compare ``text`` with ``golden_output/<name>``; ``SLUICE_UPDATE_GOLDEN=1`` rewrites it."""
    import os

    path = GOLDEN_DIR / name
    if os.environ.get("SLUICE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path} (run with SLUICE_UPDATE_GOLDEN=1)"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"
