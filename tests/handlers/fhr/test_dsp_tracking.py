"""Building blocks: the one-FFT conditioner, running filters, plan cache, harmonic sums, the Viterbi tracker."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr import dsp, fetal, fftplan, tracking


def tone(freq: float, fs: float, seconds: float, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return amplitude * np.sin(2 * np.pi * freq * t)


def amplitude_at(x: np.ndarray, fs: float, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) * 2 / x.size
    return float(spectrum[int(round(freq * x.size / fs))])


def test_condition_decimates_keeps_the_qrs_band_and_removes_wander_and_mains() -> None:
    fs = 1000.0
    signal = tone(20.0, fs, 20) + 5 * tone(0.3, fs, 20) + 2 * tone(50.0, fs, 20)
    out = dsp.condition(signal[:, None].astype(np.float32), fs)
    assert out.fs == 250.0 and out.x.shape == (1, 5000)
    assert out.powerline_hz == (50.0,)
    middle = out.x[0, 500:4500].astype(np.float64)
    assert amplitude_at(middle, 250.0, 20.0) == pytest.approx(1.0, abs=0.05)
    assert amplitude_at(middle, 250.0, 0.3) < 0.05
    assert amplitude_at(middle, 250.0, 50.0) < 0.05


def test_condition_marks_invalid_input_around_nans() -> None:
    signal = tone(20.0, 1000.0, 10)[:, None].astype(np.float32)
    signal[4000:5000] = np.nan
    out = dsp.condition(signal, 1000.0)
    assert not out.valid[0, 1000:1250].any()
    assert out.valid[0, :900].all() and out.valid[0, 1350:].all()
    assert np.isfinite(out.x).all()


def test_fast_length_is_5_smooth_and_a_multiple() -> None:
    for n in (1801, 60_001, 1_800_001):
        m = fftplan.fast_length(n, 4)
        assert m >= n and m % 4 == 0
        base = m // 4
        for p in (2, 3, 5):
            while base % p == 0:
                base //= p
        assert base == 1


def test_fft_plans_are_cached_per_shape() -> None:
    x = np.random.default_rng(0).standard_normal((2, 777)).astype(np.float32)
    first = fftplan.rfft(x, 800).copy()
    count = fftplan.plans_created()
    np.testing.assert_allclose(fftplan.rfft(x, 800), first)
    assert fftplan.plans_created() == count
    np.testing.assert_allclose(first, np.fft.rfft(x, 800), rtol=1e-3, atol=1e-3)
    fftplan.rfft(x, 810)
    assert fftplan.plans_created() == count + 1


def test_running_max_and_mean_match_direct_computation() -> None:
    x = np.random.default_rng(1).random(500)
    direct = np.array([x[max(0, i - 6) : i + 7].max() for i in range(500)])
    np.testing.assert_allclose(dsp.moving_max(x, 6), direct)
    np.testing.assert_allclose(dsp.moving_mean(x, 5)[100], x[98:103].mean(), rtol=1e-6)


def test_harmonic_sum_prefers_the_fundamental_of_a_pulse_train() -> None:
    fs_env = 31.25
    t = np.arange(int(60 * fs_env)) / fs_env
    phase = (t * 140 / 60) % 1.0
    pulses = np.exp(-0.5 * ((phase - 0.5) / 0.03) ** 2)[None, :].astype(np.float32)
    rates = np.arange(70.0, 221.0)
    harmonic, _ = fetal.harmonic_spectra(pulses, fs_env, rates, window_s=4.0, hop_s=1.0, threads=1, half_weight=0.5)
    peaks = rates[np.argmax(harmonic[0], axis=1)]
    assert np.all(np.abs(peaks - 140) <= 2)  # not 70 (sub-harmonic) nor 210 (3/2)


def test_viterbi_bridges_a_short_confusion_and_follows_a_real_change() -> None:
    rates = np.arange(70.0, 221.0)
    truth = np.concatenate([np.full(40, 140.0), np.linspace(140, 120, 20), np.full(40, 120.0)])
    score = np.full((truth.size, rates.size), -3.0)
    score[np.arange(truth.size), (truth - 70).astype(int)] = 0.0
    score[30:33] = -3.0
    score[30:33, 90 - 70] = 0.5  # three frames where the mother's rate looks best
    path = rates[tracking.viterbi(score, rates, penalty_per_bpm=0.15)]
    np.testing.assert_allclose(path, np.round(truth), atol=1.0)


def test_maternal_penalty_dips_only_near_the_maternal_rate() -> None:
    rates = np.arange(70.0, 221.0)
    factor = tracking.maternal_penalty(rates, np.array([90.0, np.nan]), depth=0.9, width_bpm=4.0)
    assert factor[0, 20] == pytest.approx(0.1)
    assert factor[0, 70] == pytest.approx(1.0)
    assert (factor[1] == 1.0).all()
