"""The served result carries the estimator's figures at the documented precision, nulls exactly where lost.

Written against the survivors of ``make mutants MODULE=fhr_result``: the shape test let a client receive rates
rounded to whole bpm, quality 0.1-coarse, trusted intervals served as null (and untrusted ones as numbers), a
maternal median off by its rounding and a lost-epoch share that says nothing; each test here fails on one of them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from handlers.fhr import estimate, estimator, variability
from handlers.fhr.readers import read_path


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


def test_minute_variability_is_served_at_its_documented_precision(a01) -> None:
    result, analysis = estimate(a01), estimator.analyse(a01)
    minutes = variability.minutes(variability.epochs(analysis.fetal_beats_s, analysis.fetal_rr_trusted, 60.0))
    part = result["variability"]
    assert part["minute_t0"] == 0.0 and part["epoch_s"] == variability.EPOCH_S
    assert np.isfinite(minutes.stv_ms).all() and np.isfinite(minutes.ltv_ms).all()
    assert part["stv_ms"] == [round(float(v), 2) for v in minutes.stv_ms]
    assert part["ltv_ms"] == [round(float(v), 1) for v in minutes.ltv_ms]


def test_lost_epochs_are_the_share_of_epochs_without_trusted_beats(served, doctored) -> None:
    result, analysis = served
    epochs = variability.epochs(analysis.fetal_beats_s, analysis.fetal_rr_trusted, doctored.duration_s)
    part = result["variability"]
    lost = round(100.0 * float(np.mean(~epochs.valid)), 2)
    assert 15.0 < lost < 60.0  # 15 s of 60 lost, and the epochs around them
    assert part["lost_epochs_percent"] == lost
