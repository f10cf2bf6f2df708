"""Maternal cancellation and detection: the fast paths must equal plain reference computations."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr import maternal


def reference_cancel(x: np.ndarray, samples: np.ndarray, fs: float) -> np.ndarray:
    """Per beat, per channel: zero-extended window, projection on the same basis, tapered subtraction."""
    median_rr = float(np.median(np.diff(samples)))
    before, width = int(0.3 * median_rr), int(median_rr)
    taper = maternal._taper(width, max(2, int(0.02 * fs)))
    out = x.astype(np.float64)
    for ch in range(x.shape[0]):
        padded = np.concatenate((np.zeros(width), x[ch].astype(np.float64), np.zeros(width)))
        beats = np.stack([padded[s - before + width : s - before + 2 * width] for s in samples])
        basis = maternal.leading_components(beats[:: max(1, len(beats) // 256)].astype(np.float32), 3)
        for s, beat in zip(samples, beats, strict=True):
            model = basis @ (basis.T @ beat) * taper
            for offset in range(width):
                if 0 <= s - before + offset < x.shape[1]:
                    out[ch, s - before + offset] -= model[offset]
    return out


@pytest.mark.parametrize("extra_beats", [False, True])  # True: two spurious beats, so beats two apart overlap
def test_cancel_equals_a_per_beat_overlap_add(extra_beats: bool) -> None:
    rng = np.random.default_rng(7)
    fs = 250.0
    rr = 200 * (1 + 0.1 * rng.uniform(-1, 1, 60))
    if extra_beats:
        rr[30:33] = (70.0, 70.0, 60.0)
    samples = (10 + np.cumsum(rr)).astype(np.int64)  # the first beat's window starts before the record
    samples = np.concatenate(([10], samples))
    n = int(samples[-1]) + 40  # and the last one's ends after it
    x = rng.standard_normal((2, n)).astype(np.float32)
    for s in samples:
        x[:, s - 5 : s + 5] += 20.0
    residual, quality = maternal.cancel(x, samples, fs)
    np.testing.assert_allclose(residual, reference_cancel(x, samples, fs), atol=2e-3)
    assert quality.shape == samples.shape and (quality > 0.3).all()


@pytest.mark.parametrize("n", [5, 12, 5000])
@pytest.mark.parametrize("smoothing", [1, 2, 7, 10])
def test_smoothed_slope_is_the_moving_means_difference(n: int, smoothing: int) -> None:
    from handlers.fhr.dsp import moving_mean

    x = np.random.default_rng(n + smoothing).standard_normal((3, n)).astype(np.float32) * 50
    expected = np.diff(moving_mean(x, smoothing), axis=1, prepend=0) * smoothing
    expected[:, 0] = 0.0
    np.testing.assert_allclose(maternal._smoothed_slope(x, smoothing), expected, atol=1e-3)
