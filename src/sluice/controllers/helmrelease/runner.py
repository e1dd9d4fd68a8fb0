"""Helm's own actions, run on bounded worker threads with a timeout that cancels them.

helm-controller drives Helm's Go ``action`` package; Sluice drives the same
package through `helm_python` (loaded by `sluice.helmsdk`, which isolates
Helm's homes). Every call blocks, so each runs on a worker thread taken from
the process-wide Helm semaphore (``SLUICE_HELM_WORKERS``) and is bounded:

* install and upgrade get a `HelmContext`; when their timeout (plus a grace
  period for Helm's own cleanup) passes, or the reconcile is cancelled, the
  context is cancelled from the event loop and Helm aborts the action
  (``HelmCancelledError``), leaving a failed release behind as Helm does;
* rollback, uninstall and test have no context in the SDK: Helm's own
  ``timeout_seconds`` bounds their waits; past the timeout plus the grace
  period (twice the grace for install and upgrade, if Go ignored the
  cancelled context) the action fails with `HelmActionTimeout` and its thread
  is abandoned, counted against a budget (`sluice.helmsdk.workers`), so a
  stuck call never holds a Helm slot for good while the budget lasts.

Options follow helm-controller 1.5+ defaults where the SDK exposes them:
server-side apply for installs (``install.serverSideApply`` defaults to
true), ``auto`` for upgrades and rollbacks (the apply method recorded in the
last release), Helm's ``watcher`` (kstatus) wait, ``take_ownership``,
``wait_for_jobs``, CRDs skipped by Helm's install and applied by the
controller as Flux does, and the post-renderer plugin (`postrender`) that
adds the ``helm.toolkit.fluxcd.io/name|namespace`` labels (and runs
``spec.postRenderers`` and ``commonMetadata``).

One `helm_python.Config` is kept per (namespace, impersonated user): installs
use the release namespace's, every other action the storage namespace's
(`names` explains why they may differ). Each is built from the controller's
own connection as an inline kubeconfig (so the token stays in memory and in
a private 0600 temporary file Helm's loader reads, removed when the config
closes). Helm errors become `HelmActionError`
with the SDK's one-line detail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import yaml

from sluice.helmsdk import HelmCallAbandoned, helm, run
from sluice.kube.config import Connection

from .errors import HelmActionError, HelmActionTimeout

__all__ = ["ActionOptions", "HelmRunner", "kubeconfig_for"]

log = logging.getLogger("sluice.controllers.helmrelease")

# Time granted beyond the action's own timeout before its context is cancelled:
# Helm notices its deadline itself and fails the release cleanly first.
CANCEL_GRACE = 15.0


def kubeconfig_for(connection: Connection) -> str:
    """An inline kubeconfig reproducing ``connection`` (server, CA, credentials)."""
    single = connection.config
    cluster: dict[str, Any] = {"server": str(single.cluster.server)}
    if single.cluster.certificate_auth_data:
        cluster["certificate-authority-data"] = single.cluster.certificate_auth_data
    elif single.cluster.certificate_auth:
        cluster["certificate-authority"] = str(single.abs_file(single.cluster.certificate_auth))
    if single.cluster.insecure:
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {}
    u = single.user
    if u is not None:
        if u.token:
            user["token"] = u.token
        elif u.token_file:
            user["tokenFile"] = str(single.abs_file(u.token_file))
        if u.client_cert_data:
            user["client-certificate-data"] = u.client_cert_data
        elif u.client_cert:
            user["client-certificate"] = str(single.abs_file(u.client_cert))
        if u.client_key_data:
            user["client-key-data"] = u.client_key_data
        elif u.client_key:
            user["client-key"] = str(single.abs_file(u.client_key))
        if u.username:
            user["username"] = u.username
            user["password"] = u.password or ""
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "sluice",
           "clusters": [{"name": "sluice", "cluster": cluster}],
           "users": [{"name": "sluice", "user": user}],
           "contexts": [{"name": "sluice", "context": {"cluster": "sluice", "user": "sluice"}}]}
    return str(yaml.safe_dump(doc))


@dataclass
class ActionOptions:
    """What one action needs besides the chart and values."""

    release: str
    namespace: str
    timeout: float
    wait: bool = True
    wait_for_jobs: bool = True
    disable_hooks: bool = False
    disable_openapi_validation: bool = False
    disable_schema_validation: bool = False
    take_ownership: bool = True
    create_namespace: bool = False
    server_side_apply: str = "auto"
    force: bool = False
    cleanup_on_fail: bool = False
    reset_values: bool = True
    reuse_values: bool = False
    max_history: int = 5
    description: str = ""
    post_renderer_args: list[str] | None = None
    post_render_strategy: str = "combined"
    keep_history: bool = False
    deletion_propagation: str = "background"
    version: int = 0
    include_tests: list[str] = field(default_factory=list)
    exclude_tests: list[str] = field(default_factory=list)


def _seconds(timeout: float) -> int:
    return max(1, round(timeout))


def _detail(exc: BaseException) -> str:
    text = str(getattr(exc, "detail", None) or exc)
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or \
        type(exc).__name__


class HelmRunner:
    """Runs Helm actions for the controller; see the module docs."""

    def __init__(self, connection: Connection, *, post_renderer: str | None = None) -> None:
        self.connection = connection
        self.post_renderer = post_renderer
        self._configs: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._kubeconfig: str | None = None

    def _config(self, storage_namespace: str, user: str | None) -> Any:
        key = (storage_namespace, user or "")
        with self._lock:
            cfg = self._configs.get(key)
            if cfg is None:
                if self._kubeconfig is None:
                    self._kubeconfig = kubeconfig_for(self.connection)
                kwargs: dict[str, Any] = {"kubeconfig_content": self._kubeconfig,
                                          "namespace": storage_namespace}
                if user:
                    kwargs["kube_as_user"] = user
                cfg = helm().Config(**kwargs)
                self._configs[key] = cfg
            return cfg

    def close(self) -> None:
        with self._lock:
            for cfg in self._configs.values():
                try:
                    cfg.close()
                except Exception:  # closing twice or after the library is gone
                    log.debug("closing a Helm config failed", exc_info=True)
            self._configs.clear()

    # ------------------------------------------------------------ plumbing
    async def _call(self, name: str, opts: ActionOptions, fn: Any, *,
                    cancellable: bool) -> Any:
        sdk = helm()
        context = sdk.HelmContext() if cancellable else None
        # Past this the caller is answered even if Go never returns (a hook or a
        # request ignoring the context): the thread is abandoned (`sluice.helmsdk.workers`).
        limit = opts.timeout + CANCEL_GRACE * (2 if cancellable else 1)
        task = asyncio.ensure_future(run(fn, context, timeout=limit, what=f"the Helm {name}"))
        try:
            if context is None:
                return await task
            done, _ = await asyncio.wait({task}, timeout=opts.timeout + CANCEL_GRACE)
            if not done:
                context.cancel()
                await asyncio.wait({task})
            return task.result()
        except asyncio.CancelledError:
            if context is not None:
                context.cancel()
            raise
        except HelmCallAbandoned as exc:
            context = None  # Go may still hold it: never freed under a running call
            raise HelmActionTimeout(f"the {name} did not finish within its timeout: "
                                    f"{exc}") from None
        except sdk.HelmCancelledError:
            raise HelmActionTimeout(f"context deadline exceeded: the {name} did not finish "
                                    f"within its timeout") from None
        except sdk.HelmError as exc:
            released = not isinstance(exc, (sdk.HelmInvalidArgError, sdk.HelmChartLoadError,
                                            sdk.HelmRenderError, sdk.HelmValuesError))
            raise HelmActionError(_detail(exc), released=released) from None
        finally:
            if context is not None and task.done():
                context.close()

    def _post_render(self, opts: ActionOptions, out: dict[str, Any]) -> None:
        if self.post_renderer and opts.post_renderer_args is not None:
            out["post_renderer"] = self.post_renderer
            out["post_renderer_args"] = opts.post_renderer_args
            out["post_render_strategy"] = opts.post_render_strategy

    @staticmethod
    def _wait(opts: ActionOptions) -> str:
        return "watcher" if opts.wait else "hookOnly"

    # ------------------------------------------------------------- actions
    async def install(self, user: str | None, chart: Any,
                      values: dict[str, Any], opts: ActionOptions) -> dict[str, Any]:
        """Install into ``opts.namespace``; helm-c stores the new release there too.

        A caller keeping storage elsewhere moves it afterwards (`names`).
        """
        cfg = self._config(opts.namespace, user)
        payload: dict[str, Any] = {
            "namespace": opts.namespace, "timeout_seconds": _seconds(opts.timeout),
            "wait": self._wait(opts), "create_namespace": opts.create_namespace or None,
            "description": opts.description or None,
            "server_side_apply": opts.server_side_apply != "false",
            "force_conflicts": True if opts.server_side_apply != "false" else None,
            "take_ownership": opts.take_ownership or None, "skip_crds": True,
            "disable_hooks": opts.disable_hooks or None,
            "wait_for_jobs": (opts.wait and opts.wait_for_jobs) or None,
            "disable_openapi_validation": opts.disable_openapi_validation or None,
            "skip_schema_validation": opts.disable_schema_validation or None,
        }
        self._post_render(opts, payload)
        return await self._action("helm_install", cfg, chart, opts, payload, values)

    async def upgrade(self, storage_ns: str, user: str | None, chart: Any,
                      values: dict[str, Any], opts: ActionOptions) -> dict[str, Any]:
        cfg = self._config(storage_ns, user)
        ssa = opts.server_side_apply
        payload: dict[str, Any] = {
            # No namespace: helm-c refuses one other than the config's (the storage
            # namespace) and Helm upgrades in the namespace of the stored release.
            "timeout_seconds": _seconds(opts.timeout),
            "wait": self._wait(opts), "max_history": opts.max_history or None,
            "reset_values": opts.reset_values or None, "reuse_values": opts.reuse_values or None,
            "cleanup_on_fail": opts.cleanup_on_fail or None,
            "description": opts.description or None, "server_side_apply": ssa,
            # Under SSA conflicts are always forced (upgrade.force is ignored), as Flux.
            "force_conflicts": True if ssa != "false" else None,
            "force_replace": (opts.force and ssa == "false") or None,
            "take_ownership": opts.take_ownership or None, "skip_crds": True,
            "disable_hooks": opts.disable_hooks or None,
            "wait_for_jobs": (opts.wait and opts.wait_for_jobs) or None,
            "disable_openapi_validation": opts.disable_openapi_validation or None,
            "skip_schema_validation": opts.disable_schema_validation or None,
        }
        self._post_render(opts, payload)
        return await self._action("helm_upgrade", cfg, chart, opts, payload, values)

    async def _action(self, symbol: str, cfg: Any, chart: Any, opts: ActionOptions,
                      payload: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        sdk = helm()
        native = sdk._native
        body = json.dumps({k: v for k, v in payload.items() if v is not None})
        name = "install" if symbol == "helm_install" else "upgrade"

        def call(context: Any) -> dict[str, Any]:
            out = native.call_string(symbol, cfg._raw(), context._raw(), chart._raw(), None,
                                     opts.release, json.dumps(values), body)
            result: dict[str, Any] = json.loads(out)
            return result

        result: dict[str, Any] = await self._call(name, opts, call, cancellable=True)
        return result

    async def rollback(self, storage_ns: str, user: str | None, opts: ActionOptions) -> None:
        cfg = self._config(storage_ns, user)
        native = helm()._native
        payload = {
            "version": opts.version or None, "timeout_seconds": _seconds(opts.timeout),
            "wait": self._wait(opts), "server_side_apply": opts.server_side_apply,
            "force_conflicts": True if opts.server_side_apply != "false" else None,
            "force_replace": (opts.force and opts.server_side_apply == "false") or None,
            "cleanup_on_fail": opts.cleanup_on_fail or None,
            "disable_hooks": opts.disable_hooks or None,
            "wait_for_jobs": (opts.wait and opts.wait_for_jobs) or None,
            "max_history": opts.max_history or None,
        }
        body = json.dumps({k: v for k, v in payload.items() if v is not None})

        def call(_: Any) -> None:
            native.call_status("helm_rollback", cfg._raw(), opts.release, body)

        await self._call("rollback", opts, call, cancellable=False)

    async def uninstall(self, storage_ns: str, user: str | None,
                        opts: ActionOptions) -> dict[str, Any]:
        cfg = self._config(storage_ns, user)
        native = helm()._native
        payload = {
            "keep_history": opts.keep_history or None, "timeout_seconds": _seconds(opts.timeout),
            "wait": self._wait(opts), "ignore_not_found": True,
            "disable_hooks": opts.disable_hooks or None,
            "deletion_propagation": opts.deletion_propagation or None,
            "description": opts.description or None,
        }
        body = json.dumps({k: v for k, v in payload.items() if v is not None})

        def call(_: Any) -> dict[str, Any]:
            out: dict[str, Any] = json.loads(native.call_string("helm_uninstall", cfg._raw(),
                                                                opts.release, body))
            return out

        result: dict[str, Any] = await self._call("uninstall", opts, call, cancellable=False)
        return result

    async def test(self, storage_ns: str, user: str | None,
                   opts: ActionOptions) -> dict[str, Any]:
        cfg = self._config(storage_ns, user)

        def call(_: Any) -> dict[str, Any]:
            result: dict[str, Any] = cfg.test(
                opts.release, timeout=_seconds(opts.timeout),
                include_names=opts.include_tests or None,
                exclude_names=opts.exclude_tests or None)
            return result

        result: dict[str, Any] = await self._call("test", opts, call, cancellable=False)
        return result

    async def load_chart(self, data: bytes) -> Any:
        """A Helm chart handle from archive bytes (Helm's own loader and checks)."""
        sdk = helm()
        try:
            return await run(sdk.Chart.load_archive, data)
        except sdk.HelmError as exc:
            from .errors import ChartLoadError
            raise ChartLoadError(f"Could not load chart: {_detail(exc)}") from None
