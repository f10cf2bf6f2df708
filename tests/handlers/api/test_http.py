"""What a caller gets when an AWS service the API needs is busy: a 503 ``throttled`` to retry, not a 500.

The throttling is real DynamoDB wire protocol: a proxy in front of the moto server answers every DynamoDB
call with ``ProvisionedThroughputExceededException`` (as DynamoDB does), so the SDK's own retries run and
give up exactly as they would on AWS (``benchmarks.fault_injection`` does the same across every service).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botocore.exceptions import ClientError

from handlers.api.fhr import handler
from handlers.api.http import dependency_busy
from tests.handlers.api.test_fhr import upload_record


def client_error(code: str, operation: str = "GetItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, operation)


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "SlowDown", "RequestThrottled"]
)
def test_a_busy_service_is_a_503_to_retry(code: str) -> None:
    busy = dependency_busy(client_error(code))
    assert busy is not None and (busy.status, busy.code) == (503, "throttled")
    assert "GetItem" in busy.message and code in busy.message


@pytest.mark.parametrize("error", [client_error("AccessDenied"), client_error("ValidationException"), ValueError()])
def test_anything_else_stays_an_internal_error(error: BaseException) -> None:
    assert dependency_busy(error) is None


@dataclass
class Throttle:
    on: bool = True
    refused: int = 0


@pytest.fixture
async def throttled_dynamodb(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Throttle]:
    """DynamoDB behind a proxy that answers DynamoDB's throttling error while ``on``, else forwards to moto."""
    throttle, session = Throttle(), aiohttp.ClientSession(auto_decompress=False)

    async def dynamodb(request: web.Request) -> web.Response:
        if throttle.on:
            throttle.refused += 1
            error = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}
            return web.json_response(error, status=400, content_type="application/x-amz-json-1.0")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.post(aws_env + request.path_qs, headers=headers, data=await request.read()) as answer:
            return web.Response(status=answer.status, body=await answer.read(), headers=answer.headers)

    app = web.Application()
    app.router.add_post("/", dynamodb)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")  # type: ignore[union-attr]
    yield throttle
    await session.close()
    await runner.cleanup()


async def test_throttled_dynamodb_answers_503_then_the_retry_succeeds(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    make_context: Any,
    throttled_dynamodb: Throttle,
) -> None:
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a01", "busy/a01")
    response = await handler(make_event("GET", "/fhr", query={"filename": uri}), make_context())
    body = parse_body(response)
    assert (response["statusCode"], body["code"]) == (503, "throttled")
    assert "ProvisionedThroughputExceededException" in body["message"] and "a01" not in response["body"]
    assert throttled_dynamodb.refused >= 2  # the SDK retried before giving up
    throttled_dynamodb.on = False  # DynamoDB recovers: the same request now succeeds
    response = await handler(make_event("GET", "/fhr", query={"filename": uri}), make_context())
    assert response["statusCode"] == 200 and parse_body(response)["fhr"]["fs"] == 4
