"""What ``bootstrap github`` and ``bootstrap gitlab`` share: the forge's API, the repository step.

``flux bootstrap github|gitlab`` is ``bootstrap git`` preceded by work on the
forge's REST API, and this module is that part, written once for both
dialects (`sluice.cli.bootstrap_github`, `sluice.cli.bootstrap_gitlab` supply
the calls):

1. ``► connecting to <hostname>``; the repository ``--owner/--repository`` is
   looked up, and created when missing (``✔ repository "https://<host>/<owner>/<repo>"
   created``), private unless ``--private=false`` / ``--visibility``, in the
   organisation or group, or for the token's user with ``--personal`` (another
   user's name is refused, as flux does: ``the specified owner 'x' doesn't match
   the identity associated with the given token``). Flux creates it empty; the
   first push initialises ``--branch``. With ``--reconcile`` an existing
   repository gets the asked visibility. ``--team`` grants organisation teams
   (GitHub, ``team:permission``, default maintain) or groups (GitLab) access;
2. the `bootstrap git` steps (`sluice.cli.bootstrap_steps.run_bootstrap`), cloning
   over HTTPS as the owner with the token, syncing from the HTTPS clone URL
   with ``--token-auth`` (the Secret holds ``git`` and the token) or else from
   ``ssh://git@<ssh-hostname>/<owner>/<repo>`` with a new deploy key, which is
   registered through the API under flux's title
   (``<namespace>-<branch>-<secret>-<path>``), read-only unless
   ``--read-write-key``; a key with that title that differs is replaced.

The token comes from ``GITHUB_TOKEN``/``GITLAB_TOKEN`` or a hidden prompt and
is never printed: API errors become one line naming the repository, the
forge's status and message, and for rate limits when the limit resets.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import httpx

from sluice.cli.bootstrap_steps import (
    BootstrapOptions,
    ProviderHooks,
    clean_path,
    read_ca_file,
    run_bootstrap,
)
from sluice.cli.clientctx import connect_client, log, run
from sluice.cli.create_flags import bool_flag, duration_flag, string_slice
from sluice.cli.create_source import validate_ssh_key_flags
from sluice.cli.failing import CommandError
from sluice.cli.install import DEFAULT_REGISTRY, resolve_components
from sluice.cli.options import Globals
from sluice.core.durations import MINUTE

__all__ = ["DeployKeyInfo", "ForgeAPI", "ForgeAPIError", "ForgeArgs", "ForgeRepository",
           "forge_options", "run_forge_bootstrap"]

F = TypeVar("F", bound=Callable[..., Any])


class ForgeAPIError(Exception):
    """A failed API call, already worded for the user (no token, no headers)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class ForgeRepository:
    api_id: str  # how the API addresses it: "owner/name" (GitHub) or the project id
    visibility: str
    default_branch: str


@dataclass(frozen=True)
class DeployKeyInfo:
    id: str
    title: str
    key: str  # "<type> <base64>"
    read_only: bool


