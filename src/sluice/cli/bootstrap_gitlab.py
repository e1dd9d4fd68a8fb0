"""``sluice bootstrap gitlab``: flux's ``bootstrap gitlab`` against GitLab's API v4.

The calls go-gitlab makes for flux, against ``https://gitlab.com/api/v4`` or
``<hostname>/api/v4`` (``--hostname`` may name its scheme, ``http://`` for a
plain-HTTP self-managed instance, as flux allows): projects addressed by
their URL-encoded path (``GET /projects/acme%2Ffleet``), created with
``POST /projects`` in the user's namespace or in the group's
(``namespace_id`` from ``GET /groups/:path``), deploy keys with ``can_push``,
groups given maintainer access with ``POST /projects/:id/share`` (``--team``).
The token goes in ``PRIVATE-TOKEN``; a 429 is reported with
``RateLimit-Reset``. ``--visibility`` (private, internal, public) replaces the
deprecated ``--private``. The steps and output are `sluice.cli.bootstrap_forge`'s.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

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
from sluice.cli.failing import CommandError
from sluice.cli.options import Globals, global_options
from sluice.cli.parsing import SluiceCommand

__all__ = ["GitLabAPI", "bootstrap_gitlab"]

_DEFAULT_DOMAIN = "gitlab.com"
# Flux's check of the project name (letters, digits, emoji, '_', '.', dash, space).
_PROJECT_NAME = re.compile(r"\A[\w\u00a9-\U0001f9ff][\w\-\u00a9-\U0001f9ff. ]*\Z")
_LEVELS = {"pull": 20, "push": 30, "maintain": 40, "admin": 50}


def _encoded(path: str) -> str:
    return quote(path, safe="")


class GitLabAPI(ForgeAPI):
    name = "GitLab"
    token_env = "GITLAB_TOKEN"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def message(self, resp: httpx.Response) -> str:
        try:
            body = resp.json()
        except ValueError:
            return resp.text.strip()[:200]
        message: Any = body.get("message") or body.get("error") if isinstance(body, dict) \
            else body
        if isinstance(message, dict):
            return "; ".join(f"{field} {', '.join(map(str, problems))}"
                             if isinstance(problems, list) else f"{field} {problems}"
                             for field, problems in message.items())
        if isinstance(message, list):
            return "; ".join(map(str, message))
        return str(message or "")

    def rate_limited(self, resp: httpx.Response) -> int | None:
        if resp.status_code != 429:
            return None
        try:
            return int(resp.headers.get("RateLimit-Reset", ""))
        except ValueError:
            import time

            try:
                return int(time.time()) + int(resp.headers.get("Retry-After", "60"))
            except ValueError:
                return int(time.time()) + 60

    @staticmethod
    def _repo(data: Any) -> ForgeRepository:
        return ForgeRepository(str(data["id"]), str(data.get("visibility") or "private"),
                               str(data.get("default_branch") or "main"))

    async def login(self) -> str:
        return str((await self.call("GET", "/user"))["username"])

    async def get_repository(self, owner: str, name: str,
                             personal: bool) -> ForgeRepository | None:
        data = await self.call("GET", f"/projects/{_encoded(f'{owner}/{name}')}",
                               missing_ok=True)
        return None if data is None else self._repo(data)

    async def create_repository(self, owner: str, name: str, personal: bool, visibility: str,
                                branch: str) -> ForgeRepository:
        body: dict[str, Any] = {"name": name, "path": name, "visibility": visibility,
                                "default_branch": branch}
        if not personal:
            group = await self.call("GET", f"/groups/{_encoded(owner)}", missing_ok=True)
            if group is None:
                raise ForgeAPIError(404, f"404 Group Not Found: no group '{owner}' "
                                         "(pass --personal for a user's project)")
            body["namespace_id"] = group["id"]
        return self._repo(await self.call("POST", "/projects", json=body))

    async def set_visibility(self, repo: ForgeRepository, visibility: str) -> None:
        await self.call("PUT", f"/projects/{repo.api_id}", json={"visibility": visibility})

    async def deploy_keys(self, repo: ForgeRepository) -> list[DeployKeyInfo]:
        return [DeployKeyInfo(str(k["id"]), str(k.get("title") or ""),
                              " ".join(str(k.get("key") or "").split()[:2]),
                              not k.get("can_push", False))
                for k in await self.paged(f"/projects/{repo.api_id}/deploy_keys")]

    async def add_deploy_key(self, repo: ForgeRepository, title: str, key: str,
                             read_only: bool) -> None:
        await self.call("POST", f"/projects/{repo.api_id}/deploy_keys",
                        json={"title": title, "key": key, "can_push": not read_only})

    async def delete_deploy_key(self, repo: ForgeRepository, key_id: str) -> None:
        await self.call("DELETE", f"/projects/{repo.api_id}/deploy_keys/{key_id}")

    async def team_permission(self, repo: ForgeRepository, owner: str,
                              team: str) -> str | None:
        project = await self.call("GET", f"/projects/{repo.api_id}")
        for shared in project.get("shared_with_groups") or []:
            if shared.get("group_full_path") == team:
                level = int(shared.get("group_access_level") or 0)
                return next((p for p, v in _LEVELS.items() if v == level), "push")
        return None

    async def grant_team(self, repo: ForgeRepository, owner: str, team: str,
                         permission: str) -> None:
        group = await self.call("GET", f"/groups/{_encoded(team)}", missing_ok=True)
        if group is None:
            raise ForgeAPIError(404, f"404 Group Not Found: {team}")
        await self.call("POST", f"/projects/{repo.api_id}/share",
                        json={"group_id": group["id"],
                              "group_access": _LEVELS.get(permission, 40)})


def _api(args: ForgeArgs, timeout: float) -> ForgeAPI:
    return GitLabAPI(f"{args.domain_url}/api/v4", args.token, args.bootstrap.ca_cert, timeout)


@click.command("gitlab", cls=SluiceCommand,
               short_help="Deploy Flux on a cluster connected to a GitLab repository")
@forge_options(hostname=_DEFAULT_DOMAIN, owner_help="GitLab user or group name",
               repo_help="GitLab repository name")
@click.option("--visibility", default="private",
              type=click.Choice(["private", "internal", "public"]),
              help="specifies the visibility of the repository")
@global_options
def bootstrap_gitlab(globals_: Globals, visibility: str, **params: Any) -> None:
    """Create the GitLab project if needed, commit Flux's manifests and sync from it."""
    token = read_token("GITLAB_TOKEN", "GitLab")
    if params["repository"] and not _PROJECT_NAME.match(params["repository"]):
        raise CommandError(f"{params['repository']} is an invalid project name for gitlab.\n"
                           "It can contain only letters, digits, emojis, '_', '.', dash, "
                           "space. It must start with letter, digit, emoji or '_'.")
    if not params["private"]:
        visibility = "public"
        click.echo("Using visibility public as --private=false", err=True)
    args = forge_args(params, token=token, visibility=visibility,
                      default_permission="maintain")
    run_forge_bootstrap(_api, args, globals_)
