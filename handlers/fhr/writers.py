"""Writers: a :class:`~handlers.fhr.record.Record` out as PhysioNet text CSV, generic CSV, WFDB or EDF.

Why they exist: the synthetic generator has to produce files exactly as users send them, so the
readers, the S3 streaming path and the benchmarks are exercised on the real layouts. Every writer
returns bytes (for S3 or an in-memory benchmark); :func:`write_record` puts them on disk.

Text output is vectorised: numbers become fixed-point integers, their digits are laid out in a byte
matrix (one row per sample) and the used bytes are gathered in one boolean index, so a 30-minute,
4-channel, 1 kHz CSV (~67 MB) is formatted in well under the time ``numpy.savetxt`` takes.

Conventions:
- PhysioNet text CSV: two quoted header lines (``'Elapsed time','AECG1',...`` and
  ``'hh:mm:ss.mmm','mV',...``), rows ``'m:ss.mmm',v1,...`` (``'h:mm:ss.mmm'`` from one hour on),
  values in mV with ``decimals`` places, ``-`` for an invalid (NaN) sample.
- Generic CSV: optional header row of channel names, optional first column ``time_s`` in seconds,
  values in ``units`` (µV by default), NaN written as ``na_rep`` (empty by default).
- WFDB: format 16, one ``.dat`` with interleaved channels; per channel the gain and baseline map the
  channel's finite range onto ±32000 adu (keeping the full 16-bit resolution); -32768 = invalid.
- EDF (EDF+C with ``plus=True``): 16-bit, digital range -32767..32767 mapped onto each channel's
  physical range in µV; -32768 (outside the digital range) marks NaN and pads a last partial record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from handlers.fhr.errors import FhrError
from handlers.fhr.record import Record

if TYPE_CHECKING:
    from handlers.fhr.synth.truth import Truth

FORMATS = ("csv", "physionet-csv", "wfdb", "edf")
# A ".csv" means the PhysioNet layout: the one clinicians' exports and the service's 67 MB benchmark use.
_FORMAT_BY_SUFFIX = {
    ".csv": "physionet-csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".hea": "wfdb",
    ".dat": "wfdb",
    ".edf": "edf",
}
_CHUNK_ROWS = 1 << 17
_WFDB_HALF_RANGE = 32000
_WFDB_INVALID = -32768
_EDF_DIGITAL = (-32767, 32767)
_EDF_INVALID = -32768
# EDF+ annotation signal: 8-64 samples per record (16-128 bytes, ample for a time-keeping TAL); a divisor
# of the ECG's samples per record when there is one, since some readers assume integer rate ratios.
_EDF_ANNOTATION_SAMPLES = (8, 64)


class WriterError(FhrError, ValueError):
    """The record cannot be written in the asked format (unknown format, unrepresentable rate)."""

    code = "writer_error"


@dataclass(frozen=True)
class WfdbFiles:
    """A WFDB record: the ``.hea`` text and the ``.dat`` samples it names."""

    record_name: str
    header: bytes
    data: bytes


# --- text -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    """One text column for a block of rows: bytes (rows, width) and which of them are used."""

    chars: np.ndarray
    keep: np.ndarray


def _constant(rows: int, text: str) -> _Cells:
    row = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return _Cells(np.broadcast_to(row, (rows, row.size)), np.ones((rows, row.size), dtype=bool))


def _join(cells: Sequence[_Cells]) -> bytes:
    chars = np.concatenate([c.chars for c in cells], axis=1)
    keep = np.concatenate([c.keep for c in cells], axis=1)
    return chars[keep].tobytes()


def _fixed_point(values: np.ndarray, decimals: int, invalid: np.ndarray | None = None, na: str = "") -> _Cells:
    """Integers ``values`` shown as fixed-point numbers with ``decimals`` places (value / 10**decimals)."""
    rows = values.size
    magnitude = np.abs(values.astype(np.int64))
    whole = magnitude // 10**decimals
    int_width = max(1, len(str(int(whole.max())))) if rows else 1
    digits = int_width + decimals
    powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
    numerals = ((magnitude[:, None] // powers[None, :]) % 10).astype(np.uint8) + ord("0")
    int_digits = np.maximum(1, (whole[:, None] >= 10 ** np.arange(int_width, dtype=np.int64)[None, :]).sum(axis=1))
    width = 1 + int_width + (1 + decimals if decimals else 0)
    chars = np.full((rows, width), ord(" "), dtype=np.uint8)
    keep = np.zeros((rows, width), dtype=bool)
    chars[:, 1 : 1 + int_width] = numerals[:, :int_width]
    keep[:, 1 : 1 + int_width] = np.arange(int_width)[None, :] >= (int_width - int_digits)[:, None]
    if decimals:
        chars[:, 1 + int_width] = ord(".")
        chars[:, 2 + int_width :] = numerals[:, int_width:]
        keep[:, 1 + int_width :] = True
    negative = np.flatnonzero(values < 0)
    sign_at = int_width - int_digits[negative]
    chars[negative, sign_at] = ord("-")
    keep[negative, sign_at] = True
    if invalid is not None and invalid.any():
        chars, keep = _replace_rows(chars, keep, invalid, na)
    return _Cells(chars, keep)


def _replace_rows(chars: np.ndarray, keep: np.ndarray, rows: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Show ``text`` instead of the number in the ``rows`` selected by a boolean mask."""
    code = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    if code.size > chars.shape[1]:
        pad = code.size - chars.shape[1]
        chars = np.pad(chars, ((0, 0), (pad, 0)), constant_values=ord(" "))
        keep = np.pad(keep, ((0, 0), (pad, 0)), constant_values=False)
    keep[rows] = False
    if code.size:
        chars[rows, chars.shape[1] - code.size :] = code
        keep[rows, chars.shape[1] - code.size :] = True
    return chars, keep


