"""Failures a user can cause: one ``✗`` line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Result, load_objects, run_sluice


def _one_line(r: Result) -> str:
    assert r.code != 0, r
    assert "Traceback" not in r.stderr, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("✗ "), r
    return lines[0]


@pytest.fixture
def unreachable(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("""\
apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: me
  user: {token: abc}
contexts:
- name: gone
  context: {cluster: gone, user: me}
current-context: gone
""")
    return path


def test_unknown_flag_and_unknown_kind(kubeconfig: Path) -> None:
    assert _one_line(run_sluice(kubeconfig, "get", "ks", "--bogus")) == \
        "✗ unknown flag: --bogus"
    assert _one_line(run_sluice(kubeconfig, "get", "ks", "-x")) == \
        "✗ unknown shorthand flag: 'x' in -x"
    assert _one_line(run_sluice(kubeconfig, "get", "widgets")) == \
        '✗ unknown command "widgets" for "sluice get"'
    assert _one_line(run_sluice(kubeconfig, "reconcile", "source", "svn", "x")) == \
        '✗ unknown command "svn" for "sluice reconcile source"'


def test_missing_objects(kubeconfig: Path, namespace: str) -> None:
    missing = f"✗ Kustomization object 'x' not found in \"{namespace}\" namespace"
    for args in (("get", "ks", "x"), ("reconcile", "ks", "x"), ("delete", "ks", "x", "-s"),
                 ("export", "ks", "x"), ("tree", "ks", "x")):
        assert _one_line(run_sluice(kubeconfig, *args, "-n", namespace)) == missing, args
    r = run_sluice(kubeconfig, "get", "sources", "git", "-n", namespace)
    assert (r.code, r.stdout) == (0, "")
    assert r.stderr == f"✗ no GitRepository objects found in \"{namespace}\" namespace\n"
    r = run_sluice(kubeconfig, "suspend", "ks", "a", "b", "-n", namespace)
    assert r.code == 1
    assert r.stderr == (f"✗ Kustomization a not found in {namespace} namespace\n"
                        f"✗ Kustomization b not found in {namespace} namespace\n")


def test_unreachable_cluster_and_bad_kubeconfig(unreachable: Path, tmp_path: Path) -> None:
    line = _one_line(run_sluice(unreachable, "get", "ks"))
    assert line == "✗ unable to connect to the cluster at https://127.0.0.1:1: connection refused"
    for args in (("reconcile", "source", "git", "x"), ("events",), ("stats",)):
        assert _one_line(run_sluice(unreachable, *args)) == line, args
    r = run_sluice(unreachable, "check", "--pre")
    assert r.code == 1
    assert r.stderr == f"► checking prerequisites\n{line}\n"
    assert _one_line(run_sluice(tmp_path / "nope", "get", "ks")) == \
        f"✗ kubeconfig {tmp_path / 'nope'} not found"


def test_timeout_waiting_for_a_kind_without_controller(kubeconfig: Path, namespace: str) -> None:
    r = run_sluice(kubeconfig, "create", "image", "repository", "agnhost",
                   "--image=registry.k8s.io/e2e-test-images/agnhost", "-n", namespace,
                   "--timeout=1s")
    assert r.code == 1
    assert r.stderr.splitlines()[:4] == ["✚ generating ImageRepository",
                                         "► applying ImageRepository",
                                         "✔ ImageRepository created",
                                         "◎ waiting for ImageRepository reconciliation"]
    last = r.stderr.splitlines()[-1]
    assert last == (f"✗ timeout waiting for ImageRepository 'agnhost' in '{namespace}' "
                    "namespace to be ready: context deadline exceeded "
                    "(last status: waiting to be reconciled)")
    r = run_sluice(kubeconfig, "get", "images", "repository", "-n", namespace)
    assert r.stdout == ("NAME   \tLAST SCAN\tSUSPENDED\tREADY\tMESSAGE                  \n"
                        "agnhost\t         \tFalse    \tFalse\twaiting to be reconciled\t\n")


def test_suspended_and_bad_flag_values(kubeconfig: Path, namespace: str) -> None:
    load_objects(kubeconfig, """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: paused}
spec: {url: "https://example.com/x", interval: 1m, suspend: true}
""", namespace)
    assert _one_line(run_sluice(kubeconfig, "reconcile", "source", "git", "paused",
                                "-n", namespace)) == "✗ resource is suspended"
    assert _one_line(run_sluice(kubeconfig, "get", "ks", "--timeout=soon")).startswith(
        '✗ invalid argument "soon" for "--timeout" flag: ')
    assert _one_line(run_sluice(kubeconfig, "get", "sources", "git", "--status-selector",
                                "Ready")) == \
        "✗ expected status selector in type=status format, but found: Ready"
    assert _one_line(run_sluice(kubeconfig, "events", "--for", "Widget/x")) == \
        "✗ 'Widget' is not a recognized Flux kind"
    assert _one_line(run_sluice(None, "completion", "tcsh")) == \
        "✗ unsupported shell 'tcsh', must be one of: bash, zsh, fish"
