"""Who may use the UI, and how a page cannot be turned against its user.

* Login: `sluice up` / `sluice ui` print ``http://127.0.0.1:PORT/?token=...``.
  Opening it trades the token (compared in constant time) for a session
  cookie, ``HttpOnly; SameSite=Strict; Path=/``, and redirects to the same page
  without the token, so it leaves the address bar and the history. Without a
  session every page answers 401 (and a short page saying to use the printed
  address).
* Host allowlist: requests whose ``Host`` is not the address the UI listens
  on (or loopback names for it) get 421, which defeats DNS rebinding.
* CSRF: mutations are POST only and must carry ``X-CSRF-Token`` equal to the
  session's token (htmx sends it from `hx-headers`); ``Sec-Fetch-Site`` other
  than same-origin/none and an ``Origin`` other than ours are refused. No CORS
  headers are ever sent.
* Every response carries a strict Content-Security-Policy (scripts and styles
  from the UI's own origin only, no inline code), ``X-Frame-Options: DENY``,
  ``nosniff`` and ``Referrer-Policy: no-referrer``.
* Read-only mode is not a flag checked per request: the mutating routes are
  not registered at all (404).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["COOKIE", "CSP", "SESSION", "Security", "Session"]

COOKIE = "sluice_ui"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Session:
    id: str
    csrf: str


SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)


@dataclass
class Security:
    token: str
    hosts: set[str] = field(default_factory=set)
    sessions: dict[str, Session] = field(default_factory=dict)

    @classmethod
    def generate(cls) -> Security:
        return cls(secrets.token_urlsafe(24))

    def allow_address(self, host: str, port: int) -> None:
        names = {host, *_LOOPBACK} if host in ("127.0.0.1", "::1", "localhost") else {host}
        for name in names:
            shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
            self.hosts.add(f"{shown}:{port}")

    def session_of(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        return self.sessions.get(sid) if sid else None

    def _login(self, request: web.Request) -> web.StreamResponse | None:
        offered = request.query.get("token")
        if offered is None:
            return None
        if not hmac.compare_digest(offered.encode(), self.token.encode()):
            return web.Response(status=401, text="wrong token: use the address sluice printed\n")
        session = Session(secrets.token_urlsafe(18), secrets.token_urlsafe(18))
        self.sessions[session.id] = session
        rest = {k: v for k, v in request.rel_url.query.items() if k != "token"}
        target = request.rel_url.with_query(rest)
        response = web.Response(status=303, headers={"Location": str(target)})
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/")
        return response

    def _cross_site(self, request: web.Request) -> bool:
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return True
        origin = request.headers.get("Origin")
        return origin is not None and origin not in (f"http://{h}" for h in self.hosts)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await self._guard(request, handler)
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers.setdefault("Cache-Control", "no-store")
        return response

    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.hosts and request.host not in self.hosts:
            return web.Response(status=421, text="unexpected Host header\n")
        if request.path.startswith("/static/"):
            return await handler(request)
        if request.method == "GET":
            login = self._login(request)
            if login is not None:
                return login
        session = self.session_of(request)
        if session is None:
            return web.Response(status=401, content_type="text/html", text=(
                "<!doctype html><title>sluice</title><p>Open the address <code>sluice up</code> "
                "or <code>sluice ui</code> printed (it carries a login token).</p>"))
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get("X-CSRF-Token", "")
            if (request.method != "POST" or self._cross_site(request)
                    or not hmac.compare_digest(sent.encode(), session.csrf.encode())):
                return web.Response(status=403, text="cross-site or unauthenticated request\n")
        request[SESSION] = session
        return await handler(request)
