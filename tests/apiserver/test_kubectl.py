"""kubectl, unchanged, cannot tell the embedded cluster from a control plane without nodes.

These follow what a user does by hand in the walkthrough: create a namespace
through a client-side dry run piped into apply, apply the agnhost Deployment
and Service, watch them become ready, look at Flux objects with their printer
columns, explain CRD fields, change an image, delete.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from sluice.testing.polling import wait_for

from ..conftest import SeedManifests

APPS_URL = "ssh://git@github.com/example/k8s-kind-apps"


def test_namespace_via_client_dry_run_piped_into_apply(kubectl) -> None:
    manifest = kubectl.ok("create", "namespace", "agnhost-seed", "--dry-run=client", "-o", "yaml")
    out = kubectl.ok("apply", "-f", "-", input=manifest)
    assert out.strip() == "namespace/agnhost-seed created"
    out = kubectl.ok("get", "namespace", "agnhost-seed")
    assert re.match(r"NAME\s+STATUS\s+AGE\nagnhost-seed\s+Active\s+\d+s\n", out), out
    before = json.loads(kubectl.ok("get", "namespace", "agnhost-seed", "-o", "json"))
    kubectl.ok("apply", "-f", "-", input=manifest)
    after = json.loads(kubectl.ok("get", "namespace", "agnhost-seed", "-o", "json"))
    # Applying the same manifest again writes nothing.
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
def test_agnhost_deployment_and_service_become_ready(kubectl, seed: SeedManifests,
                                                     namespace: str, server_side: bool) -> None:
    args = ["apply", "-f", "-"] + (["--server-side"] if server_side else [])
    out = kubectl.ok(*args, input=seed.app(namespace))
    verb = "serverside-applied" if server_side else "created"
    assert out.splitlines() == [f"deployment.apps/agnhost {verb}", f"service/agnhost {verb}"]

    def ready() -> str | None:
        text = kubectl.ok("-n", namespace, "get", "deployments,services,pods")
        return text if re.search(r"deployment.apps/agnhost\s+1/1\s+1\s+1\s", text) and \
            re.search(r"pod/agnhost-[a-z0-9]+-[a-z0-9]{5}\s+1/1\s+Running\s+0\s", text) else None

    text = wait_for(ready, 30, what="agnhost ready")
    svc = re.search(r"service/agnhost\s+ClusterIP\s+(\S+)\s+<none>\s+8080/TCP\s", text)
    assert svc and re.match(r"^10\.\d+\.\d+\.\d+$", svc.group(1)), text
    header = text.splitlines()[0]
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    # Re-applying the same manifest changes nothing.
    out = kubectl.ok(*args, input=seed.app(namespace))
    if not server_side:
        assert out.splitlines() == ["deployment.apps/agnhost unchanged",
                                    "service/agnhost unchanged"]


def test_gitrepository_printer_columns(kubectl, seed: SeedManifests, namespace: str) -> None:
    kubectl.ok("apply", "-f", "-", input=seed.apps_source(namespace, APPS_URL))
    out = kubectl.ok("-n", namespace, "get", "gitrepository")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "URL", "AGE", "READY", "STATUS"]
    assert lines[1].split()[:3] == ["k8s-kind-apps", "ssh://git@github.com/example/k8s-kind-apps",
                                    lines[1].split()[2]]
    obj = json.loads(kubectl.ok("-n", namespace, "get", "gitrepo", "k8s-kind-apps", "-o", "json"))
    # Flux's CRD defaults are filled in by the server.
    assert obj["spec"]["timeout"] == "60s"


def test_explain_crd_and_builtin_fields(kubectl) -> None:
    out = kubectl.ok("explain", "gitrepository.spec.ref")
    assert "branch" in out and "semver" in out
    out = kubectl.ok("explain", "deployment.spec.replicas")
    assert "replicas" in out.lower()


def test_set_image_rolls_out_new_pods(kubectl, seed: SeedManifests, namespace: str) -> None:
    kubectl.ok("apply", "-f", "-", input=seed.app(namespace))
    wait_for(lambda: "1/1" in kubectl.ok("-n", namespace, "get", "deploy", "agnhost"), 30)
    kubectl.ok("-n", namespace, "set", "image", "deployment/agnhost",
               "agnhost=registry.k8s.io/e2e-test-images/agnhost:2.40")

    def rolled() -> bool:
        images = kubectl.ok("-n", namespace, "get", "pods", "-o",
                            "jsonpath={.items[*].spec.containers[*].image}").split()
        return images == ["registry.k8s.io/e2e-test-images/agnhost:2.40"]

    wait_for(rolled, 30, what="rollout to 2.40")
    out = kubectl.ok("-n", namespace, "rollout", "status", "deployment/agnhost", "--timeout=30s")
    assert "successfully rolled out" in out


def test_get_watch_streams_changes(kubectl, namespace: str) -> None:
    proc = kubectl.popen("-n", namespace, "get", "configmaps", "-w", "--output-watch-events")
    try:
        time.sleep(0)  # the watch is established by kubectl; we poll its output below
        kubectl.ok("-n", namespace, "create", "configmap", "watched", "--from-literal=a=b")
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "watched" in line:
                break
        assert any(re.match(r"ADDED\s+watched\s+1\s", ln) for ln in lines), lines
    finally:
        proc.kill()
        proc.wait()


def test_delete_removes_objects(kubectl, namespace: str) -> None:
    kubectl.ok("-n", namespace, "create", "configmap", "doomed")
    out = kubectl.ok("-n", namespace, "delete", "configmap", "doomed")
    assert out.strip() == 'configmap "doomed" deleted'
    proc = kubectl("-n", namespace, "get", "configmap", "doomed")
    assert proc.returncode == 1
    assert 'configmaps "doomed" not found' in proc.stderr


def test_server_side_apply_conflict_and_force(kubectl, namespace: str) -> None:
    cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  namespace: {namespace}\n" \
         "data:\n  key: one\n"
    kubectl.ok("apply", "--server-side", "--field-manager=alice", "-f", "-", input=cm)
    proc = kubectl("apply", "--server-side", "--field-manager=bob", "-f", "-",
                   input=cm.replace("one", "two"))
    assert proc.returncode != 0
    assert 'conflict with "alice"' in proc.stderr and ".data.key" in proc.stderr
    kubectl.ok("apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-",
               input=cm.replace("one", "two"))
    obj = json.loads(kubectl.ok("-n", namespace, "get", "cm", "owned", "-o", "json",
                                "--show-managed-fields"))
    assert obj["data"] == {"key": "two"}
    managers = {e["manager"] for e in obj["metadata"]["managedFields"]}
    assert "bob" in managers
