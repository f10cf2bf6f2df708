"""Multichannel matched filtering of the fetal QRS: the signal the final fetal beats are picked on.

Why: the guided chain of :mod:`beats` is picked on QRS *energy*, which is blind to the shape of
the complex and so to which channel sees the fetus and with which polarity. Once that chain says
roughly where the beats are, each lead's fetal QRS can be averaged into a template, and the
correlation of every lead with its own template, summed over leads, is the classic multichannel
matched filter: the linear detector with the best signal-to-noise ratio for a known waveform. Its
output peaks sharply (within a sample) at each complex, so it also times the beats far better
than an energy envelope.

Two preparations make the sum close to that optimum on real abdominal leads:

- spatial whitening: the leads share much of their noise (the same muscle and the same maternal
  residual seen from nearby electrodes); decorrelating them first (the inverse square root of
  their covariance) makes the per-lead noise independent, the condition under which summing
  per-lead matched filters is optimal;
- local normalisation: noise on the abdomen comes in bursts (uterine and abdominal muscle, a lead
  moving), often on one lead at a time. Dividing each lead by its own running RMS (over
  ``LOCAL_WINDOW_S``) takes a bursting lead's weight down while the burst lasts, instead of
  letting it dominate the sum.

Measured on set-a a01-a40 (beat F1 at 50 ms, mean over records; see the TUNING comment of
:mod:`estimator`): energy chain alone 94.7 %; matched filter on the raw leads 90.5 %, on whitened
leads 96.6 %, whitened and locally normalised 98.0 %; with every local maximum a candidate
(:data:`beats.CANDIDATE_RADIUS_S`) 99.5 %.
"""

from __future__ import annotations

import numpy as np

from handlers.fhr import fftplan
from handlers.fhr.dsp import block_geometry, block_starts

# Half width of the fetal QRS template: the complex lasts ~50-70 ms, +-50 ms holds it whole.
TEMPLATE_HALF_S = 0.05
# Running-RMS window of the local normalisation: long enough to hold a beat or two (a QRS must
# not normalise itself away), short enough to follow a burst of muscle noise (measured: 0.25 s
# 97.7 %, 0.5 s 98.0 %, 1 s 97.8 % dev F1).
LOCAL_WINDOW_S = 0.5
# The running RMS is computed on blocks of this length, each block taking one gain: the same dev F1
# as a per-sample gain (99.51 -> 99.53 %), at a fraction of the cost.
_POWER_BLOCK_S = 0.1
# Columns per BLAS call (a 4 x 4 whitening on 16k columns stays on this thread; see spatial._CHUNK).
_CHUNK = 16384


