"""Flux's global flags, accepted before or after the subcommand.

cobra lets ``flux -n agnhost reconcile ks x`` and ``flux reconcile ks x -n agnhost``
mean the same thing. click only knows group options before the subcommand, so
every leaf command also takes the global flags through :func:`global_options`,
and a value given on the leaf wins over one given on the group.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESPACE = "flux-system"
DEFAULT_TIMEOUT = "5m0s"


@dataclass
class Globals:
    """The global flags after merging group-level and command-level values."""

    namespace: str = DEFAULT_NAMESPACE
    kubeconfig: str | None = None
    context: str | None = None
    timeout: str = DEFAULT_TIMEOUT
    verbose: bool = False


def _group_globals(ctx: click.Context) -> Globals:
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, Globals):
        return obj
    g = Globals()
    root.obj = g
    return g


def global_options(func: F) -> F:
    """Add ``-n/--namespace``, ``--kubeconfig``, ``--context``, ``--timeout`` to a leaf command.

    The wrapped function receives a ``globals_`` keyword with the merged values.
    """

    @click.option("-n", "--namespace", "g_namespace", default=None,
                  help="the namespace scope for this operation (default flux-system)")
    @click.option("--kubeconfig", "g_kubeconfig", default=None, envvar="KUBECONFIG",
                  help="path to the kubeconfig file")
    @click.option("--context", "g_context", default=None, help="kubernetes context to use")
    @click.option("--timeout", "g_timeout", default=None,
                  help="timeout for this operation (default 5m0s)")
    @click.option("--verbose", "g_verbose", is_flag=True, default=None,
                  help="print generated objects")
    @functools.wraps(func)
    def wrapper(*args: Any, g_namespace: str | None, g_kubeconfig: str | None,
                g_context: str | None, g_timeout: str | None, g_verbose: bool | None,
                **kwargs: Any) -> Any:
        base = _group_globals(click.get_current_context())
        merged = Globals(
            namespace=g_namespace or base.namespace,
            kubeconfig=g_kubeconfig or base.kubeconfig,
            context=g_context or base.context,
            timeout=g_timeout or base.timeout,
            verbose=bool(g_verbose) or base.verbose,
        )
        return func(*args, globals_=merged, **kwargs)

    return wrapper  # type: ignore[return-value]
