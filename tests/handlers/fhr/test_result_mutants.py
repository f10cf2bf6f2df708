"""The served result carries the estimator's figures at the documented precision, nulls exactly where lost.

Written against the survivors of ``make mutants MODULE=fhr_result``: the shape test let a client receive rates
rounded to whole bpm, quality 0.1-coarse, trusted intervals served as null (and untrusted ones as numbers), a
maternal median off by its rounding and a lost-epoch share that says nothing; each test here fails on one of them.
The second round (the odd-rate record, the record without beats, the clipped quality) answers the survivors that
only a record whose figures are not already round could show: a 300 Hz record's duration, beat times and maternal
median have more decimals than served, and 19 epochs make a lost share with more than two.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from handlers.fhr import estimate, estimator, result, variability
from handlers.fhr.readers import read_path
from handlers.fhr.synth import synthesize


@pytest.fixture(scope="module")
def a01(set_a_dir):
    return read_path(set_a_dir / "a01.hea")


@pytest.fixture(scope="module")
def doctored(a01):
    """a01 with every channel lost for 15 s and its last sample cut: nulls, untrusted beats, a ragged length."""
    signals = a01.signals[:-1].copy()
    signals[20_000:35_000, :] = np.nan
    return type(a01)(signals, a01.fs, a01.channels, a01.source, a01.format)


@pytest.fixture(scope="module")
def served(doctored):
    """What a client receives (through JSON) and what the estimator found, for the same record."""
    return json.loads(json.dumps(estimate(doctored))), estimator.analyse(doctored)


@pytest.mark.parametrize("part", ["fhr", "mhr"])
def test_traces_are_the_estimates_to_a_tenth_of_a_bpm_and_null_where_lost(served, part) -> None:
    result, analysis = served
    bpm = getattr(analysis, f"{part}_bpm")
    quality = getattr(analysis, f"{part}_quality")
    lost = ~np.isfinite(bpm)
    assert lost.any() and not lost.all()
    trace = result[part]
    assert [v is None for v in trace["bpm"]] == lost.tolist()
    for value, expected in zip(trace["bpm"], bpm, strict=True):
        assert value is None or value == round(float(expected), 1)
    expected_q = np.where(lost, 0.0, np.round(np.clip(quality, 0.0, 1.0), 2))
    assert trace["quality"] == expected_q.tolist()


def test_record_duration_is_served_to_the_millisecond(served) -> None:
    assert served[0]["record"]["duration_s"] == 59.999


def test_maternal_median_is_the_median_of_the_maternal_rate(served) -> None:
    result, analysis = served
    mhr = analysis.mhr_bpm[np.isfinite(analysis.mhr_bpm)]
    assert result["summary"]["mhr_median_bpm"] == round(float(np.median(mhr)), 1)


def test_rr_intervals_are_null_exactly_where_untrusted(served) -> None:
    result, analysis = served
    beats = result["beats"]
    trusted = np.asarray(analysis.fetal_rr_trusted, dtype=bool)
    assert trusted.any() and not trusted.all()
    assert [rr is not None for rr in beats["rr_ms"]] == trusted.tolist()
    gaps = np.diff(np.asarray(analysis.fetal_beats_s))
    for rr, gap, ok in zip(beats["rr_ms"], gaps, trusted, strict=True):
        assert not ok or rr == round(1000.0 * gap)
    assert beats["trusted_rr_percent"] == round(100.0 * trusted.mean(), 2)
    assert beats["fqrs_s"] == np.round(analysis.fetal_beats_s, 3).tolist()
    assert beats["mqrs_s"] == np.round(analysis.maternal_beats_s, 3).tolist()


def test_minute_variability_is_served_at_its_documented_precision(set_a_dir) -> None:
    """a01's one minute has an LTV of exactly 88.9 ms, which any rounding serves alike; a03 and a05 do not."""
    ltv_digits_seen = False
    for name in ("a01", "a03", "a05"):
        record = read_path(set_a_dir / f"{name}.hea")
        served_result, analysis = estimate(record), estimator.analyse(record)
        minutes = variability.minutes(variability.epochs(analysis.fetal_beats_s, analysis.fetal_rr_trusted, 60.0))
        part = served_result["variability"]
        assert part["minute_t0"] == 0.0 and part["epoch_s"] == variability.EPOCH_S
        assert np.isfinite(minutes.stv_ms).all() and np.isfinite(minutes.ltv_ms).all()
        assert part["stv_ms"] == [round(float(v), 2) for v in minutes.stv_ms]
        assert part["ltv_ms"] == [round(float(v), 1) for v in minutes.ltv_ms]
        ltv_digits_seen |= any(round(float(v), 1) != round(float(v), 2) for v in minutes.ltv_ms)
    assert ltv_digits_seen, "no LTV here has a second decimal: the test could not tell 0.1 ms from 0.01 ms"


