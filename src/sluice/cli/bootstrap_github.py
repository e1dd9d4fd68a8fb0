"""``sluice bootstrap github``: flux's ``bootstrap github`` against GitHub's REST API v3.

The calls go-git-providers makes for flux, against ``https://api.github.com``
or, with ``--hostname`` (GitHub Enterprise Server, and how tests reach
`sluice.testing.forge`), ``https://<hostname>/api/v3``: ``GET /user``,
``GET|POST /repos/{owner}/{repo}``, ``POST /user/repos`` or
``POST /orgs/{org}/repos``, ``GET|POST|DELETE /repos/{o}/{r}/keys``, team
permissions under ``/orgs/{org}/teams/{team}/repos/{o}/{r}``. The token goes
in ``Authorization: token <t>``; a rate limit answer (403 or 429 with
``X-RateLimit-Remaining: 0``) is reported with ``X-RateLimit-Reset``. The
steps and their output are `sluice.cli.bootstrap_forge`'s.
"""

from __future__ import annotations

from typing import Any

import click
import httpx

from sluice.cli.bootstrap_forge import (
    DeployKeyInfo,
    ForgeAPI,
    ForgeAPIError,
    ForgeArgs,
    ForgeRepository,
    forge_args,
    forge_options,
    read_token,
    run_forge_bootstrap,
)
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand

__all__ = ["GitHubAPI", "bootstrap_github"]

_DEFAULT_DOMAIN = "github.com"
_PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")


class GitHubAPI(ForgeAPI):
    name = "GitHub"
    token_env = "GITHUB_TOKEN"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}

    def rate_limited(self, resp: httpx.Response) -> int | None:
        if resp.status_code in (403, 429) and resp.headers.get("X-RateLimit-Remaining") == "0":
            try:
                return int(resp.headers.get("X-RateLimit-Reset", ""))
            except ValueError:
                return None
        return None

    def message(self, resp: httpx.Response) -> str:
        text = super().message(resp)
        try:
            errors = resp.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        details = [str(e.get("message") or f"{e.get('field')} {e.get('code')}")
                   for e in errors if isinstance(e, dict)]
        return f"{text}: {'; '.join(details)}" if details else text

    @staticmethod
    def _repo(data: Any) -> ForgeRepository:
        return ForgeRepository(str(data["full_name"]),
                               str(data.get("visibility") or
                                   ("private" if data.get("private") else "public")),
                               str(data.get("default_branch") or "main"))

    async def login(self) -> str:
        return str((await self.call("GET", "/user"))["login"])

    async def get_repository(self, owner: str, name: str,
                             personal: bool) -> ForgeRepository | None:
        data = await self.call("GET", f"/repos/{owner}/{name}", missing_ok=True)
        return None if data is None else self._repo(data)

    async def create_repository(self, owner: str, name: str, personal: bool, visibility: str,
                                branch: str) -> ForgeRepository:
        path = "/user/repos" if personal else f"/orgs/{owner}/repos"
        body = {"name": name, "private": visibility != "public", "auto_init": False}
        if visibility == "internal":
            body["visibility"] = "internal"
        data = await self.call("POST", path, json=body)
        return self._repo(data)

    async def set_visibility(self, repo: ForgeRepository, visibility: str) -> None:
        await self.call("PATCH", f"/repos/{repo.api_id}",
                        json={"private": visibility != "public"})

    async def deploy_keys(self, repo: ForgeRepository) -> list[DeployKeyInfo]:
        return [DeployKeyInfo(str(k["id"]), str(k.get("title") or ""),
                              " ".join(str(k.get("key") or "").split()[:2]),
                              bool(k.get("read_only", True)))
                for k in await self.paged(f"/repos/{repo.api_id}/keys")]

    async def add_deploy_key(self, repo: ForgeRepository, title: str, key: str,
                             read_only: bool) -> None:
        await self.call("POST", f"/repos/{repo.api_id}/keys",
                        json={"title": title, "key": key, "read_only": read_only})

    async def delete_deploy_key(self, repo: ForgeRepository, key_id: str) -> None:
        await self.call("DELETE", f"/repos/{repo.api_id}/keys/{key_id}")

    async def team_permission(self, repo: ForgeRepository, owner: str,
                              team: str) -> str | None:
        teams = await self.paged(f"/repos/{repo.api_id}/teams")
        found = next((t for t in teams if t.get("slug") == team), None)
        return None if found is None else str(found.get("permission") or "")

    async def grant_team(self, repo: ForgeRepository, owner: str, team: str,
                         permission: str) -> None:
        if permission not in _PERMISSIONS:
            raise ForgeAPIError(0, f'invalid permission "{permission}" for team "{team}"')
        await self.call("PUT", f"/orgs/{owner}/teams/{team}/repos/{repo.api_id}",
                        json={"permission": permission})


def _api(args: ForgeArgs, timeout: float) -> ForgeAPI:
    base = ("https://api.github.com" if args.hostname == _DEFAULT_DOMAIN
            else f"{args.domain_url}/api/v3")
    return GitHubAPI(base, args.token, args.bootstrap.ca_cert, timeout)


@click.command("github", cls=SluiceCommand,
               short_help="Deploy Flux on a cluster connected to a GitHub repository")
@forge_options(hostname=_DEFAULT_DOMAIN, owner_help="GitHub user or organization name",
               repo_help="GitHub repository name")
@global_options
def bootstrap_github(globals_: Globals, **params: Any) -> None:
    """Create the GitHub repository if needed, commit Flux's manifests and sync from it."""
    token = read_token("GITHUB_TOKEN", "GitHub")
    visibility = "private" if params["private"] else "public"
    args = forge_args(params, token=token, visibility=visibility,
                      default_permission="maintain")
    run_forge_bootstrap(_api, args, globals_)
