"""FFTW wisdom shipped with the bundle for the estimator's fixed-size block transforms.

Why: the conditioner and the fetal band-pass transform ~65-s blocks of a fixed size whatever the
record's length (see :mod:`dsp`), so their FFTW problems are known in advance: (channels, 65536)
real-to-complex at 1 kHz and (channels, 8193) -> 16384 complex-to-real at 250 Hz. Plans measured
offline (``FFTW_MEASURE``, ~1 s per problem here) run these transforms ~30 % faster than
``FFTW_ESTIMATE`` plans, but measuring at cold start is out of the question (PLATFORM.md). FFTW
reuses wisdom made with at least the requested rigour, so loading this small file (~1 ms) before
the first plan gives measured plans at ESTIMATE planning cost. Wisdom is only a hint: on another
FFTW version it is not loaded, on another CPU FFTW still makes a valid (maybe slower) plan.

Regenerate (after changing block sizes or the pyfftw pin): ``venv/bin/python -m handlers.fhr.fftwisdom``.
"""

from __future__ import annotations

import json
from pathlib import Path

# Next to this module, so setuptools package data ("*.json") and the Lambda bundle both carry it.
WISDOM_PATH = Path(__file__).with_name("fftw_wisdom.json")
# Records carry 1-16 channels; each count is a distinct FFTW problem (a batch of that many rows).
CHANNEL_COUNTS = range(1, 17)
_PRECISIONS = ("double", "single", "long_double")


def block_problems() -> list[tuple[str, tuple[int, ...], str, int]]:
    """(kind, input shape, dtype, n) of every block transform the estimator makes at 1 kHz / 250 Hz."""
    from handlers.fhr.dsp import block_geometry

    problems: list[tuple[str, tuple[int, ...], str, int]] = []
    for fs, factor in ((1000.0, 4), (250.0, 1)):  # the conditioner's input, then the fetal band-pass
        block, _ = block_geometry(fs, factor)
        for channels in CHANNEL_COUNTS:
            problems.append(("rfft", (channels, block), "float32", block))
    block, _ = block_geometry(250.0)
    for channels in CHANNEL_COUNTS:
        problems.append(("irfft", (channels, block // 2 + 1), "complex64", block))
    return problems


def load(path: Path = WISDOM_PATH) -> bool:
    """Import the shipped wisdom into FFTW if it was made by this FFTW version; True if imported."""
    import pyfftw

    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if stored.get("fftw_version") != pyfftw.fftw_version:
        return False
    imported = pyfftw.import_wisdom(tuple(stored[name].encode("ascii") for name in _PRECISIONS))
    return bool(any(imported))


def generate(path: Path = WISDOM_PATH, effort: str = "FFTW_MEASURE") -> int:
    """Measure every block problem (single-threaded, as :mod:`fftplan` runs them) and write the wisdom."""
    import numpy as np
    import pyfftw

    from handlers.fhr import fftplan

    pyfftw.forget_wisdom()
    problems = block_problems()
    for kind, shape, dtype, n in problems:
        fftplan.build(kind, shape, np.dtype(dtype), n, threads=1, effort=effort)
    wisdom = pyfftw.export_wisdom()
    stored = {"fftw_version": pyfftw.fftw_version, "effort": effort, "problems": len(problems)}
    stored.update({name: data.decode("ascii") for name, data in zip(_PRECISIONS, wisdom, strict=True)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=0) + "\n")
    return len(problems)


def main() -> None:
    count = generate()
    print(f"wrote wisdom for {count} block transforms to {WISDOM_PATH}")


if __name__ == "__main__":
    main()
