"""HelmRepository and HelmChart against a real Helm repository on loopback.

The source controllers run for real (informers, queue, status writes,
events, artifact server) against the session's embedded cluster; charts are
built in the test with Helm's own packaging (`sluice.testing.helmrepo`) and
served with Basic auth or TLS from a private CA. What a user would notice
is asserted: Flux's revisions, messages and reasons, the artifact bytes the
HelmRelease side downloads, no re-download when nothing changed, the last
artifact kept on failure, and no credential anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import ssl
import tarfile
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests.source.helm_harness import KINDS, Sources, condition, running_sources

from sluice.apiserver.transport.tls import ensure_certificates
from sluice.controllers.source.gitrepository import setup_gitrepository_controller
from sluice.controllers.source.helmchart import setup_helmchart_controller
from sluice.controllers.source.helmrepository import setup_helmrepository_controller
from sluice.controllers.source.storing import store_file
from sluice.helmsdk import helm
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.helmrepo import HelmRepoServer, build_chart, build_podinfo_chart
from sluice.testing.polling import async_wait_for
from sluice.testing.registry import DockerRegistry

USER = "flux"
PASSWORD = "helm-Pa55-never-shown"


@pytest.fixture
async def sources(kubeconfig: Path, namespace: str, tmp_path: Path) -> AsyncIterator[Sources]:
    async with running_sources(kubeconfig, namespace, tmp_path, [
            setup_gitrepository_controller, setup_helmrepository_controller,
            setup_helmchart_controller], KINDS, concurrent=4) as s:
        yield s


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("charts")
    return {v: build_podinfo_chart(root, v) for v in ("5.2.1", "6.0.0-rc.1", "6.9.2")}


@pytest.fixture
async def basic_repo(tmp_path: Path, charts: dict[str, Path]) -> AsyncIterator[HelmRepoServer]:
    async with HelmRepoServer(tmp_path / "repo", username=USER, password=PASSWORD) as repo:
        for archive in charts.values():
            repo.add_chart(archive)
        yield repo


async def _all_text(s: Sources, kind: str, name: str) -> str:
    obj = await s.get(kind, name)
    events = await s.event_list(kind, name)
    return json.dumps(obj) + json.dumps(events)


async def test_seed_podinfo_flow_with_basic_auth(sources: Sources, basic_repo: HelmRepoServer
                                                 ) -> None:
    s = sources
    await s.secret("podinfo-auth", {"username": USER, "password": PASSWORD})
    await s.create("HelmRepository", "podinfo", {"url": basic_repo.url,
                                                 "secretRef": {"name": "podinfo-auth"}})
    repo = await s.ready("HelmRepository", "podinfo")
    raw = (basic_repo.root / "index.yaml").read_bytes()
    revision = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    art = repo["status"]["artifact"]
    assert art["revision"] == revision
    assert condition(repo, "Ready")["message"] == f"stored artifact: revision '{revision}'"
    assert art["path"].endswith(f"index-{revision[7:]}.yaml")
    # The stored index is Helm's index as JSON, served at status.url (index.yaml).
    served = json.loads(await s.download(repo["status"]["url"]))
    assert sorted(v["version"] for v in served["entries"]["podinfo"]) == [
        "5.2.1", "6.0.0-rc.1", "6.9.2"]
    assert art["digest"] == "sha256:" + hashlib.sha256(
        await s.download(art["url"])).hexdigest()
    events = await s.event_list("HelmRepository", "podinfo")
    assert any(e["reason"] == "NewArtifact" and e["message"].startswith(
        "stored fetched index of size ") and e["message"].endswith(f"from '{basic_repo.url}'")
        for e in events)

    # The seed's range: <6.0.0 -> 5.2.1 (the release candidate is not stable).
    await s.create("HelmChart", "podinfo-podinfo", {
        "chart": "podinfo", "version": "<6.0.0",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}})
    chart = await s.ready("HelmChart", "podinfo-podinfo", "5.2.1")
    ready = condition(chart, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ChartPullSucceeded", "pulled 'podinfo' chart with version '5.2.1'")
    cart = chart["status"]["artifact"]
    assert cart["path"].endswith("/podinfo-5.2.1.tgz")
    original = (basic_repo.root / "podinfo-5.2.1.tgz").read_bytes()
    assert await s.download(cart["url"]) == original  # byte for byte, as pulled
    assert cart["digest"] == f"sha256:{hashlib.sha256(original).hexdigest()}"
    assert chart["status"]["observedChartName"] == "podinfo"
    assert chart["status"]["observedSourceArtifactRevision"] == revision
    assert await s.download(chart["status"]["url"]) == original  # latest.tar.gz
    assert basic_repo.count("/podinfo-5.2.1.tgz") == 1

    # Nothing changed: a requested reconcile re-reads the index, stores nothing new,
    # and the chart is not downloaded again.
    await s.request("HelmRepository", "podinfo", "one")
    again = await s.handled("HelmRepository", "podinfo", "one")
    assert again["status"]["artifact"] == art
    await s.request("HelmChart", "podinfo-podinfo", "one")
    same = await s.handled("HelmChart", "podinfo-podinfo", "one")
    assert same["status"]["artifact"] == cart
    assert basic_repo.count("/podinfo-5.2.1.tgz") == 1

    # The range opens: '*' -> 6.9.2.
    await s.patch("HelmChart", "podinfo-podinfo", {"spec": {"version": "*"}})
    upgraded = await s.ready("HelmChart", "podinfo-podinfo", "6.9.2")
    assert condition(upgraded, "Ready")["message"] == "pulled 'podinfo' chart with version '6.9.2'"
    reasons = [e["reason"] for e in await s.event_list("HelmChart", "podinfo-podinfo")]
    assert reasons.count("ChartPullSucceeded") == 2

    # The password went only to the repository, and is nowhere in status or events.
    assert PASSWORD not in await _all_text(s, "HelmRepository", "podinfo")
    assert PASSWORD not in await _all_text(s, "HelmChart", "podinfo-podinfo")


async def test_new_chart_version_in_the_index_upgrades_the_chart(
        sources: Sources, tmp_path: Path, charts: dict[str, Path]) -> None:
    s = sources
    async with HelmRepoServer(tmp_path / "open") as repo:
        repo.add_chart(charts["5.2.1"])
        await s.create("HelmRepository", "open", {"url": repo.url})
        first = await s.ready("HelmRepository", "open")
        await s.create("HelmChart", "c", {"chart": "podinfo", "version": ">=5.0.0",
                                          "sourceRef": {"kind": "HelmRepository",
                                                        "name": "open"}})
        await s.ready("HelmChart", "c", "5.2.1")
        repo.add_chart(charts["6.9.2"])
        await s.request("HelmRepository", "open", "new")
        second = await s.handled("HelmRepository", "open", "new")
        assert second["status"]["artifact"]["revision"] != first["status"]["artifact"]["revision"]
        # The chart follows the new index revision without being asked.
        await s.ready("HelmChart", "c", "6.9.2")


async def test_wrong_credentials_and_unreachable_keep_the_last_artifact(
        sources: Sources, basic_repo: HelmRepoServer) -> None:
    s = sources
    await s.secret("auth", {"username": USER, "password": PASSWORD})
    await s.create("HelmRepository", "r", {"url": basic_repo.url, "secretRef": {"name": "auth"}})
    good = await s.ready("HelmRepository", "r")
    await s.secret("auth", {"username": USER, "password": "wrong-" + PASSWORD})
    await s.request("HelmRepository", "r", "bad")
    bad = await s.failed("HelmRepository", "r", "Failed")
    message = condition(bad, "Ready")["message"]
    assert message == (f"failed to fetch Helm repository index: failed to fetch "
                       f"{basic_repo.url}/index.yaml : 401 Unauthorized")
    assert condition(bad, "FetchFailed")["status"] == "True"
    assert bad["status"]["artifact"] == good["status"]["artifact"]
    assert PASSWORD not in await _all_text(s, "HelmRepository", "r")

    # A lying repository: not an index.
    await s.secret("auth", {"username": USER, "password": PASSWORD})
    basic_repo.serve_raw("/index.yaml", b"just: [text")
    await s.request("HelmRepository", "r", "lying")
    lying = await s.failed("HelmRepository", "r", "IndexationFailed")
    assert condition(lying, "Ready")["message"] == (
        "failed to load Helm repository from index YAML: error converting YAML to JSON: yaml: "
        "line 1: did not find expected ',' or ']'")
    assert lying["status"]["artifact"] == good["status"]["artifact"]

    # Unreachable.
    await s.create("HelmRepository", "down", {"url": "http://127.0.0.1:9", "timeout": "5s"})
    down = await s.failed("HelmRepository", "down", "Failed")
    assert condition(down, "Ready")["message"] == (
        "failed to fetch Helm repository index: failed to fetch http://127.0.0.1:9/index.yaml : "
        "dial tcp 127.0.0.1:9: connect: connection refused")

    # Missing secret.
    await s.create("HelmRepository", "nosecret", {"url": basic_repo.url,
                                                  "secretRef": {"name": "absent"}})
    missing = await s.failed("HelmRepository", "nosecret", "AuthenticationFailed")
    assert condition(missing, "Ready")["message"] == (
        f"failed to get authentication secret '{s.namespace}/absent': secrets \"absent\" "
        "not found")


async def test_https_with_a_private_ca(sources: Sources, tmp_path: Path,
                                       charts: dict[str, Path]) -> None:
    s = sources
    certs = ensure_certificates(tmp_path / "pki")
    async with HelmRepoServer(tmp_path / "tls", ssl_context=certs.server_context()) as repo:
        repo.add_chart(charts["6.9.2"])
        await s.create("HelmRepository", "untrusted", {"url": repo.url, "timeout": "5s"})
        untrusted = await s.failed("HelmRepository", "untrusted", "Failed")
        assert "CERTIFICATE_VERIFY_FAILED" in condition(untrusted, "Ready")["message"]
        await s.secret("ca", {"ca.crt": certs.ca_cert.read_bytes()})
        await s.create("HelmRepository", "tls", {"url": repo.url,
                                                 "certSecretRef": {"name": "ca"}})
        await s.ready("HelmRepository", "tls")
        await s.create("HelmChart", "tls-chart", {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "tls"}})
        await s.ready("HelmChart", "tls-chart", "6.9.2")

    # A repository that wants a client certificate: certSecretRef's tls.crt/tls.key.
    client_cert, client_key = _client_certificate()
    (tmp_path / "client.crt").write_bytes(client_cert)
    mutual = certs.server_context()
    mutual.verify_mode = ssl.CERT_REQUIRED
    mutual.load_verify_locations(str(tmp_path / "client.crt"))
    async with HelmRepoServer(tmp_path / "mtls", ssl_context=mutual) as repo:
        repo.add_chart(charts["6.9.2"])
        await s.create("HelmRepository", "mtls", {"url": repo.url, "timeout": "5s",
                                                  "certSecretRef": {"name": "ca"}})
        refused = await s.failed("HelmRepository", "mtls", "Failed")
        assert "failed to fetch Helm repository index" in condition(refused, "Ready")["message"]
        await s.secret("client", {"ca.crt": certs.ca_cert.read_bytes(), "tls.crt": client_cert,
                                  "tls.key": client_key}, "kubernetes.io/tls")
        await s.patch("HelmRepository", "mtls", {"spec": {"certSecretRef": {"name": "client"}}})
        await s.ready("HelmRepository", "mtls")
        await s.create("HelmChart", "mtls-chart", {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "mtls"}})
        await s.ready("HelmChart", "mtls-chart", "6.9.2")
        assert "BEGIN" not in await _all_text(s, "HelmRepository", "mtls")


def _client_certificate() -> tuple[bytes, bytes]:
    """A self-signed client certificate (its own trust anchor on the server) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flux-client")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


