"""Temporal tracking of the fetal rate: Viterbi over a bpm grid with a transition penalty.

Why: frame-by-frame argmax jumps to whichever line is momentarily strongest (a maternal harmonic,
a noise burst). The fetal rate is continuous: it changes by at most ~20-30 bpm per second even in
a deceleration. Dynamic programming finds the single path that best explains all frames while
paying for every bpm of change, so short confusions are bridged by the path's continuity. Rates
near the maternal rate and its second harmonic are penalised (not forbidden: the rates may truly
cross), which is what keeps the track off the mother.
"""

from __future__ import annotations

import numpy as np


def maternal_penalty(
    rates: np.ndarray,
    maternal_bpm: np.ndarray,
    *,
    depth: float = 0.5,
    width_bpm: float = 4.0,
    multiples: tuple[float, ...] = (1.0,),
) -> np.ndarray:
    """Multiplicative factor (frames, rates) in (1-depth, 1]: dips at the maternal rate (and chosen multiples)."""
    factor = np.ones((maternal_bpm.size, rates.size))
    known = np.isfinite(maternal_bpm)
    for multiple in multiples:
        centre = multiple * maternal_bpm[known][:, None]
        factor[known] *= 1.0 - depth * np.exp(-0.5 * ((rates[None, :] - centre) / width_bpm) ** 2)
    return factor


def viterbi(log_score: np.ndarray, rates: np.ndarray, *, penalty_per_bpm: float, max_step_bpm: float) -> np.ndarray:
    """Best rate index per frame: maximise sum(log_score) - penalty_per_bpm * sum|rate change|, |change| <= max_step."""
    frames, states = log_score.shape
    step = max(1, int(round(max_step_bpm / max(rates[1] - rates[0], 1e-9)))) if rates.size > 1 else 0
    shifts = np.arange(-step, step + 1)
    cost = penalty_per_bpm * np.abs(shifts) * (rates[1] - rates[0] if rates.size > 1 else 0.0)
    back = np.zeros((frames, states), dtype=np.int16)
    current = log_score[0].copy()
    for frame in range(1, frames):
        padded = np.concatenate((np.full(step, -np.inf), current, np.full(step, -np.inf)))
        # candidates[s, j]: arriving at state j from state j + shifts[s]
        candidates = np.lib.stride_tricks.sliding_window_view(padded, states)[::1] - cost[:, None]
        best = np.argmax(candidates, axis=0)
        back[frame] = shifts[best]
        current = candidates[best, np.arange(states)] + log_score[frame]
    path = np.empty(frames, dtype=np.int64)
    path[-1] = int(np.argmax(current))
    for frame in range(frames - 1, 0, -1):
        path[frame - 1] = path[frame] + back[frame, path[frame]]
    return path
