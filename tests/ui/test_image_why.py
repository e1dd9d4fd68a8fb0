"""Image automation's "why": the tag a policy chose, by which rule, from which scan, then pushed.

Statuses are written as image-reflector and image-automation controllers
write them. The pushed commit is a real commit on a real Git remote, which
the UI reads to show its message.
"""

from __future__ import annotations

from pathlib import Path

from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for

from .conftest import GIT_API, UI, git_repository, ready

IMAGE_API = "image.toolkit.fluxcd.io/v1"
IMAGE = "registry.k8s.io/e2e-test-images/agnhost"
PUSHED = "Update agnhost to 2.40\n\nImagePolicy apps/agnhost chose 2.40 (was 2.39).\n"


async def _page(ui: UI, path: str, text: str) -> str:
    async def check() -> str | None:
        page = await ui.page(path)
        return page if text in page else None
    found: str = await async_wait_for(check, timeout=10, what=f"{text!r} on {path}")
    return found


async def test_image_pages_say_which_tag_was_chosen_why_and_what_was_pushed(
        ui: UI, namespace: str, tmp_path: Path) -> None:
    await ui.create(IMAGE_API, "ImageRepository", {
        "apiVersion": IMAGE_API, "kind": "ImageRepository",
        "metadata": {"name": "agnhost", "namespace": namespace},
        "spec": {"image": IMAGE, "interval": "5m"}})
    await ui.set_status(IMAGE_API, "ImageRepository", namespace, "agnhost", ready(
        "True", "Succeeded", "successful scan: found 42 tags",
        lastScanResult={"tagCount": 42, "scanTime": "2026-12-07T03:00:00Z",
                        "latestTags": ["2.40", "2.39", "2.38"]}))
    await ui.create(IMAGE_API, "ImagePolicy", {
        "apiVersion": IMAGE_API, "kind": "ImagePolicy",
        "metadata": {"name": "agnhost", "namespace": namespace},
        "spec": {"imageRepositoryRef": {"name": "agnhost"},
                 "filterTags": {"pattern": r"^2\.(?P<minor>[0-9]+)$", "extract": "$minor"},
                 "policy": {"semver": {"range": ">=2.30.0"}}}})
    await ui.set_status(IMAGE_API, "ImagePolicy", namespace, "agnhost", ready(
        "True", "Succeeded", f"Latest image tag for {IMAGE} updated from 2.39 to 2.40",
        latestRef={"name": IMAGE, "tag": "2.40"},
        observedPreviousRef={"name": IMAGE, "tag": "2.39"}))

    # Waited for in full: the panel says "Chose" before the UI has seen the status too.
    chose = f"Chose</dt><dd>{IMAGE}:2.40 <small>was {IMAGE}:2.39</small>"
    policy = await _page(ui, f"/object/ImagePolicy/{namespace}/agnhost", chose)
    assert "Rule</dt><dd>highest version in semver range &#39;&gt;=2.30.0&#39;" in policy
    assert "among tags matching" in policy and "(ordered by &#39;$minor&#39;)" in policy
    assert f"From scan</dt><dd>ImageRepository {namespace}/agnhost <small>42 tags at " \
        "2026-12-07T03:00:00Z; latest: 2.40, 2.39, 2.38" in policy
    await _page(ui, f"/object/ImageRepository/{namespace}/agnhost",
                f"Policy</dt><dd>{namespace}/agnhost: {IMAGE}:2.40")

    async with GitHTTPServer(tmp_path / "git") as srv:
        marker = f'# {{"$imagepolicy": "{namespace}:agnhost"}}'
        remote = srv.create_repo("apps.git", {
            "deploy.yaml": f"kind: Deployment\nimage: {IMAGE}:2.39 {marker}\n",
            "other.yaml": "kind: ConfigMap\n"})
        pushed = remote.commit({"deploy.yaml": f"kind: Deployment\nimage: {IMAGE}:2.40 {marker}\n"},
                               PUSHED)
        source = git_repository("apps", namespace)
        source["spec"]["url"] = srv.repo_url("apps.git")
        await ui.create(GIT_API, "GitRepository", source)
        await ui.create(IMAGE_API, "ImageUpdateAutomation", {
            "apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation",
            "metadata": {"name": "apps", "namespace": namespace},
            "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "apps"},
                     "git": {"checkout": {"ref": {"branch": "main"}},
                             "commit": {"author": {"name": "fluxcdbot",
                                                   "email": "bot@example.com"}},
                             "push": {"branch": "main"}},
                     "update": {"path": "./", "strategy": "Setters"}}})
        await ui.set_status(IMAGE_API, "ImageUpdateAutomation", namespace, "apps", ready(
            "True", "Succeeded", f"pushed commit '{pushed[:7]}' to branch 'main'",
            lastPushCommit=pushed, lastPushTime="2026-12-07T03:01:00Z",
            observedPolicies={"agnhost": {"name": IMAGE, "tag": "2.40"}}))
        path = f"/object/ImageUpdateAutomation/{namespace}/apps"
        auto = await _page(ui, path, f"Last push</dt><dd>{pushed}")
        assert f"Applied</dt><dd>agnhost: {IMAGE}:2.40" in auto
        assert f"Source</dt><dd>GitRepository/{namespace}/apps <small>push to branch main" \
            in auto
        fragment = await ui.page(f"{path}/commit")
        assert '<dd class="subject">Update agnhost to 2.40</dd>' in fragment
        assert "ImagePolicy apps/agnhost chose 2.40 (was 2.39)." in fragment
        # Which setter line the push rewrote, in which file (and no other file).
        changes = fragment.split("<h3>Setter changes</h3>", 1)[1]
        assert "<b>deploy.yaml</b> <small>M +1 −1</small>" in changes
        quoted = marker.replace('"', "&#34;")
        assert f'<span class="del">- image: {IMAGE}:2.39 {quoted}</span>' in changes
        assert f'<span class="add">+ image: {IMAGE}:2.40 {quoted}</span>' in changes
        assert "other.yaml" not in changes and "kind: Deployment" not in changes
