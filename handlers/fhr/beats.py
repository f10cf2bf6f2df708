"""Fetal beat picking guided by the spectral track, and the beat-to-beat rate it yields.

Why: the spectral estimate is robust but smooth: a 4-s window averages the rate and its frame
grid limits precision. Once the track says roughly where the fetal rate is, finding the actual
beats is a much easier problem than blind detection: candidates are the peaks of a
channel-weighted QRS-energy signal of the maternal-cancelled residual, and dynamic programming
picks the chain of candidates that is both strong and spaced like the tracked rate (a cost on
log(RR / expected RR), after Ellis's beat tracker). RR intervals then give the rate beat by beat,
and are trusted only where they agree with the spectral track, so a picking error cannot drag
the trace away from the spectral evidence.
"""

from __future__ import annotations

import numpy as np

from handlers.fhr.dsp import moving_max, moving_mean
from handlers.fhr.fetal import FetalEvidence, clipped_energy


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
    signal: np.ndarray, peaks: np.ndarray, expected_rr: np.ndarray, *, tightness: float = 25.0
) -> np.ndarray:
    """The chain of peaks maximising sum(strength) - tightness * sum(log(RR / expected RR)^2).

    ``expected_rr`` is in samples, per peak. Predecessors are limited to 0.6-1.6 expected RR, so
    each step looks at a handful of peaks; the loop is over peaks (~2 per fetal beat).
    """
    if peaks.size == 0:
        return peaks
    typical = float(np.percentile(signal[peaks], 75)) + 1e-9
    strength = np.minimum(signal[peaks] / typical, 3.0).tolist()
    times = peaks.tolist()
    lows = np.searchsorted(peaks, peaks - 1.6 * expected_rr)
    highs = np.searchsorted(peaks, peaks - 0.6 * expected_rr, side="right")
    # Every (predecessor, peak) transition cost at once, vectorised; the loop then only compares.
    counts = np.maximum(highs - lows, 0)
    owner = np.repeat(np.arange(peaks.size), counts)
    pred = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lows, counts)
    ratio = np.log((peaks[owner] - peaks[pred]) / expected_rr[owner])
    costs = (tightness * ratio * ratio).tolist()
    preds = pred.tolist()
    offsets = np.concatenate(([0], np.cumsum(counts))).tolist()
    score = [0.0] * len(times)
    back = [-1] * len(times)
    start_cost = 2.0
    lows_list = lows.tolist()
    # A chain may also resume after a gap (lost signal: no peak within reach): it then continues the
    # best chain that ended before the gap, for a restart cost, so beats before the gap are kept.
    earlier, earlier_best, earlier_index = 0, -start_cost, -1
    for j in range(len(times)):
        while earlier < lows_list[j]:
            if score[earlier] - start_cost > earlier_best:
                earlier_best, earlier_index = score[earlier] - start_cost, earlier
            earlier += 1
        best, best_i = earlier_best, earlier_index
        for k in range(offsets[j], offsets[j + 1]):
            value = score[preds[k]] - costs[k]
            if value > best:
                best, best_i = value, preds[k]
        score[j] = best + strength[j]
        back[j] = best_i
    end_window = peaks >= peaks[-1] - 1.6 * expected_rr[-1]
    j = int(np.flatnonzero(end_window)[np.argmax(np.asarray(score)[end_window])])
    chain = []
    while j >= 0:
        chain.append(times[j])
        j = back[j]
    return np.asarray(chain[::-1], dtype=np.int64)


def refine(
    band: np.ndarray,
    evidence: FetalEvidence,
    tracked_bpm: np.ndarray,
    fs: float,
    grid_s: np.ndarray,
    tolerance_bpm: float,
    tightness: float = 25.0,
    energy: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fetal beat times (s) and the beat-to-beat rate on ``grid_s`` (NaN where it disagrees with the track)."""
    weights = evidence.channel_weight.mean(axis=1)
    if weights.sum() <= 0:
        weights = np.ones(band.shape[0])
    signal = detection_signal(band, weights, fs, energy)
    peaks = candidates(signal, fs)
    expected_rr = fs * 60.0 / np.interp(peaks / fs, evidence.times, tracked_bpm)
    chain = pick_beats(signal, peaks, expected_rr, tightness=tightness)
    beat_s = chain / fs
    rate = np.full(grid_s.size, np.nan)
    if beat_s.size < 2:
        return beat_s, rate
    interval = np.searchsorted(beat_s, grid_s, side="right") - 1
    covered = (interval >= 0) & (interval < beat_s.size - 1)
    k = interval[covered]
    rate[covered] = 60.0 / np.diff(beat_s)[k]
    track_on_grid = np.interp(grid_s, evidence.times, tracked_bpm)
    rate[np.abs(rate - track_on_grid) > tolerance_bpm] = np.nan
    return beat_s, rate
