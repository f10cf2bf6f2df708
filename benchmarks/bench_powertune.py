"""Benchmark: how faithfully the local Lambda service's CPU share follows memory, and what tuning costs.

Run: ``venv/bin/python -m benchmarks.bench_powertune``. One CPU-bound handler (it burns a fixed
amount of its own CPU time); every figure is a ratio against baselines measured in the same run:

- baseline: the same warm invocation with CPU shares off (``cpu_shares=False``): the machine's speed now;
- per mechanism (the SIGSTOP/SIGCONT governor always; the cgroup v1 CFS quota where writable) and per
  memory size: ``slowdown`` = REPORT duration / baseline duration, and ``share_achieved`` = CPU used per
  wall second / ``vcpu_share(memory)`` (1.0 = exactly Lambda's share; sizes at or above one vCPU are
  capped by what one thread and this machine can use);
- the tuner: wall time of a whole ``PowerTuner.run`` (update, wait, publish, alias, invoke, restore)
  over the sum of the REPORT durations it measured = the tuning overhead factor.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.common import write_report
from localcloud.lambda_service import FunctionSpec, LambdaService, limits, vcpu_share
from powertune.pricing import price_for
from powertune.reportline import parse_log_result
from powertune.tuner import PowerTuner, TuneSpec

SIZES = (128, 256, 512, 1024, 1769, 3008)
CPU_S = 0.3
REPEAT = 3
SPIN = """
import time


def handler(event, context):
    started = time.process_time()
    total = 0
    while time.process_time() - started < float(event["cpu_s"]):
        for i in range(2000):
            total += i * i
    return {"cpu_s": time.process_time() - started}
"""


async def warm_figures(service: LambdaService, memory_mb: int) -> tuple[float, float]:
    """Median (REPORT duration ms, CPU seconds per wall second) of warm invocations at ``memory_mb``."""
    service.update_configuration("spin", {"MemorySize": memory_mb})
    await service.invoke("spin", b'{"cpu_s": 0.005}')
    durations, ratios = [], []
    for _ in range(REPEAT):
        result = await service.invoke("spin", json.dumps({"cpu_s": CPU_S}).encode(), log_tail=True)
        duration = parse_log_result(result.log_tail or "").duration_ms
        durations.append(duration)
        ratios.append(json.loads(result.payload)["cpu_s"] * 1000 / duration)
    return statistics.median(durations), statistics.median(ratios)


async def service_for(root: Path, **options: Any) -> LambdaService:
    spec = FunctionSpec(name="spin", handler="spin.handler", memory_mb=1769, timeout_s=60, code_root=root)
    service = LambdaService([spec], memory_enforcement="rss", worker_cap=2, **options)
    await service.start()
    return service


async def share_figures(root: Path) -> dict[str, Any]:
    baseline_service = await service_for(root, cpu_shares=False)
    try:
        baseline_ms, baseline_ratio = await warm_figures(baseline_service, 1769)
    finally:
        await baseline_service.stop()
    figures: dict[str, Any] = {"baseline_ms": round(baseline_ms, 1), "baseline_cpu_per_wall": round(baseline_ratio, 3)}
    mechanisms = ["governor", *(["cfs-v1"] if limits.cfs_v1_available() else [])]
    for mechanism in mechanisms:
        service = await service_for(root, cpu_enforcement=mechanism)
        rows = {}
        try:
            for memory in SIZES:
                duration, ratio = await warm_figures(service, memory)
                rows[str(memory)] = {
                    "slowdown": round(duration / baseline_ms, 2),
                    "share_achieved": round(ratio / vcpu_share(memory), 3),
                    "nominal_share": round(vcpu_share(memory), 3),
                }
        finally:
            await service.stop()
        figures[mechanism] = rows
    return figures


async def tuner_overhead(root: Path) -> dict[str, float]:
    service = await service_for(root)
    try:
        client = boto3.client(
            "lambda",
            endpoint_url=service.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120),
        )
        spec = TuneSpec("spin", [512, 1024, 1769], 3, json.dumps({"cpu_s": 0.1}).encode())
        tuner = PowerTuner(client, spec, price_for("x86_64", "us-east-1"))
        started = time.perf_counter()
        results = await asyncio.to_thread(tuner.run)
        wall = time.perf_counter() - started
    finally:
        await service.stop()
    measured = sum(report.duration_ms for result in results for report in result.reports) / 1000
    return {
        "tuning_wall_s": round(wall, 2),
        "invoked_s": round(measured, 2),
        "overhead_factor": round(wall / measured, 2),
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "spin.py").write_text(SPIN)
        figures: dict[str, Any] = {"cpu_count": os.cpu_count(), "cpu_s_per_invocation": CPU_S, "repeat": REPEAT}
        figures["cpu_share"] = await share_figures(root)
        figures["tuner"] = await tuner_overhead(root)
    write_report("bench_powertune", figures)


if __name__ == "__main__":
    asyncio.run(main())
