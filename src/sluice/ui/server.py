"""The UI's aiohttp application: pages, fragments, the SSE stream and the actions.

Routes (all behind `security.Security`):

    GET  /                              overview (filters in the query string)
    GET  /fragments/table               the overview's table body, for filters
    GET  /object/{kind}/{ns}/{name}     one object: conditions, spec, events, YAML
    GET  /object/{kind}/{ns}/{name}/tree   its inventory tree (loaded on demand)
    GET  /object/{kind}/{ns}/{name}/plan   what the next reconcile (Kustomization) or
                                        upgrade (HelmRelease) would change (dry-run)
    GET  /object/HelmRelease/{ns}/{name}/release   merged values, Helm's release history
    GET  /object/{kind}/{ns}/{name}/commit  the fetched (GitRepository) or last pushed
                                        (ImageUpdateAutomation) commit: message, author
    GET  /graph                         sources -> appliers -> dependsOn
    GET  /stream?tab=ID&view=...        one SSE stream per tab
    POST /actions                       reconcile / suspend / resume (not in read-only)
    GET  /static/...                    htmx, its SSE extension, the stylesheet

Each tab gets a random id at render time; the actions it posts are followed
on that tab's stream (`p-<n>` events) until Ready says how they ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from sluice.api.helm import HelmRelease
from sluice.controllers.helmrelease.preview import PreviewError, chart_source
from sluice.core.lifecycle import AsyncService
from sluice.kube.config import Connection
from sluice.kube.events import EventRecorder
from sluice.kube.objects import Objects
from sluice.ui import actions as act
from sluice.ui.errors import ActionRefused, UIError
from sluice.ui.graph import build_graph, render_svg
from sluice.ui.helm_plan import plan_helmrelease
from sluice.ui.live import Key, LiveState
from sluice.ui.panels import facts
from sluice.ui.plan import plan_kustomization
from sluice.ui.redact import Redactor, mask_object
from sluice.ui.release import release_view
from sluice.ui.security import SESSION, Security
from sluice.ui.source_commit import CommitLookup, artifact_subject
from sluice.ui.summary import STATES, condition
from sluice.ui.tree import inventory_tree
from sluice.ui.views import (
    Filters,
    Row,
    counts,
    event_name,
    make_row,
    object_yaml,
    rows,
    sort_events,
)

__all__ = ["UIServer", "build_app"]

log = logging.getLogger("sluice.ui")

_HERE = Path(__file__).parent
# Most changes arrive in bursts (a reconcile writes status several times): gather them.
COALESCE = 0.05
KEEPALIVE = 15.0
MAX_TABS = 200


@dataclass
class Tab:
    view: str
    filters: Filters
    progress: dict[str, act.Progress] = field(default_factory=dict)
    # The rows the tab's table holds: a change to one of them is a row swap, anything
    # else (a new match, a deletion, a row leaving the filter) re-sends the table.
    shown: set[Key] = field(default_factory=set)


@dataclass
class UIState:
    live: LiveState
    objects: Objects
    recorder: EventRecorder
    read_only: bool
    env: jinja2.Environment
    commits: CommitLookup
    tabs: dict[str, Tab] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)
    _all_rows: tuple[int, list[Row]] = (-1, [])
    _summaries: dict[int, str] = field(default_factory=dict)

    def all_rows(self) -> list[Row]:
        """Every object's row, computed once per change of the live state."""
        if self._all_rows[0] != self.live.version:
            self._all_rows = (self.live.version, rows(self.live.all_objects(), Filters()))
        return self._all_rows[1]

    def summary_html(self, ctx: dict[str, Any]) -> str:
        """The counts and attention list: the same for every tab, rendered once per change."""
        version = self.live.version
        if version not in self._summaries:
            self._summaries = {version: self.render("_summary.html", **ctx)}
        return self._summaries[version]

    def render(self, template: str, **context: Any) -> str:
        """A page or fragment, scrubbed of every webhook address and path (`redact`)."""
        html = self.env.get_template(template).render(read_only=self.read_only, **context)
        return self.live.redactor.scrub(html)

    def api_versions(self) -> dict[str, str]:
        return {kind: cls.info.api_version for kind, cls in self.live.kinds.items()}


_STATE: web.AppKey[UIState] = web.AppKey("ui", UIState)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                             autoescape=True, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["event_name"] = event_name
    return env


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


