"""JWT authorization for the local front door, and the local issuer that stands in for the real one.

API Gateway's JWT authorizer fetches the issuer's JWKS and checks each request's bearer token:
signature (RSA, ``RS256``), ``iss`` equal to the configured issuer, ``aud`` (or ``client_id``) among the
configured audiences, ``exp`` in the future, ``nbf``/``iat`` not in the future. Anything else is
``401 {"message": "Unauthorized"}``.

Locally there is no real issuer, so the local cloud acts as one: :class:`LocalIssuer` generates an RSA
key at start-up, serves its JWKS at ``{local_issuer_url}/.well-known/jwks.json`` and mints dev tokens at
``POST {local_issuer_url}/token``. Its tokens carry the stack's configured ``iss`` and audience, so
the same issuer/audience checks run as in the deployed stack; only the signing key is local. The
:class:`JwtAuthorizer` verifies against the JWKS it is given, exactly as it would against a fetched one.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALGORITHM = "RS256"
DEFAULT_TOKEN_TTL_S = 12 * 3600


class Unauthorized(Exception):
    """The request's token is missing or fails a check; ``reason`` is logged, never sent to the client."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_to_b64url(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class LocalIssuer:
    """An RSA signing key with its JWKS; mints tokens that claim the stack's issuer."""

    def __init__(self, issuer: str, audience: Sequence[str]) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.audience = tuple(audience)
        self.kid = uuid.uuid4().hex[:16]
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": self.kid}
        return {"keys": [key | {"n": _int_to_b64url(numbers.n), "e": _int_to_b64url(numbers.e)}]}

    def mint(self, claims: Mapping[str, Any] | None = None, ttl_s: int = DEFAULT_TOKEN_TTL_S) -> str:
        """A signed token; ``claims`` override the defaults (iss, aud, sub, iat, nbf, exp)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience[0] if self.audience else "local",
            "sub": "local-developer",
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        body.update(claims or {})
        return self.sign(body)

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        head = {"alg": ALGORITHM, "typ": "JWT", "kid": self.kid} | dict(header or {})
        signing_input = f"{b64url_encode(json.dumps(head).encode())}.{b64url_encode(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url_encode(signature)}"


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    scopes: tuple[str, ...]


class JwtAuthorizer:
    """API Gateway's JWT authorizer checks, against a JWKS document."""

    def __init__(self, issuer: str, audience: Sequence[str], jwks: Mapping[str, Any], leeway_s: int = 0) -> None:
        self.issuer = issuer
        self.audience = frozenset(audience)
        self.leeway_s = leeway_s
        self._keys = {key.get("kid"): key for key in jwks.get("keys", []) if key.get("kty") == "RSA"}

    def verify_header(self, authorization: str | None) -> VerifiedToken:
        """Check the ``Authorization`` header value (``Bearer <jwt>`` or the bare token)."""
        if not authorization:
            raise Unauthorized("no Authorization header")
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        return self.verify(token)

    def verify(self, token: str, now: float | None = None) -> VerifiedToken:
        head, claims, signing_input, signature = self._split(token)
        self._check_signature(head, signing_input, signature)
        self._check_claims(claims, time.time() if now is None else now)
        scope = claims.get("scope", claims.get("scp", ""))
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(str(s) for s in scope)
        return VerifiedToken(claims=claims, scopes=scopes)

    @staticmethod
    def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthorized("token is not a three-part JWS")
        try:
            head = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except ValueError as exc:
            raise Unauthorized(f"token does not decode: {exc}") from None
        if not isinstance(head, dict) or not isinstance(claims, dict):
            raise Unauthorized("token header or claims are not JSON objects")
        return head, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature

    def _check_signature(self, head: dict[str, Any], signing_input: bytes, signature: bytes) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        if head.get("alg") != ALGORITHM:
            raise Unauthorized(f"algorithm {head.get('alg')!r} is not {ALGORITHM}")
        jwk = self._keys.get(head.get("kid"))
        if jwk is None:
            raise Unauthorized(f"kid {head.get('kid')!r} is not in the JWKS")
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        public_key = rsa.RSAPublicNumbers(e, n).public_key()
        try:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise Unauthorized("signature does not verify") from None

    def _check_claims(self, claims: dict[str, Any], now: float) -> None:
        if claims.get("iss") != self.issuer:
            raise Unauthorized(f"issuer {claims.get('iss')!r} is not {self.issuer!r}")
        audiences = claims.get("aud", [])
        audiences = {audiences} if isinstance(audiences, str) else set(audiences)
        if "client_id" in claims:
            audiences.add(claims["client_id"])
        if not audiences & self.audience:
            raise Unauthorized(f"audience {sorted(audiences)} is not among {sorted(self.audience)}")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp + self.leeway_s <= now:
            raise Unauthorized("token has expired or has no exp")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not isinstance(value, (int, float)) or value - self.leeway_s > now):
                raise Unauthorized(f"token {name} is in the future")
