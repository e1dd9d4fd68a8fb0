"""Dict-in, dict-out calls on objects of any kind, addressed through a `ResourceMapping`.

Controllers handle Flux objects, Secrets, Events and Leases, and later
whatever a Kustomization applies; they all become plain JSON dicts here, and
the typed `sluice.api` models are built from those dicts where a controller
wants attributes. lightkube's typed methods expect its own resource classes
and build label selectors from dicts only, so this module speaks HTTP
directly over the connection's ``httpx2`` client (same server, TLS and
credentials as lightkube): get, list (with the list's resourceVersion),
watch (a stream of ``(type, object)`` with BOOKMARK events), create, merge
patch of the object or its ``/status`` subresource, delete.

Every error Status from the server becomes `ApiStatusError` with its code
and message; transport failures stay ``httpx2.HTTPError`` (callers retry).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx2

from sluice.kube.config import Connection
from sluice.kube.errors import ApiStatusError, is_not_found
from sluice.kube.mapping import ResourceMapping, RestMapper
from sluice.kube.requests import send

__all__ = ["Obj", "Objects"]

Obj = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"


def _path(m: ResourceMapping, namespace: str | None, name: str | None = None,
          sub: str | None = None) -> str:
    parts = [f"/apis/{m.group}/{m.version}" if m.group else f"/api/{m.version}"]
    if m.namespaced and namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(m.plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    if sub:
        parts.append(sub)
    return "/".join(parts)


def _error(resp: httpx2.Response, body: bytes) -> ApiStatusError:
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    err = ApiStatusError.from_status(status, resp.status_code)
    if err.code != resp.status_code and resp.status_code >= 400:
        err.code = resp.status_code
    return err


class Objects:
    """Generic object access for one connection."""

    def __init__(self, connection: Connection, mapper: RestMapper | None = None) -> None:
        self.connection = connection
        self.mapper = mapper or RestMapper(connection)
        self._http = connection.http

    async def mapping(self, api_version: str, kind: str) -> ResourceMapping:
        return await self.mapper.mapping(api_version, kind)

    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        resp = await send(self._http, method, path, params=params, content=content,
                          headers=headers)
        if resp.status_code >= 400:
            raise _error(resp, resp.content)
        if not resp.content:
            return None
        return resp.json()

    async def get(self, m: ResourceMapping, name: str, namespace: str | None = None) -> Obj:
        out: Obj = await self._request("GET", _path(m, namespace, name))
        return out

    async def get_or_none(self, m: ResourceMapping, name: str,
                          namespace: str | None = None) -> Obj | None:
        try:
            return await self.get(m, name, namespace)
        except ApiStatusError as exc:
            if is_not_found(exc):
                return None
            raise

    async def list(self, m: ResourceMapping, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   page_size: int = 500) -> tuple[list[Obj], str]:
        """All matching objects (following ``continue``) and the list's resourceVersion."""
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        items: list[Obj] = []
        while True:
            doc = await self._request("GET", _path(m, namespace), params=params)
            for item in doc.get("items") or []:
                # List items omit apiVersion/kind; restore them so cached
                # objects look like the ones a GET or a watch returns.
                item.setdefault("apiVersion", m.api_version)
                item.setdefault("kind", m.kind)
                items.append(item)
            meta = doc.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                return items, str(meta.get("resourceVersion") or "")
            params["continue"] = cont

    async def watch(self, m: ResourceMapping, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    timeout_seconds: int = 300) -> AsyncIterator[tuple[str, Obj]]:
        """Stream ``(type, object)`` events until the server ends the watch.

        Types are ADDED, MODIFIED, DELETED and BOOKMARK. An ERROR event, or a
        refused watch (410 Gone for a too-old resourceVersion), raises
        `ApiStatusError`.
        """
        params: dict[str, str] = {"watch": "true", "allowWatchBookmarks": "true",
                                  "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        # No read timeout: the server keeps the stream open and sends
        # bookmarks; timeoutSeconds bounds it on the server side.
        timeout = httpx2.Timeout(30.0, read=None)
        async with self._http.stream("GET", _path(m, namespace), params=params,
                                     headers={"Accept": "application/json"},
                                     timeout=timeout) as resp:
            if resp.status_code >= 400:
                raise _error(resp, await resp.aread())
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                etype = str(event.get("type", ""))
                obj = event.get("object")
                if etype == "ERROR":
                    raise ApiStatusError.from_status(obj)
                if isinstance(obj, dict):
                    yield etype, obj

    async def create(self, m: ResourceMapping, obj: Obj, namespace: str | None = None,
                     *, field_manager: str | None = None) -> Obj:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        params = {"fieldManager": field_manager} if field_manager else None
        out: Obj = await self._request("POST", _path(m, ns), params=params, body=obj)
        return out

    async def merge_patch(self, m: ResourceMapping, name: str, patch: Obj,
                          namespace: str | None = None, *, subresource: str | None = None,
                          field_manager: str | None = None) -> Obj:
        """JSON merge patch (RFC 7386) of the object or one of its subresources."""
        params = {"fieldManager": field_manager} if field_manager else None
        out: Obj = await self._request("PATCH", _path(m, namespace, name, subresource),
                                       params=params, body=patch, content_type=MERGE_PATCH)
        return out

    async def patch_status(self, m: ResourceMapping, name: str, patch: Obj,
                           namespace: str | None = None, *,
                           field_manager: str | None = None) -> Obj:
        """Merge patch through the ``/status`` subresource when the kind has one."""
        sub = "status" if m.has_status else None
        return await self.merge_patch(m, name, patch, namespace, subresource=sub,
                                      field_manager=field_manager)

    async def replace(self, m: ResourceMapping, obj: Obj, namespace: str | None = None,
                      *, field_manager: str | None = None) -> Obj:
        meta = obj.get("metadata") or {}
        ns = namespace or meta.get("namespace")
        params = {"fieldManager": field_manager} if field_manager else None
        out: Obj = await self._request("PUT", _path(m, ns, str(meta.get("name"))),
                                       params=params, body=obj)
        return out

    async def delete(self, m: ResourceMapping, name: str, namespace: str | None = None) -> None:
        await self._request("DELETE", _path(m, namespace, name))
