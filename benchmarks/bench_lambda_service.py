"""Benchmark: what the local Lambda service adds on top of one Runtime API round trip.

Run: ``venv/bin/python -m benchmarks.bench_lambda_service``. One no-op handler, the same warm
awslambdaric worker process kind everywhere; ratios against the baseline timed in the same run:

- baseline: ``RuntimeApiServer.invoke`` straight to a warm worker (the Runtime API round trip alone);
- ``LambdaService.invoke`` in process (admission, pool, REPORT line, log capture on top);
- the Invoke API over HTTP with an aiohttp client (what boto3/aioboto3 callers pay, minus SigV4);
- cold start: first invocation of a fresh worker, awslambdaric vs our runtime (``handlers.runtime``);
- a 350-invocation burst through a worker cap of 2: wall time per invocation vs the warm baseline;
- freeze/thaw: the in-process round trip with every AWS emulation on (the default: frozen between
  invocations, sandboxed, lifecycle timers) against the same service with freezing off, and with all
  three off (the service as it was before them), measured in interleaved blocks so that load on this
  shared machine hits all three alike; goal: frozen <= 1.2x unfrozen.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.common import write_report
from localcloud.lambda_service import (
    AWSLAMBDARIC_COMMAND,
    OUR_RUNTIME_COMMAND,
    FunctionSpec,
    LambdaService,
    RuntimeApiServer,
)
from localcloud.lambda_service.lifecycle import Lifecycle

ROUNDS = 300
COLD_REPEAT = 5
BURST = 350
FREEZE_BLOCKS, FREEZE_BLOCK = 12, 50
NOOP = "def handler(event, context):\n    return {}\n"


async def _median_ms(call: Callable[[], Awaitable[Any]], rounds: int = ROUNDS) -> float:
    for _ in range(20):
        await call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


async def _baseline_ms(code_root: Path) -> float:
    server = RuntimeApiServer(function_arn="arn:aws:lambda:us-east-1:123456789012:function:bench")
    await server.start()
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": server.address, "PYTHONPATH": str(code_root)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "awslambdaric", "noop.handler", env=env, cwd=code_root
    )
    try:
        return await _median_ms(lambda: server.invoke(b"{}", timeout_s=30))
    finally:
        process.kill()
        await process.wait()
        await server.stop()


def _spec(name: str, code_root: Path, command: tuple[str, ...], **extra: Any) -> FunctionSpec:
    return FunctionSpec(name=name, handler="noop.handler", code_root=code_root, command=command, timeout_s=30, **extra)


async def _through_service(code_root: Path, figures: dict[str, Any]) -> None:
    specs = [
        _spec("ric", code_root, AWSLAMBDARIC_COMMAND),
        _spec("ours", code_root, OUR_RUNTIME_COMMAND),
        _spec("burst", code_root, AWSLAMBDARIC_COMMAND, reserved_concurrency=BURST),
    ]
    service = LambdaService(specs, worker_cap=2, memory_enforcement="rss")
    await service.start()
    try:
        figures["service_invoke_ms"] = round(await _median_ms(lambda: service.invoke("ric", b"{}")), 3)
        url = f"{service.url}/2015-03-31/functions/ric/invocations"
        async with aiohttp.ClientSession() as session:

            async def over_http() -> None:
                async with session.post(url, data=b"{}") as response:
                    await response.read()

            figures["invoke_api_http_ms"] = round(await _median_ms(over_http), 3)
        for name in ("ric", "ours"):
            colds = []
            for _ in range(COLD_REPEAT):
                service.update_configuration(name, {"Description": str(time.time())})  # retires warm workers
                start = time.perf_counter()
                result = await service.invoke(name, b"{}")
                if not result.cold_start or result.function_error:
                    raise RuntimeError(f"{name}: cold invocation failed: {result.payload[:500]!r}")
                colds.append((time.perf_counter() - start) * 1000)
            figures[f"cold_start_{name}_ms"] = round(statistics.median(colds), 1)
        start = time.perf_counter()
        results = await asyncio.gather(*(service.invoke("burst", b"{}") for _ in range(BURST)))
        figures["burst_350_cap2_s"] = round(time.perf_counter() - start, 3)
        figures["burst_all_served"] = all(r.status_code == 200 and not r.function_error for r in results)
    finally:
        await service.stop()


FREEZE_VARIANTS: dict[str, dict[str, Any]] = {
    "emulated": {},  # the defaults: freeze, sandbox, lifecycle
    "no_freeze": {"freeze": False},
    "none": {"freeze": False, "sandbox": "off", "lifecycle": Lifecycle(idle_s=(1e9, 1e9), lifetime_s=(1e9, 1e9))},
}


async def _idle(service: LambdaService) -> None:
    """Until the function's worker waits on ``/next`` with nothing to do (and is frozen, if it freezes)."""
    worker = service.pool.idle_workers()[0]
    while not (worker.server is not None and worker.server.waiting_idle and (worker.frozen or not service.freeze)):
        await asyncio.sleep(0.0005)


