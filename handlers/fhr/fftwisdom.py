"""The offline generator of the FFTW wisdom shipped for the estimator's fixed-size block transforms.

Why: the conditioner and the fetal band-pass transform ~65-s blocks of a fixed size whatever the
record's length (see :mod:`blocks`), so their FFTW problems are known in advance: (channels, 65536)
real-to-complex at 1 kHz and (channels, 8193) -> 16384 complex-to-real at 250 Hz. Plans measured
offline (``FFTW_MEASURE``, ~1 s per problem here) run these transforms ~30 % faster than
``FFTW_ESTIMATE`` plans, but measuring at cold start is out of the question (PLATFORM.md). FFTW
reuses wisdom made with at least the requested rigour, so loading this small file (~1 ms) before
the first plan gives measured plans at ESTIMATE planning cost (:func:`fftplan.load_wisdom` does,
before the first plan of a process). This module is only the offline generator and the list of
problems: it depends on :mod:`fftplan` and :mod:`blocks`, never the other way round.

Regenerate (after changing block sizes or the pyfftw pin): ``venv/bin/python -m handlers.fhr.fftwisdom``.
"""

from __future__ import annotations

import json
from pathlib import Path

from handlers.fhr import fftplan
from handlers.fhr.blocks import block_geometry

# Records carry 1-16 channels; each count is a distinct FFTW problem (a batch of that many rows).
CHANNEL_COUNTS = range(1, 17)


def block_problems() -> list[tuple[str, tuple[int, ...], str, int]]:
    """(kind, input shape, dtype, n) of every block transform the estimator makes at 1 kHz / 250 Hz."""
    problems: list[tuple[str, tuple[int, ...], str, int]] = []
    for fs, factor in ((1000.0, 4), (250.0, 1)):  # the conditioner's input, then the fetal band-pass
        block, _ = block_geometry(fs, factor)
        for channels in CHANNEL_COUNTS:
            problems.append(("rfft", (channels, block), "float32", block))
    block, _ = block_geometry(250.0)
    for channels in CHANNEL_COUNTS:
        problems.append(("irfft", (channels, block // 2 + 1), "complex64", block))
    return problems


def generate(path: Path = fftplan.WISDOM_PATH, effort: str = "FFTW_MEASURE") -> int:
    """Measure every block problem (single-threaded, as :mod:`fftplan` runs them) and write the wisdom."""
    import numpy as np
    import pyfftw

    pyfftw.forget_wisdom()
    problems = block_problems()
    for kind, shape, dtype, n in problems:
        fftplan.build(kind, shape, np.dtype(dtype), n, threads=1, effort=effort)
    wisdom = pyfftw.export_wisdom()
    stored = {"fftw_version": pyfftw.fftw_version, "effort": effort, "problems": len(problems)}
    stored.update({name: data.decode("ascii") for name, data in zip(fftplan.WISDOM_PRECISIONS, wisdom, strict=True)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=0) + "\n")
    return len(problems)


def main() -> None:
    count = generate()
    print(f"wrote wisdom for {count} block transforms to {fftplan.WISDOM_PATH}")


if __name__ == "__main__":
    main()
