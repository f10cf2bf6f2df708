"""The challenge-2013 scoring, checked against cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr import scoring


def regular_beats(rr_s: float, duration_s: float = 60.0, first_s: float = 0.2) -> np.ndarray:
    return np.arange(first_s, duration_s, rr_s)


def test_window_starts_give_sixteen_windows_for_a_minute() -> None:
    starts = scoring.window_starts(60.0)
    # 18 windows end strictly before 60 s (starts 0..51); first and last dropped.
    assert starts.tolist() == [float(s) for s in range(3, 49, 3)]
    assert starts.size == 16


def test_ipfm_counts_the_fractions_of_cut_intervals() -> None:
    beats = np.array([0.0, 1.0, 3.0])
    # [0.5, 1] of the 1-s interval = 0.5; [1, 2.5] of the 2-s interval = 0.75.
    assert scoring.ipfm_count(beats, 0.5, 2.5) == pytest.approx(1.25)


@pytest.mark.parametrize("rr_s", [0.4, 0.37, 0.5])
def test_regular_reference_is_exactly_sixty_over_rr(rr_s: float) -> None:
    starts, reference = scoring.reference_fhr(regular_beats(rr_s), 60.0)
    assert starts.size == 16
    np.testing.assert_allclose(reference, 60.0 / rr_s, rtol=1e-12)


def test_window_with_a_reference_gap_is_dropped() -> None:
    beats = regular_beats(0.4)
    beats = beats[np.abs(beats - 31.4) > 0.1]  # one beat missing: an 0.8-s interval 31.0-31.8 s
    starts, _ = scoring.reference_fhr(beats, 60.0)
    assert starts.size == 16 - 2  # only the windows starting at 27 and 30 hold the gap
    assert 27.0 not in starts and 30.0 not in starts and 24.0 in starts and 33.0 in starts


def test_window_not_spanned_by_reference_beats_is_dropped() -> None:
    beats = regular_beats(0.4, first_s=10.0)
    starts, _ = scoring.reference_fhr(beats, 60.0)
    assert starts.min() == 12.0


def test_perfect_trace_scores_zero_and_constant_offset_scores_its_square() -> None:
    beats = regular_beats(0.4)
    perfect = scoring.score_record("x", beats, 60.0, np.full(240, 150.0))
    assert perfect.mse == pytest.approx(0.0, abs=1e-9)
    off = scoring.score_record("x", beats, 60.0, np.full(240, 146.0))
    assert off.mse == pytest.approx(16.0)
    assert off.mae == pytest.approx(4.0)
    assert off.within_5 == 1.0 and off.within_10 == 1.0 and off.coverage == 1.0


def test_missing_output_counts_as_zero_bpm() -> None:
    beats = regular_beats(0.4)
    trace = np.full(240, 150.0)
    trace[int(3 * 4) : int(9 * 4)] = np.nan  # the whole first kept window [3, 9) has no value
    score = scoring.score_record("x", beats, 60.0, trace)
    assert score.test_bpm[0] is None
    assert score.mse == pytest.approx(150.0**2 / 16)
    assert score.coverage == pytest.approx(15 / 16)


def test_test_value_is_the_mean_of_valid_samples_inside_the_window() -> None:
    starts = np.array([3.0])
    trace = np.full(240, np.nan)
    trace[12:18] = 140.0  # 3.0-4.25 s
    trace[18:24] = 160.0  # 4.5-5.75 s
    trace[36] = 999.0  # 9.0 s: outside [3, 9)
    assert scoring.trace_window_means(trace, 0.0, 4.0, starts)[0] == pytest.approx(150.0)


def test_maternal_confusion_is_counted() -> None:
    beats = regular_beats(0.4)  # 150 bpm
    trace = np.full(240, 90.0)  # the estimate sits on the mother
    score = scoring.score_record("x", beats, 60.0, trace, mhr_bpm=np.full(240, 92.0))
    assert score.confusion == 16
    fine = scoring.score_record("x", beats, 60.0, np.full(240, 150.0), mhr_bpm=np.full(240, 92.0))
    assert fine.confusion == 0


def test_set_score_is_the_mean_of_record_scores() -> None:
    beats = regular_beats(0.4)
    a = scoring.score_record("a", beats, 60.0, np.full(240, 150.0))
    b = scoring.score_record("b", beats, 60.0, np.full(240, 140.0))
    total = scoring.score_set([a, b])
    assert total.score == pytest.approx(50.0)
    assert total.windows == 32
    assert total.within_5 == pytest.approx(0.5)
    assert total.mae == pytest.approx(5.0)


def test_record_ranges_parse() -> None:
    assert scoring.parse_record_range("a01-a03,a10") == ["a01", "a02", "a03", "a10"]
    assert len(scoring.parse_record_range("a01-a40")) == 40


def test_reference_beats_read_from_derived_text(set_a_dir) -> None:
    beats = scoring.read_reference_beats(set_a_dir, "a01")
    assert beats[0] == pytest.approx(0.355)
    assert 100 < beats.size < 200


def test_beat_matching_follows_bxb_compare() -> None:
    reference = np.array([1.0, 1.4, 1.8, 2.2, 2.6])
    # 1.0 exact, 1.43 within 50 ms, 1.86 just outside, two detections near 2.2 (one counts), none at 2.6
    test = np.array([1.0, 1.43, 1.86, 2.19, 2.21])
    tp, fp, fn = scoring.match_beats(reference, test)
    assert (tp, fp, fn) == (3, 2, 2)
    assert scoring.f1_score(tp, fp, fn) == pytest.approx(6 / 10)
    assert scoring.match_beats(reference, np.zeros(0)) == (0, 0, 5)


def test_rr_errors_use_the_test_interval_in_effect_and_skip_untrusted_ones() -> None:
    reference = regular_beats(0.4, duration_s=10.0)
    test = reference + 0.002 * (np.arange(reference.size) % 2)  # every other beat 2 ms late
    trusted = np.ones(test.size - 1, dtype=bool)
    errors, intervals = scoring.rr_errors_ms(reference, test, trusted)
    assert intervals == reference.size - 1
    assert np.allclose(np.abs(errors), 2.0)  # +2, -2, +2, ...
    trusted[5:10] = False
    errors, _ = scoring.rr_errors_ms(reference, test, trusted)
    assert errors.size == intervals - 5


def test_a_missed_beat_costs_an_rr_error_only_in_the_strict_reading() -> None:
    reference = regular_beats(0.4, duration_s=10.0)
    test = np.delete(reference, 12)  # one missed beat: an 800-ms interval, implausible, so untrusted
    from handlers.fhr.variability import plausible_intervals

    trusted = plausible_intervals(test)
    errors, _ = scoring.rr_errors_ms(reference, test, trusted)
    assert np.allclose(errors, 0.0)  # the two reference intervals it spans are not covered
    strict, _ = scoring.rr_errors_ms(reference, test, trusted, strict=True)
    assert strict.max() == pytest.approx(400.0)


def test_score_beats_compares_minute_stv_by_the_same_definition() -> None:
    reference = regular_beats(0.4, duration_s=60.0)
    score = scoring.score_beats("x", reference, 60.0, reference, np.ones(reference.size - 1, dtype=bool))
    assert score.f1 == score.f1_in_span == 1.0 and score.rr_rmse_ms == 0.0 and score.rr_coverage == 1.0
    assert score.stv_reference_ms == score.stv_test_ms and len(score.stv_test_ms) == 1


def test_beats_outside_the_reference_span_count_only_in_the_plain_f1() -> None:
    reference = regular_beats(0.4, duration_s=60.0, first_s=2.0)  # annotation starts 2 s in
    test = regular_beats(0.4, duration_s=60.0, first_s=0.4)
    score = scoring.score_beats("x", reference, 60.0, test, np.ones(test.size - 1, dtype=bool))
    assert score.fp == 4 and score.f1 < 1.0 and score.f1_in_span == 1.0
