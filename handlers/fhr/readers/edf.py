"""EDF and EDF+ (16-bit) records: a fixed-width ASCII header, then data records of int16 samples.

Signals in volts at the highest sampling rate among them are kept; the EDF+ annotation signal
and lower-rate auxiliary signals (respiration, temperature) are skipped, because the Record is
one matrix at one rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handlers.fhr.errors import CorruptRecord, EmptyRecord, NoEcgChannel, UnsupportedFormat
from handlers.fhr.readers.units import microvolt_scale
from handlers.fhr.record import Record

FORMAT_NAME = "edf"
_FIXED_HEADER = 256
_PER_SIGNAL = 256
_ANNOTATIONS = "EDF Annotations"
# (field name, width) of the per-signal header block, stored field by field for all signals.
_SIGNAL_FIELDS = (
    ("label", 16),
    ("transducer", 80),
    ("dimension", 8),
    ("physical_min", 8),
    ("physical_max", 8),
    ("digital_min", 8),
    ("digital_max", 8),
    ("prefilter", 80),
    ("samples_per_record", 8),
    ("reserved", 32),
)


@dataclass(frozen=True)
class EdfSignal:
    label: str
    dimension: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    samples_per_record: int


def read_edf(data: bytes, source: str) -> Record:
    header_bytes, n_records, record_seconds, signals, reserved = _parse_header(data, source)
    if reserved.startswith("EDF+D"):
        raise UnsupportedFormat(f"{source}: discontinuous EDF+ (EDF+D) records are not supported")
    record_samples = sum(signal.samples_per_record for signal in signals)
    available = (len(data) - header_bytes) // (2 * record_samples)
    if n_records < 0:
        n_records = available
    if n_records == 0:
        raise EmptyRecord(f"{source}: EDF header and no data records")
    if available < n_records:
        raise CorruptRecord(f"{source}: header announces {n_records} data records but the file holds {available}")
    kept = _ecg_signals(signals)
    if not kept:
        raise NoEcgChannel(f"{source}: no signal in volts (labels: {[s.label for s in signals]})")
    body = np.frombuffer(data, dtype="<i2", count=n_records * record_samples, offset=header_bytes)
    frames = body.reshape(n_records, record_samples)
    offsets = np.cumsum([0] + [signal.samples_per_record for signal in signals])
    spr = signals[kept[0]].samples_per_record
    out = np.empty((n_records * spr, len(kept)), dtype=np.float32)
    for column, index in enumerate(kept):
        digital = frames[:, offsets[index] : offsets[index + 1]].reshape(-1)
        _to_microvolts(digital, signals[index], out[:, column])
    return Record(
        signals=out,
        fs=spr / record_seconds,
        channels=tuple(signals[index].label for index in kept),
        source=source,
        format=FORMAT_NAME,
        meta={"edf_plus": reserved.startswith("EDF+"), "units_in_file": [signals[i].dimension for i in kept]},
    )


def _ecg_signals(signals: list[EdfSignal]) -> list[int]:
    voltage = [
        index
        for index, signal in enumerate(signals)
        if signal.label != _ANNOTATIONS and microvolt_scale(signal.dimension) is not None
    ]
    if not voltage:
        return []
    top_rate = max(signals[index].samples_per_record for index in voltage)
    return [index for index in voltage if signals[index].samples_per_record == top_rate]


def _to_microvolts(digital: np.ndarray, signal: EdfSignal, out: np.ndarray) -> None:
    span = signal.digital_max - signal.digital_min
    gain = (signal.physical_max - signal.physical_min) / span
    scale = microvolt_scale(signal.dimension) or 1.0
    offset = signal.physical_min - signal.digital_min * gain
    np.multiply(digital, np.float32(gain * scale), out=out, dtype=np.float32)
    out += np.float32(offset * scale)


def _parse_header(data: bytes, source: str) -> tuple[int, int, float, list[EdfSignal], str]:
    if len(data) < _FIXED_HEADER:
        raise CorruptRecord(f"{source}: {len(data)} bytes is shorter than the 256-byte EDF header")
    fixed = data[:_FIXED_HEADER].decode("ascii", errors="replace")
    header_bytes = _int(fixed[184:192], "header size", source)
    reserved = fixed[192:236].strip()
    n_records = _int(fixed[236:244], "number of data records", source)
    record_seconds = _float(fixed[244:252], "data record duration", source)
    n_signals = _int(fixed[252:256], "number of signals", source)
    if n_signals <= 0 or header_bytes != _FIXED_HEADER + n_signals * _PER_SIGNAL or len(data) < header_bytes:
        raise CorruptRecord(f"{source}: EDF header size {header_bytes} does not fit {n_signals} signals")
    if record_seconds <= 0:
        raise CorruptRecord(f"{source}: EDF data record duration {record_seconds} is not positive")
    block = data[_FIXED_HEADER:header_bytes].decode("ascii", errors="replace")
    fields: dict[str, list[str]] = {}
    position = 0
    for field_name, width in _SIGNAL_FIELDS:
        fields[field_name] = [
            block[position + i * width : position + (i + 1) * width].strip() for i in range(n_signals)
        ]
        position += width * n_signals
    signals = [_signal(fields, index, source) for index in range(n_signals)]
    return header_bytes, n_records, record_seconds, signals, reserved


def _signal(fields: dict[str, list[str]], index: int, source: str) -> EdfSignal:
    label = fields["label"][index]
    signal = EdfSignal(
        label=label,
        dimension=fields["dimension"][index],
        physical_min=_float(fields["physical_min"][index], f"{label} physical minimum", source),
        physical_max=_float(fields["physical_max"][index], f"{label} physical maximum", source),
        digital_min=_int(fields["digital_min"][index], f"{label} digital minimum", source),
        digital_max=_int(fields["digital_max"][index], f"{label} digital maximum", source),
        samples_per_record=_int(fields["samples_per_record"][index], f"{label} samples per record", source),
    )
    if signal.digital_max <= signal.digital_min or signal.samples_per_record <= 0:
        raise CorruptRecord(f"{source}: signal {label!r} has an empty digital range or no samples per record")
    return signal


def _int(text: str, what: str, source: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CorruptRecord(f"{source}: EDF {what} {text.strip()!r} is not an integer") from None


def _float(text: str, what: str, source: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise CorruptRecord(f"{source}: EDF {what} {text.strip()!r} is not a number") from None
