"""Experiment: what the keep-warm schedule is worth once idle environments are reclaimed as on AWS.

Run: ``venv/bin/python -m benchmarks.bench_keepwarm [--rounds 8] [--gap 10]``. The real app on the dev
stack (keep-warm ``rate(5 minutes)``, concurrency 2), time scaled 100x so minutes become seconds:

- the schedule's clock runs 100x fast: ``rate(5 minutes)`` fires every 3 s;
- idle environments are reclaimed after 3-9 s, drawn per environment (AWS's observed 5-15 min / 100);
- the client's pattern: every ``gap`` seconds (default 10 s, i.e. ~17 scaled minutes, past the idle
  limit) a burst of 2 concurrent ``GET /fhr`` for a stored record, ``rounds`` times.

The same pattern runs with the schedule and without it; each API request is recorded as cold or warm
(the invocation the front door made), so keep-warm pings never count. Reported: cold starts among the
client's requests, and median latency of cold and warm requests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from benchmarks.common import write_report
from fhrapp.config import load_stack_file
from fhrapp.definition import APP
from localcloud.cloud import LocalCloud, LocalCloudOptions
from localcloud.lambda_service.lifecycle import Lifecycle
from localcloud.moto import DUMMY_CREDENTIALS
from localcloud.scheduler import ScaledClock

SPEED = 100.0
IDLE_S = (3.0, 9.0)
BURST = 2
SET_A = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "challenge2013-set-a"


def client_options(outputs: dict[str, Any]) -> dict[str, str]:
    return {
        "region_name": outputs["region"],
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


class RecordingInvoker:
    """The front door's view of the Lambda service, keeping each API invocation's result."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.results: list[Any] = []

    async def invoke(self, name: str, payload: bytes, invocation_type: str = "RequestResponse", log_tail: bool = False):
        result = await self.inner.invoke(name, payload, invocation_type, log_tail)
        self.results.append(result)
        return result


def _seed(outputs: dict[str, Any]) -> str:
    import boto3

    s3 = boto3.client("s3", **{"endpoint_url": outputs["aws_endpoint_url"], **client_options(outputs)})
    for suffix in (".hea", ".dat"):
        body = (SET_A / f"a01{suffix}").read_bytes()
        s3.put_object(Bucket=outputs["ecg_bucket"], Key=f"bench/a01{suffix}", Body=body)
    return f"s3://{outputs['ecg_bucket']}/bench/a01.hea"


async def _pattern(schedules: bool, rounds: int, gap_s: float) -> dict[str, Any]:
    options = LocalCloudOptions(
        clock=ScaledClock(speed=SPEED), schedules=schedules, lifecycle=Lifecycle(idle_s=IDLE_S), event_sources=False
    )
    async with LocalCloud(load_stack_file("dev"), APP, options) as cloud:
        assert cloud.front_door is not None and cloud.lambdas is not None
        recorder = RecordingInvoker(cloud.lambdas)
        cloud.front_door.invoker = recorder
        outputs = cloud.outputs()
        uri = await asyncio.to_thread(_seed, outputs)
        url = f"{outputs['api_url']}/fhr?filename={quote(uri, safe=':/')}"
        latencies: list[tuple[bool, float]] = []
        async with aiohttp.ClientSession() as session:

            async def request() -> float:
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET /fhr answered {response.status}")
                return time.perf_counter() - start

            started = time.monotonic()
            for index in range(rounds):
                await asyncio.sleep(max(0.0, started + (index + 1) * gap_s - time.monotonic()))
                before = len(recorder.results)
                timings = await asyncio.gather(*(request() for _ in range(BURST)))
                colds = [result.cold_start for result in recorder.results[before:]]
                latencies += list(zip(colds, timings, strict=True))
        pool = cloud.lambdas.pool
        cold = [seconds for was_cold, seconds in latencies if was_cold]
        warm = [seconds for was_cold, seconds in latencies if not was_cold]
        return {
            "requests": len(latencies),
            "cold_requests": len(cold),
            "cold_p50_ms": round(statistics.median(cold) * 1000, 1) if cold else None,
            "warm_p50_ms": round(statistics.median(warm) * 1000, 1) if warm else None,
            "keep_warm_firings": len(cloud.fired),
            "environments_started": pool.cold_starts,
            "environments_reclaimed_idle": pool.reclaimed_idle,
        }


async def _run(rounds: int, gap_s: float) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "time_scale": SPEED,
        "schedule": "rate(5 minutes) -> every 3 s",
        "idle_s": list(IDLE_S),
        "pattern": f"{rounds} bursts of {BURST} concurrent GET /fhr, one every {gap_s} s",
    }
    figures["with_schedule"] = await _pattern(True, rounds, gap_s)
    figures["without_schedule"] = await _pattern(False, rounds, gap_s)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--gap", type=float, default=10.0, help="seconds between bursts (past the idle limit)")
    args = parser.parse_args()
    write_report("keepwarm", asyncio.run(_run(args.rounds, args.gap)))


if __name__ == "__main__":
    main()