async def test_chart_errors_use_fluxs_reasons(sources: Sources, tmp_path: Path,
                                              charts: dict[str, Path]) -> None:
    s = sources
    async with HelmRepoServer(tmp_path / "errs") as repo:
        repo.add_chart(charts["5.2.1"])
        await s.create("HelmChart", "early", {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "later"}})
        early = await s.failed("HelmChart", "early", "SourceUnavailable")
        assert condition(early, "Ready")["message"] == (
            'failed to get source: helmrepositories.source.toolkit.fluxcd.io "later" not found')
        await s.create("HelmRepository", "later", {"url": repo.url})
        await s.ready("HelmChart", "early", "5.2.1")

        await s.create("HelmChart", "norange", {
            "chart": "podinfo", "version": ">=9.0.0",
            "sourceRef": {"kind": "HelmRepository", "name": "later"}})
        norange = await s.failed("HelmChart", "norange", "InvalidChartReference")
        assert condition(norange, "Ready")["message"] == (
            "invalid chart reference: failed to get chart version for remote reference: "
            "no 'podinfo' chart with version matching '>=9.0.0' found")
        assert condition(norange, "Stalled")["status"] == "True"

        # A chart archive that does not match its digest in the index.
        await s.patch("HelmChart", "early", {"spec": {"version": "5.2.1"}})
        kept = await s.ready("HelmChart", "early", "5.2.1")
        repo.add_chart(charts["6.9.2"])
        repo.serve_raw("/podinfo-6.9.2.tgz", b"not the archive the index promised")
        await s.request("HelmRepository", "later", "r1")
        await s.handled("HelmRepository", "later", "r1")
        await s.patch("HelmChart", "early", {"spec": {"version": "*"}})
        lying = await s.failed("HelmChart", "early", "ChartPullError")
        assert "digest mismatch" in condition(lying, "Ready")["message"]
        assert lying["status"]["artifact"] == kept["status"]["artifact"]


