"""Commit-status providers: GitHub, GitLab and Gitea statuses on the commit an event names.

The Provider's address is the repository URL (``https://host/owner/repo``,
``ssh://`` becomes ``https://``, ``.git`` is stripped). The commit comes from
the combined metadata (``commit``, else ``originRevision``, else
``revision``, as ``<ref>@sha1:<hex>``, ``sha1:<hex>`` or a bare hash). The
state is ``success`` for info and ``failure``/``failed`` for error;
``Progressing`` events are skipped (Gitea: ``pending``). The context is
`ProviderConfig.commit_status` (``<kind>/<name>/<first UID segment of the
Provider>``), the description the reason split on CamelCase and lowercased.
Like Flux, each provider first lists the commit's statuses and posts nothing
when the newest one with the same context already says the same.

REST calls as the Go clients make them: GitHub ``/repos/<o>/<r>/...`` on
``api.github.com`` or ``<host>/api/v3`` (``Authorization: Bearer``), GitLab
``/api/v4/projects/<id>/...`` (``PRIVATE-TOKEN``), Gitea ``/api/v1/repos/...``
(``Authorization: token``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from sluice.controllers.notification.errors import ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Sender

__all__ = ["commit_of", "description", "gitea", "github", "gitlab", "parse_git_address",
           "parse_revision"]

_HEX = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


def parse_git_address(address: str) -> tuple[str, str]:
    """(``scheme://host``, ``owner/repo``) of a repository URL."""
    value = address.strip()
    if "://" not in value and "@" in value and ":" in value:  # scp-like git@host:o/r.git
        user_host, _, path = value.partition(":")
        value = f"ssh://{user_host}/{path}"
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname:
        raise ProviderError("failed parsing the repository URL")
    scheme = "https" if parts.scheme == "ssh" else parts.scheme
    host = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme != "ssh" else "")
    repo_id = parts.path.lstrip("/").removesuffix(".git")
    return f"{scheme}://{host}", repo_id


def parse_revision(revision: str) -> str:
    """The commit hash of a Flux revision."""
    value = revision.strip()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    if value.startswith(("sha1:", "sha256:")):
        value = value.split(":", 1)[1]
    elif "/" in value:  # the legacy <branch>/<hash> form
        value = value.rsplit("/", 1)[1]
    if not _HEX.match(value):
        raise ProviderError(f"failed to extract commit hash from '{revision}' revision")
    return value


def _split_camelcase(src: str) -> list[str]:
    """Go's splitCamelcase (fatih/camelcase) as notification-controller uses it."""
    runs: list[list[str]] = []
    last = 0
    for ch in src:
        cls = 1 if ch.islower() else 2 if ch.isupper() else 3 if ch.isdigit() else 4
        if cls == last:
            runs[-1].append(ch)
        else:
            runs.append([ch])
        last = cls
    for i in range(len(runs) - 1):
        if runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(r) for r in runs if r]


def description(reason: str) -> str:
    return " ".join(_split_camelcase(reason)).lower()


def commit_of(event: Event) -> str:
    """The commit an event names: ``commit``, ``originRevision`` or ``revision``."""
    for key in ("commit", "originRevision", "revision"):
        if event.metadata.get(key):
            return parse_revision(event.metadata[key])
    raise ProviderError("missing revision metadata")


def _owner_repo(repo_id: str) -> tuple[str, str]:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ProviderError(f"invalid repository id {repo_id!r}")
    return parts[0], parts[1]


def _duplicate(statuses: Any, context: str, state: str, desc: str,
               context_key: str = "context", state_key: str = "state") -> bool:
    """The newest status with this context already has this state and description."""
    if not isinstance(statuses, list):
        return False
    for status in statuses:
        if not isinstance(status, dict):
            continue
        if not (status.get(context_key) and status.get(state_key) and status.get("description")):
            continue
        if status.get(context_key) == context:
            return bool(status.get(state_key) == state and status.get("description") == desc)
    return False


async def github(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    if event.reason == "Progressing":
        return
    host, repo_id = parse_git_address(cfg.address)
    owner, repo = _owner_repo(repo_id)
    sha = commit_of(event)
    state = "failure" if event.severity == "error" else "success"
    desc = description(event.reason)
    api = "https://api.github.com" if host == "https://github.com" else f"{host}/api/v3"
    headers = {"Accept": "application/vnd.github.v3+json"}
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token}"
    listed = await sender.request(
        "GET", f"{api}/repos/{owner}/{repo}/commits/{sha}/statuses?per_page=50", None, headers)
    if _duplicate(_json(listed), cfg.commit_status, state, desc):
        return
    await sender.post_json(f"{api}/repos/{owner}/{repo}/statuses/{sha}",
                           {"state": state, "description": desc, "context": cfg.commit_status},
                           headers)


async def gitlab(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    if event.reason == "Progressing":
        return
    host, repo_id = parse_git_address(cfg.address)
    sha = commit_of(event)
    state = "failed" if event.severity == "error" else "success"
    desc = description(event.reason)
    token = cfg.token or cfg.password
    headers = {"PRIVATE-TOKEN": token} if token else {}
    project = f"{host}/api/v4/projects/{quote(repo_id, safe='')}"
    listed = await sender.request(
        "GET", f"{project}/repository/commits/{sha}/statuses?name={quote(cfg.commit_status)}",
        None, headers)
    statuses = _json(listed)
    if isinstance(statuses, list) and any(
            isinstance(s, dict) and s.get("sha") == sha and s.get("status") == state
            and s.get("description") == desc and s.get("name") == cfg.commit_status
            for s in statuses):
        return
    await sender.post_json(f"{project}/statuses/{sha}",
                           {"state": state, "name": cfg.commit_status, "description": desc},
                           headers)


async def gitea(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    host, repo_id = parse_git_address(cfg.address)
    owner, repo = _owner_repo(repo_id)
    sha = commit_of(event)
    if event.reason == "Progressing":
        state = "pending"
    else:
        state = "failure" if event.severity == "error" else "success"
    desc = description(event.reason)
    headers = {"Authorization": f"token {cfg.token}"} if cfg.token else {}
    api = f"{host}/api/v1/repos/{owner}/{repo}"
    listed = await sender.request("GET", f"{api}/commits/{sha}/statuses?page=0&limit=50",
                                  None, headers)
    if _duplicate(_json(listed), cfg.commit_status, state, desc, state_key="status"):
        return
    await sender.post_json(f"{api}/statuses/{sha}",
                           {"state": state, "target_url": "", "description": desc,
                            "context": cfg.commit_status}, headers)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
