"""The summary on traces whose answer is known: FIGO features, what a record's length supports, the FIGO class."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr.summary import summarise

FS = 4.0


def trace(minutes: float, level: float = 142.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    t = np.arange(int(minutes * 60 * FS)) / FS
    return level + 4.0 * np.sin(2 * np.pi * t / 20.0) + rng.normal(0, 0.5, t.size)


def test_baseline_is_rounded_to_5_bpm_and_classified() -> None:
    summary = summarise(trace(20), FS)
    assert summary["baseline_bpm"] == 140
    assert summary["baseline_class"] == "normal"
    assert 5 <= summary["variability_bpm"] <= 12 and summary["variability_class"] == "normal"
    assert summary["accelerations"] == [] and summary["decelerations"] == []


def test_deceleration_and_acceleration_are_found_with_their_times() -> None:
    bpm = trace(20)
    bpm[int(300 * FS) : int(340 * FS)] -= 35.0  # 40-s deceleration at 5 min
    bpm[int(900 * FS) : int(920 * FS)] += 25.0  # 20-s acceleration at 15 min
    bpm[int(1000 * FS) : int(1010 * FS)] += 25.0  # 10 s: too short to count
    summary = summarise(bpm, FS)
    (decel,) = summary["decelerations"]
    assert abs(decel["start_s"] - 300) <= 3 and abs(decel["end_s"] - 340) <= 3
    assert decel["peak_delta_bpm"] > 30
    (accel,) = summary["accelerations"]
    assert abs(accel["start_s"] - 900) <= 3 and abs(accel["end_s"] - 920) <= 3
    assert summary["baseline_bpm"] == 140


def reasons(summary: dict) -> dict[str, str]:
    return {entry["item"]: entry["reason"] for entry in summary["not_assessed"]}


@pytest.mark.parametrize("minutes", [1.0, 9.9])
def test_a_record_under_ten_minutes_supports_no_figo_or_dawes_item(minutes: float) -> None:
    summary = summarise(trace(minutes), FS)
    figo_items = ("baseline_bpm", "variability_bpm", "accelerations", "decelerations")
    dawes_items = ("stv_ms", "ltv_ms", "high_variation_episodes", "low_variation_episodes")
    for item in figo_items + dawes_items + ("sinusoidal",):
        assert summary[item] is None, item
        assert reasons(summary)[item] == "insufficient_duration", item
    assert summary["baseline_class"] is None and summary["variability_class"] is None
    assert summary["figo"]["class"] is None and "insufficient_duration" in summary["figo"]["undecided"]


def test_ten_minutes_support_figo_features_but_not_a_sinusoidal_pattern() -> None:
    summary = summarise(trace(10.0), FS)
    assert summary["baseline_bpm"] == 140 and summary["accelerations"] == [] and summary["decelerations"] == []
    assert summary["sinusoidal"] is None and reasons(summary)["sinusoidal"] == "insufficient_duration"
    assert "baseline_bpm" not in reasons(summary)
    # Dawes-Redman items need beats: a trace alone has none
    assert summary["stv_ms"] is None and reasons(summary)["stv_ms"] == "signal_loss"


def test_uterine_activity_items_are_always_listed_as_not_assessed() -> None:
    for summary in (summarise(trace(1.0), FS), summarise(trace(40.0), FS)):
        assert reasons(summary)["deceleration_type"] == reasons(summary)["tachysystole"] == "needs_uterine_activity"


def test_signal_loss_is_measured_and_a_record_without_a_rate_has_no_baseline() -> None:
    bpm = trace(1)
    bpm[:60] = np.nan
    assert summarise(bpm, FS)["signal_loss_percent"] == 25.0
    lost = summarise(np.full(int(20 * 60 * FS), np.nan), FS)
    assert lost["baseline_bpm"] is None and reasons(lost)["baseline_bpm"] == "signal_loss"
    assert lost["signal_loss_percent"] == 100.0


def test_an_unstable_trace_has_an_indeterminate_baseline() -> None:
    t = np.arange(int(20 * 60 * FS)) / FS
    bpm = 140.0 + 20.0 * np.sign(np.sin(2 * np.pi * t / 90.0))  # jumps between 120 and 160 every 45 s
    summary = summarise(bpm, FS)
    assert summary["baseline_bpm"] is None and reasons(summary)["baseline_bpm"] == "indeterminate"


def test_events_span_onset_to_return_and_their_flanks_are_not_variability() -> None:
    """An acceleration ramping up over 15 s, 30 s at +30 bpm, ramping down over 15 s: counted from onset to return."""
    bpm = trace(10)
    t = np.arange(bpm.size) / FS
    bpm += 30.0 * np.clip(np.minimum((t - 20.0) / 15.0, (80.0 - t) / 15.0), 0.0, 1.0)
    summary = summarise(bpm, FS)
    (accel,) = summary["accelerations"]
    # Beyond +15 bpm it runs from 27.5 s to 72.5 s; it leaves the baseline at 20 s and is back at 80 s
    # (the 4-bpm wobble and the record's median reference blur the exact crossings by a few seconds).
    assert accel["start_s"] <= 25 and accel["end_s"] >= 73, accel
    assert 5 <= summary["variability_bpm"] <= 15, summary  # flanks counted as variability gave 22 bpm


def test_two_peaks_in_one_departure_from_baseline_are_one_event() -> None:
    bpm = trace(20)
    bpm[int(300 * FS) : int(320 * FS)] += 25.0
    bpm[int(320 * FS) : int(330 * FS)] += 12.0  # dips to +12, never back to baseline
    bpm[int(330 * FS) : int(350 * FS)] += 25.0
    (accel,) = summarise(bpm, FS)["accelerations"]
    assert abs(accel["start_s"] - 300) <= 3 and abs(accel["end_s"] - 350) <= 3


def test_dawes_items_from_beats_on_a_twelve_minute_record() -> None:
    """A steady 400-ms rhythm: every epoch 400 ms, so STV and LTV are 0 (under 3 ms: the warning) and
    every minute's range is under 30 ms: one low-variation episode over the whole record."""
    rr = np.full(int(12 * 60 / 0.4), 400.0)
    beats = 0.1 + np.concatenate(([0.0], np.cumsum(rr))) / 1000.0
    beats = beats[beats < 720.0]
    trusted = np.ones(beats.size - 1, dtype=bool)
    bpm = np.full(int(12 * 60 * FS), 150.0)
    summary = summarise(bpm, FS, beats, trusted)
    assert summary["stv_ms"] == pytest.approx(0.0, abs=1e-6) and summary["stv_warning"] is True
    assert summary["ltv_ms"] == pytest.approx(0.0, abs=1e-6)
    assert summary["high_variation_episodes"] == []
    (low,) = summary["low_variation_episodes"]
    assert (low["start_s"], low["end_s"]) == (0.0, 720.0)
    assert "stv_ms" not in reasons(summary)


def test_dawes_items_need_trusted_beats_over_half_the_minutes() -> None:
    beats = 0.1 + np.arange(int(4 * 60 / 0.4)) * 0.4  # beats for the first 4 of 12 minutes only
    summary = summarise(np.full(int(12 * 60 * FS), 150.0), FS, beats, np.ones(beats.size - 1, dtype=bool))
    assert summary["stv_ms"] is None and reasons(summary)["stv_ms"] == "signal_loss"
    assert summary["high_variation_episodes"] is None
