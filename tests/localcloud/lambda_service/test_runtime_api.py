"""The Runtime API server against AWS's own runtime client, ``awslambdaric``, as the independent peer."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from localcloud.lambda_service import RuntimeApiServer
from localcloud.lambda_service.payloads import MAX_PAYLOAD_BYTES

FIXTURES = Path(__file__).resolve().parent / "fixtures_handlers"
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:fixture"

Spawn = Callable[[str], Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def server() -> AsyncIterator[RuntimeApiServer]:
    api = RuntimeApiServer(function_arn=ARN)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def spawn_ric(server: RuntimeApiServer) -> AsyncIterator[Spawn]:
    """Start ``python -m awslambdaric <handler>`` against ``server``; every process is killed at the end."""
    processes: list[asyncio.subprocess.Process] = []

    async def spawn(handler: str) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            "AWS_LAMBDA_RUNTIME_API": server.address,
            "LAMBDA_TASK_ROOT": str(FIXTURES),
            "PYTHONPATH": str(FIXTURES),
            "AWS_LAMBDA_FUNCTION_NAME": "fixture",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "FIXTURE_MARKER": "from-env",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "awslambdaric",
            handler,
            env=env,
            cwd=FIXTURES,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_awslambdaric_gets_event_headers_and_posts_response(server: RuntimeApiServer, spawn_ric: Spawn) -> None:
    await spawn_ric("basic.echo")
    invocation = server.submit(
        b'{"hello": "world"}',
        timeout_s=30,
        client_context=json.dumps({"custom": {"k": "v"}, "client": {}, "env": {}}),
    )
    outcome = await asyncio.wait_for(invocation.outcome, 30)
    assert outcome.error_type is None
    seen = json.loads(outcome.payload)
    assert seen["event"] == {"hello": "world"}
    assert seen["request_id"] == invocation.request_id
    assert seen["function_arn"] == ARN
    assert seen["trace_id"] == invocation.trace_id
    assert seen["client_context"] == {"k": "v"}
    assert seen["runtime_api"] == server.address
    assert 0 < seen["remaining_ms"] <= 30_000

    second = await asyncio.wait_for(server.invoke(b'{"n": 2}', timeout_s=5), 30)
    assert json.loads(second.payload)["event"] == {"n": 2}
    assert json.loads(second.payload)["pid"] == seen["pid"], "the same environment serves the next event"


async def test_handler_exception_comes_back_as_awslambdaric_error_payload(
    server: RuntimeApiServer, spawn_ric: Spawn
) -> None:
    await spawn_ric("basic.fail")
    outcome = await asyncio.wait_for(server.invoke(b'{"why": "test"}', timeout_s=30), 30)
    assert outcome.error_type == "ValueError"
    error = json.loads(outcome.payload)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: test"
    assert isinstance(error["stackTrace"], list) and error["stackTrace"]

    again = await asyncio.wait_for(server.invoke(b"{}", timeout_s=30), 30)
    assert json.loads(again.payload)["errorMessage"] == "bad input: none", "one failure does not stop the loop"


async def test_init_error_is_posted_and_the_runtime_exits(server: RuntimeApiServer, spawn_ric: Spawn) -> None:
    process = await spawn_ric("broken_init.handler")
    init_error = await asyncio.wait_for(server.init_error, 30)
    body = json.loads(init_error.payload)
    assert init_error.error_type == "RuntimeError"
    assert "cannot initialise" in body["errorMessage"]
    assert await asyncio.wait_for(process.wait(), 30) != 0
    assert not server.first_poll.is_set()


async def test_missing_module_is_an_import_module_error(server: RuntimeApiServer, spawn_ric: Spawn) -> None:
    await spawn_ric("no_such_module.handler")
    init_error = await asyncio.wait_for(server.init_error, 30)
    assert init_error.error_type == "Runtime.ImportModuleError"
    assert "no_such_module" in json.loads(init_error.payload)["errorMessage"]


async def test_response_over_6_mb_is_refused_with_413(server: RuntimeApiServer, spawn_ric: Spawn) -> None:
    await spawn_ric("basic.big")
    outcome = await asyncio.wait_for(server.invoke(json.dumps({"size": MAX_PAYLOAD_BYTES + 10}).encode()), 60)
    assert outcome.error_type == "Function.ResponseSizeTooLarge"
    assert "exceeded maximum allowed payload size" in json.loads(outcome.payload)["errorMessage"]


async def _post(server: RuntimeApiServer, path: str, body: bytes = b"{}", **headers: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{server.address}/2018-06-01/runtime/{path}", data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_unknown_and_repeated_request_ids_are_4xx(server: RuntimeApiServer) -> None:
    status, body = await _post(server, "invocation/not-a-request/response")
    assert (status, body["errorType"]) == (400, "InvalidRequestID")

    invocation = server.submit(b"{}", timeout_s=5)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{server.address}/2018-06-01/runtime/invocation/next") as response,
    ):
        assert response.headers["Lambda-Runtime-Aws-Request-Id"] == invocation.request_id
        assert int(response.headers["Lambda-Runtime-Deadline-Ms"]) > 0
        assert response.headers["Lambda-Runtime-Invoked-Function-Arn"] == ARN
        assert response.headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert (await _post(server, f"invocation/{invocation.request_id}/response", b'"done"'))[0] == 202
    assert (await invocation.outcome).payload == b'"done"'
    status, body = await _post(server, f"invocation/{invocation.request_id}/error")
    assert (status, body["errorType"]) == (403, "InvalidStateTransition")
    status, body = await _post(server, "init/error", Lambda_Runtime_Function_Error_Type="Late")
    assert (status, body["errorType"]) == (403, "InvalidStateTransition")


async def test_error_without_header_takes_type_from_body(server: RuntimeApiServer) -> None:
    invocation = server.submit(b"{}", timeout_s=5)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{server.address}/2018-06-01/runtime/invocation/next") as response,
    ):
        assert response.status == 200
    body = json.dumps({"errorMessage": "m", "errorType": "Custom.Kind"}).encode()
    assert (await _post(server, f"invocation/{invocation.request_id}/error", body))[0] == 202
    assert (await invocation.outcome).error_type == "Custom.Kind"


async def test_fail_next_injects_a_500(server: RuntimeApiServer) -> None:
    server.fail_next("next", 500)
    async with aiohttp.ClientSession() as session:
        url = f"http://{server.address}/2018-06-01/runtime/invocation/next"
        async with session.get(url) as response:
            assert response.status == 500
        server.submit(b'{"after": "fault"}', timeout_s=5)
        async with session.get(url) as response:
            assert response.status == 200
            assert await response.json() == {"after": "fault"}
