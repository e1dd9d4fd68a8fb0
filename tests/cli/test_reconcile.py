"""Applied ``create``, ``reconcile``, ``suspend``/``resume``, ``export``, ``delete``, live controllers.

The progress lines are flux's, checked as golden text; failures end with the
controller's own message (a wrong URL, a missing path) instead of a timeout.
"""

from __future__ import annotations

import re
from pathlib import Path

from sluice.testing.gitserver import GitHTTPServer

from .conftest import BackgroundControllers, Result, golden, run_sluice

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: {color}
"""


def _mask(text: str, namespace: str, url: str = "<none>") -> str:
    text = text.replace(url, "<url>").replace(namespace, "<ns>")
    return re.sub(r"\b[0-9a-f]{40}\b", "<sha>", text)


def _ok(r: Result) -> Result:
    assert r.code == 0, r
    return r


def test_create_reconcile_suspend_resume_export_delete(
        kubeconfig: Path, namespace: str, controllers: BackgroundControllers,
        git_server: GitHTTPServer) -> None:
    repo = git_server.create_repo("apps.git", {"app/configmap.yaml":
                                               CONFIGMAP.format(color="blue")})
    url = git_server.repo_url("apps.git")
    ns = ("-n", namespace, "--timeout=30s")
    r = _ok(run_sluice(kubeconfig, "create", "source", "git", "apps", f"--url={url}",
                       "--branch=main", *ns))
    golden("create-source-git.txt", _mask(r.stderr, namespace))
    r = _ok(run_sluice(kubeconfig, "create", "kustomization", "apps",
                       "--source=GitRepository/apps", "--path=./app", "--prune=true",
                       f"--target-namespace={namespace}", *ns))
    golden("create-kustomization.txt", _mask(r.stderr, namespace))
    exported = _ok(run_sluice(kubeconfig, "export", "source", "git", "--all", *ns))
    golden("export-source-git.txt", _mask(exported.stdout, namespace, url))

    # Re-running create updates in place.
    r = _ok(run_sluice(kubeconfig, "create", "source", "git", "apps", f"--url={url}",
                       "--branch=main", "--interval=2m", *ns))
    assert "✔ GitRepository source updated\n" in r.stderr

    repo.commit({"app/configmap.yaml": CONFIGMAP.format(color="green")}, "green")
    r = _ok(run_sluice(kubeconfig, "reconcile", "ks", "apps", "--with-source", *ns))
    golden("reconcile-with-source.txt", _mask(r.stderr, namespace))
    assert r.stderr.endswith(f"✔ applied revision main@sha1:{repo.head()}\n")

    r = _ok(run_sluice(kubeconfig, "suspend", "ks", "--all", *ns))
    assert r.stderr == (f"► suspending kustomization apps in {namespace} namespace\n"
                        "✔ kustomization suspended\n")
    r = _ok(run_sluice(kubeconfig, "resume", "ks", "--all", "--wait", *ns))
    golden("resume-all-wait.txt", _mask(r.stderr, namespace))

    r = _ok(run_sluice(kubeconfig, "delete", "ks", "apps", "--silent", *ns))
    assert r.stderr == (f"► deleting kustomization apps in {namespace} namespace\n"
                        "✔ kustomization deleted\n")
    r = run_sluice(kubeconfig, "delete", "source", "git", "apps", *ns, input="n\n")
    assert r.code == 1
    assert r.stderr.endswith("✗ aborting\n")


def test_failures_carry_the_controller_message(kubeconfig: Path, namespace: str,
                                               controllers: BackgroundControllers,
                                               git_server: GitHTTPServer) -> None:
    ns = ("-n", namespace, "--timeout=30s")
    r = run_sluice(kubeconfig, "create", "source", "git", "nowhere",
                   "--url=http://127.0.0.1:1/nowhere.git", "--branch=main", *ns)
    assert r.code == 1
    last = r.stderr.splitlines()[-1]
    assert last.startswith("✗ failed to checkout and determine revision"), r

    git_server.create_repo("apps.git", {"app/configmap.yaml": CONFIGMAP.format(color="blue")})
    _ok(run_sluice(kubeconfig, "create", "source", "git", "apps",
                   f"--url={git_server.repo_url('apps.git')}", "--branch=main", *ns))
    r = run_sluice(kubeconfig, "create", "kustomization", "missing",
                   "--source=GitRepository/apps", "--path=./nope", "-n", namespace,
                   "--timeout=2s")
    assert r.code == 1
    assert "context deadline exceeded (last status: kustomization path not found" in r.stderr
    r = run_sluice(kubeconfig, "reconcile", "ks", "missing", *ns)
    assert r.code == 1
    assert r.stderr.splitlines()[-1].startswith(
        "✗ Kustomization reconciliation failed: 'kustomization path not found")