def _new_tab(state: UIState, view: str, filters: Filters,
             shown: list[Row] | None = None) -> str:
    if len(state.tabs) >= MAX_TABS:  # forget the oldest tabs, not the server's memory
        for old in list(state.tabs)[: len(state.tabs) - MAX_TABS + 1]:
            state.tabs.pop(old, None)
    tab = secrets.token_urlsafe(9)
    state.tabs[tab] = Tab(view, filters, shown={_key(r) for r in shown or []})
    return tab


def _key(row: Row) -> Key:
    return (row.kind, row.namespace, row.name)


def _components(state: UIState) -> list[dict[str, Any]]:
    informer = state.live.components
    out = []
    for d in sorted(informer.list() if informer else [], key=lambda o: o["metadata"]["name"]):
        want = (d.get("spec") or {}).get("replicas", 1)
        ready = (d.get("status") or {}).get("readyReplicas") or 0
        out.append({"name": d["metadata"]["name"], "ready": ready, "want": want,
                    "ok": ready >= want and want > 0})
    return out


def _overview_context(state: UIState, filters: Filters) -> dict[str, Any]:
    everything = state.all_rows()
    shown = [r for r in everything if filters.match(r)]
    namespaces = sorted({r.namespace for r in everything})
    return {"rows": shown, "counts": counts(everything), "states": STATES,
            "attention": [r for r in everything if r.summary.needs_attention][:50],
            "kinds": sorted(state.live.kinds), "namespaces": namespaces, "filters": filters,
            "events": sort_events(state.live.recent_events(15)),
            "components": _components(state), "missing": state.live.missing_kinds,
            "total": len(everything)}