async def test_chart_from_git_with_values_files_and_revision_strategy(
        sources: Sources, tmp_path: Path) -> None:
    s = sources
    build_chart(tmp_path / "c", "app", "1.2.3", {"templates/cm.yaml": "kind: ConfigMap\n"},
                values="replicas: 1\nimage: {tag: a}\n")
    chart_dir = tmp_path / "c" / "src" / "app-1.2.3" / "app"
    files = {f"charts/app/{p.relative_to(chart_dir)}": p.read_text()
             for p in chart_dir.rglob("*") if p.is_file()}
    files["charts/app/values-prod.yaml"] = "replicas: 3\nimage: {pull: Always}\n"
    async with GitHTTPServer(tmp_path / "git") as git:
        grepo = git.create_repo("charts.git", files)
        await s.create("GitRepository", "charts", {"url": git.repo_url("charts.git"),
                                                   "ref": {"branch": "main"}})
        gitobj = await s.ready("GitRepository", "charts")
        sha = gitobj["status"]["artifact"]["revision"].split(":")[-1]
        await s.create("HelmChart", "app", {
            "chart": "charts/app", "reconcileStrategy": "Revision",
            "sourceRef": {"kind": "GitRepository", "name": "charts"},
            "valuesFiles": ["charts/app/values.yaml", "charts/app/values-prod.yaml"]})
        version = f"1.2.3+{sha[:12]}.1"
        chart = await s.ready("HelmChart", "app", version)
        ready = condition(chart, "Ready")
        assert (ready["reason"], ready["message"]) == (
            "ChartPackageSucceeded",
            f"packaged 'app' chart with version '{version}' and merged values files "
            "[charts/app/values.yaml charts/app/values-prod.yaml]")
        assert chart["status"]["observedValuesFiles"] == [
            "charts/app/values.yaml", "charts/app/values-prod.yaml"]
        assert chart["status"]["artifact"]["path"].endswith(f"/app-{version}.tgz")
        with tarfile.open(fileobj=io.BytesIO(await s.download(
                chart["status"]["artifact"]["url"]))) as tar:
            member = tar.extractfile("app/values.yaml")
            assert member is not None
            values = yaml.safe_load(member.read())
        assert values == {"replicas": 3, "image": {"tag": "a", "pull": "Always"}}

        # Revision strategy: a new commit without a version bump is a new chart.
        grepo.commit({"charts/app/templates/cm.yaml": "kind: ConfigMap\n# changed\n"}, "edit")
        await s.request("GitRepository", "charts", "push")
        pushed = await s.handled("GitRepository", "charts", "push")
        sha2 = pushed["status"]["artifact"]["revision"].split(":")[-1]
        assert sha2 != sha
        await s.ready("HelmChart", "app", f"1.2.3+{sha2[:12]}.1")

        # A values file that does not exist stalls, unless ignoreMissingValuesFiles.
        await s.patch("HelmChart", "app", {"spec": {"valuesFiles": ["nope.yaml"]}})
        missing = await s.failed("HelmChart", "app", "ValuesFilesError")
        assert condition(missing, "Ready")["message"] == (
            "values files merge error: failed to merge chart values: no values file found at "
            "path 'nope.yaml'")
        await s.patch("HelmChart", "app", {"spec": {"ignoreMissingValuesFiles": True}})
        ignored = await s.ready("HelmChart", "app", f"1.2.3+{sha2[:12]}.3")
        assert "merged values files" not in condition(ignored, "Ready")["message"]


