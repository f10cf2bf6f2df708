"""Synthetic abdominal ECG mixtures with known truth, in the spirit of FECGSYN and McSharry's ECGSYN.

Why: set-a has 75 one-minute records; the service promises 30-minute traces with accelerations,
decelerations and maternal/fetal crossings. A generator with known beats and rates lets the estimator
be scored on exactly those situations, at any length, channel count and noise level.

What a record holds (all in microvolts, float32, shape (n, C)):

- maternal and fetal ECG, each a 3-D cardiac dipole of Gaussian P-QRS-T waves (distinct morphology
  per heart) projected onto the channels through lead vectors from an abdominal electrode geometry
  (see :mod:`.heart`), so each source has its own cardiac axis and each channel its own mixture;
- maternal amplitude ``maternal_uv`` (mean over channels of the per-channel R-wave peak), fetal
  amplitude ``fetal_ratio`` times that (5-20 % is typical at the abdomen);
- rates from :mod:`.rhythm`: maternal 70-90 bpm with respiratory sinus arrhythmia, fetal 120-150 bpm
  with short- and long-term variability, accelerations and decelerations with known start/end, and
  crossing segments where the maternal rate rises to 108-120 bpm while the fetal rate dips below it;
- noise from :mod:`.noise`: respiration baseline wander, mains (50 Hz and harmonics), band-limited
  muscle noise, optional electrode-motion artefacts, optional signal-loss segments (NaN).

SNR definition: ``snr_db = 10 log10(P_fetal / P_noise)`` where ``P_fetal`` is the mean square of the
clean fetal ECG and ``P_noise`` the mean square of the sum of all noise components (wander +
mains + muscle + motion), both over every channel and sample of the record (loss segments included;
the maternal ECG is interference, not noise, and is reported separately as ``powers_uv2``). The
total noise is split between kinds by ``noise_mix`` (shares of power), then scaled so the SNR is
exact. ``snr_db=None`` gives clean ECG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.fhr.errors import FhrError
from handlers.fhr.record import Record
from handlers.fhr.synth import heart, noise, rhythm
from handlers.fhr.synth.noise import Artefact
from handlers.fhr.synth.rhythm import Crossing, Event
from handlers.fhr.synth.truth import LossSegment, Truth

__all__ = [
    "DEFAULT_NOISE_MIX",
    "Artefact",
    "Components",
    "Crossing",
    "Event",
    "InvalidSynthParameters",
    "LossSegment",
    "Truth",
    "synthesize",
    "synthesize_components",
]

DEFAULT_NOISE_MIX = {"wander": 0.45, "emg": 0.40, "powerline": 0.15, "motion": 0.10}
MAX_CHANNELS = 64
MIN_FS = 100.0


class InvalidSynthParameters(FhrError, ValueError):
    """A generator parameter is out of range (no record could honour it)."""

    code = "invalid_synth_parameters"


@dataclass
class Components:
    """The separate parts of one synthetic record, each (n, C) float32 µV, before NaN loss is applied."""

    maternal: np.ndarray
    fetal: np.ndarray
    noise: dict[str, np.ndarray]
    loss_mask: np.ndarray  # (n,) bool, True where every channel is lost

    def noise_total(self) -> np.ndarray:
        total = np.zeros_like(self.fetal)
        for part in self.noise.values():
            total += part
        return total

    def mixture(self) -> np.ndarray:
        """What the electrodes record: the sum of everything, NaN in the loss segments."""
        signals = self.maternal + self.fetal + self.noise_total()
        signals[self.loss_mask] = np.nan
        return signals


def synthesize(
    minutes: float,
    channels: int = 4,
    fs: float = 1000.0,
    seed: int = 0,
    *,
    snr_db: float | None = 6.0,
    fetal_ratio: float = 0.12,
    maternal_uv: float = 150.0,
    mains_hz: float = 50.0,
    noise_mix: dict[str, float] | None = None,
    motion_artefacts: int = 0,
    signal_loss: int = 0,
    with_events: bool = True,
) -> tuple[Record, Truth]:
    """A synthetic abdominal record and its truth; deterministic for a given set of arguments.

    ``motion_artefacts`` and ``signal_loss`` are counts of such episodes over the whole record.
    Parameters are described in the module docstring; out-of-range values raise
    :class:`InvalidSynthParameters`. Components are summed as they are made, so memory stays a
    small multiple of the record's own size.
    """
    signals, truth = _generate(
        _Parameters(
            minutes,
            channels,
            fs,
            seed,
            snr_db,
            fetal_ratio,
            maternal_uv,
            mains_hz,
            noise_mix,
            motion_artefacts,
            signal_loss,
            with_events,
        ),
        keep=None,
    )
    record = Record(
        signals=signals,
        fs=float(fs),
        channels=truth.channels,
        source=f"synth:seed={seed}",
        format="synthetic",
        meta={"synthetic": True, "seed": seed, "snr_db": snr_db},
    )
    return record, truth


def synthesize_components(
    minutes: float,
    channels: int = 4,
    fs: float = 1000.0,
    seed: int = 0,
    *,
    snr_db: float | None = 6.0,
    fetal_ratio: float = 0.12,
    maternal_uv: float = 150.0,
    mains_hz: float = 50.0,
    noise_mix: dict[str, float] | None = None,
    motion_artefacts: int = 0,
    signal_loss: int = 0,
    with_events: bool = True,
) -> tuple[Components, Truth]:
    """Like :func:`synthesize` but returns the parts separately, so tests can measure them back."""
    parts: dict[str, np.ndarray] = {}
    _, truth = _generate(
        _Parameters(
            minutes,
            channels,
            fs,
            seed,
            snr_db,
            fetal_ratio,
            maternal_uv,
            mains_hz,
            noise_mix,
            motion_artefacts,
            signal_loss,
            with_events,
        ),
        keep=parts,
    )
    components = Components(
        maternal=parts.pop("maternal"),
        fetal=parts.pop("fetal"),
        loss_mask=parts.pop("loss_mask"),
        noise=parts,
    )
    return components, truth


@dataclass(frozen=True)
class _Parameters:
    minutes: float
    channels: int
    fs: float
    seed: int
    snr_db: float | None
    fetal_ratio: float
    maternal_uv: float
    mains_hz: float
    noise_mix: dict[str, float] | None
    motion_artefacts: int
    signal_loss: int
    with_events: bool


_STREAMS = ("rates", "mbeats", "fbeats", "shape", "geometry", "wander", "powerline", "emg", "motion", "loss")


def _generate(p: _Parameters, keep: dict[str, np.ndarray] | None) -> tuple[np.ndarray, Truth]:
    """The mixture (n, C) and its truth; with ``keep``, every part is also stored there by name.

    Each part draws from its own random stream (spawned from the seed), so switching one part on
    or off, or changing the SNR, leaves every other part identical.
    """
    n_samples = _check_parameters(p)
    mix = _noise_shares(p.noise_mix, p.motion_artefacts)
    streams = dict(
        zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(p.seed).spawn(10)), strict=True)
    )
    duration_s = n_samples / p.fs
    plan = rhythm.plan_rates(streams["rates"], duration_s, with_events=p.with_events)
    m_beats = _beat_samples(streams["mbeats"], plan.t, plan.mhr, p.fs, n_samples)
    f_beats = _beat_samples(streams["fbeats"], plan.t, plan.fhr, p.fs, n_samples)
    signals, fetal, m_leads, f_leads = _render_hearts(
        streams, plan, m_beats, f_beats, n_samples, p.fs, p.channels, p.fetal_ratio, p.maternal_uv
    )
    powers = {"maternal": _power(signals), "fetal": _power(fetal)}
    if keep is not None:
        keep["maternal"], keep["fetal"] = signals.copy(), fetal
    signals += fetal
    del fetal
    artefacts: tuple[Artefact, ...] = ()
    if p.snr_db is not None:
        target = powers["fetal"] / 10 ** (p.snr_db / 10)
        noise_sum, artefacts = _mix_noise(streams, plan, n_samples, p, mix, target, powers, keep)
        signals += noise_sum
        del noise_sum
    loss_segments, loss_mask = _signal_loss(streams["loss"], n_samples, p.fs, p.signal_loss)
    signals[loss_mask] = np.nan
    if keep is not None:
        keep["loss_mask"] = loss_mask
    rate_count = _rate_count(duration_s)
    truth = Truth(
        seed=p.seed,
        fs=float(p.fs),
        n_samples=n_samples,
        channels=tuple(f"AECG{i + 1}" for i in range(p.channels)),
        fetal_beats=f_beats,
        maternal_beats=m_beats,
        fhr_bpm=plan.fhr[:rate_count].copy(),
        mhr_bpm=plan.mhr[:rate_count].copy(),
        fhr_baseline_bpm=plan.fhr_baseline,
        mhr_baseline_bpm=plan.mhr_baseline,
        snr_db=p.snr_db,
        fetal_ratio=p.fetal_ratio,
        events=plan.events,
        crossings=plan.crossings,
        artefacts=artefacts,
        signal_loss=loss_segments,
        powers_uv2=powers,
        fetal_leads=f_leads,
        maternal_leads=m_leads,
    )
    return signals, truth


def _power(x: np.ndarray) -> float:
    """Mean square (µV²) over all channels and samples, accumulated in float64."""
    return float(np.mean(np.square(x, dtype=np.float64)))


def _check_parameters(p: _Parameters) -> int:
    """Validate the arguments and return the number of samples."""
    minutes, channels, fs = p.minutes, p.channels, p.fs
    fetal_ratio, maternal_uv = p.fetal_ratio, p.maternal_uv
    if not (np.isfinite(fs) and fs >= MIN_FS):
        raise InvalidSynthParameters(f"fs must be at least {MIN_FS:g} Hz (got {fs!r})")
    if not (np.isfinite(minutes) and minutes > 0):
        raise InvalidSynthParameters(f"minutes must be positive (got {minutes!r})")
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidSynthParameters(f"channels must be between 1 and {MAX_CHANNELS} (got {channels!r})")
    if not 0 < fetal_ratio <= 1:
        raise InvalidSynthParameters(f"fetal_ratio must be in (0, 1] (got {fetal_ratio!r})")
    if not maternal_uv > 0:
        raise InvalidSynthParameters(f"maternal_uv must be positive (got {maternal_uv!r})")
    if p.motion_artefacts < 0 or p.signal_loss < 0:
        raise InvalidSynthParameters("motion_artefacts and signal_loss are counts and cannot be negative")
    n_samples = int(round(minutes * 60.0 * fs))
    if n_samples < fs:
        raise InvalidSynthParameters(f"{minutes!r} minutes is shorter than one second")
    return n_samples


def _noise_shares(noise_mix: dict[str, float] | None, motion_artefacts: int) -> dict[str, float]:
    """Normalised power shares; motion gets none when there are no artefacts to carry it."""
    mix = dict(DEFAULT_NOISE_MIX if noise_mix is None else noise_mix)
    unknown = set(mix) - set(noise.NOISE_KINDS)
    if unknown:
        raise InvalidSynthParameters(f"unknown noise kinds {sorted(unknown)}; known: {list(noise.NOISE_KINDS)}")
    if motion_artefacts == 0:
        mix.pop("motion", None)
    if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise InvalidSynthParameters("noise_mix shares must be non-negative and not all zero")
    total = sum(mix.values())
    return {kind: share / total for kind, share in mix.items() if share > 0}


def _rate_count(duration_s: float) -> int:
    """Number of 4 Hz samples ``k / 4`` inside ``[0, duration)``."""
    return int(np.ceil(duration_s * rhythm.RATE_FS - 1e-9))


def _beat_samples(rng: np.random.Generator, t: np.ndarray, rate: np.ndarray, fs: float, n_samples: int) -> np.ndarray:
    samples = np.round(rhythm.beat_times(rng, t, rate) * fs).astype(np.int64)
    return samples[samples < n_samples]


def _render_hearts(
    streams: dict[str, np.random.Generator],
    plan: rhythm.RatePlan,
    m_beats: np.ndarray,
    f_beats: np.ndarray,
    n_samples: int,
    fs: float,
    channels: int,
    fetal_ratio: float,
    maternal_uv: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both hearts rendered onto the channels; also returns their (C, 3) lead matrices as scaled."""
    shape, geometry = streams["shape"], streams["geometry"]
    m_template, m_offset = heart.beat_template(shape, fs, fetal=False)
    f_template, f_offset = heart.beat_template(shape, fs, fetal=True)
    electrodes = heart.electrode_positions(geometry, channels)
    m_proj = heart.lead_matrix(electrodes, heart.MATERNAL_HEART_CM) @ heart.maternal_orientation(geometry)
    f_proj = heart.lead_matrix(electrodes, heart.fetal_heart_position(geometry)) @ heart.random_rotation(geometry)
    m_proj *= maternal_uv / heart.template_peak(m_template, m_proj).mean()
    f_proj *= fetal_ratio * maternal_uv / heart.template_peak(f_template, f_proj).mean()

    m_resp = np.interp(m_beats / fs, plan.t, plan.resp_phase)
    m_gains = 1.0 + 0.08 * np.sin(m_resp) + 0.02 * geometry.standard_normal(m_beats.size)
    m_angles = 0.10 * np.sin(m_resp + 0.5)
    movement = rhythm.band_noise(geometry, plan.t.size, rhythm.RATE_FS, 0.001, 0.02)
    f_gains = 1.0 + 0.03 * geometry.standard_normal(f_beats.size)
    f_angles = 0.15 * np.interp(f_beats / fs, plan.t, movement)
    maternal = heart.render_source(
        n_samples, m_beats, m_template, m_offset, m_proj, m_gains, m_angles, geometry.standard_normal(3)
    )
    fetal = heart.render_source(
        n_samples, f_beats, f_template, f_offset, f_proj, f_gains, f_angles, geometry.standard_normal(3)
    )
    return maternal, fetal, m_proj, f_proj


