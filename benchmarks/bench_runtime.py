"""Benchmarks of our async runtime against awslambdaric on the same Runtime API server, same run.

Run: ``venv/bin python -m benchmarks.bench_runtime`` (``--quick`` for a smaller, noisier run). Four parts:

(a) round trip of a no-op handler (server submit -> runtime answers) through awslambdaric and through
    ours (aiohttp transport, raw-streams transport), interleaved over several rounds; with the runtime
    process's CPU time per invocation from ``/proc/<pid>/stat``;
(b) the point of the design: one DynamoDB GetItem, and 8 parallel ranged S3 GETs, against a moto server,
    run three ways (awslambdaric + module-level sync boto3 clients and a thread pool; awslambdaric +
    ``asyncio.run`` + aioboto3 client per invocation; ours with aioboto3 clients kept from ``init()``);
(c) cold init, process start -> first ``/next``, with the FHR API handler module (and a no-op one);
(d) 10 000 invocations through one worker: RSS after 1 000 and after 10 000 (awslambdaric alongside: it
    grows ~0.8 MB per 9 000 invocations from glibc's setenv keeping every ``_X_AMZN_TRACE_ID`` value).

The Runtime API server is the local Lambda service's ``RuntimeApiServer``. Handler modules are written
to a temporary task root from the sources below (they are benchmark fixtures, not shipped code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import write_report

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RANGE_SIZES = (256 * 1024, 16 * 1024)  # a realistic part, and a small one where client overhead dominates
RANGES = 8
TABLE, BUCKET, KEY = "bench-runtime-table", "bench-runtime-bucket", "record.dat"

NOOP_SOURCE = """
import asyncio


async def handler(event, context):
    return {}


async def slow_handler(event, context):
    await asyncio.sleep(0.05)  # a keep-warm event that reached the handler would show these 50 ms
    return {}


def sync_handler(event, context):
    return {}
"""

STEADY_SOURCE = """
from decimal import Decimal

from handlers.runtime.logging import get_logger

log = get_logger(__name__)


async def handler(event, context):
    log.info("served", extra={"n": event.get("n")})
    return {"requestId": context.aws_request_id, "bpm": [Decimal("140.5")] * 16, "n": event.get("n")}


def sync_handler(event, context):
    log.info("served", extra={"n": event.get("n")})
    return {"requestId": context.aws_request_id, "bpm": [Decimal("140.5")] * 16, "n": event.get("n")}
"""

SYNC_BOTO3_SOURCE = f'''
"""AWS's best practice: module-level boto3 clients (and a module-level pool for parallel reads)."""
import os
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

_config = Config(max_pool_connections=16, s3={{"addressing_style": "path"}})
_s3 = boto3.client("s3", config=_config)
_ddb = boto3.client("dynamodb", config=_config)
_pool = ThreadPoolExecutor({RANGES})
RANGE = int(os.environ["BENCH_RANGE_BYTES"])


def get_item(event, context):
    item = _ddb.get_item(TableName="{TABLE}", Key={{"pk": {{"S": "record"}}}})["Item"]
    return {{"pk": item["pk"]["S"]}}


def _range(i):
    rng = f"bytes={{i * RANGE}}-{{(i + 1) * RANGE - 1}}"
    return len(_s3.get_object(Bucket="{BUCKET}", Key="{KEY}", Range=rng)["Body"].read())


def ranges(event, context):
    return {{"bytes": sum(_pool.map(_range, range({RANGES})))}}
'''

PER_INVOCATION_SOURCE = f'''
"""What people do today to use aioboto3 under awslambdaric: asyncio.run and a client per invocation."""
import asyncio
import os

import aioboto3
from botocore.config import Config

RANGE = int(os.environ["BENCH_RANGE_BYTES"])
_session = aioboto3.Session()
_config = Config(max_pool_connections=16, s3={{"addressing_style": "path"}})


async def _get_item():
    async with _session.client("dynamodb", config=_config) as ddb:
        item = (await ddb.get_item(TableName="{TABLE}", Key={{"pk": {{"S": "record"}}}}))["Item"]
        return {{"pk": item["pk"]["S"]}}


