"""LambdaService end to end with real worker processes (awslambdaric) and real failure modes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import Callable

import pytest

from localcloud.lambda_service import FunctionSpec, InvalidRequestContent, RequestTooLarge, ResourceNotFound
from localcloud.lambda_service.payloads import MAX_PAYLOAD_BYTES
from tests.localcloud.lambda_service.conftest import process_gone

Ric = Callable[..., FunctionSpec]
REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>[\d.]+) ms\tBilled Duration: (?P<billed>\d+) ms\t"
    r"Memory Size: (?P<memory>\d+) MB\tMax Memory Used: (?P<used>\d+) MB(?:\tInit Duration: (?P<init>[\d.]+) ms)?"
    r"(?:\tStatus: (?P<status>timeout|error)(?:\tError Type: (?P<error_type>\S+))?)?$"
)


def tail_lines(log_tail: str | None) -> list[str]:
    assert log_tail is not None
    return base64.b64decode(log_tail).decode().splitlines()


def report_of(log_tail: str | None) -> re.Match[str]:
    match = REPORT.match(tail_lines(log_tail)[-1])
    assert match is not None, tail_lines(log_tail)[-1]
    return match


async def eventually_gone(pid: int) -> bool:
    for _ in range(300):
        if process_gone(pid):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_cold_start_then_warm_reuse_with_lambda_environment(start_service, ric: Ric) -> None:
    echo = ric("fx-echo", "basic.echo", memory_mb=256, environment={"FIXTURE_MARKER": "function-env"})
    other = ric("fx-other", "basic.echo")
    service = await start_service([echo, other], base_env={**os.environ, "FIXTURE_MARKER": "base"})

    first = await service.invoke("fx-echo", b'{"n": 1}', log_tail=True)
    second = await service.invoke("fx-echo", b'{"n": 2}', log_tail=True)
    elsewhere = await service.invoke("fx-other", b"{}")

    assert (first.cold_start, second.cold_start) == (True, False)
    seen_first, seen_second = json.loads(first.payload), json.loads(second.payload)
    assert seen_first["pid"] == seen_second["pid"]
    assert seen_second["event"] == {"n": 2}
    assert seen_first["env_marker"] == "function-env", "the function's environment wins over base_env"
    assert seen_first["memory_limit_in_mb"] == 256
    assert seen_first["function_arn"] == service.function_arn("fx-echo")
    assert seen_first["request_id"] == first.request_id
    assert json.loads(elsewhere.payload)["runtime_api"] != seen_first["runtime_api"], "one Runtime API per worker"
    assert report_of(first.log_tail)["init"] is not None
    assert report_of(second.log_tail)["init"] is None
    assert report_of(second.log_tail)["memory"] == "256"


async def test_log_tail_holds_the_invocations_own_lines_between_start_and_report(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-chatty", "basic.chatty")])
    result = await service.invoke("fx-chatty", b'{"lines": 3}', log_tail=True)
    lines = tail_lines(result.log_tail)
    assert lines[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    for index in range(3):
        assert f"line {index} of {result.request_id}" in lines
    assert lines[-2] == f"END RequestId: {result.request_id}"
    report = report_of(result.log_tail)
    assert report["id"] == result.request_id
    assert int(report["billed"]) >= float(report["duration"])
    assert int(report["used"]) > 0
    assert report["status"] is None, "a successful invocation carries no Status"
    assert lines[-1] in service.logs["fx-chatty"]


async def test_handler_exception_is_an_unhandled_function_error(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-fail", "basic.fail")])
    result = await service.invoke("fx-fail", b'{"why": "checked"}')
    assert (result.status_code, result.function_error) == (200, "Unhandled")
    body = json.loads(result.payload)
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "bad input: checked")
    again = await service.invoke("fx-fail", b"{}")
    assert not again.cold_start, "a handler error does not cost the environment"


async def test_init_error_reaches_the_caller_and_the_next_call_retries_init(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-broken", "broken_init.handler")])
    first = await service.invoke("fx-broken", b"{}", log_tail=True)
    assert first.function_error == "Unhandled"
    assert any("cannot initialise" in line for line in tail_lines(first.log_tail)), "the runtime's own log line"
    assert json.loads(first.payload)["errorType"] == "RuntimeError"
    assert "cannot initialise" in json.loads(first.payload)["errorMessage"]
    second = await service.invoke("fx-broken", b"{}")
    assert second.cold_start and second.function_error == "Unhandled"


async def test_timeout_kills_and_replaces_the_worker(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-nap", "basic.nap", timeout_s=1)])
    quick = await service.invoke("fx-nap", b'{"seconds": 0}')
    old_pid = json.loads(quick.payload)["pid"]

    slow = await service.invoke("fx-nap", b'{"seconds": 30}', log_tail=True)
    body = json.loads(slow.payload)
    assert slow.function_error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert any("Task timed out after 1.00 seconds" in line for line in tail_lines(slow.log_tail))
    assert report_of(slow.log_tail)["status"] == "timeout"

    after = await service.invoke("fx-nap", b'{"seconds": 0}')
    assert after.cold_start and after.function_error is None
    assert json.loads(after.payload)["pid"] != old_pid
    assert process_gone(old_pid)


async def test_memory_over_the_function_size_is_killed_like_lambda(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-hog", "basic.hog", memory_mb=128)])
    result = await service.invoke("fx-hog", b'{"mb": 400, "hold_s": 5}', log_tail=True)
    body = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")
    assert int(report_of(result.log_tail)["used"]) >= 128
    assert report_of(result.log_tail)["error_type"] == "Runtime.ExitError"
    assert (await service.invoke("fx-hog", b'{"mb": 1, "hold_s": 0}')).function_error is None


async def test_a_crashing_runtime_is_an_exit_error_and_is_replaced(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-crash", "basic.crash"), ric("fx-echo", "basic.echo")])
    result = await service.invoke("fx-crash", b"{}")
    assert json.loads(result.payload)["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert json.loads(result.payload)["errorType"] == "Runtime.ExitError"
    assert (await service.invoke("fx-crash", b"{}")).cold_start


async def test_response_over_6_mb_is_a_function_error_and_the_service_goes_on(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-big", "basic.big")])
    result = await service.invoke("fx-big", json.dumps({"size": MAX_PAYLOAD_BYTES + 1}).encode())
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Function.ResponseSizeTooLarge"
    fine = await service.invoke("fx-big", b'{"size": 10}')
    assert (fine.function_error, json.loads(fine.payload)) == (None, "x" * 10)


async def test_bad_requests_are_typed_errors_before_anything_runs(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")])
    with pytest.raises(InvalidRequestContent, match="Could not parse request body into json"):
        await service.invoke("fx-echo", b"{not json")
    with pytest.raises(RequestTooLarge):
        await service.invoke("fx-echo", b" " * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(ResourceNotFound, match="function:fx-missing"):
        await service.invoke("fx-missing", b"{}")
    with pytest.raises(ResourceNotFound, match="fx-echo:7"):
        await service.invoke("fx-echo", b"{}", qualifier="7")
    assert service.live_worker_pids() == []


async def test_event_and_dry_run_invocations(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-chatty", "basic.chatty")])
    dry = await service.invoke("fx-chatty", b"{}", "DryRun")
    assert dry.status_code == 204 and service.live_worker_pids() == []
    event = await service.invoke("fx-chatty", b'{"lines": 1}', "Event")
    assert event.status_code == 202
    for _ in range(500):
        if f"END RequestId: {event.request_id}" in service.logs.get("fx-chatty", ()):
            break
        await asyncio.sleep(0.02)
    assert f"line 0 of {event.request_id}" in service.logs["fx-chatty"]


async def test_a_caller_giving_up_does_not_cut_the_invocation_short(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-nap", "basic.nap", timeout_s=5)], worker_cap=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(service.invoke("fx-nap", b'{"seconds": 0.5}'), 0.05)
    result = await service.invoke("fx-nap", b'{"seconds": 0}')
    assert result.function_error is None and not result.cold_start, "the same worker finished and took the next"


async def test_configuration_update_gives_new_environments_the_new_memory(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo", memory_mb=128)])
    before = json.loads((await service.invoke("fx-echo", b"{}")).payload)
    config = service.update_configuration("fx-echo", {"MemorySize": 512, "Timeout": 7})
    assert (config["MemorySize"], config["Timeout"]) == (512, 7)
    after = await service.invoke("fx-echo", b"{}")
    assert after.cold_start
    assert json.loads(after.payload)["memory_limit_in_mb"] == 512
    for _ in range(200):
        if process_gone(before["pid"]):
            break
        await asyncio.sleep(0.02)
    assert process_gone(before["pid"]), "the stale environment was retired"


async def test_stop_leaves_no_worker_process_behind(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo"), ric("fx-nap", "basic.nap")])
    pids = {json.loads((await service.invoke("fx-echo", b"{}")).payload)["pid"]}
    running = asyncio.ensure_future(service.invoke("fx-nap", b'{"seconds": 30}'))
    while len(service.live_worker_pids()) < 2:
        await asyncio.sleep(0.02)
    pids |= set(service.live_worker_pids())
    await service.stop()
    assert all(process_gone(pid) for pid in pids)
    assert running.done()
    with pytest.raises(asyncio.CancelledError):
        running.result()


async def test_an_idle_worker_that_dies_is_replaced_on_the_next_call(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")], worker_cap=1)
    pid = json.loads((await service.invoke("fx-echo", b"{}")).payload)["pid"]
    os.kill(pid, 9)
    for _ in range(200):
        if service.pool.live == 0:
            break
        await asyncio.sleep(0.01)
    assert service.pool.live == 0, "the dead idle worker gave its slot back"
    again = await service.invoke("fx-echo", b"{}")
    assert again.cold_start and again.function_error is None


async def test_a_missing_runtime_executable_is_an_invalid_entrypoint(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-nobin", "basic.echo", command=("/nonexistent/bootstrap",))])
    result = await service.invoke("fx-nobin", b"{}")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Runtime.InvalidEntrypoint"
    for _ in range(200):  # the failed environment is discarded in the background
        if service.pool.live == 0:
            break
        await asyncio.sleep(0.01)
    assert (service.pool.live, service.pool.running) == (0, 0), "the failed spawn gave its worker slot back"


async def test_event_invocations_beyond_reserved_concurrency_queue_instead_of_throttling(
    start_service, ric: Ric, tmp_path
) -> None:
    gate = tmp_path / "open"
    service = await start_service([ric("fx-gate", "basic.gate", reserved_concurrency=1)])
    events = [
        await service.invoke("fx-gate", json.dumps({"gate": str(gate), "seq": seq}).encode(), "Event")
        for seq in range(3)
    ]
    assert [event.status_code for event in events] == [202, 202, 202]
    admission = service.functions["fx-gate"].admission
    for _ in range(100):
        if admission.waiting == 2:
            break
        await asyncio.sleep(0.01)
    assert (admission.in_flight, admission.waiting) == (1, 2), "one runs, two wait for the reserved slot"
    gate.write_text("go")
    for _ in range(500):
        ended = [line for line in service.logs.get("fx-gate", ()) if line.startswith("END RequestId: ")]
        if len(ended) == 3:
            break
        await asyncio.sleep(0.02)
    assert {line.split()[-1] for line in ended} == {event.request_id for event in events}


async def test_an_init_phase_over_its_limit_is_killed(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-slow", "slow_init.handler")], init_timeout_s=0.5)
    result = await service.invoke("fx-slow", b"{}")
    body = json.loads(result.payload)
    assert (result.function_error, body["errorType"]) == ("Unhandled", "Sandbox.Timedout")
    assert body["errorMessage"] == "Init timed out after 0.50 seconds"
    for _ in range(200):
        if service.pool.live == 0:
            break
        await asyncio.sleep(0.01)
    assert service.pool.live == 0, "the stuck worker was killed and its slot freed"


async def test_stop_and_timeouts_kill_what_a_handler_spawned(start_service, ric: Ric) -> None:
    """Workers run in their own process group: a grandchild dies with them."""
    service = await start_service([ric("fx-spawn", "basic.spawn", timeout_s=1), ric("fx-nap", "basic.nap")])
    first = json.loads((await service.invoke("fx-spawn", b"{}")).payload)
    assert not process_gone(first["child"])
    await service.stop()
    assert await eventually_gone(first["child"]) and await eventually_gone(first["pid"])


async def test_a_worker_ignoring_sigterm_is_killed_after_the_grace_period(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-stubborn", "stubborn.handler")], stop_grace_s=0.3)
    pid = json.loads((await service.invoke("fx-stubborn", b"{}")).payload)["pid"]
    await service.stop()
    assert process_gone(pid)
