"""Release options a user notices: CRD policies, maxHistory, long names, storageNamespace, adoption.

* a chart's ``crds/`` are applied before the release (its custom resource
  then installs), with Flux's labels, as ``serviceAccountName`` (like Helm's
  own requests); ``Create`` (the default) never changes
  an existing CRD, ``CreateReplace`` does; ``maxHistory`` bounds Helm's
  release Secrets;
* a composed release name over 53 characters becomes Flux's shortened one,
  installed into the created ``targetNamespace`` and stored, as Flux, in the
  HelmRelease's namespace (Helm's own list and history there see it; hooks,
  upgrades and the uninstall act in the target namespace, a cluster-scoped
  object stays one); an explicit ``storageNamespace`` moves the release
  there by uninstall and install, as Flux;
* a release Helm installed by hand is adopted: the HelmRelease upgrades it
  (revision 2) instead of failing on an existing release.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sluice.helmsdk import helm
from sluice.testing.background import BackgroundCluster
from sluice.testing.helmrepo import build_chart
from sluice.testing.requests import RequestCounter

from .charts import podinfo_chart
from .conftest import HR_API, Helm, condition

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
      additionalPrinterColumns:
        - {{name: Size, type: string, jsonPath: .spec.size, description: "{marker}"}}
"""
WIDGET = """apiVersion: {group}/v1
kind: Widget
metadata:
  name: {{{{ .Release.Name }}}}
spec:
  size: "{{{{ .Chart.Version }}}}"
"""
HR = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
spec:
  interval: 1h
  chart:
    spec:
      chart: {chart}
      version: "{version}"
      sourceRef:
        kind: HelmRepository
        name: charts
"""
CRD_API = "apiextensions.k8s.io/v1"


def _widgets(dest: Path, version: str, group: str, marker: str) -> Path:
    return build_chart(dest, "widgets", version, {
        "crds/widget.yaml": CRD.format(group=group, marker=marker) + "---\napiVersion: v1\n"
        "kind: ConfigMap\nmetadata:\n  name: not-a-crd\n",
        "templates/widget.yaml": WIDGET.format(group=group)})


async def test_crd_policies_and_max_history(helm_env: Helm, tmp_path: Path,
                                            sluice_cluster: BackgroundCluster) -> None:
    env, ns = helm_env, helm_env.namespace
    group = f"{ns}.example.com"
    for version, marker in (("1.0.0", "first"), ("1.1.0", "second"), ("1.2.0", "third")):
        env.source.add(_widgets(tmp_path / "charts", version, group, marker))
    try:
        # As spec.serviceAccountName: Helm's actions and the controller's CRD apply.
        with RequestCounter(sluice_cluster) as seen:
            await env.apply(HR.format(name="widgets", chart="widgets", version="1.0.0")
                            + "  maxHistory: 2\n  serviceAccountName: deployer\n")
            await env.wait_hr("widgets", "True", "InstallSucceeded")
        acting = f"system:serviceaccount:{ns}:deployer"
        crd_writes = [r for r in seen.writes() if "/customresourcedefinitions" in r.path]
        assert crd_writes and {r.user for r in crd_writes} == {acting}
        release_writes = [r for r in seen.writes()
                          if r.path.startswith(f"/api/v1/namespaces/{ns}/secrets")]
        assert release_writes and {r.user for r in release_writes} == {acting}
        crd = await env.get(CRD_API, "CustomResourceDefinition", f"widgets.{group}")
        assert crd is not None
        assert crd["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "widgets"
        column = crd["spec"]["versions"][0]["additionalPrinterColumns"][0]
        assert column["description"] == "first"
        widget = await env.get(f"{group}/v1", "Widget", "widgets")
        assert widget is not None and widget["spec"]["size"] == "1.0.0"
        assert await env.get("v1", "ConfigMap", "not-a-crd") is None  # ignored, as Flux

        # Create (the default): an existing CRD is left as it is.
        await env.patch(HR_API, "HelmRelease", "widgets",
                        {"spec": {"chart": {"spec": {"version": "1.1.0"}}}})
        await env.wait_hr("widgets", "True", "UpgradeSucceeded", message="widgets@1.1.0")
        crd = await env.get(CRD_API, "CustomResourceDefinition", f"widgets.{group}")
        assert crd is not None
        assert crd["spec"]["versions"][0]["additionalPrinterColumns"][0]["description"] == \
            "first"

        # CreateReplace: it is updated.
        await env.patch(HR_API, "HelmRelease", "widgets", {"spec": {
            "chart": {"spec": {"version": "1.2.0"}}, "upgrade": {"crds": "CreateReplace"}}})
        await env.wait_hr("widgets", "True", "UpgradeSucceeded", message="widgets@1.2.0")
        crd = await env.get(CRD_API, "CustomResourceDefinition", f"widgets.{group}")
        assert crd is not None
        assert crd["spec"]["versions"][0]["additionalPrinterColumns"][0]["description"] == \
            "third"
        widget = await env.get(f"{group}/v1", "Widget", "widgets")
        assert widget is not None and widget["spec"]["size"] == "1.2.0"

        # maxHistory: 2 -> Helm keeps two of the three revisions.
        with helm().Config(kubeconfig_path=str(sluice_cluster.kubeconfig),
                           namespace=ns) as cfg:
            assert [r["revision"] for r in cfg.history("widgets")] == [2, 3]
        # Uninstalling removes the release's objects, never its CRDs (as Helm).
        await env.delete(HR_API, "HelmRelease", "widgets")

        async def widget_gone() -> bool | None:
            return await env.get(f"{group}/v1", "Widget", "widgets") is None or None

        await env.wait_for(widget_gone, lambda done: done, "release uninstalled")
        assert await env.get(CRD_API, "CustomResourceDefinition", f"widgets.{group}")
    finally:
        m = await env.mapping(CRD_API, "CustomResourceDefinition")
        if await env.objects.get_or_none(m, f"widgets.{group}") is not None:
            await env.objects.delete(m, f"widgets.{group}")


APART = {
    "templates/app.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  namespace: {{ .Release.Namespace }}
  size: {{ .Values.size | quote }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .Release.Name }}
rules: []
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hook
  annotations:
    helm.sh/hook: post-install,post-upgrade
data:
  revision: "{{ .Release.Revision }}"
""",
    "values.yaml": "size: small\n",
}


