"""What a user sees on the overview, an object's page and the graph, and what stays hidden."""

from __future__ import annotations

from sluice.testing.polling import async_wait_for

from .conftest import GIT_API, KS_API, UI, git_repository, kustomization, ready


async def _shown(ui: UI, text: str, path: str = "/") -> str:
    async def check() -> str | None:
        page = await ui.page(path)
        return page if text in page else None
    result: str = await async_wait_for(check, timeout=10, what=f"{text!r} on {path}")
    return result


async def test_overview_groups_counts_and_flags_what_needs_attention(ui: UI,
                                                                     namespace: str) -> None:
    await ui.create(GIT_API, "GitRepository", git_repository("apps", namespace))
    await ui.create(KS_API, "Kustomization", kustomization("web", namespace))
    await ui.create(KS_API, "Kustomization", kustomization("db", namespace))
    await ui.set_status(GIT_API, "GitRepository", namespace, "apps", ready(
        "True", "Succeeded", "stored artifact for revision 'main@sha1:" + "a" * 40 + "'",
        artifact={"revision": "main@sha1:" + "a" * 40, "digest": "sha256:" + "b" * 64,
                  "path": "x", "url": "http://x", "lastUpdateTime": "2026-12-06T10:00:00Z"}))
    await ui.set_status(KS_API, "Kustomization", namespace, "db", ready(
        "False", "BuildFailed", "kustomization path not found: <script>alert(1)</script>"))
    page = await _shown(ui, "kustomization path not found")
    assert "<script>alert(1)</script>" not in page  # escaped, never executed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'href="/object/Kustomization/{namespace}/db"' in page
    assert "main@sha1:" + "a" * 40 in page
    attention = page.split('class="attention"')[1].split("</div>")[0]
    assert "db" in attention and ">web<" not in attention
    # Filtering by state and name, as the filter form asks the table fragment.
    table = (await ui.client.get("/fragments/table", params={
        "namespace": namespace, "state": "failed"})).text
    assert "/db" in table and "/web" not in table
    table = (await ui.client.get("/fragments/table", params={"namespace": namespace,
                                                             "q": "we"})).text
    assert "/web" in table and "/db" not in table


async def test_object_page_shows_conditions_spec_events_and_yaml(ui: UI, namespace: str) -> None:
    await ui.create(KS_API, "Kustomization", kustomization("app", namespace))
    # Flux 2.5's status.history: one snapshot per desired state, newest first.
    history = [
        {"digest": "sha256:" + "1" * 64, "firstReconciled": "2026-12-06T09:00:00Z",
         "lastReconciled": "2026-12-06T10:00:00Z", "lastReconciledDuration": "1.2s",
         "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 7,
         "metadata": {"revision": "main@sha1:" + "c" * 40}},
        {"digest": "sha256:" + "2" * 64, "firstReconciled": "2026-12-06T08:00:00Z",
         "lastReconciled": "2026-12-06T08:30:00Z", "lastReconciledDuration": "40ms",
         "lastReconciledStatus": "HealthCheckFailed", "totalReconciliations": 3,
         "metadata": {"revision": "main@sha1:" + "b" * 40}}]
    await ui.set_status(KS_API, "Kustomization", namespace, "app", ready(
        "True", "ReconciliationSucceeded", "Applied revision: main@sha1:" + "c" * 40,
        history=history))
    page = await _shown(ui, "ReconciliationSucceeded", f"/object/Kustomization/{namespace}/app")
    table = page.split("<h2>Reconcile history</h2>", 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")[2:]
    assert len(rows) == 2, table
    assert "main@sha1:" + "c" * 40 in rows[0] and "<td>7</td>" in rows[0]
    assert "<td>ReconciliationSucceeded</td>" in rows[0] and "<td>1.2s</td>" in rows[0]
    assert 'class="warning"' in rows[1] and "<td>HealthCheckFailed</td>" in rows[1]
    assert "main@sha1:" + "b" * 40 in rows[1]
    assert "Release history" not in page
    assert "Applied revision: main@sha1:" + "c" * 40 in page
    assert "sourceRef" in page  # the spec
    assert "managedFields" not in page  # noise left out of the YAML
    assert 'hx-get="/object/Kustomization/' in page  # the inventory tree is loaded on demand
    missing = await ui.client.get(f"/object/Kustomization/{namespace}/nope")
    assert missing.status_code == 404
    unknown = await ui.client.get(f"/object/Secret/{namespace}/x")
    assert unknown.status_code == 404


async def test_graph_draws_sources_appliers_and_dependencies(ui: UI, namespace: str) -> None:
    await ui.create(GIT_API, "GitRepository", git_repository("apps", namespace))
    await ui.create(KS_API, "Kustomization", kustomization("infra", namespace))
    await ui.create(KS_API, "Kustomization", kustomization("apps-ks", namespace,
                                                            depends_on=["infra"]))
    page = await _shown(ui, f"{namespace}/apps-ks", "/graph")
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="edge source"') >= 2  # apps -> infra, apps -> apps-ks
    assert svg.count('class="edge dependsOn"') >= 1  # infra -> apps-ks
    assert "<script" not in svg


async def test_every_response_is_locked_down(ui: UI) -> None:
    resp = await ui.client.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Access-Control-Allow-Origin" not in resp.headers