def whitening(leads: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """The (k, leads) matrix that decorrelates the leads to unit variance (k <= leads: rank-deficient
    directions, e.g. a flat lead, are dropped). Estimated on at most ~50k evenly strided samples,
    valid samples only."""
    stride = max(1, leads.shape[1] // 50_000)
    sample = leads[:, ::stride].astype(np.float64)
    if valid is not None and not valid.all():
        sample = sample[:, valid[:, ::stride].all(axis=0)]
    if sample.shape[1] < 2 * leads.shape[0]:
        return np.eye(leads.shape[0])
    sample -= sample.mean(axis=1, keepdims=True)
    cov = np.einsum("in,jn->ij", sample, sample) / sample.shape[1]  # einsum: no BLAS threads woken
    values, vectors = np.linalg.eigh(cov)
    keep = values > 1e-9 * max(float(values.max()), 1e-30)
    return (vectors[:, keep] / np.sqrt(values[keep])).T


def prepare(leads: np.ndarray, fs: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Spatially whitened, locally normalised leads (float32, (k, n)): what the matched filter reads."""
    matrix = whitening(leads, valid).astype(np.float32)
    out = np.empty((matrix.shape[0], leads.shape[1]), dtype=np.float32)
    for first in range(0, leads.shape[1], _CHUNK):
        np.matmul(matrix, leads[:, first : first + _CHUNK], out=out[:, first : first + _CHUNK])
    normalise_locally(out, fs)
    return out


def normalise_locally(x: np.ndarray, fs: float) -> None:
    """Divide each lead of ``x`` (float32, in place) by its running RMS over ``LOCAL_WINDOW_S``.

    The RMS is measured per ``_POWER_BLOCK_S`` block and smoothed over the window; the gain is held
    constant within a block (steps of a few percent between blocks, against 0.5-s smoothing; the
    same F1 as a per-sample gain, at a third of the cost).
    """
    channels, n = x.shape
    block = max(1, int(round(_POWER_BLOCK_S * fs)))
    usable = n // block
    if usable < 2:
        x /= np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=1, keepdims=True)).astype(np.float32) + 1e-12
        return
    blocks = x[:, : usable * block].reshape(channels, usable, block)  # a view: rows of x are contiguous
    # block power as an einsum: 4x faster than squaring and averaging over a short last axis
    power = np.einsum("cbk,cbk->cb", blocks, blocks) / np.float32(block)
    span = max(1, int(round(LOCAL_WINDOW_S / _POWER_BLOCK_S)))
    padded = np.pad(power, ((0, 0), (span // 2, span - 1 - span // 2)), mode="edge")
    smooth = sum(padded[:, k : k + usable] for k in range(span)) / span
    floor = 1e-6 * max(float(np.median(smooth)), 1e-30)
    gains = (1.0 / np.sqrt(np.maximum(smooth, floor))).astype(np.float32)
    blocks *= gains[:, :, None]
    x[:, usable * block :] *= gains[:, -1:]  # the samples after the last whole block take its gain


def templates(x: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """Each lead's mean complex over the given beat samples, +-``TEMPLATE_HALF_S`` ((leads, width))."""
    half = int(round(TEMPLATE_HALF_S * fs))
    inside = beats[(beats >= half) & (beats < x.shape[1] - half)].astype(np.int64)
    if inside.size == 0:
        return np.zeros((x.shape[0], 2 * half + 1), dtype=np.float32)
    total = np.zeros((x.shape[0], 2 * half + 1), dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, 2 * half + 1, axis=1)
    # in chunks of beats: a (leads, beats, width) gather of a 30-min record would be ~4 MB at once
    for first in range(0, inside.size, 512):
        total += windows[:, inside[first : first + 512] - half].sum(axis=1, dtype=np.float64)
    return (total / inside.size).astype(np.float32)


def matched_output(x: np.ndarray, template: np.ndarray, fs: float) -> np.ndarray:
    """Sum over leads of each lead's correlation with its template, centred on the template (float32, (n,)).

    In the frequency domain, overlap-save in the same ~65-s blocks as :func:`dsp.filter_blocks`
    (whose cached plan for the leads it shares when no lead is rank-deficient): one forward
    transform of the leads and one inverse transform of the sum per block, exactly the direct
    correlation up to float32 rounding (measured: 10 ms for a 30-min record, against 18 ms for 100 shifted
    multiply-adds and 36 ms for ``np.correlate`` per lead).
    """
    channels, n = x.shape
    block, margin = block_geometry(fs)
    width = template.shape[1]
    kernel = np.zeros((channels, block), dtype=np.float32)
    kernel[:, :width] = template[:, ::-1]
    # correlation = convolution with the reversed template, advanced by its half width to centre it
    advance = np.exp(2j * np.pi * np.arange(block // 2 + 1) * (width // 2) / block)
    spectrum_kernel = (np.fft.rfft(kernel, axis=1) * advance).astype(np.complex64)
    plan = fftplan.rfft_into((channels, block), np.dtype(np.float32), block)
    out = np.empty(n, dtype=np.float32)
    for start in block_starts(n, block, margin):
        buffer = plan.input_array
        lo, hi = max(start, 0), min(start + block, n)
        buffer[:, : lo - start] = 0.0
        buffer[:, hi - start :] = 0.0
        buffer[:, lo - start : hi - start] = x[:, lo:hi]
        spectra = plan()
        summed = spectra[:1] * spectrum_kernel[:1]  # the channel sum as products: 4x faster than einsum
        for channel in range(1, channels):
            summed += spectra[channel] * spectrum_kernel[channel]
        filtered = fftplan.irfft(summed, block)[0]
        first = start + margin
        count = min(block - 2 * margin, n - first)
        out[first : first + count] = filtered[margin : margin + count]
    return out


def dominant_peaks(signal: np.ndarray, radius: int, floor: float) -> np.ndarray:
    """Local maxima of ``signal`` at least ``floor`` high that no other such maximum within +-``radius``
    samples exceeds (of equal ones, the first): sparse work after one pass over the signal."""
    inner = signal[1:-1]
    peaks = np.flatnonzero((inner > signal[:-2]) & (inner >= signal[2:]) & (inner >= floor)) + 1
    heights = signal[peaks]
    keep = np.ones(peaks.size, dtype=bool)
    for step in range(1, radius + 1):  # peaks are >= 2 samples apart: at most radius/2 neighbours
        near = peaks[step:] - peaks[:-step] <= radius
        if not near.any():
            break
        later_higher = near & (heights[step:] > heights[:-step])
        keep[:-step] &= ~later_higher
        keep[step:] &= ~(near & ~later_higher)  # an equal or higher earlier peak wins
    return peaks[keep]


def subsample_peaks(signal: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Peak positions refined by the parabola through each peak and its two neighbours (samples, float)."""
    index = np.clip(peaks.astype(np.int64), 1, signal.size - 2)
    left, centre, right = signal[index - 1], signal[index], signal[index + 1]
    curvature = left - 2.0 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return index + np.clip(offset, -0.5, 0.5)
