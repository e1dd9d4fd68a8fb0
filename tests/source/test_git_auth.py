"""Credentials, host keys and failures users see when a Git source breaks.

Aspects: HTTP basic and bearer auth (right, wrong, missing), SSH keys of
every supported type (plain, encrypted, without `identity.pub`), a wrong
key, a wrong or missing host key (refused before any key is offered),
HTTPS with a private CA (`ca.crt`), unreachable hosts, bad URLs, timeouts,
concurrent SSH operations with different known_hosts, and that no error
ever carries a secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sluice.controllers.source.errors import (
    AuthenticationFailed,
    GitOperationFailed,
    InvalidURL,
    SourceError,
)
from sluice.controllers.source.git import GitAuth, GitRef, checkout, remote_revision
from sluice.core.sshkeys import KeyPair, generate_key_pair
from sluice.testing.gitserver import GitHTTPServer
from sluice.testing.sshgit import GitSSHServer

from .conftest import PASSWORD, USERNAME, ssh_auth

MAIN = GitRef(branch="main")
TOKEN = "ghp_0123456789abcdefTOKENnever"


def assert_clean(err: SourceError, *secrets: str | bytes) -> None:
    """The error names no secret and hides the library exception it came from."""
    rendered = f"{err} {err!r} {err.message}"
    for secret in secrets:
        text = secret.decode() if isinstance(secret, bytes) else secret
        for line in text.strip().splitlines():
            if len(line.strip()) > 3:
                assert line.strip() not in rendered
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------- HTTP


async def test_basic_auth(basic_server: GitHTTPServer, tmp_path: Path) -> None:
    repo = basic_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    url = basic_server.repo_url("app.git")
    good = GitAuth.from_secret({"username": USERNAME, "password": PASSWORD})
    assert (await checkout(url, MAIN, good, tmp_path / "ok")).hash == repo.head()
    assert await remote_revision(url, MAIN, good) == f"main@sha1:{repo.head()}"

    wrong = GitAuth.from_secret({"username": USERNAME.encode(), "password": b"guess-w0rd"})
    with pytest.raises(AuthenticationFailed) as caught:
        await checkout(url, MAIN, wrong, tmp_path / "wrong")
    assert caught.value.reason == "AuthenticationFailed"
    assert "rejected the username and password" in str(caught.value)
    assert str(caught.value).startswith(f"unable to clone '{url}'")
    assert_clean(caught.value, "guess-w0rd", PASSWORD)

    with pytest.raises(AuthenticationFailed, match="authentication required"):
        await remote_revision(url, MAIN, None)


async def test_credentials_in_the_url_are_never_shown(
    basic_server: GitHTTPServer, tmp_path: Path
) -> None:
    basic_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    url = basic_server.repo_url("app.git").replace("http://", "http://flux:hunter2-secret@")
    with pytest.raises(SourceError) as caught:
        await checkout(url, GitRef(branch="nope"), None, tmp_path / "out")
    assert "hunter2-secret" not in str(caught.value)
    assert basic_server.repo_url("app.git") in str(caught.value)


async def test_bearer_token(tmp_path: Path) -> None:
    async with GitHTTPServer(tmp_path / "srv", bearer_token=TOKEN) as server:
        repo = server.create_repo("app.git", {"a.yaml": "a: 1\n"})
        url = server.repo_url("app.git")
        auth = GitAuth.from_secret({"bearerToken": TOKEN})
        assert (await checkout(url, MAIN, auth, tmp_path / "ok")).hash == repo.head()

        bad = GitAuth.from_secret({"bearerToken": "ghp_wrongwrongwrong"})
        with pytest.raises(AuthenticationFailed, match="rejected the bearer token") as caught:
            await remote_revision(url, MAIN, bad)
        assert_clean(caught.value, TOKEN, "ghp_wrongwrongwrong")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"password": "x-secret"}, "'password' requires 'username'"),
        ({"username": "a", "password": "b", "bearerToken": "c"}, "cannot be used together"),
    ],
)
async def test_inconsistent_http_secrets_are_refused(
    http_server: GitHTTPServer, data: dict[str, str], message: str
) -> None:
    with pytest.raises(AuthenticationFailed, match=message) as caught:
        await remote_revision(http_server.repo_url("x.git"), MAIN, GitAuth.from_secret(data))
    assert http_server.requests == []
    assert_clean(caught.value, *data.values())


def test_auth_repr_hides_secrets(client_key: KeyPair) -> None:
    auth = GitAuth.from_secret(
        {
            "username": "u",
            "password": PASSWORD,
            "bearerToken": TOKEN,
            "identity": client_key.private_key,
        }
    )
    text = repr(auth)
    assert PASSWORD not in text and TOKEN not in text and "PRIVATE KEY" not in text
    assert "PRIVATE KEY" not in repr(client_key)


# -------------------------------------------------------------------- SSH


@pytest.mark.parametrize(
    ("algorithm", "options"),
    [
        ("ecdsa", {}),
        ("ecdsa", {"ecdsa_curve": "p256"}),
        ("ed25519", {}),
        ("rsa", {"rsa_bits": 2048}),
    ],
)
async def test_ssh_key_types(tmp_path: Path, algorithm: str, options: dict[str, object]) -> None:
    key = generate_key_pair(algorithm, **options)  # type: ignore[arg-type]
    async with GitSSHServer(tmp_path / "srv", [key.public_key]) as server:
        repo = server.create_repo("app.git", {"a.yaml": "a: 1\n"})
        commit = await checkout(
            server.repo_url("app.git"), MAIN, ssh_auth(server, key), tmp_path / "o"
        )
        assert commit.revision == f"main@sha1:{repo.head()}"


async def test_encrypted_key_without_public_half(tmp_path: Path) -> None:
    key = generate_key_pair("ecdsa", passphrase="correct horse")
    async with GitSSHServer(tmp_path / "srv", [key.public_key]) as server:
        server.create_repo("app.git", {"a.yaml": "a: 1\n"})
        url = server.repo_url("app.git")
        secret = {"identity": key.private_key, "known_hosts": server.known_hosts}
        auth = GitAuth.from_secret({**secret, "password": "correct horse"})
        assert (await remote_revision(url, MAIN, auth)).startswith("main@sha1:")

        wrong = GitAuth.from_secret({**secret, "password": "wrong horse"})
        with pytest.raises(AuthenticationFailed, match="'identity'") as caught:
            await remote_revision(url, MAIN, wrong)
        assert_clean(caught.value, "wrong horse", "correct horse", key.private_key)
        assert server.auth_attempts == [a for a in server.auth_attempts if a.accepted]


async def test_wrong_key_is_an_authentication_failure(
    ssh_server: GitSSHServer, tmp_path: Path
) -> None:
    ssh_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    stranger = generate_key_pair("ed25519")
    with pytest.raises(AuthenticationFailed) as caught:
        await checkout(
            ssh_server.repo_url("app.git"), MAIN, ssh_auth(ssh_server, stranger), tmp_path / "o"
        )
    assert "unable to authenticate as 'git'" in str(caught.value)
    assert caught.value.reason == "AuthenticationFailed"
    assert [a.accepted for a in ssh_server.auth_attempts] and not any(
        a.accepted for a in ssh_server.auth_attempts
    )
    assert ssh_server.commands == []
    assert_clean(caught.value, stranger.private_key)


async def test_wrong_host_key_is_refused_before_offering_the_key(
    ssh_server: GitSSHServer, client_key: KeyPair, tmp_path: Path
) -> None:
    ssh_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    impostor = generate_key_pair("ed25519").public_key
    known_hosts = f"[127.0.0.1]:{ssh_server.port} {impostor}\n"
    auth = ssh_auth(ssh_server, client_key, known_hosts=known_hosts)
    with pytest.raises(AuthenticationFailed) as caught:
        await checkout(ssh_server.repo_url("app.git"), MAIN, auth, tmp_path / "o")
    assert "does not match known_hosts" in str(caught.value)
    assert ssh_server.auth_attempts == []  # the key was never shown to the impostor
    assert ssh_server.commands == []

    # known_hosts that only vouches for another host is no better.
    other = ssh_auth(
        ssh_server, client_key, known_hosts=f"example.com {ssh_server.host_public_key}"
    )
    with pytest.raises(AuthenticationFailed, match="does not match known_hosts"):
        await remote_revision(ssh_server.repo_url("app.git"), MAIN, other)
    assert ssh_server.auth_attempts == []


@pytest.mark.parametrize("missing", ["known_hosts", "identity"])
async def test_ssh_without_known_hosts_or_identity_never_connects(
    ssh_server: GitSSHServer, client_key: KeyPair, missing: str
) -> None:
    ssh_server.create_repo("app.git", {"a.yaml": "a: 1\n"})
    auth = ssh_auth(ssh_server, client_key, **{missing: ""})
    with pytest.raises(AuthenticationFailed, match=f"'{missing}' is required"):
        await remote_revision(ssh_server.repo_url("app.git"), MAIN, auth)
    assert ssh_server.auth_attempts == [] and ssh_server.commands == []


async def test_concurrent_ssh_operations_keep_their_own_known_hosts(
    tmp_path: Path, client_key: KeyPair
) -> None:
    async with (
        GitSSHServer(tmp_path / "a", [client_key.public_key]) as trusted,
        GitSSHServer(tmp_path / "b", [client_key.public_key]) as untrusted,
    ):
        trusted.create_repo("app.git", {"a": "1"})
        untrusted.create_repo("app.git", {"a": "1"})
        good = ssh_auth(trusted, client_key)
        # The second server is paired with the first one's known_hosts.
        bad = ssh_auth(untrusted, client_key, known_hosts=trusted.known_hosts)
        results = await asyncio.gather(
            *(remote_revision(trusted.repo_url("app.git"), MAIN, good) for _ in range(4)),
            *(remote_revision(untrusted.repo_url("app.git"), MAIN, bad) for _ in range(4)),
            return_exceptions=True,
        )
        assert all(isinstance(r, str) for r in results[:4])
        assert all(isinstance(r, AuthenticationFailed) for r in results[4:])
        assert untrusted.auth_attempts == []


# --------------------------------------------------------- network failures


@pytest.mark.parametrize("scheme", ["http", "ssh"])
async def test_unreachable_host(scheme: str, client_key: KeyPair) -> None:
    port = free_port()
    url = f"{scheme}://git@127.0.0.1:{port}/app.git"
    auth = GitAuth.from_secret(
        {"identity": client_key.private_key, "known_hosts": f"[127.0.0.1]:{port} ssh-ed25519 AAAA"}
        if scheme == "ssh"
        else {}
    )
    with pytest.raises(GitOperationFailed) as caught:
        await remote_revision(url, MAIN, auth)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.reason == "GitOperationFailed"


async def test_missing_repository(http_server: GitHTTPServer, tmp_path: Path) -> None:
    with pytest.raises(GitOperationFailed, match="404"):
        await checkout(http_server.repo_url("nothing.git"), MAIN, None, tmp_path / "o")


@pytest.mark.parametrize(
    "url", ["file:///tmp/repo", "git@github.com:org/repo.git", "ftp://host/repo", "https://"]
)
async def test_unsupported_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidURL) as caught:
        await checkout(url, MAIN, None, tmp_path / "o")
    assert caught.value.reason == "URLInvalid"


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never answers; hangs up at teardown."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_timeout(silent_server: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{silent_server}/app.git"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(GitOperationFailed, match=r"timed out after 0\.5s"):
        await checkout(url, MAIN, None, tmp_path / "o", timeout=0.5)
    assert loop.time() - started < 5


# ------------------------------------------------------------------ HTTPS


def make_tls(tmp_path: Path) -> tuple[bytes, ssl.SSLContext]:
    """A fresh CA (PEM) and a server context for 127.0.0.1 signed by it."""
    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name(f"sluice test CA {ca_key.public_key().public_numbers().x % 10**9}"))
        .issuer_name(name(f"sluice test CA {ca_key.public_key().public_numbers().x % 10**9}"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    return ca.public_bytes(serialization.Encoding.PEM), context


async def test_https_with_a_private_ca(tmp_path: Path) -> None:
    ca_pem, context = make_tls(tmp_path)
    async with GitHTTPServer(tmp_path / "srv", ssl_context=context) as server:
        repo = server.create_repo("app.git", {"a.yaml": "a: 1\n"})
        url = server.repo_url("app.git")
        assert url.startswith("https://")
        # Unknown CA: refused (this CA is new, so nothing trusts it yet).
        with pytest.raises(AuthenticationFailed, match="not trusted"):
            await remote_revision(url, MAIN, None)
        auth = GitAuth.from_secret({"ca.crt": ca_pem})
        commit = await checkout(url, MAIN, auth, tmp_path / "out")
        assert commit.revision == f"main@sha1:{repo.head()}"


async def test_trusting_a_second_ca_keeps_the_first(tmp_path: Path) -> None:
    # libgit2 trusts CAs process-wide; a second source's ca.crt must not evict the first.
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    ca_one, ctx_one = make_tls(tmp_path / "one")
    ca_two, ctx_two = make_tls(tmp_path / "two")
    async with GitHTTPServer(tmp_path / "srv1", ssl_context=ctx_one) as one, \
            GitHTTPServer(tmp_path / "srv2", ssl_context=ctx_two) as two:
        one.create_repo("a.git", {"a.yaml": "a: 1\n"})
        two.create_repo("b.git", {"b.yaml": "b: 1\n"})
        url_one, url_two = one.repo_url("a.git"), two.repo_url("b.git")
        await remote_revision(url_one, MAIN, GitAuth.from_secret({"ca.crt": ca_one}))
        await remote_revision(url_two, MAIN, GitAuth.from_secret({"ca.crt": ca_two}))
        assert await remote_revision(url_one, MAIN, GitAuth.from_secret({"ca.crt": ca_one}))


async def test_each_source_trusts_only_its_own_ca(tmp_path: Path) -> None:
    # A CA given to one GitRepository must not make another source's server trusted:
    # libgit2's CA store is process-wide, so workers are kept apart by the CA they hold.
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    ca_one, ctx_one = make_tls(tmp_path / "one")
    ca_two, ctx_two = make_tls(tmp_path / "two")
    async with GitHTTPServer(tmp_path / "srv1", ssl_context=ctx_one) as one, \
            GitHTTPServer(tmp_path / "srv2", ssl_context=ctx_two) as two:
        one.create_repo("a.git", {"a.yaml": "a: 1\n"})
        two.create_repo("b.git", {"b.yaml": "b: 1\n"})
        url_one, url_two = one.repo_url("a.git"), two.repo_url("b.git")
        trusts_one = GitAuth.from_secret({"ca.crt": ca_one})
        trusts_two = GitAuth.from_secret({"ca.crt": ca_two})
        for _ in range(2):  # again once workers holding each CA are warm and reused
            assert await remote_revision(url_one, MAIN, trusts_one)
            assert await remote_revision(url_two, MAIN, trusts_two)
            with pytest.raises(AuthenticationFailed, match="not trusted"):
                await remote_revision(url_two, MAIN, trusts_one)
            with pytest.raises(AuthenticationFailed, match="not trusted"):
                await remote_revision(url_one, MAIN, trusts_two)
            with pytest.raises(AuthenticationFailed, match="not trusted"):
                await remote_revision(url_one, MAIN, None)