async def _freeze_overhead(code_root: Path, figures: dict[str, Any]) -> None:
    """Median round trip per variant and runtime, from interleaved blocks of warm invocations.

    ``b2b``: back to back, each call as soon as the previous answered (a frozen environment is thawed at
    once; awslambdaric often asks for the next event after it is already queued, and is not frozen);
    ``spaced``: each call made once the environment is idle (and frozen): the thaw is on the path.
    """
    for runtime, command in (("ric", AWSLAMBDARIC_COMMAND), ("ours", OUR_RUNTIME_COMMAND)):
        services = {
            name: LambdaService([_spec("f", code_root, command)], worker_cap=1, memory_enforcement="rss", **options)
            for name, options in FREEZE_VARIANTS.items()
        }
        samples: dict[str, list[float]] = {f"{name}_{way}": [] for name in services for way in ("b2b", "spaced")}
        try:
            for service in services.values():
                await service.start()
                for _ in range(20):
                    await service.invoke("f", b"{}")
            for _ in range(FREEZE_BLOCKS):
                for name, service in services.items():
                    for way in ("b2b", "spaced"):
                        for _ in range(FREEZE_BLOCK):
                            if way == "spaced":
                                await _idle(service)
                            start = time.perf_counter()
                            await service.invoke("f", b"{}")
                            samples[f"{name}_{way}"].append(time.perf_counter() - start)
            worker = services["emulated"].pool.idle_workers()[0]
            figures[f"freeze_{runtime}_freezes_per_invocation"] = round(worker.freezes / worker.invocations, 3)
        finally:
            for service in services.values():
                await service.stop()
        medians = {key: statistics.median(values) * 1000 for key, values in samples.items()}
        for key, value in medians.items():
            figures[f"freeze_{runtime}_{key}_ms"] = round(value, 3)
        for way in ("b2b", "spaced"):
            emulated = medians[f"emulated_{way}"]
            figures[f"freeze_{runtime}_{way}_emulated_vs_no_freeze"] = round(emulated / medians[f"no_freeze_{way}"], 3)
            figures[f"freeze_{runtime}_{way}_emulated_vs_none"] = round(emulated / medians[f"none_{way}"], 3)


async def _run() -> dict[str, Any]:
    figures: dict[str, Any] = {"rounds": ROUNDS, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        code_root = Path(tmp)
        (code_root / "noop.py").write_text(NOOP)
        baseline = await _baseline_ms(code_root)
        figures["baseline_runtime_api_ms"] = round(baseline, 3)
        await _through_service(code_root, figures)
        await _freeze_overhead(code_root, figures)
    figures["service_invoke_vs_baseline"] = round(figures["service_invoke_ms"] / baseline, 2)
    figures["invoke_api_http_vs_baseline"] = round(figures["invoke_api_http_ms"] / baseline, 2)
    figures["cold_ours_vs_ric"] = round(figures["cold_start_ours_ms"] / figures["cold_start_ric_ms"], 2)
    figures["burst_per_invocation_vs_baseline"] = round(figures["burst_350_cap2_s"] * 1000 / BURST / baseline, 2)
    return figures


def main() -> None:
    if "--freeze-only" in sys.argv:
        write_report("lambda_service_freeze", asyncio.run(_freeze_only()))
        return
    write_report("lambda_service", asyncio.run(_run()))


async def _freeze_only() -> dict[str, Any]:
    figures: dict[str, Any] = {"blocks": FREEZE_BLOCKS, "block": FREEZE_BLOCK, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "noop.py").write_text(NOOP)
        await _freeze_overhead(Path(tmp), figures)
    return figures


if __name__ == "__main__":
    main()
