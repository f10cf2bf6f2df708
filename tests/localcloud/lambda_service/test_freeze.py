"""Freeze and thaw: between invocations an environment gets no CPU, as on Lambda.

The fixture handler answers at once and leaves an asyncio task and a thread burning CPU. Progress is
read from the kernel (the process state and the tree's CPU time), not from timings: a frozen tree is
in state ``T`` and its CPU time does not move at all, however long the test waits; with the emulation
off (``freeze=False``) the same background work visibly consumes CPU between invocations.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from localcloud.lambda_service import FunctionSpec, LambdaService, limits
from localcloud.lambda_service.worker import Worker

FIXTURES = Path(__file__).resolve().parent / "fixtures_handlers"
IDLE_WAIT_S = 0.5


def background_function(memory_mb: int = 1769) -> FunctionSpec:
    """Our runtime (the fixture is ``async def``) over the background fixture."""
    return FunctionSpec(
        name="fx-bg", handler="background.handler", memory_mb=memory_mb, timeout_s=10, code_root=FIXTURES
    )


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def every_thread_stopped(pid: int) -> bool:
    """All threads of the tree have taken the stop (a thread the CPU share holds back takes it a
    little later: it must run to stop, and that instant is accounted to it)."""
    tasks = [
        f"/proc/{member}/task/{task}" for member in limits.tree_pids(pid) for task in os.listdir(f"/proc/{member}/task")
    ]
    states = []
    for task in tasks:
        with open(f"{task}/stat", encoding="ascii") as stat:
            states.append(stat.read().rsplit(")", 1)[1].split()[0])
    return all(state == "T" for state in states)


async def idle_worker(service: LambdaService, frozen: bool) -> Worker:
    """The function's one idle worker, once its runtime is parked on ``/next`` (and frozen, if asked)."""
    for _ in range(500):
        idle = service.pool.idle_workers()
        if idle and idle[0].pid is not None and (not frozen or (idle[0].frozen and every_thread_stopped(idle[0].pid))):
            return idle[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the worker never went idle")


async def started_in_background(service: LambdaService) -> dict[str, int]:
    result = await service.invoke("fx-bg", b'{"op": "start"}')
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


async def test_background_work_gets_no_cpu_between_invocations_and_resumes_in_the_next(start_service) -> None:
    service = await start_service([background_function()])
    first = await started_in_background(service)
    worker = await idle_worker(service, frozen=True)
    assert worker.pid == first["pid"]

    child = first["children"][0]  # burns CPU in a session of its own: out of the worker's process group
    assert os.getpgid(child) != first["pid"]
    before = limits.tree_cpu_seconds(first["pid"])
    await asyncio.sleep(IDLE_WAIT_S)
    assert process_state(first["pid"]) == process_state(child) == "T", "the environment is stopped while idle"
    assert limits.tree_cpu_seconds(first["pid"]) == before, "frozen: not one tick of CPU, the child's included"

    resumed = json.loads((await service.invoke("fx-bg", b'{"op": "progress", "hold_s": 0.3}')).payload)
    assert resumed["pid"] == first["pid"], "warm: the same environment, thawed"
    end = resumed["at_end"]
    assert end["task"] > resumed["task"] and end["thread"] > resumed["thread"], "it runs on inside the next one"
    await idle_worker(service, frozen=True)
    assert worker.freezes >= 2
    await service.stop()
    assert await gone(child), "the whole environment ends with it, the escaped child too"


async def test_an_event_larger_than_the_socket_buffers_reaches_a_frozen_environment(start_service) -> None:
    """A 5 MB event cannot be written in full to a runtime that cannot read: it is thawed first (this
    hung until the function's timeout when the thaw waited for the write)."""
    service = await start_service([background_function()])
    first = await started_in_background(service)
    await idle_worker(service, frozen=True)
    padding = "p" * (5 * 1024 * 1024)
    result = await asyncio.wait_for(
        service.invoke("fx-bg", json.dumps({"op": "progress", "padding": padding}).encode()), timeout=8
    )
    assert result.function_error is None and json.loads(result.payload)["pid"] == first["pid"]


async def gone(pid: int) -> bool:
    for _ in range(300):
        try:
            if process_state(pid) == "Z":
                return True
        except FileNotFoundError:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_without_the_emulation_the_same_work_runs_on_between_invocations(start_service) -> None:
    """The counter-check: the test above fails if freezing is removed."""
    service = await start_service([background_function()], freeze=False)
    first = await started_in_background(service)
    await idle_worker(service, frozen=False)
    before = limits.tree_cpu_seconds(first["pid"])
    await asyncio.sleep(IDLE_WAIT_S)
    assert process_state(first["pid"]) != "T"
    assert limits.tree_cpu_seconds(first["pid"]) > before
    await service.stop()
    assert await gone(first["children"][0])


@pytest.mark.parametrize("mechanism", ["governor", "cfs-v1"])
async def test_the_cpu_share_never_continues_a_frozen_environment(start_service, mechanism: str) -> None:
    """At 128 MB the CPU share stops and continues the busy tree every few ms; freezing must win."""
    if mechanism == "cfs-v1" and not limits.cfs_v1_available():
        pytest.skip("no writable cgroup v1 cpu hierarchy here")
    service = await start_service([background_function(memory_mb=128)], cpu_enforcement=mechanism)
    first = await started_in_background(service)
    worker = await idle_worker(service, frozen=True)
    assert worker.cpu_mechanism == mechanism
    if service.cpu_governor is not None:
        assert first["pid"] not in service.cpu_governor.governed(), "the governor lets go of a frozen tree"
    before = limits.tree_cpu_seconds(first["pid"])
    await asyncio.sleep(IDLE_WAIT_S)
    assert process_state(first["pid"]) == "T"
    assert limits.tree_cpu_seconds(first["pid"]) == before
    again = await service.invoke("fx-bg", b'{"op": "progress"}')
    assert json.loads(again.payload)["pid"] == first["pid"]
    if service.cpu_governor is not None:
        await idle_worker(service, frozen=True)
        assert first["pid"] not in service.cpu_governor.governed()


async def test_a_frozen_environment_is_continued_before_it_is_stopped(start_service) -> None:
    """SIGTERM to a stopped process would wait forever: stop() thaws first, and nothing stays behind."""
    service = await start_service([background_function()])
    first = await started_in_background(service)
    await idle_worker(service, frozen=True)
    await service.stop()
    assert await gone(first["pid"]) and await gone(first["children"][0])


async def test_the_speed_estimate_does_not_learn_from_frozen_wall_time(start_service) -> None:
    """Work started in one invocation and finished in the next (0.2 s of it in the first, then frozen
    for 2 s) teaches handlers.api.analysis.Throughput the time spent inside invocations only. Timed by
    wall time (perf_counter, as before) it learnt ~2.2 s for 1 MB: every later record predicted 10x
    slower, answered 202 instead of 200."""
    spec = FunctionSpec(name="fx-learn", handler="learning.handler", memory_mb=1769, timeout_s=10, code_root=FIXTURES)
    service = await start_service([spec])
    started = await service.invoke("fx-learn", b'{"op": "start", "size": 1000000, "work_s": 0.2}')
    assert started.function_error is None, started.payload
    await idle_worker(service, frozen=True)
    await asyncio.sleep(2.0)  # frozen: no invocation, no time for the analysis
    learnt = json.loads((await service.invoke("fx-learn", b'{"op": "learnt", "hold_s": 0.3}')).payload)
    assert learnt["observed"] is not None, "the work finished inside the second invocation"
    seconds = 1_000_000 / learnt["observed"]
    assert seconds < 1.0, f"learnt {seconds:.2f} s for 0.2 s of work: the frozen gap was counted"
