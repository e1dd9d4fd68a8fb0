"""The requests a `sluice.kube.apply.ResourceManager` makes: server-side apply, get, delete.

The lowest layer of the staged apply: raw JSON requests on the connection's
HTTP client (no model objects, so a 1,000-object apply does not pay for
parsing into pydantic), errors raised as `ApiStatusError` carrying the
server's code, and `_gather`, which bounds how many requests run at once
(Flux's ``--concurrent-ssa``). The owner, its claim check and the stage
options are kept here because every layer above needs them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2

from sluice.kube.apply_types import ClaimCheck, DryRun
from sluice.kube.errors import ApiStatusError, is_not_found
from sluice.kube.inventory import Owner
from sluice.kube.latest import LatestObjects
from sluice.kube.mapping import ResourceMapping
from sluice.kube.objects import Objects
from sluice.kube.requests import send

Obj = dict[str, Any]
T = TypeVar("T")

APPLY_PATCH = "application/apply-patch+yaml"


def resource_path(m: ResourceMapping, namespace: str, name: str | None = None) -> str:
    base = f"/apis/{m.group}/{m.version}" if m.group else f"/api/{m.version}"
    parts = [base]
    if m.namespaced:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(m.plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    return "/".join(parts)



class ApplyRequests:
    """One owner's requests on one cluster; the base of `sluice.kube.apply.ResourceManager`."""

    def __init__(self, client: Objects, owner: Owner, *, concurrency: int = 4,
                 custom_stage_kinds: frozenset[tuple[str, str]] = frozenset(),
                 claims: ClaimCheck | None = None,
                 observe: Callable[[Mapping[str, Any]], None] | None = None) -> None:
        self.client = client
        self.owner = owner
        self.claims = claims
        # Called with every live object a request returns (GETs and real writes, not
        # dry runs): how `sluice.runtime.livestate` learns the versions an apply saw.
        self.observe = observe
        # The newest copy of each object requests returned (same rule), for the health
        # checks that follow an apply (`sluice.kube.latest`): they need no GET then.
        self.latest = LatestObjects()
        self.concurrency = max(1, concurrency)
        self.custom_stage_kinds = custom_stage_kinds
        self._http: httpx2.AsyncClient = client.connection.http

    # ------------------------------------------------------------ requests
    async def _request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> Any:
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        resp = await send(self._http, method, path, params=params, content=content,
                          headers=headers)
        if resp.status_code >= 400:
            try:
                status = json.loads(resp.content)
            except ValueError:
                status = None
            err = ApiStatusError.from_status(status, resp.status_code)
            err.code = resp.status_code
            raise err
        out = resp.json() if resp.content else None
        if method != "DELETE" and isinstance(out, dict) and "dryRun" not in (params or {}):
            self.latest.offer(out)
            if self.observe is not None:
                self.observe(out)
        return out

    async def _ssa(self, d: DryRun | tuple[ResourceMapping, Obj], *, dry_run: bool) -> Obj:
        mapping, obj = (d.mapping, d.desired) if isinstance(d, DryRun) else d
        meta = obj["metadata"]
        params = {"fieldManager": self.owner.field_manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        path = resource_path(mapping, meta.get("namespace", ""), meta["name"])
        out: Obj = await self._request("PATCH", path, params=params, body=obj,
                                       content_type=APPLY_PATCH)
        return out

    async def get(self, mapping: ResourceMapping, namespace: str, name: str) -> Obj | None:
        try:
            out: Obj = await self._request("GET", resource_path(mapping, namespace, name))
        except ApiStatusError as exc:
            if is_not_found(exc):
                return None
            raise
        return out

    async def delete(self, mapping: ResourceMapping, namespace: str, name: str, *,
                     propagation: str = "Background", uid: str | None = None) -> bool:
        """Delete one object; False when it was already gone."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions",
                     "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self._request("DELETE", resource_path(mapping, namespace, name), body=body)
        except ApiStatusError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    async def _gather(self, items: Sequence[T], fn: Callable[[T], Awaitable[Any]]) -> list[Any]:
        sem = asyncio.Semaphore(self.concurrency)

        async def run(item: T) -> Any:
            async with sem:
                return await fn(item)

        return list(await asyncio.gather(*(run(i) for i in items)))

