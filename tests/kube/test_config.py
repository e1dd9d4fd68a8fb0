"""Loading a kubeconfig: the session cluster's file works, broken ones name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.kube.config import connect, load_config
from sluice.kube.errors import ConfigError, NoKindMatch
from sluice.kube.objects import Objects


async def test_the_embedded_cluster_kubeconfig_connects(kubeconfig: Path) -> None:
    conn = connect(kubeconfig)
    try:
        assert conn.server.startswith("https://127.0.0.1:")
        assert str(kubeconfig) in conn.source and "context sluice" in conn.source
        objects = Objects(conn)
        m = await objects.mapping("v1", "Namespace")
        assert (m.plural, m.namespaced) == ("namespaces", False)
        assert (await objects.get(m, "default"))["metadata"]["name"] == "default"
        flux = await objects.mapping("source.toolkit.fluxcd.io/v1", "GitRepository")
        assert (flux.plural, flux.namespaced, flux.has_status) == ("gitrepositories", True, True)
        with pytest.raises(NoKindMatch, match='no matches for kind "Nope" in version "v1"'):
            await objects.mapping("v1", "Nope")
        with pytest.raises(NoKindMatch):
            await objects.mapping("example.com/v9", "Thing")
    finally:
        await conn.aclose()


def test_kubeconfig_from_the_environment(kubeconfig: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", f"/nonexistent/config:{kubeconfig}")
    config, source = load_config()
    assert config.context_name == "sluice"
    assert str(kubeconfig) in source


@pytest.mark.parametrize(("content", "message"), [
    (None, "kubeconfig {path} not found"),
    ("clusters: [", "kubeconfig {path} is not valid YAML (line 1)"),
    ("- just a list\n", "kubeconfig {path} is not a kubeconfig document"),
    ("apiVersion: v1\nkind: Config\nclusters: []\n", "kubeconfig {path} has no clusters"),
])
def test_unusable_files_are_named(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "config"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == message.format(path=path)


def test_unknown_context_is_named(kubeconfig: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(kubeconfig, "prod")
    assert str(err.value) == f"kubeconfig {kubeconfig} has no context 'prod'"
