"""The FHR estimator pipeline: condition -> maternal beats and cancellation -> spectral fetal evidence -> tracking.

Stages (each in its own module, each explained there):
  1. :mod:`dsp` - FFTs of ~65-s blocks (overlap-save, cached FFTW plans, float32): decimate to
     ~250 Hz, remove baseline wander, notch the mains lines found, low-pass; all in the same spectra.
  2. :mod:`maternal` - maternal rate tracked spectrally (harmonic sums + Viterbi on the channel-
     combined, low-passed QRS energy), maternal R waves picked along that rate, then each channel's
     maternal beat modelled by its leading principal components and subtracted; the MHR trace.
  3. :mod:`fetal` + :mod:`spatial` - the residual band-passed to the fetal QRS band (12-45 Hz),
     plus FastICA components as virtual channels; QRS-energy envelopes at 31.25 Hz with the
     maternal-synchronous average removed (a comb locked to the maternal beats); per window (4 s,
     every 0.25 s, or 2 s beyond 5 min) whitened envelope spectra, summed over harmonics with
     half-harmonics subtracted, damped at the maternal rate, combined across channels by spectral
     peakiness (the signal-quality index).
  4. :mod:`tracking` - Viterbi over a 1-bpm grid with an L1 continuity penalty.
  5. :mod:`beats` + :mod:`matched` - fetal beats picked on the residual as the strongest chain
     spaced like the tracked rate, then re-picked twice on a multichannel matched filter of the
     whitened leads (templates from the previous chain); the 4 Hz trace is their beat-to-beat rate
     where it agrees with the spectral track (within 12 bpm), else the track. Quality below a
     floor, or input invalid on most channels, gives null: no rate is guessed.
Then the 4 Hz traces, quality indices and summary are assembled into the documented result
(:mod:`result`). Development history and scores per approach: see the TUNING comment.
"""

from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass

import numpy as np

from handlers.fhr import beats, dsp, fetal, maternal, tracking
from handlers.fhr.options import Options, parse_options
from handlers.fhr.record import Record

OUTPUT_FS = 4.0

# Research knobs, overridable through options["tuning"]; tuned on set-a a01-a40 only (a41-a75 never).
# Dev score (bpm^2, SCORING.md) as the pipeline grew: spectral track alone 475; + low-passed maternal
# detection 314; + whitening 142; + half-harmonic subtraction 90; + beat refinement 87; + FastICA
# channels 64; + maternal comb 53; + spectrally tracked maternal beats 16.7; + stiffer continuity
# penalty (0.15 -> 0.5 per bpm) 1.47; final (lighter envelope smoothing) 1.41. Speed work (same
# pipeline): overlap-save block conditioning 1.15 (edges zero-padded, not wrapped); window spectra
# zero-padded 2x instead of 4x 0.96 (fetal.ZERO_PADDING). Beats from the matched filter
# (``matched_passes``, see beats.py for its own figures; 0 = the energy chain alone, whose dev
# score is 1.03 since the maternal comb's phases became exact): 0.25.
TUNING: dict[str, float] = {
    "band_low": 12.0,
    "maternal_tracked": 1.0,
    "ica": 1.0,
    "maternal_comb": 1.0,
    "working_fs": 250.0,
    "envelope_fs": 31.25,
    "peakiness_floor": 2.0,
    "band_high": 45.0,
    "maternal_components": 3.0,
    "maternal_depth": 0.95,
    "whiten_hz": 1.0,
    "half_weight": 0.5,
    "maternal_multiples": 1.0,
    "maternal_width_bpm": 6.0,
    "penalty_per_bpm": 0.5,
    "quality_floor": 0.05,
    "refine_tolerance_bpm": 12.0,
    "beat_tightness": 25.0,
    "matched_passes": 2.0,
    "maternal_align": 1.0,
}


@dataclass
class Analysis:
    """Everything the result is built from; kept separate so tests and the evaluator can look inside."""

    fhr_bpm: np.ndarray  # float64 (k,), NaN = signal lost
    fhr_quality: np.ndarray
    mhr_bpm: np.ndarray
    mhr_quality: np.ndarray
    grid_s: np.ndarray
    maternal_beats_s: np.ndarray
    fetal_beats_s: np.ndarray  # float64: the reported fetal beats, s rounded to the ms (beats.reported)
    fetal_rr_trusted: np.ndarray  # bool (beats - 1,): which intervals between them are trusted
    powerline_hz: tuple[float, ...]
    channels_used: tuple[int, ...]
    timings_ms: dict[str, float]


# Set by a caller that may abandon the analysis (handlers.api.analysis): checked between stages.
STOP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("fhr_estimator_stop", default=None)


class AnalysisStopped(Exception):
    """The caller abandoned the analysis (its STOP event is set): nothing is returned."""


