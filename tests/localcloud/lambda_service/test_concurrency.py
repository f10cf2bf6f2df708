"""Reserved concurrency (429 beyond it, at once) and the machine's worker cap (FIFO waiting, none lost)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from fhrapp.definition import warm_payload
from localcloud.lambda_service import FunctionSpec, TooManyRequests

Ric = Callable[..., FunctionSpec]
BURST = 350


async def test_350_at_once_against_reserved_10_serves_10_and_throttles_340_promptly(
    start_service, ric: Ric, tmp_path: Path
) -> None:
    """The ten admitted invocations block on a gate file, so every 429 provably came back while they ran."""
    gate = tmp_path / "open"
    service = await start_service([ric("fx-gate", "basic.gate", reserved_concurrency=10)], worker_cap=10)
    url = f"{service.url}/2015-03-31/functions/fx-gate/invocations"

    async def call(session: aiohttp.ClientSession, seq: int) -> tuple[int, dict, dict]:
        event = json.dumps({"gate": str(gate), "seq": seq}).encode()
        async with session.post(url, data=event) as response:
            return response.status, dict(response.headers), await response.json()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        calls = [asyncio.ensure_future(call(session, seq)) for seq in range(BURST)]
        throttled: list[tuple[int, dict, dict]] = []
        while len(throttled) < BURST - 10:
            done, _ = await asyncio.wait([c for c in calls if not c.done()], return_when=asyncio.FIRST_COMPLETED)
            throttled.extend(c.result() for c in done)
        assert not gate.exists()
        assert service.functions["fx-gate"].admission.in_flight == 10, "the ten are still running"
        gate.write_text("go")
        served = await asyncio.gather(*[c for c in calls if not c.done()])

    assert len(served) == 10 and all(status == 200 for status, _, _ in served)
    assert {body["seq"] for _, _, body in served}.isdisjoint({body.get("seq") for _, _, body in throttled})
    assert len(throttled) == BURST - 10
    for status, headers, body in throttled:
        assert status == 429
        assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"
        assert body["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


async def test_350_at_once_against_reserved_400_with_cap_2_serves_all_in_fifo_order(start_service, ric: Ric) -> None:
    """Every invocation is served exactly once, and each worker receives events in submission order."""
    service = await start_service([ric("fx-seq", "basic.sequence", reserved_concurrency=400)], worker_cap=2)
    calls = [asyncio.ensure_future(service.invoke("fx-seq", json.dumps({"seq": seq}).encode())) for seq in range(BURST)]
    results = await asyncio.gather(*calls)

    assert all(r.status_code == 200 and r.function_error is None for r in results)
    bodies = [json.loads(r.payload) for r in results]
    assert [body["seq"] for body in bodies] == list(range(BURST)), "none lost, each answered to its caller"
    by_worker: dict[int, list[int]] = defaultdict(list)
    for body in bodies:
        by_worker[body["pid"]] = max(by_worker[body["pid"]], body["seen"], key=len)
    assert len(by_worker) == 2, "the cap of two workers held, both were used"
    assert sorted(seq for seen in by_worker.values() for seq in seen) == list(range(BURST))
    for seen in by_worker.values():
        assert seen == sorted(seen), "FIFO: a worker never takes a later event before an earlier one"
    assert sum(r.cold_start for r in results) == 2
    assert service.pool.live == 2


async def alternate(service: Any, rounds: int = 3) -> list[bool]:
    """Alternating concurrent calls to fx-a and fx-b: checks arrival order; returns which were cold."""
    calls = [(index, name) for index, name in enumerate(["fx-a", "fx-b"] * rounds)]
    finished: list[tuple[int, str, bool]] = []

    async def call(index: int, name: str) -> None:
        result = await service.invoke(name, json.dumps({"index": index}).encode())
        assert result.function_error is None
        body = json.loads(result.payload)
        finished.append((body["event"]["index"], body["function_name"], result.cold_start))

    await asyncio.gather(*(call(index, name) for index, name in calls))
    assert [(index, name) for index, name, _ in finished] == calls, "served in arrival order"
    return [cold for _, _, cold in finished]


async def test_a_cap_of_one_is_shared_fairly_between_functions_in_arrival_order(start_service, ric: Ric) -> None:
    """One running worker at a time, room for one live worker: each switch of function evicts the other."""
    functions = [ric("fx-a", "basic.echo"), ric("fx-b", "basic.echo")]
    service = await start_service(functions, worker_cap=1, live_cap=1)
    assert all(await alternate(service))
    assert service.pool.evictions == 5


async def test_idle_frozen_environments_stay_warm_beyond_the_running_cap(start_service, ric: Ric) -> None:
    """One running at a time, but both functions' environments stay alive (frozen) in between, as on AWS."""
    functions = [ric("fx-a", "basic.echo"), ric("fx-b", "basic.echo")]
    service = await start_service(functions, worker_cap=1, live_cap=4)
    assert await alternate(service) == [True, True, False, False, False, False]
    assert service.pool.evictions == 0 and service.pool.live == 2


