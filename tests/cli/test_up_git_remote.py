"""`sluice up` serves a local Git remote: push over HTTP (token) or SSH (deploy key), then sync.

This is the newcomer's path through the seed without GitHub: the git CLI pushes
to the remote `sluice up` printed, the first push creates the repository, and a
GitRepository with the matching credentials fetches it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sluice.kube.config import connect
from sluice.testing.polling import async_wait_for

from .test_up_controllers import API, Up, _ready_repo, conn_objects


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(cwd.parent), **(env or {})}
    r = subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout + r.stderr


def _git_fails(cwd: Path, *args: str) -> bool:
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    return r.returncode != 0


def _work_tree(path: Path) -> Path:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-q",
         "--allow-empty", "-m", "start")
    (path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hello}\n")
    _git(path, "add", ".")
    _git(path, "-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-q", "-m",
         "hello")
    return path


async def test_push_over_http_and_ssh_then_sync(tmp_path: Path) -> None:
    up = Up(tmp_path / "data")
    try:
        up.start()
        await up.ready()
        out = up.output()
        http_url = re.search(r"git remote \(HTTP\) on (\S+):", out)
        ssh_url = re.search(r"git remote \(SSH\) on (\S+):", out)
        known = re.search(r"known_hosts: (.+)", out)
        assert http_url and ssh_url and known, out
        token_file = tmp_path / "data" / "git" / "token"
        assert token_file.stat().st_mode & 0o077 == 0
        token = token_file.read_text().strip()
        assert token not in out  # the token is named by its file, never printed

        # HTTP: a wrong token is refused, the right one creates the repository on push.
        work = _work_tree(tmp_path / "work")
        base = http_url.group(1).replace("http://", "")
        assert _git_fails(work, "push", f"http://git:nope@{base}/apps.git", "main")
        _git(work, "push", "-q", f"http://git:{token}@{base}/apps.git", "main")
        head = _git(work, "rev-parse", "HEAD").strip()

        # SSH: a deploy key added to authorized_keys while `sluice up` runs can push.
        key = ed25519.Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        identity = tmp_path / "id_ed25519"
        identity.write_bytes(private)
        identity.chmod(0o600)
        hosts = tmp_path / "known_hosts"
        hosts.write_text(known.group(1) + "\n")
        with (tmp_path / "data" / "git" / "authorized_keys").open("a") as f:
            f.write(public + " deploy\n")
        ssh_env = {"GIT_SSH_COMMAND": f"ssh -i {identity} -o UserKnownHostsFile={hosts} "
                                      "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"}
        _git(work, "push", "-q", f"{ssh_url.group(1)}/ssh-apps.git", "main", env=ssh_env)

        # The cluster syncs from the HTTP remote with the token in a basic-auth Secret.
        kubeconfig = tmp_path / "data" / "kubeconfig"
        conn = connect(kubeconfig)
        try:
            objects = conn_objects(conn)
            secrets = await objects.mapping("v1", "Secret")
            await objects.create(secrets, {
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "apps-auth", "namespace": "default"},
                "stringData": {"username": "git", "password": token}})
            repos = await objects.mapping(API, "GitRepository")
            await objects.create(repos, {
                "apiVersion": API, "kind": "GitRepository",
                "metadata": {"name": "apps", "namespace": "default"},
                "spec": {"url": f"{http_url.group(1)}/apps.git", "interval": "1h",
                         "ref": {"branch": "main"}, "secretRef": {"name": "apps-auth"}}})
        finally:
            await conn.aclose()
        obj = await _ready_repo(kubeconfig, "apps")
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{head}"
        assert up.stop() == 0
    finally:
        up.kill()


async def test_demo_delivers_the_walkthrough_app_and_follows_a_push(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", "--demo")
    try:
        up.start()
        await up.ready()
        out = up.output()
        clone = re.search(r"git clone (.+) && cd demo", out)
        assert clone, out
        kubeconfig = tmp_path / "data" / "kubeconfig"
        conn = connect(kubeconfig)
        try:
            objects = conn_objects(conn)
            deployments = await objects.mapping("apps/v1", "Deployment")

            async def image() -> str | None:
                d = await objects.get_or_none(deployments, "agnhost", "agnhost")
                return str(d["spec"]["template"]["spec"]["containers"][0]["image"]) if d else None

            assert (await async_wait_for(image, timeout=60, what="the demo deployed")
                    ).endswith(":2.39")
            # The printed steps: clone, change the tag, push; the cluster follows.
            token = (tmp_path / "data" / "git" / "token").read_text().strip()
            url = clone.group(1).replace(f"$(cat {tmp_path / 'data' / 'git' / 'token'})", token)
            _git(tmp_path, "clone", "-q", url, "demo")
            work = tmp_path / "demo"
            manifest = work / "agnhost" / "agnhost.deployment.yaml"
            manifest.write_text(manifest.read_text().replace("agnhost:2.39", "agnhost:2.40"))
            _git(work, "-c", "user.name=me", "-c", "user.email=me@example.com", "commit",
                 "-qam", "agnhost 2.40")
            _git(work, "push", "-q")
            # `sluice reconcile source git demo`: the new artifact then wakes the Kustomization.
            sources = await objects.mapping(API, "GitRepository")
            await objects.merge_patch(sources, "demo", {"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": "after-push"}}}, "flux-system")

            async def rolled() -> bool:
                got = await image()
                return bool(got and got.endswith(":2.40"))

            await async_wait_for(rolled, timeout=60, interval=0.2, what="agnhost 2.40 rolled")
        finally:
            await conn.aclose()
        assert up.stop() == 0
    finally:
        up.kill()
