"""Our runtime (``python -m handlers.runtime``) as the workers, side by side with awslambdaric.

Both runtimes run the same fixture handlers behind the same service; results and error payloads must
agree where Lambda defines them (errorType, errorMessage), and the service's own errors (timeout,
memory, oversized response) must look the same whichever runtime the worker runs.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from localcloud.lambda_service import AWSLAMBDARIC_COMMAND, OUR_RUNTIME_COMMAND, FunctionSpec
from localcloud.lambda_service.payloads import MAX_PAYLOAD_BYTES

Ric = Callable[..., FunctionSpec]
RUNTIMES = {"ours": OUR_RUNTIME_COMMAND, "awslambdaric": AWSLAMBDARIC_COMMAND}


def ours(ric: Ric, name: str, handler: str, **overrides: object) -> FunctionSpec:
    return ric(name, handler, command=OUR_RUNTIME_COMMAND, **overrides)


async def test_async_handler_with_init_hook_cold_then_warm(start_service, ric: Ric) -> None:
    service = await start_service([ours(ric, "fx-async", "asyncy.handler")])
    first = await service.invoke("fx-async", b'{"n": 1}')
    second = await service.invoke("fx-async", b'{"n": 2}')
    one, two = json.loads(first.payload), json.loads(second.payload)
    assert (first.function_error, first.cold_start, second.cold_start) == (None, True, False)
    assert one["event"] == {"n": 1} and one["request_id"] == first.request_id
    assert one["pid"] == two["pid"] and two["inits"] == 1, "init ran once; the warm worker was reused"


@pytest.mark.parametrize(
    ("handler", "event"),
    [("basic.echo", {"k": [1, 2]}), ("basic.fail", {"why": "same"}), ("basic.big", {"size": 12})],
)
async def test_both_runtimes_give_the_same_results_and_error_payloads(
    start_service, ric: Ric, handler: str, event: dict
) -> None:
    functions = [ric(f"fx-{label}", handler, command=command) for label, command in RUNTIMES.items()]
    service = await start_service(functions)
    results = {label: await service.invoke(f"fx-{label}", json.dumps(event).encode()) for label in RUNTIMES}
    assert results["ours"].function_error == results["awslambdaric"].function_error
    bodies = {label: json.loads(result.payload) for label, result in results.items()}
    if results["ours"].function_error:
        for key in ("errorType", "errorMessage"):
            assert bodies["ours"][key] == bodies["awslambdaric"][key]
        assert bodies["ours"]["stackTrace"], "our runtime sends a stack trace too"
    elif handler == "basic.echo":
        assert bodies["ours"]["event"] == bodies["awslambdaric"]["event"] == event
        assert bodies["ours"]["function_name"] == "fx-ours"
    else:
        assert bodies["ours"] == bodies["awslambdaric"]


async def test_init_error_from_our_runtime(start_service, ric: Ric) -> None:
    service = await start_service([ours(ric, "fx-broken", "broken_init.handler")])
    result = await service.invoke("fx-broken", b"{}")
    body = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert "cannot initialise" in body["errorMessage"]


async def test_timeout_memory_and_oversized_response_under_our_runtime(start_service, ric: Ric) -> None:
    service = await start_service(
        [
            ours(ric, "fx-nap", "basic.nap", timeout_s=1),
            ours(ric, "fx-hog", "basic.hog", memory_mb=128),
            ours(ric, "fx-big", "basic.big"),
        ]
    )
    timed_out = json.loads((await service.invoke("fx-nap", b'{"seconds": 30}')).payload)
    assert timed_out["errorType"] == "Sandbox.Timedout"
    killed = json.loads((await service.invoke("fx-hog", b'{"mb": 400}')).payload)
    assert killed["errorMessage"].endswith("Runtime exited with error: signal: killed")
    too_big = await service.invoke("fx-big", json.dumps({"size": MAX_PAYLOAD_BYTES + 1}).encode())
    assert too_big.function_error == "Unhandled"
    assert json.loads(too_big.payload)["errorType"] == "Function.ResponseSizeTooLarge"
    after = await service.invoke("fx-big", b'{"size": 3}')
    assert json.loads(after.payload) == "xxx"


async def test_350_through_our_runtime_with_cap_2(start_service, ric: Ric) -> None:
    service = await start_service([ours(ric, "fx-seq", "basic.sequence", reserved_concurrency=400)], worker_cap=2)
    calls = [service.invoke("fx-seq", json.dumps({"seq": seq}).encode()) for seq in range(350)]
    results = await asyncio.gather(*calls)
    assert [json.loads(r.payload)["seq"] for r in results] == list(range(350))
    assert len({json.loads(r.payload)["pid"] for r in results}) == 2


async def test_a_runtime_api_500_makes_our_runtime_exit_and_the_caller_sees_it(start_service, ric: Ric) -> None:
    """The Runtime API contract says a 5xx is non-recoverable: the runtime exits, the service replaces it."""
    service = await start_service([ours(ric, "fx-echo", "basic.echo")], worker_cap=1)
    await service.invoke("fx-echo", b"{}")
    (worker,) = service.pool.idle_workers()
    assert worker.server is not None
    worker.server.fail_next("response", 500)
    broken = await service.invoke("fx-echo", b"{}")
    assert broken.function_error == "Unhandled"
    assert json.loads(broken.payload)["errorType"] == "Runtime.ExitError"
    recovered = await service.invoke("fx-echo", b'{"after": 1}')
    assert recovered.cold_start and json.loads(recovered.payload)["event"] == {"after": 1}


async def test_workers_run_the_runtime_of_the_checkout_under_test(start_service, ric: Ric, tmp_path: Path) -> None:
    """The worker's ``python -m handlers.runtime`` comes from the checkout these tests belong to, even
    when another ``handlers`` package is on the inherited path (another worktree, the venv's editable
    install of a different checkout, the original of a mutation run's copy): here a decoy that exits."""
    decoy = tmp_path / "other-checkout" / "handlers" / "runtime"
    decoy.mkdir(parents=True)
    (decoy.parent / "__init__.py").write_text("")
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy runtime was imported')\n")
    (decoy / "__main__.py").write_text("raise SystemExit(7)\n")
    base_env = {**os.environ, "PYTHONPATH": str(decoy.parents[1])}
    service = await start_service([ours(ric, "fx-origin", "basic.runtime_origin")], base_env=base_env)
    result = await service.invoke("fx-origin", b"{}")
    assert result.function_error is None, result.payload
    checkout = Path(__file__).resolve().parents[3]
    assert Path(json.loads(result.payload)["runtime"]) == checkout / "handlers" / "runtime" / "__init__.py"
