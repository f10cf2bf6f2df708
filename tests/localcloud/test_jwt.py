"""The JWT authorizer's checks against tokens from the local issuer (real RSA signatures)."""

from __future__ import annotations

import json
import time

import pytest

from localcloud.jwt import JwtAuthorizer, LocalIssuer, Unauthorized, b64url_decode, b64url_encode
from tests.localcloud.conftest import ISSUER


def test_a_fresh_token_is_accepted_with_its_claims_and_scopes(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    verified = authorizer.verify_header("Bearer " + issuer.mint({"sub": "alice", "scope": "fhr/read fhr/write"}))
    assert verified.claims["sub"] == "alice"
    assert verified.scopes == ("fhr/read", "fhr/write")
    assert authorizer.verify_header(issuer.mint()).claims["iss"] == ISSUER  # bare token, no "Bearer"


def test_client_id_stands_for_the_audience_only_without_an_aud(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    """As API Gateway: it evaluates client_id only when aud is absent (a Cognito access token has no aud)."""
    assert authorizer.verify(issuer.mint({"aud": None, "client_id": "fhr-api"})).claims["client_id"] == "fhr-api"
    with pytest.raises(Unauthorized, match="audience"):
        authorizer.verify(issuer.mint({"aud": "other", "client_id": "fhr-api"}))


@pytest.mark.parametrize(
    "aud", [123, 1.5, True, {"fhr-api": 1}, [1, 2], ["fhr-api", 7], [["fhr-api"]]], ids=lambda v: repr(v)[:20]
)
def test_an_aud_of_the_wrong_type_is_unauthorized_not_an_error(
    issuer: LocalIssuer, authorizer: JwtAuthorizer, aud: object
) -> None:
    with pytest.raises(Unauthorized, match="aud is neither a string nor a list of strings"):
        authorizer.verify(issuer.mint({"aud": aud}))
    with pytest.raises(Unauthorized, match="client_id"):
        authorizer.verify(issuer.mint({"aud": None, "client_id": aud}))


@pytest.mark.parametrize(
    ("raw", "claim"),
    [
        ('"exp": Infinity', "exp"),
        ('"exp": NaN', "exp"),
        ('"exp": 1e999', "exp"),  # overflows to infinity without being a JSON constant
        ('"exp": -Infinity', "exp"),
        ('"exp": true', "exp"),
        ('"exp": "9999999999"', "exp"),
        ('"nbf": NaN', "nbf"),
        ('"iat": -1e999', "iat"),
    ],
)
def test_a_non_finite_or_non_numeric_time_is_unauthorized(
    issuer: LocalIssuer, authorizer: JwtAuthorizer, raw: str, claim: str
) -> None:
    times = {"exp": "9999999999", "nbf": "0", "iat": "0"}
    times[claim] = raw.split(": ", 1)[1]
    payload = f'{{"iss": "{ISSUER}", "aud": "fhr-api", ' + ", ".join(f'"{k}": {v}' for k, v in times.items()) + "}"
    with pytest.raises(Unauthorized):
        authorizer.verify(issuer.sign_payload(payload.encode()))


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "fhr/read items/read"}, ("fhr/read", "items/read")),
        ({"scope": None, "scp": ["fhr/write"]}, ("fhr/write",)),
        ({"scope": None, "scp": "fhr/read"}, ("fhr/read",)),
        ({"scope": 7}, ()),
        ({"scope": ["fhr/read", 1]}, ()),
        ({"scope": None}, ()),
    ],
)
def test_scopes_of_any_claim_shape_never_fail_the_token(
    issuer: LocalIssuer, authorizer: JwtAuthorizer, claims: dict, scopes: tuple
) -> None:
    assert authorizer.verify(issuer.mint(claims)).scopes == scopes


def test_the_local_issuer_grants_the_apps_scopes_unless_told_otherwise() -> None:
    scoped = LocalIssuer(ISSUER, ["fhr-api"], scopes=("fhr/read", "fhr/write"))
    check = JwtAuthorizer(ISSUER, ["fhr-api"], scoped.jwks)
    assert check.verify(scoped.mint()).scopes == ("fhr/read", "fhr/write")
    assert check.verify(scoped.mint({"scope": "fhr/read"})).scopes == ("fhr/read",)
    assert check.verify(scoped.mint({"scope": None})).scopes == ()


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
