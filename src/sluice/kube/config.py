"""Connecting to a cluster: kubeconfig (file + context) or in-cluster service account.

Every process that talks to Kubernetes (``sluice controllers run``, ``sluice
up``, the CLI) starts here. `load_config` resolves the configuration the way
kubectl and Flux's controllers do:

1. an explicit ``--kubeconfig`` path;
2. otherwise the first existing file of ``$KUBECONFIG`` (a path list);
3. otherwise the in-cluster service account, when running in a Pod;
4. otherwise ``~/.kube/config``.

``--context`` picks a context instead of ``current-context``. Failures become
`ConfigError` with a message naming the file (and context), never a lightkube
traceback.

`connect` returns a `Connection`: lightkube's `AsyncClient` for typed
resource calls, plus a raw ``httpx2`` client sharing the same server, TLS
and credentials (built by lightkube's own adapter), which discovery
(`sluice.kube.mapping`) and the dict-based object calls
(`sluice.kube.objects`) use.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx2
import yaml
from lightkube import AsyncClient
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from sluice.kube.errors import ConfigError

__all__ = [
    "DEFAULT_KUBECONFIG",
    "SERVICE_ACCOUNT_DIR",
    "Connection",
    "connect",
    "load_config",
]

DEFAULT_KUBECONFIG = Path("~/.kube/config")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Generous default: the embedded cluster and real API servers answer in
# milliseconds, but a busy CI machine should not turn into spurious failures.
DEFAULT_TIMEOUT = 30.0


@dataclass
class Connection:
    """A configured cluster connection; close it with `aclose`."""

    config: SingleConfig
    client: AsyncClient
    http: httpx2.AsyncClient
    # Where the configuration came from, for logs: "kubeconfig <path> (context <name>)".
    source: str

    @property
    def server(self) -> str:
        return str(self.config.cluster.server)

    @property
    def namespace(self) -> str:
        """The context's default namespace (``default`` when unset)."""
        return str(self.config.namespace or "default")

    async def aclose(self) -> None:
        await self.client.close()
        await self.http.aclose()


def _in_cluster(sa_dir: Path) -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (sa_dir / "token").is_file()


def _from_file(path: Path, context: str | None) -> SingleConfig:
    shown = str(path)
    if not path.is_file():
        raise ConfigError(f"kubeconfig {shown} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"kubeconfig {shown} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"kubeconfig {shown} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {shown} is not a kubeconfig document")
    for key in ("clusters", "contexts"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise ConfigError(f"kubeconfig {shown} has no {key}")
    try:
        kc = KubeConfig.from_dict(data, fname=path.resolve())
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"kubeconfig {shown} is malformed: {exc}") from None
    name = context or kc.current_context
    if not name:
        raise ConfigError(f"kubeconfig {shown} has no current-context; pass --context")
    if name not in kc.contexts:
        raise ConfigError(f"kubeconfig {shown} has no context '{name}'")
    ctx = kc.contexts[name]
    if ctx.cluster not in kc.clusters:
        raise ConfigError(f"kubeconfig {shown}: context '{name}' refers to unknown cluster "
                          f"'{ctx.cluster}'")
    if ctx.user and ctx.user not in kc.users:
        raise ConfigError(f"kubeconfig {shown}: context '{name}' refers to unknown user "
                          f"'{ctx.user}'")
    try:
        single = kc.get(name)
    except LightkubeConfigError as exc:
        raise ConfigError(f"kubeconfig {shown}: {exc}") from None
    assert single is not None
    return single


def _from_service_account(sa_dir: Path) -> SingleConfig:
    try:
        kc = KubeConfig.from_service_account(sa_dir)
    except (LightkubeConfigError, KeyError, OSError) as exc:
        raise ConfigError(f"in-cluster configuration in {sa_dir} cannot be used: {exc}") from None
    single = kc.get()
    assert single is not None
    return single


def load_config(kubeconfig: str | Path | None = None, context: str | None = None, *,
                service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> tuple[SingleConfig, str]:
    """Resolve the configuration; returns it with a description of where it came from."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        single = _from_file(path, context)
        return single, f"kubeconfig {path} (context {single.context_name})"
    env = os.environ.get("KUBECONFIG", "")
    candidates = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    for path in candidates:
        if path.is_file():
            single = _from_file(path, context)
            return single, f"kubeconfig {path} (context {single.context_name})"
    if candidates:
        raise ConfigError(f"kubeconfig {env} not found (from $KUBECONFIG)")
    if context is None and _in_cluster(service_account_dir):
        return _from_service_account(service_account_dir), "in-cluster service account"
    path = DEFAULT_KUBECONFIG.expanduser()
    single = _from_file(path, context)
    return single, f"kubeconfig {path} (context {single.context_name})"


_POOL_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100)


def connect(kubeconfig: str | Path | None = None, context: str | None = None, *,
            field_manager: str | None = None, timeout: float = DEFAULT_TIMEOUT,
            service_account_dir: Path = SERVICE_ACCOUNT_DIR,
            transport: httpx2.AsyncBaseTransport | None = None,
            fast_http: bool = False) -> Connection:
    """Load the configuration and build the clients (no request is made yet).

    ``transport`` replaces the raw client's network transport (TLS, HTTP/1.1);
    ``sluice up`` passes the embedded cluster's in-process one, so its own
    controllers reach the handlers without a socket. Credentials are still
    sent and checked. ``fast_http`` sends requests with aiohttp's client
    (`sluice.kube.transport`), for long-running processes: far less CPU per
    request, a slower import.
    """
    single, source = load_config(kubeconfig, context, service_account_dir=service_account_dir)
    if single.user is None:
        # A context without a user (plain-HTTP local clusters): lightkube
        # insists on one, an empty user sends no credentials.
        single = single._replace(user=User())
    params = ConnectionParams(timeout=httpx2.Timeout(timeout))
    try:
        client = AsyncClient(single, field_manager=field_manager, timeout=httpx2.Timeout(timeout))
        # One pool for every request of the process (controllers' workers, their
        # applies, events, status writes): httpx keeps only 20 idle connections by
        # default, so past 20 requests in flight each finished one closed its socket
        # and the next paid a new TLS handshake (about 6% of the controllers' CPU
        # with 1,000 Kustomizations). Keep as many idle as may be open.
        http_params = params.httpx_params(single)
        if transport is None and fast_http and str(single.cluster.server).startswith(
                ("https://", "http://")):
            from sluice.kube.transport import AiohttpTransport

            verify = http_params.get("verify")
            transport = AiohttpTransport(
                verify if isinstance(verify, ssl.SSLContext) else verify is not False,
                _POOL_LIMITS.max_connections or 100)
        http = httpx2.AsyncClient(**{**http_params, "transport": transport},
                                  limits=_POOL_LIMITS)
    except (LightkubeConfigError, OSError, ValueError) as exc:
        raise ConfigError(f"{source}: cannot set up the connection: {exc}") from None
    return Connection(config=single, client=client, http=http, source=source)
