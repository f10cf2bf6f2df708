"""Dawes-style variability on constructed beat series and epoch means whose answers are computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr import variability
from handlers.fhr.variability import Epochs


def beats_with_rr(rr_ms: list[float], first_s: float = 0.1) -> np.ndarray:
    return first_s + np.concatenate(([0.0], np.cumsum(rr_ms))) / 1000.0


def epochs_of(means: list[float]) -> Epochs:
    values = np.asarray(means, dtype=np.float64)
    return Epochs(mean_ms=values, coverage=np.where(np.isfinite(values), 1.0, 0.0))


def test_a_constant_rhythm_has_epochs_of_that_interval_and_no_variation() -> None:
    beats = beats_with_rr([400.0] * 300)  # 120 s at 150 bpm
    epochs = variability.epochs(beats, np.ones(beats.size - 1, dtype=bool), 120.0)
    assert epochs.mean_ms.size == 32 and np.allclose(epochs.mean_ms, 400.0)
    minutes = variability.minutes(epochs)
    assert np.allclose(minutes.stv_ms, 0.0, atol=1e-9) and np.allclose(minutes.ltv_ms, 0.0, atol=1e-9)
    assert minutes.valid_pairs.tolist() == [15, 15] and minutes.valid_epochs.tolist() == [16, 16]


def test_an_epoch_is_the_mean_of_the_intervals_ending_in_it() -> None:
    # first beat 0.1 s; intervals 1000, 1000, 1000 ms end at 1.1, 2.1, 3.1 s (epoch 0), then
    # 500 ms ones end at 3.6 (epoch 0), 4.1 ... 7.1 (epoch 1)
    beats = beats_with_rr([1000.0, 1000.0, 1000.0] + [500.0] * 8)
    epochs = variability.epochs(beats, np.ones(beats.size - 1, dtype=bool), 7.5)
    assert epochs.mean_ms[0] == pytest.approx((3 * 1000.0 + 500.0) / 4)
    assert epochs.mean_ms[1] == pytest.approx(500.0)
    assert epochs.coverage[0] == pytest.approx(3.5 / 3.75)


def test_untrusted_intervals_are_left_out_never_interpolated() -> None:
    beats = beats_with_rr([400.0, 400.0, 520.0] * 60)  # 79.2 s; every third interval a 520-ms outlier
    trusted = np.ones(beats.size - 1, dtype=bool)
    trusted[2::3] = False
    epochs = variability.epochs(beats, trusted, 75.0)
    # each epoch keeps only its 400-ms intervals (about 6 of its 8-9): exactly 400, never 440 or 520
    assert np.isfinite(epochs.mean_ms).all() and np.allclose(epochs.mean_ms, 400.0)
    assert ((epochs.coverage > 0.5) & (epochs.coverage < 0.8)).all()
    trusted[0::3] = False  # now one in three: about 1.2 s of each 3.75-s epoch is trusted
    epochs = variability.epochs(beats, trusted, 75.0)
    assert np.isnan(epochs.mean_ms).all() and (epochs.coverage < 0.5).all()


def test_no_beats_means_every_epoch_is_lost() -> None:
    epochs = variability.epochs(np.zeros(0), np.zeros(0, dtype=bool), 60.0)
    assert epochs.mean_ms.size == 16 and np.isnan(epochs.mean_ms).all()
    assert np.isnan(variability.minutes(epochs).stv_ms).all()


def test_minute_stv_is_the_mean_absolute_difference_of_successive_epochs() -> None:
    # 400, 410, 400, 410, ...: every step is 10 ms; ranges 10 ms
    alternating = [400.0, 410.0] * 8
    # a ramp 400, 402, ..., 430: every step 2 ms, range 30 ms
    ramp = [400.0 + 2.0 * k for k in range(16)]
    minutes = variability.minutes(epochs_of(alternating + ramp))
    assert minutes.stv_ms.tolist() == [10.0, 2.0]
    assert minutes.ltv_ms.tolist() == [10.0, 30.0]


def test_pairs_straddling_a_minute_boundary_do_not_count() -> None:
    means = [400.0] * 16 + [500.0] * 16  # the only change is between minute 0 and minute 1
    assert variability.minutes(epochs_of(means)).stv_ms.tolist() == [0.0, 0.0]


def test_a_minute_needs_ten_valid_epoch_pairs() -> None:
    # invalid epochs break pairs: 16 epochs with 6 invalid ones spread out leave 15 - 9 = 6 pairs
    means = [400.0, 404.0] * 8
    sparse = means.copy()
    for k in (1, 4, 7, 10, 13):
        sparse[k] = np.nan
    ten_pairs = means.copy()
    for k in (3, 9):
        ten_pairs[k] = np.nan  # kills pairs (2,3), (3,4), (8,9), (9,10): 11 pairs left
    minutes = variability.minutes(epochs_of(sparse + ten_pairs))
    assert minutes.valid_pairs.tolist() == [5, 11]
    assert np.isnan(minutes.stv_ms[0])
    assert minutes.stv_ms[1] == pytest.approx(4.0)


def test_a_minute_range_needs_ten_valid_epochs() -> None:
    means = [400.0 + k for k in range(16)]
    for k in range(7):  # 9 valid epochs left
        means[2 * k] = np.nan
    minutes = variability.minutes(epochs_of(means))
    assert minutes.valid_epochs.tolist() == [9] and np.isnan(minutes.ltv_ms[0])


def test_a_trailing_part_minute_is_not_a_minute() -> None:
    beats = beats_with_rr([400.0] * 220)  # 88 s
    minutes = variability.minutes(variability.epochs(beats, np.ones(beats.size - 1, dtype=bool), 88.1))
    assert minutes.stv_ms.size == 1


def test_record_mean_skips_invalid_and_excluded_minutes() -> None:
    values = np.array([4.0, np.nan, 6.0, 20.0])
    assert variability.record_mean(values) == pytest.approx(10.0)
    assert variability.record_mean(values, np.array([False, False, False, True])) == pytest.approx(5.0)
    assert variability.record_mean(np.array([np.nan])) is None


def test_implausible_intervals_are_a_missed_an_extra_and_a_misplaced_beat() -> None:
    rr = [430.0] * 40
    rr[10] = 860.0  # a missed beat
    rr[20:22] = [215.0, 215.0]  # an extra beat halving one interval
    rr[30:32] = [370.0, 490.0]  # a beat 60 ms early (14 %: still plausible)
    rr[35:37] = [350.0, 510.0]  # 80 ms early (19 %: not)
    ok = variability.plausible_intervals(beats_with_rr(rr))
    assert np.flatnonzero(~ok).tolist() == [10, 20, 21, 35, 36]


def test_a_rate_outside_the_range_is_implausible_even_when_steady() -> None:
    assert not variability.plausible_intervals(beats_with_rr([250.0] * 20)).any()  # 240 bpm
    assert variability.plausible_intervals(beats_with_rr([300.0] * 20)).all()  # 200 bpm


def test_episodes_of_high_and_low_variation_need_five_of_six_minutes() -> None:
    ltv = np.array([40.0, 40.0, 20.0, 40.0, 40.0, 40.0, 10.0, 10.0, 10.0, 10.0, 40.0, 10.0, 10.0, np.nan])
    (high,) = variability.variation_episodes(ltv, high=True)
    assert (high["start_s"], high["end_s"]) == (0.0, 360.0)  # minutes 0-5: five of six above 32 ms
    (low,) = variability.variation_episodes(ltv, high=False)
    # minutes 6-12: 6,7,8,9 low, 10 high, 11, 12 low: windows 6-11 and 7-12 qualify
    assert (low["start_s"], low["end_s"]) == (360.0, 780.0)
    assert variability.variation_episodes(ltv[:5], high=True) == []  # fewer than six minutes: none


def test_four_of_six_is_not_an_episode() -> None:
    ltv = np.array([40.0, 40.0, 20.0, 20.0, 40.0, 40.0, 20.0])
    assert variability.variation_episodes(ltv, high=True) == []