async def _range(s3, i):
    rng = f"bytes={{i * RANGE}}-{{(i + 1) * RANGE - 1}}"
    resp = await s3.get_object(Bucket="{BUCKET}", Key="{KEY}", Range=rng)
    async with resp["Body"] as body:
        return len(await body.read())


async def _ranges():
    async with _session.client("s3", config=_config) as s3:
        return {{"bytes": sum(await asyncio.gather(*(_range(s3, i) for i in range({RANGES}))))}}


def get_item(event, context):
    return asyncio.run(_get_item())


def ranges(event, context):
    return asyncio.run(_ranges())
'''

KEPT_SOURCE = f'''
"""Ours: aioboto3 clients made once in init() and kept for the life of the environment."""
import asyncio
import os
from contextlib import AsyncExitStack

import aioboto3
from botocore.config import Config

RANGE = int(os.environ["BENCH_RANGE_BYTES"])
_clients = {{}}
_stack = AsyncExitStack()


async def init():
    session = aioboto3.Session()
    config = Config(max_pool_connections=16, s3={{"addressing_style": "path"}})
    _clients["s3"] = await _stack.enter_async_context(session.client("s3", config=config))
    _clients["dynamodb"] = await _stack.enter_async_context(session.client("dynamodb", config=config))


async def shutdown():
    await _stack.aclose()


async def get_item(event, context):
    item = (await _clients["dynamodb"].get_item(TableName="{TABLE}", Key={{"pk": {{"S": "record"}}}}))["Item"]
    return {{"pk": item["pk"]["S"]}}


async def _range(i):
    rng = f"bytes={{i * RANGE}}-{{(i + 1) * RANGE - 1}}"
    resp = await _clients["s3"].get_object(Bucket="{BUCKET}", Key="{KEY}", Range=rng)
    async with resp["Body"] as body:
        return len(await body.read())


async def ranges(event, context):
    return {{"bytes": sum(await asyncio.gather(*(_range(i) for i in range({RANGES}))))}}
