"""Benchmark: generating and writing a 30-minute, 4-channel, 1 kHz synthetic record.

Run: ``venv/bin/python -m benchmarks.bench_synth``. Figures are ratios against baselines timed in the
same run on the same machine, plus the absolute seconds the issue asks about ("a few seconds"):

- generation vs drawing the same number of Gaussian samples (``rng.standard_normal((n, C))``), the
  floor of any generator that has noise in it;
- the PhysioNet CSV writer vs ``pandas.DataFrame.to_csv`` of the same values (pandas as yardstick only);
- WFDB / EDF writers (to disk) vs ``wfdb.wrsamp`` writing the same record as WFDB format 16 (the
  reference implementation, a dev dependency);
- peak traced memory of one generation (tracemalloc follows numpy's allocations) vs the record's size.
"""

from __future__ import annotations

import io
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks.common import median_seconds, write_report
from handlers.fhr import writers
from handlers.fhr.record import Record
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
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        reference = median_seconds(lambda: _wrsamp(record, folder), repeat=3)
        wfdb = median_seconds(lambda: writers.write_record(record, folder / "ours.hea"), repeat=3)
        edf = median_seconds(lambda: writers.write_record(record, folder / "ours.edf"), repeat=3)
    figures["physionet_csv_s"] = round(physionet, 3)
    figures["physionet_csv_mb"] = round(len(writers.to_physionet_csv(record)) / 1e6, 1)
    figures["pandas_to_csv_s"] = round(pandas_csv, 3)
    figures["physionet_csv_vs_pandas_to_csv"] = round(physionet / pandas_csv, 3)
    figures["wfdb_s"] = round(wfdb, 4)
    figures["edf_s"] = round(edf, 4)
    figures["wfdb_wrsamp_s"] = round(reference, 4)
    figures["wfdb_vs_wfdb_wrsamp"] = round(wfdb / reference, 3)
    figures["edf_vs_wfdb_wrsamp"] = round(edf / reference, 3)


def _wrsamp(record: Record, folder: Path) -> None:
    import wfdb

    wfdb.wrsamp(
        "reference",
        fs=record.fs,
        units=["uV"] * record.n_channels,
        sig_name=list(record.channels),
        p_signal=record.signals.astype(np.float64),
        fmt=["16"] * record.n_channels,
        write_dir=str(folder),
    )


def main() -> None:
    figures: dict[str, float] = {"minutes": MINUTES, "channels": CHANNELS, "fs": FS}
    _generation(figures)
    _memory(figures)
    _writers(figures)
    write_report("bench_synth", figures)


if __name__ == "__main__":
    main()
