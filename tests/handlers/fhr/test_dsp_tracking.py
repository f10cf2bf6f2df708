"""Building blocks: the block-FFT conditioner, running filters, plan cache, harmonic sums, the Viterbi tracker."""

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


def test_block_filter_matches_one_transform_of_the_whole_record() -> None:
    """Overlap-save over several blocks (and a partial last one) must equal filtering the whole record at once."""
    fs = 250.0
    n = 3 * dsp.block_geometry(fs)[0] + 1234
    x = np.random.default_rng(3).standard_normal((2, n)).astype(np.float32)

    def gain(freqs: np.ndarray) -> np.ndarray:
        return dsp.raised_cosine_band(freqs, (7.2, 12.0), (45.0, 58.5))

    n_fft = 2 * n  # zero padding: no wrap-around, as the blocks' zero margins at the record's ends
    whole = np.fft.irfft(np.fft.rfft(x, n_fft) * gain(np.fft.rfftfreq(n_fft, 1 / fs)), n_fft)[:, :n]
    blocked = dsp.filter_blocks(x, gain, fs, threads=1)
    assert blocked.shape == x.shape
    np.testing.assert_allclose(blocked, whole, atol=2e-3 * np.abs(whole).max())


@pytest.mark.parametrize("fs", [1000.0, 750.0])  # decimation by 4 (block 2^16) and by 3 (block 3 x 2^14)
def test_conditioner_blocks_match_one_transform_of_the_whole_record(fs: float) -> None:
    """Decimated, band-passed and notched in ~65-s blocks = the same done on one whole-record spectrum."""
    seconds = 200.0
    factor = int(fs // 250.0)
    rng = np.random.default_rng(4)
    t = np.arange(int(fs * seconds)) / fs
    signal = rng.standard_normal(t.size) + 3 * np.sin(2 * np.pi * 50.0 * t) + 4 * np.sin(2 * np.pi * 0.2 * t)
    out = dsp.condition(signal[:, None].astype(np.float32), fs)
    n_out = -(-t.size // factor)
    assert out.fs == fs / factor and out.powerline_hz == (50.0,) and out.x.shape == (1, n_out)
    n_fft = 2 * factor * n_out  # zero-padded (no wrap-around), a multiple of the factor
    spectrum = np.fft.rfft(signal - np.median(signal[:: t.size // 4096]), n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1 / fs)
    kept = freqs < 0.5 * fs / factor
    gain = dsp.raised_cosine_band(freqs[kept], (1.5, 3.0), (90.0, 110.0))
    for harmonic in (50.0, 100.0):
        gain *= np.where(
            np.abs(freqs[kept] - harmonic) < 0.6, 0.5 - 0.5 * np.cos(np.pi * np.abs(freqs[kept] - harmonic) / 0.6), 1
        )
    whole = np.fft.irfft(spectrum[kept] * gain / factor, n_fft // factor)[:n_out]
    np.testing.assert_allclose(out.x[0], whole, atol=3e-3 * np.abs(whole).max())


def test_viterbi_path_is_optimal_against_brute_force_dynamic_programming() -> None:
    rng = np.random.default_rng(5)
    rates = np.arange(100.0, 131.0)
    score = np.log(rng.random((60, rates.size)) + 0.01)
    penalty = 0.2
    transition = penalty * np.abs(rates[:, None] - rates[None, :])
    best = score[0].copy()
    for frame in range(1, score.shape[0]):
        best = (best[:, None] - transition).max(axis=0) + score[frame]
    path = tracking.viterbi(score, rates, penalty_per_bpm=penalty)
    total = score[np.arange(score.shape[0]), path].sum() - penalty * np.abs(np.diff(rates[path])).sum()
    assert total == pytest.approx(best.max(), abs=1e-9)


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