'''

MODULES = {
    "bench_rt_noop": NOOP_SOURCE,
    "bench_rt_steady": STEADY_SOURCE,
    "bench_rt_sync_boto3": SYNC_BOTO3_SOURCE,
    "bench_rt_per_invocation": PER_INVOCATION_SOURCE,
    "bench_rt_kept": KEPT_SOURCE,
}


@dataclass(frozen=True)
class Runtime:
    """A runtime to start as a worker: our module with a transport, or awslambdaric."""

    name: str
    transport: str | None = None  # None: awslambdaric
    loop: str = "asyncio"

    def command(self, handler: str) -> list[str]:
        if self.transport is None:
            return [sys.executable, "-m", "awslambdaric", handler]
        return [sys.executable, "-m", "handlers.runtime"]

    def env(self) -> dict[str, str]:
        if self.transport is None:
            return {}
        return {"FHR_RUNTIME_TRANSPORT": self.transport, "FHR_RUNTIME_LOOP": self.loop}


AWSLAMBDARIC = Runtime("awslambdaric")
OURS_AIOHTTP = Runtime("ours-aiohttp", "aiohttp")
OURS_STREAMS = Runtime("ours-streams", "streams")
OURS_STREAMS_UVLOOP = Runtime("ours-streams-uvloop(default)", "streams", "uvloop")
OURS_AIOHTTP_UVLOOP = Runtime("ours-aiohttp-uvloop", "aiohttp", "uvloop")


@dataclass
class Worker:
    """One runtime process attached to its own Runtime API server."""

    server: Any
    proc: asyncio.subprocess.Process
    started_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    async def ready(self, timeout_s: float = 60) -> None:
        """Wait for the first ``/next``; a runtime that exits first (bad handler, say) fails loudly."""
        polled = asyncio.ensure_future(self.server.first_poll.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({polled, exited}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        polled.cancel()
        exited.cancel()
        if polled not in done:
            raise RuntimeError(
                f"runtime not ready (exit code {self.proc.returncode}); init error: {self.server.init_error}"
            )

    async def invoke(self, payload: bytes = b"{}") -> Any:
        outcome = await self.server.invoke(payload, timeout_s=60)
        if outcome.is_error:
            raise RuntimeError(f"invocation failed: {outcome.error_type} {outcome.payload[:300]!r}")
        return outcome

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.server.stop()


class Bench:
    """Starts workers for handler modules in a temporary task root, with a common environment."""

    def __init__(self, task_root: Path, base_env: dict[str, str]) -> None:
        self.task_root = task_root
        self.base_env = base_env

    async def start(
        self, runtime: Runtime, handler: str, extra_env: dict[str, str] | None = None, wait_ready: bool = True
    ) -> Worker:
        from localcloud.lambda_service import RuntimeApiServer

        server = RuntimeApiServer(function_arn="arn:aws:lambda:eu-west-1:123456789012:function:bench")
        await server.start()
        env = {
            **self.base_env,
            **runtime.env(),
            "AWS_LAMBDA_RUNTIME_API": server.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "PYTHONPATH": os.pathsep.join([str(self.task_root), str(REPO_ROOT)]),
            **(extra_env or {}),
        }
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *runtime.command(handler),
            env=env,
            cwd=str(REPO_ROOT),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        worker = Worker(server, proc, started)
        if wait_ready:
            await worker.ready()
        return worker


def _stats_ms(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 4),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 4),
        "p90_ms": round(ordered[int(len(ordered) * 0.9)] * 1000, 4),
    }


async def _round_robin(
    workers: dict[str, Worker],
    counts: dict[str, int],
    payload: bytes = b"{}",
    warmup: int = 3,
    payloads: dict[str, bytes] | None = None,
) -> dict[str, tuple[list[float], float]]:
    """Invoke every worker in turn (one invocation each per turn) so load drift on this shared machine
    hits all of them alike; returns each worker's latencies and the CPU seconds its process spent."""
    payloads = {name: (payloads or {}).get(name, payload) for name in workers}
    for name, worker in workers.items():
        for _ in range(warmup):
            await worker.invoke(payloads[name])
    cpu_before = {name: worker.cpu_seconds() for name, worker in workers.items()}
    samples: dict[str, list[float]] = {name: [] for name in workers}
    rounds = max(counts.values())
    for turn in range(rounds):
        for name, worker in workers.items():
            if turn * counts[name] // rounds == (turn + 1) * counts[name] // rounds:
                continue  # workers with fewer invocations are spread evenly over the rounds
            start = time.perf_counter()
            await worker.invoke(payloads[name])
            samples[name].append(time.perf_counter() - start)
    return {name: (samples[name], workers[name].cpu_seconds() - cpu_before[name]) for name in workers}


async def bench_round_trip(bench: Bench, runtimes: Sequence[Runtime], count: int) -> dict[str, Any]:
    """(a) no-op round trips through each runtime, interleaved invocation by invocation; plus keep-warm
    events sent to our default runtime whose handler sleeps 50 ms (answered without it: same as no-op)."""
    workers = {}
    keep_warm = "ours-default/keep-warm-event(handler sleeps 50 ms)"
    try:
        for runtime in runtimes:
            handler = "bench_rt_noop.sync_handler" if runtime.transport is None else "bench_rt_noop.handler"
            workers[runtime.name] = await bench.start(runtime, handler)
        workers[keep_warm] = await bench.start(OURS_STREAMS_UVLOOP, "bench_rt_noop.slow_handler")
        warm_event = json.dumps({"source": "fhr.keep-warm", "keepWarm": {"concurrency": 1}}).encode()
        results = await _round_robin(
            workers, dict.fromkeys(workers, count), warmup=max(count // 10, 20), payloads={keep_warm: warm_event}
        )
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers.values()))
    base = statistics.median(results[AWSLAMBDARIC.name][0])
    figures: dict[str, Any] = {"invocations_per_runtime": count}
    for name, (got, cpu_s) in results.items():
        figures[name] = {
            **_stats_ms(got),
            "cpu_us_per_invocation": round(cpu_s / len(got) * 1e6, 1),
            "ratio_median_vs_awslambdaric": round(statistics.median(got) / base, 3),
        }
    return figures


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _start_moto() -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "moto_server"),
        "-H",
        "127.0.0.1",
        "-p",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc, endpoint
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("moto server did not start")


def _seed_moto(endpoint: str) -> None:
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(max(RANGE_SIZES) * RANGES))
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "record"}, "bpm": {"N": "140.5"}})


async def bench_aws_calls(
    bench: Bench, ours: Sequence[Runtime], counts: dict[str, int], range_bytes: int, moto_endpoint: str
) -> dict[str, Any]:
    """(b) the same two handlers three ways against the moto server (ranges of ``range_bytes``)."""
    sync_label, per_invocation_label = "awslambdaric+sync-boto3", "awslambdaric+asyncio.run+aioboto3"
    ways = [
        (sync_label, AWSLAMBDARIC, "bench_rt_sync_boto3", counts["sync"]),
        (per_invocation_label, AWSLAMBDARIC, "bench_rt_per_invocation", counts["per_invocation"]),
        *((f"{rt.name}+kept-aioboto3", rt, "bench_rt_kept", counts["kept"]) for rt in ours),
    ]
    env = {"BENCH_RANGE_BYTES": str(range_bytes)}
    figures: dict[str, Any] = {}
    for handler in ("get_item", "ranges"):
        workers: dict[str, Worker] = {}
        try:
            for label, runtime, module, _ in ways:
                workers[label] = await bench.start(runtime, f"{module}.{handler}", env)
            results = await _round_robin(workers, {label: count for label, _, _, count in ways})
        finally:
            await asyncio.gather(*(worker.stop() for worker in workers.values()))
        medians = {label: statistics.median(got) for label, (got, _) in results.items()}
        for label, (got, cpu_s) in results.items():
            figures[f"{handler}/{label}"] = {
                **_stats_ms(got),
                "invocations": len(got),
                "cpu_ms_per_invocation": round(cpu_s / len(got) * 1000, 3),
            }
        for label, *_ in ways[2:]:
            figures[f"{handler}/{label}/ratio_vs_sync_boto3"] = round(medians[label] / medians[sync_label], 3)
            figures[f"{handler}/{label}/ratio_vs_asyncio_run_aioboto3"] = round(
                medians[label] / medians[per_invocation_label], 3
            )
    figures["ranges/floor_presigned_raw_aiohttp"] = await _moto_floor(moto_endpoint, range_bytes, counts["kept"])
    return figures


async def _moto_floor(endpoint: str, range_bytes: int, count: int) -> dict[str, float]:
    """8 parallel ranged GETs with a bare aiohttp client on a presigned URL (no SDK work per request):
    roughly the fastest any client can get the ranges out of this moto server."""
    import aiohttp
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1")
    url = session.client("s3", endpoint_url=endpoint).generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=3600
    )
    samples = []
    async with aiohttp.ClientSession() as http:

        async def one(i: int) -> int:
            headers = {"Range": f"bytes={i * range_bytes}-{(i + 1) * range_bytes - 1}"}
            async with http.get(url, headers=headers) as resp:
                return len(await resp.read())

        for turn in range(count + 3):
            start = time.perf_counter()
            sizes = await asyncio.gather(*(one(i) for i in range(RANGES)))
            if turn >= 3:
                samples.append(time.perf_counter() - start)
            assert sum(sizes) == RANGES * range_bytes
    return _stats_ms(samples)


def _fhr_module_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("handlers.api.fhr") is not None


async def bench_cold_init(bench: Bench, runtimes: Sequence[Runtime], repeat: int) -> dict[str, Any]:
    """(c) process start -> first ``/next``: median of ``repeat`` fresh processes per case, the cases
    interleaved run by run so load drift on this shared machine hits them alike."""
    cases = [("noop", "bench_rt_noop.handler")]
    if _fhr_module_available():
        cases.append(("fhr", "handlers.api.fhr.handler"))
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        for case, handler in cases:
            for runtime in runtimes:
                awslambdaric = runtime.transport is None
                name = "bench_rt_noop.sync_handler" if awslambdaric and case == "noop" else handler
                label = f"{case}/{runtime.name}" + ("(import only, no init hook)" if awslambdaric else "")
                worker = await bench.start(runtime, name, wait_ready=False)
                try:
                    await worker.ready()
                    assert worker.server.first_poll_at is not None
                    times.setdefault(label, []).append(worker.server.first_poll_at - worker.started_at)
                finally:
                    await worker.stop()
    figures: dict[str, Any] = {"fhr_module": "handlers.api.fhr" if len(cases) == 2 else "absent"}
    for label, got in times.items():
        figures[label] = {"median_ms": round(statistics.median(got) * 1000, 1), "min_ms": round(min(got) * 1000, 1)}
    figures["runs_per_case"] = repeat
    return figures


async def bench_steady_memory(bench: Bench, runtime: Runtime, total: int) -> dict[str, Any]:
    """(d) RSS of one worker after 1 000 and after ``total`` invocations of a logging, Decimal-returning handler."""
    handler = "bench_rt_steady.handler" if runtime.transport is not None else "bench_rt_steady.sync_handler"
    worker = await bench.start(runtime, handler)
    rss: dict[int, int] = {}
    try:
        for n in range(1, total + 1):
            await worker.invoke(json.dumps({"n": n}).encode())
            if n in (1000, total):
                rss[n] = worker.rss_kb()
    finally:
        await worker.stop()
    return {
        "runtime": runtime.name,
        "rss_kb_after_1000": rss[1000],
        f"rss_kb_after_{total}": rss[total],
        "growth_ratio": round(rss[total] / rss[1000], 4),
    }


def _write_modules(task_root: Path) -> None:
    for name, source in MODULES.items():
        (task_root / f"{name}.py").write_text(source)


def _base_env(moto_endpoint: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_HANDLER", "FHR_RUNTIME"))}
    return {
        **keep,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
        "AWS_ENDPOINT_URL_SQS": moto_endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]bench",
        "ECG_BUCKET": BUCKET,
        "RESULTS_TABLE": TABLE,
    }


async def run(quick: bool, parts: set[str]) -> dict[str, Any]:
    scale = 0.2 if quick else 1.0
    moto, endpoint = await _start_moto()
    try:
        await asyncio.to_thread(_seed_moto, endpoint)
        with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
            task_root = Path(tmp)
            _write_modules(task_root)
            bench = Bench(task_root, _base_env(endpoint))
            ours = [OURS_AIOHTTP, OURS_STREAMS]
            figures: dict[str, Any] = {"machine_cpus": os.cpu_count()}
            if "a" in parts:
                figures["a_noop_round_trip"] = await bench_round_trip(
                    bench, [AWSLAMBDARIC, *ours, OURS_AIOHTTP_UVLOOP, OURS_STREAMS_UVLOOP], int(5000 * scale)
                )
            if "b" in parts:
                counts = {
                    "sync": int(100 * scale) or 10,
                    "per_invocation": int(30 * scale) or 5,
                    "kept": int(100 * scale) or 10,
                }
                variants = (OURS_STREAMS, OURS_STREAMS_UVLOOP, OURS_AIOHTTP)
                for range_bytes in RANGE_SIZES:
                    key = f"b_aws_calls/ranges_of_{range_bytes // 1024}KiB"
                    figures[key] = await bench_aws_calls(bench, variants, counts, range_bytes, endpoint)
            if "c" in parts:
                cold = [*ours, OURS_STREAMS_UVLOOP, AWSLAMBDARIC]
                figures["c_cold_init"] = await bench_cold_init(bench, cold, 3 if quick else 7)
            if "d" in parts:
                total = 10_000 if not quick else 2_000
                steady = [*ours, OURS_STREAMS_UVLOOP, AWSLAMBDARIC]
                figures["d_steady_memory"] = [await bench_steady_memory(bench, rt, total) for rt in steady]
            return figures
    finally:
        moto.terminate()
        await moto.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer invocations (noisier)")
    parser.add_argument("--parts", default="abcd", help="which parts to run, e.g. 'ac'")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.quick, set(args.parts)))
    write_report("bench_runtime", figures)


if __name__ == "__main__":
    main()
