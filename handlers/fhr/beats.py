"""Fetal beat picking guided by the spectral track, refined by a multichannel matched filter.

Why: the spectral estimate is robust but smooth: a 4-s window averages the rate and its frame
grid limits precision. Once the track says roughly where the fetal rate is, finding the actual
beats is a much easier problem than blind detection. Two passes:

1. guided chain: candidates are the peaks of a channel-weighted QRS-energy signal of the
   maternal-cancelled residual, and dynamic programming picks the chain of candidates that is
   both strong and spaced like the tracked rate (a cost on log(RR / expected RR), after Ellis's
   beat tracker);
2. matched filter (:mod:`matched`), twice: each lead's fetal QRS averaged over the chain is its
   template, the whitened leads correlated with their templates and summed give a sharp peak at
   each complex; what repeats with the mother's cycle is removed from it (her residual QRS is the
   commonest false beat); every local maximum within +-``CANDIDATE_RADIUS_S`` is a candidate (so a
   fetal complex next to a maternal residual is not shadowed by it), and the same dynamic
   programme, tighter, picks the chain again. Beat times are refined below the sample by a
   parabola through the peak.

RR intervals then give the rate beat by beat, used in the 4 Hz trace where it agrees with the
spectral track, so a picking error cannot drag the trace away from the spectral evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.fhr import matched
from handlers.fhr.dsp import moving_max, moving_mean
from handlers.fhr.fetal import (
    FetalEvidence,
    PhaseKeys,
    clipped_energy,
    maternal_phase_keys,
    subtract_phase_average,
)
from handlers.fhr.variability import plausible_intervals

# Tuned on set-a a01-a40 (beat F1 at 50 ms, mean over records, and RR RMSE against the reference);
# the figures were measured while the stage was built, each against the one before.
# Matched-filter candidates: every local maximum dominating +-20 ms (the guided chain's 60 ms hides
# a fetal complex 40-60 ms from a maternal residual peak: 98.0 % -> 99.5 %), at least
# ``CANDIDATE_FLOOR`` of the typical beat around it (:func:`beat_level`; 0.25: 99.60 -> 99.52 %).
CANDIDATE_RADIUS_S = 0.02
CANDIDATE_FLOOR = 0.15
# Cost of a departure from the tracked rhythm in the matched passes (25 in the guided chain):
# the matched output is clean enough to follow the rhythm closely (50: 99.4 %, 100: 99.5 %,
# 200: 99.3 %).
MATCHED_TIGHTNESS = 100.0
MATCHED_PASSES = 2  # one pass 99.3 %, two 99.5 %
# Predecessors within 0.85-1.18 of the expected RR: further off, a step costs more than a restart
# (100 x log(1.18)^2 = 2.7 > 2), so those transitions were never taken (same figures as 0.6-1.6,
# 40 % fewer transitions to weigh).
MATCHED_REACH = (0.85, 1.18)
# Beat strength is measured against half the typical beat around it (instead of the candidates'
# 75th percentile): strong beats then outweigh noise peaks (RR RMSE 5.0 -> 4.3 ms).
STRENGTH_REFERENCE = 0.5
# The guided chain only has to supply the first templates: it and the first matched passes run on
# the best minute of a long record, one more pass then covers the whole record (30-min record: the
# guided chain 16 -> 1 ms, one whole-record matched pass instead of two; records up to 90 s are
# their own excerpt).
TEMPLATE_EXCERPT_S = 60.0
# The typical beat (candidate floor, strength) is measured per this much of the record: noisier
# stretches have lower matched peaks, and one record-wide level dropped every beat of a noisy
# stretch under the floor (a 30-min synthetic record: F1 99.98 -> 98.3 % with the excerpt's level).
REFERENCE_BLOCK_S = 10.0
# An RR interval is trusted when both its beats stand at least this high over the typical beat
# around them: a weak peak is poorly timed (dev: RR RMSE 4.0 -> 3.8 ms for 0.3 % of intervals;
# 0.3: 3.6 ms for 1.3 %, and minute-STV p90 difference 0.56 -> 0.65 ms).
RR_MIN_HEIGHT = 0.2


@dataclass(frozen=True)
class FetalBeats:
    """The chosen chain of fetal beats at the working rate."""

    samples: np.ndarray  # float64 (beats,): sub-sample positions at ``fs``
    height: np.ndarray  # float64 (beats,): matched-filter peak over the typical beat's around it
    fs: float

    @property
    def times_s(self) -> np.ndarray:
        return self.samples / self.fs


def detection_signal(band: np.ndarray, weights: np.ndarray, fs: float, energy: np.ndarray | None = None) -> np.ndarray:
    """Channel-weighted, robustly scaled QRS energy at the working rate (one trace for all channels).

    ``energy``: :func:`fetal.clipped_energy` of ``band`` (without invalid-sample masking) if known.
    """
    if energy is None:
        energy = clipped_energy(band)
    share = (weights / np.maximum(weights.sum(), 1e-12)).astype(np.float32)
    combined = np.einsum("c,cn->n", share, energy)  # float32 throughout: no (channels, n) float64 temporary
    return moving_mean(combined, max(1, int(0.024 * fs)))


def candidates(signal: np.ndarray, fs: float, radius_s: float = 0.06) -> np.ndarray:
    """Local maxima dominating +-``radius_s``: every plausible R wave, and some noise peaks for the DP to reject."""
    radius = max(1, int(radius_s * fs))
    peaks = np.flatnonzero((signal >= moving_max(signal, radius)) & (signal > 0))
    if peaks.size > 1:
        peaks = peaks[np.concatenate(([True], np.diff(peaks) > radius))]
    return peaks


def pick_beats(
    signal: np.ndarray,
    peaks: np.ndarray,
    expected_rr: np.ndarray,
    *,
    tightness: float = 25.0,
    typical: float | np.ndarray | None = None,
    reach: tuple[float, float] = (0.6, 1.6),
) -> np.ndarray:
    """The chain of peaks maximising sum(strength) - tightness * sum(log(RR / expected RR)^2).

    ``expected_rr`` is in samples, per peak. Strength is a peak's height over ``typical`` (a value
    or one per peak; default: the candidates' 75th percentile), capped at 3. Predecessors are
    limited to ``reach`` times the expected RR, so each step looks at a handful of peaks; the loop
    is over peaks (2-6 per fetal beat).
    """
    if peaks.size == 0:
        return peaks
    if typical is None:
        typical = float(np.percentile(signal[peaks], 75))
    strength = np.minimum(signal[peaks] / (typical + 1e-9), 3.0).tolist()
    lows = np.searchsorted(peaks, peaks - reach[1] * expected_rr)
    highs = np.maximum(np.searchsorted(peaks, peaks - reach[0] * expected_rr, side="right"), lows)
    # Every (predecessor, peak) transition cost at once, vectorised, in the order the loop reads
    # them (a peak's predecessors are the contiguous run lows[j]..highs[j]); the loop only compares.
    counts = highs - lows
    owner = np.repeat(np.arange(peaks.size), counts)
    pred = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lows, counts)
    ratio = np.log((peaks[owner] - peaks[pred]) / expected_rr[owner])
    costs = (tightness * ratio * ratio).tolist()
    score = [0.0] * peaks.size
    back = [-1] * peaks.size
    start_cost = 2.0
    lows_list, highs_list = lows.tolist(), highs.tolist()
    # A chain may also resume after a gap (lost signal: no peak within reach): it then continues the
    # best chain that ended before the gap, for a restart cost, so beats before the gap are kept.
    earlier, earlier_best, earlier_index = 0, -start_cost, -1
    k = 0
    for j in range(peaks.size):
        low = lows_list[j]
        while earlier < low:
            value = score[earlier] - start_cost
            if value > earlier_best:
                earlier_best, earlier_index = value, earlier
            earlier += 1
        best, best_i = earlier_best, earlier_index
        for i in range(low, highs_list[j]):
            value = score[i] - costs[k]
            k += 1
            if value > best:
                best, best_i = value, i
        score[j] = best + strength[j]
        back[j] = best_i
    end_window = peaks >= peaks[-1] - reach[1] * expected_rr[-1]
    j = int(np.flatnonzero(end_window)[np.argmax(np.asarray(score)[end_window])])
    chain = []
    while j >= 0:
        chain.append(j)
        j = back[j]
    return peaks[np.asarray(chain[::-1], dtype=np.int64)]


def guided_chain(
    band: np.ndarray,
    evidence: FetalEvidence,
    tracked_bpm: np.ndarray,
    fs: float,
    tightness: float = 25.0,
    energy: np.ndarray | None = None,
    offset: int = 0,
) -> np.ndarray:
    """The first chain (sample indices + ``offset``, the position of ``band`` in the record):
    QRS-energy peaks spaced like the spectral track."""
    weights = evidence.channel_weight.mean(axis=1)
    if weights.sum() <= 0:
        weights = np.ones(band.shape[0])
    signal = detection_signal(band, weights, fs, energy)
    peaks = candidates(signal, fs)
    expected = _expected_rr(peaks + offset, fs, evidence, tracked_bpm)
    return pick_beats(signal, peaks, expected, tightness=tightness) + offset


def _expected_rr(peaks: np.ndarray, fs: float, evidence: FetalEvidence, tracked_bpm: np.ndarray) -> np.ndarray:
    return fs * 60.0 / np.interp(peaks / fs, evidence.times, tracked_bpm)


def find_fetal(
    band: np.ndarray,
    leads: int,
    valid: np.ndarray,
    evidence: FetalEvidence,
    tracked_bpm: np.ndarray,
    fs: float,
    maternal_s: np.ndarray,
    *,
    tightness: float = 25.0,
    energy: np.ndarray | None = None,
    passes: int = MATCHED_PASSES,
) -> FetalBeats:
    """Fetal beats from the first ``leads`` rows of ``band`` (the leads themselves; the components
    that follow are mixtures of them).

    The guided chain and ``passes`` matched-filter passes run on the best ``TEMPLATE_EXCERPT_S`` of
    the record (all of a short record); on a longer record one more pass then covers all of it with
    the templates learnt there. ``passes=0``: the guided chain over the whole record alone (the
    estimator before matched filtering, kept as the speed and accuracy baseline).
    """
    n = band.shape[1]
    if passes <= 0:
        chain = guided_chain(band, evidence, tracked_bpm, fs, tightness, energy)
        return FetalBeats(chain.astype(np.float64), np.ones(chain.size), fs)
    excerpt = best_excerpt(evidence, n, fs)
    part_energy = None if energy is None else energy[:, excerpt]
    chain = guided_chain(band[:, excerpt], evidence, tracked_bpm, fs, tightness, part_energy, excerpt.start)
    if chain.size < 4:
        return FetalBeats(chain.astype(np.float64), np.ones(chain.size), fs)
    x = matched.prepare(band[:leads], fs, valid[:leads])
    keys = maternal_phase_keys(n, fs, maternal_s) if maternal_s.size >= 4 else None
    spans = [excerpt] * passes + ([slice(0, n)] if excerpt != slice(0, n) else [])
    best: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None
    for span in spans:
        found = _matched_pass(x, chain, span, keys, fs, evidence, tracked_bpm)
        if found is None:
            break
        chain = found[0] + span.start
        best = (*found, span.start)
    if best is None or chain.size == 0:
        return FetalBeats(chain.astype(np.float64), np.ones(chain.size), fs)
    local, output, level, start = best
    return FetalBeats(matched.subsample_peaks(output, local) + start, output[local] / level, fs)


def _matched_pass(
    x: np.ndarray,
    chain: np.ndarray,
    span: slice,
    keys: PhaseKeys | None,
    fs: float,
    evidence: FetalEvidence,
    tracked_bpm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Templates from ``chain`` (record samples), the matched output over ``span`` of the record and
    its chain: (chain samples within the span, output, local beat level at each chosen beat); None
    when too few candidates remain to pick from."""
    output = matched.matched_output(x[:, span], matched.templates(x, chain, fs), fs)
    if keys is not None:
        output = subtract_phase_average(output[None, :], PhaseKeys(keys.key[span], keys.count))[0]
    peaks = matched.dominant_peaks(output, max(1, int(CANDIDATE_RADIUS_S * fs)), 0.0)
    expected = _expected_rr(peaks + span.start, fs, evidence, tracked_bpm)
    reference = beat_level(output[peaks], peaks, expected, int(REFERENCE_BLOCK_S * fs))
    tall = output[peaks] >= CANDIDATE_FLOOR * reference
    if np.count_nonzero(tall) < 4:
        return None
    picked = pick_beats(
        output,
        peaks[tall],
        expected[tall],
        tightness=MATCHED_TIGHTNESS,
        typical=STRENGTH_REFERENCE * reference[tall],
        reach=MATCHED_REACH,
    )
    return picked, output, reference[np.searchsorted(peaks, picked)]


