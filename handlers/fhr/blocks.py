"""Block geometry of the overlap-save filtering, shared by the conditioner and the shipped FFTW wisdom.

Every filter of :mod:`handlers.fhr.dsp` has an impulse response of a few seconds at most
(raised-cosine edges >= 1.2 Hz wide), so discarding 4 s at each end of a ~65-s block leaves exactly
the samples a transform of the whole record would give, up to float32 rounding. The block sizes
are fixed whatever the record's length, which is why :mod:`handlers.fhr.fftwisdom` can measure
their FFTW plans offline. This module is a leaf: it imports only numpy.
"""

from __future__ import annotations

import numpy as np

BLOCK_SECONDS = 65.536
MARGIN_SECONDS = 4.096


def block_geometry(fs: float, factor: int = 1) -> tuple[int, int]:
    """(block, margin) in samples at ``fs``: ``factor`` times powers of two, near 65.5 s and 4.1 s.

    Multiples of the decimation ``factor``, so every block's kept bins are an exact lower-rate
    spectrum and every block starts on an output sample.
    """
    block = factor << max(8, int(round(np.log2(BLOCK_SECONDS * fs / factor))))
    margin = factor << max(4, int(round(np.log2(MARGIN_SECONDS * fs / factor))))
    return block, margin


def block_starts(n: int, block: int, margin: int) -> range:
    """First sample of every block (negative: zero-padded before the record); block ``b`` keeps
    ``[start + margin, start + block - margin)``, so the kept parts tile ``[0, n)``."""
    return range(-margin, max(n - margin, 1 - margin), block - 2 * margin)
