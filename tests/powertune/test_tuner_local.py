"""The tuner through boto3 against a real local Lambda service: sizes, REPORT lines, prices, bests, restore."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud.lambda_service import LambdaService
from powertune.pricing import invocation_cost, price_for
from powertune.tuner import PowerTuner, TuneSpec, TuningError, build_report

PRICE = price_for("x86_64", "us-east-1")


def client_for(service: LambdaService) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=service.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60),
    )


def tune_spec(payload: dict[str, Any], **fields: Any) -> TuneSpec:
    defaults: dict[str, Any] = {"function_name": "t-spin", "memory_sizes": [128, 1769], "num": 3}
    return TuneSpec(payload=json.dumps(payload).encode(), **{**defaults, **fields})


async def assert_restored(service: LambdaService, client: Any, name: str = "t-spin") -> None:
    """The service serves on this thread's loop, so the blocking boto3 call runs in a thread."""
    configuration = await asyncio.to_thread(client.get_function_configuration, FunctionName=name)
    assert (configuration["MemorySize"], configuration["Timeout"]) == (128, 10)
    assert configuration["Environment"]["Variables"] == {"A": "1"}
    state = service.functions[name]
    assert state.aliases == {} and state.versions == {}, "tuning left aliases or versions behind"


async def test_tuner_measures_each_size_prices_it_picks_bests_and_restores(service: LambdaService) -> None:
    client = client_for(service)
    spec = tune_spec({"cpu_s": 0.05}, environment={"RESULT_TTL_S": "0"})
    results = await asyncio.to_thread(PowerTuner(client, spec, PRICE).run)

    assert [r.memory_mb for r in results] == [128, 1769]
    for result in results:
        assert [r.memory_mb for r in result.reports] == [result.memory_mb] * 3, "each alias ran at its own size"
        assert result.cold_starts == 1, "a new version per size: one cold start, then warm"
        assert result.cost_usd == pytest.approx(invocation_cost(PRICE, result.memory_mb, result.billed_ms))
    small, large = results
    assert small.duration_ms >= 2 * large.duration_ms, "128 MB gets ~0.07 of a CPU, 1769 MB a whole one"

    report = build_report(spec, results, PRICE, "us-east-1", "x86_64")
    assert report["best"]["speed"]["memory_mb"] == 1769
    assert report["best"]["cost"]["memory_mb"] == min(results, key=lambda r: r.cost_usd).memory_mb
    assert report["recommended"] == report["best"]["balanced"]
    assert {row["memory_mb"] for row in report["results"]} == {128, 1769}
    assert "env RESULT_TTL_S=0 nonce=None" in "\n".join(service.logs["t-spin"]), "--set-env reached the versions"
    await assert_restored(service, client)


async def test_a_failure_mid_tuning_still_restores_everything(service: LambdaService) -> None:
    client = client_for(service)
    spec = tune_spec({"cpu_s": 0.01, "fail_at_mb": 512}, memory_sizes=[256, 512, 1024], num=2)
    with pytest.raises(TuningError, match="failing on purpose at 512 MB"):
        await asyncio.to_thread(PowerTuner(client, spec, PRICE).run)
    logs = "\n".join(service.logs["t-spin"])
    assert "Memory Size: 256 MB" in logs and "Memory Size: 1024 MB" not in logs, "tuning stopped at the failure"
    await assert_restored(service, client)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await asyncio.to_thread(client.get_alias, FunctionName="t-spin", Name="powertune-512")


async def test_keep_going_reports_the_failing_size_and_tunes_the_rest(service: LambdaService) -> None:
    client = client_for(service)
    spec = tune_spec({"cpu_s": 0.01, "fail_at_mb": 512}, memory_sizes=[256, 512, 1024], num=1, keep_going=True)
    results = await asyncio.to_thread(PowerTuner(client, spec, PRICE).run)
    report = build_report(spec, results, PRICE, "us-east-1", "x86_64")
    assert [("error" in row) for row in report["results"]] == [False, True, False]
    failed = report["results"][1]
    assert (failed["duration_ms"], failed["cost_usd"]) == (None, None), "no made-up figures for a failed size"
    assert {pick["memory_mb"] for pick in report["best"].values()} <= {256, 1024}
    await assert_restored(service, client)


async def test_only_cold_starts_gives_every_invocation_a_fresh_environment(service: LambdaService) -> None:
    client = client_for(service)
    spec = tune_spec({"cpu_s": 0.0}, memory_sizes=[1769], num=3, only_cold_starts=True)
    (result,) = await asyncio.to_thread(PowerTuner(client, spec, PRICE).run)
    assert result.cold_starts == 3 and all(r.init_ms is not None for r in result.reports)
    await assert_restored(service, client)
