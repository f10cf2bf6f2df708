"""Benchmark: generating and writing a 30-minute, 4-channel, 1 kHz synthetic record.

Run: ``venv/bin/python -m benchmarks.bench_synth``. Figures are ratios against baselines timed in the
same run on the same machine, plus the absolute seconds the issue asks about ("a few seconds"):

- generation vs drawing the same number of Gaussian samples (``rng.standard_normal((n, C))``), the
  floor of any generator that has noise in it;
- the PhysioNet CSV writer vs ``pandas.DataFrame.to_csv`` of the same values (pandas as yardstick only);
- WFDB / EDF writers vs ``ndarray.tobytes`` of the same samples as int16 (pure memory traffic);
- peak traced memory of one generation (tracemalloc follows numpy's allocations) vs the record's size.
"""

from __future__ import annotations

import io
import time
import tracemalloc

import numpy as np

from benchmarks.common import median_seconds, write_report
from handlers.fhr import writers
from handlers.fhr.synth import synthesize

MINUTES, CHANNELS, FS = 30, 4, 1000.0


def _generation(figures: dict[str, float]) -> None:
    n = int(MINUTES * 60 * FS)
    rng = np.random.default_rng(0)
    baseline = median_seconds(lambda: rng.standard_normal((n, CHANNELS), dtype=np.float32), repeat=3)
    generate = median_seconds(lambda: synthesize(MINUTES, CHANNELS, FS, seed=1), repeat=3)
    figures["generate_s"] = round(generate, 3)
    figures["gaussian_draw_s"] = round(baseline, 4)
    figures["generate_vs_gaussian_draw"] = round(generate / baseline, 2)


def _memory(figures: dict[str, float]) -> None:
    tracemalloc.start()
    record, _ = synthesize(MINUTES, CHANNELS, FS, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures["generate_peak_mb"] = round(peak / 2**20, 1)
    figures["record_mb"] = round(record.signals.nbytes / 2**20, 1)
    figures["generate_peak_vs_record"] = round(peak / record.signals.nbytes, 2)


def _writers(figures: dict[str, float]) -> None:
    import pandas as pd

    record, _ = synthesize(MINUTES, CHANNELS, FS, seed=1)
    frame = pd.DataFrame(record.signals / 1000.0, columns=list(record.channels))
    started = time.perf_counter()
    frame.to_csv(io.StringIO(), float_format="%.3f")
    pandas_csv = time.perf_counter() - started
    physionet = median_seconds(lambda: writers.to_physionet_csv(record), repeat=3)
    int16 = np.zeros(record.signals.shape, dtype=np.int16)
    raw = median_seconds(lambda: int16.tobytes(), repeat=5)
    wfdb = median_seconds(lambda: writers.to_wfdb(record), repeat=3)
    edf = median_seconds(lambda: writers.to_edf(record), repeat=3)
    figures["physionet_csv_s"] = round(physionet, 3)
    figures["physionet_csv_mb"] = round(len(writers.to_physionet_csv(record)) / 1e6, 1)
    figures["pandas_to_csv_s"] = round(pandas_csv, 3)
    figures["physionet_csv_vs_pandas_to_csv"] = round(physionet / pandas_csv, 3)
    figures["wfdb_s"] = round(wfdb, 4)
    figures["edf_s"] = round(edf, 4)
    figures["wfdb_vs_int16_tobytes"] = round(wfdb / raw, 1)
    figures["edf_vs_int16_tobytes"] = round(edf / raw, 1)


def main() -> None:
    figures: dict[str, float] = {"minutes": MINUTES, "channels": CHANNELS, "fs": FS}
    _generation(figures)
    _memory(figures)
    _writers(figures)
    write_report("bench_synth", figures)


if __name__ == "__main__":
    main()
