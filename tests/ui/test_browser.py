"""The UI in a real browser: Debian's chromium driven by Playwright (nothing downloaded).

Kept few, behind the `browser` marker: the overview updates live, a reconcile
button runs to its outcome, the graph and a plan's diff render, dark mode
follows the system, the keyboard moves through the list.
Screenshots go to `$SLUICE_TEST_ARTIFACTS` (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sluice.api.meta import RECONCILE_REQUEST_ANNOTATION
from sluice.testing.polling import async_wait_for

from .conftest import GIT_API, KS_API, UI, git_repository, kustomization, ready
from .test_plan import artifact_url  # noqa: F401 (the fixture)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def _artifacts(tmp_path: Path) -> Path:
    target = Path(os.environ.get("SLUICE_TEST_ARTIFACTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking"])
        try:
            yield instance
        finally:
            await instance.close()


async def test_overview_live_update_and_reconcile_button(ui: UI, namespace: str, browser: Any,
                                                         tmp_path: Path) -> None:
    await ui.create(KS_API, "Kustomization", kustomization("shop", namespace))
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{ui.server.login_url}&namespace={namespace}")
    row = page.locator("tr", has_text="shop")
    await row.wait_for()
    await page.locator("#live.on").wait_for()  # the SSE stream is open
    # A status written elsewhere shows up without a reload.
    await ui.set_status(KS_API, "Kustomization", namespace, "shop", ready(
        "False", "BuildFailed", "kustomize build failed: missing resource"))
    await page.locator("tr.state-failed", has_text="kustomize build failed").wait_for(timeout=5000)
    # Select it, press Reconcile: the progress panel follows it to the outcome.
    await row.locator("input.select").check()
    await page.get_by_role("button", name="Reconcile", exact=True).click()
    await page.locator(".progress-item.phase-requested").wait_for(timeout=5000)
    mapping = await ui.objects.mapping(KS_API, "Kustomization")

    async def requested() -> str | None:
        obj = await ui.objects.get(mapping, "shop", namespace)
        value: str | None = (obj["metadata"].get("annotations") or {}).get(
            RECONCILE_REQUEST_ANNOTATION)
        return value

    stamp = await async_wait_for(requested, timeout=10, what="requestedAt")
    await ui.set_status(KS_API, "Kustomization", namespace, "shop", ready(
        "True", "ReconciliationSucceeded", "Applied revision: main@sha1:" + "e" * 40,
        lastHandledReconcileAt=stamp))
    await page.locator(".progress-item.phase-ready", has_text="Applied revision").wait_for(
        timeout=5000)
    await page.screenshot(path=str(_artifacts(tmp_path) / "overview.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e], errors


async def test_graph_renders_and_dark_mode_follows_the_system(ui: UI, namespace: str,
                                                              browser: Any,
                                                              tmp_path: Path) -> None:
    await ui.create(GIT_API, "GitRepository", git_repository("src", namespace))
    await ui.create(KS_API, "Kustomization", kustomization("base", namespace, source="src"))
    context = await browser.new_context(color_scheme="dark")
    page = await context.new_page()
    await page.goto(ui.server.login_url.replace("/?", "/graph?"))
    node = page.locator("svg.graph a.node", has_text="base")
    await node.wait_for()
    assert await page.locator("svg.graph path.edge").count() >= 1
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background  # the dark palette
    await page.screenshot(path=str(_artifacts(tmp_path) / "graph-dark.png"), full_page=True)
    await context.close()


async def test_keyboard_moves_opens_searches_and_goes_home(ui: UI, namespace: str,
                                                           browser: Any) -> None:
    for name in ("alpha", "beta"):
        await ui.create(KS_API, "Kustomization", kustomization(name, namespace))
    page = await browser.new_page()
    await page.goto(f"{ui.server.login_url}&namespace={namespace}")
    await page.locator("tr", has_text="beta").wait_for()
    await page.keyboard.press("j")
    await page.locator("tr.cursor", has_text="alpha").wait_for(timeout=5000)
    await page.keyboard.press("ArrowDown")
    await page.locator("tr.cursor", has_text="beta").wait_for(timeout=5000)
    await page.keyboard.press("k")
    await page.locator("tr.cursor", has_text="alpha").wait_for(timeout=5000)
    # A live update replaces alpha's row: the cursor and the ticked box stay on it.
    await page.locator("tr", has_text="alpha").locator("input.select").check()
    await ui.set_status(KS_API, "Kustomization", namespace, "alpha", ready(
        "False", "BuildFailed", "kustomize build failed: live swap"))
    swapped = page.locator("tr.state-failed", has_text="live swap")
    await swapped.wait_for(timeout=5000)
    await page.locator("tr.cursor.state-failed", has_text="alpha").wait_for(timeout=5000)
    assert await swapped.locator("input.select").is_checked()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/object/Kustomization/{namespace}/alpha", timeout=5000)
    await page.keyboard.press("g")
    await page.keyboard.press("o")
    await page.wait_for_url(lambda url: url.endswith("/"), timeout=5000)
    await page.keyboard.press("/")
    assert await page.evaluate("document.activeElement.id") == "q"


async def test_plan_button_renders_the_diff(ui: UI, namespace: str, browser: Any,
                                            artifact_url: tuple[str, str],  # noqa: F811
                                            tmp_path: Path) -> None:
    url, digest = artifact_url
    await ui.create(GIT_API, "GitRepository", git_repository("apps", namespace))
    await ui.set_status(GIT_API, "GitRepository", namespace, "apps", ready(
        "True", "Succeeded", "stored artifact", artifact={
            "revision": "main@sha1:" + "f" * 40, "digest": digest, "url": url,
            "path": "gitrepository/apps.tar.gz", "lastUpdateTime": "2026-12-06T10:00:00Z"}))
    ks = kustomization("apps", namespace)
    ks["spec"].update(path="./app", targetNamespace=namespace)
    await ui.create(KS_API, "Kustomization", ks)

    async def seen() -> bool:  # the UI's informers hold it (404 until then)
        resp = await ui.client.get(f"/object/Kustomization/{namespace}/apps")
        return resp.status_code == 200
    await async_wait_for(seen, timeout=10, what="the Kustomization in the UI")
    page = await browser.new_page()
    await page.goto(ui.server.login_url.replace(
        "/?", f"/object/Kustomization/{namespace}/apps?"))
    await page.get_by_role("button", name="Show what the next reconcile would change").click()
    created = f"ConfigMap/{namespace}/settings created"
    summary = page.locator("details.plan-object summary", has_text=created)
    await summary.wait_for(timeout=10000)
    await summary.click()  # each object folds
    folded = page.locator("details.plan-object", has_text=created)
    assert await folded.evaluate("d => !d.open")
    assert "hunter2" not in await page.content()  # the Secret in the source stays masked
    await page.screenshot(path=str(_artifacts(tmp_path) / "plan.png"), full_page=True)
