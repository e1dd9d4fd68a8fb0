"""Login by token, Host allowlist, CSRF on every mutation, and read-only mode."""

from __future__ import annotations

import httpx

from .conftest import KS_API, UI, kustomization


async def test_no_session_no_page_and_the_token_becomes_a_strict_cookie(ui: UI) -> None:
    async with httpx.AsyncClient(base_url=ui.server.url.rstrip("/")) as anon:
        assert (await anon.get("/")).status_code == 401
        assert (await anon.get("/?token=wrong")).status_code == 401
        assert (await anon.get("/stream?tab=x")).status_code == 401
        resp = await anon.get(f"/?token={ui.server.security.token}&state=failed")
        assert resp.status_code == 303
        assert resp.headers["Location"] == "/?state=failed"  # the token leaves the URL
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert (await anon.get("/")).status_code == 200
        # Static files need no session (they hold nothing), and are served from the package.
        assert (await anon.get("/static/htmx.min.js")).status_code == 200


async def test_dns_rebinding_is_refused(ui: UI) -> None:
    resp = await ui.client.get("/", headers={"Host": f"evil.example:{ui.server.port}"})
    assert resp.status_code == 421


async def test_mutations_need_the_csrf_token_and_same_origin(ui: UI, namespace: str) -> None:
    await ui.create(KS_API, "Kustomization", kustomization("guarded", namespace))
    page = await ui.page("/")
    csrf = page.split('"X-CSRF-Token": "')[1].split('"')[0]
    form = {"action": "suspend", "target": f"Kustomization/{namespace}/guarded"}
    assert (await ui.client.post("/actions", data=form)).status_code == 403
    cross = await ui.client.post("/actions", data=form, headers={
        "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    other = await ui.client.post("/actions", data=form, headers={
        "X-CSRF-Token": csrf, "Origin": "http://evil.example"})
    assert other.status_code == 403
    mapping = await ui.objects.mapping(KS_API, "Kustomization")
    obj = await ui.objects.get(mapping, "guarded", namespace)
    assert obj["spec"].get("suspend") is not True  # nothing changed
    ok = await ui.client.post("/actions", data=form, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    obj = await ui.objects.get(mapping, "guarded", namespace)
    assert obj["spec"]["suspend"] is True


async def test_read_only_has_no_mutating_route_and_no_buttons(read_only_ui: UI) -> None:
    page = await read_only_ui.page("/")
    assert "read-only" in page and 'hx-post="/actions"' not in page
    csrf = page.split('"X-CSRF-Token": "')[1].split('"')[0]
    resp = await read_only_ui.client.post("/actions", data={"action": "reconcile"},
                                          headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 404
