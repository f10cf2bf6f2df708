"""The tracker's contract where the suite did not look: any rate grid, the start of a record, the dip's shape.

Written against the survivors of ``make mutants MODULE=fhr_tracking``: a continuity cost divided by the grid step
instead of multiplied (the same on today's 1-bpm grids, wrong on any other), a grid of one or two rates, the first
frame's evidence left out of the forward pass, and a maternal dip three times narrower than its ``width_bpm``;
each test here fails on one of them. Ground truth is exact: brute-force dynamic programming over the same scores,
or a constructed score whose best path is known.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from handlers.fhr import tracking


def brute_force_best(score: np.ndarray, rates: np.ndarray, penalty_per_bpm: float) -> float:
    """The best total of sum(score) - penalty * sum|rate change| over every path (O(states^2) per frame)."""
    transition = penalty_per_bpm * np.abs(rates[:, None] - rates[None, :])
    best = score[0].copy()
    for frame in range(1, score.shape[0]):
        best = (best[:, None] - transition).max(axis=0) + score[frame]
    return float(best.max())


def path_total(score: np.ndarray, rates: np.ndarray, path: np.ndarray, penalty_per_bpm: float) -> float:
    return float(score[np.arange(score.shape[0]), path].sum() - penalty_per_bpm * np.abs(np.diff(rates[path])).sum())


@pytest.mark.parametrize(("step", "states"), [(0.5, 41), (2.0, 31), (1.0, 2)])
def test_viterbi_is_optimal_on_any_rate_grid(step: float, states: int) -> None:
    """The cost is per bpm, whatever the grid's step (a 0.5-bpm grid for finer rates, a coarse one, two rates)."""
    rng = np.random.default_rng(11)
    rates = 120.0 + step * np.arange(states)
    score = np.log(rng.random((80, states)) + 0.01)
    penalty = 0.3
    path = tracking.viterbi(score, rates, penalty_per_bpm=penalty)
    assert path_total(score, rates, path, penalty) == pytest.approx(brute_force_best(score, rates, penalty), abs=1e-9)


def test_viterbi_on_a_single_rate_stays_on_it() -> None:
    path = tracking.viterbi(np.zeros((5, 1)), np.array([140.0]), penalty_per_bpm=0.5)
    assert path.tolist() == [0, 0, 0, 0, 0]


def test_the_first_frames_evidence_decides_an_ambiguous_start() -> None:
    """A record that starts clearly at 150 bpm, then is equally good at 130 and 150 for a while: the track stays
    at 150 (the first frame counts like every other), not at the first of the tied rates."""
    rates = np.arange(120.0, 161.0)
    score = np.full((6, rates.size), -5.0)
    score[0, 30] = 0.0  # 150 bpm, clearly
    score[1:, 10] = score[1:, 30] = 0.0  # then 130 and 150 alike
    path = rates[tracking.viterbi(score, rates, penalty_per_bpm=0.1)]
    assert path.tolist() == [150.0] * 6


def test_maternal_penalty_is_a_gaussian_dip_of_its_width() -> None:
    """One ``width_bpm`` from the maternal rate the dip is exp(-1/2) of its depth, two widths away exp(-2)."""
    rates = np.arange(70.0, 221.0)
    factor = tracking.maternal_penalty(rates, np.array([100.0]), depth=0.8, width_bpm=5.0)
    assert factor[0, 30] == pytest.approx(0.2)  # 100 bpm
    assert factor[0, 35] == pytest.approx(1.0 - 0.8 * math.exp(-0.5))  # 105 bpm
    assert factor[0, 20] == pytest.approx(1.0 - 0.8 * math.exp(-2.0))  # 90 bpm