async def _release_secrets(env: Helm, namespace: str, name: str) -> list[str]:
    m = await env.mapping("v1", "Secret")
    items, _ = await env.objects.list(m, namespace, label_selector=f"owner=helm,name={name}")
    return sorted(i["metadata"]["name"] for i in items)


async def test_long_name_storage_namespace_and_adoption(
        helm_env: Helm, tmp_path: Path, sluice_cluster: BackgroundCluster) -> None:
    env, ns = helm_env, helm_env.namespace
    env.source.add(build_chart(tmp_path / "charts", "apart", "1.0.0", APART))
    target = f"{ns}-a-very-lengthy-target-namespace"
    store = f"{ns}-store"
    name = "podinfo-with-a-rather-long-name"
    full = f"{target}-{name}"
    assert len(full) > 53
    short = f"{full[:40]}-{hashlib.sha256(full.encode()).hexdigest()[:12]}"
    ns_map = await env.mapping("v1", "Namespace")
    cr_map = await env.mapping("rbac.authorization.k8s.io/v1", "ClusterRole")
    kubeconfig = str(sluice_cluster.kubeconfig)
    await env.objects.create(ns_map, {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": store}})
    try:
        # Stored in the release namespace, as Sluice did before it could store apart.
        await env.apply(HR.format(name=name, chart="apart", version="*") + (
            f"  targetNamespace: {target}\n  storageNamespace: {target}\n"
            "  install:\n    createNamespace: true\n"))
        hr = await env.wait_hr(name, "True", "InstallSucceeded")
        assert condition(hr, "Ready")["message"] == \
            f"Helm install succeeded for release {target}/{short}.v1 with chart apart@1.0.0"
        assert hr["status"]["history"][0]["name"] == short
        assert await _release_secrets(env, target, short) == [f"sh.helm.release.v1.{short}.v1"]

        # Flux's default, storage in the HelmRelease's namespace: revision 1 is moved
        # there (not reinstalled) and Helm's own list there sees it.
        await env.patch(HR_API, "HelmRelease", name, {"spec": {"storageNamespace": None}})
        await env.wait_for(lambda: env.hr(name),
                           lambda o: o["status"].get("storageNamespace") == ns, "moved")
        assert await _release_secrets(env, ns, short) == [f"sh.helm.release.v1.{short}.v1"]
        assert await _release_secrets(env, target, short) == []
        cm = await env.get("v1", "ConfigMap", short, target)
        assert cm is not None and cm["data"]["namespace"] == target
        hook = await env.get("v1", "ConfigMap", f"{short}-hook", target)
        assert hook is not None and hook["data"]["revision"] == "1"
        assert await env.objects.get_or_none(cr_map, short) is not None
        with helm().Config(kubeconfig_path=kubeconfig, namespace=ns) as cfg:
            listed = cfg.list()
            assert [(r["name"], r["namespace"]) for r in listed] == [(short, target)]

        # An upgrade runs from the storage namespace and still acts in the release's.
        await env.patch(HR_API, "HelmRelease", name, {"spec": {"values": {"size": "big"}}})
        hr = await env.wait_hr(name, "True", "UpgradeSucceeded")
        assert await _release_secrets(env, ns, short) == [
            f"sh.helm.release.v1.{short}.v1", f"sh.helm.release.v1.{short}.v2"]
        cm = await env.get("v1", "ConfigMap", short, target)
        assert cm is not None and cm["data"]["size"] == "big"
        hook = await env.get("v1", "ConfigMap", f"{short}-hook", target)
        assert hook is not None and hook["data"]["revision"] == "2"
        with helm().Config(kubeconfig_path=kubeconfig, namespace=ns) as cfg:
            assert [h["revision"] for h in cfg.history(short)] == [1, 2]

        # Another storageNamespace: Flux uninstalls from the old storage and installs
        # again (into the release namespace), stored there.
        await env.patch(HR_API, "HelmRelease", name, {"spec": {"storageNamespace": store}})
        hr = await env.wait_hr(name, "True", "InstallSucceeded",
                               message=f"{target}/{short}.v1 ")
        assert hr["status"]["storageNamespace"] == store
        assert await _release_secrets(env, ns, short) == []
        assert await _release_secrets(env, target, short) == []
        assert await _release_secrets(env, store, short) == [f"sh.helm.release.v1.{short}.v1"]
        cm = await env.get("v1", "ConfigMap", short, target)
        assert cm is not None and cm["data"]["size"] == "big"
        assert await env.get("v1", "ConfigMap", short, store) is None

        await env.delete(HR_API, "HelmRelease", name)

        async def uninstalled() -> bool | None:
            gone = await env.get("v1", "ConfigMap", short, target) is None
            return (gone and await env.objects.get_or_none(cr_map, short) is None
                    and not await _release_secrets(env, store, short)) or None

        await env.wait_for(uninstalled, lambda done: done, "release uninstalled")
    finally:
        for space in (target, store):
            if await env.objects.get_or_none(ns_map, space) is not None:
                await env.objects.delete(ns_map, space)

    # A release installed with Helm itself, then taken over by a HelmRelease.
    archive = podinfo_chart(tmp_path / "charts", "6.9.2")
    env.source.add(archive)
    with helm().Config(kubeconfig_path=str(sluice_cluster.kubeconfig), namespace=ns) as cfg:
        cfg.install(str(archive), "adopted", {"replicaCount": 1}, namespace=ns,
                    wait="watcher", timeout=60)
    await env.apply(HR.format(name="adopted", chart="podinfo", version="*")
                    + "  values:\n    replicaCount: 3\n")
    hr = await env.wait_hr("adopted", "True", "UpgradeSucceeded")
    assert condition(hr, "Ready")["message"] == \
        f"Helm upgrade succeeded for release {ns}/adopted.v2 with chart podinfo@6.9.2"
    dep = await env.get("apps/v1", "Deployment", "adopted")
    assert dep is not None and dep["spec"]["replicas"] == 3
    assert dep["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "adopted"
