"""Benchmark: the FHR endpoint's ETag cache, and the throughput behind its deadline prediction.

Run: ``venv/bin/python -m benchmarks.bench_api_cache``. A real moto server on loopback holds the
bucket and the results table; ``handlers.api.fhr.handler`` is called directly with its real
aioboto3 clients (opened once, as ``init()`` does at cold start).

- cache: for set-a records (training split a01-a12, excluded records skipped) the first
  ``GET /fhr`` (miss: HEAD, read, estimate, compress, put) and then repeated hits (HEAD x2 + one
  GetItem) on the same record; figure = median miss / median hit latency (the baseline is the hit).
- throughput: bytes of object per second of a miss for a 30-min, 4-channel synthetic record as
  WFDB and as PhysioNet CSV, the figure ``FHR_THROUGHPUT_BYTES_PER_S`` is set from (with margin),
  and the hit/miss ratio for those long records (the hit decompresses a 7,200-point result).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import write_report

SET_A = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "challenge2013-set-a"
EXCLUDED = {"a33", "a38", "a47", "a52", "a54", "a71", "a74"}
RECORDS = [f"a{i:02d}" for i in range(1, 13) if f"a{i:02d}" not in EXCLUDED]
HITS_PER_RECORD = 5
REGION = "eu-west-1"
TENANT = "bench"
MINE = f"tenants/{TENANT}/"  # where the open tenant's recordings live


class Ctx:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def _event(uri: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /fhr",
        "rawPath": "/fhr",
        "rawQueryString": f"filename={uri}",
        "queryStringParameters": {"filename": uri},
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": "/fhr"}, "requestId": "bench"},
        "isBase64Encoded": False,
    }


def _stack(endpoint: str) -> tuple[Any, str]:
    import boto3

    for service in ("S3", "DYNAMODB", "SQS"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = endpoint
    os.environ.update(
        {"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "JOBS_QUEUE_URL": ""}
    )
    os.environ["FHR_OPEN_TENANT"] = TENANT  # an open stack: every request is this tenant's
    bucket, table = f"ecg-{uuid.uuid4().hex[:8]}", f"results-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    os.environ.update({"ECG_BUCKET": bucket, "RESULTS_TABLE": table})
    return s3, bucket


async def _timed(handler: Any, uri: str) -> tuple[float, dict[str, Any]]:
    import json

    started = time.perf_counter()
    response = await handler(_event(uri), Ctx())
    elapsed = time.perf_counter() - started
    body = json.loads(response["body"])
    if response["statusCode"] != 200:
        raise RuntimeError(f"{uri}: {response['statusCode']} {body}")
    return elapsed, body


async def _cache_figures(s3: Any, bucket: str) -> dict[str, Any]:
    from handlers.api import fhr

    await fhr.init()
    misses, hits = [], []
    for name in RECORDS:
        for suffix in ("hea", "dat"):
            s3.put_object(Bucket=bucket, Key=f"{MINE}{name}.{suffix}", Body=(SET_A / f"{name}.{suffix}").read_bytes())
        uri = f"s3://{bucket}/{MINE}{name}.hea"
        miss, body = await _timed(fhr.handler, uri)
        assert body["cached"] is False
        misses.append(miss)
        for _ in range(HITS_PER_RECORD):
            hit, body = await _timed(fhr.handler, uri)
            assert body["cached"] is True
            hits.append(hit)
    return {
        "records": RECORDS,
        "miss_ms_median": round(statistics.median(misses) * 1000, 2),
        "hit_ms_median": round(statistics.median(hits) * 1000, 2),
        "hit_ms_p95": round(sorted(hits)[int(0.95 * (len(hits) - 1))] * 1000, 2),
        "miss_over_hit_ratio": round(statistics.median(misses) / statistics.median(hits), 1),
    }


async def _throughput_figures(s3: Any, bucket: str) -> dict[str, Any]:
    from handlers.api import fhr
    from handlers.fhr.synth import synthesize
    from handlers.fhr.writers import to_physionet_csv, to_wfdb

    record, _ = synthesize(30, 4, 1000.0, 11)
    wfdb = to_wfdb(record, "long30")
    s3.put_object(Bucket=bucket, Key=f"{MINE}long30.hea", Body=wfdb.header)
    s3.put_object(Bucket=bucket, Key=f"{MINE}long30.dat", Body=wfdb.data)
    csv = to_physionet_csv(record)
    s3.put_object(Bucket=bucket, Key=f"{MINE}long30.csv", Body=csv)
    figures: dict[str, Any] = {}
    for label, key, size in (
        ("wfdb", f"{MINE}long30.hea", len(wfdb.header) + len(wfdb.data)),
        ("csv", f"{MINE}long30.csv", len(csv)),
    ):
        seconds, body = await _timed(fhr.handler, f"s3://{bucket}/{key}")
        hits = [(await _timed(fhr.handler, f"s3://{bucket}/{key}"))[0] for _ in range(HITS_PER_RECORD)]
        figures[f"{label}_30min_bytes"] = size
        figures[f"{label}_30min_miss_s"] = round(seconds, 2)
        figures[f"{label}_30min_hit_ms_median"] = round(statistics.median(hits) * 1000, 2)
        figures[f"{label}_30min_miss_over_hit_ratio"] = round(seconds / statistics.median(hits), 1)
        figures[f"{label}_bytes_per_s"] = round(size / seconds)
        figures[f"{label}_result_points"] = len(body["fhr"]["bpm"])
    return figures


async def _main(endpoint: str) -> dict[str, Any]:
    from handlers.api import clients

    s3, bucket = _stack(endpoint)
    try:
        figures = {"cache": await _cache_figures(s3, bucket), "throughput": await _throughput_figures(s3, bucket)}
    finally:
        await clients.close()
    return figures


def main() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        figures = asyncio.run(_main(endpoint))
    finally:
        server.stop()
    figures["command"] = "venv/bin/python -m benchmarks.bench_api_cache"
    write_report("api_cache", figures)


if __name__ == "__main__":
    main()
