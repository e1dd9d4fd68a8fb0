"""The plumbing both REST dialects of the loopback forge share.

Each dialect (`sluice.testing.forge_github`, `sluice.testing.forge_gitlab`)
describes how it reads a token, reports its rate limit and words a refusal in
a `DialectRules`; `endpoint` wraps each of its handlers with what every forge
API call goes through in the same order: an injected failure
(`ForgeState.fail_next`), the token check, the rate limit, the handler's own
`ForgeError`, the rate-limit headers and the call log. `paginate` is the
``page``/``per_page`` paging with its ``Link`` header, identical in both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from sluice.testing.forge_model import Dialect, ForgeError
from sluice.testing.forge_state import ForgeState

__all__ = ["FORGE", "DialectRules", "Handler", "endpoint", "json_response", "paginate"]

FORGE: web.AppKey[ForgeState] = web.AppKey("forge")


def json_response(body: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=CIMultiDict(headers or {}))


def paginate(request: web.Request, items: Sequence[Any], *, default: int
             ) -> tuple[list[Any], dict[str, str], int, int, int]:
    """A page of `items` per ``page``/``per_page`` (max 100) and its ``Link`` header.

    Returns (items, headers, page, per_page, total pages). Both dialects link
    ``first``/``prev``/``next``/``last`` with the request's other parameters kept.
    """
    try:
        per_page = min(100, max(1, int(request.query.get("per_page", default))))
    except ValueError:
        per_page = default
    try:
        page = max(1, int(request.query.get("page", 1)))
    except ValueError:
        page = 1
    pages = max(1, -(-len(items) // per_page))
    chunk = list(items[(page - 1) * per_page: page * per_page])

    def link(number: int) -> str:
        return str(request.url.update_query(page=str(number), per_page=str(per_page)))

    rels: list[str] = []
    if page < pages:
        rels.append(f'<{link(page + 1)}>; rel="next"')
        rels.append(f'<{link(pages)}>; rel="last"')
    if page > 1:
        rels.append(f'<{link(1)}>; rel="first"')
        rels.append(f'<{link(page - 1)}>; rel="prev"')
    headers = {"Link": ", ".join(rels)} if rels else {}
    return chunk, headers, page, per_page, pages


Handler = Callable[[web.Request, "ForgeState", str | None], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class DialectRules:
    """How one dialect authenticates, reports its rate limit and words its refusals."""

    name: Dialect
    token: Callable[[web.Request], tuple[bool, str]]  # (credentials given, token)
    rate_headers: Callable[[ForgeState], dict[str, str]]
    error: Callable[[ForgeError], web.StreamResponse]
    bad_token: Callable[[], web.StreamResponse]
    rate_limited: Callable[[ForgeState, str | None], web.StreamResponse]


def endpoint(dialect: DialectRules, handler: Handler
             ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a dialect's handler: injected failures, token, rate limit, errors, the call log."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        forge = request.app[FORGE]
        login: str | None = None
        failure = forge.take_failure()
        if failure is not None:
            response = dialect.error(ForgeError(failure[0], failure[1]))
        else:
            given, token = dialect.token(request)
            login = forge.login_for(token) if given else None
            if given and login is None:
                response = dialect.bad_token()
            elif forge.rate_limit.remaining <= 0:
                response = dialect.rate_limited(forge, login)
            else:
                forge.rate_limit.remaining -= 1
                try:
                    response = await handler(request, forge, login)
                except ForgeError as err:
                    response = dialect.error(err)
        response.headers.update(dialect.rate_headers(forge))
        forge.record(dialect.name, request, response.status, login)
        return response

    return wrapped
