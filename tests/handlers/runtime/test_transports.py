"""The same protocol cases through each Runtime API transport and event loop our runtime offers.

The other test modules run the default (raw asyncio streams, on uvloop since it is installed); here the
aiohttp ``ClientSession`` transport and asyncio's own loop go through the cases where transports differ:
keep-alive reuse, large bodies, error posts, a 5xx, a server that goes away and comes back, and SIGTERM.
"""

from __future__ import annotations

import asyncio
import json

import pytest

VARIANTS = [
    pytest.param({"FHR_RUNTIME_TRANSPORT": "aiohttp", "FHR_RUNTIME_LOOP": "asyncio"}, id="aiohttp-asyncio"),
    pytest.param({"FHR_RUNTIME_TRANSPORT": "aiohttp", "FHR_RUNTIME_LOOP": "uvloop"}, id="aiohttp-uvloop"),
    pytest.param({"FHR_RUNTIME_TRANSPORT": "streams", "FHR_RUNTIME_LOOP": "asyncio"}, id="streams-asyncio"),
    pytest.param({}, id="default"),
]


@pytest.mark.parametrize("variant", VARIANTS)
async def test_invocations_errors_and_large_bodies(peer, launch, variant):
    process = await launch(peer.address, "rt_handlers.sized", **variant)
    for size in (10, 5 * 1024 * 1024, 3):  # reuse of the kept-alive connection across sizes
        outcome = await peer.invoke({"bytes": size})
        assert outcome.kind == "response" and len(outcome.json()["data"]) == size
    too_big = await peer.invoke({"bytes": 7 * 1024 * 1024})
    assert too_big.error_type == "Function.ResponseSizeTooLarge"
    malformed = await peer.invoke(b"{oops")
    assert malformed.error_type == "Runtime.UnmarshalError"
    missing = await peer.invoke({})  # the handler raises KeyError
    assert missing.error_type == "KeyError" and missing.json()["errorMessage"] == "'bytes'"
    assert (await peer.invoke({"bytes": 1})).kind == "response"
    process.proc.terminate()
    assert await process.wait() == 0


@pytest.mark.parametrize("variant", VARIANTS)
async def test_runtime_api_500_exits_with_code_3(peer, launch, variant):
    peer.fail_next(500)
    process = await launch(peer.address, "rt_handlers.async_echo", **variant)
    assert await process.wait() == 3
    assert peer.next_calls == 1


@pytest.mark.parametrize("variant", VARIANTS)
async def test_a_runtime_api_that_restarts_is_reconnected_to(launch, variant):
    from localcloud.lambda_service import RuntimeApiServer

    first = RuntimeApiServer(function_arn="arn:aws:lambda:eu-west-1:123456789012:function:peer-fn")
    await first.start()
    port = int(first.address.rsplit(":", 1)[1])
    process = await launch(first.address, "rt_handlers.async_echo", **variant)
    assert not (await first.invoke(b'{"n": 1}')).is_error
    await first.stop()  # drops the kept-alive connection while the runtime waits on /next
    await asyncio.sleep(0.3)
    second = RuntimeApiServer(function_arn=first.function_arn, port=port)
    await second.start()
    try:
        outcome = await asyncio.wait_for(second.invoke(b'{"n": 2}'), 10)
        assert not outcome.is_error and b'"n":2' in outcome.payload
        assert process.proc.returncode is None
    finally:
        await process.stop()
        await second.stop()


@pytest.mark.parametrize("variant", VARIANTS)
async def test_a_413_from_the_server_becomes_a_size_error_and_the_loop_goes_on(raw_peer, launch, variant):
    """The server's limit is below the runtime's: its 413 is answered with Function.ResponseSizeTooLarge.

    On the streams transport the 413 arrives while the pipelined ``/next`` is already queued on the
    connection, so the error goes over a second connection; the loop then picks up the next event.
    """
    raw_peer.max_payload = 1000
    await launch(raw_peer.address, "rt_handlers.sized", **variant)
    too_big = await raw_peer.invoke({"bytes": 5000})
    assert too_big.kind == "error" and too_big.error_type == "Function.ResponseSizeTooLarge"
    assert "(5011 bytes)" in too_big.json()["errorMessage"]
    for size in (10, 20):
        outcome = await raw_peer.invoke({"bytes": size})
        assert outcome.kind == "response" and len(outcome.json()["data"]) == size


