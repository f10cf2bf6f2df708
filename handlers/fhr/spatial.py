"""Spatial sharpening of the fetal residual: independent components that maximise spikiness.

Why: each abdominal lead sees the fetal heart through a different projection and a different
noise mix; a weighted sum of leads can show the fetal QRS far better than any single lead. The
fetal QRS train is the spikiest (most super-Gaussian) thing left after maternal cancellation, so
components that maximise kurtosis (FastICA with the cubic contrast, symmetric decorrelation, on
the whitened fetal-band residual) tend to isolate it. The components are offered to the spectral
stage as extra "virtual channels"; the peakiness weighting decides whether they help.
"""

from __future__ import annotations

import numpy as np


def _symmetric_decorrelate(w: np.ndarray) -> np.ndarray:
    """W <- (W W^T)^(-1/2) W, via the eigen decomposition of a tiny (k x k) matrix."""
    values, vectors = np.linalg.eigh(w @ w.T)
    return (vectors * (1.0 / np.sqrt(np.maximum(values, 1e-12)))) @ vectors.T @ w


def kurtosis_components(x: np.ndarray, *, iterations: int = 20, max_samples: int = 30_000) -> np.ndarray:
    """FastICA (cube contrast, symmetric) on channels x (k, n); returns the k unit-variance components.

    The unmixing is learnt on at most ``max_samples`` evenly strided samples, then applied to all.
    """
    if x.shape[0] < 2:
        return x.copy()
    unmixing, mean = kurtosis_unmixing(x, iterations=iterations, max_samples=max_samples)
    return apply_unmixing(unmixing, mean, x)


def apply_unmixing(unmixing: np.ndarray, mean: np.ndarray, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``unmixing @ (x - mean)`` in float32, as ``unmixing @ x - unmixing @ mean`` (no centred copy of x)."""
    w = unmixing.astype(np.float32)
    result = np.empty((w.shape[0], x.shape[1]), dtype=np.float32) if out is None else out
    _matmul_chunks(w, x, result)
    result -= (w @ mean.astype(np.float32))[:, None]
    return result


# Columns per BLAS call: k x k x 16384 multiply-adds (k <= 4 leads) stay under OpenBLAS's 262k
# threshold for waking its worker threads, which otherwise spin on a busy machine (measured).
_CHUNK = 16384


def _matmul_chunks(w: np.ndarray, z: np.ndarray, out: np.ndarray) -> None:
    """``out = w @ z`` for a wide z, as single-threaded BLAS calls (8x faster than einsum here)."""
    step = max(1, _CHUNK * 16 // max(1, w.shape[0] * w.shape[1]))
    for first in range(0, z.shape[1], step):
        np.matmul(w, z[:, first : first + step], out=out[:, first : first + step])


def _gram_chunks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` for wide a and b, summed over single-threaded column chunks."""
    step = max(1, _CHUNK * 16 // max(1, a.shape[0] * b.shape[0]))
    total = np.zeros((a.shape[0], b.shape[0]), dtype=np.result_type(a, b))
    for first in range(0, a.shape[1], step):
        total += a[:, first : first + step] @ b[:, first : first + step].T
    return total


def kurtosis_unmixing(
    x: np.ndarray, *, iterations: int = 20, max_samples: int = 30_000
) -> tuple[np.ndarray, np.ndarray]:
    """The FastICA unmixing matrix (k', k) of channels x (k, n), and the channel means it is applied after."""
    k, n = x.shape
    sample = x[:, :: max(1, n // max_samples)].astype(np.float64)
    mean = x.mean(axis=1, dtype=np.float64)
    sample -= mean[:, None]
    cov = np.einsum("in,jn->ij", sample, sample) / sample.shape[1]
    values, vectors = np.linalg.eigh(cov)
    keep = values > 1e-9 * values.max()
    whitening = (vectors[:, keep] / np.sqrt(values[keep])).T
    z = whitening @ sample
    m = z.shape[0]
    w = _symmetric_decorrelate(np.eye(m) + 0.01 * np.random.default_rng(0).standard_normal((m, m)))
    y = np.empty_like(z)
    for _ in range(iterations):
        _matmul_chunks(w, z, y)
        np.multiply(y, y * y, out=y)  # y*y*y, not y**3 (float pow is ~20x slower)
        updated = _gram_chunks(y, z) / z.shape[1] - 3.0 * w
        updated = _symmetric_decorrelate(updated)
        converged = np.max(np.abs(np.abs(np.sum(updated * w, axis=1)) - 1.0)) < 1e-5
        w = updated
        if converged:
            break
    return w @ whitening, mean