def _mix_noise(
    streams: dict[str, np.random.Generator],
    plan: rhythm.RatePlan,
    n_samples: int,
    p: _Parameters,
    mix: dict[str, float],
    target_power: float,
    powers: dict[str, float],
    keep: dict[str, np.ndarray] | None,
) -> tuple[np.ndarray, tuple[Artefact, ...]]:
    """The summed noise, each kind holding its share of ``target_power`` and the sum exactly that power.

    Kinds are made one at a time and added to the sum, so only one is alive at once (unless kept).
    Independent kinds have near-zero cross terms; a final common rescale removes what remains.
    """
    total = np.zeros((n_samples, p.channels), dtype=np.float32)
    made: dict[str, np.ndarray] = {}
    part_powers: dict[str, float] = {}
    artefacts: tuple[Artefact, ...] = ()
    for kind in mix:
        part, found = _noise_part(kind, streams[kind], plan, n_samples, p)
        artefacts = found or artefacts
        power = _power(part)
        if power == 0.0:  # e.g. mains above Nyquist: nothing to scale
            continue
        scale = np.sqrt(mix[kind] * target_power / power)
        part *= np.float32(scale)
        part_powers[kind] = power * scale**2
        total += part
        if keep is not None:
            made[kind] = part
        del part
    total_power = _power(total)
    correction = np.sqrt(target_power / total_power) if total_power > 0 else 1.0
    total *= np.float32(correction)
    for part in made.values():
        part *= np.float32(correction)
    if keep is not None:
        keep.update(made)
    powers.update({kind: value * correction**2 for kind, value in part_powers.items()})
    powers["noise"] = _power(total)
    return total, artefacts


