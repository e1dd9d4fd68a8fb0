"""HTTP front of the embedded cluster: Kubernetes REST paths onto :class:`Cluster` calls.

This module knows URLs, query parameters, content types and status codes;
:mod:`registry` knows what the verbs mean. Paths follow the API server's
layout (``/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}`` and
``/apis/{group}/{version}/...``); bodies may be JSON or YAML; responses are
JSON, or ``meta.k8s.io/v1`` Tables when the client asks for them as kubectl
does; watches are chunked streams of JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from sluice.apiserver.errors import (
    ApiError,
    BadRequest,
    Cause,
    InternalError,
    Invalid,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from sluice.apiserver.rest import decoding, protobuf_decode, tables
from sluice.apiserver.rest.registry import (
    APPLY_PATCH,
    Cluster,
    DeleteOptions,
    WriteOptions,
)
from sluice.apiserver.rest.scale import patch_scale, scale_of, set_scale
from sluice.apiserver.rest.selectors import FieldSelector, LabelSelector
from sluice.apiserver.schemas import discovery, openapi, openapi_proto
from sluice.apiserver.schemas.resources import ResourceType
from sluice.apiserver.simulation.pod_subresources import (
    POD_SUBRESOURCES,
    component_log,
    component_of,
    no_containers,
)
from sluice.apiserver.store.offload import Offload

Obj = dict[str, Any]
log = logging.getLogger("sluice.apiserver")

MAX_BODY_BYTES = 3 * 1024 * 1024
# Bodies this small decode in well under a millisecond: on the loop, without a thread hop.
INLINE_BODY_BYTES = 64 * 1024
# Writes of these kinds stay on the loop whatever their size: they touch more than their
# own object (Service IP allocation, CRD registration, namespace lifecycle).
_ON_LOOP_KEYS = {("", "services"), ("", "namespaces"),
                 ("apiextensions.k8s.io", "customresourcedefinitions")}
_HEAVY_BODY = web.RequestKey("sluice.heavy_body", bool)
DEEP_BODY_LEVELS = 64
FUTURE_RV_WAIT = 3.0
BODY_TYPES = ("application/json", "application/yaml", protobuf_decode.PROTOBUF)
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz"}

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?"
    r"(?:/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?)?/?$")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_dumps(obj), status=status,
                        headers={**(headers or {}), "Content-Type": content_type})


def error_response(exc: ApiError) -> web.Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return json_response(exc.status(), exc.code, headers=headers)


def _bool(value: str | None) -> bool:
    # Some clients send True/False (kubernetes_asyncio); the API server is case-insensitive.
    return (value or "").lower() in ("true", "1")


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    first = accept.split(",")[0]
    return "as=Table" in first


def _manager(request: web.Request) -> str:
    given = request.query.get("fieldManager", "")
    if given:
        return given
    # Like the API server: the user agent's program name, e.g. "kubectl" or "OpenAPI-Generator".
    ua = request.headers.get("User-Agent", "unknown")
    return ua.split("/")[0][:128] or "unknown"


class Api:
    """aiohttp handlers bound to one :class:`Cluster`."""

    def __init__(self, cluster: Cluster, tokens: set[str] | None,
                 bookmark_interval: float = 5.0) -> None:
        self.cluster = cluster
        self.tokens = tokens
        self.bookmark_interval = bookmark_interval
        self.started = time.time()
        self._stopping = asyncio.Event()
        self.offload = Offload()
        # The process log `sluice up` writes, from which component Pods serve their logs.
        self.component_log: Path | None = None
        # Called with every request before it is served (counting writes and dry runs
        # in tests and benches: `sluice.testing.requests`).
        self.request_observers: list[Callable[[web.Request], None]] = []

    def routes(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)

    def stop_watches(self) -> None:
        self._stopping.set()
        self.cluster.events.close_all()
        self.offload.close()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        for observe in self.request_observers:
            observe(request)
        if self.tokens is not None and request.path not in PUBLIC_PATHS:
            auth = request.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
            if token not in self.tokens:
                return error_response(Unauthorized())
        try:
            resp: web.StreamResponse = await handler(request)
            # No answer is ahead of the disk: a write is acknowledged, and a read shows
            # a revision, only once it is committed (see sluice.apiserver.store.storage).
            await self.cluster.storage.sync()
            return resp
        except ApiError as exc:
            return error_response(exc)
        except web.HTTPException:
            raise
        except Exception as exc:
            log.exception("internal error serving %s %s", request.method, request.path)
            return error_response(InternalError(type(exc).__name__))

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            return web.Response(text="ok")
        if path == "/version":
            return json_response(discovery.version_info())
        if path in ("/api", "/apis", "/api/", "/apis/"):
            return self._discovery_root(request, path.rstrip("/"))
        if path.startswith("/openapi/"):
            return self._openapi(request, path)
        m = _PATH.match(path)
        if not m:
            g = re.match(r"^/apis/([^/]+)/?$", path)
            if g and (doc := discovery.api_group(self.cluster.catalogue, g[1])) is not None:
                return json_response(doc)
            raise NotFound("", "", "")
        group = m["group"] or ""
        version = m["core"] or m["version"]
        plural = m["plural"]
        if plural is None and m["ns"] and group == "":
            # /api/v1/namespaces/{name} is the Namespace itself.
            plural, m_ns, m_name = "namespaces", "", m["ns"]
            rt = self.cluster.catalogue.get(group, version, plural)
            if rt is None:
                raise NotFound("", "", "")
            return await self._resource(request, rt, m_ns, m_name, "")
        if plural is None:
            doc = discovery.resource_list(self.cluster.catalogue, group, version)
            if doc is None:
                raise NotFound("", "", "")
            return json_response(doc)
        ns = m["ns"] or ""
        name = m["name"] or ""
        sub = m["sub"] or ""
        # /api/v1/namespaces/{name}[/status|finalize] addresses the Namespace itself.
        if group == "" and m["ns"] and plural in ("status", "finalize") and not name:
            plural, name, sub, ns = "namespaces", m["ns"], plural, ""
        rt = self.cluster.catalogue.get(group, version, plural)
        if rt is None:
            raise NotFound("", "", "")
        if rt.namespaced and name and not ns:
            raise NotFound(rt.group, rt.plural, name)
        if not rt.namespaced and m["ns"] and not (group == "" and plural == "namespaces"):
            raise NotFound(rt.group, rt.plural, name)
        if group == "" and plural == "pods" and name and sub in POD_SUBRESOURCES:
            return await self._pod_subresource(request, rt, ns, name, sub)
        if sub and sub not in ("status", "scale", "finalize"):
            raise NotFound(rt.group, rt.plural, name)
        if sub == "finalize" and rt.storage_key != ("", "namespaces"):
            raise NotFound(rt.group, rt.plural, name)
        if sub == "status" and not rt.status and rt.storage_key != ("", "namespaces"):
            raise NotFound(rt.group, rt.plural, name)
        if sub == "scale" and rt.scale is None:
            raise NotFound(rt.group, rt.plural, name)
        return await self._resource(request, rt, ns, name, sub)

    # --------------------------------------------------------------- discovery
    def _discovery_root(self, request: web.Request, path: str) -> web.Response:
        cat = self.cluster.catalogue
        form = discovery.negotiate(request.headers.get("Accept", ""))
        headers = {"Vary": "Accept"}
        if form is None:
            raise ApiError(406, "NotAcceptable", "only application/json is served")
        if form == "aggregated":
            doc = discovery.aggregated(cat, legacy=(path == "/api"))
            return json_response(doc, content_type=discovery.AGGREGATED_CONTENT_TYPE,
                                 headers=headers)
        if path == "/api":
            return json_response(discovery.api_versions(), headers=headers)
        return json_response(discovery.api_groups(cat), headers=headers)

    def _openapi(self, request: web.Request, path: str) -> web.Response:
        cat = self.cluster.catalogue
        schemas = self.cluster.schema
        headers = {"Cache-Control": "no-cache, private"}
        if path == "/openapi/v2":
            if openapi_proto.wants_protobuf(request.headers.get("Accept", "")):
                # kubectl only reads the v2 document as protobuf (it falls back to it for Lists).
                return web.Response(body=openapi.v2_protobuf(cat, schemas), headers={
                    **headers, "Content-Type": openapi_proto.CONTENT_TYPE})
            return json_response(openapi.v2_document(cat, schemas), headers=headers)
        if path == "/openapi/v3":
            return json_response(openapi.v3_root(cat, schemas), headers=headers)
        m = re.match(r"^/openapi/v3/(?:api/(v1)|apis/([^/]+)/([^/]+))$", path)
        if m:
            group = m[2] or ""
            version = m[1] or m[3]
            doc = openapi.v3_group_version(cat, group, version, schemas)
            if doc is not None:
                return json_response(doc, headers=headers)
        raise NotFound("", "", "")

    # --------------------------------------------------------------- resources
    async def _body(self, request: web.Request) -> Any:
        if request.content_length and request.content_length > MAX_BODY_BYTES:
            raise ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {MAX_BODY_BYTES}")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raw = b"x" * (MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {MAX_BODY_BYTES}")
        if not raw.strip():
            raise BadRequest("the request body is empty")
        # Heavy: big, or nested deep enough that field tracking (quadratic in the depth)
        # costs more than the size suggests; both are decoded and admitted off the loop.
        heavy = len(raw) >= INLINE_BODY_BYTES or decoding.deeper_than(raw, DEEP_BODY_LEVELS)
        request[_HEAVY_BODY] = heavy
        ctype = request.content_type
        if request.method != "PATCH" and "Content-Type" in request.headers and \
                ctype not in BODY_TYPES:
            # kube-apiserver decodes only the media types it serves; text/plain is not JSON.
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(BODY_TYPES)}")
        if not heavy:
            return decoding.decode(raw, ctype)
        # Decoding megabytes of YAML takes seconds in Python: off the loop that serves
        # every other client (and /healthz).
        return await self.offload.run(decoding.decode, raw, ctype)

    def _write_options(self, request: web.Request) -> WriteOptions:
        q = request.query
        dry = q.getall("dryRun", [])
        if any(d != "All" for d in dry):
            raise BadRequest(f"Invalid dryRun value: {dry}; only All is supported")
        validation = q.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise BadRequest(f'fieldValidation must be one of "Ignore", "Warn" or "Strict", '
                             f'got "{validation}"')
        # Responses are only encoded: they may share the stored objects' values.
        return WriteOptions(dry_run=bool(dry), manager=_manager(request),
                            force=_bool(q.get("force")), field_validation=validation,
                            shared_result=True)

    async def _pod_subresource(self, request: web.Request, rt: ResourceType, ns: str,
                               name: str, sub: str) -> web.StreamResponse:
        pod = self.cluster.get(rt, ns, name)  # NotFound as usual for a Pod that does not exist
        component = component_of(pod)
        if sub != "log" or component is None:
            raise no_containers(name, sub)
        if self.component_log is None:
            return web.Response(text="", content_type="text/plain")
        tail = _int_param(request.query, "tailLines") if "tailLines" in request.query else None
        text = await asyncio.to_thread(component_log, self.component_log, component, tail)
        return web.Response(text=text, content_type="text/plain")

    async def _resource(self, request: web.Request, rt: ResourceType, ns: str, name: str,
                        sub: str) -> web.StreamResponse:
        c = self.cluster
        q = request.query
        method = request.method
        if method == "GET":
            if name and not _bool(q.get("watch")):
                obj = c.get(rt, ns, name, view=True)
                if sub == "scale":
                    return json_response(scale_of(rt, obj))
                return self._maybe_table(request, rt, [obj], single=True)
            labels = LabelSelector.parse(q.get("labelSelector"))
            fields = FieldSelector.parse(q.get("fieldSelector"), rt.kind, rt.is_custom)
            if name:
                fields = FieldSelector((*fields.terms, ("metadata.name", "=", name)))
            if _bool(q.get("watch")):
                return await self._watch(request, rt, ns or None, labels, fields)
            limit = _int_param(q, "limit")
            result = c.list(rt, ns or None, labels, fields, limit, q.get("continue", ""),
                            view=True)
            if _wants_table(request):
                return self._table(request, rt, result["items"], result["metadata"])
            return json_response(result)
        if method == "POST":
            if name:
                raise MethodNotAllowed("the server does not allow this method on the "
                                       "requested resource")
            body = await self._body(request)
            if not isinstance(body, dict):
                raise BadRequest("the request body must be an object")
            obj = await self._write(request, rt, c.create, rt, ns, body,
                                    self._write_options(request))
            return self._object_response(obj, 201)
        if method == "PUT":
            if not name:
                raise MethodNotAllowed("the server does not allow this method on the requested "
                                       "resource")
            body = await self._body(request)
            if not isinstance(body, dict):
                raise BadRequest("the request body must be an object")
            opts = self._write_options(request)
            if sub == "scale":
                return json_response(set_scale(c, rt, ns, name, body, opts))
            existed = c.storage.get(rt.storage_key, ns if rt.namespaced else "", name) is not None
            obj = await self._write(request, rt, c.update, rt, ns, name, body, opts,
                                    sub if sub in ("status", "finalize") else "")
            return self._object_response(obj, 200 if existed else 201)
        if method == "PATCH":
            if not name:
                raise MethodNotAllowed("the server does not allow this method on the requested "
                                       "resource")
            ctype = request.content_type
            if ctype == APPLY_PATCH and not q.get("fieldManager"):
                # Server-side apply records who owns each field: no anonymous appliers.
                raise Invalid("meta.k8s.io", "PatchOptions", "", [Cause(
                    "fieldManager", "Required value: is required for apply patch",
                    "FieldValueRequired")])
            body = await self._body(request)
            opts = self._write_options(request)
            if sub == "scale":
                return json_response(patch_scale(c, rt, ns, name, ctype, body, opts))
            existed = c.storage.get(rt.storage_key, ns if rt.namespaced else "", name) is not None
            obj = await self._write(request, rt, c.patch, rt, ns, name, ctype, body, opts,
                                    "status" if sub == "status" else "")
            return self._object_response(obj, 201 if (ctype == APPLY_PATCH and not existed)
                                         else 200)
        if method == "DELETE":
            if sub:
                # Subresources are read and written, never deleted: DELETE .../scale or
                # .../status must not delete the object itself.
                raise MethodNotAllowed("the server does not allow this method on the "
                                       "requested resource")
            dopts = await self._delete_options(request)
            if not name:
                labels = LabelSelector.parse(q.get("labelSelector"))
                fields = FieldSelector.parse(q.get("fieldSelector"), rt.kind, rt.is_custom)
                return json_response(c.delete_collection(rt, ns or None, labels, fields, dopts))
            obj = c.delete(rt, ns, name, dopts)
            if obj["metadata"].get("deletionTimestamp") and \
                    c.storage.get(rt.storage_key, ns if rt.namespaced else "", name):
                return json_response(obj, 202 if obj["metadata"].get("finalizers") else 200)
            if rt.is_custom or rt.storage_key in (("", "namespaces"),):
                return json_response(obj)
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success",
                                  "details": {"name": name, "group": rt.group,
                                              "kind": rt.plural,
                                              "uid": obj["metadata"].get("uid", "")}})
        raise MethodNotAllowed("the server does not allow this method on the requested resource")

    def _object_response(self, obj: Obj, status: int) -> web.Response:
        """A written object, as the text just stored for it when that is what it is."""
        return web.Response(body=self.cluster.encoded(obj), status=status,
                            headers={"Content-Type": "application/json"})

    async def _wait_for_revision(self, wanted: int) -> None:
        """A watch from a revision not reached yet: as kube-apiserver's watch cache, wait up
        to 3 s for it, then answer 504 with a ResourceVersionTooLarge cause and Retry-After."""
        deadline = time.monotonic() + FUTURE_RV_WAIT
        while self.cluster.storage.revision < wanted:
            if time.monotonic() >= deadline:
                current = self.cluster.storage.revision
                raise ApiError(504, "Timeout", f"Timeout: Too large resource version: {wanted}, "
                               f"current: {current}", causes=[Cause(
                                   "", "Too large resource version", "ResourceVersionTooLarge")],
                               retry_after=1)
            await asyncio.sleep(0.05)

    async def _write(self, request: web.Request, rt: ResourceType, verb: Callable[..., Obj],
                     *args: Any) -> Obj:
        """A registry write; with a large body, admitted off the loop (see :mod:`offload`)."""
        if not request.get(_HEAVY_BODY, False) or rt.storage_key in _ON_LOOP_KEYS:
            return verb(*args)
        return await self.offload.run_write(verb, *args)

    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        q = request.query
        opts = DeleteOptions(propagation=q.get("propagationPolicy", ""),
                             dry_run=bool(q.getall("dryRun", [])))
        if _bool(q.get("orphanDependents")):
            opts.propagation = "Orphan"
        if request.can_read_body:
            raw = await request.read()
            if len(raw) > MAX_BODY_BYTES:
                raise ApiError(413, "RequestEntityTooLarge",
                               f"Request entity too large: limit is {MAX_BODY_BYTES}")
            body: Any = None
            if raw.startswith(protobuf_decode.MAGIC):
                # client-go (Helm's uninstall and history purge) sends protobuf.
                body = protobuf_decode.decode(raw)
            elif raw.strip():
                ctype = "json" if raw.lstrip()[:1] in (b"{", b"[") else "yaml"
                body = decoding.decode(raw, ctype)
            if isinstance(body, dict):
                opts.propagation = body.get("propagationPolicy") or opts.propagation
                if body.get("orphanDependents"):
                    opts.propagation = "Orphan"
                pre = body.get("preconditions") or {}
                opts.precondition_uid = pre.get("uid") or ""
                opts.precondition_rv = pre.get("resourceVersion") or ""
                if body.get("dryRun"):
                    opts.dry_run = True
        if opts.propagation and opts.propagation not in ("Orphan", "Background", "Foreground"):
            raise BadRequest(f"propagationPolicy: Unsupported value: \"{opts.propagation}\": "
                             'supported values: "Foreground", "Background", "Orphan"')
        return opts

    # ------------------------------------------------------------------ tables
    def _maybe_table(self, request: web.Request, rt: ResourceType, items: list[Obj],
                     single: bool = False) -> web.Response:
        if _wants_table(request):
            return self._table(request, rt, items, {"resourceVersion": str(
                self.cluster.storage.revision)})
        return json_response(items[0] if single else items)

    def _table(self, request: web.Request, rt: ResourceType, items: list[Obj],
               meta: Obj) -> web.Response:
        include = request.query.get("includeObject", "Metadata")
        table = tables.table_for(rt.kind, rt.group, items, self.cluster.printer_columns(rt),
                                 include, datetime.now(UTC),
                                 resource_version=meta.get("resourceVersion", ""),
                                 continue_token=meta.get("continue", ""))
        return json_response(table, content_type="application/json;as=Table;v=v1;g=meta.k8s.io")

    # ------------------------------------------------------------------- watch
    async def _watch(self, request: web.Request, rt: ResourceType, ns: str | None,
                     labels: LabelSelector, fields: FieldSelector) -> web.StreamResponse:
        q = request.query
        c = self.cluster
        rv_text = q.get("resourceVersion", "")
        send_initial = _bool(q.get("sendInitialEvents"))
        bookmarks = _bool(q.get("allowWatchBookmarks"))
        timeout = float(_int_param(q, "timeoutSeconds")) or None
        table = _wants_table(request)
        if rv_text and not rv_text.isdigit():
            raise BadRequest(f"invalid resourceVersion: {rv_text}")

        def match(obj: Obj) -> bool:
            return labels.matches(obj) and fields.matches(obj)

        namespace = ns if rt.namespaced else None
        initial = send_initial or rv_text in ("", "0")
        since = None if initial else int(rv_text)
        if since is not None and since > c.storage.revision:
            await self._wait_for_revision(since)
        def encode(obj: Obj) -> bytes:
            return _dumps(c.served_view(rt, obj))

        # A Table watch renders each event for its own columns; a JSON watch shares the
        # encoding of each event with every watcher of the same version.
        watcher, replay = c.events.subscribe(
            rt.storage_key, namespace, match, since, encode=None if table else encode,
            form=f"{rt.api_version}/{rt.kind}")
        current = c.storage.revision
        snapshot: list[Obj] = []
        if initial:
            snapshot = [o for o in c.storage.list(rt.storage_key, namespace) if match(o)]
            watcher.sent_rv = current
        else:
            for ev in replay:
                watcher.offer(ev)
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "application/json", "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        first = [True]

        async def send(etype: str, obj: Obj) -> None:
            out: Any = c.served_view(rt, obj) if etype != "BOOKMARK" else obj
            if table and etype != "BOOKMARK":
                out = tables.table_for(rt.kind, rt.group, [out], c.printer_columns(rt),
                                       q.get("includeObject", "Metadata"), datetime.now(UTC))
                if not first[0]:
                    out["columnDefinitions"] = []
                first[0] = False
            await resp.write(_dumps({"type": etype, "object": out}) + b"\n")

        def bookmark(rv: int, end: bool = False) -> Obj:
            meta: Obj = {"resourceVersion": str(rv)}
            if end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}

        deadline = time.monotonic() + timeout if timeout else None
        try:
            # An event goes out once its revision is committed (kill -9 must not take
            # back what a watcher saw).
            await c.storage.sync(current)
            for obj in snapshot:
                await send("ADDED", obj)
            if send_initial and bookmarks:
                await send("BOOKMARK", bookmark(current, end=True))
            last_rv = current
            while not self._stopping.is_set():
                wait = self.bookmark_interval
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                try:
                    async with asyncio.timeout(wait):
                        item = await watcher.queue.get()
                except TimeoutError:
                    if bookmarks:
                        # Writes publish synchronously, so an empty queue means this watcher
                        # has seen everything up to the current revision: the bookmark can
                        # advance to it (to what is committed of it), sparing a quiet
                        # resource's clients a 410 later.
                        rv_now = c.storage.committed if watcher.queue.empty() else 0
                        await send("BOOKMARK", bookmark(max(last_rv, watcher.sent_rv, rv_now)))
                    continue
                if item is None:
                    break
                etype, obj, rv, raw = item
                last_rv = rv
                await c.storage.sync(rv)
                if raw is None:
                    await send(etype, obj)
                else:
                    await resp.write(b'{"type":"' + etype.encode() + b'","object":' + raw +
                                     b"}\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            c.events.unsubscribe(watcher)
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp


def _int_param(q: Any, key: str) -> int:
    """An integer query parameter; a malformed one is the client's error (400), not ours."""
    text = q.get(key) or "0"
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f'invalid value for "{key}": {text!r} is not an integer') from None