def test_lost_epochs_are_the_share_of_epochs_without_trusted_beats(served, doctored) -> None:
    result, analysis = served
    epochs = variability.epochs(analysis.fetal_beats_s, analysis.fetal_rr_trusted, doctored.duration_s)
    part = result["variability"]
    lost = round(100.0 * float(np.mean(~epochs.valid)), 2)
    assert 15.0 < lost < 60.0  # 15 s of 60 lost, and the epochs around them
    assert part["lost_epochs_percent"] == lost


@pytest.fixture(scope="module")
def odd_rate():
    """A generated 300 Hz record (known maternal rate) of 70 s less one sample, with 15 s lost in the middle:
    its duration (69.99667 s), maternal beat times (n / 300 s) and lost share (of 19 epochs) all have more
    decimals than the result serves, so a changed rounding shows."""
    record, truth = synthesize(70 / 60, 4, 300.0, 1, snr_db=6.0, with_events=False)
    signals = record.signals[:-1].copy()
    signals[6_000:10_500, :] = np.nan
    record = type(record)(signals, record.fs, record.channels, record.source, record.format)
    return json.loads(json.dumps(estimate(record))), estimator.analyse(record), record, truth


def test_an_odd_rate_records_duration_is_served_to_the_millisecond(odd_rate) -> None:
    served_result, _, record, _ = odd_rate
    assert record.duration_s == 20_999 / 300
    assert served_result["record"]["duration_s"] == 69.997


def test_maternal_beats_at_an_odd_working_rate_are_served_to_the_millisecond(odd_rate) -> None:
    served_result, analysis, _, _ = odd_rate
    maternal = np.asarray(analysis.maternal_beats_s)
    assert (np.round(maternal, 4) != np.round(maternal, 3)).any(), "beat times already on the ms: nothing to see"
    assert served_result["beats"]["mqrs_s"] == np.round(maternal, 3).tolist()


def test_maternal_median_is_served_to_a_tenth_of_a_bpm_and_near_the_known_rate(odd_rate) -> None:
    served_result, analysis, _, truth = odd_rate
    median = float(np.median(analysis.mhr_bpm[np.isfinite(analysis.mhr_bpm)]))
    assert len({round(median, 0), round(median, 1), round(median, 2)}) == 3, median  # each rounding differs
    served_median = served_result["summary"]["mhr_median_bpm"]
    assert served_median == round(median, 1)
    assert abs(served_median - float(np.median(truth.mhr_bpm))) <= 0.5  # measured: 73.2 against 73.17


def test_lost_epochs_share_is_served_to_a_hundredth_of_a_percent(odd_rate) -> None:
    served_result, analysis, record, _ = odd_rate
    epochs = variability.epochs(analysis.fetal_beats_s, analysis.fetal_rr_trusted, record.duration_s)
    assert epochs.valid.size == 19
    lost = 100.0 * float(np.mean(~epochs.valid))
    assert round(lost, 2) != round(lost, 3) and 15.0 < lost < 40.0  # 15 s of 70 lost (measured 26.32 %)
    assert served_result["variability"]["lost_epochs_percent"] == round(lost, 2)


def test_no_reported_beat_means_no_trusted_interval(a01) -> None:
    """Without beat refinement no fetal beat is reported: no interval, and 0 % of them trusted (not 1, not -1)."""
    beats = json.loads(json.dumps(estimate(a01, {"refine": False})))["beats"]
    assert beats["fqrs_s"] == [] and beats["rr_ms"] == []
    assert beats["trusted_rr_percent"] == 0.0


def test_served_quality_stays_within_zero_and_one_whatever_a_stage_hands_it() -> None:
    """The schema promises 0..1: a quality index out of range from any stage is clipped, 0 where bpm is null."""
    trace = result.trace(np.array([140.04, 141.0, np.nan, 139.96]), np.array([-0.3, 1.7, 0.9, 0.456]))
    assert trace["bpm"] == [140.0, 141.0, None, 140.0]
    assert trace["quality"] == [0.0, 1.0, 0.0, 0.46]
