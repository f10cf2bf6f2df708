from __future__ import annotations

import time

import pytest

from fhrcli.loadtest import run_plan
from loadgen.engine import LoadPlan
from loadgen.outputs import OutputsError, parse_outputs
from loadgen.targets import TargetsError, build_requests

OUTPUTS = {
    "api_url": "http://x",
    "ecg_bucket": "fhr-test-ecg",
    "results_table": "fhr-test-results_table",
    "items_table": "fhr-test-items_table",
    "functions": {"fhr": "fhr-test-fhr", "items": "fhr-test-items"},
    "region": "eu-west-1",
    "stage": "dev",
}


def plan_for(api_url: str, keys: list[str], **kwargs) -> LoadPlan:  # type: ignore[no-untyped-def]
    outputs = parse_outputs(OUTPUTS | {"api_url": api_url})
    return LoadPlan(build_requests("fhr", outputs, keys, None), **kwargs)


async def test_closed_loop_holds_the_concurrency_and_counts_every_request(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.delay_s = 0.05
    report = await run_plan(plan_for(url, ["a01.hea", "a02.hea"], concurrency=20, count=100), "fhr")
    assert report["requests"] == 100 and script.hits == 100
    assert report["errors"] == {}
    assert script.max_in_flight == 20
    assert report["cold_starts"] == 1
    assert report["latency_ms"]["p50"] >= 50
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert sorted(set(script.paths)) == [
        "/fhr?filename=s3://fhr-test-ecg/a01.hea",
        "/fhr?filename=s3://fhr-test-ecg/a02.hea",
    ]


async def test_errors_are_counted_by_status_without_retries(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.fail_first = 5
    report = await run_plan(plan_for(url, ["a01.hea"], concurrency=1, count=10), "fhr")
    assert report["errors"] == {"429": 5}
    assert report["succeeded"] == 5 and report["retries"] == 0


async def test_retries_turn_throttles_into_successes(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.fail_first = 3
    plan = plan_for(url, ["a01.hea"], concurrency=1, count=4, retries=3, backoff_base_s=0.001)
    report = await run_plan(plan, "fhr")
    assert report["errors"] == {}
    assert report["retries"] == 3 and script.hits == 7


async def test_retries_are_bounded(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.always_status = 503
    plan = plan_for(url, ["a01.hea"], concurrency=1, count=2, retries=2, backoff_base_s=0.001)
    report = await run_plan(plan, "fhr")
    assert report["errors"] == {"503": 2}
    assert script.hits == 6


async def test_client_errors_are_not_retried(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.always_status = 404
    report = await run_plan(plan_for(url, ["a01.hea"], concurrency=1, count=3, retries=5), "fhr")
    assert report["errors"] == {"404": 3} and script.hits == 3


async def test_open_loop_keeps_the_arrival_rate(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.delay_s = 0.2  # slower than the arrival interval: an open loop must not wait for answers
    start = time.perf_counter()
    report = await run_plan(plan_for(url, ["a01.hea"], rate=50, count=25), "fhr")
    elapsed = time.perf_counter() - start
    assert report["requests"] == 25 and report["mode"] == "open"
    assert script.max_in_flight >= 5
    assert elapsed < 0.5 + 0.2 + 1.0  # 25 arrivals at 50/s take ~0.5 s, not 25 × 0.2 s


async def test_duration_bound_stops_the_run(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.delay_s = 0.01
    report = await run_plan(plan_for(url, ["a01.hea"], concurrency=4, duration_s=0.3), "fhr")
    assert 0 < report["requests"] < 200
    assert report["duration_s"] < 1.5


async def test_timeouts_are_reported_as_such(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.delay_s = 1.0
    report = await run_plan(plan_for(url, ["a01.hea"], concurrency=2, count=2, timeout_s=0.1), "fhr")
    assert report["errors"] == {"timeout": 2}


async def test_a_followed_job_counts_as_served(api) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    script.job_polls_until_done = 2
    plan = plan_for(url, ["long.csv"], concurrency=1, count=1, follow_jobs=True)
    report = await run_plan(plan, "fhr")
    assert report["errors"] == {} and report["jobs_followed"] == 1
    assert script.job_polls == 2
    assert report["latency_ms"]["p50"] >= 900  # two polls half a second apart


async def test_an_unfollowed_202_is_still_a_success(api) -> None:  # type: ignore[no-untyped-def]
    url, _ = api
    report = await run_plan(plan_for(url, ["long.csv"], concurrency=1, count=1), "fhr")
    assert report["status_counts"] == {"202": 1} and report["errors"] == {}


def test_plan_must_stop_by_itself() -> None:
    with pytest.raises(ValueError, match="count or a duration"):
        plan_for("http://127.0.0.1:1", ["a"], concurrency=1)
    with pytest.raises(ValueError, match="exactly one"):
        plan_for("http://127.0.0.1:1", ["a"], concurrency=1, rate=2, count=1)


def test_outputs_are_validated() -> None:
    broken = dict(OUTPUTS)
    del broken["items_table"]
    with pytest.raises(OutputsError, match="items_table"):
        parse_outputs(broken)
    with pytest.raises(OutputsError, match="JSON object"):
        parse_outputs([])


def test_fhr_route_needs_keys() -> None:
    outputs = parse_outputs(OUTPUTS)
    with pytest.raises(TargetsError, match="needs keys"):
        build_requests("fhr", outputs, None, None)


def test_batch_requests_are_chunked_at_the_api_limit() -> None:
    outputs = parse_outputs(OUTPUTS)
    requests = build_requests("batch", outputs, [f"k{i}.hea" for i in range(2500)], "tok")
    assert len(requests) == 3
    assert requests[0].headers["authorization"] == "Bearer tok"
    import json

    assert len(json.loads(requests[0].body)["filenames"]) == 1000
    assert len(json.loads(requests[2].body)["filenames"]) == 500