def beat_level(heights: np.ndarray, peaks: np.ndarray, expected_rr: np.ndarray, block: int) -> np.ndarray:
    """Per peak, the typical height of a beat around it: per ``block`` samples, the median of the
    tallest peaks, as many as beats the tracked rate expects there (most of them are the beats).

    Local, because the matched output of locally normalised leads is lower where noise is higher:
    one record-wide level would put every beat of a noisy stretch under the candidate floor.
    """
    if peaks.size == 0:
        return np.empty(0)
    which = peaks // block
    top = float(heights.max())
    # by block, then by height: one float key (3x faster than a lexsort of the two)
    order = np.argsort(which + np.maximum(heights, 0.0) / (top * 1.001 if top > 0 else 1.0))
    sorted_heights = heights[order]
    starts = np.searchsorted(which[order], np.arange(int(which[-1]) + 2))
    sizes = np.diff(starts)
    # beats the track expects per block (at least one), no more than the block's peaks
    rr = np.bincount(which, weights=expected_rr, minlength=sizes.size) / np.maximum(sizes, 1)
    expected_beats = np.clip(np.round(block / np.maximum(rr, 1.0)), 1, np.maximum(sizes, 1)).astype(np.int64)
    # the median of the last ``expected_beats`` of each block's sorted heights (lower median)
    middle = starts[1:] - 1 - expected_beats // 2
    level = np.where(sizes > 0, sorted_heights[np.clip(middle, 0, heights.size - 1)], 1.0)
    return np.maximum(level, 1e-12)[which]


