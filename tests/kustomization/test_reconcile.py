"""The Kustomization controller's behaviours, one user scenario per test, on the embedded cluster.

Each test runs the real source and Kustomization controllers against a Git
repository served by ``git http-backend`` and checks what a user would look
at: objects in the cluster, the Kustomization's conditions, events.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.kube.config import connect
from sluice.kube.impersonation import ImpersonatingClients
from sluice.kube.objects import Objects
from sluice.testing.gitserver import GitHTTPServer, GitRepo
from sluice.testing.polling import async_wait_for

from .conftest import KS_API, Flux, condition, fast_options, ready_status, start_flux

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  greeting: hello
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
"""


async def git_source(flux: Flux, namespace: str, git: GitHTTPServer, repo: str,
                     files: dict[str, str], name: str = "repo") -> GitRepo:
    """A repository with ``files`` and a Ready GitRepository for it."""
    created = git.create_repo(repo, files)
    await flux.apply(yaml.safe_dump({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "10m", "url": git.repo_url(repo), "ref": {"branch": "main"}}}))
    await flux.wait_for(
        lambda: flux.get("source.toolkit.fluxcd.io/v1", "GitRepository", namespace, name),
        lambda o: (ready_status(o) or ("",))[0] == "True", f"GitRepository {name} ready")
    return created


