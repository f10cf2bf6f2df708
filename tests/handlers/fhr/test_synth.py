"""The synthetic generator: deterministic, its truth consistent with its signals, its SNR as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handlers.fhr.synth import InvalidSynthParameters, Truth, synthesize, synthesize_components
from handlers.fhr.writers import truth_json

TEN_MINUTES = {"minutes": 10, "channels": 4, "fs": 500.0}


@pytest.fixture(scope="module")
def ten_minutes() -> tuple:
    """One 10-minute record split into components (long enough for every kind of event)."""
    return synthesize_components(**TEN_MINUTES, seed=11, snr_db=0.0)


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def test_same_seed_gives_the_same_record_and_truth() -> None:
    first, truth_a = synthesize(2, 3, 500.0, seed=7, signal_loss=1, motion_artefacts=2)
    second, truth_b = synthesize(2, 3, 500.0, seed=7, signal_loss=1, motion_artefacts=2)
    other, truth_c = synthesize(2, 3, 500.0, seed=8, signal_loss=1, motion_artefacts=2)
    assert np.array_equal(first.signals, second.signals, equal_nan=True)
    assert truth_json(truth_a) == truth_json(truth_b)
    assert not np.array_equal(first.signals, other.signals, equal_nan=True)
    assert truth_json(truth_a) != truth_json(truth_c)


def test_record_shape_units_and_names() -> None:
    record, truth = synthesize(0.5, 5, 250.0, seed=1)
    assert record.signals.shape == (7500, 5) and record.signals.dtype == np.float32
    assert record.fs == 250.0 and record.units == "uV"
    assert record.channels == truth.channels == ("AECG1", "AECG2", "AECG3", "AECG4", "AECG5")
    assert truth.fhr_bpm.size == truth.mhr_bpm.size == 30 * 4  # rates at k/4 s for k/4 in [0, 30)
    assert np.all(np.isfinite(record.signals))


def rate_over_intervals(truth: Truth, beats: np.ndarray, bpm: np.ndarray) -> np.ndarray:
    """Mean of the 4 Hz truth rate over each RR interval (the rate interpolated at every sample)."""
    samples = np.arange(truth.n_samples) / truth.fs
    cumulative = np.concatenate(([0.0], np.cumsum(np.interp(samples, truth.rate_times, bpm))))
    return (cumulative[beats[1:]] - cumulative[beats[:-1]]) / np.diff(beats)


@pytest.mark.parametrize("source", ["fetal", "maternal"])
def test_beat_times_give_the_truth_rate(source: str) -> None:
    """60 / RR of the truth beats equals the truth rate averaged over that RR (the IPFM contract)."""
    _, truth = synthesize(6, 1, 1000.0, seed=5, snr_db=None)
    beats = truth.fetal_beats if source == "fetal" else truth.maternal_beats
    bpm = truth.fhr_bpm if source == "fetal" else truth.mhr_bpm
    rr = np.diff(beats)
    from_beats = 60.0 * truth.fs / rr
    expected = rate_over_intervals(truth, beats, bpm)
    # Beat times round to the nearest sample, so an RR may be off by one sample (0.3-0.6 bpm here).
    one_sample = 60.0 * truth.fs / (rr - 1) - from_beats
    assert np.all(np.abs(from_beats - expected) <= one_sample + 0.02)
    assert len(beats) == pytest.approx(np.mean(bpm) / 60 * truth.duration_s, abs=2)


def test_rates_are_physiological_and_variable(ten_minutes: tuple) -> None:
    _, truth = ten_minutes
    assert 110 <= truth.fhr_baseline_bpm <= 160
    assert 60 <= truth.mhr_baseline_bpm <= 100
    quiet = np.ones(truth.fhr_bpm.size, dtype=bool)
    for event in truth.events:
        quiet &= ~((truth.rate_times >= event.start_s) & (truth.rate_times <= event.end_s))
    for crossing in truth.crossings:
        quiet &= ~((truth.rate_times >= crossing.start_s) & (truth.rate_times <= crossing.end_s))
    assert np.all((truth.fhr_bpm[quiet] > 110) & (truth.fhr_bpm[quiet] < 170))
    assert np.all((truth.mhr_bpm[quiet] > 55) & (truth.mhr_bpm[quiet] < 105))
    rr_ms = np.diff(truth.fetal_beats) / truth.fs * 1000
    assert np.std(np.diff(rr_ms)) > 1.0  # beat-to-beat variability, not a metronome
    assert 3.0 < np.std(truth.fhr_bpm[quiet]) < 15.0  # FIGO 'normal' long-term variability


def test_accelerations_decelerations_and_crossings_are_present(ten_minutes: tuple) -> None:
    _, truth = ten_minutes
    kinds = {event.kind for event in truth.events}
    assert kinds == {"acceleration", "deceleration"}
    assert truth.crossings
    for event in truth.events:
        centre = (truth.rate_times >= event.start_s + 0.3 * (event.end_s - event.start_s)) & (
            truth.rate_times <= event.end_s - 0.3 * (event.end_s - event.start_s)
        )
        shift = np.mean(truth.fhr_bpm[centre]) - truth.fhr_baseline_bpm
        assert event.end_s - event.start_s >= 15.0
        if event.kind == "acceleration":
            assert shift > 10.0
        else:
            assert shift < -10.0


def test_fetal_rate_crosses_the_maternal_rate_inside_each_crossing(ten_minutes: tuple) -> None:
    _, truth = ten_minutes
    difference = truth.fhr_bpm - truth.mhr_bpm
    for crossing in truth.crossings:
        inside = (truth.rate_times >= crossing.start_s) & (truth.rate_times <= crossing.end_s)
        assert difference[inside][0] > 0 and difference[inside][-1] > 0
        assert difference[inside].min() < -5.0  # the fetal rate really goes below the maternal one
        assert np.max(truth.mhr_bpm[inside]) > 100.0
    elsewhere = np.ones(truth.fhr_bpm.size, dtype=bool)
    for crossing in truth.crossings:
        elsewhere &= (truth.rate_times < crossing.start_s) | (truth.rate_times > crossing.end_s)
    assert np.all(difference[elsewhere] > 0)


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 12.0])
def test_snr_is_fetal_power_over_total_noise_power(snr_db: float) -> None:
    components, truth = synthesize_components(1, 4, 500.0, seed=3, snr_db=snr_db, motion_artefacts=2)
    measured = 10 * np.log10(power(components.fetal) / power(components.noise_total()))
    assert measured == pytest.approx(snr_db, abs=0.01)
    assert set(components.noise) == {"wander", "powerline", "emg", "motion"}
    assert truth.powers_uv2["noise"] == pytest.approx(power(components.noise_total()), rel=1e-6)


def test_snr_scales_the_noise_and_nothing_else() -> None:
    """Same seed, 6 dB apart: identical ECG, noise exactly half the amplitude."""
    loud, _ = synthesize_components(1, 2, 500.0, seed=4, snr_db=0.0)
    quiet, _ = synthesize_components(1, 2, 500.0, seed=4, snr_db=6.0)
    assert np.array_equal(loud.fetal, quiet.fetal) and np.array_equal(loud.maternal, quiet.maternal)
    ratio = quiet.noise_total() / np.where(loud.noise_total() == 0, 1, loud.noise_total())
    assert np.median(ratio) == pytest.approx(10 ** (-6 / 20), rel=1e-3)


def test_record_is_the_sum_of_its_components() -> None:
    record, record_truth = synthesize(1, 3, 500.0, seed=9, snr_db=3.0, signal_loss=1, motion_artefacts=1)
    components, truth = synthesize_components(1, 3, 500.0, seed=9, snr_db=3.0, signal_loss=1, motion_artefacts=1)
    assert truth_json(record_truth) == truth_json(truth)
    expected = components.maternal + components.fetal + components.noise_total()
    lost = np.zeros(truth.n_samples, dtype=bool)
    for segment in truth.signal_loss:
        lost[int(segment.start_s * truth.fs) : int(segment.end_s * truth.fs)] = True
    assert lost.any() and np.all(np.isnan(record.signals[lost]))
    assert np.allclose(record.signals[~lost], expected[~lost], atol=1e-3)


def test_noise_components_have_their_spectra(ten_minutes: tuple) -> None:
    components, _ = ten_minutes
    fs = TEN_MINUTES["fs"]

    def band_share(x: np.ndarray, low: float, high: float) -> float:
        spectrum = np.abs(np.fft.rfft(x[:, 0].astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(x.shape[0], 1 / fs)
        return float(spectrum[(freqs >= low) & (freqs <= high)].sum() / spectrum.sum())

    assert band_share(components.noise["wander"], 0.0, 1.0) > 0.95
    assert band_share(components.noise["powerline"], 49.5, 50.5) > 0.6
    assert band_share(components.noise["powerline"], 99.5, 100.5) > 0.03  # the 2nd harmonic
    assert band_share(components.noise["emg"], 19.0, 226.0) > 0.95


def test_fetal_ecg_is_smaller_and_narrower_than_maternal(ten_minutes: tuple) -> None:
    components, truth = ten_minutes
    fetal_peak = np.abs(components.fetal).max(axis=0).mean()
    maternal_peak = np.abs(components.maternal).max(axis=0).mean()
    # Per-beat gains modulate peaks by up to ~10 %, so the record-wide maxima sit a little above nominal.
    assert fetal_peak / maternal_peak == pytest.approx(truth.fetal_ratio, rel=0.25)

    def qrs_width_s(signal: np.ndarray, beats: np.ndarray, channel: int) -> float:
        half = int(0.1 * truth.fs)
        beats = beats[(beats > half) & (beats < truth.n_samples - half)]
        mean_beat = np.mean([signal[b - half : b + half, channel] for b in beats], axis=0)
        above = np.abs(mean_beat) >= 0.5 * np.abs(mean_beat).max()
        return float(above[half - 25 : half + 25].sum() / truth.fs)

    for channel in range(4):
        assert qrs_width_s(components.fetal, truth.fetal_beats, channel) < 0.8 * qrs_width_s(
            components.maternal, truth.maternal_beats, channel
        )


def test_each_source_has_its_own_axis_and_each_channel_its_own_mixture(ten_minutes: tuple) -> None:
    components, truth = ten_minutes

    def channel_directions(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, singular, vt = np.linalg.svd(x[::5].astype(np.float64), full_matrices=False)
        return singular / singular[0], vt[0]

    fetal_spread, fetal_main = channel_directions(components.fetal)
    maternal_spread, maternal_main = channel_directions(components.maternal)
    # A 3-D dipole seen by 4 leads: more than one waveform across the channels, not a scaled copy.
    assert fetal_spread[1] > 0.05 and maternal_spread[1] > 0.01
    assert abs(fetal_main @ maternal_main) < 0.95
    fetal_over_maternal = np.abs(components.fetal).max(axis=0) / np.abs(components.maternal).max(axis=0)
    assert fetal_over_maternal.max() / fetal_over_maternal.min() > 1.5
    leads = truth.fetal_leads / np.linalg.norm(truth.fetal_leads, axis=1, keepdims=True)
    assert np.all(np.abs(leads @ leads.T)[~np.eye(4, dtype=bool)] < 0.999)


def test_signal_loss_and_motion_artefacts_are_listed() -> None:
    components, truth = synthesize_components(3, 2, 500.0, seed=2, motion_artefacts=3, signal_loss=2)
    assert len(truth.artefacts) == 3 and len(truth.signal_loss) == 2
    motion = components.noise["motion"]
    inside = np.zeros(motion.shape, dtype=bool)
    for artefact in truth.artefacts:
        inside[int(artefact.start_s * truth.fs) : int(artefact.end_s * truth.fs) + 1, artefact.channel] = True
    assert np.all(motion[~inside] == 0) and np.any(motion[inside] != 0)
    total = int(components.loss_mask.sum())
    expected = sum(int(s.end_s * truth.fs) - int(s.start_s * truth.fs) for s in truth.signal_loss)
    assert 0 < total <= expected


def test_clean_record_has_no_noise() -> None:
    components, truth = synthesize_components(0.5, 2, 500.0, seed=1, snr_db=None)
    assert components.noise == {} and truth.snr_db is None and "noise" not in truth.powers_uv2


def test_truth_survives_json() -> None:
    _, truth = synthesize(3, 2, 500.0, seed=6, motion_artefacts=1, signal_loss=1)
    again = Truth.from_dict(json.loads(truth_json(truth)))
    assert np.array_equal(again.fetal_beats, truth.fetal_beats)
    assert np.array_equal(again.maternal_beats, truth.maternal_beats)
    assert np.allclose(again.fhr_bpm, truth.fhr_bpm, atol=1e-3)
    assert again.events == truth.events and again.crossings == truth.crossings
    assert again.artefacts == truth.artefacts and again.signal_loss == truth.signal_loss
    data = json.loads(truth_json(truth))
    assert data["fhr"]["fs"] == 4.0 and data["fhr"]["t0"] == 0.0


@pytest.mark.parametrize(
    ("arguments", "keywords", "fragment"),
    [
        ((0, 4, 1000.0, 0), {}, "minutes"),
        ((1, 0, 1000.0, 0), {}, "channels"),
        ((1, 4, 20.0, 0), {}, "fs"),
        ((1, 4, 1000.0, 0), {"fetal_ratio": 1.5}, "fetal_ratio"),
        ((1, 4, 1000.0, 0), {"noise_mix": {"hum": 1.0}}, "unknown noise kinds"),
        ((1, 4, 1000.0, 0), {"signal_loss": -1}, "counts"),
    ],
)
def test_bad_parameters_raise_a_typed_error(arguments: tuple, keywords: dict, fragment: str) -> None:
    with pytest.raises(InvalidSynthParameters, match=fragment) as caught:
        synthesize(*arguments, **keywords)
    assert caught.value.code == "invalid_synth_parameters"
