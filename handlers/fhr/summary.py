"""A FIGO-style CTG summary of the 4 Hz FHR trace: baseline, variability, accelerations, decelerations, loss.

Definitions (FIGO 2015 intrapartum fetal monitoring consensus; NICE CG190 practice):
- baseline: the mean FHR over stable 10-minute segments, excluding accelerations and decelerations,
  rounded to 5 bpm. A segment is stable when at least half of it has signal and its
  event-free samples spread less than 25 bpm (the bandwidth limit of normal variability). Records
  shorter than 10 minutes are summarised over the available data as one segment, and say so.
- variability: the median, over minutes, of the minute's max-min amplitude of the event-free
  trace; reduced below 5 bpm, normal 5-25, increased above 25.
- acceleration: FHR (its 4-s moving mean) at least 15 bpm above the baseline for at least 15 s; deceleration: at least
  15 bpm below for at least 15 s. Each spans from its onset to its return, where the trend leaves and rejoins the
  baseline (within 5 bpm), not just the part beyond 15 bpm: its flanks are part of the event, and must not count as
  variability. Each with start/end time (s) and the extreme deviation.
- signal loss: the share of 4 Hz samples with no rate (null), in percent.
"""

from __future__ import annotations

import numpy as np

SEGMENT_S = 600.0
EVENT_DELTA_BPM = 15.0
EVENT_MIN_S = 15.0
ONSET_DELTA_BPM = 5.0


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of True runs, end exclusive."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _smooth(bpm: np.ndarray, fs: float, seconds: float = 4.0) -> np.ndarray:
    """NaN-aware centred moving mean: events are judged on the trend, as on a paper CTG, not on
    beat-to-beat jitter (which would split one acceleration into short pieces)."""
    width = max(1, int(seconds * fs))
    finite = np.isfinite(bpm)
    kernel = np.ones(width)
    total = np.convolve(np.where(finite, bpm, 0.0), kernel, mode="same")
    count = np.convolve(finite.astype(float), kernel, mode="same")
    out = np.full(bpm.size, np.nan)
    enough = (count >= 0.5 * width) & finite
    out[enough] = total[enough] / count[enough]
    return out


def _events(bpm: np.ndarray, reference: np.ndarray, fs: float, sign: float) -> list[dict]:
    deviation = np.nan_to_num(sign * (_smooth(bpm, fs) - reference), nan=-np.inf)
    # Runs beyond the onset margin; an event is such a run holding a qualifying (>= 15 bpm, >= 15 s) core.
    flanks = _runs(deviation >= ONSET_DELTA_BPM)
    found = []
    for core_start, core_end in _runs(deviation >= EVENT_DELTA_BPM):
        if (core_end - core_start) / fs < EVENT_MIN_S:
            continue
        start, end = next((a, b) for a, b in flanks if a <= core_start and core_end <= b)
        if found and start / fs <= found[-1]["end_s"]:
            continue  # a second core inside the same departure from baseline: one event
        found.append(
            {
                "start_s": round(start / fs, 2),
                "end_s": round(end / fs, 2),
                "duration_s": round((end - start) / fs, 2),
                "peak_delta_bpm": round(float(np.max(deviation[start:end])), 1),
            }
        )
    return found


def _segment_reference(bpm: np.ndarray, fs: float) -> np.ndarray:
    """A first, event-tolerant baseline: each segment's median, so events can be found against it."""
    reference = np.full(bpm.size, np.nan)
    length = max(1, int(SEGMENT_S * fs))
    for start in range(0, bpm.size, length):
        chunk = bpm[start : start + length]
        if np.isfinite(chunk).any():
            reference[start : start + length] = np.nanmedian(chunk)
    return reference


def summarise(bpm: np.ndarray, fs: float) -> dict:
    """The summary dict of the result (see the module docstring for every definition)."""
    bpm = np.asarray(bpm, dtype=np.float64)
    duration_s = bpm.size / fs
    loss = float(np.mean(~np.isfinite(bpm)) * 100.0) if bpm.size else 100.0
    summary: dict = {
        "baseline_bpm": None,
        "baseline_class": None,
        "baseline_method": "stable 10-min segments" if duration_s >= SEGMENT_S else "whole record (under 10 min)",
        "variability_bpm": None,
        "variability_class": None,
        "accelerations": [],
        "decelerations": [],
        "signal_loss_percent": round(loss, 2),
    }
    if not np.isfinite(bpm).any():
        return summary
    reference = _segment_reference(bpm, fs)
    accelerations = _events(bpm, reference, fs, +1.0)
    decelerations = _events(bpm, reference, fs, -1.0)
    calm = bpm.copy()
    for event in accelerations + decelerations:
        calm[int(event["start_s"] * fs) : int(event["end_s"] * fs)] = np.nan
    baseline = _baseline(calm, fs)
    if baseline is not None:
        summary["baseline_bpm"] = baseline
        summary["baseline_class"] = "bradycardia" if baseline < 110 else "tachycardia" if baseline > 160 else "normal"
    variability = _variability(calm, fs)
    if variability is not None:
        summary["variability_bpm"] = round(variability, 1)
        summary["variability_class"] = "reduced" if variability < 5 else "increased" if variability > 25 else "normal"
    summary["accelerations"] = accelerations
    summary["decelerations"] = decelerations
    return summary


def _baseline(calm: np.ndarray, fs: float) -> int | None:
    length = max(1, int(SEGMENT_S * fs))
    means = []
    for start in range(0, calm.size, length):
        chunk = calm[start : start + length]
        finite = chunk[np.isfinite(chunk)]
        if finite.size < 0.5 * min(length, calm.size):
            continue
        if np.ptp(finite) < 25.0 or calm.size <= length:
            means.append(float(finite.mean()))
    if not means:
        finite = calm[np.isfinite(calm)]
        if finite.size == 0:
            return None
        means = [float(finite.mean())]
    return int(5 * round(float(np.mean(means)) / 5))


def _variability(calm: np.ndarray, fs: float) -> float | None:
    minute = max(1, int(60 * fs))
    amplitudes = []
    for start in range(0, calm.size - minute + 1, minute):
        finite = calm[start : start + minute]
        finite = finite[np.isfinite(finite)]
        if finite.size >= 0.5 * minute:
            amplitudes.append(float(np.ptp(finite)))
    return float(np.median(amplitudes)) if amplitudes else None
