"""The one JSON result shape of the estimator (what ``handlers.fhr.estimate`` returns and the API serves).

::

    {
      "version": 2,
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
      "beats": {
        "fqrs_s": [float, ...],   # fetal R peaks, seconds from the record start, to the millisecond,
                                  #   only where the beat picker is trusted (see "Trust" below)
        "rr_ms": [int | null, ...],       # len(fqrs_s) - 1: rr_ms[i] = fqrs_s[i+1] - fqrs_s[i] in ms,
                                          #   null where that interval is not trusted
        "mqrs_s": [float, ...],   # maternal R peaks, seconds, to the millisecond (every one detected)
        "trusted_rr_percent": float       # share of the intervals between reported beats that are trusted
      },
      "variability": {            # Dawes-style, from the trusted intervals (handlers.fhr.variability)
        "epoch_s": 3.75,          # 1/16 min
        "minute_t0": 0.0,         # stv_ms[m] is the minute [minute_t0 + 60 m, minute_t0 + 60 (m + 1)) s
        "stv_ms": [float | null, ...],    # minute short-term variation, ms; null = too few valid epoch pairs
        "ltv_ms": [float | null, ...],    # minute long-term variation (range of epoch means), ms
        "valid_pairs": [int, ...],        # successive valid epoch pairs per minute (STV needs 10 of 15)
        "lost_epochs_percent": float      # epochs without enough trusted intervals (never interpolated)
      },
      "summary": {                # says only what the record supports: handlers.fhr.summary
        "duration_s": float,
        "baseline_bpm": int | null, "baseline_class": "normal" | "bradycardia" | "tachycardia" | null,
        "baseline_method": str,
        "variability_bpm": float | null, "variability_class": "reduced" | "normal" | "increased" | null,
        "accelerations": [{"start_s", "end_s", "duration_s", "peak_delta_bpm"}, ...] | null,
        "decelerations": [{"start_s", "end_s", "duration_s", "peak_delta_bpm"}, ...] | null,
        "sinusoidal": bool | null,        # FIGO sinusoidal pattern (> 30 min)
        "stv_ms": float | null,           # record STV (Dawes-Redman), ms; needs 10 min
        "stv_warning": bool | null,       # record STV under 3 ms
        "ltv_ms": float | null,           # record mean minute range, ms
        "high_variation_episodes": [{"start_s", "end_s", "duration_s", "mean_ltv_ms"}, ...] | null,
        "low_variation_episodes": [ same ] | null,
        "figo": {"class": "normal" | "suspicious" | "pathological" | null,
                 "reasons": [str, ...],   # the findings the class rests on, in words
                 "undecided": str | null},        # why there is no class, when there is none
        "not_assessed": [{"item": str, "reason": str}, ...],   # every null item above, and what
                                  #   this service never assesses; reasons: "insufficient_duration",
                                  #   "signal_loss", "indeterminate", "needs_uterine_activity"
        "signal_loss_percent": float,
        "mhr_median_bpm": float | null,
        "powerline_hz": [float, ...]      # mains lines found and notched
      },
      "timings_ms": {"estimate": float, "condition": ..., "maternal": ..., "spectra": ...,
                     "tracking": ..., "beats": ..., "assemble": ..., plus what the caller measured
                     (e.g. "parse", "download")}
    }

Trust. A fetal beat is reported where the estimator reports a rate (its 4 Hz sample is not null:
the spectral evidence shows a fetal rhythm above the quality floor and the input is valid); the
beat picker is not run past the evidence. An interval between two reported beats is trusted when
no null rate lies between them, both beats' matched-filter peaks reach a fifth of the typical beat
around them, and the interval is plausible: 70-220 bpm and within 15 % of the median of the 9
intervals around it (a missed, extra or misplaced beat fails it). Untrusted intervals are null in
``rr_ms`` and left out of every variability figure: lost signal is reported, never interpolated.
See :func:`handlers.fhr.beats.reported` and :mod:`handlers.fhr.variability`.

Rates are rounded to 0.1 bpm and qualities to 0.01, beat times to 1 ms, so a 30-min result stays
~150 kB of JSON (~45 kB as the results cache stores it, zlib-compressed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handlers.fhr import variability
from handlers.fhr.estimator import OUTPUT_FS, Analysis
from handlers.fhr.record import Record
from handlers.fhr.summary import summarise

RESULT_VERSION = 2  # 2: beats, variability, summary items null with reasons, FIGO class


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
    summary = summarise(analysis.fhr_bpm, OUTPUT_FS, analysis.fetal_beats_s, analysis.fetal_rr_trusted)
    mhr = analysis.mhr_bpm[np.isfinite(analysis.mhr_bpm)]
    summary["mhr_median_bpm"] = round(float(np.median(mhr)), 1) if mhr.size else None
    summary["powerline_hz"] = list(analysis.powerline_hz)
    return {
        "version": RESULT_VERSION,
        "record": record_part,
        "fhr": trace(analysis.fhr_bpm, analysis.fhr_quality),
        "mhr": trace(analysis.mhr_bpm, analysis.mhr_quality),
        "beats": beats_part(analysis),
        "variability": variability_part(analysis.fetal_beats_s, analysis.fetal_rr_trusted, record.duration_s),
        "summary": summary,
        "timings_ms": timings_ms,
    }


def beats_part(analysis: Analysis) -> dict[str, Any]:
    """Reported fetal beats, their RR series (null where untrusted) and the maternal R peaks."""
    fetal = np.asarray(analysis.fetal_beats_s, dtype=np.float64)
    rr = np.round(np.diff(fetal) * 1000.0).astype(np.int64).tolist()
    trusted = np.asarray(analysis.fetal_rr_trusted, dtype=bool).tolist()
    return {
        "fqrs_s": np.round(fetal, 3).tolist(),
        "rr_ms": [value if ok else None for value, ok in zip(rr, trusted, strict=True)],
        "mqrs_s": np.round(np.asarray(analysis.maternal_beats_s, dtype=np.float64), 3).tolist(),
        "trusted_rr_percent": round(100.0 * float(np.mean(trusted)), 2) if trusted else 0.0,
    }


def variability_part(beat_s: np.ndarray, trusted: np.ndarray, duration_s: float) -> dict[str, Any]:
    """Minute STV and LTV (:mod:`variability`), null where a minute has too few valid epochs."""
    epochs = variability.epochs(beat_s, trusted, duration_s)
    minutes = variability.minutes(epochs)

    def series(values: np.ndarray, digits: int) -> list[float | None]:
        return [round(float(v), digits) if np.isfinite(v) else None for v in values]

    return {
        "epoch_s": variability.EPOCH_S,
        "minute_t0": 0.0,
        "stv_ms": series(minutes.stv_ms, 2),
        "ltv_ms": series(minutes.ltv_ms, 1),
        "valid_pairs": minutes.valid_pairs.tolist(),
        "lost_epochs_percent": round(100.0 * float(np.mean(~epochs.valid)), 2) if epochs.valid.size else 100.0,
    }
