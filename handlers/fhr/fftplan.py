"""pyfftw plans made once per (kind, shape, dtype, n, threads) and reused for the life of the process.

Why a cache: an FFTW plan is expensive to make and cheap to run, and a warm Lambda sees the same
record lengths again and again (30-min records, 1-min records), so each distinct transform is
planned once. Planning uses ``FFTW_ESTIMATE`` only: ``FFTW_MEASURE`` costs 20-100 s on this class
of machine (see ../shared/PLATFORM.md), far more than any record takes to process. The fixed-size
block transforms get measured plans anyway, from wisdom shipped with the bundle (``fftw_wisdom.json``
beside this module, loaded before the first plan; :mod:`fftwisdom` makes it offline).

This module imports nothing else of the package: :mod:`dsp` and :mod:`fetal` plan through it, and
:mod:`fftwisdom` (the offline generator) builds its plans with :func:`build`, so there is no cycle.

The arrays a plan returns are its own output buffers: they are overwritten by the next call of the
same plan, so callers use (or copy) a result before transforming again with the same shape.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_DEFAULT_THREADS = 2
# Least recently used plans are dropped beyond this many: each holds its input/output buffers, and a
# long-lived process sees records of many lengths.
MAX_PLANS = 16
_plans: OrderedDict[tuple[object, ...], Callable[..., np.ndarray]] = OrderedDict()
_lock = threading.Lock()
_created = 0


def _good_size(n: int) -> bool:
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


def fast_length(n: int, multiple: int = 1) -> int:
    """Smallest ``m >= n`` that is ``multiple`` times a 5-smooth number (FFTW is fastest on those).

    The multiple lets a full-rate spectrum be truncated into an exact lower-rate spectrum when
    decimating by an integer factor in the frequency domain.
    """
    base = max(1, -(-n // multiple))
    while not _good_size(base):
        base += 1
    return base * multiple


# Below this transform length FFTW's threads cost more than they save: measured here, a 4 x 15000
# inverse transform takes 0.15 ms on one thread and 1.5-40 ms on two when the cores are busy, and
# the conditioner's 4 x 65536 blocks cost 41 ms CPU per 30-min record on one thread, 270 ms on two.
MIN_THREADED_LENGTH = 1 << 18


def _threads_for(n: int, threads: int) -> int:
    return threads if n >= MIN_THREADED_LENGTH else 1


def plans_created() -> int:
    """How many plans this process has made; lets tests check that repeated calls reuse them."""
    return _created


def _plan(kind: str, shape: tuple[int, ...], dtype: np.dtype, n: int, threads: int) -> Callable[..., np.ndarray]:
    global _created
    key = (kind, shape, np.dtype(dtype).str, n, threads)
    with _lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
            return plan
        load_wisdom_once()
        plan = build(kind, shape, dtype, n, threads)
        _plans[key] = plan
        _created += 1
        while len(_plans) > MAX_PLANS:
            _plans.popitem(last=False)
    return plan


def build(
    kind: str, shape: tuple[int, ...], dtype: np.dtype, n: int, threads: int, effort: str = "FFTW_ESTIMATE"
) -> Callable[..., np.ndarray]:
    """A new (uncached) plan; :mod:`fftwisdom` plans the same problems with more ``effort`` offline."""
    import pyfftw.builders

    template = np.empty(shape, dtype=dtype)  # ESTIMATE planning never reads it: no pages touched
    builder = pyfftw.builders.rfft if kind == "rfft" else pyfftw.builders.irfft
    return builder(template, n=n, axis=-1, threads=threads, planner_effort=effort)


# Next to this module, so setuptools package data ("*.json") and the Lambda bundle both carry it.
WISDOM_PATH = Path(__file__).with_name("fftw_wisdom.json")
WISDOM_PRECISIONS = ("double", "single", "long_double")
_wisdom_loaded = False


def load_wisdom(path: Path = WISDOM_PATH) -> bool:
    """Import the shipped wisdom into FFTW if it was made by this FFTW version; True if imported.

    Wisdom is only a hint: on another FFTW version it is not loaded, on another CPU FFTW still makes
    a valid (maybe slower) plan.
    """
    import pyfftw

    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if stored.get("fftw_version") != pyfftw.fftw_version:
        return False
    imported = pyfftw.import_wisdom(tuple(stored[name].encode("ascii") for name in WISDOM_PRECISIONS))
    return bool(any(imported))


def load_wisdom_once() -> None:
    """Import the shipped wisdom before the first plan, so the block transforms get measured plans
    while planning at ESTIMATE cost (FFTW uses wisdom made with at least the requested rigour)."""
    global _wisdom_loaded
    if not _wisdom_loaded:
        _wisdom_loaded = True
        load_wisdom()


def rfft_into(shape: tuple[int, ...], dtype: np.dtype, n: int, threads: int = _DEFAULT_THREADS) -> Any:
    """The cached plan itself, for callers that fill ``plan.input_array`` (shape ``(..., n)``) in place
    and then call ``plan()``: a 30-min record is then not copied once more into FFTW's buffer."""
    return _plan("rfft", shape, dtype, n, _threads_for(n, threads))


def rfft(x: np.ndarray, n: int | None = None, threads: int = _DEFAULT_THREADS) -> np.ndarray:
    """Real-to-complex FFT along the last axis, zero-padded (or cropped) to ``n``. Float32 stays single precision."""
    n = x.shape[-1] if n is None else n
    return _plan("rfft", x.shape, x.dtype, n, _threads_for(n, threads))(x)


def irfft(spectrum: np.ndarray, n: int, threads: int = _DEFAULT_THREADS) -> np.ndarray:
    """Complex-to-real inverse FFT along the last axis producing ``n`` samples (numpy normalisation)."""
    return _plan("irfft", spectrum.shape, spectrum.dtype, n, _threads_for(n, threads))(spectrum)
