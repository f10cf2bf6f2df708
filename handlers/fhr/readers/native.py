"""The CSV readers' native fast path (``csvparse.c``), loaded with ctypes when it was built.

:func:`parse_lines` parses whole lines of short decimal fields straight into a float32 matrix, ~1 GB/s
on one thread (ctypes releases the GIL, so blocks parse in parallel too), with the same float32 bits as
the numpy path of :mod:`fastnum`; it gives up (returns None) on anything that path would hand to its
slower helpers, which then do as before. The library is ``_csvparse.<machine>.so`` beside this module
(``bundler/native.py`` builds it; the Lambda bundle ships it); without it, or with
``FHR_CSV_NATIVE=0``, everything runs on numpy.
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from handlers.fhr.readers.fastnum import BlockSpec

LIBRARY = Path(__file__).with_name(f"_csvparse.{platform.machine()}.so")
FALLBACK = -1
# 10^-q for q decimals, the same doubles fastnum's tables hold (so both paths round alike).
INVERSE_POWERS = np.array([10.0**-q for q in range(9)], dtype=np.float64)

_c_long, _c_int, _ptr = ctypes.c_long, ctypes.c_int, ctypes.c_void_p
_SIGNATURE = (
    ctypes.c_char_p,
    _c_long,
    _c_long,
    _c_int,
    _c_int,
    _c_int,
    _c_int,
    _ptr,
    _c_int,
    _ptr,
    _ptr,
    _ptr,
    _c_long,
)


class NativeParser:
    """The loaded library and the per-layout constants it needs (cached per ``BlockSpec``)."""

    def __init__(self, path: Path) -> None:
        library = ctypes.CDLL(str(path))
        self._function = library.fhr_parse_block
        self._function.restype = ctypes.c_long
        self._function.argtypes = _SIGNATURE
        self._count = library.fhr_count_newlines
        self._count.restype = ctypes.c_long
        self._count.argtypes = (ctypes.c_char_p, _c_long, _c_long)
        self._constants: dict[BlockSpec, tuple[np.ndarray, np.ndarray]] = {}

    def count_lines(self, buffer: bytes, lo: int, hi: int) -> int:
        """Newlines in ``buffer[lo:hi]`` (vectorised; ``bytes.count`` goes a byte at a time)."""
        if not 0 <= lo <= hi <= len(buffer):
            raise ValueError(f"[{lo}, {hi}) is not inside a buffer of {len(buffer)} bytes")
        return int(self._count(buffer, lo, hi))

    def _for(self, spec: BlockSpec) -> tuple[np.ndarray, np.ndarray]:
        constants = self._constants.get(spec)
        if constants is None:
            slots = np.full(spec.n_fields, -1, dtype=np.intc)
            slots[list(spec.value_columns)] = np.arange(len(spec.value_columns), dtype=np.intc)
            constants = (slots, np.asarray(spec.scales, dtype=np.float64))
            self._constants[spec] = constants
        return constants

    def parse_into(self, buffer: bytes, lo: int, hi: int, spec: BlockSpec, out: np.ndarray) -> int | None:
        """Parse ``buffer[lo:hi]`` (whole lines) into ``out`` (rows, values) float32 C-contiguous; the
        number of rows, or None when a line needs the numpy path (``out`` then holds nothing of use)."""
        if spec.invalid_marks != (b"-", b"") or not out.flags.c_contiguous or out.dtype != np.float32:
            return None
        if not 0 <= lo <= hi <= len(buffer):
            raise ValueError(f"[{lo}, {hi}) is not inside a buffer of {len(buffer)} bytes")
        slots, scales = self._for(spec)
        rows = self._function(
            buffer, lo, hi, spec.delimiter, spec.decimal, spec.n_fields, int(spec.crlf),
            slots.ctypes.data, len(spec.value_columns), scales.ctypes.data, INVERSE_POWERS.ctypes.data,
            out.ctypes.data, out.shape[0],
        )  # fmt: skip
        return None if rows == FALLBACK else int(rows)


def load(path: Path = LIBRARY) -> NativeParser | None:
    """The native parser, or None when it was not built for this machine or is switched off."""
    if os.environ.get("FHR_CSV_NATIVE", "1") == "0" or not path.is_file():
        return None
    try:
        return NativeParser(path)
    except OSError:
        return None


_PARSER: NativeParser | None = None
_LOADED = False


def count_lines(buffer: bytes, lo: int, hi: int) -> int:
    """Newlines in ``buffer[lo:hi]``: native when built, else numpy (two passes, still faster than bytes.count)."""
    native = parser()
    if native is not None:
        return native.count_lines(buffer, lo, hi)
    return int(np.count_nonzero(np.frombuffer(buffer, dtype=np.uint8, count=hi - lo, offset=lo) == 10))


def parser() -> NativeParser | None:
    """The process's native parser (loaded once), or None."""
    global _PARSER, _LOADED
    if not _LOADED:
        _PARSER, _LOADED = load(), True
    return _PARSER
