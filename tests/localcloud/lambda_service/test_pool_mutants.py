"""What the worker pool and admission promise, pinned where mutation testing found the suite silent.

Most tests go through the Invoke API with boto3 (what a caller feels: cold or warm, which environment, a 404);
a few drive ``service.pool`` or an ``Admission`` directly, for the cancellation paths the service reaches only
while it stops (a queued invocation cancelled just as it was handed a slot): there, a slot or an environment
lost would leave a reserved slot taken or a worker process behind.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.lambda_service import FunctionSpec, LambdaService
from localcloud.lambda_service.pool import Admission, WorkerPool
from tests.localcloud.lambda_service.conftest import call, lambda_client, process_gone, until

Ric = Callable[..., FunctionSpec]


def report_line(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode().splitlines()[-1]


async def test_an_environment_updated_while_it_runs_is_not_reused(start_service, ric: Ric, tmp_path: Path) -> None:
    """UpdateFunctionConfiguration during an invocation: that environment finishes it, then is shut down; the
    next call is a cold start with the new memory size (Lambda never serves a new configuration from it)."""
    gate = tmp_path / "open"
    service = await start_service([ric("fx-gate", "basic.gate")], worker_cap=1)
    client = lambda_client(service)
    event = json.dumps({"gate": str(gate)}).encode()
    running = asyncio.ensure_future(call(client, "invoke", FunctionName="fx-gate", Payload=event))
    await until(lambda: len(service.live_worker_pids()) == 1, 20.0)  # its environment is busy with the call
    await call(client, "update_function_configuration", FunctionName="fx-gate", MemorySize=512)
    gate.write_text("go")
    first = json.loads((await running)["Payload"].read())

    after = await call(client, "invoke", FunctionName="fx-gate", Payload=event, LogType="Tail")
    assert json.loads(after["Payload"].read())["pid"] != first["pid"]
    assert "\tInit Duration: " in report_line(after) and "\tMemory Size: 512 MB\t" in report_line(after)
    await until(lambda: process_gone(first["pid"]), 20.0)  # not left idle under its old configuration
    assert service.pool.cold_starts == 2


async def test_a_call_queued_for_a_version_deleted_meanwhile_is_not_found_and_frees_its_slot(
    start_service, ric: Ric, tmp_path: Path
) -> None:
    """Cap 1: a call to version 1 waits for the only worker slot while the version is deleted. It gets
    ResourceNotFoundException (not a 500), and the slot it was about to start a worker in serves the next call."""
    gate = tmp_path / "open"
    service = await start_service([ric("fx-gate", "basic.gate")], worker_cap=1, live_cap=1)
    client = lambda_client(service)
    version = (await call(client, "publish_version", FunctionName="fx-gate"))["Version"]
    event = json.dumps({"gate": str(gate)}).encode()
    holding = asyncio.ensure_future(call(client, "invoke", FunctionName="fx-gate", Payload=event))
    await until(lambda: len(service.live_worker_pids()) == 1, 20.0)
    queued = asyncio.ensure_future(call(client, "invoke", FunctionName="fx-gate", Qualifier=version, Payload=event))
    await until(lambda: service.pool.waiting == 1, 20.0)
    await call(client, "delete_function", FunctionName="fx-gate", Qualifier=version)
    gate.write_text("go")

    assert (await holding)["StatusCode"] == 200
    with pytest.raises(ClientError) as refused:
        await queued
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    following = await asyncio.wait_for(call(client, "invoke", FunctionName="fx-gate", Payload=event), 30)
    assert following["StatusCode"] == 200 and "FunctionError" not in following
    assert (service.pool.running, service.pool.live) == (0, 1)


async def test_stop_waits_for_environments_being_shut_down_in_the_background(start_service, ric: Ric) -> None:
    """An environment retired by a configuration update is stopped in the background; one that ignores SIGTERM
    takes the grace period to die. ``stop`` returns only once it is gone: no runtime process outlives it."""
    # without CPU shares: no service cgroup whose removal at stop would itself wait for the process to end
    service = await start_service([ric("fx-stubborn", "stubborn.handler")], stop_grace_s=1.0, cpu_shares=False)
    pid = json.loads((await service.invoke("fx-stubborn", b"{}")).payload)["pid"]
    service.update_configuration("fx-stubborn", {"MemorySize": 256})  # retires the idle environment
    await service.stop()
    assert process_gone(pid)


async def test_a_call_arriving_while_another_runs_gets_its_own_environment_when_the_cap_allows(
    start_service, ric: Ric, tmp_path: Path
) -> None:
    """Cap 2, one call blocked in its handler: a second call over HTTP (checked for being a nested call, since
    a worker is busy) runs at once in a second environment; checking takes no slot and no environment."""
    gate, free = tmp_path / "open", tmp_path / "free"
    free.write_text("")
    service = await start_service([ric("fx-gate", "basic.gate")], worker_cap=2)
    client = lambda_client(service)
    blocked = asyncio.ensure_future(
        call(client, "invoke", FunctionName="fx-gate", Payload=json.dumps({"gate": str(gate)}).encode())
    )
    await until(lambda: len(service.live_worker_pids()) == 1, 20.0)
    beside = await asyncio.wait_for(
        call(client, "invoke", FunctionName="fx-gate", Payload=json.dumps({"gate": str(free)}).encode()), 30
    )
    assert beside["StatusCode"] == 200 and "FunctionError" not in beside
    assert not blocked.done(), "it ran beside the blocked call"
    gate.write_text("go")
    first = json.loads((await blocked)["Payload"].read())
    assert first["pid"] != json.loads(beside["Payload"].read())["pid"]
    assert (service.pool.running, service.pool.live, len(service.pool.idle_workers())) == (0, 2, 2)


async def test_at_the_live_cap_a_new_function_evicts_an_idle_environment_of_another(
    start_service, ric: Ric, tmp_path: Path
) -> None:
    """Room for two live workers, both used: fx-a's (now busy again) and fx-b's (idle). A call to fx-c stops
    fx-b's idle environment to start its own, passing over fx-a's pool, which has none idle right now."""
    gate = tmp_path / "open"
    functions = [ric("fx-a", "basic.gate"), ric("fx-b", "basic.echo"), ric("fx-c", "basic.echo")]
    service = await start_service(functions, worker_cap=2, live_cap=2)
    client = lambda_client(service)
    free = tmp_path / "free"
    free.write_text("")
    await call(client, "invoke", FunctionName="fx-a", Payload=json.dumps({"gate": str(free)}).encode())
    b_pid = json.loads((await call(client, "invoke", FunctionName="fx-b", Payload=b"{}"))["Payload"].read())["pid"]
    busy_a = asyncio.ensure_future(
        call(client, "invoke", FunctionName="fx-a", Payload=json.dumps({"gate": str(gate)}).encode())
    )
    await until(lambda: service.pool.running == 1, 20.0)

    c = await asyncio.wait_for(call(client, "invoke", FunctionName="fx-c", Payload=b"{}", LogType="Tail"), 30)
    assert c["StatusCode"] == 200 and "FunctionError" not in c
    assert "\tInit Duration: " in report_line(c)
    await until(lambda: process_gone(b_pid), 20.0)
    assert service.pool.evictions == 1 and not busy_a.done()
    gate.write_text("go")
    assert (await busy_a)["StatusCode"] == 200


# -- cancellation: reachable through the service only while it stops ---------------------------------------------
async def test_admission_a_cancelled_waiter_gives_up_its_place_not_someone_elses_slot() -> None:
    admission = Admission(1)
    assert admission.try_enter()
    waiter = asyncio.ensure_future(admission.enter())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (admission.in_flight, admission.waiting) == (1, 0), "the holder still holds its slot"
    assert not admission.try_enter()
    admission.leave()
    assert admission.in_flight == 0 and admission.try_enter()


async def test_admission_a_slot_handed_to_a_waiter_that_gives_up_passes_on() -> None:
    """The slot is handed over and the waiter is cancelled before it resumes: the slot goes to the next waiter,
    or is freed; reserved concurrency never shrinks for good."""
    admission = Admission(1)
    assert admission.try_enter()
    first = asyncio.ensure_future(admission.enter())
    second = asyncio.ensure_future(admission.enter())
    await asyncio.sleep(0)
    admission.leave()  # hands the slot to `first`
    first.cancel()  # which gives up before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 5)  # the slot passed on
    assert (admission.in_flight, admission.waiting) == (1, 0)
    admission.leave()
    assert admission.in_flight == 0

    assert admission.try_enter()
    lone = asyncio.ensure_future(admission.enter())
    await asyncio.sleep(0)
    admission.leave()
    lone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lone
    assert admission.in_flight == 0 and admission.try_enter(), "no one else waited: the slot is free"


async def warm_pid(service: LambdaService, name: str) -> tuple[int, bool]:
    result = await service.invoke(name, b"{}")
    assert result.function_error is None, result.payload
    return json.loads(result.payload)["pid"], result.cold_start


async def test_pool_a_warm_environment_handed_to_a_waiter_that_gives_up_stays_warm(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")], worker_cap=1)
    pid, _ = await warm_pid(service, "fx-echo")
    pool, key = service.pool, service.resolve("fx-echo").key
    worker, cold = await pool.acquire(key)  # holds the only running slot
    assert not cold and worker.pid == pid
    waiting = asyncio.ensure_future(pool.acquire(key))
    await asyncio.sleep(0)
    assert pool.waiting == 1
    pool.release(worker, reusable=True)  # hands the environment to the waiter at once
    waiting.cancel()  # which gives up before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (pool.running, pool.live, pool.waiting) == (0, 1, 0)
    assert await warm_pid(service, "fx-echo") == (pid, False), "given back, still warm"


async def test_pool_an_environment_to_evict_for_a_waiter_that_gives_up_stays_warm(start_service, ric: Ric) -> None:
    """Room for one live worker: a waiter for fx-b is granted fx-a's idle environment to stop; it gives up
    before stopping it, so fx-a's environment is put back, not stopped nor lost."""
    service = await start_service([ric("fx-a", "basic.echo"), ric("fx-b", "basic.echo")], worker_cap=1, live_cap=1)
    pid, _ = await warm_pid(service, "fx-a")
    pool = service.pool
    worker, _ = await pool.acquire(service.resolve("fx-a").key)
    waiting = asyncio.ensure_future(pool.acquire(service.resolve("fx-b").key))
    await asyncio.sleep(0)
    pool.release(worker, reusable=True)  # parks fx-a's worker, then grants fx-b's waiter its eviction
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (pool.running, pool.live, pool.evictions) == (0, 1, 0)
    assert await warm_pid(service, "fx-a") == (pid, False)
    assert not process_gone(pid)


