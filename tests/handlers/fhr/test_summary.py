"""FIGO-style summary on traces whose answer is known."""

from __future__ import annotations

import numpy as np

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
    assert summary["baseline_method"] == "stable 10-min segments"
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


def test_signal_loss_and_short_records() -> None:
    bpm = trace(1)
    bpm[:60] = np.nan
    summary = summarise(bpm, FS)
    assert summary["signal_loss_percent"] == 25.0
    assert summary["baseline_method"].startswith("whole record")
    assert summarise(np.full(240, np.nan), FS)["baseline_bpm"] is None
