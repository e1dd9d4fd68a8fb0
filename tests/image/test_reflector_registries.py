"""The reflector against real registries: docker-registry with htpasswd, failures, access rules."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sluice.testing.registry import DockerRegistry, FixtureRegistry

from .conftest import IMAGE_V1, Reflector, dockerconfigjson, policy_yaml, ready, repository_yaml


async def test_basic_auth_pull_secret_semver_and_digest(reflector: Reflector, namespace: str,
                                                         tmp_path: Path) -> None:
    async with DockerRegistry(tmp_path / "reg", username="robot", password="s3cret-pw") as reg:
        for tag in ("1.0.0", "1.1.0", "1.2.0-rc.1", "v2.0.0"):
            await reg.apush_image("team/app", tag)
        image = f"{reg.host}/team/app"
        # First without the Secret: the scan is refused, with the registry's words.
        await reflector.apply(repository_yaml("app", image, api=IMAGE_V1, insecure=True,
                                              secretRef={"name": "pull"}), namespace)
        repo = await reflector.wait_ready("ImageRepository", namespace, "app", "False",
                                          "AuthenticationFailed")
        assert ready(repo)[2] == (  # type: ignore[index]
            f"failed to configure authentication options: failed to get secret "
            f"'{namespace}/pull': secrets \"pull\" not found")
        await reflector.secret(namespace, "pull", dockerconfigjson(reg.host, "robot", "wrong"))
        await reflector.request("ImageRepository", namespace, "app")
        repo = await reflector.wait_ready("ImageRepository", namespace, "app", "False",
                                          "ReadOperationFailed")
        assert "scan failed: " in ready(repo)[2] and "UNAUTHORIZED" in ready(repo)[2]  # type: ignore[index]
        await reflector.secret(namespace, "pull", dockerconfigjson(reg.host, "robot",
                                                                   "s3cret-pw"))
        await reflector.request("ImageRepository", namespace, "app")
        repo = await reflector.wait_ready("ImageRepository", namespace, "app")
        assert repo["status"]["lastScanResult"]["tagCount"] == 4

        await reflector.apply(policy_yaml("app", "app", {"semver": {"range": ">=1.0.0"}},
                                          api=IMAGE_V1, digestReflectionPolicy="IfNotPresent"),
                              namespace)
        pol = await reflector.wait_ready("ImagePolicy", namespace, "app")
        digest = await reg.apush_image("team/app", "v2.0.0")  # same bytes: same digest
        assert pol["status"]["latestRef"] == {"name": image, "tag": "v2.0.0", "digest": digest}
        assert ready(pol)[2] == (f"Latest image tag for {image} resolved to v2.0.0 "  # type: ignore[index]
                                 f"with digest {digest}")
        # Prereleases need a prerelease range, as with Masterminds.
        await reflector.patch("ImagePolicy", namespace, "app",
                              {"spec": {"policy": {"semver": {"range": "~1.2.0-0"}}}})
        pol = await reflector.wait_ready("ImagePolicy", namespace, "app", contains="1.2.0-rc.1")

    # No password anywhere a user or an alert could see it.
    events = await reflector.events(namespace, "ImageRepository", "app")
    seen = json.dumps([e["message"] for e in events]) + json.dumps(repo) + json.dumps(pol)
    assert "s3cret-pw" not in seen and "wrong" not in seen.replace("wrong:", "")


async def test_failures_keep_the_last_scan(reflector: Reflector, namespace: str) -> None:
    async with FixtureRegistry() as reg:
        reg.set_tags("org/app", ["1.0.0", "1.0.1"])
        image = f"{reg.host}/org/app"
        await reflector.apply(repository_yaml("app", image, api=IMAGE_V1, timeout="1s"),
                              namespace)
        good = (await reflector.wait_ready("ImageRepository", namespace, "app"))["status"]
        for failure, words in (("500", f"scan failed: GET {reg.url}/v2/: UNKNOWN: boom"),
                               ("slow", "context deadline exceeded"),
                               ("garbage", "invalid character '<' looking for beginning")):
            reg.failure = failure  # type: ignore[assignment]
            reg.slow_seconds = 3
            await reflector.request("ImageRepository", namespace, "app")
            repo = await reflector.wait_ready("ImageRepository", namespace, "app", "False",
                                              "ReadOperationFailed", contains=words)
            assert repo["status"]["lastScanResult"] == good["lastScanResult"]
        reg.failure = None
        await reflector.request("ImageRepository", namespace, "app")
        await reflector.wait_ready("ImageRepository", namespace, "app")

    await reflector.apply(repository_yaml("bad", "ghcr.io/org/app:v1", api=IMAGE_V1), namespace)
    bad = await reflector.wait("ImageRepository", namespace, "bad",
                               lambda o: (ready(o) or ("",))[0] == "False", "stalled")
    stalled = [c for c in bad["status"]["conditions"] if c["type"] == "Stalled"]
    assert stalled and stalled[0]["reason"] == "ImageURLInvalid"
    assert stalled[0]["message"] == ("image 'ghcr.io/org/app:v1' should not include a tag; "
                                     "remove ':v1'")


async def test_cross_namespace_policy_needs_access_from(reflector: Reflector, namespace: str,
                                                        api: object) -> None:
    async with FixtureRegistry() as reg:
        reg.set_tags("org/app", ["1.0", "1.5", "2.0"])
        other = namespace + "-tenant"
        await reflector.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": other,
                                                           "labels": {"team": "a"}}}), other)
        try:
            await reflector.apply(repository_yaml("app", f"{reg.host}/org/app", api=IMAGE_V1),
                                  namespace)
            await reflector.wait_ready("ImageRepository", namespace, "app")
            await reflector.apply(policy_yaml("app", "app", {"alphabetical": {}}, api=IMAGE_V1)
                                  .replace("name: app\n  policy", f"name: app\n    namespace: {namespace}\n  policy"),
                                  other)
            pol = await reflector.wait_ready("ImagePolicy", other, "app", "False", "AccessDenied")
            assert "can't be accessed due to missing ACL labels on 'accessFrom'" in ready(pol)[2]  # type: ignore[index]
            await reflector.patch("ImageRepository", namespace, "app", {"spec": {"accessFrom": {
                "namespaceSelectors": [{"matchLabels": {"team": "a"}}]}}})
            await reflector.patch("ImagePolicy", other, "app",
                                  {"spec": {"policy": {"alphabetical": {"order": "desc"}}}})
            pol = await reflector.wait_ready("ImagePolicy", other, "app")
            assert pol["status"]["latestRef"]["tag"] == "1.0"
        finally:
            m = await reflector.objects.mapping("v1", "Namespace")
            await reflector.objects.delete(m, other)