async def test_pool_a_cancelled_waiter_does_not_hold_up_the_one_behind_it(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")], worker_cap=1)
    pid, _ = await warm_pid(service, "fx-echo")
    pool, key = service.pool, service.resolve("fx-echo").key
    worker, _ = await pool.acquire(key)
    gives_up = asyncio.ensure_future(pool.acquire(key))
    behind = asyncio.ensure_future(pool.acquire(key))
    await asyncio.sleep(0)
    assert pool.waiting == 2
    gives_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gives_up
    pool.release(worker, reusable=True)
    served, cold = await asyncio.wait_for(behind, 5)
    assert (served.pid, cold) == (pid, False)
    pool.release(served, reusable=True)
    assert (pool.running, pool.live) == (0, 1)


def test_pool_a_cap_below_one_is_refused() -> None:
    """A pool that could never run an invocation is a configuration error, not a service that hangs every call."""

    async def never(key: tuple[str, ...]) -> Any:
        raise AssertionError("no worker is started by the constructor")

    for cap in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            WorkerPool(cap, never, lambda key: True)
    assert WorkerPool(1, never, lambda key: True).cap == 1


async def test_pool_close_fails_the_invocations_still_waiting(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-echo", "basic.echo")], worker_cap=1)
    await warm_pid(service, "fx-echo")
    pool, key = service.pool, service.resolve("fx-echo").key
    worker, _ = await pool.acquire(key)
    waiting = asyncio.ensure_future(pool.acquire(key))
    await asyncio.sleep(0)
    assert await pool.close() == [], "the only environment is busy"
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    pool.release(worker, reusable=True)
