"""The ``generic-oidc`` receiver: a caller proves who it is with an OIDC token, not a shared secret.

Flux 2.7's receiver (``receiver_oidc.go`` and ``receiver_claims.go``), step
by step:

1. ``Authorization: Bearer <JWT>`` is required; the token's ``iss`` (read
   unverified) picks the ``spec.oidcProviders[]`` entry with that
   ``issuerURL``;
2. the issuer's discovery document (``<issuer>/.well-known/openid-configuration``,
   whose ``issuer`` must be the same URL) names its ``jwks_uri``; the token
   is verified as go-oidc's ``Verifier`` does: signature by a key of the JWKS
   (RS256/384/512, PS256/384/512, ES256/384/512; only those the issuer lists
   in ``id_token_signing_alg_values_supported``, RS256 when it lists none),
   ``iss``, ``aud`` containing the provider's ``audience``
   (``notification-controller`` by default), ``exp`` not passed, ``nbf``
   within five minutes;
3. the CEL ``variables`` (over ``claims`` and the ``vars`` set so far) are
   evaluated in order, then every ``validations[]`` expression; the messages
   of those that are false make ``token validation failed: <m1>; <m2>``.

Every refusal is a `Rejected` (400), as in Flux. Discovery documents and
key sets are cached per issuer for `CACHE_SECONDS`; a token signed by an
unknown key id refetches the set once. The token itself never reaches a
log or a status.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from celpy import celtypes
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sluice.controllers.notification.errors import Rejected
from sluice.core.cel import CELError, compile_expression

__all__ = ["DEFAULT_AUDIENCE", "OIDCVerifier", "validate_oidc_providers"]

DEFAULT_AUDIENCE = "notification-controller"
CACHE_SECONDS = 300.0
# go-oidc accepts an nbf up to five minutes in the future (clock skew).
NBF_LEEWAY = 300.0
_ISSUER_URL = re.compile(r"^https?://")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def validate_oidc_providers(providers: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) for an invalid ``spec.oidcProviders``, as Flux's reconciler words it."""
    seen: set[str] = set()
    for i, p in enumerate(providers):
        issuer = str(p.get("issuerURL") or "")
        if not issuer:
            return "ValidationFailed", f"oidcProviders[{i}]: issuerURL is required"
        where = f'oidcProviders[{i}] (issuerURL="{issuer}")'
        if not _ISSUER_URL.match(issuer):
            return ("ValidationFailed", f'oidcProviders[{i}]: issuerURL "{issuer}" must start '
                    "with http:// or https://")
        if issuer in seen:
            return "ValidationFailed", f'oidcProviders[{i}]: duplicate issuerURL "{issuer}"'
        seen.add(issuer)
        if not p.get("validations"):
            return ("ValidationFailed", f"{where}: at least one validation is required; "
                    "without validations any caller able to obtain a token from this issuer "
                    "can trigger the Receiver")
        for j, v in enumerate(p.get("variables") or []):
            if not v.get("name"):
                return "ValidationFailed", f"{where}: variables[{j}]: name is required"
            if not v.get("expression"):
                return ("ValidationFailed", f'{where}: variables[{j}] (name="{v["name"]}"): '
                        "expression is required")
        for j, v in enumerate(p["validations"]):
            if not v.get("expression"):
                return "ValidationFailed", f"{where}: validations[{j}]: expression is required"
            if not v.get("message"):
                return "ValidationFailed", f"{where}: validations[{j}]: message is required"
    for i, p in enumerate(providers):
        try:
            _Claims(p)
        except CELError as exc:
            return ("InvalidCELExpression",
                    f'oidcProviders[{i}] (issuerURL="{p.get("issuerURL")}"): {exc}')
    return None


class _Claims:
    """The compiled ``variables`` and ``validations`` of one OIDC provider."""

    def __init__(self, provider: Mapping[str, Any]) -> None:
        names = ("claims", "vars")
        self.variables = []
        for v in provider.get("variables") or []:
            try:
                self.variables.append((str(v["name"]), compile_expression(
                    str(v["expression"]), names)))
            except CELError as exc:
                raise CELError(f'invalid expression for variable "{v["name"]}": {exc}') from None
        self.validations = []
        for v in provider.get("validations") or []:
            try:
                self.validations.append((compile_expression(str(v["expression"]), names, "bool"),
                                         str(v.get("message") or "")))
            except CELError as exc:
                raise CELError(f'invalid expression for validation "{v.get("message")}": '
                               f"{exc}") from None

    def check(self, claims: Mapping[str, Any]) -> None:
        variables: dict[str, Any] = {}
        data = {"claims": dict(claims), "vars": variables}
        for name, expr in self.variables:
            try:
                variables[name] = _native(expr.evaluate(data))
            except CELError as exc:
                raise Rejected(f'failed to evaluate variable "{name}": {exc}') from None
        failures = []
        for expr, message in self.validations:
            try:
                if not expr.evaluate_bool(data):
                    failures.append(message)
            except CELError as exc:
                raise Rejected(f"failed to evaluate validation: {exc}") from None
        if failures:
            raise Rejected(f"token validation failed: {'; '.join(failures)}")


