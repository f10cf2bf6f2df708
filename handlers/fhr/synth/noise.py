"""Non-cardiac components of an abdominal recording, each (n, C) float32 with arbitrary scale.

The caller scales every component to its share of the total noise power (see ``synthesize``), so
here only the shape matters: spectra, per-channel differences, and how the components vary in time.
Components built from smooth functions of time are filled in blocks of rows, so their float64
intermediates stay a few megabytes whatever the record's length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from handlers.fhr.synth.rhythm import RATE_FS, band_noise

NOISE_KINDS = ("wander", "powerline", "emg", "motion")
_BLOCK_ROWS = 1 << 16


@dataclass(frozen=True)
class Artefact:
    """An electrode-motion artefact: a large, slow transient on one channel."""

    start_s: float
    end_s: float
    channel: int


def _fill_by_blocks(n_samples: int, channels: int, fs: float, block: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(n, C) float32 from ``block(t)`` evaluated on consecutive slices of the sample times ``t`` (s)."""
    out = np.empty((n_samples, channels), dtype=np.float32)
    for first in range(0, n_samples, _BLOCK_ROWS):
        t = np.arange(first, min(first + _BLOCK_ROWS, n_samples), dtype=np.float64) / fs
        out[first : first + t.size] = block(t)
    return out


def baseline_wander(
    rng: np.random.Generator, n_samples: int, fs: float, t_4hz: np.ndarray, resp_phase: np.ndarray, channels: int
) -> np.ndarray:
    """Respiration (the same breathing that drives the maternal RSA) plus a slow electrode drift.

    Each channel sees breathing with its own gain and a small phase lag; drifts are independent.
    """
    lag = rng.uniform(-0.6, 0.6, channels)
    gain = rng.uniform(0.5, 1.5, channels)
    mixing = np.vstack((gain * np.cos(lag), gain * np.sin(lag)))
    drift = np.column_stack([band_noise(rng, t_4hz.size, RATE_FS, 0.003, 0.12) for _ in range(channels)])
    drift *= rng.uniform(0.4, 0.9, channels)

    def block(t: np.ndarray) -> np.ndarray:
        phase = np.interp(t, t_4hz, resp_phase)
        breathing = np.column_stack((np.sin(phase), np.cos(phase))) @ mixing
        return breathing + np.column_stack([np.interp(t, t_4hz, column) for column in drift.T])

    return _fill_by_blocks(n_samples, channels, fs, block)


def powerline(
    rng: np.random.Generator, n_samples: int, fs: float, t_4hz: np.ndarray, channels: int, mains_hz: float
) -> np.ndarray:
    """Mains hum and its 2nd and 3rd harmonics (those below Nyquist), per-channel amplitude and phase,
    under a slow common amplitude drift (the load on the mains changes).

    The hum is periodic in samples whenever ``fs / mains_hz`` is rational with a small denominator
    (1 kHz / 50 Hz: 20 samples), so one period is computed and repeated; otherwise it is computed in blocks.
    """
    harmonics = [(h, a) for h, a in ((1, 1.0), (2, 0.35), (3, 0.2)) if h * mains_hz < fs / 2]
    if not harmonics:
        return np.zeros((n_samples, channels), dtype=np.float32)
    frequencies = 2 * np.pi * mains_hz * np.array([h for h, _ in harmonics], dtype=np.float64)
    weights = []
    for _, amplitude in harmonics:
        phase = rng.uniform(0, 2 * np.pi, channels)
        gain = amplitude * rng.uniform(0.5, 1.5, channels)
        weights += [gain * np.cos(phase), gain * np.sin(phase)]
    mixing = np.vstack(weights)  # rows: sin h1, cos h1, sin h2, ...

    def block(t: np.ndarray) -> np.ndarray:
        arg = t[:, None] * frequencies[None, :]
        basis = np.empty((t.size, 2 * frequencies.size))
        basis[:, 0::2], basis[:, 1::2] = np.sin(arg), np.cos(arg)
        return basis @ mixing

    period = _period_samples(fs, mains_hz)
    if period is not None:
        hum = np.resize(block(np.arange(period) / fs).astype(np.float32), (n_samples, channels))
    else:
        hum = _fill_by_blocks(n_samples, channels, fs, block)
    drift = 1.0 + 0.15 * band_noise(rng, t_4hz.size, RATE_FS, 0.002, 0.05)
    hum *= np.interp(np.arange(n_samples) / fs, t_4hz, drift).astype(np.float32)[:, None]
    return hum


def _period_samples(fs: float, mains_hz: float, longest: int = 1 << 16) -> int | None:
    """Samples in one exact period of the mains at ``fs`` (e.g. 20 at 1 kHz / 50 Hz), if short."""
    from fractions import Fraction

    rate, mains = Fraction(fs).limit_denominator(1000), Fraction(mains_hz).limit_denominator(1000)
    if abs(float(rate) - fs) > 1e-9 or abs(float(mains) - mains_hz) > 1e-9:
        return None
    samples = (rate / mains).numerator  # after this many samples, a whole number of mains cycles
    return samples if samples <= longest else None


def muscle_noise(rng: np.random.Generator, n_samples: int, fs: float, t_4hz: np.ndarray, channels: int) -> np.ndarray:
    """EMG-like noise: band-limited Gaussian (20-250 Hz) under a slowly varying common envelope,
    since abdominal muscle activity (contractions, posture) waxes and wanes over tens of seconds."""
    high = min(250.0, 0.45 * fs)
    envelope = np.exp(0.6 * band_noise(rng, t_4hz.size, RATE_FS, 0.003, 0.05))
    envelope /= np.sqrt(np.mean(envelope**2))
    env = np.interp(np.arange(n_samples) / fs, t_4hz, envelope).astype(np.float32)
    out = np.empty((n_samples, channels), dtype=np.float32)
    for channel in range(channels):
        out[:, channel] = band_noise(rng, n_samples, fs, 20.0, high)
        out[:, channel] *= env
    return out


def motion_artefacts(
    rng: np.random.Generator, n_samples: int, fs: float, channels: int, count: int
) -> tuple[np.ndarray, tuple[Artefact, ...]]:
    """``count`` electrode-motion transients: a fast rise and slow decay (0.5-2.5 s) on one channel."""
    out = np.zeros((n_samples, channels), dtype=np.float32)
    artefacts = []
    duration_s = n_samples / fs
    for start_s in np.sort(rng.uniform(0, max(duration_s - 3.0, 0.0), count)):
        length_s = float(rng.uniform(0.5, 2.5))
        channel = int(rng.integers(channels))
        first = int(start_s * fs)
        local = np.arange(min(int(length_s * fs), n_samples - first)) / fs
        rise, decay = 0.05 * length_s, 0.3 * length_s
        shape = (1 - np.exp(-local / rise)) * np.exp(-local / decay) * rng.choice((-1.0, 1.0))
        out[first : first + local.size, channel] += shape.astype(np.float32)
        artefacts.append(Artefact(float(start_s), float(start_s + length_s), channel))
    return out, tuple(artefacts)
