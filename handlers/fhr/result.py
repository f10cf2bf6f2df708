"""The one JSON result shape of the estimator (what ``handlers.fhr.estimate`` returns and the API serves).

Its every field, unit and null case is declared once, as a JSON Schema: :data:`handlers.fhr.result_schema.
RESULT_SCHEMA` (version 2). Its parts: ``record`` (what was read), ``fhr`` and ``mhr`` (4 Hz traces, null
where the signal is lost), ``beats`` (fetal R peaks where trusted, the RR series, maternal R peaks),
``variability`` (minute STV/LTV from the trusted intervals), ``summary`` (only what the record supports,
with ``not_assessed`` reasons and the FIGO class) and ``timings_ms``.

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
from handlers.fhr.result_schema import RESULT_VERSION
from handlers.fhr.summary import summarise

__all__ = ["RESULT_VERSION", "beats_part", "build", "trace", "variability_part"]


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
