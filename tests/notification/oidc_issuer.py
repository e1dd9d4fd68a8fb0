"""A local OIDC issuer: discovery document, JWKS and RS256 tokens, as GitHub Actions' issuer serves.

    async with OIDCIssuer() as issuer:
        token = issuer.token({"sub": "repo:org/app:ref:refs/heads/main"})
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class OIDCIssuer:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""
        self.discovery_calls = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> OIDCIssuer:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_calls += 1
        return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/jwks",
                                  "id_token_signing_alg_values_supported": ["RS256"]})

    async def _jwks(self, request: web.Request) -> web.Response:
        numbers = self.key.public_key().public_numbers()
        return web.json_response({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256",
                                            "use": "sig", "n": _uint(numbers.n),
                                            "e": _uint(numbers.e)}]})

    def token(self, claims: dict[str, Any], audience: str = "notification-controller",
              key: rsa.RSAPrivateKey | None = None) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": audience, "iat": now, "exp": now + 300, **claims}
        header = _b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(body).encode())
        signed = f"{header}.{payload}".encode()
        signature = (key or self.key).sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64(signature)}"
