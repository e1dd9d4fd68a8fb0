"""Pull-request mode: the update goes to its own branch and one pull request, on GitHub and GitLab.

Against `sluice.testing.forge` (both REST dialects, repositories over smart
HTTP with the token as password): the first update opens a pull request
from the push branch to the checkout branch titled with the commit
message; a later update goes on top of the branch (a person's commit
pushed there meanwhile is kept, as Flux keeps it) and updates the same
request; the checkout branch is never written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluice.testing.forge import Forge

from .conftest import IMAGE_API, Harness

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost"


@pytest.mark.parametrize("dialect", ["github", "gitlab"])
async def test_updates_are_proposed_in_one_pull_request(harness: Harness, tmp_path: Path,
                                                        dialect: str) -> None:
    async with Forge(tmp_path / "forge") as forge:
        forge.add_user("alice", token="s3cret-token")
        repo = forge.create_repository("alice", "fleet", default_branch="main", files={
            "app.yaml": f'image: {AGNHOST}:2.39 # {{"$imagepolicy": "{harness.namespace}:agnhost"}}\n'})
        main = repo.head("main")
        await harness.secret("forge-auth", {"username": "alice", "password": "s3cret-token"})
        await harness.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                             "metadata": {"name": "repo"},
                             "spec": {"interval": "10m", "url": forge.clone_url("alice/fleet"),
                                      "ref": {"branch": "main"},
                                      "secretRef": {"name": "forge-auth"}}})
        await harness.policy("agnhost", AGNHOST, "2.10")
        annotations = {"sluice.dev/pull-request": "true",
                       "sluice.dev/pull-request-provider": dialect}
        spec: dict[str, Any] = {
            "interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "git": {"checkout": {"ref": {"branch": "main"}},
                    "commit": {"author": {"name": "FluxCD", "email": "flux@example.com"},
                               "messageTemplate": "Update agnhost\n\n"
                                                  "{{range .Updated.Images}}{{println .}}{{end}}"},
                    "push": {"branch": "flux/image-updates"}}}
        await harness.apply({"apiVersion": IMAGE_API, "kind": "ImageUpdateAutomation",
                             "metadata": {"name": "auto", "annotations": annotations},
                             "spec": spec})

        def pushed_to(tag: str) -> Any:
            return lambda o: (repo.files("flux/image-updates").get("app.yaml", "")
                              .startswith(f"image: {AGNHOST}:{tag} ")
                              and bool(repo.pulls)
                              and o["status"].get("lastPushCommit")
                              == repo.head("flux/image-updates"))

        await harness.wait_automation(pushed_to("2.10"), "the first proposal")
        assert [(p.head, p.base, p.title, p.state) for p in repo.pulls] == [
            ("flux/image-updates", "main", "Update agnhost", "open")]
        assert repo.pulls[0].body == f"Update agnhost\n\n{AGNHOST}:2.10\n"
        assert repo.head("main") == main
        messages = await harness.wait_for(
            lambda: harness.events("ImageUpdateAutomation", "auto"),
            lambda ms: any(m.startswith("pushed commit '") for m in ms), "the push event")
        number = repo.pulls[0].number
        assert any(f"to branch 'flux/image-updates' and opened pull request #{number} " in m
                   for m in messages), messages
        assert not any("s3cret-token" in m for m in messages)

        # a person fixes something on the pull request's branch meanwhile
        first = repo.head("flux/image-updates")
        fix = repo.git.commit({"NOTES.md": "reviewed\n"}, "review fix",
                              branch="flux/image-updates")
        await harness.policy("agnhost", AGNHOST, "2.11")
        await harness.wait_automation(pushed_to("2.11"), "the proposal updated")
        await harness.wait_for(lambda: _async(repo.pulls[0].body), lambda b: "2.11" in b,
                               "the pull request body updated")
        assert len(repo.pulls) == 1
        assert repo.head("main") == main
        # as Flux: the update goes on top of the branch, the person's fix is kept
        assert [c[0] for c in repo.log("flux/image-updates")][1:4] == [fix, first, main]
        assert repo.files("flux/image-updates")["NOTES.md"] == "reviewed\n"


async def _async(value: Any) -> Any:
    return value
