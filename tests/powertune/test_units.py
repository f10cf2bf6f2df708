from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from powertune.pricing import invocation_cost, price_for
from powertune.reportline import ReportLineMissing, parse_log_result, parse_report_line
from powertune.tuner import SizeResult, TuneSpec, all_cache_hits, choose_best, proxy_answer, trimmed_mean

COLD = (
    "REPORT RequestId: 3f1c\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 512 MB\t"
    "Max Memory Used: 80 MB\tInit Duration: 250.50 ms\t"
)
WARM = "REPORT RequestId: 9a\tDuration: 2.25 ms\tBilled Duration: 3 ms\tMemory Size: 1769 MB\tMax Memory Used: 81 MB"


def test_report_line_fields_are_not_confused_with_each_other() -> None:
    cold = parse_report_line(COLD)
    assert (cold.duration_ms, cold.billed_ms, cold.memory_mb, cold.max_memory_mb, cold.init_ms) == (
        102.25,
        103.0,
        512,
        80,
        250.5,
    )
    assert cold.cold_start
    warm = parse_report_line(WARM)
    assert warm.duration_ms == 2.25 and warm.init_ms is None and not warm.cold_start


RESTORED = (
    "REPORT RequestId: 9b\tDuration: 40.50 ms\tBilled Duration: 41 ms\tMemory Size: 3008 MB\tMax Memory Used: 150 MB"
    "\tRestore Duration: 212.30 ms\tBilled Restore Duration: 118 ms"
)


def test_a_snapstart_restore_is_a_cold_start_without_an_init_duration() -> None:
    restored = parse_report_line(RESTORED)
    assert (restored.init_ms, restored.restore_ms, restored.duration_ms) == (None, 212.3, 40.5)
    assert restored.cold_start


def test_proxy_answers_give_status_and_cache_flag() -> None:
    hit = json.dumps({"statusCode": 200, "body": json.dumps({"fhr": {}, "cached": True})}).encode()
    miss = json.dumps({"statusCode": 200, "body": json.dumps({"fhr": {}, "cached": False})}).encode()
    deferred = json.dumps({"statusCode": 202, "body": json.dumps({"jobId": "x"})}).encode()
    assert [proxy_answer(b) for b in (hit, miss, deferred, b'{"memory": 128}', b"not json")] == [
        ("200", True),
        ("200", False),
        ("202", None),
        (None, None),
        (None, None),
    ]


def test_the_all_cache_hits_warning_needs_every_timed_response_to_be_a_hit() -> None:
    def report(*rows: tuple[int, int]) -> dict[str, Any]:
        return {
            "results": [
                {"memory_mb": 128 * (i + 1), "invocations": n, "cache_hits": h} for i, (n, h) in enumerate(rows)
            ]
        }

    assert all_cache_hits(report((3, 3), (3, 3)))
    assert not all_cache_hits(report((3, 3), (3, 2)))
    assert not all_cache_hits(report((3, 0)))
    assert not all_cache_hits({"results": []})


def test_log_result_takes_the_last_report_line() -> None:
    tail = f"START RequestId: 1\n{COLD}\nEND RequestId: 1\n{WARM}\n"
    assert parse_log_result(base64.b64encode(tail.encode()).decode()).memory_mb == 1769
    with pytest.raises(ReportLineMissing):
        parse_log_result(base64.b64encode(b"START RequestId: 1\n").decode())
    with pytest.raises(ReportLineMissing):
        parse_report_line("REPORT RequestId: 1 Memory Size: 128 MB")


def test_cost_follows_lambda_pricing() -> None:
    price = price_for("x86_64", "eu-west-1")
    # 1 GB for 1 s = one GB-second, plus one request.
    assert invocation_cost(price, 1024, 1000) == pytest.approx(0.0000166667 + 0.0000002)
    assert price_for("arm64", "us-east-1").gb_second < price.gb_second
    assert price_for("x86_64", "sa-east-1").gb_second > price.gb_second
    assert not price_for("x86_64", "nowhere-1").region_known
    with pytest.raises(ValueError):
        price_for("mips", "us-east-1")


def test_trimmed_mean_discards_each_end() -> None:
    assert trimmed_mean([1, 2, 3, 4, 100], 0.2) == 3
    assert trimmed_mean([5], 0.4) == 5
    assert trimmed_mean([1, 3], 0.0) == 2


def _result(memory: int, duration: float, cost: float) -> SizeResult:
    r = SizeResult(memory)
    r.duration_ms, r.cost_usd = duration, cost
    return r


def test_strategies_pick_their_own_best() -> None:
    results = [_result(128, 4000, 1.0e-5), _result(1024, 600, 1.2e-5), _result(3008, 450, 2.4e-5)]
    best = choose_best(results, balanced_weight=0.5)
    assert best["cost"]["memory_mb"] == 128
    assert best["speed"]["memory_mb"] == 3008
    assert best["balanced"]["memory_mb"] == 1024
    assert choose_best(results, balanced_weight=1.0)["balanced"]["memory_mb"] == 128
    assert choose_best(results, balanced_weight=0.0)["balanced"]["memory_mb"] == 3008


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strategy": "cheapest"}, "strategy"),
        ({"balanced_weight": 2.0}, "balanced weight"),
        ({"discard_top_bottom": 0.5}, "discard"),
        ({"num": 0}, "num"),
        ({"memory_sizes": [64]}, "memory sizes"),
    ],
)
def test_bad_specs_are_refused(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    base = {"function_name": "f", "memory_sizes": [128], "num": 1, "payload": b"{}"}
    with pytest.raises(ValueError, match=message):
        TuneSpec(**(base | kwargs))
