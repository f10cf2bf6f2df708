"""The one JSON result shape of the estimator (what ``handlers.fhr.estimate`` returns and the API serves).

::

    {
      "version": 1,
      "record": {
        "source": str,            # path, s3://bucket/key or a caller's name
        "format": str,            # "wfdb" | "physionet-csv" | "csv" | "edf" | "memory"
        "channels": [str, ...],   # names of the channels used
        "fs": float,              # sampling rate of the input, Hz
        "duration_s": float,
        "etag": str               # only when the record came from S3
      },
      "fhr": {
        "fs": 4,                  # the CTG convention: one value per 0.25 s
        "t0": 0.0,                # bpm[k] is the rate at t0 + k / fs seconds from the record start
        "bpm": [float | null, ...],      # null = signal lost: no rate is guessed there
        "quality": [float, ...]          # 0..1 per sample (0 where bpm is null)
      },
      "mhr": { same keys as "fhr" },     # maternal heart rate, beat to beat
      "summary": {                        # FIGO-style, see handlers.fhr.summary
        "baseline_bpm": int | null, "baseline_class": "normal" | "bradycardia" | "tachycardia" | null,
        "baseline_method": str,
        "variability_bpm": float | null, "variability_class": "reduced" | "normal" | "increased" | null,
        "accelerations": [{"start_s", "end_s", "duration_s", "peak_delta_bpm"}, ...],
        "decelerations": [{"start_s", "end_s", "duration_s", "peak_delta_bpm"}, ...],
        "signal_loss_percent": float,
        "mhr_median_bpm": float | null,
        "powerline_hz": [float, ...]      # mains lines found and notched
      },
      "timings_ms": {"estimate": float, "condition": ..., "maternal": ..., "spectra": ...,
                     "tracking": ..., "beats": ..., plus what the caller measured
                     (e.g. "parse", "download")}
    }

Rates are rounded to 0.1 bpm and qualities to 0.01 so a 30-min result stays ~100 kB of JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handlers.fhr.estimator import OUTPUT_FS, Analysis
from handlers.fhr.record import Record
from handlers.fhr.summary import summarise

RESULT_VERSION = 1


def trace(bpm: np.ndarray, quality: np.ndarray) -> dict[str, Any]:
    """A 4 Hz trace as JSON: NaN becomes null, quality is 0 wherever the rate is null."""
    finite = np.isfinite(bpm)
    rounded = np.round(np.where(finite, bpm, 0.0), 1).tolist()
    q = np.round(np.where(finite, np.clip(quality, 0.0, 1.0), 0.0), 2).tolist()
    return {
        "fs": int(OUTPUT_FS),
        "t0": 0.0,
        "bpm": [value if ok else None for value, ok in zip(rounded, finite.tolist(), strict=True)],
        "quality": q,
    }


def build(record: Record, analysis: Analysis, timings_ms: dict[str, float]) -> dict[str, Any]:
    """Assemble the documented result from a record and the estimator's analysis."""
    record_part: dict[str, Any] = {
        "source": record.source,
        "format": record.format,
        "channels": [record.channels[i] for i in analysis.channels_used],
        "fs": float(record.fs),
        "duration_s": round(record.duration_s, 3),
    }
    etag = record.meta.get("etag")
    if etag:
        record_part["etag"] = str(etag)
    summary = summarise(analysis.fhr_bpm, OUTPUT_FS)
    mhr = analysis.mhr_bpm[np.isfinite(analysis.mhr_bpm)]
    summary["mhr_median_bpm"] = round(float(np.median(mhr)), 1) if mhr.size else None
    summary["powerline_hz"] = list(analysis.powerline_hz)
    return {
        "version": RESULT_VERSION,
        "record": record_part,
        "fhr": trace(analysis.fhr_bpm, analysis.fhr_quality),
        "mhr": trace(analysis.mhr_bpm, analysis.mhr_quality),
        "summary": summary,
        "timings_ms": timings_ms,
    }