def _zero_padded(values: np.ndarray, width: int) -> _Cells:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    chars = ((values[:, None] // powers[None, :]) % 10).astype(np.uint8) + ord("0")
    return _Cells(chars, np.ones(chars.shape, dtype=bool))


def _elapsed_cells(first: int, rows: int, fs: float, with_hours: bool) -> list[_Cells]:
    """PhysioNet's quoted elapsed time, ``'m:ss.mmm'`` or ``'h:mm:ss.mmm'``, for samples first..first+rows."""
    ms = np.rint((np.arange(first, first + rows, dtype=np.float64)) * (1000.0 / fs)).astype(np.int64)
    seconds, millis = np.divmod(ms, 1000)
    minutes, seconds = np.divmod(seconds, 60)
    cells = [_constant(rows, "'")]
    if with_hours:
        hours, minutes = np.divmod(minutes, 60)
        cells += [_fixed_point(hours, 0), _constant(rows, ":"), _zero_padded(minutes, 2)]
    else:
        cells.append(_fixed_point(minutes, 0))
    cells += [_constant(rows, ":"), _zero_padded(seconds, 2), _constant(rows, "."), _zero_padded(millis, 3)]
    return [*cells, _constant(rows, "'")]


def _quantised(block: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(integers, NaN mask) for a block of one channel scaled to fixed point."""
    invalid = ~np.isfinite(block)
    values = np.rint(np.where(invalid, 0.0, block.astype(np.float64) * scale)).astype(np.int64)
    return values, invalid


def _text_rows(
    record: Record, row_cells: Callable[[int, int], list[_Cells]], scale: float, decimals: int, sep: str, na: str
) -> bytes:
    """Format every sample row: ``row_cells`` gives the leading cells (time), then the channels follow."""
    parts = []
    for first in range(0, record.n_samples, _CHUNK_ROWS):
        block = record.signals[first : first + _CHUNK_ROWS]
        rows = block.shape[0]
        cells = row_cells(first, rows)
        for channel in range(record.n_channels):
            if cells:
                cells.append(_constant(rows, sep))
            values, invalid = _quantised(block[:, channel], scale * 10**decimals)
            cells.append(_fixed_point(values, decimals, invalid, na))
        cells.append(_constant(rows, "\n"))
        parts.append(_join(cells))
    return b"".join(parts)


def to_physionet_csv(record: Record, *, decimals: int = 3) -> bytes:
    """PhysioNet's text export: quoted header lines, elapsed time, millivolts, ``-`` for invalid."""
    names = ",".join(f"'{name}'" for name in ("Elapsed time", *record.channels))
    units = ",".join(["'hh:mm:ss.mmm'", *(["'mV'"] * record.n_channels)])
    with_hours = record.duration_s >= 3600.0
    body = _text_rows(
        record, lambda first, rows: _elapsed_cells(first, rows, record.fs, with_hours), 1e-3, decimals, ",", "-"
    )
    return f"{names}\n{units}\n".encode("ascii") + body


def to_csv(
    record: Record,
    *,
    delimiter: str = ",",
    header: bool = True,
    time_column: bool = True,
    decimals: int = 1,
    units: str = "uV",
    na_rep: str = "",
) -> bytes:
    """A plain CSV: optional header row, optional ``time_s`` column, values in ``units`` (uV or mV)."""
    scale = {"uV": 1.0, "mV": 1e-3}.get(units)
    if scale is None:
        raise WriterError(f"units must be 'uV' or 'mV', not {units!r}")
    if delimiter not in (",", ";", "\t"):
        raise WriterError(f"delimiter must be a comma, a semicolon or a tab, not {delimiter!r}")
    time_decimals = _time_decimals(record.fs)

    def time_cells(first: int, rows: int) -> list[_Cells]:
        if not time_column:
            return []
        ticks = np.rint(np.arange(first, first + rows) * (10**time_decimals / record.fs)).astype(np.int64)
        return [_fixed_point(ticks, time_decimals)]

    head = ""
    if header:
        head = delimiter.join((["time_s"] if time_column else []) + list(record.channels)) + "\n"
    return head.encode("ascii") + _text_rows(record, time_cells, scale, decimals, delimiter, na_rep)


def _time_decimals(fs: float) -> int:
    """Fewest decimals that show every sample time exactly (3 at 1 kHz, 8 at 256 Hz), at most 9."""
    if float(fs).is_integer():
        for decimals in range(10):
            if (10**decimals) % int(fs) == 0:
                return decimals
    return 6 if fs <= 1e6 else 9


# --- WFDB -------------------------------------------------------------------------------------------


def _channel_range(values: np.ndarray) -> tuple[float, float]:
    """Finite min and max of a channel; a flat or empty channel gets a 1 µV span around its level."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -0.5, 0.5
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-6:
        return low - 0.5, high + 0.5
    return low, high


def to_wfdb(record: Record, record_name: str = "synth") -> WfdbFiles:
    """Format-16 WFDB: per channel the gain maps the channel's range onto ±32000 adu, -32768 = invalid."""
    if any(c.isspace() for c in record_name) or not record_name:
        raise WriterError(f"WFDB record name {record_name!r} must be non-empty without spaces")
    columns, lines = [], []
    for channel, name in enumerate(record.channels):
        values = record.signals[:, channel].astype(np.float64)
        low, high = _channel_range(values)
        gain = float(f"{_WFDB_HALF_RANGE / ((high - low) / 2):.6g}")
        baseline = -int(round((low + high) / 2 * gain))
        invalid = ~np.isfinite(values)
        adu = np.rint(np.where(invalid, 0.0, values) * gain) + baseline
        stored = np.clip(adu, -32767, 32767).astype(np.int16)
        stored[invalid] = _WFDB_INVALID
        columns.append(stored)
        checksum = int(stored.astype(np.int64).sum()) % 65536
        checksum = checksum - 65536 if checksum >= 32768 else checksum
        first = int(stored[0]) if stored.size else 0
        lines.append(
            f"{record_name}.dat 16 {gain:.6g}({baseline})/uV 16 {baseline} {first} {checksum} 0 {_label(name)}"
        )
    data = np.column_stack(columns).astype("<i2").tobytes() if columns else b""
    head = f"{record_name} {record.n_channels} {record.fs:.12g} {record.n_samples}"
    header = "\n".join([head, *lines]) + "\n"
    return WfdbFiles(record_name=record_name, header=header.encode("ascii"), data=data)


def _label(name: str) -> str:
    return "".join(c if 32 < ord(c) < 127 else "_" for c in name) or "ECG"


# --- EDF --------------------------------------------------------------------------------------------


def _edf_field(text: str, width: int) -> bytes:
    raw = text.encode("ascii", errors="replace")
    if len(raw) > width:
        raise WriterError(f"EDF header field {text!r} is longer than {width} characters")
    return raw.ljust(width, b" ")


def _edf_number(value: float, rounding: Callable[[float], float]) -> str:
    """``value`` in at most 8 characters, rounded outward by ``rounding`` (floor for a min, ceil for a max)."""
    for decimals in range(6, -1, -1):
        scaled = rounding(value * 10**decimals) / 10**decimals
        text = f"{scaled:.{decimals}f}" if decimals else str(int(scaled))
        if len(text) <= 8:
            return text
    raise WriterError(f"{value!r} µV does not fit an EDF 8-character physical limit")


def _edf_layout(fs: float, n_samples: int) -> tuple[int, str, int]:
    """(samples per data record, record duration text, number of records) for one signal rate."""
    for duration in (1, 2, 5, 10, 20, 50, 100):
        per_record = fs * duration
        if abs(per_record - round(per_record)) < 1e-6:
            per_record = int(round(per_record))
            return per_record, str(duration), math.ceil(n_samples / per_record)
    raise WriterError(f"{fs!r} Hz gives no whole number of samples in an EDF data record")


def to_edf(
    record: Record,
    *,
    plus: bool = False,
    patient: str = "X X X X",
    recording: str | None = None,
    start: tuple[str, str] = ("01.01.00", "00.00.00"),
) -> bytes:
    """16-bit EDF (or EDF+C with ``plus``); ``start`` is (dd.mm.yy, hh.mm.ss)."""
    per_record, duration, n_records = _edf_layout(record.fs, record.n_samples)
    digital_min, digital_max = _EDF_DIGITAL
    ranges = [_channel_range(record.signals[:, c].astype(np.float64)) for c in range(record.n_channels)]
    limits = [(_edf_number(lo, math.floor), _edf_number(hi, math.ceil)) for lo, hi in ranges]
    signals = [
        _edf_signal_header(name, "uV", lo, hi, str(digital_min), str(digital_max), per_record)
        for name, (lo, hi) in zip(record.channels, limits, strict=True)
    ]
    annotation_samples = _annotation_samples(per_record)
    if plus:
        signals.append(_edf_signal_header("EDF Annotations", "", "-1", "1", "-32768", "32767", annotation_samples))
    recording = recording or ("Startdate X X X X" if plus else "synthetic abdominal ECG")
    n_signals = len(signals)
    fixed = b"".join(
        (
            _edf_field("0", 8),
            _edf_field(patient, 80),
            _edf_field(recording, 80),
            _edf_field(start[0], 8),
            _edf_field(start[1], 8),
            _edf_field(str(256 * (n_signals + 1)), 8),
            _edf_field("EDF+C" if plus else "", 44),
            _edf_field(str(n_records), 8),
            _edf_field(duration, 8),
            _edf_field(str(n_signals), 4),
        )
    )
    widths = (16, 80, 8, 8, 8, 8, 8, 80, 8, 32)
    per_signal = b"".join(_edf_field(signal[i], width) for i, width in enumerate(widths) for signal in signals)
    digital = _edf_digital(record, limits, per_record * n_records)
    blocks = digital.reshape(n_records, per_record, record.n_channels).transpose(0, 2, 1).reshape(n_records, -1)
    if plus:
        blocks = np.concatenate((blocks, _edf_annotations(n_records, int(duration), annotation_samples)), axis=1)
    return fixed + per_signal + blocks.astype("<i2").tobytes()


def _edf_signal_header(
    label: str, unit: str, phys_min: str, phys_max: str, dig_min: str, dig_max: str, samples: int
) -> tuple[str, ...]:
    return (label, "", unit, phys_min, phys_max, dig_min, dig_max, "", str(samples), "")


def _edf_digital(record: Record, limits: Sequence[tuple[str, str]], total: int) -> np.ndarray:
    """(total, C) int16 samples, padded at the end with the invalid marker."""
    digital_min, digital_max = _EDF_DIGITAL
    out = np.full((total, record.n_channels), _EDF_INVALID, dtype=np.int16)
    for channel, (lo_text, hi_text) in enumerate(limits):
        lo, hi = float(lo_text), float(hi_text)
        values = record.signals[:, channel].astype(np.float64)
        invalid = ~np.isfinite(values)
        scaled = (np.where(invalid, lo, values) - lo) * ((digital_max - digital_min) / (hi - lo)) + digital_min
        column = np.clip(np.rint(scaled), digital_min, digital_max).astype(np.int16)
        column[invalid] = _EDF_INVALID
        out[: record.n_samples, channel] = column
    return out


def _annotation_samples(per_record: int) -> int:
    low, high = _EDF_ANNOTATION_SAMPLES
    divisors = [d for d in range(low, high + 1) if per_record % d == 0]
    return max(divisors) if divisors else 32


def _edf_annotations(n_records: int, duration_s: int, samples: int) -> np.ndarray:
    """EDF+ time-keeping annotations ('+onset\\x14\\x14\\x00'), one per data record, as int16 words."""
    size = 2 * samples
    raw = bytearray(n_records * size)
    for index in range(n_records):
        tal = f"+{index * duration_s}\x14\x14\x00".encode("ascii")
        raw[index * size : index * size + len(tal)] = tal
    return np.frombuffer(bytes(raw), dtype="<i2").reshape(n_records, samples)


# --- files ------------------------------------------------------------------------------------------


def format_for_path(path: str | Path, format: str | None = None) -> str:
    """The explicit ``format`` if given, else the one the suffix implies (``.csv`` = PhysioNet layout)."""
    if format is not None:
        if format not in FORMATS:
            raise WriterError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMAT_BY_SUFFIX:
        raise WriterError(f"cannot tell the format from {str(path)!r}; give one of {', '.join(FORMATS)}")
    return _FORMAT_BY_SUFFIX[suffix]


def write_record(record: Record, path: str | Path, format: str | None = None) -> list[Path]:
    """Write ``record`` to ``path`` (WFDB: ``<stem>.hea`` and ``<stem>.dat``); return the files written."""
    path = Path(path)
    fmt = format_for_path(path, format)
    if fmt == "wfdb":
        stem = path.with_suffix("") if path.suffix.lower() in (".hea", ".dat") else path
        files = to_wfdb(record, stem.name)
        header, data = stem.with_name(stem.name + ".hea"), stem.with_name(stem.name + ".dat")
        header.write_bytes(files.header)
        data.write_bytes(files.data)
        return [header, data]
    if fmt == "edf":
        path.write_bytes(to_edf(record))
    elif fmt == "physionet-csv":
        path.write_bytes(to_physionet_csv(record))
    else:
        path.write_bytes(to_csv(record, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    return [path]


def truth_json(truth: Truth) -> bytes:
    """The truth of a synthetic record as compact JSON (see :class:`handlers.fhr.synth.Truth`)."""
    return json.dumps(truth.to_dict(), separators=(",", ":")).encode("utf-8")


def write_truth(truth: Truth, path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(truth_json(truth))
    return path
