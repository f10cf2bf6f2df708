"""Maternal QRS detection, maternal heart rate, and cancellation of the maternal ECG from every channel.

Why: on the abdomen the maternal ECG is 2-10 times larger than the fetal one and its harmonics
sit right in the fetal rate range (2 x 75 bpm = 150 bpm), so the fetal estimate is only as good
as the maternal cancellation. Beats are found on a channel-combined energy envelope of a
low-passed copy (the mother's QRS is wider than the fetus's, and every channel sees it); each
channel's maternal beat is then modelled by the first few principal components of its own beat
matrix (an SVD of the maternal beat, after Kanjilal et al.) and subtracted. A few components follow
amplitude changes with respiration and sub-sample jitter, yet cannot represent the fetal
complexes, which fall at random phases of the maternal cycle.
"""

from __future__ import annotations

import numpy as np

from handlers.fhr.dsp import moving_max, moving_mean

MIN_RR_S = 0.3  # 200 bpm: no maternal rhythm is faster
MAX_RR_S = 1.6  # 37.5 bpm


def energy_envelope(x: np.ndarray, valid: np.ndarray, fs: float, smoothing: int = 1) -> np.ndarray:
    """Channel-combined QRS energy: each channel scaled by its typical level, squared slope, summed, smoothed.

    The slope (first difference) favours the steep QRS over P/T waves and residual wander. With
    ``smoothing`` > 1 it is the slope of the ``smoothing``-sample centred moving mean of ``x``
    (edges repeated), taken directly: that mean's first difference is the difference of two samples
    ``smoothing`` apart, divided by ``smoothing``; the common scale drops out in the normalisation below.
    """
    slope = _smoothed_slope(x, smoothing)  # smoothing x the slope: the factor is folded into the scale
    if not valid.all():
        slope[~valid] = 0.0
    scale = np.median(np.abs(slope[:, :: max(1, slope.shape[1] // 20000)]), axis=1, keepdims=True)
    scale += 1e-6 * smoothing
    np.divide(slope, scale, out=slope)
    np.square(slope, out=slope)
    np.minimum(slope, 1e4, out=slope)
    energy = slope.sum(axis=0)
    return moving_mean(energy, max(1, int(0.05 * fs)))


def _smoothed_slope(x: np.ndarray, smoothing: int) -> np.ndarray:
    """``smoothing`` times the first difference of the centred ``smoothing``-sample moving mean of x.

    That difference at i is x[i + a] - x[i - b] with a = smoothing - 1 - smoothing // 2 and
    b = smoothing // 2 + 1 (edge samples repeated beyond the ends, as :func:`dsp.moving_mean` does):
    one subtraction of shifted views, no padded copy of the record. Index 0 is 0.
    """
    channels, n = x.shape
    slope = np.empty_like(x)
    slope[:, 0] = 0.0
    if n < 2:
        return slope
    ahead, behind = (smoothing - 1 - smoothing // 2, smoothing // 2 + 1) if smoothing > 1 else (0, 1)
    interior = slice(min(behind, n), max(n - ahead, behind))
    np.subtract(x[:, behind + ahead :], x[:, : max(n - ahead - behind, 0)], out=slope[:, interior])
    edges = np.r_[1 : min(behind, n), max(n - ahead, behind) : n]
    if edges.size:
        slope[:, edges] = x[:, np.minimum(edges + ahead, n - 1)] - x[:, np.maximum(edges - behind, 0)]
    return slope


def detect_beats(envelope: np.ndarray, fs: float, *, threshold_ratio: float = 0.3) -> np.ndarray:
    """R waves as envelope maxima that dominate +-0.27 s and exceed a fraction of the typical beat height.

    The typical height is the median of 2-s block maxima: every 2-s block holds at least one
    maternal beat, so the median is a beat height that a few artefacts cannot inflate.
    """
    radius = int(0.27 * fs)
    block = int(2.0 * fs)
    usable = envelope[: (len(envelope) // block) * block]
    typical = float(np.median(usable.reshape(-1, block).max(axis=1))) if usable.size else float(envelope.max())
    peaks = (envelope >= moving_max(envelope, radius)) & (envelope > threshold_ratio * typical)
    peaks &= envelope < 20.0 * typical  # giant artefacts are far above any beat
    samples = np.flatnonzero(peaks)
    if samples.size > 1:  # plateaus can mark two adjacent samples; keep the first
        samples = samples[np.concatenate(([True], np.diff(samples) > radius))]
    return samples


def refine_to_channel_peaks(x: np.ndarray, samples: np.ndarray, fs: float) -> np.ndarray:
    """Move each detection to the largest |slope| sum within +-40 ms, the QRS centre every channel agrees on."""
    radius = int(0.04 * fs)
    n = x.shape[1]
    offsets = np.arange(-radius, radius + 1)
    idx = np.clip(samples[:, None] + offsets[None, :], 1, n - 1)
    slope = np.abs(x[:, idx] - x[:, idx - 1]).sum(axis=0)
    return np.clip(samples + offsets[np.argmax(slope, axis=1)], 0, n - 1)


# Template alignment of the maternal R waves (align_to_template).
ALIGN_HALF_S = 0.06  # the template spans +-60 ms: the whole maternal QRS
ALIGN_SEARCH_S = 0.04  # each beat may move by up to +-40 ms (the slope search's own reach)
ALIGN_SMOOTH_S = 0.04  # 40-ms moving mean: its first null (25 Hz) is in the fetal QRS band
ALIGN_MIN_SHIFT = 2  # samples: one-sample moves are dither around a position between samples
ALIGN_MIN_CORRELATION = 0.6  # median beat-template correlation below which the mother is too weak to align on
ALIGN_TEMPLATE_BEATS = 256


def align_to_template(x: np.ndarray, samples: np.ndarray, fs: float) -> np.ndarray:
    """Move each maternal R wave to where it best matches the mean maternal beat (low-passed channels).

    Why: :func:`refine_to_channel_peaks` takes the steepest point near a detection, and where the
    fetus is larger on the abdomen than the mother (a08 of set-a) that is sometimes a fetal complex
    next to the maternal one; cancelling a maternal beat placed 30-40 ms off then leaves half her
    QRS in the residual and erases the fetal one. The mean of all beats is dominated by the
    correctly placed ones, and the fetal QRS hardly survives the 40-ms moving mean, so correlating
    each beat with it finds the maternal complex itself. Moves under ``ALIGN_MIN_SHIFT`` samples
    are ignored, and a weak mother (median correlation under ``ALIGN_MIN_CORRELATION``, a29) is left
    as found. Measured on set-a a01-a40: fetal RR RMSE 4.5 -> 3.7 ms, 4 Hz dev score 0.25 -> 0.17
    bpm^2, beat F1 99.57 -> 99.62 %; without the minimum shift, one-sample dithering of a strong
    mother's beats (a27) moved her residual into the fetal track (dev 0.25 -> 3.6 bpm^2).
    """
    if samples.size < 4:
        return samples
    n = x.shape[1]
    half, search = int(ALIGN_HALF_S * fs), int(ALIGN_SEARCH_S * fs)
    smooth = max(1, int(ALIGN_SMOOTH_S * fs))
    reach = half + search + smooth  # each beat's neighbourhood, before smoothing
    inside = (samples - reach >= 0) & (samples + reach < n)
    if np.count_nonzero(inside) < 4:
        return samples
    beats = samples[inside]
    width = 2 * (half + search) + 1
    size = 2 * half + 1
    # Each beat's neighbourhood as (channels, time, beats), then its centred moving mean as shifted
    # sums along time: the beats' neighbourhoods smoothed, not the whole record (30 min: 6 -> 1 ms).
    windows = np.lib.stride_tricks.sliding_window_view(x, 2 * reach + 1, axis=1)[:, beats - reach]
    raw = np.ascontiguousarray(windows.transpose(0, 2, 1))  # 2x faster than a fancy-indexed gather
    first = reach - (half + search) - smooth // 2  # output i averages raw[first + i : first + i + smooth]
    around = raw[:, first : first + width].copy()
    for k in range(1, smooth):
        around += raw[:, first + k : first + k + width]
    around /= np.float32(smooth)
    centred = around[:, search : search + size]
    template = centred[:, :, :: max(1, beats.size // ALIGN_TEMPLATE_BEATS)].mean(axis=2)
    correlation = np.einsum("ckb,ck->b", centred, template)
    norms = np.sqrt(np.einsum("ckb,ckb->b", centred, centred)) * np.linalg.norm(template)
    if np.median(correlation / (norms + 1e-12)) < ALIGN_MIN_CORRELATION:
        return samples
    lags = np.arange(-search, search + 1)
    # einsum, not a BLAS product: a (beats x 200) @ (200 x 21) product woke OpenBLAS's threads and
    # took 7-35 ms on this busy 2-core machine; 21 einsums take under 1 ms
    scores = np.stack(
        [np.einsum("ckb,ck->b", around[:, index : index + size], template) for index in range(lags.size)], axis=1
    )
    shift = lags[np.argmax(scores, axis=1)]
    shift[np.abs(shift) < ALIGN_MIN_SHIFT] = 0
    aligned = samples.copy()
    aligned[inside] = beats + shift
    return aligned


MATERNAL_RATES = np.arange(45.0, 141.0)


def find_maternal(
    x: np.ndarray, valid: np.ndarray, fs: float, *, tracked: bool = True, threads: int = 2, align: bool = True
) -> np.ndarray:
    """Maternal R-wave sample indices at the working rate.

    With ``tracked``, the same spectral machinery as for the fetus runs first on the maternal
    envelope (harmonic sums, Viterbi over 45-140 bpm), and beats are then picked as the strongest
    chain spaced like that rate. Where the mother's ECG is strong this finds the same beats as a
    threshold; where it is barely above the noise (a29 of set-a) a threshold finds noise, the
    tracked picker still finds a regular rhythm.
    """
    # A 40-ms moving average is a low-pass whose first null (25 Hz) falls on the fetal QRS band while the
    # wider maternal QRS (80-100 ms) passes: without it, a fetus larger than the mother on the abdomen
    # (a08, a15 of set-a) would be "detected" as the mother and then cancelled.
    envelope = energy_envelope(x, valid, fs, smoothing=max(1, int(0.04 * fs)))
    if not tracked or envelope.size < 8 * fs:
        found = refine_to_channel_peaks(x, detect_beats(envelope, fs), fs)
        return align_to_template(x, found, fs) if align else found
    from handlers.fhr import beats, fetal, tracking

    decimation = max(1, int(round(fs / 31.25)))
    usable = (envelope.size // decimation) * decimation
    coarse = envelope[:usable].reshape(1, -1, decimation).mean(axis=2)
    fs_env = fs / decimation
    coarse = np.sqrt(coarse)  # compress: a few giant beats or artefacts must not own the spectrum
    hop_s = 0.5 if envelope.size / fs <= 300 else 2.0  # long records: 6-s windows every 2 s (synthetic MAE unchanged)
    harmonic, centres = fetal.harmonic_spectra(
        coarse, fs_env, MATERNAL_RATES, window_s=6.0, hop_s=hop_s, threads=threads, whiten_hz=1.0, half_weight=0.5
    )
    evidence = fetal.combine_channels(harmonic, centres, MATERNAL_RATES, floor=1.0)
    path = tracking.viterbi(np.log(np.maximum(evidence.score, 1e-6)), MATERNAL_RATES, penalty_per_bpm=0.3 * 0.5 / hop_s)
    rate = MATERNAL_RATES[path]
    peaks = beats.candidates(envelope, fs, radius_s=0.12)
    expected_rr = fs * 60.0 / np.interp(peaks / fs, centres, rate)
    chain = beats.pick_beats(envelope, peaks, expected_rr, tightness=15.0)
    found = refine_to_channel_peaks(x, chain, fs)
    return align_to_template(x, found, fs) if align else found


def cancel(
    x: np.ndarray, samples: np.ndarray, fs: float, *, components: int = 3, before_share: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Subtract each channel's maternal beats, modelled by the leading principal components of its beat matrix.

    The window spans one whole median cardiac cycle (``before_share`` of it before the R wave), so
    the P and T waves go too: a T wave left behind has steep enough edges to pass the fetal band and
    would put a maternal-rate line into the fetal spectrum. Returns the residual (channels, n) and a
    per-beat quality (share of the beat energy explained, averaged over channels).
    """
    if samples.size < 4:
        return x.copy(), np.zeros(samples.size, dtype=np.float32)
    median_rr = float(np.median(np.diff(samples)))
    before = int(before_share * median_rr)
    width = int(median_rr)
    channels, n = x.shape
    # Windows reaching beyond the record see zeros there (and what is subtracted there is dropped).
    pad_before = max(0, before - int(samples[0]))
    pad_after = max(0, int(samples[-1]) - before + width - n)
    starts = samples - before + pad_before
    taper = _taper(width, max(2, int(0.02 * fs))).astype(np.float32)
    explained = np.zeros(samples.size, dtype=np.float64)
    # Beats two apart never overlap when every pair of RR intervals spans a window: each half of the
    # beats is then subtracted as whole rows (no scatter-add of ~2 M samples per channel).
    disjoint = bool(np.all(starts[2:] - starts[:-2] >= width))
    residual = np.empty_like(x)
    for ch in range(channels):
        row = np.concatenate((np.zeros(pad_before, x.dtype), x[ch], np.zeros(pad_after, x.dtype)))
        beats = np.lib.stride_tricks.sliding_window_view(row, width)[starts]  # a copy: rows gathered
        # The morphology subspace is learnt from at most ~256 beats spread over the record (a 30-min
        # record has ~2400): the same subspace, an eighth of the arithmetic.
        basis = leading_components(beats[:: max(1, beats.shape[0] // 256)], components).astype(np.float32)
        coefficients = _project(beats, basis)
        energy = np.einsum("nw,nw->n", beats, beats) + 1e-9
        # orthonormal basis: the model's energy is that of its coefficients, the rest is residual
        explained += (coefficients * coefficients).sum(axis=1) / energy
        model = _expand(coefficients, basis)
        model *= taper
        _subtract_beats(row, model, starts, width, disjoint)
        residual[ch] = row[pad_before : pad_before + n]
    quality = np.clip(explained / channels, 0.0, 1.0).astype(np.float32)
    return residual, quality


# Rows per BLAS product: products of ~256 x 200 x 3 run on the calling thread alone (measured);
# one product over all ~2400 beats of a 30-min record wakes OpenBLAS's threads (wall and CPU time up).
_BLAS_ROWS = 256


def _project(beats: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``beats @ basis``, in row chunks small enough to stay single-threaded (25x faster than einsum)."""
    out = np.empty((beats.shape[0], basis.shape[1]), dtype=np.result_type(beats, basis))
    for first in range(0, beats.shape[0], _BLAS_ROWS):
        np.matmul(beats[first : first + _BLAS_ROWS], basis, out=out[first : first + _BLAS_ROWS])
    return out


def _expand(coefficients: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``coefficients @ basis.T`` (the modelled beats), in the same single-threaded row chunks."""
    out = np.empty((coefficients.shape[0], basis.shape[0]), dtype=np.result_type(coefficients, basis))
    for first in range(0, coefficients.shape[0], _BLAS_ROWS):
        np.matmul(coefficients[first : first + _BLAS_ROWS], basis.T, out=out[first : first + _BLAS_ROWS])
    return out


def _subtract_beats(row: np.ndarray, model: np.ndarray, starts: np.ndarray, width: int, disjoint: bool) -> None:
    """``row[start : start + width] -= model[i]`` for every beat, overlapping windows adding up."""
    if disjoint:
        windows = np.lib.stride_tricks.sliding_window_view(row, width, writeable=True)
        for parity in (0, 1):
            windows[starts[parity::2]] -= model[parity::2]
        return
    index = (starts[:, None] + np.arange(width)[None, :]).ravel()
    row -= np.bincount(index, weights=model.ravel(), minlength=row.size).astype(np.float32)


def leading_components(beats: np.ndarray, count: int, iterations: int = 4) -> np.ndarray:
    """Orthonormal basis (window, count) of the beat matrix's leading principal directions.

    Subspace iteration from the mean beat and its first two derivatives (the directions amplitude
    and timing jitter move a beat in), using only skinny matrix products: no LAPACK call, whose
    multithreaded eigensolvers turned out erratic (30-600 ms) on a busy 2-core machine. The
    products (~256 x 200 x 3) go through BLAS: 7x faster than einsum here, and measured to use no
    CPU outside the calling thread (larger products, e.g. all ~2400 beats, did wake OpenBLAS's
    threads: wall time up, CPU time doubled; those stay on einsum).
    """
    mean = beats.mean(axis=0, dtype=np.float64)
    start = [mean, np.gradient(mean), np.gradient(np.gradient(mean))]
    while len(start) < count:
        start.append(np.roll(mean, len(start)))
    basis = _orthonormal(np.stack(start[:count], axis=1))
    for _ in range(iterations):
        basis32 = basis.astype(beats.dtype)
        basis = _orthonormal(beats.T @ (beats @ basis32))
    return basis


def _orthonormal(vectors: np.ndarray) -> np.ndarray:
    """Modified Gram-Schmidt on a few columns (degenerate columns become zero)."""
    out = np.array(vectors, dtype=np.float64, copy=True)
    for k in range(out.shape[1]):
        for j in range(k):
            out[:, k] -= (out[:, j] @ out[:, k]) * out[:, j]
        norm = float(np.linalg.norm(out[:, k]))
        out[:, k] = out[:, k] / norm if norm > 1e-12 else 0.0
    return out


def _taper(length: int, ramp: int) -> np.ndarray:
    window = np.ones(length)
    edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    window[:ramp] = edge
    window[-ramp:] = edge[::-1]
    return window


def rate_trace(
    samples: np.ndarray, beat_quality: np.ndarray, fs: float, grid_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Beat-to-beat maternal rate on the output grid: NaN where no plausible RR interval covers the time."""
    rate = np.full(grid_s.size, np.nan, dtype=np.float64)
    quality = np.zeros(grid_s.size, dtype=np.float64)
    if samples.size < 2:
        return rate, quality
    times = samples / fs
    rr = np.diff(times)
    local = np.convolve(np.pad(rr, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    plausible = (rr >= MIN_RR_S) & (rr <= MAX_RR_S) & (np.abs(rr - local) < 0.3 * local)
    interval = np.searchsorted(times, grid_s, side="right") - 1
    covered = (interval >= 0) & (interval < rr.size)
    k = interval[covered]
    good = plausible[k]
    rate[covered] = np.where(good, 60.0 / rr[k], np.nan)
    pair_quality = np.minimum(beat_quality[:-1], beat_quality[1:])
    quality[covered] = np.where(good, pair_quality[k], 0.0)
    return rate, quality
