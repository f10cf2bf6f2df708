"""Beat-to-beat variability of the fetal heart, Dawes-style: epochs, minute STV and LTV, episodes.

What computerised antenatal CTG (the Dawes-Redman criteria of Oxford/Sonicaid systems) reads is not
the 4 Hz rate a clinician sees but the pulse interval averaged over short epochs. Every definition
here is applied to fetal R-peak times (seconds) and a per-interval trust mask, so the service's beats
and a reference annotation go through exactly the same arithmetic.

Sources: Dawes GS, Visser GHA, Goodman JDS, Redman CWG. Numerical analysis of the human fetal heart
rate: the quality of ultrasound records. Am J Obstet Gynecol 1981;141:43-52 (1/16-min epochs of mean
pulse interval); Dawes GS, Redman CWG, Smith JH. Improvements in the registration and analysis of
fetal heart rate records at the bedside. BJOG 1985;92:317-325 (short-term variation); Dawes GS,
Moulden M, Redman CWG. System 8000: computerized antenatal FHR analysis. J Perinat Med
1991;19:47-51 and Pardey J, Moulden M, Redman CWG. A computer system for the numerical analysis of
nonstress tests. Am J Obstet Gynecol 2002;186:1095-1103 (minute range, episodes of high and low
variation with the 32 ms / 30 ms thresholds, analysis from 10 minutes on). Where those papers leave a
detail open (how many valid epochs a minute needs, how an epoch is formed from beats rather than
from an ultrasound rate), the choice made here is stated at its constant.

Definitions (all intervals in milliseconds):

- **plausible interval**: an RR interval inside ``RR_RANGE_S`` that differs by at most
  ``RR_MAX_JUMP`` from the median of the ``RR_NEIGHBOURS`` intervals around it. A missed beat (an
  interval twice as long), an extra one (two short ones) or a misplaced one fails it; a fetal
  heart's own beat-to-beat change (a few percent) and decelerations (gradual) pass. Only plausible
  intervals (and, for the service's own beats, trusted ones: see :mod:`beats`) enter an epoch, for
  the service's beats and a reference annotation alike.
- **epoch**: 1/16 min = 3.75 s, counted from the record start. An RR interval belongs to the epoch
  holding its *ending* beat, so no interval is counted twice. The epoch's **mean pulse interval**
  is the mean of its trusted intervals; the epoch is **valid** when those intervals span at least
  ``EPOCH_MIN_COVERAGE`` of it. Lost signal (untrusted intervals, no beats) is never interpolated:
  an epoch without enough trusted intervals is invalid and every figure below skips it.
- **minute STV** (short-term variation): the mean absolute difference between the mean pulse
  intervals of successive valid epochs whose pair lies inside the minute (15 pairs at most); the
  minute is valid with at least ``STV_MIN_PAIRS`` such pairs.
- **record STV**: the mean of the valid minutes' STV (minutes inside a deceleration excluded when
  decelerations are known, as the Dawes-Redman analysis does).
- **minute LTV** (long-term variation, the Dawes-Redman "minute range"): the range (max - min) of
  the minute's valid epoch means; valid with at least ``LTV_MIN_EPOCHS`` valid epochs.
- **episodes of high / low variation**: a run of minutes in which at least ``EPISODE_MIN_MINUTES``
  of every ``EPISODE_WINDOW_MINUTES`` consecutive minutes have an LTV above ``HIGH_VARIATION_MS``
  (high) or below ``LOW_VARIATION_MS`` (low); overlapping qualifying windows merge into one
  episode, which spans from its first to its last qualifying minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Plausible intervals: 0.27-0.86 s is 70-220 bpm, the estimator's default rate range. 15 % off the
# local median is 60-70 ms at fetal rates, several times the largest beat-to-beat change of a
# sinus rhythm (set-a references: |change| median 1-17 ms), and well inside the 50-100 ms a
# misplaced beat moves two intervals by. Tuned on set-a dev (RR RMSE, mean over records: a fifth
# 4.8 ms, 15 % 4.5 ms, 12 % 4.4 ms; minute-STV differences unchanged).
RR_RANGE_S = (60.0 / 220.0, 60.0 / 70.0)
RR_MAX_JUMP = 0.15
RR_NEIGHBOURS = 9
EPOCH_S = 3.75  # 1/16 min (Dawes 1981)
EPOCHS_PER_MINUTE = 16
# An epoch needs trusted intervals over at least half its length (our choice: a half-covered epoch
# still averages 4-5 intervals; less than that, one interval would stand for the epoch).
EPOCH_MIN_COVERAGE = 0.5
# A minute's STV needs at least 10 of its 15 successive-epoch pairs (our choice: two thirds; fewer
# pairs and a single noisy pair moves the minute's mean by more than the 0.3 ms we aim to match).
STV_MIN_PAIRS = 10
# A minute's range needs at least 10 of its 16 epochs (fewer epochs understate the range).
LTV_MIN_EPOCHS = 10
# Episodes of high and low variation (Dawes-Redman; Sonicaid System 8002/Team manuals): the
# minute range above 32 ms / below 30 ms in at least 5 of 6 consecutive minutes.
HIGH_VARIATION_MS = 32.0
LOW_VARIATION_MS = 30.0
EPISODE_WINDOW_MINUTES = 6
EPISODE_MIN_MINUTES = 5


@dataclass(frozen=True)
class Epochs:
    """Mean pulse interval per epoch (NaN = invalid) and the share of each epoch its trusted intervals span."""

    mean_ms: np.ndarray  # float64 (epochs,)
    coverage: np.ndarray  # float64 (epochs,), 0..1 (can exceed 1 slightly: intervals end inside, start before)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.mean_ms)


@dataclass(frozen=True)
class Minutes:
    """Per whole minute of the record: STV and LTV (ms, NaN = invalid) and what each was computed from."""

    stv_ms: np.ndarray  # float64 (minutes,)
    ltv_ms: np.ndarray  # float64 (minutes,)
    valid_pairs: np.ndarray  # int64 (minutes,): successive valid epoch pairs inside the minute
    valid_epochs: np.ndarray  # int64 (minutes,)


def plausible_intervals(beat_s: np.ndarray, rr_range_s: tuple[float, float] = RR_RANGE_S) -> np.ndarray:
    """One flag per interval between successive beats (s): inside ``rr_range_s`` and within
    ``RR_MAX_JUMP`` of the median of the ``RR_NEIGHBOURS`` intervals centred on it (fewer at the
    ends of the series)."""
    rr = np.diff(np.asarray(beat_s, dtype=np.float64))
    ok = (rr >= rr_range_s[0]) & (rr <= rr_range_s[1])
    if rr.size >= 3:
        half = RR_NEIGHBOURS // 2
        local = np.empty(rr.size)
        if rr.size > 2 * half:
            local[half:-half] = np.median(np.lib.stride_tricks.sliding_window_view(rr, 2 * half + 1), axis=1)
        # near the ends the window is cut, not padded: a bad first interval must not vote twice
        for index in [*range(min(half, rr.size)), *range(max(half, rr.size - half), rr.size)]:
            local[index] = np.median(rr[max(0, index - half) : index + half + 1])
        ok &= np.abs(rr - local) <= RR_MAX_JUMP * local
    return ok


def epochs(beat_s: np.ndarray, trusted: np.ndarray, duration_s: float) -> Epochs:
    """Epoch means from beat times (s, increasing) and ``trusted`` (one flag per interval, len = beats - 1)."""
    count = int(np.ceil(duration_s / EPOCH_S - 1e-9)) if duration_s > 0 else 0
    total = np.zeros(count)
    number = np.zeros(count)
    beat_s = np.asarray(beat_s, dtype=np.float64)
    if beat_s.size >= 2 and count:
        rr = np.diff(beat_s)
        which = (beat_s[1:] // EPOCH_S).astype(np.int64)
        ok = np.asarray(trusted, dtype=bool) & (rr > 0) & (which >= 0) & (which < count)
        total = np.bincount(which[ok], weights=rr[ok], minlength=count)[:count].astype(np.float64)
        number = np.bincount(which[ok], minlength=count)[:count].astype(np.float64)
    coverage = total / EPOCH_S
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where((coverage >= EPOCH_MIN_COVERAGE) & (number > 0), 1000.0 * total / number, np.nan)
    return Epochs(mean_ms=mean, coverage=coverage)


def minutes(epoch: Epochs) -> Minutes:
    """Minute STV and LTV over every whole minute of epochs (a trailing part-minute is not a minute)."""
    count = epoch.mean_ms.size // EPOCHS_PER_MINUTE
    grid = epoch.mean_ms[: count * EPOCHS_PER_MINUTE].reshape(count, EPOCHS_PER_MINUTE)
    steps = np.abs(np.diff(grid, axis=1))  # the 15 successive pairs inside each minute; NaN if either is invalid
    pairs = np.isfinite(steps).sum(axis=1)
    valid_epochs = np.isfinite(grid).sum(axis=1)
    total = np.where(np.isfinite(steps), steps, 0.0).sum(axis=1)
    stv = np.where(pairs >= STV_MIN_PAIRS, total / np.maximum(pairs, 1), np.nan)
    ltv = np.full(count, np.nan)
    enough = valid_epochs >= LTV_MIN_EPOCHS
    if enough.any():
        ltv[enough] = np.nanmax(grid[enough], axis=1) - np.nanmin(grid[enough], axis=1)
    return Minutes(
        stv_ms=stv, ltv_ms=ltv, valid_pairs=pairs.astype(np.int64), valid_epochs=valid_epochs.astype(np.int64)
    )


def record_mean(values: np.ndarray, excluded: np.ndarray | None = None) -> float | None:
    """Mean of the valid (finite) minute values not ``excluded``; None when none is left."""
    keep = np.isfinite(values)
    if excluded is not None:
        keep &= ~excluded
    return float(values[keep].mean()) if keep.any() else None


def variation_episodes(ltv_ms: np.ndarray, *, high: bool) -> list[dict]:
    """Episodes of high (``high=True``) or low variation from the minute LTV series (see the module doc)."""
    with np.errstate(invalid="ignore"):
        qualifying = ltv_ms > HIGH_VARIATION_MS if high else ltv_ms < LOW_VARIATION_MS
    qualifying &= np.isfinite(ltv_ms)
    window = EPISODE_WINDOW_MINUTES
    if qualifying.size < window:
        return []
    counts = np.convolve(qualifying.astype(np.int64), np.ones(window, dtype=np.int64), "valid")
    in_episode = np.zeros(qualifying.size, dtype=bool)
    for first in np.flatnonzero(counts >= EPISODE_MIN_MINUTES).tolist():
        in_episode[first : first + window] = True
    found = []
    for first, last in runs(in_episode):
        minutes_in = np.flatnonzero(qualifying[first:last]) + first
        start, end = int(minutes_in[0]), int(minutes_in[-1]) + 1
        found.append(
            {
                "start_s": 60.0 * start,
                "end_s": 60.0 * end,
                "duration_s": 60.0 * (end - start),
                "mean_ltv_ms": round(float(np.nanmean(ltv_ms[start:end])), 1),
            }
        )
    return found


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of True runs, end exclusive."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
