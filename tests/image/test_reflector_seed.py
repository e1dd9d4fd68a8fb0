"""The seed's agnhost flow on the image reflector: scan, numerical desc -> 2.10, asc -> 2.57."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from sluice.testing.polling import async_wait_for
from sluice.testing.registry import FixtureRegistry

from .conftest import (
    AGNHOST_TAGS,
    IMAGE_V1BETA2,
    Reflector,
    policy_yaml,
    ready,
    repository_yaml,
    start_reflector,
)


async def test_seed_scan_then_policies_then_restart_without_rescan(
        reflector: Reflector, namespace: str, kubeconfig: Path, tmp_path: Path) -> None:
    async with FixtureRegistry(bearer=True, page_size=10) as reg:
        reg.set_tags("e2e-test-images/agnhost", AGNHOST_TAGS)
        image = f"{reg.host}/e2e-test-images/agnhost"
        await reflector.apply(repository_yaml("agnhost", image), namespace)
        repo = await reflector.wait_ready("ImageRepository", namespace, "agnhost")
        status = repo["status"]
        stored = sorted((t for t in AGNHOST_TAGS if not t.endswith(".sig")), reverse=True)
        revision = str(zlib.adler32(json.dumps(stored, separators=(",", ":")).encode()))
        assert status["lastScanResult"]["tagCount"] == 33
        assert status["lastScanResult"]["revision"] == revision
        assert status["lastScanResult"]["latestTags"] == [
            "latest", "2.9", "2.8", "2.57", "2.56", "2.55", "2.54", "2.53", "2.52", "2.51"]
        assert status["canonicalImageName"] == image
        assert status["observedExclusionList"] == ["^.*\\.sig$"]
        assert ready(repo) == ("True", "Succeeded",
                               f"successful scan: found 33 tags with checksum {revision}")
        scans = reg.tag_list_calls
        assert scans == 4  # 34 tags, 10 a page

        await reflector.apply(policy_yaml("agnhost", "agnhost", {"numerical": {"order": "desc"}},
                                          filterTags={"pattern": r"\d\.\d\d"}), namespace)
        pol = await reflector.wait_ready("ImagePolicy", namespace, "agnhost")
        assert pol["status"]["latestRef"] == {"name": image, "tag": "2.10"}
        assert ready(pol) == ("True", "Succeeded",
                              f"Latest image tag for {image} resolved to 2.10")
        beta = await reflector.get("ImagePolicy", namespace, "agnhost", IMAGE_V1BETA2)
        assert beta is not None and beta["status"]["latestImage"] == f"{image}:2.10"

        await reflector.patch("ImagePolicy", namespace, "agnhost",
                              {"spec": {"policy": {"numerical": {"order": "asc"}}}})
        pol = await reflector.wait_ready("ImagePolicy", namespace, "agnhost", contains="2.57")
        assert pol["status"]["latestRef"]["tag"] == "2.57"
        assert pol["status"]["observedPreviousRef"] == {"name": image, "tag": "2.10"}
        assert ready(pol)[2] == (f"Latest image tag for {image} resolved to 2.57 "  # type: ignore[index]
                                 f"(previously {image}:2.10)")
        messages = [e["message"] for e in await reflector.events(namespace, "ImagePolicy",
                                                                 "agnhost")]
        assert f"Latest image tag for {image} resolved to 2.10" in messages
        assert any("resolved to 2.57 (previously" in m for m in messages)
        assert reg.tag_list_calls == scans  # the policy never asks the registry

    # Restart: the tags are on disk, the interval has not elapsed: no scan.
    await reflector.manager.shutdown()
    async with FixtureRegistry(bearer=True) as down:
        assert down.port  # the old registry is gone; a rescan would fail
        async with start_reflector(kubeconfig, tmp_path / "tags") as again:
            await again.patch("ImagePolicy", namespace, "agnhost",
                              {"spec": {"policy": {"numerical": {"order": "desc"}}}})
            pol = await again.wait_ready("ImagePolicy", namespace, "agnhost", contains="2.10 (")

            async def reused() -> bool:
                return any(e["message"].startswith("no change in repository configuration "
                                                   "since last scan, next scan in ")
                           for e in await again.events(namespace, "ImageRepository", "agnhost"))

            await async_wait_for(reused, what="the restarted reflector reusing stored tags")
            repo2 = await again.get("ImageRepository", namespace, "agnhost")
            assert ready(repo2) == ready(repo)
            assert repo2 is not None and repo2["status"]["lastScanResult"] == status["lastScanResult"]
