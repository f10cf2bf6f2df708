"""Benchmark: what fetal beats, their trust and the beat-to-beat variability add to the estimator.

Run: ``venv/bin/python -m benchmarks.bench_beats``. On the synthetic 30-min, 4-channel, 1 kHz record of
``bench_estimator`` (``handlers.fhr.synth``, seed 1), in one run, alternating:

- baseline: ``estimator.analyse`` with the matched-filter beat passes and the maternal template
  alignment switched off (``{"tuning": {"matched_passes": 0, "maternal_align": 0}}``): the estimator
  as it was before fetal beats were served, whose beat stage is the energy-guided chain alone;
- with beats: ``handlers.fhr.estimate`` as served (beats, their trust, minute STV/LTV, episodes,
  sinusoidal flag and the summary that uses them), whose ``analyse`` part is the baseline's plus
  the matched passes and alignment; the result assembly of both is timed too (``result.build``).

Reported: median (and minimum) CPU seconds of the process per call (robust to other load on this
shared 2-core machine, unlike wall time; ``loadavg_1min`` says how busy it was) and wall seconds,
and the ratios ``beats_cpu_ratio`` = with beats / baseline (goal <= 1.20; the median of the ratios
of rounds that time both back to back), ``beats_cpu_min_ratio`` (of the fastest calls) and
``beats_wall_ratio`` (of the medians); per-stage
medians of both; the served result's size (JSON and zlib-compressed, as the results cache stores
it) and the beats' share of it; and fetal beat F1 against the synthetic truth (50 ms window).
"""

from __future__ import annotations

import json
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import write_report

GOAL_RATIO = 1.20
BASELINE = {"tuning": {"matched_passes": 0, "maternal_align": 0}}
REPEAT = 21


def _timed(fn: Callable[[], dict]) -> tuple[float, float, dict]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, out


def main() -> None:
    from handlers.fhr import estimate, estimator, result, scoring
    from handlers.fhr.synth import synthesize

    record, truth = synthesize(30, 4, 1000.0, seed=1)
    figures: dict[str, float | str] = {"record": "synthetic 30 min x 4 ch x 1 kHz (handlers.fhr.synth, seed 1)"}

    def baseline() -> dict:
        analysis = estimator.analyse(record, BASELINE)
        return result.build(record, analysis, dict(analysis.timings_ms))

    def with_beats() -> dict:
        return estimate(record)

    for fn in (baseline, with_beats):  # warm FFTW plans and caches
        fn()
    samples: dict[str, list[tuple[float, float]]] = {"baseline": [], "beats": []}
    stages: dict[str, dict[str, list[float]]] = {"baseline": {}, "beats": {}}
    served: dict = {}
    for _ in range(REPEAT):
        for name, fn in (("baseline", baseline), ("beats", with_beats)):
            cpu, wall, out = _timed(fn)
            samples[name].append((cpu, wall))
            for stage, ms in out["timings_ms"].items():
                stages[name].setdefault(stage, []).append(ms)
            if name == "beats":
                served = out
    for name, values in samples.items():
        figures[f"{name}_cpu_s"] = round(statistics.median(v[0] for v in values), 4)
        figures[f"{name}_cpu_min_s"] = round(min(v[0] for v in values), 4)
        figures[f"{name}_wall_s"] = round(statistics.median(v[1] for v in values), 4)
        for stage, ms in stages[name].items():
            figures[f"{name}_stage_{stage}_ms"] = round(statistics.median(ms), 1)
    # the median of the per-round ratios (each round times both, back to back): drifts in the load
    # of this shared machine cancel within a round
    figures["beats_cpu_ratio"] = round(
        statistics.median(b[0] / a[0] for a, b in zip(samples["baseline"], samples["beats"], strict=True)), 3
    )
    # the fastest of each: the least disturbed by other load on a shared machine
    figures["beats_cpu_min_ratio"] = round(float(figures["beats_cpu_min_s"]) / float(figures["baseline_cpu_min_s"]), 3)
    figures["beats_wall_ratio"] = round(float(figures["beats_wall_s"]) / float(figures["baseline_wall_s"]), 3)
    figures["beats_cpu_ratio_vs_goal"] = round(float(figures["beats_cpu_ratio"]) / GOAL_RATIO, 3)

    text = json.dumps(served, separators=(",", ":"), allow_nan=False)
    without_beats = json.dumps({k: v for k, v in served.items() if k != "beats"}, separators=(",", ":"))
    figures["result_json_kb"] = round(len(text) / 1024, 1)
    figures["result_zlib_kb"] = round(len(zlib.compress(text.encode(), 6)) / 1024, 1)
    figures["beats_json_kb"] = round((len(text) - len(without_beats)) / 1024, 1)
    figures["fetal_beats_served"] = len(served["beats"]["fqrs_s"])
    figures["maternal_beats_served"] = len(served["beats"]["mqrs_s"])

    reference = np.asarray(truth.fetal_beats, dtype=np.float64) / truth.fs
    figures["synthetic_beat_f1"] = round(
        scoring.f1_score(*scoring.match_beats(reference, np.asarray(served["beats"]["fqrs_s"]))), 5
    )
    figures["loadavg_1min"] = round(float(Path("/proc/loadavg").read_text().split()[0]), 2)
    write_report("beats", figures)


if __name__ == "__main__":
    main()
