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

    With an L1 transition cost, the max over predecessors is a distance transform that running
    maxima compute exactly: max over i <= j of V(i) - c(j - i), and the same on the reversed row
    (which has the same form), so both directions are one ``maximum.accumulate`` over a (2, states)
    buffer and a frame costs six small numpy calls, not O(states^2) work. Backtracking recomputes one
    predecessor per frame.
    """
    frames, states = log_score.shape
    cost = penalty_per_bpm * (float(rates[1] - rates[0]) if rates.size > 1 else 0.0)
    ramp = cost * np.arange(states)
    values = np.array(log_score, dtype=np.float64)
    pair = np.empty((2, states), dtype=np.float64)
    best = np.empty(states, dtype=np.float64)
    for frame in range(1, frames):
        previous = values[frame - 1]
        np.add(previous, ramp, out=pair[0])
        np.add(previous[::-1], ramp, out=pair[1])
        np.maximum.accumulate(pair, axis=1, out=pair)
        pair -= ramp
        np.maximum(pair[0], pair[1, ::-1], out=best)
        values[frame] += best
    return _backtrack(values, ramp)


def _backtrack(values: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """The best path through the forward values: per frame, one subtraction of a precomputed row of
    transition costs and one argmax."""
    frames, states = values.shape
    transition = np.abs(ramp[:, None] - ramp[None, :])  # cost of moving from state i to state j
    path = np.empty(frames, dtype=np.int64)
    state = int(np.argmax(values[-1]))
    path[-1] = state
    for frame in range(frames - 1, 0, -1):
        state = int(np.argmax(values[frame - 1] - transition[state]))
        path[frame - 1] = state
    return path