async def test_throttled_in_process_call_raises_too_many_requests(start_service, ric: Ric) -> None:
    service = await start_service([ric("fx-none", "basic.echo", reserved_concurrency=0)])
    try:
        await service.invoke("fx-none", b"{}")
    except TooManyRequests as error:
        assert error.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    else:
        raise AssertionError("reserved concurrency 0 must throttle every call")
    assert service.live_worker_pids() == []


async def test_keep_warm_fan_out_wider_than_the_cap_does_not_stall(start_service, unused_tcp_port: int) -> None:
    """A worker waiting on its own synchronous self-invocations borrows slots beyond the cap.

    Cap 1, fan-out 4 (the scheduled event plus 3 self-invocations): the caller holds the only slot while
    it waits, so without borrowing its copies would queue until its own timeout killed it.
    """
    warm = FunctionSpec(
        name="fx-warm",
        handler="asyncy.handler",  # keep-warm events are answered by our runtime itself
        timeout_s=20,
        code_root=Path(__file__).resolve().parent / "fixtures_handlers",
        environment={"AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{unused_tcp_port}"},
    )
    service = await start_service([warm], worker_cap=1, port=unused_tcp_port)
    result = await service.invoke("fx-warm", json.dumps(warm_payload(4)).encode())
    assert result.function_error is None, result.payload
    fanout = json.loads(result.payload)["fanout"]
    assert (fanout["requested"], fanout["succeeded"]) == (3, 3)
    assert service.pool.borrowed == 3, "each self-invocation came while its caller held the only slot"
    later = await service.invoke("fx-warm", b'{"n": 1}')  # the pool is back under its cap and serves on
    assert later.function_error is None


async def test_a_reserved_slot_is_given_back_after_every_kind_of_end(start_service, ric: Ric) -> None:
    """Reserved concurrency 1: calls one after another all run (each gives its slot back), whether the
    handler answered or raised, called synchronously or queued; nothing stays in flight afterwards."""
    functions = [
        ric("fx-one", "basic.echo", reserved_concurrency=1),
        ric("fx-err", "basic.fail", reserved_concurrency=1),
    ]
    service = await start_service(functions)
    admission = service.functions["fx-one"].admission
    for _ in range(3):
        result = await service.invoke("fx-one", b"{}")
        assert result.function_error is None
        assert (admission.in_flight, admission.waiting) == (0, 0), "the slot went back when the call ended"
    for _ in range(2):
        assert (await service.invoke("fx-err", b"{}")).function_error == "Unhandled"
    assert service.functions["fx-err"].admission.in_flight == 0
    event = await service.invoke("fx-one", b"{}", "Event")
    assert event.status_code == 202
    for _ in range(500):
        if admission.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert admission.in_flight == 0, "the queued (Event) call gave its slot back"
    assert (await service.invoke("fx-one", b"{}")).function_error is None


async def test_admission_hands_a_slot_to_the_next_waiter_or_frees_it() -> None:
    from localcloud.lambda_service.pool import Admission

    admission = Admission(1)
    assert admission.try_enter() and not admission.try_enter()
    waiter = asyncio.ensure_future(admission.enter())
    await asyncio.sleep(0)
    assert (admission.in_flight, admission.waiting) == (1, 1)
    admission.leave()  # passes straight to the waiter
    await asyncio.wait_for(waiter, 1.0)
    assert (admission.in_flight, admission.waiting) == (1, 0)
    admission.leave()
    assert admission.in_flight == 0 and admission.try_enter()
