"""``sluice bootstrap github|gitlab`` against the forge fixture, with the controllers running.

The seed's command (``--token-auth --owner ... --personal``) with ``--hostname``
at a TLS forge holding nothing yet: the repository is created, the manifests
committed with flux's messages, the cluster syncs, and the printed progress is
the seed's (golden). A re-run changes nothing. The same over SSH with a deploy
key registered through the API (host key pinned from the forge's SSH server),
for a GitHub organisation and a GitLab group; a stale key of the same title is
replaced. Errors are one line: a bad token, someone else's repository, a forge
that is down, a spent rate limit.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.testing.forge import Forge
from sluice.testing.tls import loopback_tls

from .conftest import BackgroundControllers, BackgroundGit, golden, run_sluice
from .test_bootstrap import _secret

TOKEN = "ghp_TestToken0123456789abcdefghijklmnop"
RUNNING = "--components=source-controller,kustomize-controller"

# The seed's output of `flux bootstrap github` (its repository existed and held the
# manifests already), for the components this test's process runs.
SEED_OUTPUT = """\
► connecting to github.com
► cloning branch "main" from Git repository "https://github.com/papaFrancky/k8s-kind-fluxcd.git"
✔ cloned repository
► generating component manifests
✔ generated component manifests
✔ component manifests are up to date
✔ reconciled components
► determining if source secret "flux-system/flux-system" exists
► generating source secret
► applying source secret "flux-system/flux-system"
✔ reconciled source secret
► generating sync manifests
✔ generated sync manifests
✔ sync manifests are up to date
► applying sync manifests
✔ reconciled sync configuration
◎ waiting for Kustomization "flux-system/flux-system" to be reconciled
✔ Kustomization reconciled successfully
► confirming components are healthy
✔ kustomize-controller: deployment ready
✔ source-controller: deployment ready
✔ all components are healthy
"""


def _in_seed_order(output: str, forge: Forge, namespace: str) -> None:
    """Every line the seed prints appears in `output`, in the seed's order."""
    seed = (SEED_OUTPUT.replace("github.com", forge.hostname).replace("papaFrancky", "alice")
            .replace('secret "flux-system/', f'secret "{namespace}/')
            .replace("flux-system/flux-system", f"{namespace}/{namespace}"))
    lines = iter(output.splitlines())
    for wanted in seed.splitlines():
        assert any(line == wanted for line in lines), f"missing or out of order: {wanted}"


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[tuple[Forge, Path]]:
    tls = loopback_tls(tmp_path / "pki")
    bg = BackgroundGit(Forge(tmp_path / "forge", ssl_context=tls.context))
    server: Forge = bg.start()
    server.add_user("alice", token=TOKEN)
    server.add_user("mallory", token="mallory-token")
    server.add_org("acme", members={"alice": "admin"})
    try:
        yield server, tls.ca_file
    finally:
        bg.stop()


def _mask(text: str, forge: Forge, namespace: str) -> str:
    text = text.replace(forge.hostname, "<forge>").replace(namespace, "<ns>")
    if forge.ssh is not None:
        text = text.replace(forge.ssh_hostname, "<ssh>")
    text = re.sub(r"\b[0-9a-f]{40}\b", "<sha>", text)
    return re.sub(r"(public key: )\S+ \S+", r"\1<key>", text)


def _delete_secret(kubeconfig: Path, namespace: str) -> None:
    async def main() -> None:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            await objects.delete(await objects.mapping("v1", "Secret"), "flux-system",
                                 namespace)
        finally:
            await conn.aclose()

    asyncio.run(main())


