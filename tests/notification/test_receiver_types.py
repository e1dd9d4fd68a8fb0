"""The ACR, CDEvents and generic-oidc receivers over real webhook calls; gcr stalls."""

from __future__ import annotations

import hashlib
import json

import httpx
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from sluice.testing.polling import async_wait_for

from .conftest import Harness
from .oidc_issuer import OIDCIssuer
from .test_receivers import _indexed, _ready

RECEIVER_API = "notification.toolkit.fluxcd.io/v1"
GIT_API = "source.toolkit.fluxcd.io/v1"
TOKEN = "acr-and-cdevents-token"
CE_TYPE = "dev.cdevents.artifact.published.0.1.1"


def _receiver(namespace: str, name: str, kind: str, **spec: object) -> str:
    return yaml.safe_dump({"apiVersion": RECEIVER_API, "kind": "Receiver",
                           "metadata": {"name": name, "namespace": namespace},
                           "spec": {"type": kind, "secretRef": {"name": "token"},
                                    "resources": [{"kind": "GitRepository", "name": "app"}],
                                    **spec}})


async def _requested_at(h: Harness, namespace: str) -> str | None:
    repo = await h.get(GIT_API, "GitRepository", namespace, "app") or {}
    return (repo.get("metadata", {}).get("annotations") or {}).get(
        "reconcile.fluxcd.io/requestedAt")


