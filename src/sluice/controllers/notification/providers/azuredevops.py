"""Azure DevOps commit statuses (``azuredevops``), as Flux's notifier sets them.

The address is the repository URL
``https://dev.azure.com/<org>/<project>/_git/<repo>``; the token a personal
access token (Basic auth with an empty user, as the Go client's PAT
connection sends it). Flux can also get a token from Azure workload
identity; Sluice cannot, and says so.

``Progressing`` events are skipped; info is ``succeeded``, error ``error``.
The status context is ``{"genre": "fluxcd", "name": <commit status
context>}`` (genre ``fluxcd:<summary>`` when the event has a ``summary``).
The commit's statuses are listed first and nothing is posted when the first
one with the same context already has the same state and description.

Both calls use Git's REST route for commit statuses
(``<org>/<project>/_apis/git/repositories/<repo>/commits/<sha>/statuses``)
with ``api-version=6.0`` in ``Accept``. The Go client first asks
``OPTIONS <org>/_apis`` where that resource lives; Sluice uses the route
Azure DevOps serves it on, so it makes no discovery call. No retries, as
the Go client.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Reply, Sender
from sluice.controllers.notification.providers.commitstatus import (
    commit_of,
    description,
    parse_git_address,
)

__all__ = ["azuredevops"]

GENRE = "fluxcd"
API_VERSION = "6.0"


def _error(reply: Reply) -> str:
    """The Go client's UnwrapError: the JSON ``message``, else the status line."""
    try:
        doc = reply.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    try:
        phrase = HTTPStatus(reply.status_code).phrase
    except ValueError:
        phrase = ""
    return f"Request returned status: {reply.status_code} {phrase}".strip()


def _duplicate(statuses: Any, name: str, genre: str, state: str, desc: str) -> bool:
    for status in statuses if isinstance(statuses, list) else []:
        if not isinstance(status, dict):
            continue
        context = status.get("context")
        if not (isinstance(context, dict) and context.get("name") is not None
                and context.get("genre") is not None and status.get("state") is not None
                and status.get("description") is not None):
            continue
        if context["name"] == name and context["genre"] == genre:
            return bool(status["state"] == state and status["description"] == desc)
    return False


async def azuredevops(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    if not cfg.token:
        raise ProviderError("failed to acquire azure devops token: Azure workload identity is "
                            "not supported by Sluice, set a personal access token in the "
                            "secretRef's 'token'")
    host, repo_id = parse_git_address(cfg.address)
    if not cfg.commit_status:
        raise ProviderError("commit status cannot be empty")
    parts = repo_id.split("/")
    if len(parts) != 4:
        raise ProviderError(f"invalid repository id {repo_id!r}".replace("'", '"'))
    org, project, repo = parts[0], parts[1], parts[3]
    if event.reason == "Progressing":
        return
    sha = commit_of(event)
    if event.severity not in ("info", "error"):
        raise ProviderError("can't convert to azure devops state")
    state = "succeeded" if event.severity == "info" else "error"
    genre = f"{GENRE}:{event.metadata['summary']}" if "summary" in event.metadata else GENRE
    desc = description(event.reason)
    url = (f"{host}/{org}/{quote(project)}/_apis/git/repositories/{quote(repo)}/commits/"
           f"{sha}/statuses")
    auth = "Basic " + base64.b64encode(f":{cfg.token}".encode()).decode()
    headers = {"Authorization": auth, "Accept": f"application/json;api-version={API_VERSION}"}
    listed = await sender.request("GET", url, None, headers, retries=0, check=False)
    if not 200 <= listed.status_code < 300:
        raise DeliveryFailed(f"could not list commit statuses: {_error(listed)}")
    try:
        collection = listed.json()
    except ValueError:
        collection = {}
    statuses = collection.get("value") if isinstance(collection, dict) else None
    if _duplicate(statuses, cfg.commit_status, genre, state, desc):
        return
    body = {"context": {"genre": genre, "name": cfg.commit_status}, "description": desc,
            "state": state}
    created = await sender.post_json(url, body, headers, retries=0, check=False)
    if not 200 <= created.status_code < 300:
        raise DeliveryFailed(f"could not create commit status: {_error(created)}")
