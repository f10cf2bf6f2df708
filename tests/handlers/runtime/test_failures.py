"""Failure cases: every one is reported through the Runtime API with awslambdaric's error shape.

Where awslambdaric can run the same case (a sync handler), both runtimes run it against the same
server and their error payloads are compared.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

ERROR_KEYS = {"errorMessage", "errorType", "requestId", "stackTrace"}


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
async def test_a_raising_handler_posts_an_error_and_the_loop_goes_on(peer, launch, runtime):
    handler = "rt_handlers.raises" if runtime == "ours" else "rt_handlers.sync_raises"
    process = await launch(peer.address, handler, runtime=runtime)
    first = await peer.invoke({"n": 1})
    second = await peer.invoke({"n": 2})
    for n, outcome in ((1, first), (2, second)):
        body = outcome.json()
        assert outcome.kind == "error" and outcome.error_type == "ValueError"
        assert set(body) == ERROR_KEYS
        assert body["errorMessage"] == f"boom {n}" and body["errorType"] == "ValueError"
        assert body["stackTrace"] and "rt_handlers.py" in body["stackTrace"][0]
        assert all("runtime/bootstrap.py" not in frame for frame in body["stackTrace"])
    assert process.proc.returncode is None


async def test_error_payload_of_a_raising_handler_matches_awslambdaric(peer, launch):
    await launch(peer.address, "rt_handlers.sync_raises", runtime="awslambdaric")
    theirs = await peer.invoke({"n": 7})
    await peer.stop()
    other = type(peer)()
    await other.start()
    try:
        await launch(other.address, "rt_handlers.sync_raises")
        ours = await other.invoke({"n": 7})
    finally:
        await other.stop()
    assert ours.kind == theirs.kind == "error"
    assert ours.error_type == theirs.error_type == "ValueError"
    mine, aws = ours.json(), theirs.json()
    assert set(mine) == set(aws)
    assert (mine["errorType"], mine["errorMessage"]) == (aws["errorType"], aws["errorMessage"])
    assert [frame.split(",")[0] for frame in mine["stackTrace"]] == [frame.split(",")[0] for frame in aws["stackTrace"]]


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("rt_init_fails.handler", "RuntimeError", "ECG_BUCKET is not set"),
        (
            "rt_import_fails.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'rt_import_fails': No module named 'fhr_package_that_is_not_installed'",
        ),
        ("rt_module_raises.handler", "KeyError", "'TABLE_NAME'"),
        ("rt_handlers.no_such_function", "Runtime.HandlerNotFound", "Handler 'no_such_function' missing on module"),
        ("no_dot_in_name", "Runtime.MalformedHandlerName", "Bad handler 'no_dot_in_name'"),
    ],
)
async def test_init_failures_post_init_error_and_exit_non_zero(peer, launch, handler, error_type, message):
    process = await launch(peer.address, handler)
    outcome = await peer.init_failure()
    assert outcome.error_type == error_type
    body = outcome.json()
    assert set(body) == ERROR_KEYS and body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)
    assert await process.wait() == 1
    assert peer.next_calls == 0  # no invocation is ever asked for after a failed init


@pytest.mark.parametrize("handler", ["rt_import_fails.handler", "rt_module_raises.handler", "rt_handlers.nope"])
async def test_init_error_payloads_match_awslambdaric(peer, launch, handler):
    theirs_process = await launch(peer.address, handler, runtime="awslambdaric")
    theirs = await peer.init_failure()
    await theirs_process.wait()
    other = type(peer)()
    await other.start()
    try:
        ours_process = await launch(other.address, handler)
        ours = await other.init_failure()
        assert (await ours_process.wait()) != 0 and theirs_process.proc.returncode != 0
    finally:
        await other.stop()
    assert ours.error_type == theirs.error_type
    assert {k: v for k, v in ours.json().items() if k != "stackTrace"} == {
        k: v for k, v in theirs.json().items() if k != "stackTrace"
    }


async def test_a_response_over_6_mb_becomes_a_clear_error_not_a_crash(peer, launch):
    process = await launch(peer.address, "rt_handlers.sized")
    too_big = await peer.invoke({"bytes": 7 * 1024 * 1024})
    assert too_big.kind == "error" and too_big.error_type == "Function.ResponseSizeTooLarge"
    assert "exceeded maximum allowed payload size (6291456 bytes)" in too_big.json()["errorMessage"]
    just_fits = await peer.invoke({"bytes": 6 * 1024 * 1024 - 20})
    assert just_fits.kind == "response" and len(just_fits.body) <= 6 * 1024 * 1024
    assert process.proc.returncode is None


async def test_an_unserialisable_result_is_a_marshal_error(peer, launch):
    await launch(peer.address, "rt_handlers.unmarshalable")
    outcome = await peer.invoke({})
    assert outcome.error_type == "Runtime.MarshalError"
    assert "object is not JSON serializable" in outcome.json()["errorMessage"]


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
async def test_malformed_event_json_is_an_unmarshal_error_and_the_loop_goes_on(peer, launch, runtime):
    await launch(peer.address, "rt_handlers.sync_echo", runtime=runtime)
    bad = await peer.invoke(b'{"n": 1,,}')
    assert bad.kind == "error" and bad.json()["errorType"] == "Runtime.UnmarshalError"
    assert bad.error_type == "Runtime.UnmarshalError"
    assert bad.json()["errorMessage"].startswith("Unable to unmarshal input:")
    good = await peer.invoke({"n": 2})
    assert good.json()["event"] == {"n": 2}


async def test_runtime_api_500_on_next_makes_the_runtime_exit_promptly(peer, launch):
    peer.fail_next(500)
    process = await launch(peer.address, "rt_handlers.async_echo")
    assert await process.wait() == 3
    assert peer.next_calls == 1  # 5xx is "non-recoverable": no retry storm
    lines = await process.output()
    assert any('"errorType": "Runtime.LambdaRuntimeClientError"' in line for line in lines)


async def test_unreachable_runtime_api_is_retried_with_backoff_then_the_runtime_exits(launch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    process = await launch(address, "rt_handlers.async_echo")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await process.wait(timeout=20) == 3
    assert loop.time() - started > 1.0  # it backed off (~3 s in all) before giving up


async def test_sigterm_while_idle_runs_the_shutdown_hook_and_exits_zero(peer, launch, tmp_path):
    marker = tmp_path / "shutdown.txt"
    process = await launch(peer.address, "rt_handlers.async_echo", RT_SHUTDOWN_MARKER=str(marker))
    assert (await peer.invoke({})).kind == "response"
    process.proc.terminate()
    assert await process.wait() == 0
    assert marker.read_text() == "shutdown ran"


async def test_sigterm_during_an_invocation_lets_it_finish_then_exits_zero(peer, launch, tmp_path):
    marker = tmp_path / "shutdown.txt"
    process = await launch(peer.address, "rt_handlers.slow", RT_SHUTDOWN_MARKER=str(marker))
    pending = asyncio.ensure_future(peer.invoke({"seconds": 0.5}))
    while peer.next_calls < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    process.proc.terminate()
    outcome = await pending
    assert outcome.json() == "finished"
    assert await process.wait() == 0
    assert marker.exists()


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
async def test_error_type_header_is_sent_by_ours_and_not_by_awslambdaric(raw_peer, launch, runtime):
    """awslambdaric 4.2.2 posts invocation errors without Lambda-Runtime-Function-Error-Type; we send it."""
    await launch(raw_peer.address, "rt_handlers.sync_raises", runtime=runtime)
    outcome = await raw_peer.invoke({"n": 3})
    assert outcome.kind == "error" and outcome.json()["errorType"] == "ValueError"
    assert outcome.error_type == ("ValueError" if runtime == "ours" else None)


async def test_an_exception_whose_str_fails_is_still_reported(peer, launch):
    process = await launch(peer.address, "rt_handlers.raises_unprintable")
    first = await peer.invoke({})
    assert first.error_type == "Unprintable" and first.json()["errorMessage"] == "<unprintable Unprintable>"
    assert (await peer.invoke({})).error_type == "Unprintable"
    assert process.proc.returncode is None
