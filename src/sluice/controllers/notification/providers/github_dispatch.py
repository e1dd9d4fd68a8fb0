"""``githubdispatch``: a GitHub ``repository_dispatch`` carrying the event, to start workflows.

As Flux's notifier: the address is the repository URL (``owner/repo``), the
token the Secret's ``token`` (else ``password``), sent as a Bearer token.
``POST /repos/<owner>/<repo>/dispatches`` on ``api.github.com`` (or
``<host>/api/v3`` for GitHub Enterprise) with
``{"event_type": "<Kind>/<name>.<namespace>", "client_payload": <the event
JSON>}``, so a workflow can filter on ``github.event.action`` and read
``github.event.client_payload``. go-github does not retry, nor does this.
GitHub App credentials (Flux's other option) are not supported here.
"""

from __future__ import annotations

from http import HTTPStatus

from sluice.controllers.notification.errors import DeliveryFailed, ProviderError
from sluice.controllers.notification.ingest import Event
from sluice.controllers.notification.providers.base import ProviderConfig, Sender
from sluice.controllers.notification.providers.commitstatus import parse_git_address
from sluice.core.gojson import marshal

__all__ = ["githubdispatch"]


async def githubdispatch(cfg: ProviderConfig, event: Event, sender: Sender) -> None:
    token = cfg.token or cfg.password
    if not token:
        raise ProviderError("github token or github app details must be specified")
    host, repo_id = parse_git_address(cfg.address)
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise ProviderError(f"invalid repository id: '{repo_id}'")
    api = "https://api.github.com" if host == "https://github.com" else f"{host}/api/v3"
    body = (b'{"event_type":' + marshal(f"{event.kind}/{event.name}.{event.namespace}")
            + b',"client_payload":' + event.body() + b"}")
    reply = await sender.post_json(f"{api}/repos/{parts[0]}/{parts[1]}/dispatches", body,
                                   {"Accept": "application/vnd.github.v3+json",
                                    "Authorization": f"Bearer {token}"},
                                   retries=0, check=False)
    if not 200 <= reply.status_code < 300:
        try:
            phrase = HTTPStatus(reply.status_code).phrase
        except ValueError:
            phrase = ""
        raise DeliveryFailed("could not send github repository dispatch webhook: "
                             f"{reply.status_code} {phrase}".rstrip())
