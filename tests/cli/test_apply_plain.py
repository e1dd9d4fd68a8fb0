"""``sluice create`` without ``--export`` for Secrets and tenants: upserted, announced as flux does."""

from __future__ import annotations

import uuid
from pathlib import Path

from .conftest import delete_namespace, run_sluice


def test_create_secret_and_tenant(kubeconfig: Path, namespace: str) -> None:
    r = run_sluice(kubeconfig, "create", "secret", "git", "creds",
                   "--url=https://example.com/repo", "-u", "me", "-p", "pw", "-n", namespace)
    assert (r.code, r.stdout) == (0, ""), r
    assert r.stderr == f"► git secret 'creds' created in '{namespace}' namespace\n"
    r = run_sluice(kubeconfig, "create", "secret", "git", "creds",
                   "--url=https://example.com/repo", "-u", "me", "-p", "pw2", "-n", namespace)
    assert r.code == 0, r
    tenant_ns = f"{namespace}-tenant-{uuid.uuid4().hex[:4]}"
    try:
        _tenant(kubeconfig, namespace, tenant_ns)
    finally:
        delete_namespace(kubeconfig, tenant_ns)


def _tenant(kubeconfig: Path, namespace: str, tenant_ns: str) -> None:
    r = run_sluice(kubeconfig, "create", "tenant", "dev-team", f"--with-namespace={tenant_ns}",
                   "--cluster-role=cluster-admin", "-n", namespace)
    assert r.code == 0, r
    assert r.stderr == (f"► applying namespace {tenant_ns}\n"
                        f"✔ namespace {tenant_ns} created\n"
                        "► applying service account dev-team\n"
                        "✔ service account dev-team created\n"
                        "► applying role binding dev-team-reconciler\n"
                        "✔ role binding dev-team-reconciler created\n")
    r = run_sluice(kubeconfig, "create", "tenant", "dev-team", f"--with-namespace={tenant_ns}",
                   "--cluster-role=cluster-admin", "-n", namespace)
    assert r.code == 0, r
    assert "✔ role binding dev-team-reconciler updated\n" in r.stderr
    assert run_sluice(kubeconfig, "delete", "source", "git", "none", "-s",
                      "-n", tenant_ns).code == 1
