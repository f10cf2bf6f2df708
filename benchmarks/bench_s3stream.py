"""Benchmark: streaming a 30-minute, 4-channel, 1 kHz record from a local moto S3 server.

Run: ``venv/bin/python -m benchmarks.bench_s3stream``. moto runs as a separate process
(``moto_server`` on 127.0.0.1), so the server does not share this process's GIL, as real S3 would not.
Each figure is a median of the same run:

- ``download_only``: ``fetch_object`` (HEAD + parallel ranged GETs, no parsing);
- ``single_get``: one plain GET of the whole object, a second download yardstick;
- ``parse_only``: ``read_bytes`` on the bytes already in memory;
- ``streamed``: ``read_record`` (parts parsed as they arrive);
- ``download_then_parse``: download, then parse (what streaming avoids);
- goal: ``streamed_vs_max`` = streamed / max(download_only, parse_only) <= 1.3.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import write_report

REPEAT = 5
REGION = "eu-west-1"
BUCKET = "fhr-bench-s3stream"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto_server did not start")


async def _interleaved(calls: dict[str, Any]) -> dict[str, float]:
    """Median seconds of each call, the calls taking turns in every round so that they all see the
    same background load (this machine is shared; a later burst would otherwise bias one figure)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_number in range(REPEAT + 1):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            if round_number:  # round 0 warms up
                samples[name].append(time.perf_counter() - started)
    return {name: sorted(values)[len(values) // 2] for name, values in samples.items()}


async def _measure(client: Any, key: str, parse: Any, figures: dict[str, Any], prefix: str, **kwargs: Any) -> None:
    from handlers.storage.s3stream import fetch_object, read_record

    data_key = key[:-4] + ".dat" if key.endswith(".hea") else key
    data, _, _ = await fetch_object(client, BUCKET, data_key, **kwargs)

    async def single_get() -> bytes:
        response = await client.get_object(Bucket=BUCKET, Key=data_key)
        async with response["Body"] as body:
            return await body.read()

    async def parse_only() -> None:
        parse(data)

    async def download_then_parse() -> None:
        payload, _, _ = await fetch_object(client, BUCKET, data_key, **kwargs)
        parse(payload)

    medians = await _interleaved(
        {
            "download_only": lambda: fetch_object(client, BUCKET, data_key, **kwargs),
            "single_get": single_get,
            "parse_only": parse_only,
            "streamed": lambda: read_record(client, BUCKET, key, **kwargs),
            "download_then_parse": download_then_parse,
        }
    )
    _, _, timings = await read_record(client, BUCKET, key, **kwargs)
    slowest = max(medians["download_only"], medians["parse_only"])
    figures.update({f"{prefix}_{name}_s": round(value, 4) for name, value in medians.items()})
    figures.update(
        {
            f"{prefix}_bytes": len(data),
            f"{prefix}_streamed_vs_max": round(medians["streamed"] / slowest, 3),
            f"{prefix}_download_then_parse_vs_max": round(medians["download_then_parse"] / slowest, 3),
            f"{prefix}_last_timings_ms": timings,
        }
    )


async def _run(endpoint: str) -> dict[str, Any]:
    import aioboto3

    from handlers.fhr import writers
    from handlers.fhr.readers import read_bytes
    from handlers.fhr.synth import synthesize

    record, _ = synthesize(30, 4, 1000.0, seed=7)
    csv = writers.to_physionet_csv(record)
    files = writers.to_wfdb(record, "rec")
    figures: dict[str, Any] = {}
    async with aioboto3.Session().client("s3", endpoint_url=endpoint, region_name=REGION) as client:
        await client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        await client.put_object(Bucket=BUCKET, Key="rec.csv", Body=csv)
        await client.put_object(Bucket=BUCKET, Key="rec.hea", Body=files.header)
        await client.put_object(Bucket=BUCKET, Key="rec.dat", Body=files.data)
        for part_mib, concurrency in ((8, 8), (8, 2), (16, 4), (4, 4)):
            await _measure(
                client,
                "rec.csv",
                lambda data: read_bytes(data, "rec.csv"),
                figures,
                f"csv_{part_mib}mib_x{concurrency}",
                part_size=part_mib * 1024 * 1024,
                concurrency=concurrency,
            )
        await _measure(
            client,
            "rec.hea",
            lambda data: read_bytes(files.header, "rec.hea", data),
            figures,
            "wfdb_4mib_x8",
            part_size=4 * 1024 * 1024,
            concurrency=8,
        )
    return figures


def main() -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    process, endpoint = _start_moto()
    try:
        figures = asyncio.run(_run(endpoint))
    finally:
        process.terminate()
        process.wait(timeout=10)
    write_report("s3stream", figures)


if __name__ == "__main__":
    main()