def check_stop() -> None:
    stop = STOP.get()
    if stop is not None and stop.is_set():
        raise AnalysisStopped("the analysis was abandoned by its caller")


class _Stopwatch:
    """Stage timings in ms, for the result's ``timings_ms``; each lap is a point where a caller's STOP
    takes effect."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        check_stop()
        now = time.perf_counter()
        self.timings[stage] = round((now - self._last) * 1000.0, 3)
        self._last = now


# Cached FFTW plans own their input/output buffers, so two analyses must not run them at once (the
# API runs estimates in worker threads). The work is CPU-bound on 2 cores anyway: serialising costs
# little and keeps results exact.
_PIPELINE_LOCK = threading.Lock()


def analyse(record: Record, options: dict | Options | None = None) -> Analysis:
    """Run the pipeline on ``record`` and return the 4 Hz traces and intermediate facts."""
    opts = options if isinstance(options, Options) else parse_options(options, record.n_channels)
    with _PIPELINE_LOCK:
        check_stop()  # abandoned while waiting for the pipeline: never start
        return _analyse(record, opts)


def _analyse(record: Record, opts: Options) -> Analysis:
    knobs = {**TUNING, **opts.extra}
    clock = _Stopwatch()
    channels = opts.channels if opts.channels is not None else tuple(range(record.n_channels))
    signals = record.signals if opts.channels is None else record.signals[:, list(channels)]
    cond = dsp.condition(signals, record.fs, target_fs=knobs["working_fs"], threads=opts.threads)
    clock.lap("condition")

    m_beats = maternal.find_maternal(
        cond.x, cond.valid, cond.fs, tracked=knobs["maternal_tracked"] > 0, align=knobs["maternal_align"] > 0
    )
    residual, m_quality = maternal.cancel(cond.x, m_beats, cond.fs, components=int(knobs["maternal_components"]))
    grid = output_grid(record.duration_s)
    mhr, mhr_quality = maternal.rate_trace(m_beats, m_quality, cond.fs, grid)
    clock.lap("maternal")

    band, valid = _fetal_channels(residual, cond, knobs, opts.threads)
    hop_s = opts.hop_s if opts.hop_s is not None else default_hop_s(record.duration_s)
    # With every sample valid, the spectra and the beat picker use the same clipped QRS energy.
    energy = fetal.clipped_energy(band, valid)
    evidence = _fetal_evidence(band, valid, energy, cond.fs, m_beats / cond.fs, (grid, mhr), opts, knobs, hop_s)
    shared_energy = energy if valid.all() else None
    del energy
    clock.lap("spectra")

    path = tracking.viterbi(
        np.log(np.maximum(evidence.score, 1e-6)),
        evidence.rates,
        # per-frame evidence accumulates 1/hop times per second: scale the change cost to match
        penalty_per_bpm=knobs["penalty_per_bpm"] * 0.25 / hop_s,
    )
    tracked = evidence.rates[path]
    fhr = np.interp(grid, evidence.times, tracked)
    quality = np.interp(grid, evidence.times, evidence.quality)
    clock.lap("tracking")

    found = beats.FetalBeats(np.empty(0), np.empty(0), cond.fs)
    if opts.refine:
        found = beats.find_fetal(
            band,
            min(residual.shape[0], band.shape[0]),  # the leads come first (components only: all rows)
            valid,
            evidence,
            tracked,
            cond.fs,
            m_beats / cond.fs,
            tightness=knobs["beat_tightness"],
            energy=shared_energy,
            passes=int(knobs["matched_passes"]),
        )
        refined = beats.rate_on_grid(found.times_s, evidence, tracked, grid, knobs["refine_tolerance_bpm"])
        fhr = np.where(np.isfinite(refined), refined, fhr)
    lost = (quality < knobs["quality_floor"]) | _lost_signal(cond.valid, cond.fs, grid)
    fetal_s, fetal_trusted = beats.reported(found, lost, grid, (60.0 / opts.fhr_range[1], 60.0 / opts.fhr_range[0]))
    clock.lap("beats")
    return Analysis(
        fhr_bpm=np.where(lost, np.nan, fhr),
        fhr_quality=np.where(lost, 0.0, quality),
        mhr_bpm=mhr,
        mhr_quality=mhr_quality,
        grid_s=grid,
        maternal_beats_s=m_beats / cond.fs,
        fetal_beats_s=fetal_s,
        fetal_rr_trusted=fetal_trusted,
        powerline_hz=cond.powerline_hz,
        channels_used=tuple(channels),
        timings_ms=clock.timings,
    )


def output_grid(duration_s: float) -> np.ndarray:
    """The 4 Hz output times covering [0, duration): sample k is at k / 4 s."""
    grid = np.arange(int(np.floor(duration_s * OUTPUT_FS)) + 1) / OUTPUT_FS
    return grid[grid < duration_s]


def default_hop_s(duration_s: float) -> float:
    """Frames every 0.25 s up to 5 min; every 2 s beyond keeps a 30-min record fast (the beat
    refinement restores beat-level resolution in the trace; the 4-s windows still overlap by half).

    Measured on 30-min synthetic records (SNR 6/0/-3 dB, two seeds), 2 s instead of 1 s: estimator
    CPU -25 ms (~187 -> ~162 ms), MAE +0.00-0.05 bpm (worst 1.87 -> 1.92 bpm at -3 dB); set-a's
    1-min records (the dev score) are not affected.
    """
    return 0.25 if duration_s <= 300.0 else 2.0


def _fetal_channels(
    residual: np.ndarray, cond: dsp.Conditioned, knobs: dict[str, float], threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """The residual in the fetal QRS band, plus FastICA components as virtual channels (and validity)."""
    leads, n = residual.shape
    with_components = knobs["ica"] > 0 and leads >= 2
    # One array for leads and components (at most one per lead): the band-pass writes its rows
    # directly, the unmixing the rows after them; no concatenated copy of a 30-min record.
    channels = np.empty((2 * leads if with_components else leads, n), dtype=np.float32)
    band = fetal.fetal_band(residual, cond.fs, (knobs["band_low"], knobs["band_high"]), threads, out=channels[:leads])
    if not with_components:
        return band, cond.valid
    from handlers.fhr import spatial

    unmixing, mean = spatial.kurtosis_unmixing(band)
    k = len(unmixing)
    stride = max(1, n // 20000)
    typical = np.median(np.abs(band[:, ::stride]), axis=1).mean()
    sample = spatial.apply_unmixing(unmixing, mean, band[:, ::stride])
    # Scaled to the leads' typical level by folding the scale into the unmixing matrix.
    unmixing = unmixing * (typical / (np.median(np.abs(sample), axis=1)[:, None] + 1e-9))
    all_valid = np.repeat(cond.valid.all(axis=0, keepdims=True), k, axis=0)
    if knobs["ica"] >= 2:  # components only, without the leads themselves
        return spatial.apply_unmixing(unmixing, mean, band), all_valid
    spatial.apply_unmixing(unmixing, mean, band, out=channels[leads : leads + k])
    return channels[: leads + k], np.concatenate([cond.valid, all_valid], axis=0)


def _fetal_evidence(
    band: np.ndarray,
    valid: np.ndarray,
    energy: np.ndarray,
    fs: float,
    maternal_s: np.ndarray,
    mhr_trace: tuple[np.ndarray, np.ndarray],
    opts: Options,
    knobs: dict[str, float],
    hop_s: float,
) -> fetal.FetalEvidence:
    """QRS envelopes -> maternal comb -> harmonic spectra -> maternal penalty -> channel combination."""
    decimation = max(1, int(round(fs / knobs["envelope_fs"])))
    envelope, fs_env = fetal.qrs_envelope(band, valid, fs, decimation=decimation, energy=energy)
    if knobs["maternal_comb"] > 0:
        envelope = fetal.remove_maternal_synchronous(envelope, fs_env, maternal_s)
    rates = np.arange(opts.fhr_range[0], opts.fhr_range[1] + 0.5, 1.0)
    harmonic, centres = fetal.harmonic_spectra(
        envelope,
        fs_env,
        rates,
        window_s=opts.window_s,
        hop_s=hop_s,
        threads=opts.threads,
        whiten_hz=knobs["whiten_hz"],
        half_weight=knobs["half_weight"],
    )
    grid, mhr = mhr_trace
    penalty = tracking.maternal_penalty(
        rates,
        _interp_nan(grid, mhr, centres),
        depth=knobs["maternal_depth"],
        width_bpm=knobs["maternal_width_bpm"],
        multiples=(1.0, 2.0)[: int(knobs["maternal_multiples"])],
    )
    # float32 like the spectra: a float64 factor would promote the (channels, frames, rates) products
    return fetal.combine_channels(harmonic, centres, rates, penalty.astype(np.float32), floor=knobs["peakiness_floor"])


def _interp_nan(grid: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Sample a NaN-holed trace at other times; NaN stays NaN (nearest grid sample)."""
    if grid.size == 0:
        return np.full(at.size, np.nan)
    idx = np.clip(np.searchsorted(grid, at), 0, grid.size - 1)
    return values[idx]


def _lost_signal(valid: np.ndarray, fs: float, grid: np.ndarray) -> np.ndarray:
    """Grid times where fewer than half the channels hold valid input within +-1 s: no rate is reported there."""
    share = valid.mean(axis=0)
    idx = np.clip((grid * fs).astype(np.int64), 0, share.size - 1)
    smoothed = dsp.moving_mean(share[None, :], int(2 * fs))[0]
    return smoothed[idx] < 0.5
