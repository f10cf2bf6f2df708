"""JWT authorization for the local front door, and the local issuer that stands in for the real one.

API Gateway's JWT authorizer fetches the issuer's JWKS and checks each request's bearer token:
signature (RSA, ``RS256``), ``iss`` equal to the configured issuer, ``aud`` (or, only when there is
no ``aud``, ``client_id``) among the configured audiences, ``exp`` in the future, ``nbf``/``iat`` not in
the future. Anything else, including a claim of the wrong type (an ``aud`` that is a number, an
``exp`` that is not a finite number), is ``401 {"message": "Unauthorized"}``.

Locally there is no real issuer, so the local cloud acts as one: :class:`LocalIssuer` generates an RSA
key at start-up, serves its JWKS at ``{local_issuer_url}/.well-known/jwks.json`` and mints dev tokens at
``POST {local_issuer_url}/token``. Its tokens carry the stack's configured ``iss`` and audience, so
the same issuer/audience checks run as in the deployed stack; only the signing key is local. The
:class:`JwtAuthorizer` verifies against the JWKS it is given, exactly as it would against a fetched one.
"""

from __future__ import annotations

import base64
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

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

    def __init__(
        self,
        issuer: str,
        audience: Sequence[str],
        scopes: Sequence[str] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.audience = tuple(audience)
        self.scopes = tuple(scopes)  # what a token holds unless its claims say otherwise
        self.claims = dict(claims or {})  # further default claims (the stack's tenant claim)
        self.kid = uuid.uuid4().hex[:16]
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": self.kid}
        return {"keys": [key | {"n": _int_to_b64url(numbers.n), "e": _int_to_b64url(numbers.e)}]}

    def mint(self, claims: Mapping[str, Any] | None = None, ttl_s: int = DEFAULT_TOKEN_TTL_S) -> str:
        """A signed token; ``claims`` override the defaults (iss, aud, sub, iat, nbf, exp, scope), and a
        claim given as ``None`` is left out (a token without ``sub``, or without any scope)."""
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
        if self.scopes:
            body["scope"] = " ".join(self.scopes)
        body.update(self.claims)
        body.update(claims or {})
        return self.sign({name: value for name, value in body.items() if value is not None})

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        return self.sign_payload(json.dumps(claims).encode(), header)

    def sign_payload(self, payload: bytes, header: Mapping[str, Any] | None = None) -> str:
        """Sign raw claim bytes as given (tests craft JSON that ``json.dumps`` would never write)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        head = {"alg": ALGORITHM, "typ": "JWT", "kid": self.kid} | dict(header or {})
        signing_input = f"{b64url_encode(json.dumps(head).encode())}.{b64url_encode(payload)}"
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
        return VerifiedToken(claims=claims, scopes=token_scopes(claims))

    @staticmethod
    def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthorized("token is not a three-part JWS")
        try:
            head = json.loads(b64url_decode(parts[0]), parse_constant=_reject_constant)
            claims = json.loads(b64url_decode(parts[1]), parse_constant=_reject_constant)
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
        audiences = _audiences(claims)
        if not audiences & self.audience:
            raise Unauthorized(f"audience {sorted(audiences)} is not among {sorted(self.audience)}")
        exp = claims.get("exp")
        if not _is_time(exp) or exp + self.leeway_s <= now:
            raise Unauthorized("token has expired or has no finite numeric exp")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not _is_time(value) or value - self.leeway_s > now):
                raise Unauthorized(f"token {name} is not a finite time in the past")


def token_scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The token's OAuth scopes: ``scope`` (space-separated, RFC 8693) or ``scp`` (a string or a list).
    A claim of any other shape grants no scope, so a route that requires one refuses the token."""
    value = claims.get("scope", claims.get("scp", ""))
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _is_time(value: Any) -> TypeGuard[float]:
    """A NumericDate: a finite JSON number (not a boolean, not NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _audiences(claims: Mapping[str, Any]) -> set[str]:
    """``aud`` (a string or a list of strings); ``client_id`` counts only when there is no ``aud``, as
    API Gateway evaluates it. A claim of another type is refused, not coerced."""
    if "aud" in claims:
        value, name = claims["aud"], "aud"
    else:
        value, name = claims.get("client_id", []), "client_id"
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Unauthorized(f"{name} is neither a string nor a list of strings")
    return set(values)
