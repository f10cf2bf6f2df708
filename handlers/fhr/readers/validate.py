"""Checks every record passes before it leaves a reader, so bad input fails early and clearly.

Cheap on purpose: amplitude statistics come from a strided subsample, because a 30-minute record
holds millions of samples and the checks must not cost a noticeable part of the parse.
"""

from __future__ import annotations

import numpy as np

from handlers.fhr.errors import NoEcgChannel, RecordTooShort, SamplingRateTooLow, UnusableSignal
from handlers.fhr.record import Record

MIN_DURATION_S = 10.0
MIN_FS_HZ = 250.0
# A body-surface ECG stays within tens of millivolts; beyond this, units or scaling are wrong.
MAX_PLAUSIBLE_UV = 100_000.0
# Below this spread (microvolts) a channel is taken as flat: a disconnected lead, not an ECG.
FLAT_SPREAD_UV = 0.5
_SUBSAMPLE_TARGET = 40_000  # per channel: enough for 1st/99th percentiles, cheap beside the parse


def channel_problems(signals: np.ndarray) -> list[str | None]:
    """One entry per channel: None when usable, else a short human reason."""
    step = max(1, signals.shape[0] // _SUBSAMPLE_TARGET)
    sample = signals[::step]
    problems: list[str | None] = []
    for column in range(sample.shape[1]):
        values = sample[:, column]
        finite = values[np.isfinite(values)]
        if finite.size < max(2, values.size // 100):
            problems.append("all samples invalid")
            continue
        low, high = np.percentile(finite, [1.0, 99.0])
        if high - low < FLAT_SPREAD_UV:
            problems.append("flat")
        elif max(abs(low), abs(high)) > MAX_PLAUSIBLE_UV:
            problems.append(f"absurd amplitude (~{max(abs(low), abs(high)) / 1000:.0f} mV)")
        else:
            problems.append(None)
    return problems


def validate_record(record: Record) -> Record:
    """Raise the precise error for a record the estimator cannot use; return it unchanged otherwise."""
    if record.n_channels == 0:
        raise NoEcgChannel(f"{record.source}: no ECG channel (no column or signal in volts)")
    if not np.isfinite(record.fs) or record.fs < MIN_FS_HZ:
        raise SamplingRateTooLow(
            f"{record.source}: sampling rate {record.fs:g} Hz is below {MIN_FS_HZ:g} Hz; "
            "the fetal QRS complex is not resolved"
        )
    if record.duration_s < MIN_DURATION_S:
        raise RecordTooShort(
            f"{record.source}: {record.duration_s:.2f} s of signal; at least {MIN_DURATION_S:g} s is needed"
        )
    problems = channel_problems(record.signals)
    absurd = [f"{name}: {why}" for name, why in zip(record.channels, problems, strict=True) if why and "absurd" in why]
    if absurd:
        raise UnusableSignal(f"{record.source}: amplitudes no body-surface ECG has ({'; '.join(absurd)})")
    if all(problems):
        listing = "; ".join(f"{name}: {why}" for name, why in zip(record.channels, problems, strict=True))
        raise UnusableSignal(f"{record.source}: no usable channel ({listing})")
    record.meta["unusable_channels"] = {
        name: why for name, why in zip(record.channels, problems, strict=True) if why is not None
    }
    return record