class ForgeAPI:
    """An async client of one forge's REST API; the dialects add the calls."""

    name = "forge"
    token_env = ""

    def __init__(self, base_url: str, token: str, ca_cert: bytes, timeout: float) -> None:
        verify: Any = True
        if ca_cert:
            import ssl

            verify = ssl.create_default_context(cadata=ca_cert.decode("utf-8"))
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(base_url=self.base_url, verify=verify,
                                       timeout=min(timeout, 30.0),
                                       headers=self.auth_headers(token))

    def auth_headers(self, token: str) -> dict[str, str]:
        raise NotImplementedError

    def message(self, resp: httpx.Response) -> str:
        """The forge's own error message in a response body."""
        try:
            body = resp.json()
        except ValueError:
            return resp.text.strip()[:200]
        if isinstance(body, dict):
            return str(body.get("message") or body.get("error") or "")
        return str(body)

    def rate_limited(self, resp: httpx.Response) -> int | None:
        """When a refused call's rate limit resets (epoch seconds), or None if not that."""
        return None

    async def call(self, method: str, path: str, *, json: Any = None,
                   params: dict[str, str] | None = None, missing_ok: bool = False) -> Any:
        """One API call: the decoded JSON, None for 204 (or 404 with `missing_ok`)."""
        try:
            resp = await self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ForgeAPIError(0, f"cannot reach {self.base_url}: {reason}") from None
        if resp.status_code == 404 and missing_ok:
            return None
        if resp.status_code >= 400:
            raise self._error(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise ForgeAPIError(resp.status_code, f"{self.base_url} answered with something "
                                                  "other than JSON") from None

    def _error(self, resp: httpx.Response) -> ForgeAPIError:
        message = self.message(resp)
        status = f"{resp.status_code} {message}".strip() if message else \
            f"{resp.status_code} {resp.reason_phrase}"
        reset = self.rate_limited(resp)
        if reset is not None:
            at = datetime.datetime.fromtimestamp(reset, datetime.UTC)
            return ForgeAPIError(resp.status_code,
                                 f"rate limit exceeded ({status}), it resets at "
                                 f"{at.strftime('%Y-%m-%d %H:%M:%S UTC')}")
        if resp.status_code == 401:
            return ForgeAPIError(401, f"{status}: the token was refused, check "
                                      f"{self.token_env}")
        return ForgeAPIError(resp.status_code, status)

    async def paged(self, path: str) -> list[Any]:
        """Every item of a listing, following ``Link: <...>; rel="next"``."""
        items: list[Any] = []
        url: str | None = path
        params: dict[str, str] | None = {"per_page": "100"}
        while url:
            try:
                resp = await self._http.get(url, params=params)
            except httpx.HTTPError as exc:
                raise ForgeAPIError(0, f"cannot reach {self.base_url}: {exc}") from None
            if resp.status_code >= 400:
                raise self._error(resp)
            page = resp.json()
            items.extend(page if isinstance(page, list) else [])
            url = resp.links.get("next", {}).get("url")
            params = None
        return items

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the dialect's calls ------------------------------------------------------------

    async def login(self) -> str:
        raise NotImplementedError

    async def get_repository(self, owner: str, name: str,
                             personal: bool) -> ForgeRepository | None:
        raise NotImplementedError

    async def create_repository(self, owner: str, name: str, personal: bool, visibility: str,
                                branch: str) -> ForgeRepository:
        raise NotImplementedError

    async def set_visibility(self, repo: ForgeRepository, visibility: str) -> None:
        raise NotImplementedError

    async def deploy_keys(self, repo: ForgeRepository) -> list[DeployKeyInfo]:
        raise NotImplementedError

    async def add_deploy_key(self, repo: ForgeRepository, title: str, key: str,
                             read_only: bool) -> None:
        raise NotImplementedError

    async def delete_deploy_key(self, repo: ForgeRepository, key_id: str) -> None:
        raise NotImplementedError

    async def team_permission(self, repo: ForgeRepository, owner: str,
                              team: str) -> str | None:
        raise NotImplementedError

    async def grant_team(self, repo: ForgeRepository, owner: str, team: str,
                         permission: str) -> None:
        raise NotImplementedError


@dataclass
class ForgeArgs:
    """The flags of ``bootstrap github|gitlab`` once parsed."""

    owner: str
    repository: str
    personal: bool
    visibility: str
    teams: dict[str, str]  # team -> permission
    hostname: str  # as given (github.com, gitlab.example.com, http://127.0.0.1:8080)
    domain_url: str  # https://<hostname> unless it names its scheme
    ssh_hostname: str
    read_write_key: bool
    reconcile: bool
    token: str
    bootstrap: BootstrapOptions

    @property
    def ref(self) -> str:
        """The repository as flux names it: ``https://<host>/<owner>/<repo>``."""
        return f"{self.domain_url}/{self.owner}/{self.repository}"

    @property
    def https_url(self) -> str:
        return f"{self.ref}.git"

    @property
    def ssh_url(self) -> str:
        host = self.ssh_hostname or self.domain_url.split("://", 1)[1]
        return f"ssh://git@{host}/{self.owner}/{self.repository}"


def deploy_key_name(namespace: str, branch: str, secret: str, path: str) -> str:
    """Flux's deploy key title: the non-empty parts joined with ``-``."""
    return "-".join(p for p in (namespace, branch, secret, "" if path == "." else path) if p)


def key_line(key: str) -> str:
    return " ".join(key.split()[:2])


async def _reconcile_repository(api: ForgeAPI, args: ForgeArgs) -> ForgeRepository:
    log.action(f"connecting to {args.hostname}")
    try:
        repo = await api.get_repository(args.owner, args.repository, args.personal)
    except ForgeAPIError as err:
        raise CommandError(f'failed to get Git repository "{args.ref}": provider error: '
                           f"{err.detail}") from None
    if repo is None:
        try:
            if args.personal:
                login = await api.login()
                if login.lower() != args.owner.lower():
                    raise ForgeAPIError(0, f"the specified owner '{args.owner}' doesn't match "
                                           "the identity associated with the given token")
            repo = await api.create_repository(args.owner, args.repository, args.personal,
                                               args.visibility, args.bootstrap.branch)
        except ForgeAPIError as err:
            raise CommandError(f'failed to create new Git repository "{args.ref}": '
                               f"{err.detail}") from None
        log.success(f'repository "{args.ref}" created')
    elif args.reconcile and repo.visibility != args.visibility:
        try:
            await api.set_visibility(repo, args.visibility)
        except ForgeAPIError as err:
            raise CommandError(f'failed to reconcile Git repository "{args.ref}": '
                               f"{err.detail}") from None
        repo.visibility = args.visibility
        log.success(f'repository "{args.ref}" reconciled')
    if args.teams and not args.personal:
        log.action("reconciling repository permissions")
        for team, permission in args.teams.items():
            try:
                current = await api.team_permission(repo, args.owner, team)
                if current is not None and (not args.reconcile or current == permission):
                    continue
                await api.grant_team(repo, args.owner, team, permission)
                log.success(f'granted "{permission}" permissions to "{team}"')
            except ForgeAPIError as err:
                # Best effort, as flux: the bootstrap goes on without that team.
                log.failure(f'failed to grant "{permission}" permissions to "{team}": '
                            f"{err.detail}")
        log.success("reconciled repository permissions")
    return repo


async def _reconcile_deploy_key(api: ForgeAPI, repo: ForgeRepository, args: ForgeArgs,
                                namespace: str, public_key: str) -> None:
    opts = args.bootstrap
    title = deploy_key_name(namespace, opts.branch, opts.secret_name, opts.path)
    wanted = key_line(public_key)
    read_only = not args.read_write_key
    try:
        same_title = [k for k in await api.deploy_keys(repo) if k.title == title]
        if any(k.key == wanted and k.read_only == read_only for k in same_title):
            return
        for stale in same_title:
            await api.delete_deploy_key(repo, stale.id)
        await api.add_deploy_key(repo, title, wanted, read_only)
    except ForgeAPIError as err:
        raise CommandError(f'failed to configure deploy key "{title}" for "{args.ref}": '
                           f"{err.detail}") from None
    log.success(f'configured deploy key "{title}" for "{args.ref}"')


def run_forge_bootstrap(make_api: Callable[[ForgeArgs, float], ForgeAPI], args: ForgeArgs,
                        globals_: Globals) -> None:
    """The whole ``bootstrap github|gitlab`` command once its flags are parsed."""

    async def main() -> None:
        client = connect_client(globals_)
        api = make_api(args, client.timeout)
        try:
            repo = await _reconcile_repository(api, args)

            async def register(public_key: str) -> None:
                await _reconcile_deploy_key(api, repo, args, client.namespace, public_key)

            opts = args.bootstrap
            opts.provider = ProviderHooks(
                sync_url=args.https_url if opts.token_auth else args.ssh_url,
                register_key=register)
            await run_bootstrap(client, opts)
        finally:
            await api.aclose()
            await client.aclose()

    run(main)


def read_token(env: str, forge: str) -> str:
    """The token from ``$<env>``, else a hidden prompt (never echoed, never logged)."""
    token = os.environ.get(env, "")
    if not token:
        token = click.prompt(f"Please enter your {forge} personal access token (PAT)",
                             hide_input=True, err=True, default="", show_default=False)
    if not token:
        raise CommandError(f"could not read token: ${env} is empty")
    return token


def domain_url(hostname: str) -> str:
    return hostname if hostname.startswith(("https://", "http://")) else f"https://{hostname}"


def parse_teams(values: Sequence[str], default: str) -> dict[str, str]:
    """``--team a,b:admin`` -> {"a": default, "b": "admin"}."""
    teams: dict[str, str] = {}
    for item in string_slice(values):
        name, _, permission = item.partition(":")
        if name:
            teams[name] = permission or default
    return teams


def forge_options(*, hostname: str, owner_help: str, repo_help: str) -> Callable[[F], F]:
    """The flags both forges take (flux's bootstrap persistent flags and provider flags)."""

    def decorate(func: F) -> F:
        options: list[Callable[[Any], Any]] = [
            click.option("--owner", default="", help=owner_help),
            click.option("--repository", default="", help=repo_help),
            bool_flag("--personal", help="if true, the owner is assumed to be a user; "
                                         "otherwise an org or group"),
            click.option("--private/--no-private", default=True, help="if true, the "
                         "repository is setup or configured as private"),
            click.option("--team", multiple=True, help="team to be given access to the "
                         "repository (team:permission; also accepts comma-separated values)"),
            click.option("--hostname", default=hostname, help="the forge's hostname"),
            click.option("--path", default=".", help="path relative to the repository root, "
                         "when specified the cluster sync will be scoped to this path"),
            click.option("--interval", default="1m0s", help="sync interval"),
            bool_flag("--read-write-key", help="if true, the deploy key is configured with "
                                               "read/write permissions"),
            bool_flag("--reconcile", help="if true, the configured options are also "
                                          "reconciled if the repository already exists"),
            click.option("--branch", default="main", help="Git branch"),
            bool_flag("--token-auth", help="when enabled, the personal access token will be "
                                           "used instead of the SSH deploy key"),
            click.option("--ssh-hostname", default="", help="SSH hostname, to be used when the "
                         "SSH host differs from the HTTPS one"),
            click.option("--ca-file", default="", help="path to TLS CA file used for "
                                                       "validating self-signed certificates"),
            click.option("--private-key-file", default="", help="path to a private key file "
                         "used for authenticating to the Git SSH server"),
            click.option("--ssh-key-algorithm", default="ecdsa",
                         help="SSH public key algorithm (rsa, ecdsa, ed25519)"),
            click.option("--ssh-rsa-bits", default="2048", help="SSH RSA public key bit size"),
            click.option("--ssh-ecdsa-curve", default="p384",
                         help="SSH ECDSA public key curve (p256, p384, p521)"),
            click.option("--secret-name", default="flux-system", help="name of the secret "
                         "the sync credentials can be found in or stored to"),
            click.option("--components", multiple=True, help="list of components, accepts "
                                                              "comma-separated values"),
            click.option("--components-extra", multiple=True, help="list of components in "
                         "addition to those supplied or defaulted"),
            click.option("--registry", default=DEFAULT_REGISTRY,
                         help="container registry of the controller image"),
            click.option("--author-name", default="Flux", help="author name for Git commits"),
            click.option("--author-email", default="", help="author email for Git commits"),
            click.option("--commit-message-appendix", default="",
                         help="string to add to the commit messages"),
            bool_flag("-s", "--silent", help="assumes the deploy key is already setup, "
                                             "skips confirmation"),
            bool_flag("--force", help="override existing Flux installation if it's managed "
                                      "by a different tool"),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def forge_args(params: dict[str, Any], *, token: str, visibility: str,
               default_permission: str) -> ForgeArgs:
    """`ForgeArgs` from the click parameters of `forge_options`."""
    if not params["owner"]:
        raise CommandError("--owner is required")
    if not params["repository"]:
        raise CommandError("--repository is required")
    rsa_bits = validate_ssh_key_flags(params["ssh_key_algorithm"], params["ssh_rsa_bits"],
                                      params["ssh_ecdsa_curve"])
    hostname = str(params["hostname"])
    url = domain_url(hostname)
    opts = BootstrapOptions(
        url=f"{url}/{params['owner']}/{params['repository']}.git", branch=params["branch"],
        path=clean_path(params["path"]),
        interval=duration_flag("--interval", params["interval"]) or MINUTE,
        # The bootstrap clone authenticates as the owner with the token.
        username=params["owner"], password=token, token_auth=params["token_auth"],
        allow_insecure_http=url.startswith("http://"), silent=params["silent"],
        private_key_file=params["private_key_file"], key_algorithm=params["ssh_key_algorithm"],
        rsa_bits=rsa_bits, ecdsa_curve=params["ssh_ecdsa_curve"],
        secret_name=params["secret_name"],
        components=resolve_components(params["components"], params["components_extra"]),
        registry=params["registry"], author_name=params["author_name"],
        author_email=params["author_email"], appendix=params["commit_message_appendix"],
        ca_cert=read_ca_file(params["ca_file"]), secret_username="git")
    return ForgeArgs(
        owner=params["owner"], repository=params["repository"], personal=params["personal"],
        visibility=visibility, teams=parse_teams(params["team"], default_permission),
        hostname=hostname, domain_url=url, ssh_hostname=params["ssh_hostname"],
        read_write_key=params["read_write_key"], reconcile=params["reconcile"], token=token,
        bootstrap=opts)