async def test_acr_and_cdevents_calls_and_an_unserved_type(harness: Harness,
                                                           namespace: str) -> None:
    h = harness
    await h.secret(namespace, "token", {"token": TOKEN})
    await h.apply(yaml.safe_dump({
        "apiVersion": GIT_API, "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"interval": "10m", "url": "http://127.0.0.1:9/none.git"}}))
    await h.apply(_receiver(namespace, "acr", "acr"))
    await h.apply(_receiver(namespace, "cde", "cdevents", events=[CE_TYPE]))
    await h.apply(_receiver(namespace, "gcr", "gcr"))
    paths = {name: "/hook/" + hashlib.sha256(f"{TOKEN}{name}{namespace}".encode()).hexdigest()
             for name in ("acr", "cde")}
    for path in paths.values():
        await async_wait_for(lambda p=path: _indexed(h, p), timeout=15, what="receiver ready")

    async with httpx.AsyncClient(base_url=h.receiver_url) as client:
        assert (await client.post(paths["acr"], content=b"not json")).status_code == 400
        assert await _requested_at(h, namespace) is None
        push = {"action": "push", "target": {"repository": "app", "tag": "1.2.3"}}
        assert (await client.post(paths["acr"], json=push)).status_code == 200
        first = await _requested_at(h, namespace)
        assert first is not None

        cdevent = {"context": {"version": "0.4.1", "id": "1", "source": "ci", "type": CE_TYPE,
                               "timestamp": "2026-08-07T12:00:00Z"},
                   "subject": {"id": "pkg:oci/app", "content": {}}}
        other = await client.post(paths["cde"], json=cdevent,
                                  headers={"Ce-Type": "dev.cdevents.build.started.0.1.1"})
        assert other.status_code == 400  # not in spec.events
        broken = await client.post(paths["cde"], json={"context": {}},
                                   headers={"Ce-Type": CE_TYPE})
        assert broken.status_code == 400
        assert await _requested_at(h, namespace) == first
        ok = await client.post(paths["cde"], json=cdevent, headers={"Ce-Type": CE_TYPE})
        assert ok.status_code == 200
    await async_wait_for(lambda: _changed(h, namespace, first), timeout=10,
                         what="requestedAt updated by the CDEvent")

    async def stalled() -> dict | None:
        obj = await h.get(RECEIVER_API, "Receiver", namespace, "gcr")
        return obj if _ready(obj) and _ready(obj)[1] == "ValidationFailed" else None

    gcr = await async_wait_for(stalled, timeout=15, what="gcr receiver stalled")
    assert _ready(gcr) == ("False", "ValidationFailed", 'recevier type "gcr" not supported')
    conditions = {c["type"]: c for c in gcr["status"]["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    warning = await h.wait_event(namespace, "Receiver", "gcr",
                                 lambda e: e["reason"] == "ValidationFailed", "warning")
    assert warning["type"] == "Warning"
    assert TOKEN not in json.dumps(gcr)


async def _changed(h: Harness, namespace: str, before: str) -> bool:
    return (await _requested_at(h, namespace)) not in (None, before)


async def test_generic_oidc_checks_the_token_and_its_claims(harness: Harness,
                                                            namespace: str) -> None:
    h = harness
    async with OIDCIssuer() as issuer:
        await h.apply(yaml.safe_dump({
            "apiVersion": GIT_API, "kind": "GitRepository",
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"interval": "10m", "url": "http://127.0.0.1:9/none.git"}}))
        provider = {"issuerURL": issuer.url,
                    "variables": [{"name": "repo",
                                   "expression": "claims.sub.startsWith('repo:org/app:')"}],
                    "validations": [
                        {"expression": "vars.repo", "message": "wrong repository"},
                        {"expression": "claims.ref == 'refs/heads/main'",
                         "message": "not the main branch"}]}
        await h.apply(yaml.safe_dump({
            "apiVersion": RECEIVER_API, "kind": "Receiver",
            "metadata": {"name": "oidc", "namespace": namespace},
            "spec": {"type": "generic-oidc", "oidcProviders": [provider],
                     "resourceFilter": "claims.ref == 'refs/heads/main'",
                     "resources": [{"kind": "GitRepository", "name": "app"}]}}))
        path = "/hook/" + hashlib.sha256(f"oidc{namespace}".encode()).hexdigest()
        await async_wait_for(lambda: _indexed(h, path), timeout=15, what="oidc receiver ready")

        good = issuer.token({"sub": "repo:org/app:ref:refs/heads/main", "ref": "refs/heads/main"})
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        refused = {
            "no token": {},
            "forged": {"Authorization": "Bearer " + issuer.token(
                {"sub": "repo:org/app", "ref": "refs/heads/main"}, key=other_key)},
            "other audience": {"Authorization": "Bearer " + issuer.token(
                {"sub": "repo:org/app", "ref": "refs/heads/main"}, audience="someone-else")},
            "wrong claims": {"Authorization": "Bearer " + issuer.token(
                {"sub": "repo:evil/app:ref:refs/heads/dev", "ref": "refs/heads/dev"})},
        }
        async with httpx.AsyncClient(base_url=h.receiver_url) as client:
            for what, headers in refused.items():
                response = await client.post(path, json={}, headers=headers)
                assert response.status_code == 400, what
            assert await _requested_at(h, namespace) is None
            ok = await client.post(path, json={}, headers={"Authorization": f"Bearer {good}"})
            assert ok.status_code == 200
        assert await _requested_at(h, namespace) is not None
        assert issuer.discovery_calls == 1  # cached per issuer

    # A provider without validations is refused, as Flux does.
    await h.apply(yaml.safe_dump({
        "apiVersion": RECEIVER_API, "kind": "Receiver",
        "metadata": {"name": "oidc", "namespace": namespace},
        "spec": {"oidcProviders": [{"issuerURL": "https://token.actions.githubusercontent.com",
                                    "validations": []}]}}))

    async def stalled() -> dict | None:
        obj = await h.get(RECEIVER_API, "Receiver", namespace, "oidc")
        return obj if _ready(obj) and _ready(obj)[1] == "ValidationFailed" else None

    obj = await async_wait_for(stalled, timeout=15, what="oidc receiver stalled")
    assert _ready(obj)[2] == (
        'oidcProviders[0] (issuerURL="https://token.actions.githubusercontent.com"): at least '
        "one validation is required; without validations any caller able to obtain a token "
        "from this issuer can trigger the Receiver")
