"""Access to Helm's Go SDK (`helm_python`) with an isolated environment and bounded workers.

`helm_python` loads Helm v4's Go SDK through a C ABI when it is imported, and
the Go runtime takes its own copy of the process environment at that moment:
setting ``HELM_CACHE_HOME`` afterwards changes nothing Helm sees. So every
Sluice module that needs Helm imports it through `helm()`, which first points
Helm's cache, config and data homes (and its registry credentials file) at a
private directory of this process, unless the caller already set them, and
only then imports the library. A controller therefore never reads or writes
the user's ``~/.config/helm`` or ``~/.cache/helm``.

The SDK's calls block; `run` executes them on worker threads bounded by one
process-wide semaphore (``SLUICE_HELM_WORKERS``, default 4), so a fleet of
charts cannot occupy every thread of the default executor.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

__all__ = ["helm", "helm_home", "run"]

T = TypeVar("T")

_LOCK = threading.Lock()
_HOME: Path | None = None
_MODULE: ModuleType | None = None
_SEMAPHORE: asyncio.Semaphore | None = None
_SEMAPHORE_LOOP: asyncio.AbstractEventLoop | None = None

_HOME_VARS = {
    "HELM_CACHE_HOME": "cache",
    "HELM_CONFIG_HOME": "config",
    "HELM_DATA_HOME": "data",
}


def helm_home() -> Path:
    """This process's private Helm directory (created on first use)."""
    global _HOME
    with _LOCK:
        if _HOME is None:
            _HOME = Path(tempfile.mkdtemp(prefix="sluice-helm-"))
        return _HOME


def helm() -> ModuleType:
    """The `helm_python` module, imported after Helm's homes were isolated."""
    global _MODULE
    if _MODULE is not None:
        return _MODULE
    home = helm_home()
    with _LOCK:
        if _MODULE is None:
            for var, sub in _HOME_VARS.items():
                if not os.environ.get(var):
                    (home / sub).mkdir(parents=True, exist_ok=True)
                    os.environ[var] = str(home / sub)
            if not os.environ.get("HELM_REGISTRY_CONFIG"):
                os.environ["HELM_REGISTRY_CONFIG"] = str(home / "config" / "registry.json")
            import helm_python

            _MODULE = helm_python
    return _MODULE


def _semaphore() -> asyncio.Semaphore:
    global _SEMAPHORE, _SEMAPHORE_LOOP
    loop = asyncio.get_running_loop()
    if _SEMAPHORE is None or _SEMAPHORE_LOOP is not loop:
        _SEMAPHORE = asyncio.Semaphore(max(1, int(os.environ.get("SLUICE_HELM_WORKERS", "4"))))
        _SEMAPHORE_LOOP = loop
    return _SEMAPHORE


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on a worker thread, at most N Helm calls at once."""
    helm()
    async with _semaphore():
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
