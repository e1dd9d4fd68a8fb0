"""The OCI client against real registries: Debian's docker-registry and the fixture registry."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sluice.oci.client import ClientOptions, RegistryClient
from sluice.oci.credentials import Credentials, parse_dockerconfigjson
from sluice.oci.errors import (
    AuthenticationFailed,
    InvalidReference,
    InvalidResponse,
    RegistryError,
    TransportError,
)
from sluice.oci.names import parse_image, parse_reference
from sluice.testing.registry import DockerRegistry, FixtureRegistry, free_port


@pytest.mark.parametrize(("image", "canonical"), [
    ("alpine", "index.docker.io/library/alpine"),
    ("stefanprodan/podinfo", "index.docker.io/stefanprodan/podinfo"),
    ("docker.io/library/alpine", "index.docker.io/library/alpine"),
    ("registry.k8s.io/e2e-test-images/agnhost", "registry.k8s.io/e2e-test-images/agnhost"),
    ("localhost:5000/app", "localhost:5000/app"),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"),
])
def test_canonical_names_as_flux(image: str, canonical: str) -> None:
    assert str(parse_image(image)) == canonical


@pytest.mark.parametrize(("image", "message"), [
    ("https://ghcr.io/org/app", "image 'https://ghcr.io/org/app' should not include URL scheme; remove 'https://'"),
    ("ghcr.io/org/app:v1", "image 'ghcr.io/org/app:v1' should not include a tag; remove ':v1'"),
    ("localhost:5000/app:1.0", "image 'localhost:5000/app:1.0' should not include a tag; remove ':1.0'"),
    ("Ghcr.io/Org/App", "could not parse reference: Ghcr.io/Org/App"),
])
def test_image_refused_with_flux_message(image: str, message: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_image(image)
    assert str(err.value) == message


def test_reference_with_tag_and_digest() -> None:
    ref = parse_reference("ghcr.io/org/app:1.2.3")
    assert (str(ref.repository), ref.tag) == ("ghcr.io/org/app", "1.2.3")


def test_dockerconfigjson_matches_host_forms() -> None:
    auth = base64.b64encode(b"user:s3cret").decode()
    chain = parse_dockerconfigjson(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "http://127.0.0.1:5000": {"username": "u2", "password": "p2"},
    }}))
    assert chain.resolve("index.docker.io") == Credentials("user", "s3cret")
    assert chain.resolve("127.0.0.1:5000").username == "u2"
    assert chain.resolve("ghcr.io").anonymous
    assert "s3cret" not in repr(chain)


async def test_tags_and_digest_from_docker_registry_with_basic_auth(tmp_path: Path) -> None:
    async with DockerRegistry(tmp_path / "reg", username="user", password="s3cret") as reg:
        digest = await reg.apush_image("e2e/agnhost", "2.10")
        await reg.apush_image("e2e/agnhost", "2.57")
        repo = parse_image(f"{reg.host}/e2e/agnhost", insecure=True)
        good = ClientOptions(credentials=Credentials("user", "s3cret"))
        async with RegistryClient(repo, good) as client:
            assert sorted(await client.list_tags()) == ["2.10", "2.57"]
            assert await client.head_digest("2.10") == digest
        for creds in (Credentials(), Credentials("user", "wrong")):
            async with RegistryClient(repo, ClientOptions(credentials=creds)) as client:
                with pytest.raises(AuthenticationFailed) as err:
                    await client.list_tags()
            assert "UNAUTHORIZED" in str(err.value)
            assert "wrong" not in str(err.value)


async def test_bearer_challenge_and_every_page() -> None:
    async with FixtureRegistry(bearer=True, page_size=7) as reg:
        tags = [f"1.0.{i}" for i in range(50)]
        reg.set_tags("org/app", tags)
        async with RegistryClient(parse_image(f"{reg.host}/org/app")) as client:
            got = await client.list_tags()
            digest = await client.head_digest("1.0.3")
    assert sorted(got) == sorted(tags)
    assert reg.tag_list_calls == 8  # 50 tags, 7 a page
    assert digest == reg.digest("org/app", "1.0.3")
    assert reg.requests[("GET", "/token")] == 1


async def test_bearer_token_refused_with_credentials_kept_secret() -> None:
    async with FixtureRegistry(bearer=True, username="robot", password="hunter2") as reg:
        reg.set_tags("org/app", ["1.0.0"])
        repo = parse_image(f"{reg.host}/org/app")
        async with RegistryClient(repo, ClientOptions(credentials=Credentials("robot", "nope"))) as client:
            with pytest.raises(AuthenticationFailed) as err:
                await client.list_tags()
        assert "nope" not in str(err.value)
        async with RegistryClient(repo, ClientOptions(credentials=Credentials("robot", "hunter2"))) as client:
            assert await client.list_tags() == ["1.0.0"]


async def test_failures_are_named() -> None:
    async with FixtureRegistry() as reg:
        reg.set_tags("org/app", ["1.0.0"])
        repo = parse_image(f"{reg.host}/org/app")
        reg.failure = "500"
        async with RegistryClient(repo) as client:
            with pytest.raises(RegistryError) as err:
                await client.list_tags()
        assert str(err.value) == f"GET {reg.url}/v2/: UNKNOWN: boom"
        reg.failure = "garbage"
        async with RegistryClient(repo) as client:
            with pytest.raises(InvalidResponse) as garbage:
                await client.list_tags()
        assert "invalid character '<' looking for beginning of value" in str(garbage.value)
        reg.failure = "slow"
        reg.slow_seconds = 2
        async with RegistryClient(repo, ClientOptions(timeout=0.2)) as client:
            with pytest.raises(TransportError) as slow:
                await client.list_tags()
        assert "context deadline exceeded" in str(slow.value)
    repo = parse_image(f"127.0.0.1:{free_port()}/org/app")
    async with RegistryClient(repo) as client:
        with pytest.raises(TransportError) as refused:
            await client.list_tags()
    assert "connection refused" in str(refused.value)
