"""Against synthetic records with known truth (handlers.fhr.synth), at the goal's SNR of 0 dB."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr import estimator
from handlers.fhr.synth import synthesize


@pytest.mark.parametrize("seed", [1, 2])
def test_mean_absolute_error_at_zero_db_snr(seed: int) -> None:
    record, truth = synthesize(3.0, 4, 1000.0, seed, snr_db=0.0)
    analysis = estimator.analyse(record)
    expected = np.asarray(truth.fhr_bpm)[: analysis.fhr_bpm.size]
    both = np.isfinite(analysis.fhr_bpm) & np.isfinite(expected)
    assert both.mean() > 0.95
    assert float(np.mean(np.abs(analysis.fhr_bpm[both] - expected[both]))) <= 2.5
    maternal = np.asarray(truth.mhr_bpm)[: analysis.mhr_bpm.size]
    assert float(np.nanmean(np.abs(analysis.mhr_bpm - maternal))) <= 2.0


def test_signal_loss_segment_gives_nulls() -> None:
    record, truth = synthesize(4.0, 4, 1000.0, 1, snr_db=6.0, signal_loss=1, with_events=False)  # loss at ~97-102 s
    analysis = estimator.analyse(record)
    (loss,) = truth.signal_loss
    t = analysis.grid_s
    inside = (t > loss.start_s + 1.5) & (t < loss.end_s - 1.5)
    assert inside.any()
    assert np.isnan(analysis.fhr_bpm[inside]).all()
    # Beat chains resume after the gap and keep what came before it (a regression: they once kept
    # only the part after the last gap, losing the mother before it and then tracking her as the fetus).
    before = (t > 5.0) & (t < loss.start_s - 3.0)
    after = (t > loss.end_s + 3.0) & (t < t[-1] - 5.0)
    for part in (before, after):
        assert np.isfinite(analysis.mhr_bpm[part]).mean() > 0.9
        expected = np.asarray(truth.fhr_bpm)[: t.size][part]
        assert float(np.nanmean(np.abs(analysis.fhr_bpm[part] - expected))) < 3.0


def test_summary_of_the_estimate_matches_the_summary_of_the_truth() -> None:
    from handlers.fhr import estimate
    from handlers.fhr.summary import summarise

    record, truth = synthesize(12.0, 4, 1000.0, 1, snr_db=3.0)
    estimated = estimate(record)["summary"]
    true = summarise(np.asarray(truth.fhr_bpm), 4.0)
    assert abs(estimated["baseline_bpm"] - true["baseline_bpm"]) <= 5
    assert len(true["decelerations"]) >= 2
    assert len(estimated["decelerations"]) == len(true["decelerations"])
    for mine, theirs in zip(estimated["decelerations"], true["decelerations"], strict=True):
        assert abs(mine["start_s"] - theirs["start_s"]) <= 5 and abs(mine["end_s"] - theirs["end_s"]) <= 5