async def overview(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    filters = Filters.of(request.query)
    ctx = _overview_context(state, filters)
    tab = _new_tab(state, "overview", filters, ctx["rows"])
    return _html(state.render("overview.html", tab=tab, csrf=request[SESSION].csrf, **ctx))


async def table_fragment(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    filters = Filters.of(request.query)
    tab = state.tabs.get(request.query.get("tab", ""))
    ctx = _overview_context(state, filters)
    if tab is not None:
        tab.filters = filters
        tab.shown = {_key(r) for r in ctx["rows"]}
    return _html(state.render("_table.html", rows=ctx["rows"]))


def _lookup(request: web.Request) -> tuple[UIState, str, str, str, dict[str, Any]]:
    state = request.app[_STATE]
    kind, ns, name = (request.match_info[k] for k in ("kind", "ns", "name"))
    if kind not in state.live.kinds:
        raise web.HTTPNotFound(text=f"unknown kind {kind!r}\n")
    obj = state.live.get(kind, ns, name)
    if obj is None:
        raise web.HTTPNotFound(text=f"{kind} {ns}/{name} not found\n")
    return state, kind, ns, name, obj


def _object_context(state: UIState, kind: str, ns: str, name: str,
                    obj: dict[str, Any]) -> dict[str, Any]:
    shown = mask_object(kind, obj)  # addresses and webhook paths masked, Secret data left out
    status = shown.get("status") or {}
    ready = condition(obj, "Ready")
    events = sort_events(state.live.events_for(kind, ns, name))
    return {"row": make_row(kind, obj), "obj": shown, "kind": kind,
            "conditions": status.get("conditions") or [], "ready": ready,
            "spec_yaml": object_yaml({"spec": shown.get("spec") or {}}).removeprefix("spec:\n"),
            "yaml": object_yaml(shown), "status": status, "events": events,
            "facts": facts(kind, obj, events, state.live),
            "has_tree": kind in ("Kustomization", "HelmRelease"),
            "history": status.get("history") or []}


async def object_page(request: web.Request) -> web.Response:
    state, kind, ns, name, obj = _lookup(request)
    tab = _new_tab(state, f"object:{kind}/{ns}/{name}", Filters())
    return _html(state.render("object.html", tab=tab, csrf=request[SESSION].csrf,
                              **_object_context(state, kind, ns, name, obj)))


async def tree_fragment(request: web.Request) -> web.Response:
    state, kind, _, _, obj = _lookup(request)
    nodes = await inventory_tree(state.objects, kind, obj)
    return _html(state.render("_tree.html", nodes=nodes))


async def plan_fragment(request: web.Request) -> web.Response:
    state, kind, ns, _, obj = _lookup(request)
    if kind == "HelmRelease":
        return _html(await _helm_plan(state, obj))
    if kind != "Kustomization":
        raise web.HTTPNotFound(text="plans are made for Kustomizations and HelmReleases\n")
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    source = state.live.get(str(ref.get("kind") or "GitRepository"),
                            str(ref.get("namespace") or ns), str(ref.get("name") or ""))
    result = await plan_kustomization(state.objects, obj, source)
    # A Provider or Receiver the source would apply: its new address is a secret too.
    state.live.redactor.remember(result.secrets)
    return _html(state.render("_plan.html", plan=result))


async def _helm_plan(state: UIState, obj: dict[str, Any]) -> str:
    try:
        kind, ns, name = chart_source(HelmRelease.from_dict(obj), obj)
        source = state.live.get(kind, ns, name)
    except (PreviewError, KeyError, TypeError, ValueError):
        source = None  # plan_helmrelease says what is wrong with it
    result = await plan_helmrelease(state.objects, obj, source)
    # Values from valuesFrom Secrets, scrubbed from this plan only (`helm_plan`).
    local = Redactor()
    local.remember(result.secrets)
    return local.scrub(state.render("_plan.html", plan=result, against="chart revision",
                                    action="upgrade"))


async def release_fragment(request: web.Request) -> web.Response:
    state, kind, _, _, obj = _lookup(request)
    if kind != "HelmRelease":
        raise web.HTTPNotFound(text="release views are made for HelmReleases\n")
    return _html(state.render("_release.html", view=await release_view(state.objects, obj)))


async def commit_fragment(request: web.Request) -> web.Response:
    state, kind, ns, name, obj = _lookup(request)
    if kind == "GitRepository":
        subject = artifact_subject(sort_events(state.live.events_for(kind, ns, name)))
        info = await state.commits.for_git_repository(obj, subject)
    elif kind == "ImageUpdateAutomation":
        ref = (obj.get("spec") or {}).get("sourceRef") or {}
        repo = state.live.get("GitRepository", str(ref.get("namespace") or ns),
                              str(ref.get("name") or ""))
        info = await state.commits.for_automation(obj, repo)
    else:
        raise web.HTTPNotFound(text="commits are read for GitRepositories and automations\n")
    # An automation's commit only rewrites setter lines: those are shown. A source's commit
    # may touch a Secret: only its file names and counts are.
    return _html(state.render("_commit.html", commit=info,
                              show_lines=kind == "ImageUpdateAutomation"))


async def graph_page(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    tab = _new_tab(state, "graph", Filters())
    svg = render_svg(build_graph(state.live.all_objects()))
    return _html(state.render("graph.html", tab=tab, csrf=request[SESSION].csrf, svg=svg))


async def post_actions(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    form = await request.post()
    action = str(form.get("action", ""))
    targets = [str(t) for t in form.getall("target", [])]
    tab = state.tabs.get(request.headers.get("X-Sluice-Tab", ""))
    items = []
    for target in targets[:100]:
        kind, _, rest = target.partition("/")
        ns, _, name = rest.partition("/")
        obj = state.live.get(kind, ns, name)
        pid = f"p-{next(state.counter)}"
        try:
            if obj is None:
                raise ActionRefused(f"{target} not found")
            progress = await act.run_action(state.objects, state.recorder, obj, action,
                                            request[SESSION].id, state.api_versions())
        except UIError as exc:
            progress = act.Progress(kind, ns, name, action, "", "failed", str(exc))
        except Exception as exc:  # an API error: say it in the panel, do not 500
            log.warning("ui action %s on %s failed: %s", action, target, exc)
            progress = act.Progress(kind, ns, name, action, "", "failed", str(exc))
        if tab is not None and progress.phase not in ("done", "failed"):
            tab.progress[pid] = progress
        items.append((pid, progress))
    if not targets:
        return _html('<p class="progress-empty">Select objects first.</p>')
    return _html(state.render("_progress.html", items=items))


def _sse(event: str, html: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


async def _send_changes(state: UIState, tab: Tab, keys: set[Key], events_changed: bool,
                        response: web.StreamResponse) -> None:
    out: list[bytes] = []
    if tab.view == "overview":
        structure_changed = False
        row_events = []
        for key in sorted(keys):
            obj = state.live.get(*key)
            row = make_row(key[0], obj) if obj is not None else None
            visible = row is not None and tab.filters.match(row)
            if visible != (key in tab.shown):
                structure_changed = True
            elif row is not None and visible:
                row_events.append(_sse(row.event, state.render("_row.html", row=row)))
        ctx = _overview_context(state, tab.filters)
        if structure_changed:
            tab.shown = {_key(r) for r in ctx["rows"]}
            out.append(_sse("table", state.render("_table.html", rows=ctx["rows"])))
        else:
            out.extend(row_events)
        if keys:
            out.append(_sse("summary", state.summary_html(ctx)))
        if events_changed:
            out.append(_sse("events", state.render("_events.html", events=ctx["events"],
                                                   components=ctx["components"],
                                                   missing=ctx["missing"])))
    elif tab.view.startswith("object:"):
        kind, _, rest = tab.view.removeprefix("object:").partition("/")
        ns, _, name = rest.partition("/")
        if (kind, ns, name) in keys:
            obj = state.live.get(kind, ns, name)
            if obj is not None:
                ctx = _object_context(state, kind, ns, name, obj)
                out.append(_sse("object", state.render("_object_body.html", **ctx)))
    elif tab.view == "graph" and keys:
        svg = render_svg(build_graph(state.live.all_objects()))
        out.append(_sse("graph", state.live.redactor.scrub(svg)))
    for pid, progress in list(tab.progress.items()):
        if (progress.kind, progress.namespace, progress.name) not in keys:
            continue
        now = act.follow(progress, state.live.get(progress.kind, progress.namespace,
                                                  progress.name))
        if now != progress:
            out.append(_sse(pid, state.render("_progress_item.html", pid=pid, p=now)))
            if now.phase in ("ready", "failed", "done"):
                del tab.progress[pid]
            else:
                tab.progress[pid] = now
    if out:
        await response.write(b"".join(out))


async def stream(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    tab = state.tabs.get(request.query.get("tab", ""))
    if tab is None:
        raise web.HTTPNotFound(text="unknown tab: reload the page\n")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sub = state.live.subscribe()
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE):
                    await sub.wake.wait()
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await asyncio.sleep(COALESCE)  # let a burst of writes land in one render
            await state.live.secrets_settled()
            keys, events_changed = sub.take()
            await _send_changes(state, tab, keys, events_changed, response)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        state.live.unsubscribe(sub)
    return response


def _settled(live: LiveState) -> Any:
    """A middleware: no page renders while a Provider's Secret is being read (`live`)."""
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        await live.secrets_settled()
        response: web.StreamResponse = await handler(request)
        return response
    return middleware


def build_app(live: LiveState, objects: Objects, recorder: EventRecorder, security: Security,
              *, read_only: bool = False) -> web.Application:
    app = web.Application(middlewares=[security.middleware, _settled(live)],
                          client_max_size=64 * 1024)
    app[_STATE] = UIState(live, objects, recorder, read_only, _env(), CommitLookup(objects))
    app.router.add_get("/", overview)
    app.router.add_get("/fragments/table", table_fragment)
    app.router.add_get("/object/{kind}/{ns}/{name}", object_page)
    app.router.add_get("/object/{kind}/{ns}/{name}/tree", tree_fragment)
    app.router.add_get("/object/{kind}/{ns}/{name}/plan", plan_fragment)
    app.router.add_get("/object/{kind}/{ns}/{name}/release", release_fragment)
    app.router.add_get("/object/{kind}/{ns}/{name}/commit", commit_fragment)
    app.router.add_get("/graph", graph_page)
    app.router.add_get("/stream", stream)
    if not read_only:
        app.router.add_post("/actions", post_actions)
    app.router.add_static("/static/", _HERE / "static", append_version=False)
    return app


class UIServer(AsyncService):
    """The UI for one cluster connection, listening on `host:port` (loopback by default)."""

    def __init__(self, connection: Connection, host: str = "127.0.0.1", port: int = 9400, *,
                 read_only: bool = False, token: str | None = None) -> None:
        self.connection = connection
        self.host = host
        self.requested_port = port
        self.read_only = read_only
        self.security = Security(token) if token else Security.generate()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._live: LiveState | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/"

    @property
    def login_url(self) -> str:
        return f"{self.url}?token={self.security.token}"

    async def start(self) -> None:
        objects = Objects(self.connection)
        self._live = LiveState(objects)
        await self._live.start()
        recorder = EventRecorder(objects, "sluice-ui")
        app = build_app(self._live, objects, recorder, self.security, read_only=self.read_only)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        self.security.allow_address(self.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None
        if self._live is not None:
            await self._live.close()
            self._live = None
