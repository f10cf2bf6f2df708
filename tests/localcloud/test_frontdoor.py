"""The HTTP API front door end to end: real HTTP in, payload 2.0 events to a real function, HTTP out.

The echo handler (tests/localcloud/echo_handler.py) runs in worker processes of the local Lambda
service through our runtime; assertions are on what a client receives and what the handler saw.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest

from localcloud.cloud import LocalCloud

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def call(cloud: LocalCloud, method: str, path: str, **kwargs: Any) -> tuple[int, Any, bytes]:
    assert cloud.front_door is not None
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, cloud.front_door.url + path, **kwargs) as response,
    ):
        return response.status, response.headers, await response.read()


async def echoed(cloud: LocalCloud, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    status, _, body = await call(cloud, method, path, **kwargs)
    assert status == 200, body
    return json.loads(body)


async def test_get_builds_a_payload_2_0_event(echo_cloud: LocalCloud) -> None:
    outputs = echo_cloud.outputs()
    headers = [("X-Custom", "1"), ("X-Dup", "a"), ("X-Dup", "b"), ("Cookie", "s=1; t=2"), ("User-Agent", "t/1")]
    status, response_headers, body = await call(
        echo_cloud, "GET", "/items/42?tag=x&tag=y&q=a%20b&empty=", headers=headers
    )
    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "tag=x&tag=y&q=a%20b&empty="
    assert event["queryStringParameters"] == {"tag": "x,y", "q": "a b", "empty": ""}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-custom"] == "1" and event["headers"]["x-dup"] == "a,b"
    assert "cookie" not in event["headers"] and all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "t/1",
    }
    assert context["requestId"] == response_headers["apigw-requestid"]
    assert context["routeKey"] == "GET /items/{id}" and context["stage"] == "$default"
    assert context["domainName"] == outputs["api_url"].removeprefix("http://")
    assert isinstance(context["timeEpoch"], int) and context["accountId"] and context["apiId"]
    assert "authorizer" not in context  # the dev stack is open


async def test_the_function_environment_names_the_stacks_resources_and_local_endpoints(echo_cloud: LocalCloud) -> None:
    outputs = echo_cloud.outputs()
    env = (await echoed(echo_cloud, "GET", "/echo"))["env"]
    assert echo_cloud.s3_gate_url and echo_cloud.s3_gate_url != outputs["aws_endpoint_url"]
    assert env == {
        "ECG_BUCKET": outputs["ecg_bucket"],
        "STAGE": "dev",
        "AWS_REGION": outputs["region"],
        "AWS_ENDPOINT_URL_S3": echo_cloud.s3_gate_url,  # it presigns uploads: S3 through the policy gate
        "AWS_ENDPOINT_URL_DYNAMODB": outputs["aws_endpoint_url"],
        "AWS_ENDPOINT_URL_SQS": outputs["aws_endpoint_url"],
        "AWS_ENDPOINT_URL_LAMBDA": outputs["lambda_endpoint_url"],
        "AWS_LAMBDA_FUNCTION_NAME": outputs["functions"]["echo"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "FHR_OPEN_TENANT": "open",  # the dev stack's tenancy, as Pulumi sets it (tests/test_program.py)
        "FHR_TENANT_CLAIM": None,
    }


async def test_text_bodies_pass_as_text_and_binary_bodies_as_base64(echo_cloud: LocalCloud) -> None:
    event = (await echoed(echo_cloud, "POST", "/echo", json={"a": [1, 2]}))["event"]
    assert (event["isBase64Encoded"], json.loads(event["body"])) == (False, {"a": [1, 2]})
    blob = bytes(range(256)) * 3
    headers = {"Content-Type": "application/octet-stream"}
    event = (await echoed(echo_cloud, "POST", "/echo", data=blob, headers=headers))["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == blob


async def test_header_bytes_that_are_not_utf8_reach_the_function_as_text(echo_cloud: LocalCloud) -> None:
    """aiohttp keeps such bytes as lone surrogates; an event must carry text a function can encode again."""
    assert echo_cloud.front_door is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_cloud.front_door.port)
    writer.write(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Raw: a\xff\xfeb\r\nCookie: k=\xe9t\xe9\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    event = json.loads(body)["event"]
    assert event["headers"]["x-raw"] == "a\ufffd\ufffdb" and event["cookies"] == ["k=\ufffdt\ufffd"]
    json.dumps(event, ensure_ascii=False).encode("utf-8")  # no lone surrogate anywhere


async def test_greedy_and_any_routes(echo_cloud: LocalCloud) -> None:
    for method in ("GET", "DELETE", "PUT"):
        event = (await echoed(echo_cloud, method, "/files/a/b%20c/d.txt"))["event"]
        assert event["routeKey"] == "ANY /files/{path+}"
        assert event["pathParameters"] == {"path": "a/b c/d.txt"}
        assert event["requestContext"]["http"]["method"] == method


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("DELETE", "/echo"), ("GET", "/items"), ("GET", "/")])
async def test_no_route_is_404_not_found(echo_cloud: LocalCloud, method: str, path: str) -> None:
    status, _, body = await call(echo_cloud, method, path)
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


async def test_a_response_without_status_code_is_200_json(echo_cloud: LocalCloud) -> None:
    status, headers, body = await call(echo_cloud, "GET", "/shape/raw")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {"hello": "world", "n": 1})


async def test_base64_response_bodies_are_decoded(echo_cloud: LocalCloud) -> None:
    status, headers, body = await call(echo_cloud, "GET", "/shape/binary")
    assert (status, headers["Content-Type"], body) == (200, "image/png", bytes(range(256)))


async def test_status_headers_multi_values_and_cookies_are_mapped(echo_cloud: LocalCloud) -> None:
    status, headers, body = await call(echo_cloud, "GET", "/shape/cookies", headers={"Origin": "https://x.example"})
    assert (status, body) == (201, b"made")
    assert headers.getall("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark"]
    assert headers["x-multi"] == "a,b" and headers["x-single"] == "one"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    # With CORS configured, API Gateway replaces the backend's CORS headers with its own (dev allows "*")
    assert headers.getall("Access-Control-Allow-Origin") == ["*"]


@pytest.mark.parametrize("path", ["/boom", "/shape/bad-status"])
async def test_function_errors_and_malformed_responses_are_502(echo_cloud: LocalCloud, path: str) -> None:
    status, _, body = await call(echo_cloud, "GET", path)
    assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})


async def test_the_integration_timeout_is_503_and_the_service_keeps_serving(echo_cloud: LocalCloud) -> None:
    status, _, body = await call(echo_cloud, "GET", "/slow?s=4")  # the fixture's integration timeout is 2 s
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert (await call(echo_cloud, "GET", "/slow?s=0"))[0] == 200


async def test_cors_preflight_is_answered_by_the_front_door(echo_cloud: LocalCloud) -> None:
    headers = {"Origin": "https://anywhere.example", "Access-Control-Request-Method": "POST"}
    status, response_headers, body = await call(echo_cloud, "OPTIONS", "/echo", headers=headers)
    assert (status, body) == (204, b"")
    assert response_headers["Access-Control-Allow-Origin"] == "*"
    assert set(response_headers["Access-Control-Allow-Methods"].split(",")) >= {"GET", "POST"}
    assert "content-type" in response_headers["Access-Control-Allow-Headers"]
    # An OPTIONS that is not a preflight is routed like any request: no OPTIONS route -> 404
    assert (await call(echo_cloud, "OPTIONS", "/echo"))[0] == 404


# ---- limits, throttles and timeouts: what API Gateway answers a client


async def test_a_body_over_10_mb_is_413_and_never_reaches_the_function(echo_cloud: LocalCloud) -> None:
    assert echo_cloud.lambdas is not None
    before = echo_cloud.lambdas.pool.cold_starts + sum(len(log) for log in echo_cloud.lambdas.logs.values())
    status, headers, body = await call(echo_cloud, "POST", "/echo", data=b"0" * (10 * 1024 * 1024 + 1))
    assert (status, json.loads(body)) == (413, {"message": "Request Entity Too Large"})
    assert headers["apigw-requestid"]
    after = echo_cloud.lambdas.pool.cold_starts + sum(len(log) for log in echo_cloud.lambdas.logs.values())
    assert after == before, "no invocation"


async def test_a_body_lambda_cannot_take_is_500_as_a_rejected_invocation(echo_cloud: LocalCloud) -> None:
    """7 MB is within HTTP API's 10 MB, but the event (the body base64-encoded) is over Lambda's 6 MB."""
    headers = {"Content-Type": "application/octet-stream"}
    status, _, body = await call(echo_cloud, "POST", "/echo", data=b"0" * (7 * 1024 * 1024), headers=headers)
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


async def test_a_response_over_6_mb_is_502(echo_cloud: LocalCloud) -> None:
    status, _, body = await call(echo_cloud, "GET", "/shape/huge")
    assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})
