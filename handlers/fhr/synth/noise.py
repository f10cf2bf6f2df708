"""Non-cardiac components of an abdominal recording, each (n, C) float32 with arbitrary scale.

The caller scales every component to its share of the total noise power (see ``synthesize``), so
here only the shape matters: spectra, per-channel differences, and how the components vary in time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.fhr.synth.rhythm import RATE_FS, band_noise

NOISE_KINDS = ("wander", "powerline", "emg", "motion")


@dataclass(frozen=True)
class Artefact:
    """An electrode-motion artefact: a large, slow transient on one channel."""

    start_s: float
    end_s: float
    channel: int


def sample_times(n_samples: int, fs: float) -> np.ndarray:
    return np.arange(n_samples, dtype=np.float64) / fs


def upsample(values_4hz: np.ndarray, t_4hz: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation from the 4 Hz grid to the sample times, column by column."""
    if values_4hz.ndim == 1:
        return np.interp(t, t_4hz, values_4hz)
    return np.column_stack([np.interp(t, t_4hz, column) for column in values_4hz.T])


def baseline_wander(
    rng: np.random.Generator, t: np.ndarray, t_4hz: np.ndarray, resp_phase: np.ndarray, channels: int
) -> np.ndarray:
    """Respiration (the same breathing that drives the maternal RSA) plus a slow electrode drift.

    Each channel sees breathing with its own gain and a small phase lag; drifts are independent.
    """
    phase = np.interp(t, t_4hz, resp_phase)
    basis = np.column_stack((np.sin(phase), np.cos(phase)))
    lag = rng.uniform(-0.6, 0.6, channels)
    gain = rng.uniform(0.5, 1.5, channels)
    breathing = basis @ np.vstack((gain * np.cos(lag), gain * np.sin(lag)))
    drift = np.column_stack([band_noise(rng, t_4hz.size, RATE_FS, 0.003, 0.12) for _ in range(channels)])
    drift *= rng.uniform(0.4, 0.9, channels)
    return (breathing + upsample(drift, t_4hz, t)).astype(np.float32)


def powerline(rng: np.random.Generator, t: np.ndarray, fs: float, channels: int, mains_hz: float) -> np.ndarray:
    """Mains hum and its 2nd and 3rd harmonics (those below Nyquist), per-channel amplitude and phase."""
    harmonics = [(h, a) for h, a in ((1, 1.0), (2, 0.35), (3, 0.2)) if h * mains_hz < fs / 2]
    if not harmonics:
        return np.zeros((t.size, channels), dtype=np.float32)
    columns, weights = [], []
    for h, amplitude in harmonics:
        arg = (2 * np.pi * h * mains_hz) * t
        columns += [np.sin(arg), np.cos(arg)]
        phase = rng.uniform(0, 2 * np.pi, channels)
        gain = amplitude * rng.uniform(0.5, 1.5, channels)
        weights += [gain * np.cos(phase), gain * np.sin(phase)]
    return (np.column_stack(columns) @ np.vstack(weights)).astype(np.float32)


def muscle_noise(
    rng: np.random.Generator, n_samples: int, fs: float, t: np.ndarray, t_4hz: np.ndarray, channels: int
) -> np.ndarray:
    """EMG-like noise: band-limited Gaussian (20-250 Hz) under a slowly varying common envelope,
    since abdominal muscle activity (contractions, posture) waxes and wanes over tens of seconds."""
    high = min(250.0, 0.45 * fs)
    envelope = np.exp(0.6 * band_noise(rng, t_4hz.size, RATE_FS, 0.003, 0.05))
    envelope /= np.sqrt(np.mean(envelope**2))
    env = np.interp(t, t_4hz, envelope).astype(np.float32)
    out = np.empty((n_samples, channels), dtype=np.float32)
    for channel in range(channels):
        out[:, channel] = band_noise(rng, n_samples, fs, 20.0, high) * env
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