async def test_the_local_service_server_settles_a_413_itself_and_the_runtime_carries_on(launch):
    from localcloud.lambda_service import RuntimeApiServer

    server = RuntimeApiServer(function_arn="arn:aws:lambda:eu-west-1:123456789012:function:f", max_response_bytes=1000)
    await server.start()
    try:
        await launch(server.address, "rt_handlers.sized")
        outcome = await server.invoke(b'{"bytes": 5000}')
        assert outcome.error_type == "Function.ResponseSizeTooLarge"
        after = await asyncio.wait_for(server.invoke(b'{"bytes": 7}'), 10)
        assert not after.is_error and len(json.loads(after.payload)["data"]) == 7
    finally:
        await server.stop()


@pytest.mark.parametrize("variant", VARIANTS)
async def test_chunked_events_and_servers_that_close_after_each_answer(raw_peer, launch, variant):
    """HTTP details a real Runtime API may use: chunked bodies, and ``Connection: close`` on an answer,
    which discards a pipelined ``/next`` - the runtime must reconnect and ask again."""
    raw_peer.chunked_events = True
    raw_peer.close_after_answer = True
    await launch(raw_peer.address, "rt_handlers.async_echo", **variant)
    for n in range(4):
        event = {"n": n, "text": "chunk me " * 5}
        outcome = await raw_peer.invoke(event)
        assert outcome.kind == "response" and outcome.json()["event"] == event
    assert raw_peer.next_calls >= 4


@pytest.mark.parametrize("variant", VARIANTS)
async def test_tenant_id_reaches_the_context_and_a_missing_trace_id_clears_the_last_one(raw_peer, launch, variant):
    """``Lambda-Runtime-Aws-Tenant-Id`` becomes ``context.tenant_id``; an invocation whose ``/next`` carries
    no ``Lambda-Runtime-Trace-Id`` (or no tenant) must not see the previous invocation's values."""
    await launch(raw_peer.address, "rt_handlers.context_fields", **variant)
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    first = await raw_peer.invoke({}, {"Lambda-Runtime-Aws-Tenant-Id": "t-alice", "Lambda-Runtime-Trace-Id": trace})
    assert (first.json()["tenant_id"], first.json()["trace_id"]) == ("t-alice", trace)
    bare = (await raw_peer.invoke({}, {"Lambda-Runtime-Trace-Id": None})).json()
    assert (bare["tenant_id"], bare["trace_id"]) == (None, None), "stale tenant or trace id left over"
    other = (await raw_peer.invoke({}, {"Lambda-Runtime-Aws-Tenant-Id": "t-bob"})).json()
    assert other["tenant_id"] == "t-bob" and other["trace_id"] not in (None, trace)


@pytest.mark.parametrize("handler", ["rt_handlers.async_echo", "rt_handlers.raises"], ids=["response", "error"])
@pytest.mark.parametrize("variant", VARIANTS)
async def test_a_5xx_on_posting_an_answer_makes_the_runtime_exit_with_code_3(raw_peer, launch, variant, handler):
    """The Runtime API contract: a 5xx is "container error, non-recoverable"; the runtime must exit, not
    poll ``/next`` again (on the streams transport the pipelined ``/next`` goes out with the answer)."""
    raw_peer.answer_failure_status = 500
    process = await launch(raw_peer.address, handler, **variant)
    pending = asyncio.ensure_future(raw_peer.invoke({"n": 1}))
    try:
        assert await process.wait() == 3
    finally:
        pending.cancel()
    assert raw_peer.answer_posts == 1
    assert raw_peer.next_calls <= 2, "the runtime polled on after a fatal answer"
