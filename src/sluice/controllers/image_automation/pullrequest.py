"""Pull-request mode (beyond Flux, image-automation-controller#524): propose, don't push to main.

Opt-in per automation with the annotation ``sluice.dev/pull-request: "true"``
and a ``spec.git.push.branch`` different from the checkout branch. The
reconciler pushes the commit to that branch as Flux pushes to a push branch
of its own (on top of what the branch already holds, so a fix pushed to the
pull request's branch by a person is kept; a new branch starts from the
checkout branch); this module then opens a pull request from it against the checkout
branch, or updates the one already open, with the commit message's first
line as the title and the whole message as the body. One pull request per
push branch, whatever the number of runs.

Forge, by the annotation ``sluice.dev/pull-request-provider`` (``github`` or
``gitlab``; guessed from the repository host when unset), speaking each
one's REST API:

* GitHub v3: ``GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&base=...&state=open``,
  ``POST /repos/{owner}/{repo}/pulls`` ``{title, body, head, base}``,
  ``PATCH /repos/{owner}/{repo}/pulls/{number}``; ``Authorization: Bearer``;
* GitLab v4: ``GET /projects/{id}/merge_requests?source_branch=...&target_branch=...&state=opened``,
  ``POST /projects/{id}/merge_requests`` ``{source_branch, target_branch,
  title, description}``, ``PUT /projects/{id}/merge_requests/{iid}``;
  ``PRIVATE-TOKEN``; ``{id}`` is the URL-encoded project path.

The API address is ``https://api.github.com`` for github.com, else
``<scheme>://<host>/api/v3`` (GitHub Enterprise) or ``/api/v4`` (GitLab),
or the annotation ``sluice.dev/pull-request-api``. The token is the
GitRepository Secret's ``bearerToken`` or ``password`` (HTTPS token auth);
it is sent only in the header and never appears in messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from sluice.api.image import ImageUpdateAutomation
from sluice.controllers.image_automation.errors import GitFailed
from sluice.controllers.image_automation.source import GitSource

__all__ = ["API_ANNOTATION", "ENABLED_ANNOTATION", "PROVIDER_ANNOTATION", "ForgeOptions",
           "enabled", "propose"]

ENABLED_ANNOTATION = "sluice.dev/pull-request"
PROVIDER_ANNOTATION = "sluice.dev/pull-request-provider"
API_ANNOTATION = "sluice.dev/pull-request-api"


@dataclass
class ForgeOptions:
    """HTTP settings for forge API calls."""

    timeout: float = 30.0
    # A CA bundle path for self-hosted forges (None: the system store).
    verify: str | bool = True


def enabled(auto: ImageUpdateAutomation) -> bool:
    value = (auto.metadata.annotations or {}).get(ENABLED_ANNOTATION, "")
    return value.strip().lower() == "true"


def _repo_path(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], owner/repo path without .git) of a Git URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path.strip("/").removesuffix(".git")
    scheme = "https" if parts.scheme in ("ssh", "") else parts.scheme
    return scheme, host, path


def _provider(auto: ImageUpdateAutomation, host: str) -> str:
    value = (auto.metadata.annotations or {}).get(PROVIDER_ANNOTATION, "").strip().lower()
    if value:
        if value not in ("github", "gitlab"):
            raise GitFailed(f"pull request: unknown provider '{value}' in annotation "
                            f"{PROVIDER_ANNOTATION} (github or gitlab)")
        return value
    return "gitlab" if "gitlab" in host else "github"


def _api_base(auto: ImageUpdateAutomation, provider: str, scheme: str, host: str) -> str:
    value = (auto.metadata.annotations or {}).get(API_ANNOTATION, "").strip()
    if value:
        return value.rstrip("/")
    if provider == "github":
        return "https://api.github.com" if host == "github.com" else f"{scheme}://{host}/api/v3"
    return f"{scheme}://{host}/api/v4"


def _title(message: str) -> str:
    return (message.strip().splitlines() or ["Update from image update automation"])[0][:250]


async def propose(auto: ImageUpdateAutomation, source: GitSource, message: str,
                  options: ForgeOptions) -> str:
    """Open or update the pull request; returns text for the push event.

    Raises:
        GitFailed: the forge refused or could not be reached (the message
            names the forge call, never the token).
    """
    git = auto.spec.git
    base = source.checkout.branch
    if git is None or not source.switch_branch or not base:
        raise GitFailed("pull request mode needs spec.git.push.branch different from a "
                        "checkout branch")
    scheme, host, path = _repo_path(source.url)
    provider = _provider(auto, host)
    api = _api_base(auto, provider, scheme, host)
    token = source.auth.bearer_token or source.auth.password
    if not token:
        raise GitFailed("pull request mode needs a token in the GitRepository Secret "
                        "('bearerToken' or 'password')")
    head = source.push_branch
    title, body = _title(message), message
    async with httpx.AsyncClient(timeout=options.timeout, verify=options.verify) as client:
        try:
            if provider == "github":
                number, url, created = await _github(client, api, token, path, head, base,
                                                     title, body)
            else:
                number, url, created = await _gitlab(client, api, token, path, head, base,
                                                     title, body)
        except httpx.HTTPError as exc:
            raise GitFailed(f"pull request: {provider} API at {api} unreachable: "
                            f"{type(exc).__name__}") from None
    verb = "opened" if created else "updated"
    return f" and {verb} pull request #{number} {url}".rstrip()


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        detail = ""
        try:
            payload = response.json()
            detail = str(payload.get("message") or payload.get("error") or "")
        except ValueError:
            pass
        raise GitFailed(f"pull request: {what} failed: HTTP {response.status_code}"
                        + (f": {detail}" if detail else ""))
    return response.json()


async def _github(client: httpx.AsyncClient, api: str, token: str, path: str, head: str,
                  base: str, title: str, body: str) -> tuple[int, str, bool]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28"}
    owner = path.split("/", 1)[0]
    pulls = f"{api}/repos/{path}/pulls"
    found = _check(await client.get(pulls, headers=headers, params={
        "head": f"{owner}:{head}", "base": base, "state": "open"}), "listing pull requests")
    if isinstance(found, list) and found:
        number = int(found[0]["number"])
        updated = _check(await client.patch(f"{pulls}/{number}", headers=headers,
                                            json={"title": title, "body": body}),
                         f"updating pull request #{number}")
        return number, str(updated.get("html_url") or ""), False
    created = _check(await client.post(pulls, headers=headers, json={
        "title": title, "body": body, "head": head, "base": base}), "opening a pull request")
    return int(created["number"]), str(created.get("html_url") or ""), True


async def _gitlab(client: httpx.AsyncClient, api: str, token: str, path: str, head: str,
                  base: str, title: str, body: str) -> tuple[int, str, bool]:
    headers = {"PRIVATE-TOKEN": token}
    mrs = f"{api}/projects/{quote(path, safe='')}/merge_requests"
    found = _check(await client.get(mrs, headers=headers, params={
        "source_branch": head, "target_branch": base, "state": "opened"}),
        "listing merge requests")
    if isinstance(found, list) and found:
        iid = int(found[0]["iid"])
        updated = _check(await client.put(f"{mrs}/{iid}", headers=headers,
                                          json={"title": title, "description": body}),
                         f"updating merge request !{iid}")
        return iid, str(updated.get("web_url") or ""), False
    created = _check(await client.post(mrs, headers=headers, json={
        "source_branch": head, "target_branch": base, "title": title, "description": body}),
        "opening a merge request")
    return int(created["iid"]), str(created.get("web_url") or ""), True
