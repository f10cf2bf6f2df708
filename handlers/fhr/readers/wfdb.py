"""WFDB records (a ``.hea`` header plus its ``.dat`` signal file), formats 16 and 212.

Only what PhysioNet ECG data uses: one segment, one sample per frame, signals interleaved in one
or more signal files. Decoding is pure numpy (no per-sample Python), so a 30-minute 4-channel
record decodes in tens of milliseconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from handlers.fhr.errors import CorruptRecord, NoEcgChannel, UnsupportedFormat
from handlers.fhr.readers.units import microvolt_scale
from handlers.fhr.record import Record

FORMAT_NAME = "wfdb"
_INVALID = {16: -32768, 212: -2048}
_DEFAULT_GAIN = 200.0
_FORMAT_FIELD = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
_GAIN_FIELD = re.compile(r"^(?P<gain>[-+0-9.eE]+)(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>.+))?$")


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a header: where its samples are and how to turn them into physical units."""

    file_name: str
    fmt: int
    byte_offset: int
    gain: float
    baseline: int
    units: str
    description: str


@dataclass(frozen=True)
class Header:
    record_name: str
    fs: float
    n_samples: int | None
    signals: tuple[SignalSpec, ...]


def parse_header(text: str, source: str) -> Header:
    """Parse a single-segment WFDB header; raise a precise error for what we do not read."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise CorruptRecord(f"{source}: WFDB header is empty")
    fields = lines[0].split()
    if len(fields) < 2 or not _is_digits(fields[1]):
        raise CorruptRecord(f"{source}: WFDB record line {lines[0]!r} lacks a signal count")
    if "/" in fields[0]:
        raise UnsupportedFormat(f"{source}: multi-segment WFDB records are not supported")
    n_signals = int(fields[1])
    fs = _parse_fs(fields[2], source) if len(fields) > 2 else 250.0
    n_samples = int(fields[3]) if len(fields) > 3 and _is_digits(fields[3]) else None
    if len(lines) < 1 + n_signals:
        raise CorruptRecord(f"{source}: header announces {n_signals} signals but describes {len(lines) - 1}")
    signals = tuple(_parse_signal_line(line, source) for line in lines[1 : 1 + n_signals])
    return Header(record_name=fields[0], fs=fs, n_samples=n_samples, signals=signals)


def _parse_fs(field: str, source: str) -> float:
    try:
        return float(field.split("/")[0].split("(")[0])
    except ValueError as exc:
        raise CorruptRecord(f"{source}: sampling frequency {field!r} is not a number") from exc


def _parse_signal_line(line: str, source: str) -> SignalSpec:
    fields = line.split(maxsplit=8)
    if len(fields) < 2:
        raise CorruptRecord(f"{source}: signal line {line!r} lacks a format")
    match = _FORMAT_FIELD.match(fields[1])
    if match is None:
        raise CorruptRecord(f"{source}: signal format {fields[1]!r} is malformed")
    fmt = int(match["fmt"])
    if fmt not in _INVALID:
        raise UnsupportedFormat(f"{source}: WFDB format {fmt} is not supported (formats 16 and 212 are)")
    if int(match["spf"] or 1) != 1 or int(match["skew"] or 0) != 0:
        raise UnsupportedFormat(f"{source}: WFDB multi-frequency or skewed signals are not supported")
    gain, baseline, units = _DEFAULT_GAIN, None, "mV"
    if len(fields) > 2:
        gain_match = _GAIN_FIELD.match(fields[2])
        if gain_match is None:
            raise CorruptRecord(f"{source}: gain field {fields[2]!r} is malformed")
        gain = _gain(gain_match["gain"], fields[2], source)
        baseline = int(gain_match["baseline"]) if gain_match["baseline"] is not None else None
        units = gain_match["units"] or "mV"
    adc_zero = int(fields[4]) if len(fields) > 4 and _is_int(fields[4]) else 0
    return SignalSpec(
        file_name=fields[0],
        fmt=fmt,
        byte_offset=int(match["offset"] or 0),
        gain=gain,
        baseline=adc_zero if baseline is None else baseline,
        units=units,
        description=fields[8] if len(fields) > 8 else f"sig{fields[0]}",
    )


def _is_int(text: str) -> bool:
    return _is_digits(text.lstrip("-"))


def _is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²' and '١', which ``int`` then refuses or reads."""
    return text.isascii() and text.isdigit()


