"""``sluice create source git|helm|bucket`` without ``--secret-ref``: the generated Secret.

As with flux, credentials given on the command line become a Secret the
source points at (an SSH deploy key and the server's host key, or basic
auth), created before the source, which then reconciles with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.kube.config import connect
from sluice.kube.errors import KubeError
from sluice.kube.objects import Objects
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.sshgit import GitSSHServer

from .conftest import BackgroundControllers, BackgroundGit, run_sluice

API = "source.toolkit.fluxcd.io/v1"


def _get(kubeconfig: Path, api: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    async def main() -> dict[str, Any] | None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            mapping = await objects.mapping(api, kind)
            try:
                return await objects.get(mapping, name, namespace)
            except KubeError:
                return None
        finally:
            await conn.aclose()

    return asyncio.run(main())


@pytest.fixture
def private_git(tmp_path: Path) -> Iterator[GitHTTPServer]:
    bg = BackgroundGit(GitHTTPServer(tmp_path / "git", username="git", password="s3cret-pw"))
    try:
        yield bg.start()
    finally:
        bg.stop()


def test_ssh_url_gets_a_deploy_key_secret(kubeconfig: Path, namespace: str, tmp_path: Path,
                                          controllers: BackgroundControllers,
                                          ssh_server: GitSSHServer,
                                          ssh_keys: tuple[str, str]) -> None:
    repo = ssh_server.create_repo("apps.git", {"README.md": "apps\n"})
    key_file = tmp_path / "identity"
    key_file.write_text(ssh_keys[0])
    r = run_sluice(kubeconfig, "create", "source", "git", "apps",
                   f"--url={ssh_server.repo_url('apps.git')}", "--branch=main",
                   f"--private-key-file={key_file}", "-n", namespace, "--timeout=60s",
                   input="y\n")
    assert r.ok, r
    lines = r.stderr.splitlines()
    assert lines[0] == "✚ generating GitRepository source"
    assert lines[1] == "✔ collected public key from SSH server:"
    assert lines[2].startswith(f"[127.0.0.1]:{ssh_server.port} ")
    assert lines[3] == f"✚ deploy key: {ssh_keys[1]}"
    assert lines[4].startswith("Have you added the deploy key to your repository [y/N]:")
    assert lines[5:8] == ["► applying secret with repository credentials",
                          "✔ authentication configured", "► applying GitRepository source"]
    assert lines[-1] == f"✔ fetched revision: main@sha1:{repo.head()}"
    assert "PRIVATE KEY" not in r.stdout + r.stderr
    secret = _get(kubeconfig, "v1", "Secret", "apps", namespace)
    assert secret is not None
    source = _get(kubeconfig, API, "GitRepository", "apps", namespace)
    assert source is not None and source["spec"]["secretRef"] == {"name": "apps"}


def test_declining_the_deploy_key_prompt_creates_nothing(kubeconfig: Path, namespace: str,
                                                         ssh_server: GitSSHServer) -> None:
    r = run_sluice(kubeconfig, "create", "source", "git", "apps",
                   f"--url={ssh_server.repo_url('apps.git')}", "--branch=main",
                   "-n", namespace, "--timeout=10s", input="n\n")
    assert r.code == 1
    # A fresh ECDSA P-384 key pair is generated when no key file is given.
    assert "✚ deploy key: ecdsa-sha2-nistp384 " in r.stderr
    assert r.stderr.endswith("✗ aborting\n")
    assert _get(kubeconfig, "v1", "Secret", "apps", namespace) is None
    assert _get(kubeconfig, API, "GitRepository", "apps", namespace) is None


def test_https_basic_auth_gets_a_secret(kubeconfig: Path, namespace: str,
                                        controllers: BackgroundControllers,
                                        private_git: GitHTTPServer) -> None:
    repo = private_git.create_repo("apps.git", {"README.md": "apps\n"})
    url = private_git.repo_url("apps.git")
    r = run_sluice(kubeconfig, "create", "source", "git", "apps", f"--url={url}",
                   "--branch=main", "-u", "git", "-p", "s3cret-pw", "-n", namespace,
                   "--timeout=60s")
    assert r.ok, r
    assert r.stderr.splitlines()[:5] == [
        "✚ generating GitRepository source",
        "⚠️ insecure configuration: credentials configured for an HTTP URL",
        "► applying secret with repository credentials",
        "✔ authentication configured",
        "► applying GitRepository source"]
    assert r.stderr.endswith(f"✔ fetched revision: main@sha1:{repo.head()}\n")
    assert "s3cret-pw" not in r.stderr
    source = _get(kubeconfig, API, "GitRepository", "apps", namespace)
    assert source is not None and source["spec"]["secretRef"] == {"name": "apps"}


def test_export_prints_the_source_alone(kubeconfig: Path) -> None:
    r = run_sluice(kubeconfig, "create", "source", "git", "apps",
                   "--url=https://example.com/apps.git", "--branch=main", "-u", "git",
                   "-p", "s3cret-pw", "--export")
    assert r.ok, r
    assert "kind: Secret" not in r.stdout and "s3cret-pw" not in r.stdout
    assert "secretRef" not in r.stdout


@pytest.mark.parametrize(("command", "secret_name", "keys"), [
    (("helm", "--url=https://charts.example.com", "-u", "me", "-p", "pw"),
     "helm-repo", {"username", "password"}),
    (("bucket", "--bucket-name=b", "--endpoint=minio.example.com", "--access-key=ak",
      "--secret-key=sk"), "bucket-repo", {"accesskey", "secretkey"}),
])
def test_helm_and_bucket_credentials_get_a_secret(kubeconfig: Path, namespace: str,
                                                  command: tuple[str, ...], secret_name: str,
                                                  keys: set[str]) -> None:
    # No controller reconciles these here: the wait ends at the timeout, after the objects.
    r = run_sluice(kubeconfig, "create", "source", *command[:1], "repo", *command[1:],
                   "-n", namespace, "--timeout=1s")
    assert "✔ authentication configured\n" in r.stderr, r
    secret = _get(kubeconfig, "v1", "Secret", secret_name, namespace)
    assert secret is not None and set(secret["data"]) == keys
    kind = "HelmRepository" if command[0] == "helm" else "Bucket"
    source = _get(kubeconfig, API, kind, "repo", namespace)
    assert source is not None and source["spec"]["secretRef"] == {"name": secret_name}
