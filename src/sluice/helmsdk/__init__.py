"""Access to Helm's Go SDK (`helm_python`) with an isolated environment and bounded workers.

`helm_python` loads Helm v4's Go SDK through a C ABI when it is imported, and
the Go runtime takes its own copy of the process environment at that moment:
setting ``HELM_CACHE_HOME`` afterwards changes nothing Helm sees. So every
Sluice module that needs Helm imports it through `helm()`, which first points
Helm's cache, config and data homes (and its registry credentials file) at a
private directory of this process, unless the caller already set them, and
only then imports the library. A controller therefore never reads or writes
the user's ``~/.config/helm`` or ``~/.cache/helm``.

The SDK's calls block; `run` (`workers.py`) executes them on Helm's own
bounded threads (``SLUICE_HELM_WORKERS``, default 4), so a fleet of charts
cannot occupy every thread of the default executor, and with a `timeout`
answers its caller even when the Go call never returns.

Caveat measured by the HelmRelease work: the Go runtime copies the
environment block the process *started* with, so variables Python adds
later (once libc reallocated ``environ``) do not reach Helm either; only a
process started with ``HELM_*`` set is fully isolated. `go_environ` shows
what Helm sees and `plugins_dir` where it looks for plugins.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from sluice.helmsdk import workers
from sluice.helmsdk.errors import HelmCallAbandoned
from sluice.helmsdk.workers import stuck_threads

__all__ = ["HelmCallAbandoned", "go_environ", "helm", "helm_home", "plugins_dir", "run",
           "stuck_threads"]

T = TypeVar("T")

_LOCK = threading.Lock()
_HOME: Path | None = None
_MODULE: ModuleType | None = None

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


def go_environ() -> dict[str, str]:
    """The environment the Go runtime inside `helm_python` sees.

    A c-shared Go library copies the environment block the process was
    started with (the kernel's ``envp``), not libc's current ``environ``: a
    variable Python adds or changes after start-up, once ``environ`` has been
    reallocated, never reaches Helm. ``/proc/self/environ`` shows that block.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def plugins_dir() -> Path:
    """The directory Helm searches for plugins (post-renderers), resolved as Helm does.

    ``HELM_PLUGINS`` (its first entry), else ``$HELM_DATA_HOME/plugins``, else
    ``$XDG_DATA_HOME/helm/plugins``, else ``~/.local/share/helm/plugins``, all
    read from the environment Helm sees (`go_environ`). Set ``HELM_PLUGINS``
    (or ``HELM_DATA_HOME``) in the controller's environment to keep Sluice's
    plugin out of a user's own Helm data.
    """
    env = go_environ()
    if env.get("HELM_PLUGINS"):
        path = Path(env["HELM_PLUGINS"].split(os.pathsep)[0])
    elif env.get("HELM_DATA_HOME"):
        path = Path(env["HELM_DATA_HOME"]) / "plugins"
    elif env.get("XDG_DATA_HOME"):
        path = Path(env["XDG_DATA_HOME"]) / "helm" / "plugins"
    else:
        path = Path(env.get("HOME") or str(Path.home())) / ".local" / "share" / "helm" / "plugins"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def run(fn: Callable[..., T], *args: Any, timeout: float | None = None,  # noqa: ASYNC109
              what: str = "Helm call", **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on a Helm thread once Helm is loaded (see `workers.call`)."""
    helm()
    return await workers.call(fn, *args, timeout=timeout, what=what, **kwargs)
