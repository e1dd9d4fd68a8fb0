"""Bitbucket commit statuses: Bitbucket Cloud (``bitbucket``) and Bitbucket Server/Data Center.

Both key the status on sha1(<commit status context>) (Bitbucket limits keys
to 40 characters), skip ``Progressing`` events, map info to ``SUCCESSFUL``
and error to ``FAILED``, and post nothing when the status with that key
already has the same state and description (Flux's notifiers, v1.9).

* ``bitbucket``: the address is the repository URL (``owner/repo``), the
  token ``<user>:<app password>`` (Basic auth). Calls go to Bitbucket's API,
  ``https://api.bitbucket.org/2.0`` or ``$BITBUCKET_API_BASE_URL`` (the Go
  client reads that variable too):
  ``GET /repositories/<o>/<r>/commit/<sha>/statuses/build/<key>`` (404 is
  "none yet"), then ``POST .../statuses/build`` with
  ``{"key","url":"https://bitbucket.org","state","name","description"}``.
  The Go client never retries.
* ``bitbucketserver``: the address is the HTTP(S) clone URL,
  ``<base>[/<context>]/scm/<project>/<repo>.git``; credentials are the token
  (Bearer) or username/password (Basic). ``GET <base>/rest/api/latest/
  projects/<p>/repos/<r>/commits/<sha>/builds?key=<key>`` then a POST there
  of ``{"description","key","name":"<kind/name> [<description>]","state",
  "url":<the address>}`` (Go's json.Encoder: a trailing newline), with the
  ``x-atlassian-token: no-check`` and ``x-requested-with`` headers and
  retryablehttp's retries.
"""

from __future__ import annotations

import base64
import hashlib
import os
from http import HTTPStatus
from urllib.parse import quote, urlsplit, urlunsplit

from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Reply, Sender
from sluice.controllers.notification.providers.commitstatus import (
    commit_of,
    description,
    parse_git_address,
)
from sluice.core.gojson import marshal

__all__ = ["bitbucket", "bitbucketserver"]

CLOUD_API = "https://api.bitbucket.org/2.0"


def _phrase(code: int) -> str:
    """Go's ``http.StatusText``."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _status_line(reply: Reply) -> str:
    """Go's ``resp.Status``: ``404 Not Found``."""
    return f"{reply.status_code} {_phrase(reply.status_code)}".strip()


def _state(event: Event) -> str:
    if event.severity == "info":
        return "SUCCESSFUL"
    if event.severity == "error":
        return "FAILED"
    raise ProviderError("can't convert to bitbucket state")


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _json_object(reply: Reply) -> dict[str, object]:
    try:
        doc = reply.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


async def bitbucket(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    if not cfg.token:
        raise ProviderError("bitbucket token cannot be empty")
    if not cfg.commit_status:
        raise ProviderError("commit status cannot be empty")
    _, repo_id = parse_git_address(cfg.address)
    credentials = cfg.token.split(":")
    if len(credentials) != 2:
        raise ProviderError("invalid token format, expected to be <user>:<password>")
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise ProviderError(f"invalid repository id {repo_id!r}".replace("'", '"'))
    if event.reason == "Progressing":
        return
    sha = commit_of(event)
    state = _state(event)
    name = f"{event.kind}/{event.name}".lower()
    desc = description(event.reason)
    key = hashlib.sha1(cfg.commit_status.encode()).hexdigest()
    api = os.environ.get("BITBUCKET_API_BASE_URL") or CLOUD_API
    commit = f"{api}/repositories/{parts[0]}/{parts[1]}/commit/{sha}/statuses/build"
    auth = {"Authorization": _basic(*credentials)}
    existing = await sender.request("GET", f"{commit}/{key}", None, auth, retries=0,
                                    check=False)
    if existing.status_code not in (200, 201, 202, 204, 404):
        raise DeliveryFailed(f"could not get commit status: {_status_line(existing)}")
    current = _json_object(existing) if existing.status_code == 200 else {}
    if current.get("state", "") == state and current.get("description", "") == desc:
        return
    created = await sender.post_json(commit, {"key": key, "url": "https://bitbucket.org",
                                              "state": state, "name": name,
                                              "description": desc},
                                     auth, retries=0, check=False)
    if created.status_code not in (200, 201, 202, 204):
        raise DeliveryFailed(_status_line(created))


def _server_commits_url(address: str) -> str:
    """``<base><context>/rest/api/latest/projects/<p>/repos/<r>/commits`` of a clone URL."""
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https"):
        raise ProviderError("could not parse git address: unsupported scheme type in address: "
                            f"{parts.scheme}. Must be http or https")
    path = parts.path.removesuffix(".git")
    at = path.rfind("/scm/")
    if at < 0:
        raise ProviderError("could not parse git address: supplied provider address is not "
                            "http(s) git clone url")
    repo_id = path[at + len("/scm/"):]
    ids = repo_id.split("/")
    if len(ids) != 2:
        raise ProviderError(f"could not parse git address: invalid repository id {repo_id!r}"
                            .replace("'", '"'))
    commits = f"{path[:at]}/rest/api/latest/projects/{ids[0]}/repos/{ids[1]}/commits"
    return urlunsplit((parts.scheme, parts.netloc, commits, parts.query, ""))


async def bitbucketserver(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    commits = _server_commits_url(cfg.address)
    if not cfg.commit_status:
        raise ProviderError("commit status cannot be empty")
    if not cfg.token and not (cfg.username and cfg.password):
        raise ProviderError("invalid credentials, expected to be one of username/password or "
                            "API Token")
    if event.reason == "Progressing":
        return
    try:
        sha = commit_of(event)
    except ProviderError as exc:
        if str(exc) == "missing revision metadata":
            raise
        raise ProviderError(f"could not parse revision: {exc}") from None
    if event.severity not in ("info", "error"):
        raise ProviderError("couldn't convert to bitbucket server state: bitbucket server "
                            "state generated on info or error events only")
    state = _state(event)
    desc = description(event.reason)
    name = f"{event.kind}/{event.name}".lower() + f" [{desc}]"
    key = hashlib.sha1(cfg.commit_status.encode()).hexdigest()
    builds = f"{commits}/{quote(sha)}/builds"
    headers = {"Authorization": f"Bearer {cfg.token}" if cfg.token
               else _basic(cfg.username, cfg.password),
               "x-atlassian-token": "no-check", "x-requested-with": "XMLHttpRequest"}
    existing = await sender.request("GET", f"{builds}?key={key}", None, headers, check=False)
    if existing.status_code > 399 and existing.status_code != 404:
        raise DeliveryFailed("could not get existing commit status: failed api call to check "
                             f"duplicate commit status: {existing.status_code} - "
                             f"{_phrase(existing.status_code)}")
    if existing.status_code == 200:
        current = _json_object(existing)
        if (current.get("key") == key and current.get("state") == state
                and current.get("description") == desc and current.get("name") == name):
            return
    request = {"description": desc, "key": key, "name": name, "state": state,
               "url": cfg.address}
    if not desc:  # omitempty
        del request["description"]
    body = marshal(request) + b"\n"
    posted = await sender.post_json(builds, body, headers, check=False)
    if posted.status_code > 399:
        raise DeliveryFailed("could not post build status: could not post build commit "
                             f"status: {posted.status_code} - "
                             f"{_phrase(posted.status_code)}")
