"""Small helpers shared by the benchmarks: repeated timing and writing a JSON report."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent.parent / "out" / "bench"


def median_seconds(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def alternating_medians(
    fns: dict[str, Callable[[], Any]], rounds: int = 7, warmup: int = 1
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU time (this process's, every thread) of each of ``fns``, timed in turn round after
    round (A, B, A, B, ...), so a change in the machine's load during the run weighs on every candidate
    alike; the CPU time is the figure other processes' load barely moves."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return (
        {name: statistics.median(times) for name, times in wall.items()},
        {name: statistics.median(times) for name, times in cpu.items()},
    )


def write_report(name: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` to ``out/bench/<name>.json`` and print them, so a run leaves a record."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(json.dumps(figures, indent=2, sort_keys=True))
    return path
