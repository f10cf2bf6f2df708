"""Heart-rate trajectories with known events, and the beat times they imply.

Rates live on the CTG grid (4 Hz, ``t = k / 4`` seconds), the same convention as the estimator's
output, so the truth can be compared sample by sample. Beats come from an integral pulse frequency
modulation (IPFM) model: the cumulative phase ``∫ rate/60 dt`` crosses an integer at each beat. That
makes the 4 Hz rate the exact "instantaneous rate" of the beat train: the mean rate over any RR
interval equals 60 / RR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE_FS = 4.0

# Where auto-planned events start and how far apart they are (seconds).
_FIRST_EVENT_S = (15.0, 40.0)
_GAP_S = (60.0, 150.0)
_EVENT_CYCLE = ("acceleration", "crossing", "deceleration")
_LENGTH_S = {"acceleration": (20.0, 45.0), "deceleration": (25.0, 60.0), "crossing": (50.0, 90.0)}


@dataclass(frozen=True)
class Event:
    """A fetal acceleration or deceleration: the rate leaves the baseline at ``start_s`` and is back at ``end_s``.

    ``amplitude_bpm`` is the signed deviation at the flat top (positive for an acceleration).
    """

    kind: str
    start_s: float
    end_s: float
    amplitude_bpm: float


@dataclass(frozen=True)
class Crossing:
    """A segment where the maternal rate is raised (exertion) while the fetal rate dips below it.

    The maternal rate leaves its baseline at ``start_s``, peaks at ``maternal_peak_bpm`` and is back by
    ``end_s``; a fetal deceleration (listed among the events) sits strictly inside, so the two traces
    cross twice within the segment: the classic trap for maternal/fetal confusion.
    """

    start_s: float
    end_s: float
    maternal_peak_bpm: float


@dataclass(frozen=True)
class RatePlan:
    """Both rate trajectories on the 4 Hz grid, with the events that shaped them."""

    t: np.ndarray
    fhr: np.ndarray
    mhr: np.ndarray
    fhr_baseline: float
    mhr_baseline: float
    events: tuple[Event, ...]
    crossings: tuple[Crossing, ...]
    resp_phase: np.ndarray


def band_noise(rng: np.random.Generator, n: int, fs: float, f_lo: float, f_hi: float) -> np.ndarray:
    """Unit-variance Gaussian noise with a flat spectrum between ``f_lo`` and ``f_hi`` Hz (float64).

    Built in the frequency domain (random complex spectrum, inverse real FFT), so any band costs one FFT.
    """
    n_bins = n // 2 + 1
    freqs = np.arange(n_bins) * (fs / n)
    band = (freqs >= f_lo) & (freqs <= f_hi)
    spectrum = np.zeros(n_bins, dtype=np.complex128)
    count = int(band.sum())
    if count == 0:
        return np.zeros(n)
    spectrum[band] = rng.standard_normal(count) + 1j * rng.standard_normal(count)
    noise = np.fft.irfft(spectrum, n=n)
    std = noise.std()
    return noise / std if std > 0 else noise


def tukey_bump(t: np.ndarray, start: float, end: float, flat_fraction: float = 0.5) -> np.ndarray:
    """0 outside ``[start, end]``, 1 on the central ``flat_fraction``, raised-cosine ramps between."""
    width = end - start
    ramp = max(width * (1.0 - flat_fraction) / 2.0, 1e-9)
    rise = np.clip((t - start) / ramp, 0.0, 1.0)
    fall = np.clip((end - t) / ramp, 0.0, 1.0)
    return 0.5 * (1.0 - np.cos(np.pi * np.minimum(rise, fall)))


def plan_events(
    rng: np.random.Generator, duration_s: float, fhr_baseline: float, mhr_baseline: float
) -> tuple[tuple[Event, ...], tuple[Crossing, ...]]:
    """Lay out accelerations, crossings and decelerations one after another, cycling the kinds.

    Each crossing adds one deceleration (the fetal dip inside it) to the events.
    """
    events: list[Event] = []
    crossings: list[Crossing] = []
    start = rng.uniform(*_FIRST_EVENT_S)
    turn = 0
    while True:
        kind = _EVENT_CYCLE[turn % len(_EVENT_CYCLE)]
        length = rng.uniform(*_LENGTH_S[kind])
        end = start + length
        if end > duration_s - 5.0:
            break
        if kind == "acceleration":
            events.append(Event(kind, start, end, float(rng.uniform(15, 25))))
        elif kind == "deceleration":
            events.append(Event(kind, start, end, -float(rng.uniform(20, 35))))
        else:
            peak = float(rng.uniform(108, 120))
            dip_floor = peak - float(rng.uniform(12, 20))
            inset = 0.22 * length
            crossings.append(Crossing(start, end, peak))
            events.append(Event("deceleration", start + inset, end - inset, dip_floor - fhr_baseline))
        start = end + rng.uniform(*_GAP_S)
        turn += 1
    return tuple(events), tuple(crossings)


def plan_rates(
    rng: np.random.Generator, duration_s: float, *, with_events: bool = True, margin_s: float = 3.0
) -> RatePlan:
    """Draw baselines, variability and events; return both 4 Hz trajectories (``margin_s`` past the end).

    Fetal: baseline 120-150 bpm, slow drift, long-term variability (0.03-0.3 Hz, FIGO 'normal'
    amplitude) and short-term variability (0.3-1.5 Hz). Maternal: baseline 70-90 bpm, drift and
    respiratory sinus arrhythmia locked to the same respiration that makes the baseline wander.
    """
    n = int(np.ceil((duration_s + margin_s) * RATE_FS))
    t = np.arange(n) / RATE_FS
    fhr_base = float(rng.uniform(120, 150))
    mhr_base = float(rng.uniform(70, 90))
    resp_rate_hz = 0.25 + 0.03 * band_noise(rng, n, RATE_FS, 0.0005, 0.01)
    resp_phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(resp_rate_hz) / RATE_FS
    fhr = (
        fhr_base
        + 2.0 * band_noise(rng, n, RATE_FS, 0.0005, 0.005)
        + 3.5 * band_noise(rng, n, RATE_FS, 0.03, 0.3)
        + 1.2 * band_noise(rng, n, RATE_FS, 0.3, 1.5)
    )
    mhr = mhr_base + 1.5 * band_noise(rng, n, RATE_FS, 0.0005, 0.01) + 2.5 * np.sin(resp_phase)
    events: tuple[Event, ...] = ()
    crossings: tuple[Crossing, ...] = ()
    if with_events:
        events, crossings = plan_events(rng, duration_s, fhr_base, mhr_base)
    for event in events:
        fhr += event.amplitude_bpm * tukey_bump(t, event.start_s, event.end_s)
    for crossing in crossings:
        mhr += (crossing.maternal_peak_bpm - mhr_base) * tukey_bump(t, crossing.start_s, crossing.end_s, 0.6)
    return RatePlan(
        t=t,
        fhr=np.clip(fhr, 60.0, 220.0),
        mhr=np.clip(mhr, 45.0, 150.0),
        fhr_baseline=fhr_base,
        mhr_baseline=mhr_base,
        events=events,
        crossings=crossings,
        resp_phase=resp_phase,
    )


def beat_times(rng: np.random.Generator, t: np.ndarray, rate_bpm: np.ndarray) -> np.ndarray:
    """Beat times (seconds) of an IPFM beat train driven by ``rate_bpm`` sampled at ``t``.

    The rate is piecewise linear between the grid points, so the phase is piecewise quadratic; each
    beat solves that quadratic exactly (a linear inverse would be off by milliseconds where the rate
    changes fast). The first beat falls at a random phase so records do not all start on a beat.
    """
    step = np.diff(t)
    slope = np.diff(rate_bpm) / 60.0 / step  # d(rate in Hz)/dt on each interval
    increments = 0.5 * (rate_bpm[1:] + rate_bpm[:-1]) / 60.0 * step
    phase = rng.uniform(0.0, 1.0) + np.concatenate(([0.0], np.cumsum(increments)))
    whole = np.arange(np.ceil(phase[0]), np.floor(phase[-1]) + 1)
    interval = np.clip(np.searchsorted(phase, whole, side="right") - 1, 0, step.size - 1)
    remaining = whole - phase[interval]  # cycles still to go inside the interval
    start_hz = rate_bpm[interval] / 60.0
    # Solve start_hz * tau + slope / 2 * tau^2 = remaining in the cancellation-free form.
    root = np.sqrt(np.maximum(start_hz**2 + 2.0 * slope[interval] * remaining, 0.0))
    return t[interval] + 2.0 * remaining / (start_hz + root)
