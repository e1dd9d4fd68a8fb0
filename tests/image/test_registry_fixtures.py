"""The loopback registries the image and Helm OCI tests stand on behave as registries do."""

from __future__ import annotations

from pathlib import Path

import httpx

from sluice.testing.registry import DockerRegistry, FixtureRegistry


async def test_docker_registry_push_then_list_and_head(tmp_path: Path) -> None:
    async with DockerRegistry(tmp_path / "reg") as reg:
        digest = await reg.apush_image("e2e/agnhost", "2.10")
        await reg.apush_image("e2e/agnhost", "2.57")
        async with httpx.AsyncClient(base_url=reg.url) as client:
            tags = (await client.get("/v2/e2e/agnhost/tags/list")).json()["tags"]
            head = await client.head("/v2/e2e/agnhost/manifests/2.10",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert sorted(tags) == ["2.10", "2.57"]
    assert head.headers["Docker-Content-Digest"] == digest


async def test_docker_registry_with_htpasswd_refuses_anonymous(tmp_path: Path) -> None:
    async with DockerRegistry(tmp_path / "reg", username="user", password="s3cret") as reg:
        await reg.apush_image("app", "1.0.0")
        async with httpx.AsyncClient(base_url=reg.url) as client:
            anonymous = await client.get("/v2/app/tags/list")
            wrong = await client.get("/v2/app/tags/list", auth=("user", "nope"))
            right = await client.get("/v2/app/tags/list", auth=("user", "s3cret"))
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert wrong.status_code == 401
    assert right.json()["tags"] == ["1.0.0"]


async def test_fixture_registry_pages_and_bearer_challenge() -> None:
    async with FixtureRegistry(bearer=True, page_size=2) as reg:
        reg.set_tags("e2e/agnhost", ["2.10", "2.57", "2.9", "latest", "2.57.sig"])
        async with httpx.AsyncClient(base_url=reg.url) as client:
            challenge = await client.get("/v2/e2e/agnhost/tags/list")
            assert challenge.status_code == 401
            www = challenge.headers["WWW-Authenticate"]
            assert www.startswith(f'Bearer realm="{reg.url}/token"')
            assert 'scope="repository:e2e/agnhost:pull"' in www
            token = (await client.get("/token")).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            seen: list[str] = []
            url: str | None = "/v2/e2e/agnhost/tags/list?n=100"
            while url:
                page = await client.get(url, headers=auth)
                seen += page.json()["tags"]
                link = page.headers.get("Link")
                url = link.split(";")[0].strip("<>") if link else None
            head = await client.head("/v2/e2e/agnhost/manifests/2.10", headers=auth)
    assert seen == ["2.10", "2.57", "2.57.sig", "2.9", "latest"]
    assert reg.tag_list_calls == 3
    assert head.headers["Docker-Content-Digest"] == reg.digest("e2e/agnhost", "2.10")


async def test_fixture_registry_failures() -> None:
    async with FixtureRegistry() as reg:
        reg.set_tags("app", ["1.0"])
        async with httpx.AsyncClient(base_url=reg.url) as client:
            reg.failure = "500"
            assert (await client.get("/v2/app/tags/list")).status_code == 500
            reg.failure = "garbage"
            assert (await client.get("/v2/app/tags/list")).text.startswith("<html>")
            reg.failure = None
            assert (await client.get("/v2/missing/tags/list")).status_code == 404