def best_excerpt(evidence: FetalEvidence, n: int, fs: float) -> slice:
    """The ``TEMPLATE_EXCERPT_S`` of the record (all of it if shorter) where the spectral quality is
    best on average: enough beats for clean templates, picked where the fetus is clearest."""
    length = int(TEMPLATE_EXCERPT_S * fs)
    if n <= 1.5 * length or evidence.times.size < 2:
        return slice(0, n)
    # mean frame quality of every window start (10-s steps), from one cumulative sum
    starts = np.arange(0, n - length + 1, max(1, int(10.0 * fs)))
    total = np.concatenate(([0.0], np.cumsum(evidence.quality)))
    low = np.searchsorted(evidence.times, starts / fs)
    high = np.searchsorted(evidence.times, (starts + length) / fs)
    mean = (total[high] - total[low]) / np.maximum(high - low, 1)
    first = int(starts[int(np.argmax(mean))])
    return slice(first, first + length)


def reported(
    found: FetalBeats, lost: np.ndarray, grid_s: np.ndarray, rr_range_s: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The beats the result reports and which intervals between them are trusted.

    Trust, as documented in :mod:`result`: a beat is reported only where the estimator reports a
    rate (``lost`` is False on the 4 Hz grid at the beat: the spectral evidence shows a fetal
    rhythm and the input is valid). The interval between two reported beats is trusted when no
    lost grid time lies between them, both beats' matched peaks reach ``RR_MIN_HEIGHT`` of the
    typical beat around them, and the interval is plausible (:func:`variability.plausible_intervals`:
    inside ``rr_range_s``, close to its neighbours' median).

    Returns (beat times in s rounded to the millisecond, as served; trusted flag per interval).
    """
    times = np.round(found.times_s, 3)
    if grid_s.size == 0 or times.size == 0:
        return times[:0], np.zeros(0, dtype=bool)
    step = float(grid_s[1] - grid_s[0]) if grid_s.size > 1 else 1.0
    at = np.clip(np.round((times - grid_s[0]) / step).astype(np.int64), 0, grid_s.size - 1)
    keep = ~lost[at]
    times, at, height = times[keep], at[keep], found.height[keep]
    lost_before = np.concatenate(([0], np.cumsum(lost)))  # lost grid samples before each index
    no_gap = lost_before[at[1:] + 1] - lost_before[at[:-1]] == 0
    strong = (height[:-1] >= RR_MIN_HEIGHT) & (height[1:] >= RR_MIN_HEIGHT)
    return times, no_gap & strong & plausible_intervals(times, rr_range_s)


def rate_on_grid(
    beat_s: np.ndarray, evidence: FetalEvidence, tracked_bpm: np.ndarray, grid_s: np.ndarray, tolerance_bpm: float
) -> np.ndarray:
    """The beat-to-beat rate on ``grid_s`` (NaN where no interval covers a time or it disagrees with the track)."""
    rate = np.full(grid_s.size, np.nan)
    if beat_s.size < 2:
        return rate
    interval = np.searchsorted(beat_s, grid_s, side="right") - 1
    covered = (interval >= 0) & (interval < beat_s.size - 1)
    k = interval[covered]
    rate[covered] = 60.0 / np.diff(beat_s)[k]
    track_on_grid = np.interp(grid_s, evidence.times, tracked_bpm)
    rate[np.abs(rate - track_on_grid) > tolerance_bpm] = np.nan
    return rate
