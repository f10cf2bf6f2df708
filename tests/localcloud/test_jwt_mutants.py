"""The JWT authorizer's time boundaries, claim shapes and the local issuer's keys and tokens, exactly (the
survivors of ``make mutants MODULE=jwt``). Real RSA keys and signatures; times set through ``verify(now=...)``.

RFC 7519: ``exp`` is the time *on or after which* a token must not be accepted, ``nbf`` the time *before which*
it must not be; API Gateway's JWT authorizer refuses both with 401 and has no configurable leeway (ours is 0).
"""

from __future__ import annotations

import json

import pytest

from localcloud.jwt import JwtAuthorizer, LocalIssuer, Unauthorized, b64url_decode
from tests.localcloud.conftest import ISSUER

T = 1_800_000_000  # the instant every boundary is set at


def claims_of(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[1]))


def test_a_token_is_refused_from_the_instant_it_expires(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    token = issuer.mint({"iat": T - 60, "nbf": T - 60, "exp": T})
    assert authorizer.verify(token, now=T - 0.001).claims["exp"] == T
    for now in (T, T + 0.001, T + 1):
        with pytest.raises(Unauthorized, match="expired"):
            authorizer.verify(token, now=now)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_is_accepted_from_the_instant_of_its_nbf_and_iat(
    issuer: LocalIssuer, authorizer: JwtAuthorizer, claim: str
) -> None:
    token = issuer.mint({"iat": T - 60, "nbf": T - 60, "exp": T + 3600} | {claim: T})
    for now in (T, T + 0.001):
        assert authorizer.verify(token, now=now).claims[claim] == T
    for now in (T - 0.001, T - 1):
        with pytest.raises(Unauthorized, match=claim):
            authorizer.verify(token, now=now)


def test_a_leeway_widens_both_ends_by_exactly_its_seconds(issuer: LocalIssuer) -> None:
    lenient = JwtAuthorizer(ISSUER, ["fhr-api"], issuer.jwks, leeway_s=60)
    expired = issuer.mint({"iat": T - 600, "nbf": T - 600, "exp": T})
    assert lenient.verify(expired, now=T + 59.9).claims["exp"] == T
    with pytest.raises(Unauthorized, match="expired"):
        lenient.verify(expired, now=T + 60)
    early = issuer.mint({"iat": T, "nbf": T, "exp": T + 3600})
    assert lenient.verify(early, now=T - 60).claims["nbf"] == T
    with pytest.raises(Unauthorized, match="nbf"):
        lenient.verify(early, now=T - 60.1)


@pytest.mark.parametrize("payload", [b'["https://auth.example.org/", "fhr-api"]', b'"fhr-api"', b"null", b"7"])
def test_signed_claims_that_are_not_a_json_object_are_unauthorized(
    issuer: LocalIssuer, authorizer: JwtAuthorizer, payload: bytes
) -> None:
    with pytest.raises(Unauthorized, match="not JSON objects"):
        authorizer.verify(issuer.sign_payload(payload))


def test_the_jwks_publishes_a_2048_bit_rs256_key_in_minimal_octets(issuer: LocalIssuer) -> None:
    """RFC 7518 6.3.1: ``n`` and ``e`` are unsigned big-endian integers in the minimum number of octets (no
    leading zero byte, which strict JWKS consumers refuse); RS256 wants a key of 2048 bits or more, and a real
    issuer (Cognito, Auth0, Entra ID) publishes 2048."""
    (key,) = issuer.jwks["keys"]
    assert {k: key[k] for k in ("kty", "use", "alg", "kid", "e")} == {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": issuer.kid,
        "e": "AQAB",  # 65537
    }
    n = b64url_decode(key["n"])
    assert len(n) == 256 and n[0] >= 0x80, (len(n), n[0])  # exactly 2048 bits, top bit set


def test_a_dev_token_lives_12_hours_as_fhr_local_announces(issuer: LocalIssuer, authorizer: JwtAuthorizer) -> None:
    claims = claims_of(issuer.mint())
    assert claims["exp"] - claims["iat"] == 12 * 3600 and claims["nbf"] == claims["iat"]
    with pytest.raises(Unauthorized, match="expired"):
        authorizer.verify(issuer.mint(), now=claims["iat"] + 12 * 3600 + 1)
    assert claims_of(issuer.mint(ttl_s=60))["exp"] - claims["iat"] in (60, 61)  # the same second, or the next


def test_a_dev_token_is_for_the_stacks_first_audience() -> None:
    """A stack may list several audiences; the local issuer's tokens name the first (the API's own)."""
    two = LocalIssuer(ISSUER, ["fhr-api", "fhr-admin"])
    assert claims_of(two.mint())["aud"] == "fhr-api"
    assert JwtAuthorizer(ISSUER, ["fhr-api"], two.jwks).verify(two.mint()).claims["aud"] == "fhr-api"
