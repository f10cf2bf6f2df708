"""The JWT authorizer's checks against tokens from the local issuer (real RSA signatures)."""

from __future__ import annotations

import json
import time

import pytest

from localcloud.jwt import JwtAuthorizer, LocalIssuer, Unauthorized, b64url_decode, b64url_encode

ISSUER = "https://auth.example.org/"


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer(ISSUER, ["fhr-api"])


@pytest.fixture(scope="module")
def authorizer(issuer: LocalIssuer) -> JwtAuthorizer:
    return JwtAuthorizer(ISSUER, ["fhr-api"], issuer.jwks)


def test_a_fresh_token_is_accepted_with_its_claims_and_scopes(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    verified = authorizer.verify_header("Bearer " + issuer.mint({"sub": "alice", "scope": "fhr/read fhr/write"}))
    assert verified.claims["sub"] == "alice"
    assert verified.scopes == ("fhr/read", "fhr/write")
    assert authorizer.verify_header(issuer.mint()).claims["iss"] == ISSUER  # bare token, no "Bearer"


def test_client_id_may_stand_for_the_audience(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    assert authorizer.verify(issuer.mint({"aud": "other", "client_id": "fhr-api"})).claims["client_id"] == "fhr-api"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.example.org/"}, "issuer"),
        ({"aud": "someone-else"}, "audience"),
        ({"exp": int(time.time()) - 1}, "expired"),
        ({"nbf": int(time.time()) + 600}, "nbf"),
        ({"iat": int(time.time()) + 600}, "iat"),
    ],
)
def test_bad_claims_are_rejected(issuer: LocalIssuer, authorizer: JwtAuthorizer, claims: dict, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        authorizer.verify(issuer.mint(claims))


def test_a_token_without_exp_is_rejected(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    token = issuer.sign({"iss": ISSUER, "aud": "fhr-api"})
    with pytest.raises(Unauthorized, match="exp"):
        authorizer.verify(token)


def test_a_tampered_payload_fails_the_signature(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    head, body, sig = issuer.mint({"sub": "alice"}).split(".")
    claims = json.loads(b64url_decode(body)) | {"sub": "admin"}
    with pytest.raises(Unauthorized, match="signature"):
        authorizer.verify(f"{head}.{b64url_encode(json.dumps(claims).encode())}.{sig}")


def test_another_issuers_key_and_other_algorithms_are_rejected(authorizer: JwtAuthorizer) -> None:
    stranger = LocalIssuer(ISSUER, ["fhr-api"])
    with pytest.raises(Unauthorized, match="kid"):
        authorizer.verify(stranger.mint())
    head = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url_encode(json.dumps({"iss": ISSUER, "aud": "fhr-api", "exp": time.time() + 60}).encode())
    with pytest.raises(Unauthorized, match="algorithm"):
        authorizer.verify(f"{head}.{body}.")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c"])
def test_missing_or_garbage_headers_are_unauthorized(authorizer: JwtAuthorizer, header: str | None) -> None:
    with pytest.raises(Unauthorized):
        authorizer.verify_header(header)