def test_seed_bootstrap_github_with_token_auth_from_an_empty_forge(
        kubeconfig: Path, namespace: str, controllers: BackgroundControllers,
        forge: tuple[Forge, Path]) -> None:
    server, ca_file = forge
    seed = ("bootstrap", "github", "--token-auth", "--owner", "alice", "--repository",
            "k8s-kind-fluxcd", "--branch=main", "--path=.", "--personal",
            f"--hostname={server.hostname}", f"--ca-file={ca_file}", "-n", namespace,
            "--timeout=60s")
    env = {"GITHUB_TOKEN": TOKEN}
    r = run_sluice(kubeconfig, *seed, RUNNING, env=env)
    assert r.ok, r
    golden("bootstrap-github-first.txt", _mask(r.stderr, server, namespace))
    repo = server.repository("alice/k8s-kind-fluxcd")
    assert repo is not None and repo.private
    assert sorted(repo.files()) == ["flux-system/gotk-components.yaml",
                                    "flux-system/gotk-sync.yaml",
                                    "flux-system/kustomization.yaml"]
    assert [(author, message) for _, author, message in repo.log()] == [
        ("Flux", "Add Flux sync manifests"), ("Flux", "Add Flux v0.1.0 component manifests")]
    sync = repo.files()["flux-system/gotk-sync.yaml"]
    assert f"url: https://{server.hostname}/alice/k8s-kind-fluxcd.git\n" in sync
    secret = _secret(kubeconfig, namespace)
    assert (secret["username"], secret["password"]) == ("git", TOKEN)
    assert secret["ca.crt"] == ca_file.read_text()
    assert TOKEN not in r.stdout + r.stderr
    assert not any(TOKEN in blob for blob in repo.files().values())
    head = repo.head()
    assert head is not None
    r = run_sluice(kubeconfig, "get", "kustomizations", "-n", namespace, "--no-header")
    assert f"Applied revision: main@sha1:{head[:8]}" in r.stdout, r

    # Running it again changes nothing.
    calls = len(server.calls)
    r = run_sluice(kubeconfig, *seed, RUNNING, env=env)
    assert r.ok, r
    golden("bootstrap-github-again.txt", _mask(r.stderr, server, namespace))
    _in_seed_order(r.stderr, server, namespace)
    assert repo.head() == head
    assert _secret(kubeconfig, namespace)["resourceVersion"] == secret["resourceVersion"]
    assert [c.method for c in server.calls[calls:]] == ["GET"]

    # The seed's own components: the image controllers and helm/notification do not run
    # in this process, and bootstrap says so instead of a green line.
    r = run_sluice(kubeconfig, *seed,
                   "--components-extra=image-reflector-controller,image-automation-controller",
                   env=env)
    assert r.code == 1 and "► confirming components are healthy\n" in r.stderr, r
    tail = r.stderr.split("► confirming components are healthy\n", 1)[1]
    assert tail == (
        "✗ helm-controller: not running: no process runs this controller against the "
        "embedded cluster\n"
        "✗ image-automation-controller: not running: no process runs this controller "
        "against the embedded cluster\n"
        "✗ image-reflector-controller: not running: no process runs this controller "
        "against the embedded cluster\n"
        "✔ kustomize-controller: deployment ready\n"
        "✗ notification-controller: not running: no process runs this controller against "
        "the embedded cluster\n"
        "✔ source-controller: deployment ready\n"
        "✗ 4 requested component(s) not running: helm-controller, "
        "image-automation-controller, image-reflector-controller, notification-controller "
        "(Sluice's controller processes run: kustomize-controller, source-controller)\n")


def test_bootstrap_github_org_with_a_deploy_key_over_ssh(
        kubeconfig: Path, namespace: str, controllers: BackgroundControllers,
        forge: tuple[Forge, Path]) -> None:
    server, ca_file = forge
    args = ("bootstrap", "github", "--owner=acme", "--repository=fleet",
            "--path=clusters/dev", f"--hostname={server.hostname}",
            f"--ssh-hostname={server.ssh_hostname}", f"--ca-file={ca_file}", RUNNING,
            "-n", namespace, "--timeout=60s")
    env = {"GITHUB_TOKEN": TOKEN}
    r = run_sluice(kubeconfig, *args, env=env)
    assert r.ok, r
    golden("bootstrap-github-ssh.txt", _mask(r.stderr, server, namespace))
    repo = server.repository("acme/fleet")
    assert repo is not None and repo.private
    title = f"{namespace}-main-flux-system-clusters/dev"
    secret = _secret(kubeconfig, namespace)
    assert [(k.title, k.key, k.read_only) for k in repo.deploy_keys] == [
        (title, " ".join(secret["identity.pub"].split()[:2]), True)]
    # The host key is pinned from the forge's SSH server, and the sync goes over SSH.
    assert secret["known_hosts"].split()[1:3] == server.known_hosts.split()[1:3]
    sync = repo.files()["clusters/dev/flux-system/gotk-sync.yaml"]
    assert f"url: ssh://git@{server.ssh_hostname}/acme/fleet\n" in sync
    assert server.ssh is not None and any(
        a.accepted and a.public_key == repo.deploy_keys[0].key
        for a in server.ssh.auth_attempts)
    head = repo.head()

    r = run_sluice(kubeconfig, *args, env=env)
    assert r.ok, r
    assert "✔ source secret up to date\n" in r.stderr and "deploy key" not in r.stderr
    assert repo.head() == head and len(repo.deploy_keys) == 1

    # A new key (the Secret was lost) replaces the stale key of the same title.
    old = repo.deploy_keys[0].key
    _delete_secret(kubeconfig, namespace)
    r = run_sluice(kubeconfig, *args, env=env)
    assert r.ok, r
    assert f'✔ configured deploy key "{title}" for "https://{server.hostname}/acme/fleet"' \
        in r.stderr
    assert [k.title for k in repo.deploy_keys] == [title]
    assert repo.deploy_keys[0].key != old


