"""The load report: the JSON machines read and the text people read, from the same numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from loadgen.engine import LoadPlan, Sample

PERCENTILES = (50, 90, 95, 99)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p95/p99/max/mean/min in ms (linear interpolation between ranks), or nulls when empty."""
    keys = [f"p{p}" for p in PERCENTILES] + ["max", "mean", "min"]
    if not latencies_ms:
        return dict.fromkeys(keys)
    values = np.asarray(latencies_ms, dtype=float)
    summary: dict[str, float | None] = {f"p{p}": round(float(np.percentile(values, p)), 3) for p in PERCENTILES}
    summary.update(
        max=round(float(values.max()), 3), mean=round(float(values.mean()), 3), min=round(float(values.min()), 3)
    )
    return summary


def build_report(samples: Sequence[Sample], wall_s: float, plan: LoadPlan, route: str) -> dict[str, Any]:
    """``errors`` maps each non-2xx outcome (status code, or ``timeout``/``connection:…``) to its count."""
    outcomes = Counter(s.outcome for s in samples)
    errors = {outcome: n for outcome, n in sorted(outcomes.items()) if not _is_success(outcome)}
    ok = [s.latency_ms for s in samples if s.ok]
    return {
        "route": route,
        "mode": "closed" if plan.concurrency is not None else "open",
        "concurrency": plan.concurrency,
        "rate": plan.rate,
        "requests": len(samples),
        "succeeded": len(ok),
        "errors": errors,
        "status_counts": dict(sorted(outcomes.items())),
        "retries": sum(s.attempts - 1 for s in samples),
        "jobs_followed": sum(1 for s in samples if s.followed_job),
        "duration_s": round(wall_s, 3),
        "throughput_rps": round(len(samples) / wall_s, 3) if wall_s > 0 else None,
        "latency_ms": latency_summary([s.latency_ms for s in samples]),
        "latency_ms_ok": latency_summary(ok),
        "cold_starts": sum(1 for s in samples if s.cold_start),
        "timeline": [
            {"t_s": round(s.started_s, 4), "latency_ms": round(s.latency_ms, 3), "outcome": s.outcome}
            for s in sorted(samples, key=lambda s: s.started_s)
        ],
    }


def _is_success(outcome: str) -> bool:
    return outcome.isdigit() and 200 <= int(outcome) < 300


def format_text(report: dict[str, Any]) -> str:
    """The final report for people: what was sent, what failed and how fast it was."""
    lat = report["latency_ms"]
    errors = ", ".join(f"{k}: {v}" for k, v in report["errors"].items()) or "none"
    load = f"concurrency {report['concurrency']}" if report["mode"] == "closed" else f"rate {report['rate']}/s"
    lines = [
        f"route {report['route']}  {load}  {report['requests']} requests in {report['duration_s']} s",
        f"errors: {errors}   retries: {report['retries']}   cold starts: {report['cold_starts']}",
        f"throughput: {report['throughput_rps']} req/s",
        "latency ms: " + "  ".join(f"{k} {lat[k]}" for k in ("p50", "p90", "p95", "p99", "max")),
    ]
    return "\n".join(lines)
