"""Where the service emits its EMF metrics: the runtime (ColdStarts, WarmPings) and the FHR API
(FhrDurationMs, BytesStreamed, CacheHits, CacheMisses), plus the ``x-fhr-cold-start`` header.

The runtime runs as a real worker of the local Lambda service (its stdout is the function's log);
the API handler runs with its real aioboto3 clients against the session's moto server.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from fhrapp.definition import Route
from localcloud.lambda_service import FunctionSpec, LambdaService
from powertune.events import http_api_event

REGION = "eu-west-1"
WARM_PING = {"source": "fhr.keep-warm", "keepWarm": {"concurrency": 1}}


def emf_lines(lines: list[str]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        start = line.find("{")
        if start >= 0 and '"_aws"' in line:
            found.append(json.loads(line[start:]))
    return found


async def test_runtime_emits_cold_starts_and_warm_pings(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    spec = FunctionSpec(
        name="fhr-test-metrics", handler="plain.handler", memory_mb=512, timeout_s=10, code_root=tmp_path
    )
    service = LambdaService([spec], memory_enforcement="rss", worker_cap=1)
    await service.start()
    try:
        await service.invoke("fhr-test-metrics", b'{"n": 1}')
        await service.invoke("fhr-test-metrics", json.dumps(WARM_PING).encode())
        await service.invoke("fhr-test-metrics", b'{"n": 2}')
    finally:
        await service.stop()
    metrics = emf_lines(list(service.logs["fhr-test-metrics"]))
    names = [name for line in metrics for name in ("ColdStarts", "WarmPings") if name in line]
    assert names == ["ColdStarts", "WarmPings"], "one cold start (the first invocation), one ping"
    assert all(line["Function"] == "fhr-test-metrics" for line in metrics)


@pytest.fixture
def fhr_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, set_a_dir: Path) -> str:
    """A bucket holding a01, a results table, and the FHR function's environment (no jobs queue)."""
    for service in ("S3", "DYNAMODB"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fhr-test-fhr")
    monkeypatch.delenv("JOBS_QUEUE_URL", raising=False)
    monkeypatch.setenv("FHR_OPEN_TENANT", "open")  # an open stack: every caller is this one tenant
    bucket, table = f"ecg-{uuid.uuid4().hex[:8]}", f"results-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for suffix in (".hea", ".dat"):
        s3.put_object(Bucket=bucket, Key=f"tenants/open/a01{suffix}", Body=(set_a_dir / f"a01{suffix}").read_bytes())
    boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("ECG_BUCKET", bucket)
    monkeypatch.setenv("RESULTS_TABLE", table)
    return bucket


async def test_fhr_api_emits_a_miss_then_a_hit_and_marks_only_the_first_answer_cold(
    fhr_env: str, monkeypatch: pytest.MonkeyPatch, capsys: Any, set_a_dir: Path
) -> None:
    from handlers.api import clients, http
    from handlers.api.fhr import handler

    monkeypatch.setitem(http._environment, "answered", 0)  # this process's first API answer
    event = http_api_event(Route("POST", "/fhr", "fhr"), {"filename": f"s3://{fhr_env}/tenants/open/a01.hea"})
    context = type("Context", (), {"aws_request_id": "req-1", "get_remaining_time_in_millis": lambda self: 29_000})()
    try:
        first = await handler(event, context)
        second = await handler(event, context)
    finally:
        await clients.close()
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    assert first["headers"].get("x-fhr-cold-start") == "true"
    assert "x-fhr-cold-start" not in second["headers"]
    miss, hit = emf_lines(capsys.readouterr().out.splitlines())
    assert miss["CacheMisses"] == 1 and miss["FhrDurationMs"] > 0 and miss["requestId"] == "req-1"
    stored = (set_a_dir / "a01.hea").stat().st_size + (set_a_dir / "a01.dat").stat().st_size
    assert miss["BytesStreamed"] == stored, "the bytes of the header and its signal file"
    assert hit["CacheHits"] == 1 and "FhrDurationMs" not in hit
    assert miss["Function"] == hit["Function"] == "fhr-test-fhr"
