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


def viterbi(log_score: np.ndarray, rates: np.ndarray, *, penalty_per_bpm: float) -> np.ndarray:
    """Best rate index per frame: maximise sum(log_score) - penalty_per_bpm * sum|rate change|.

    With an L1 transition cost, the max over predecessors is a distance transform that two running
    maxima compute exactly (max over i <= j of V(i) + c*i, and over i >= j of V(i) - c*i), so a frame
    costs O(states) numpy work, not O(states^2). Backtracking recomputes one predecessor per frame.
    """
    frames, states = log_score.shape
    cost = penalty_per_bpm * (float(rates[1] - rates[0]) if rates.size > 1 else 0.0)
    ramp = cost * np.arange(states)
    values = np.empty((frames, states), dtype=np.float64)
    current = log_score[0].astype(np.float64)
    values[0] = current
    for frame in range(1, frames):
        rising = np.maximum.accumulate(current + ramp) - ramp
        falling = np.maximum.accumulate((current - ramp)[::-1])[::-1] + ramp
        current = np.maximum(rising, falling) + log_score[frame]
        values[frame] = current
    path = np.empty(frames, dtype=np.int64)
    state = int(np.argmax(current))
    path[-1] = state
    index = np.arange(states)
    for frame in range(frames - 1, 0, -1):
        state = int(np.argmax(values[frame - 1] - cost * np.abs(index - state)))
        path[frame - 1] = state
    return path