def _noise_part(
    kind: str, rng: np.random.Generator, plan: rhythm.RatePlan, n_samples: int, p: _Parameters
) -> tuple[np.ndarray, tuple[Artefact, ...]]:
    """One unscaled noise component (and the artefacts it placed, for motion)."""
    if kind == "wander":
        return noise.baseline_wander(rng, n_samples, p.fs, plan.t, plan.resp_phase, p.channels), ()
    if kind == "powerline":
        return noise.powerline(rng, n_samples, p.fs, plan.t, p.channels, p.mains_hz), ()
    if kind == "emg":
        return noise.muscle_noise(rng, n_samples, p.fs, plan.t, p.channels), ()
    return noise.motion_artefacts(rng, n_samples, p.fs, p.channels, p.motion_artefacts)


def _signal_loss(
    rng: np.random.Generator, n_samples: int, fs: float, count: int
) -> tuple[tuple[LossSegment, ...], np.ndarray]:
    """``count`` segments of 2-8 s where every channel is lost (NaN in the record)."""
    mask = np.zeros(n_samples, dtype=bool)
    segments = []
    duration_s = n_samples / fs
    for start_s in np.sort(rng.uniform(0, max(duration_s - 8.0, 0.0), count)):
        end_s = min(float(start_s + rng.uniform(2.0, 8.0)), duration_s)
        mask[int(start_s * fs) : int(end_s * fs)] = True
        segments.append(LossSegment(float(start_s), end_s))
    return tuple(segments), mask