def _native(value: Any) -> Any:
    """A CEL result as plain JSON values, so later expressions see ``vars`` typed right."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.MapType):
        return {str(k): _native(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_native(v) for v in value]
    return value


@dataclass
class _Issuer:
    algorithms: list[str]
    keys: list[dict[str, Any]]
    jwks_uri: str
    fetched: float


class OIDCVerifier:
    """Verifies generic-oidc calls; keeps each issuer's discovery and keys for a while."""

    def __init__(self) -> None:
        self._issuers: dict[str, _Issuer] = {}
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get_json(self, url: str, what: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.get(url, headers={"Accept": "application/json"}) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise Rejected(f"{what}: {resp.status} {resp.reason}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Rejected(f"{what}: {type(exc).__name__}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise Rejected(f"{what}: the answer is not JSON") from None

    async def _issuer(self, url: str, refresh: bool = False) -> _Issuer:
        known = self._issuers.get(url)
        if known is not None and not refresh and time.monotonic() - known.fetched < CACHE_SECONDS:
            return known
        what = f'failed to initialize OIDC provider for issuer "{url}"'
        if known is None or time.monotonic() - known.fetched >= CACHE_SECONDS:
            doc = await self._get_json(url.rstrip("/") + "/.well-known/openid-configuration",
                                       what)
            if not isinstance(doc, dict):
                raise Rejected(f"{what}: invalid discovery document")
            if doc.get("issuer") != url:
                raise Rejected(f'{what}: oidc: issuer did not match the issuer returned by '
                               f'provider, expected "{url}" got "{doc.get("issuer")}"')
            algorithms = [a for a in doc.get("id_token_signing_alg_values_supported") or []
                          if isinstance(a, str)] or ["RS256"]
            jwks_uri = str(doc.get("jwks_uri") or "")
        else:
            algorithms, jwks_uri = known.algorithms, known.jwks_uri
        keys = await self._get_json(jwks_uri, "failed to verify OIDC token: fetching keys")
        found = keys.get("keys") if isinstance(keys, dict) else None
        issuer = _Issuer(algorithms, [k for k in found or [] if isinstance(k, dict)], jwks_uri,
                         time.monotonic())
        self._issuers[url] = issuer
        return issuer

    async def verify(self, spec: Mapping[str, Any], authorization: str) -> dict[str, Any]:
        """The token's claims, once verified and validated; `Rejected` otherwise."""
        providers: list[Mapping[str, Any]] = spec.get("oidcProviders") or []
        if not providers:
            raise Rejected("generic-oidc receiver has no oidcProviders configured")
        if not authorization.startswith("Bearer "):
            raise Rejected("the Authorization header is missing or malformed")
        raw = authorization[len("Bearer "):].strip()
        if not raw:
            raise Rejected("the Authorization header is missing a bearer token")
        header, payload, signature, signed = _parse(raw)
        iss = payload.get("iss")
        if not isinstance(iss, str) or not iss:
            raise Rejected("failed to parse bearer token: token is missing the 'iss' claim")
        provider = next((p for p in providers if p.get("issuerURL") == iss), None)
        if provider is None:
            raise Rejected(f'no oidcProvider configured for issuer "{iss}"')
        issuer = await self._issuer(iss)
        alg = str(header.get("alg") or "")
        if alg not in issuer.algorithms:
            raise Rejected(f'failed to verify OIDC token: oidc: id token signed with unsupported '
                           f'algorithm, expected {issuer.algorithms} got "{alg}"')
        if not _verified(issuer.keys, header, alg, signed, signature):
            issuer = await self._issuer(iss, refresh=True)  # keys may have rotated
            if not _verified(issuer.keys, header, alg, signed, signature):
                raise Rejected("failed to verify OIDC token: failed to verify signature: "
                               "failed to verify id token signature")
        _check_times_and_audience(payload, str(provider.get("audience") or DEFAULT_AUDIENCE))
        try:
            rules = _Claims(provider)
        except CELError as exc:
            raise Rejected(f'invalid oidcProvider configuration for issuer "{iss}": {exc}'
                           ) from None
        rules.check(payload)
        return payload


def _parse(raw: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = raw.split(".")
    if len(parts) != 3:
        raise Rejected("failed to parse bearer token: token is not a JWT")
    try:
        header = json.loads(_b64(parts[0]))
        payload = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, binascii.Error):
        raise Rejected("failed to parse bearer token: failed to decode token payload") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Rejected("failed to parse bearer token: failed to parse token payload")
    return header, payload, signature, f"{parts[0]}.{parts[1]}".encode()


def _int(value: str) -> int:
    return int.from_bytes(_b64(value), "big")


def _verified(keys: list[dict[str, Any]], header: Mapping[str, Any], alg: str, signed: bytes,
              signature: bytes) -> bool:
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.get("kid") in (None, kid)]
    digest = _HASHES.get(alg[2:])
    if digest is None:
        return False
    for key in candidates:
        try:
            if alg[:2] in ("RS", "PS") and key.get("kty") == "RSA":
                public = rsa.RSAPublicNumbers(_int(key["e"]), _int(key["n"])).public_key()
                pad: padding.AsymmetricPadding = (
                    padding.PKCS1v15() if alg[:2] == "RS" else
                    padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest().digest_size))
                public.verify(signature, signed, pad, digest())
                return True
            if alg[:2] == "ES" and key.get("kty") == "EC":
                curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                         "P-521": ec.SECP521R1()}[key["crv"]]
                ec_key = ec.EllipticCurvePublicNumbers(_int(key["x"]), _int(key["y"]),
                                                       curve).public_key()
                half = len(signature) // 2
                der = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                           int.from_bytes(signature[half:], "big"))
                ec_key.verify(der, signed, ec.ECDSA(digest()))
                return True
        except (InvalidSignature, KeyError, ValueError, TypeError):
            continue
    return False


def _check_times_and_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise Rejected(f'failed to verify OIDC token: oidc: expected audience "{audience}" got '
                       f"{json.dumps(audiences)}")
    now = time.time()
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or now > exp:
        raise Rejected("failed to verify OIDC token: oidc: token is expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and now + NBF_LEEWAY < nbf:
        raise Rejected("failed to verify OIDC token: oidc: current time before the nbf (not "
                       "before) time")
