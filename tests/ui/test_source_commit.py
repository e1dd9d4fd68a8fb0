"""A source's page names the commit behind its revision: subject, message, author.

The Git remote is real (smart HTTP with basic auth, so the GitRepository's
Secret is used); the UI reads the commit itself, as no controller status
holds its author. An OCIRepository shows the annotations its artifact carries.
A commit on a known forge links to its page there.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sluice.kube.events import EventRecorder
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.polling import async_wait_for
from sluice.ui.source_commit import forge_commit_url

from .conftest import GIT_API, UI, git_repository, ready

MESSAGE = "Bump agnhost to 2.40\n\nThe new tag fixes the /healthz handler.\n"


async def test_git_and_oci_sources_show_the_commit_behind_the_revision(
        ui: UI, namespace: str, tmp_path: Path) -> None:
    async with GitHTTPServer(tmp_path / "git", username="git", password="s3cret-pw") as srv:
        repo = srv.create_repo("apps.git", {"app.yaml": "kind: ConfigMap\n"})
        sha = repo.commit({"app.yaml": "kind: ConfigMap\nmetadata: {name: x}\n"}, MESSAGE)
        secret_mapping = await ui.objects.mapping("v1", "Secret")
        await ui.objects.create(secret_mapping, {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "git-auth", "namespace": namespace},
            "data": {"username": base64.b64encode(b"git").decode(),
                     "password": base64.b64encode(b"s3cret-pw").decode()}})
        source = git_repository("apps", namespace)
        source["spec"].update(url=srv.repo_url("apps.git"), secretRef={"name": "git-auth"})
        created = await ui.create(GIT_API, "GitRepository", source)
        revision = f"main@sha1:{sha}"
        await ui.set_status(GIT_API, "GitRepository", namespace, "apps", ready(
            "True", "Succeeded", f"stored artifact for revision '{revision}'",
            artifact={"revision": revision, "digest": "sha256:" + "b" * 64, "path": "x",
                      "url": "http://x", "lastUpdateTime": "2026-12-06T10:00:00Z"}))
        await EventRecorder(ui.objects, "source-controller").normal(
            created, "NewArtifact", "stored artifact for commit 'Bump agnhost to 2.40'")
        page_path = f"/object/GitRepository/{namespace}/apps"

        async def with_subject() -> str | None:
            page = await ui.page(page_path)
            return page if "Commit</dt><dd>Bump agnhost to 2.40" in page else None
        page = await async_wait_for(with_subject, timeout=10, what="the commit subject")
        assert f'hx-get="{page_path}/commit"' in page
        fragment = await ui.page(f"{page_path}/commit")
        assert sha in fragment
        assert '<dd class="subject">Bump agnhost to 2.40</dd>' in fragment
        assert '<dd class="author">Sluice Test &lt;test@sluice.invalid&gt;</dd>' in fragment
        assert "The new tag fixes the /healthz handler." in fragment
        assert "s3cret-pw" not in fragment
        assert 'class="forge"' not in fragment  # a loopback remote is no known forge
        # The files the commit changed, with counts only: a source's lines may be secrets.
        files = fragment.split("<h3>Files changed</h3>", 1)[1]
        assert "<li><b>app.yaml</b> <small>M +1 −0</small></li>" in files
        assert "metadata: {name: x}" not in fragment
        # A second view is served from the cache: no new request to the remote.
        asked = len(srv.requests)
        assert "Sluice Test" in await ui.page(f"{page_path}/commit")
        assert len(srv.requests) == asked

    oci_api = "source.toolkit.fluxcd.io/v1"
    await ui.create(oci_api, "OCIRepository", {
        "apiVersion": oci_api, "kind": "OCIRepository",
        "metadata": {"name": "manifests", "namespace": namespace},
        "spec": {"interval": "5m", "url": "oci://registry.local/manifests",
                 "ref": {"tag": "latest"}}})
    await ui.set_status(oci_api, "OCIRepository", namespace, "manifests", ready(
        "True", "Succeeded", "stored artifact", artifact={
            "revision": "latest@sha256:" + "c" * 64, "digest": "sha256:" + "d" * 64,
            "path": "x", "url": "http://x", "lastUpdateTime": "2026-12-06T10:00:00Z",
            "metadata": {"org.opencontainers.image.revision": f"main@sha1:{sha}",
                         "org.opencontainers.image.source": "https://github.com/acme/apps"}}))

    async def annotated() -> str | None:
        page = await ui.page(f"/object/OCIRepository/{namespace}/manifests")
        return page if "Source</dt><dd>https://github.com/acme/apps" in page else None
    oci_page = await async_wait_for(annotated, timeout=10, what="the OCI annotations")
    assert f"Revision</dt><dd>main@sha1:{sha}" in oci_page


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("url", "link"), [
    ("https://github.com/fluxcd/flux2.git", f"https://github.com/fluxcd/flux2/commit/{SHA}"),
    ("ssh://git@github.com/org/apps", f"https://github.com/org/apps/commit/{SHA}"),
    ("git@gitlab.com:group/sub/apps.git", f"https://gitlab.com/group/sub/apps/-/commit/{SHA}"),
    ("https://bot:tok3n@gitlab.example.com:8443/g/apps",
     f"https://gitlab.example.com:8443/g/apps/-/commit/{SHA}"),
    ("https://bitbucket.org/team/apps.git", f"https://bitbucket.org/team/apps/commits/{SHA}"),
    ("ssh://git@ssh.dev.azure.com/v3/org/proj/apps",
     f"https://dev.azure.com/org/proj/_git/apps/commit/{SHA}"),
    ("https://codeberg.org/me/apps", f"https://codeberg.org/me/apps/commit/{SHA}"),
    ("https://git.example.com/apps.git", ""),  # unknown forge: no guessed link
])
def test_a_commit_links_to_its_forge_page_without_credentials(url: str, link: str) -> None:
    assert forge_commit_url(url, SHA) == link
