"""The front door's JWT authorizer as a client of a jwt stack feels it, answer by answer (the survivors of
``make mutants MODULE=frontdoor_auth``): 401 and 403 exactly as API Gateway spells them, the function never
reached when refused, a token holding any one of a route's scopes admitted, every claim handed to the function
as API Gateway's string form, preflights on ANY routes routed like AWS routes them, and stage throttling.

One local cloud of the echo app on a jwt stack (real issuer, real RSA-signed tokens, real worker processes).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from fhrapp.config import ApiConfig, AuthConfig
from localcloud.cloud import LocalCloud
from localcloud.frontdoor import FrontDoor, TokenBucket

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISSUER = "https://auth.example.org/"
ORIGIN = "https://fhr.example.org"
JWT_AUTH = AuthConfig(mode="jwt", issuer=ISSUER, audience=("fhr-api",))
ONE_ORIGIN = ApiConfig(throttle_burst=1000, throttle_rate=1000.0, cors_origins=(ORIGIN,))
UNAUTHORIZED = (401, {"message": "Unauthorized"})
FORBIDDEN = (403, {"message": "Forbidden"})
WANTED = (
    'Bearer scope="echo/read echo/admin" error="insufficient_scope" error_description="expected scopes: '
    '[echo/read echo/admin]"'
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def jwt_cloud(cloud_factory: Any) -> AsyncIterator[LocalCloud]:
    async with cloud_factory({"auth": JWT_AUTH, "api": ONE_ORIGIN}) as cloud:
        yield cloud


def bearer(cloud: LocalCloud, **claims: Any) -> dict[str, str]:
    assert cloud.issuer is not None
    return {"Authorization": f"Bearer {cloud.issuer.mint(claims)}"}


async def call(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, **kwargs) as response:
        raw = await response.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return response.status, response.headers, body


def invocations(cloud: LocalCloud) -> int:
    assert cloud.lambdas is not None
    return cloud.lambdas.pool.cold_starts + sum(len(log) for log in cloud.lambdas.logs.values())


async def refused(cloud: LocalCloud, path: str, headers: dict[str, str], method: str = "GET") -> tuple[Any, Any]:
    """(status, body) and headers of a request the front door must answer without invoking the function."""
    before = invocations(cloud)
    status, response_headers, body = await call(cloud.outputs()["api_url"] + path, method, headers=headers)
    assert invocations(cloud) == before, f"{method} {path} reached the function ({status})"
    assert response_headers["apigw-requestid"]
    return (status, body), response_headers


async def echoed_event(cloud: LocalCloud, path: str, headers: dict[str, str], method: str = "GET") -> dict[str, Any]:
    status, _, body = await call(cloud.outputs()["api_url"] + path, method, headers=headers)
    assert status == 200, body
    return body["event"]


@pytest.mark.parametrize(
    "how",
    ["no header", "not a jwt", "expired", "other audience", "other issuer", "not yet valid", "claims an array"],
)
async def test_a_missing_or_invalid_token_is_401_and_never_reaches_the_function(
    jwt_cloud: LocalCloud, how: str
) -> None:
    assert jwt_cloud.issuer is not None
    now = jwt_cloud.issuer.mint  # a fresh token's claims, altered one at a time
    tokens = {
        "no header": None,
        "not a jwt": "Bearer not-a-jwt",
        "expired": f"Bearer {now({'exp': 1_000_000_000})}",
        "other audience": f"Bearer {now({'aud': 'another-api'})}",
        "other issuer": f"Bearer {now({'iss': 'https://evil.example.org/'})}",
        "not yet valid": f"Bearer {now({'nbf': 4_000_000_000})}",
        # a validly signed token whose claims are not an object: refused, not a 500
        "claims an array": f"Bearer {jwt_cloud.issuer.sign_payload(json.dumps([ISSUER, 'fhr-api']).encode())}",
    }
    headers = {"Origin": ORIGIN} | ({"Authorization": tokens[how]} if tokens[how] else {})
    for path in ("/echo", "/scoped"):  # a route with scopes checks the token first: 401, not 403
        answer, response_headers = await refused(jwt_cloud, path, headers)
        assert answer == UNAUTHORIZED, (how, path)
        assert response_headers["Access-Control-Allow-Origin"] == ORIGIN  # a browser can read the 401


async def test_a_public_route_takes_no_token_and_ignores_a_bad_one(jwt_cloud: LocalCloud) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        event = await echoed_event(jwt_cloud, "/public", headers)
        assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize("scope", ["fhr/read", "", "echo", "echo/reader", "ECHO/READ"])
async def test_a_valid_token_holding_none_of_the_routes_scopes_is_403_with_its_challenge(
    jwt_cloud: LocalCloud, scope: str
) -> None:
    answer, headers = await refused(jwt_cloud, "/scoped", bearer(jwt_cloud, scope=scope or None) | {"Origin": ORIGIN})
    assert answer == FORBIDDEN
    assert headers["www-authenticate"] == WANTED
    assert headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("scope", ["echo/read", "echo/admin", "echo/admin echo/read", "fhr/read echo/read items/write"])
async def test_a_token_holding_any_one_of_the_routes_scopes_is_admitted_with_all_its_scopes(
    jwt_cloud: LocalCloud, scope: str
) -> None:
    event = await echoed_event(jwt_cloud, "/scoped", bearer(jwt_cloud, scope=scope))
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] == scope.split()


@pytest.mark.parametrize("scope", [None, "echo/read", "fhr/read fhr/write"])
async def test_a_route_without_scopes_admits_any_valid_token_and_sends_null_scopes(
    jwt_cloud: LocalCloud, scope: str | None
) -> None:
    event = await echoed_event(jwt_cloud, "/echo", bearer(jwt_cloud, scope=scope))
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] is None


async def test_every_claim_reaches_the_function_in_api_gateways_string_form(jwt_cloud: LocalCloud) -> None:
    claims = {
        "iss": ISSUER,
        "aud": "fhr-api",
        "sub": "alice",
        "iat": 1_700_000_000,
        "nbf": 1_700_000_000,
        "exp": 4_000_000_000,
        "jti": "j-1",
        "scope": "echo/read",
        "tenant": "ward 7",
        "yes": True,
        "no": False,
        "level": 3,
        "zero": 0,
        "below": -2,
        "ratio": 2.5,
        "groups": ["ward-7", "night"],
        "empty": [],
        "org": {"id": 1, "name": "St Elsewhere"},
        "gone": None,
    }
    assert jwt_cloud.issuer is not None
    headers = {"Authorization": f"Bearer {jwt_cloud.issuer.sign(claims)}"}  # exactly these claims, null included
    passed = (await echoed_event(jwt_cloud, "/scoped", headers))["requestContext"]["authorizer"]["jwt"]["claims"]
    assert passed == {
        "iss": ISSUER,
        "aud": "fhr-api",
        "sub": "alice",
        "iat": "1700000000",
        "nbf": "1700000000",
        "exp": "4000000000",
        "jti": "j-1",
        "scope": "echo/read",
        "tenant": "ward 7",
        "yes": "true",
        "no": "false",
        "level": "3",
        "zero": "0",
        "below": "-2",
        "ratio": "2.5",
        "groups": "[ward-7 night]",
        "empty": "[]",
        "org": '{"id":1,"name":"St Elsewhere"}',
    }  # a null claim is left out


async def test_a_preflight_is_answered_by_the_front_door_only_where_no_route_takes_it(jwt_cloud: LocalCloud) -> None:
    """On AWS an ANY route (like ``$default``) catches OPTIONS, preflights included, and its authorizer runs:
    without a token the preflight is 401; only where no route matches does API Gateway answer it itself."""
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"}
    answer, headers = await refused(jwt_cloud, "/echo", preflight, method="OPTIONS")  # GET/POST only: answered
    assert answer == (204, None)
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    answer, _ = await refused(jwt_cloud, "/files/a/b", preflight, method="OPTIONS")
    assert answer == UNAUTHORIZED
    event = await echoed_event(jwt_cloud, "/files/a/b", preflight | bearer(jwt_cloud), method="OPTIONS")
    assert (event["routeKey"], event["requestContext"]["http"]["method"]) == ("ANY /files/{path+}", "OPTIONS")


async def test_requests_beyond_the_stage_burst_are_429(jwt_cloud: LocalCloud) -> None:
    """A front door on the same Lambda service with a burst of 2 and a refill far slower than the test."""
    assert jwt_cloud.front_door is not None and jwt_cloud.lambdas is not None
    door = FrontDoor(jwt_cloud.front_door.routes, jwt_cloud.lambdas, throttle=TokenBucket(burst=2, rate=1e-4))
    await door.start()
    try:
        answers = [await call(door.url + "/shape/raw") for _ in range(4)]
    finally:
        await door.stop()
    assert [status for status, _, _ in answers] == [200, 200, 429, 429]
    assert answers[0][2] == {"hello": "world", "n": 1}
    assert all(body == {"message": "Too Many Requests"} and h["apigw-requestid"] for _, h, body in answers[2:])