def _gain(text: str, field: str, source: str) -> float:
    """The ADC gain (0 means the default); a malformed or non-finite one makes the header corrupt."""
    try:
        gain = float(text)
    except ValueError:
        raise CorruptRecord(f"{source}: gain field {field!r} is malformed") from None
    if not math.isfinite(gain):
        raise CorruptRecord(f"{source}: gain field {field!r} is not finite")
    return gain or _DEFAULT_GAIN


def decode_format16(raw: bytes | memoryview, n_columns: int) -> np.ndarray:
    """Little-endian int16 frames -> (n, n_columns) int16 (a view, no copy)."""
    usable = (len(raw) // (2 * n_columns)) * 2 * n_columns
    return np.frombuffer(raw, dtype="<i2", count=usable // 2).reshape(-1, n_columns)


def decode_format212(raw: bytes | memoryview, n_columns: int) -> np.ndarray:
    """Pairs of 12-bit two's-complement samples packed in 3 bytes -> (n, n_columns) int16.

    An odd sample count ends in a 2-byte half triplet (as WFDB writes it): pad it back to 3 bytes.
    """
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size % 3:
        data = np.concatenate([data, np.zeros(3 - data.size % 3, dtype=np.uint8)])
    triplets = data.reshape(-1, 3).astype(np.int16)
    samples = np.empty(triplets.shape[0] * 2, dtype=np.int16)
    samples[0::2] = triplets[:, 0] | ((triplets[:, 1] & 0x0F) << 8)
    samples[1::2] = triplets[:, 2] | ((triplets[:, 1] & 0xF0) << 4)
    samples[samples > 2047] -= 4096
    usable = (samples.size // n_columns) * n_columns
    return samples[:usable].reshape(-1, n_columns)


def _decode_file(raw: bytes, specs: list[SignalSpec], source: str) -> np.ndarray:
    fmt = specs[0].fmt
    if any(spec.fmt != fmt for spec in specs):
        raise UnsupportedFormat(f"{source}: signals of different formats in one file are not supported")
    body = memoryview(raw)[specs[0].byte_offset :]
    return decode_format16(body, len(specs)) if fmt == 16 else decode_format212(body, len(specs))


def read_wfdb(header_bytes: bytes, dat_files: Mapping[str, bytes], source: str) -> Record:
    """Build a Record from a header and its signal files (``file name -> bytes``)."""
    header = parse_header(_decode_text(header_bytes, source), source)
    by_file: dict[str, list[SignalSpec]] = {}
    positions: dict[str, list[int]] = {}  # file name -> header index of each column in that file
    for index, spec in enumerate(header.signals):
        by_file.setdefault(spec.file_name, []).append(spec)
        positions.setdefault(spec.file_name, []).append(index)
    kept = [index for index, spec in enumerate(header.signals) if microvolt_scale(spec.units) is not None]
    if not kept:
        raise NoEcgChannel(f"{source}: no signal is in volts (units: {[s.units for s in header.signals]})")
    n_samples = _common_length(header, by_file, {name: len(raw) for name, raw in dat_files.items()}, source)
    signals = np.empty((n_samples, len(kept)), dtype=np.float32)
    for file_name, specs in by_file.items():
        digital = _decode_file(dat_files[file_name], specs, source)[:n_samples]
        for column, spec in enumerate(specs):
            index = positions[file_name][column]
            if index in kept:
                _to_microvolts(digital[:, column], spec, out=signals[:, kept.index(index)])
    return Record(
        signals=signals,
        fs=header.fs,
        channels=tuple(header.signals[index].description for index in kept),
        source=source,
        format=FORMAT_NAME,
        meta={"record_name": header.record_name, "units_in_file": [header.signals[index].units for index in kept]},
    )


def _common_length(
    header: Header, by_file: dict[str, list[SignalSpec]], file_sizes: Mapping[str, int], source: str
) -> int:
    lengths = []
    for file_name, specs in by_file.items():
        if file_name not in file_sizes:
            raise CorruptRecord(f"{source}: signal file {file_name!r} named by the header is missing")
        raw_len = file_sizes[file_name] - specs[0].byte_offset
        bits = 16 if specs[0].fmt == 16 else 12
        lengths.append((max(0, raw_len) * 8 + (4 if bits == 12 else 0)) // (bits * len(specs)))
    available = min(lengths)
    if header.n_samples is not None and available < header.n_samples:
        raise CorruptRecord(
            f"{source}: header announces {header.n_samples} samples but the signal file holds {available}"
        )
    return available if header.n_samples is None else header.n_samples


def _to_microvolts(digital: np.ndarray, spec: SignalSpec, out: np.ndarray) -> None:
    """(digital - baseline) / gain in the file's units, scaled to microvolts; the invalid code -> NaN."""
    scale = np.float32(microvolt_scale(spec.units) / spec.gain)  # type: ignore[operator]
    np.subtract(digital, np.float32(spec.baseline), out=out, dtype=np.float32)
    out *= scale
    out[digital == _INVALID[spec.fmt]] = np.nan


def _decode_text(raw: bytes, source: str) -> str:
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptRecord(f"{source}: WFDB header is not text") from exc


@dataclass(frozen=True)
class StreamPlan:
    """How to decode a single-file WFDB record piece by piece, as ranged reads of its .dat arrive.

    Parts must start on a multiple of ``unit_bytes`` past ``byte_offset`` (whole frames for format
    16, whole frame pairs for 212), so each part decodes on its own into its rows of the output.
    """

    header: Header
    file_name: str
    kept: tuple[int, ...]
    unit_bytes: int
    frames_per_unit: int
    byte_offset: int
    source: str

    def n_samples(self, dat_size: int) -> int:
        return _common_length(
            self.header, {self.file_name: list(self.header.signals)}, {self.file_name: dat_size}, self.source
        )

    def first_frame(self, part_start: int) -> int:
        return (part_start - self.byte_offset) // self.unit_bytes * self.frames_per_unit

    def decode_into(self, raw: bytes, part_start: int, out: np.ndarray) -> None:
        """Decode the part that starts at byte ``part_start`` of the .dat into its rows of ``out``."""
        specs = list(self.header.signals)
        if part_start < self.byte_offset:  # the bytes before the signal data are no samples
            raw = raw[self.byte_offset - part_start :]
            part_start = self.byte_offset
        fmt = specs[0].fmt
        digital = decode_format16(raw, len(specs)) if fmt == 16 else decode_format212(raw, len(specs))
        row = self.first_frame(part_start)
        digital = digital[: max(0, out.shape[0] - row)]
        for column, index in enumerate(self.kept):
            _to_microvolts(digital[:, index], specs[index], out=out[row : row + digital.shape[0], column])

    def record(self, signals: np.ndarray) -> Record:
        return Record(
            signals=signals,
            fs=self.header.fs,
            channels=tuple(self.header.signals[index].description for index in self.kept),
            source=self.source,
            format=FORMAT_NAME,
            meta={
                "record_name": self.header.record_name,
                "units_in_file": [self.header.signals[index].units for index in self.kept],
            },
        )


def stream_plan(header_bytes: bytes, source: str) -> StreamPlan | None:
    """A plan for piecewise decoding, or None when the record spans several signal files."""
    header = parse_header(_decode_text(header_bytes, source), source)
    files = {spec.file_name for spec in header.signals}
    formats = {spec.fmt for spec in header.signals}
    offsets = {spec.byte_offset for spec in header.signals}
    if len(files) != 1 or len(formats) != 1 or len(offsets) != 1:
        return None
    kept = tuple(index for index, spec in enumerate(header.signals) if microvolt_scale(spec.units) is not None)
    if not kept:
        raise NoEcgChannel(f"{source}: no signal is in volts (units: {[s.units for s in header.signals]})")
    n_signals = len(header.signals)
    fmt = formats.pop()
    return StreamPlan(
        header=header,
        file_name=files.pop(),
        kept=kept,
        unit_bytes=2 * n_signals if fmt == 16 else 3 * n_signals,
        frames_per_unit=1 if fmt == 16 else 2,
        byte_offset=offsets.pop(),
        source=source,
    )
