"""``sluice bootstrap git`` over HTTPS with basic auth and a private CA (``--ca-file``).

A self-hosted forge often has a certificate from the company's own CA. flux
trusts it with ``--ca-file`` for the clone and push, and stores it in the
``flux-system`` secret as ``ca.crt`` so the GitRepository can fetch too.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sluice.kube.config import connect
from sluice.kube.objects import Objects
from sluice.testing.gitserver import GitHTTPServer

from .conftest import BackgroundControllers, BackgroundGit, run_sluice


def _private_ca(tmp_path: Path) -> tuple[bytes, ssl.SSLContext]:
    """A fresh CA (PEM) and a server context with a 127.0.0.1 certificate it signed."""
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("bootstrap test CA"))
          .issuer_name(name("bootstrap test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(minutes=5))
          .not_valid_after(now + timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    return ca.public_bytes(serialization.Encoding.PEM), context


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[GitHTTPServer, Path]]:
    ca_pem, context = _private_ca(tmp_path)
    (tmp_path / "ca.crt").write_bytes(ca_pem)
    bg = BackgroundGit(GitHTTPServer(tmp_path / "git", username="fleet-bot",
                                     password="s3cret-pw", ssl_context=context))
    try:
        yield bg.start(), tmp_path / "ca.crt"
    finally:
        bg.stop()


def _secret(kubeconfig: Path, namespace: str) -> dict[str, str]:
    async def main() -> dict[str, str]:
        conn = connect(kubeconfig, field_manager="pytest")
        try:
            objects = Objects(conn)
            m = await objects.mapping("v1", "Secret")
            secret = await objects.get(m, "flux-system", namespace)
            return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        finally:
            await conn.aclose()

    return asyncio.run(main())


def test_bootstrap_over_https_with_basic_auth_and_a_private_ca(
        kubeconfig: Path, namespace: str, controllers: BackgroundControllers,
        https_server: tuple[GitHTTPServer, Path]) -> None:
    server, ca_file = https_server
    server.create_repo("fleet.git", {"README.md": "fleet\n"})
    url = server.repo_url("fleet.git")
    assert url.startswith("https://")
    args = ("bootstrap", "git", f"--url={url}", "--branch=main", "--path=clusters/dev",
            "--token-auth", "-u", "fleet-bot", "-p", "s3cret-pw", "-n", namespace,
            "--components=source-controller,kustomize-controller", "--timeout=60s")

    r = run_sluice(kubeconfig, *args, "--ca-file", str(ca_file.with_name("missing.crt")))
    assert r.code == 1
    assert r.stderr.startswith("✗ unable to read TLS CA file: open ")
    assert r.stderr.count("\n") == 1

    r = run_sluice(kubeconfig, *args, f"--ca-file={ca_file}")
    assert r.ok, r
    assert "✔ Kustomization reconciled successfully" in r.stderr
    secret = _secret(kubeconfig, namespace)
    assert (secret["username"], secret["password"]) == ("fleet-bot", "s3cret-pw")
    assert secret["ca.crt"] == ca_file.read_text()
    r = run_sluice(kubeconfig, "get", "sources", "git", "-n", namespace, "--no-header")
    assert r.ok and "\tTrue\t" in r.stdout, r