def test_bootstrap_gitlab_group_with_a_read_write_deploy_key(
        kubeconfig: Path, namespace: str, controllers: BackgroundControllers,
        forge: tuple[Forge, Path]) -> None:
    server, ca_file = forge
    args = ("bootstrap", "gitlab", "--owner=acme", "--repository=fleet", "--read-write-key",
            "--visibility=internal", f"--hostname={server.hostname}",
            f"--ssh-hostname={server.ssh_hostname}", f"--ca-file={ca_file}", RUNNING,
            "-n", namespace, "--timeout=60s")
    r = run_sluice(kubeconfig, *args, env={"GITLAB_TOKEN": TOKEN})
    assert r.ok, r
    golden("bootstrap-gitlab-ssh.txt", _mask(r.stderr, server, namespace))
    repo = server.repository("acme/fleet")
    assert repo is not None and repo.visibility == "internal"
    assert [(k.title, k.read_only) for k in repo.deploy_keys] == [
        (f"{namespace}-main-flux-system", False)]
    assert any(c.dialect == "gitlab" and c.method == "POST" and c.path == "/api/v4/projects"
               for c in server.calls)
    assert "flux-system/gotk-sync.yaml" in repo.files()
    r = run_sluice(kubeconfig, *args, env={"GITLAB_TOKEN": TOKEN})
    assert r.ok, r
    assert "sync manifests are up to date" in r.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_forge_errors_are_one_line(kubeconfig: Path, namespace: str,
                                   forge: tuple[Forge, Path]) -> None:
    server, ca_file = forge
    server.create_repository("alice", "private-fleet")
    base = ("bootstrap", "github", "--repository=fleet", f"--hostname={server.hostname}",
            f"--ca-file={ca_file}", "-n", namespace, "--timeout=20s")
    ref = f"https://{server.hostname}"

    r = run_sluice(kubeconfig, *base, "--owner=alice", "--personal",
                   env={"GITHUB_TOKEN": "wrong-token"})
    assert (r.code, r.stderr) == (1, (
        f"► connecting to {server.hostname}\n"
        f'✗ failed to get Git repository "{ref}/alice/fleet": provider error: '
        "401 Bad credentials: the token was refused, check GITHUB_TOKEN\n")), r

    # Someone else's name as a personal owner, and an organisation one is no member of.
    r = run_sluice(kubeconfig, *base, "--owner=alice", "--personal",
                   env={"GITHUB_TOKEN": "mallory-token"})
    assert r.stderr.splitlines()[-1] == (
        f'✗ failed to create new Git repository "{ref}/alice/fleet": the specified owner '
        "'alice' doesn't match the identity associated with the given token"), r
    r = run_sluice(kubeconfig, *base, "--owner=acme", env={"GITHUB_TOKEN": "mallory-token"})
    assert r.stderr.splitlines()[-1] == (
        f'✗ failed to create new Git repository "{ref}/acme/fleet": 403 You need admin '
        "access to the organization before adding a repository to it."), r
    assert server.repository("alice/fleet") is None and server.repository("acme/fleet") is None

    server.rate_limit.remaining = 0
    r = run_sluice(kubeconfig, *base, "--owner=alice", "--personal",
                   env={"GITHUB_TOKEN": TOKEN})
    assert r.code == 1
    assert "rate limit exceeded (403 API rate limit exceeded for user ID" in r.stderr, r
    assert "it resets at 20" in r.stderr and r.stderr.count("\n") == 2
    server.rate_limit.remaining = 5000

    down = f"127.0.0.1:{_free_port()}"
    r = run_sluice(kubeconfig, "bootstrap", "gitlab", "--owner=acme", "--repository=fleet",
                   f"--hostname={down}", "-n", namespace, "--timeout=10s",
                   env={"GITLAB_TOKEN": TOKEN})
    assert r.code == 1
    assert r.stderr.splitlines()[-1].startswith(
        f'✗ failed to get Git repository "https://{down}/acme/fleet": provider error: '
        f"cannot reach https://{down}/api/v4: "), r
    for result in (r,):
        assert TOKEN not in result.stdout + result.stderr
