"""FIGO 2015 classification rules, one feature at a time, and the sinusoidal-pattern flag on constructed traces."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr.figo import Features, classify
from handlers.fhr.summary import summarise

NORMAL = Features(
    baseline_bpm=140.0,
    variability_bpm=10.0,
    reduced_variability_s=0.0,
    increased_variability_s=0.0,
    deceleration_durations_s=(),
    sinusoidal=False,
)


def with_(**changes) -> Features:
    return Features(**{**NORMAL.__dict__, **changes})


def test_normal_needs_every_characteristic_of_normality() -> None:
    result = classify(NORMAL)
    assert result["class"] == "normal" and result["undecided"] is None
    assert "no decelerations" in result["reasons"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"baseline_bpm": 105.0}, "suspicious"),  # 100-110: not normal, not pathological
        ({"baseline_bpm": 170.0}, "suspicious"),  # tachycardia
        ({"baseline_bpm": 95.0}, "pathological"),  # < 100
        ({"baseline_bpm": 110.0}, "normal"),  # the band's edges are normal
        ({"baseline_bpm": 160.0}, "normal"),
        ({"variability_bpm": 4.0, "reduced_variability_s": 20 * 60.0}, "suspicious"),  # low, not for 50 min
        ({"variability_bpm": 4.0, "reduced_variability_s": 51 * 60.0}, "pathological"),
        ({"variability_bpm": 4.0, "reduced_variability_s": 50 * 60.0}, "suspicious"),  # "more than 50 min"
        ({"variability_bpm": 27.0, "increased_variability_s": 31 * 60.0}, "pathological"),
        ({"variability_bpm": 27.0, "increased_variability_s": 10 * 60.0}, "suspicious"),
        ({"sinusoidal": True}, "pathological"),
        ({"sinusoidal": None}, "normal"),  # a record too short for the pattern cannot show it
        ({"deceleration_durations_s": (6 * 60.0,)}, "pathological"),  # one prolonged deceleration > 5 min
    ],
)
def test_each_rule(changes: dict, expected: str) -> None:
    assert classify(with_(**changes))["class"] == expected


def test_decelerations_without_contractions_leave_the_class_undecided() -> None:
    result = classify(with_(deceleration_durations_s=(40.0, 90.0)))
    assert result["class"] is None
    assert "uterine activity" in result["undecided"]
    assert "2 deceleration(s), none longer than 5 min" in result["reasons"]


def test_a_pathological_feature_decides_even_with_untyped_decelerations() -> None:
    result = classify(with_(baseline_bpm=90.0, deceleration_durations_s=(40.0,)))
    assert result["class"] == "pathological" and result["undecided"] is None


def test_unassessed_features_give_no_class() -> None:
    assert classify(with_(baseline_bpm=None))["class"] is None
    assert classify(with_(deceleration_durations_s=None))["class"] is None


FS = 4.0


def long_trace(minutes: float, sine_bpm: float = 0.0, cpm: float = 4.0, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(minutes * 60 * FS)) / FS
    # normal variability: a few bpm of smoothed noise around 140 bpm
    wander = np.convolve(rng.normal(0, 3.0, t.size), np.ones(8) / 8, "same") * 2.0
    return 140.0 + wander + sine_bpm / 2.0 * np.sin(2 * np.pi * cpm / 60.0 * t)


def test_a_sinusoidal_pattern_of_more_than_30_min_is_flagged_and_pathological() -> None:
    summary = summarise(long_trace(40, sine_bpm=10.0), FS)  # 10 bpm peak to trough, 4 cycles/min
    assert summary["sinusoidal"] is True
    assert summary["figo"]["class"] == "pathological"
    assert any("sinusoidal" in reason for reason in summary["figo"]["reasons"])


@pytest.mark.parametrize(
    ("sine_bpm", "cpm"),
    [(0.0, 4.0), (10.0, 1.5), (30.0, 4.0), (2.0, 4.0)],
    ids=["no sine", "too slow", "too large", "too small"],
)
def test_no_sinusoidal_flag_outside_the_definition(sine_bpm: float, cpm: float) -> None:
    assert summarise(long_trace(40, sine_bpm=sine_bpm, cpm=cpm), FS)["sinusoidal"] is False


def test_a_sinusoid_lasting_under_30_min_is_not_the_pattern() -> None:
    bpm = long_trace(40)
    bpm[: int(25 * 60 * FS)] += 5.0 * np.sin(2 * np.pi * 4.0 / 60.0 * np.arange(int(25 * 60 * FS)) / FS)
    assert summarise(bpm, FS)["sinusoidal"] is False


def test_a_normal_forty_minute_trace_is_figo_normal() -> None:
    summary = summarise(long_trace(40), FS)
    assert summary["baseline_bpm"] == 140 and summary["decelerations"] == []
    assert summary["figo"]["class"] == "normal", summary["figo"]