async def test_chart_from_a_bucket_artifact(sources: Sources, tmp_path: Path) -> None:
    """A Bucket's artifact (the test writes it, as a Bucket controller would) holds the chart."""
    s = sources
    build_chart(tmp_path / "c", "app", "2.0.0", {"templates/cm.yaml": "kind: ConfigMap\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "c" / "src" / "app-2.0.0" / "app", arcname="charts/app")
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    bucket = await s.objects.mapping("source.toolkit.fluxcd.io/v1", "Bucket")
    await s.objects.create(bucket, {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
        "metadata": {"name": "charts", "namespace": s.namespace},
        "spec": {"interval": "1h", "bucketName": "charts", "endpoint": "minio.example.com"}})
    stored = await store_file(s.storage, "Bucket", s.namespace, "charts", f"{digest}.tar.gz",
                              data, f"sha256:{digest}")
    await s.objects.patch_status(bucket, "charts", {"status": {
        "artifact": stored.to_status(), "conditions": [{
            "type": "Ready", "status": "True", "reason": "Succeeded",
            "message": f"stored artifact for revision 'sha256:{digest}'",
            "lastTransitionTime": "2026-12-07T10:00:00Z"}]}}, s.namespace)
    await s.create("HelmChart", "app", {
        "chart": "charts/app", "reconcileStrategy": "Revision",
        "sourceRef": {"kind": "Bucket", "name": "charts"}})
    version = f"2.0.0+{digest[:12]}"
    chart = await s.ready("HelmChart", "app", version)
    ready = condition(chart, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ChartPackageSucceeded", f"packaged 'app' chart with version '{version}'")
    assert chart["status"]["observedSourceArtifactRevision"] == f"sha256:{digest}"
    with tarfile.open(fileobj=io.BytesIO(await s.download(
            chart["status"]["artifact"]["url"]))) as tar:
        assert "app/templates/cm.yaml" in tar.getnames()
    await s.objects.delete(bucket, "charts", s.namespace)


# ------------------------------------------------------------------------ OCI


def _push_charts(registry: DockerRegistry, archives: list[Path]) -> None:
    h = helm()
    with tempfile.TemporaryDirectory() as tmp, h.RegistryClient(
            plain_http=True, credentials_file=f"{tmp}/creds.json") as client:
        if registry.auth:
            client.login(registry.host, *registry.auth, plain_http=True)
        for archive in archives:
            client.push(str(archive), f"oci://{registry.host}/charts", plain_http=True)


async def test_chart_from_an_oci_helm_repository(sources: Sources, tmp_path: Path,
                                                 charts: dict[str, Path]) -> None:
    s = sources
    async with DockerRegistry(tmp_path / "reg", username=USER, password=PASSWORD) as registry:
        await asyncio.to_thread(_push_charts, registry, [charts["5.2.1"], charts["6.9.2"]])
        # The seed's `flux create secret oci`/docker-registry secret.
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        config = {"auths": {registry.host: {"username": USER, "password": PASSWORD,
                                            "auth": auth}}}
        await s.secret("regcred", {".dockerconfigjson": json.dumps(config)},
                       type_="kubernetes.io/dockerconfigjson")
        await s.create("HelmRepository", "oci", {
            "type": "oci", "url": f"oci://{registry.host}/charts", "insecure": True,
            "secretRef": {"name": "regcred"}})
        await s.create("HelmChart", "oci-podinfo", {
            "chart": "podinfo", "version": "<6.0.0",
            "sourceRef": {"kind": "HelmRepository", "name": "oci"}})
        chart = await s.ready("HelmChart", "oci-podinfo", "5.2.1")
        assert condition(chart, "Ready")["message"] == (
            "pulled 'podinfo' chart with version '5.2.1'")
        assert await s.download(chart["status"]["artifact"]["url"]) == charts[
            "5.2.1"].read_bytes()
        # A `type: oci` HelmRepository is static: no artifact, no conditions, no finalizer.
        repo = await s.get("HelmRepository", "oci")
        assert not (repo.get("status") or {}).get("artifact")
        assert not (repo.get("status") or {}).get("conditions")
        assert not repo["metadata"].get("finalizers")

        await s.patch("HelmChart", "oci-podinfo", {"spec": {"version": "*"}})
        await s.ready("HelmChart", "oci-podinfo", "6.9.2")

        config["auths"][registry.host]["password"] = "wrong"
        config["auths"][registry.host].pop("auth")
        await s.secret("regcred", {".dockerconfigjson": json.dumps(config)})
        await s.request("HelmChart", "oci-podinfo", "bad")
        bad = await s.wait("HelmChart", "oci-podinfo", lambda o: (
            condition(o, "Ready") or {}).get("status") == "False", "a failure")
        assert bad["status"]["artifact"]["revision"] == "6.9.2"
        assert PASSWORD not in await _all_text(s, "HelmChart", "oci-podinfo")


async def test_pass_credentials_only_when_asked(sources: Sources, tmp_path: Path,
                                                charts: dict[str, Path]) -> None:
    s = sources
    async with HelmRepoServer(tmp_path / "cdn", username=USER, password=PASSWORD) as cdn, \
            HelmRepoServer(tmp_path / "idx", username=USER, password=PASSWORD) as idx:
        cdn.add_chart(charts["5.2.1"])
        # The index lives on one host, the archives on another (a CDN).
        idx.serve_raw("/index.yaml", (cdn.root / "index.yaml").read_bytes())
        await s.secret("auth", {"username": USER, "password": PASSWORD})
        await s.create("HelmRepository", "split", {"url": idx.url,
                                                   "secretRef": {"name": "auth"}})
        await s.ready("HelmRepository", "split")
        await s.create("HelmChart", "split-chart", {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "split"}})
        refused = await s.failed("HelmChart", "split-chart", "ChartPullError")
        assert "401 Unauthorized" in condition(refused, "Ready")["message"]
        assert "/podinfo-5.2.1.tgz" not in cdn.authorizations  # nothing sent to the CDN
        await s.patch("HelmRepository", "split", {"spec": {"passCredentials": True}})
        await s.ready("HelmRepository", "split")
        await s.request("HelmChart", "split-chart", "pass")
        await s.ready("HelmChart", "split-chart", "5.2.1")
        assert cdn.authorizations["/podinfo-5.2.1.tgz"]


async def test_deletion_and_switch_to_oci_remove_stored_artifacts(
        sources: Sources, tmp_path: Path, charts: dict[str, Path]) -> None:
    s = sources
    async with HelmRepoServer(tmp_path / "gc") as repo:
        repo.add_chart(charts["5.2.1"])
        await s.create("HelmRepository", "gc", {"url": repo.url})
        await s.create("HelmChart", "gc-chart", {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "gc"}})
        chart = await s.ready("HelmChart", "gc-chart", "5.2.1")
        repo_obj = await s.get("HelmRepository", "gc")
        index_file = s.storage.local_path(repo_obj["status"]["artifact"]["path"])
        chart_file = s.storage.local_path(chart["status"]["artifact"]["path"])
        assert index_file.is_file() and chart_file.is_file()

        await s.objects.delete(s.mappings["HelmChart"], "gc-chart", s.namespace)
        async def chart_files_gone() -> bool:
            return not chart_file.parent.exists()

        await async_wait_for(chart_files_gone, what="chart files gone")

        # `type: oci` makes a HelmRepository static: no artifact, no status, no finalizer.
        await s.patch("HelmRepository", "gc", {"spec": {"type": "oci",
                                                        "url": "oci://127.0.0.1:1/charts"}})
        static = await s.wait("HelmRepository", "gc", lambda o: not o["metadata"].get(
            "finalizers") and not (o.get("status") or {}).get("artifact"), "static")
        assert not (static.get("status") or {}).get("conditions")
        assert not index_file.parent.exists()


async def test_git_chart_dependencies_are_resolved(sources: Sources, tmp_path: Path) -> None:
    s = sources
    files = {
        "app/Chart.yaml": ("apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
                           "  - name: lib\n    version: 1.0.0\n"
                           "    repository: file://../lib\n"),
        "app/values.yaml": "",
        "app/templates/cm.yaml": "kind: ConfigMap\n",
        "lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 1.0.0\n",
        "lib/templates/s.yaml": "kind: Secret\n",
    }
    async with GitHTTPServer(tmp_path / "git") as git:
        git.create_repo("deps.git", files)
        await s.create("GitRepository", "deps", {"url": git.repo_url("deps.git"),
                                                 "ref": {"branch": "main"}})
        await s.create("HelmChart", "app", {
            "chart": "./app", "sourceRef": {"kind": "GitRepository", "name": "deps"}})
        chart = await s.ready("HelmChart", "app", "0.1.0")
        assert condition(chart, "Ready")["message"] == "packaged 'app' chart with version '0.1.0'"
        with tarfile.open(fileobj=io.BytesIO(await s.download(
                chart["status"]["artifact"]["url"]))) as tar:
            names = tar.getnames()
        assert "app/charts/lib/Chart.yaml" in names  # the file:// dependency, packaged in
        events = await s.event_list("HelmChart", "app")
        assert any(e["reason"] == "ResolvedDependencies"
                   and e["message"] == "resolved 1 chart dependencies" for e in events)