async def kustomization(flux: Flux, namespace: str, name: str, **spec: Any) -> None:
    body: dict[str, Any] = {"interval": "10m", "prune": True,
                            "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    body.update(spec)
    await flux.apply(yaml.safe_dump({"apiVersion": KS_API, "kind": "Kustomization",
                                     "metadata": {"name": name, "namespace": namespace},
                                     "spec": body}))


async def configmap(flux: Flux, namespace: str, name: str) -> dict[str, Any] | None:
    return await flux.get("v1", "ConfigMap", namespace, name)


async def test_depends_on_waits_for_the_dependency(local: Flux, git: GitHTTPServer,
                                                   namespace: str) -> None:
    head = (await git_source(local, namespace, git, "fleet.git", {
        "infra/deploy.yaml": DEPLOYMENT.format(name="db"),
        "apps/cm.yaml": CONFIGMAP.format(name="app-config"),
    })).head()
    await kustomization(local, namespace, "apps", path="./apps", targetNamespace=namespace,
                        dependsOn=[{"name": "infra"}])
    ks = await local.wait_ks(namespace, "apps", "False", "DependencyNotReady")
    assert ready_status(ks)[2] == (  # type: ignore[index]
        f"unable to get '{namespace}/infra' dependency: "
        'kustomizations.kustomize.toolkit.fluxcd.io "infra" not found')
    assert await configmap(local, namespace, "app-config") is None
    messages = await local.messages(namespace, "Kustomization", "apps")
    assert "Dependencies do not meet ready condition, retrying in 1s" in messages

    await kustomization(local, namespace, "infra", path="./infra", targetNamespace=namespace,
                        wait=True)
    infra = await local.wait_ks(namespace, "infra", "True", revision=f"main@sha1:{head}")
    healthy = condition(infra, "Healthy")
    assert healthy is not None and healthy["status"] == "True"
    assert re.fullmatch(r"Health check passed in [0-9.]+m?s", healthy["message"])
    # The deployment really is rolled out: wait: true waited for it.
    deploy = await local.get("apps/v1", "Deployment", namespace, "db")
    assert deploy is not None and deploy["status"].get("availableReplicas") == 1
    await local.wait_ks(namespace, "apps", "True", revision=f"main@sha1:{head}")
    assert await configmap(local, namespace, "app-config") is not None


async def test_substitution_from_configmaps_secrets_and_inline(local: Flux, git: GitHTTPServer,
                                                               namespace: str) -> None:
    await git_source(local, namespace, git, "subst.git", {"app/cm.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-${CLUSTER_ENV}
data:
  env: ${CLUSTER_ENV}
  region: ${REGION:=eu-west-1}
  token: ${TOKEN}
  replicas: "${REPLICAS}"
  escaped: $${CLUSTER_ENV}
"""})
    await local.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "vars", "namespace": namespace},
                                      "data": {"CLUSTER_ENV": "staging", "REPLICAS": "2"}}))
    await local.secret(namespace, "secret-vars", {"TOKEN": "s3cr3t\n", "REPLICAS": "5"})
    await kustomization(local, namespace, "subst", path="./app", targetNamespace=namespace,
                        postBuild={
                            "substitute": {"CLUSTER_ENV": "prod"},
                            "substituteFrom": [
                                {"kind": "ConfigMap", "name": "vars"},
                                {"kind": "Secret", "name": "secret-vars"},
                                {"kind": "ConfigMap", "name": "absent", "optional": True}]})
    await local.wait_ks(namespace, "subst", "True")
    cm = await configmap(local, namespace, "settings-prod")
    assert cm is not None
    # Inline substitute wins; later substituteFrom entries override earlier ones;
    # newlines are stripped from values; quoted stays a string.
    assert cm["data"] == {"env": "prod", "region": "eu-west-1", "token": "s3cr3t",
                          "replicas": "5", "escaped": "${CLUSTER_ENV}"}

    # A required variable source that is missing fails the build.
    await kustomization(local, namespace, "subst", path="./app", targetNamespace=namespace,
                        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "absent"}]})
    ks = await local.wait_ks(namespace, "subst", "False", "BuildFailed")
    assert ready_status(ks)[2] == (  # type: ignore[index]
        "substitute from 'ConfigMap/absent' error: configmaps \"absent\" not found")

    # Strict mode: a variable without value or default is named.
    await kustomization(local, namespace, "subst", path="./app", targetNamespace=namespace,
                        postBuild={"substitute": {"CLUSTER_ENV": "prod"},
                                   "substituteFrom": None})
    ks = await local.wait_for(
        lambda: local.ks(namespace, "subst"),
        lambda o: "TOKEN" in (ready_status(o) or ("", "", ""))[2], "strict-mode failure")
    assert ready_status(ks) == (
        "False", "BuildFailed", "post build failed for 'settings-${CLUSTER_ENV}': variable "
        'substitution failed: variable not set (strict mode): "TOKEN"')
    warnings = [e for e in await local.events(namespace, "Kustomization", "subst")
                if e["type"] == "Warning"]
    assert warnings[-1]["reason"] == "BuildFailed"


async def test_health_check_failure(kubeconfig: Path, tmp_path: Path, git: GitHTTPServer,
                                    namespace: str) -> None:
    async with start_flux(kubeconfig, tmp_path, namespace,
                          fast_options(min_timeout=1.0)) as flux:
        await git_source(flux, namespace, git, "health.git",
                         {"app/cm.yaml": CONFIGMAP.format(name="cm")})
        await kustomization(flux, namespace, "health", path="./app", targetNamespace=namespace,
                            timeout="1s", healthChecks=[
                                {"apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": "never", "namespace": namespace}])
        ks = await flux.wait_ks(namespace, "health", "False", "HealthCheckFailed")
        message = ready_status(ks)[2]  # type: ignore[index]
        assert re.fullmatch(
            rf"health check failed after [0-9.]+m?s: timeout waiting for: "
            rf"\[Deployment/{namespace}/never status: 'NotFound'\]", message), message
        healthy = condition(ks, "Healthy")
        assert healthy is not None and healthy["status"] == "False"
        assert healthy["reason"] == "HealthCheckFailed"
        # The apply itself happened; only the health check failed.
        assert await configmap(flux, namespace, "cm") is not None
        assert ks["status"].get("lastAppliedRevision") is None


@pytest.mark.parametrize(("policy", "prune", "kept"), [
    (None, True, False), (None, False, True), ("Orphan", True, True), ("Delete", False, False),
    ("WaitForTermination", True, False),
])
async def test_deletion_policy(local: Flux, git: GitHTTPServer, namespace: str,
                               policy: str | None, prune: bool, kept: bool) -> None:
    await git_source(local, namespace, git, "del.git", {"app/cm.yaml": CONFIGMAP.format(
        name="owned")})
    spec: dict[str, Any] = {"path": "./app", "targetNamespace": namespace, "prune": prune}
    if policy:
        spec["deletionPolicy"] = policy
    await kustomization(local, namespace, "del", **spec)
    await local.wait_ks(namespace, "del", "True")
    assert await configmap(local, namespace, "owned") is not None
    await local.delete(KS_API, "Kustomization", namespace, "del")
    await local.wait_for(lambda: _present(local, namespace, "del"), lambda v: v == "gone",
                         "Kustomization deleted")
    assert (await configmap(local, namespace, "owned") is not None) is kept


async def _present(flux: Flux, namespace: str, name: str) -> str:
    return "present" if await flux.ks(namespace, name) else "gone"


async def test_suspended_kustomization_applies_nothing(local: Flux, git: GitHTTPServer,
                                                      namespace: str) -> None:
    head = (await git_source(local, namespace, git, "sus.git", {
        "app/cm.yaml": CONFIGMAP.format(name="sus")})).head()
    await kustomization(local, namespace, "sus", path="./app", targetNamespace=namespace,
                        suspend=True)
    await local.wait_for(lambda: local.ks(namespace, "sus"),
                         lambda o: "finalizers.fluxcd.io" in (o["metadata"].get("finalizers")
                                                              or []), "finalizer added")
    stamp = await local.request_reconcile(KS_API, "Kustomization", namespace, "sus")
    ks = await local.wait_for(lambda: local.ks(namespace, "sus"),
                              lambda o: o.get("status", {}).get("lastHandledReconcileAt") == stamp,
                              "request handled")
    assert condition(ks, "Ready") is None
    assert await configmap(local, namespace, "sus") is None
    await local.patch(KS_API, "Kustomization", namespace, "sus", {"spec": {"suspend": False}})
    await local.wait_ks(namespace, "sus", "True", revision=f"main@sha1:{head}")
    assert await configmap(local, namespace, "sus") is not None


async def test_missing_path_and_missing_source(local: Flux, git: GitHTTPServer,
                                               namespace: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sluice.runtime.controller")
    await kustomization(local, namespace, "early", path="./app", targetNamespace=namespace)
    ks = await local.wait_ks(namespace, "early", "False", "ArtifactFailed")
    assert ready_status(ks)[2] == (  # type: ignore[index]
        "unable to get source 'GitRepository/repo': "
        'gitrepositories.source.toolkit.fluxcd.io "repo" not found')
    # A source not there yet is a wait, as kustomize-controller logs it: an info line and
    # the next try after --requeue-dependency (30s; 1s in these tests), not an error at the
    # retry interval (the 10m interval here).
    mine = f"Kustomization {namespace}/early "

    async def outcome_lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith(mine)]

    outcome = await async_wait_for(outcome_lines, what="the outcome line of the first reconcile")
    assert outcome[0].levelno == logging.INFO, outcome[0].getMessage()
    assert "next run in 1s" in outcome[0].getMessage(), outcome[0].getMessage()
    # The source appears: its first artifact triggers the Kustomization at once.
    head = (await git_source(local, namespace, git, "path.git", {
        "app/cm.yaml": CONFIGMAP.format(name="early")})).head()
    await local.wait_ks(namespace, "early", "True", revision=f"main@sha1:{head}")

    await kustomization(local, namespace, "nopath", path="./agnhost")
    ks = await local.wait_ks(namespace, "nopath", "False", "ArtifactFailed")
    message = ready_status(ks)[2]  # type: ignore[index]
    assert message.startswith("kustomization path not found: stat ")
    assert message.endswith("/agnhost: no such file or directory")
    assert ks["status"].get("lastAttemptedRevision") is None


async def test_cross_namespace_source(kubeconfig: Path, tmp_path: Path, git: GitHTTPServer,
                                      namespace: str, flux: Flux) -> None:
    other = f"{namespace}-apps"
    await flux.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": other}}))
    try:
        head = (await git_source(flux, namespace, git, "x.git", {
            "app/cm.yaml": CONFIGMAP.format(name="crossed")})).head()
        await kustomization(flux, other, "crossed", path="./app", targetNamespace=other,
                            serviceAccountName="deployer",
                            sourceRef={"kind": "GitRepository", "name": "repo",
                                       "namespace": namespace})
        await flux.wait_ks(other, "crossed", "True", revision=f"main@sha1:{head}")
        assert await configmap(flux, other, "crossed") is not None
    finally:
        await flux.delete(KS_API, "Kustomization", other, "crossed")
        await flux.wait_for(lambda: _present(flux, other, "crossed"), lambda v: v == "gone",
                            "Kustomization deleted")
        await flux.delete("v1", "Namespace", None, other)


async def test_cross_namespace_refs_can_be_blocked(kubeconfig: Path, tmp_path: Path,
                                                   namespace: str) -> None:
    async with start_flux(kubeconfig, tmp_path, namespace,
                          fast_options(no_cross_namespace_refs=True)) as flux:
        await kustomization(flux, namespace, "blocked", sourceRef={
            "kind": "GitRepository", "name": "repo", "namespace": "flux-system"})
        ks = await flux.wait_ks(namespace, "blocked", "False", "AccessDenied")
        assert ready_status(ks)[2] == (  # type: ignore[index]
            "can't access 'GitRepository/flux-system/repo', cross-namespace references have "
            "been blocked")


async def test_impersonating_client_sends_the_service_account(kubeconfig: Path) -> None:
    conn = connect(kubeconfig, field_manager="pytest")
    try:
        objects = Objects(conn)
        clients = ImpersonatingClients(objects)
        assert clients.client_for("team-a", None) is objects
        impersonating = clients.client_for("team-a", "deployer")
        assert clients.client_for("team-a", "deployer") is impersonating
        sent = impersonating.connection.http.headers["Impersonate-User"]
        assert sent == "system:serviceaccount:team-a:deployer"
        assert "Impersonate-User" not in objects.connection.http.headers
        # Same server, credentials and discovery cache (the embedded cluster ignores
        # impersonation, a real one authorises the request as the account).
        ns = await impersonating.get(await impersonating.mapping("v1", "Namespace"), "default")
        assert ns["metadata"]["name"] == "default"
        assert impersonating.mapper is objects.mapper
        defaulted = ImpersonatingClients(objects, "flux-applier").client_for("team-b", None)
        assert defaulted.connection.http.headers["Impersonate-User"] == \
            "system:serviceaccount:team-b:flux-applier"
    finally:
        await conn.aclose()


async def test_status_history_records_each_desired_state(local: Flux, git: GitHTTPServer,
                                                         namespace: str) -> None:
    repo = await git_source(local, namespace, git, "history.git", {
        "app/cm.yaml": CONFIGMAP.format(name="hist")})
    await kustomization(local, namespace, "hist", path="./app", targetNamespace=namespace)
    first = f"main@sha1:{repo.head()}"
    ks = await local.wait_ks(namespace, "hist", "True", revision=first)
    [snap] = ks["status"]["history"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", snap["digest"])
    assert snap["lastReconciledStatus"] == "ReconciliationSucceeded"
    assert snap["totalReconciliations"] == 1
    assert snap["metadata"] == {"revision": first}
    assert snap["firstReconciled"] == snap["lastReconciled"]
    assert re.fullmatch(r"[0-9.]+(ms|s|µs)", snap["lastReconciledDuration"])

    # A new desired state is a new snapshot, newest first; the old one is kept.
    repo.commit({"app/cm.yaml": CONFIGMAP.format(name="hist").replace("hello", "bonjour")},
                "greet in French")
    second = f"main@sha1:{repo.head()}"
    await local.reconcile_source(namespace, "repo")
    ks = await local.wait_ks(namespace, "hist", "True", revision=second)
    newest, older = ks["status"]["history"]
    assert newest["metadata"] == {"revision": second} and older == snap
    assert newest["digest"] != snap["digest"]
