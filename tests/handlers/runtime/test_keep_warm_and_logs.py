"""Keep-warm answers (and fan-out through the local Lambda service's Invoke API) and structured logs."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fhrapp.definition import KEEP_WARM_SOURCE as DEFINITION_SOURCE
from fhrapp.definition import warm_payload
from handlers.runtime.keepwarm import KEEP_WARM_SOURCE, is_keep_warm, requested_concurrency


def test_the_runtime_recognises_exactly_the_payload_the_app_definition_sends():
    assert KEEP_WARM_SOURCE == DEFINITION_SOURCE
    for n in (1, 3, 10):
        payload = warm_payload(n)
        assert is_keep_warm(payload) and requested_concurrency(payload) == n
    assert not is_keep_warm({"source": "aws.events"}) and not is_keep_warm([KEEP_WARM_SOURCE])
    assert requested_concurrency({"source": KEEP_WARM_SOURCE, "keepWarm": {"concurrency": "many"}}) == 1


async def test_keep_warm_is_answered_by_the_runtime_without_calling_the_handler(peer, launch):
    await launch(peer.address, "rt_handlers.raises")  # the handler would fail if it ran
    first = await peer.invoke(warm_payload(1))
    second = await peer.invoke(warm_payload(1))
    assert first.kind == second.kind == "response"
    a, b = first.json(), second.json()
    assert set(a) == {"environmentId", "cold", "uptimeMs", "invocations"}
    assert a["environmentId"] == b["environmentId"]
    assert (a["cold"], a["invocations"]) == (True, 1)
    assert (b["cold"], b["invocations"]) == (False, 2)
    assert 0 <= a["uptimeMs"] <= b["uptimeMs"]
    real = await peer.invoke({"n": 5})
    assert real.kind == "error" and real.json()["errorMessage"] == "boom 5"  # the handler does run for others


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TASK_ROOT = Path(__file__).resolve().parent / "task_root"


@asynccontextmanager
async def warm_service(reserved: int | None) -> AsyncIterator[object]:
    """The local Lambda service running our runtime, with the Lambda endpoint the runtime fans out to."""
    from localcloud.lambda_service import FunctionSpec, LambdaService

    port = _free_port()
    spec = FunctionSpec(
        name="warm-fn",
        handler="rt_handlers.async_echo",
        memory_mb=256,
        timeout_s=20,
        reserved_concurrency=reserved,
        code_root=TASK_ROOT,
        environment={"AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{port}"},
    )
    service = LambdaService([spec], port=port, worker_cap=4)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def test_keep_warm_fans_out_concurrent_self_invocations_to_keep_n_environments_warm():
    async with warm_service(reserved=None) as service:
        result = await service.invoke("warm-fn", json.dumps(warm_payload(3)).encode())
        assert result.function_error is None, result.payload
        answer = json.loads(result.payload)
        fanout = answer["fanout"]
        assert fanout["requested"] == 2 and fanout["succeeded"] == 2
        assert len(fanout["environments"]) == 2  # two other environments answered, concurrently
        assert answer["environmentId"] not in fanout["environments"]
        assert answer["cold"] is True and answer["invocations"] == 1


async def test_a_published_version_fans_out_to_its_own_environments():
    """Invoked through the stack's alias, the fan-out warms that version, not $LATEST (SnapStart's pool)."""
    async with warm_service(reserved=None) as service:
        service.publish_version("warm-fn")
        service.put_alias("warm-fn", "live", "1", None, create=True)
        result = await service.invoke("warm-fn", json.dumps(warm_payload(3)).encode(), qualifier="live")
        assert result.executed_version == "1"
        assert json.loads(result.payload)["fanout"]["succeeded"] == 2
        versions = [worker.key[1] for worker in service.pool.idle_workers()]
        assert versions == ["1", "1", "1"]


async def test_fan_out_reports_self_invocations_refused_by_reserved_concurrency():
    async with warm_service(reserved=2) as service:
        result = await service.invoke("warm-fn", json.dumps(warm_payload(4)).encode())
        fanout = json.loads(result.payload)["fanout"]
        # this environment holds one of the 2 slots: one copy is admitted, two get 429 (not retried)
        assert fanout == {"requested": 3, "succeeded": 1, "environments": fanout["environments"]}
        assert len(fanout["environments"]) == 1


async def test_log_lines_are_json_and_carry_the_request_id(peer, launch):
    process = await launch(peer.address, "rt_handlers.logs", AWS_LAMBDA_FUNCTION_NAME="logs-fn")
    first = (await peer.invoke({"n": 1})).json()["requestId"]
    second = (await peer.invoke({"n": 2})).json()["requestId"]
    await process.stop()
    lines = [json.loads(line) for line in await process.output() if line.startswith("{")]
    handled = [line for line in lines if line.get("step") == "start"]
    assert [line["requestId"] for line in handled] == [first, second]
    assert [line["message"] for line in handled] == ["handling 1", "handling 2"]
    for line in handled:
        assert line["level"] == "INFO" and line["function"] == "logs-fn"
        assert line["timestamp"].endswith("Z") and line["logger"] == "rt_handlers"


async def test_a_failing_invocation_is_logged_with_its_request_id(peer, launch):
    process = await launch(peer.address, "rt_handlers.raises")
    outcome = await peer.invoke({"n": 9})
    request_id = outcome.json()["requestId"]
    await asyncio.sleep(0.1)
    await process.stop()
    lines = [json.loads(line) for line in await process.output() if line.startswith("{")]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["requestId"] == request_id and errors[0]["errorType"] == "ValueError"
    assert errors[0]["message"] == "ValueError: boom 9" and errors[0]["stackTrace"]


async def test_the_fan_out_client_is_made_once_and_kept():
    from handlers.runtime.keepwarm import SelfInvoker

    async with warm_service(reserved=None) as service:
        invoker = SelfInvoker("warm-fn", service.url, "eu-west-1")
        try:
            first = await invoker.fan_out(2)
            client = invoker._client
            second = await invoker.fan_out(2)
            assert invoker._client is client is not None
        finally:
            await invoker.close()
        assert first["succeeded"] == second["succeeded"] == 2
        assert set(second["environments"]) == set(first["environments"])  # the same two warm environments
        assert invoker._client is None  # closed with the runtime
