"""Errors of the science package: one base class, one precise subclass per kind of bad input.

Each carries a stable machine ``code``; the API layer maps codes to HTTP statuses (422 for a record
it cannot use, 413 for one over the size limit), so this package stays free of HTTP and AWS.
"""

from __future__ import annotations


class FhrError(Exception):
    """Base of every error the readers and the estimator raise on purpose."""

    code = "fhr_error"


class RecordError(FhrError):
    """The input is not a usable ECG record. Subclasses say why; messages are for humans."""

    code = "invalid_record"


class UnsupportedFormat(RecordError):
    """Neither the name nor the first bytes identify a format we read."""

    code = "unsupported_format"


class EmptyRecord(RecordError):
    """The file is empty, or holds a header and no samples."""

    code = "empty_record"


class CorruptRecord(RecordError):
    """The bytes claim a format but break it: ragged rows, text in numeric columns, truncated data."""

    code = "corrupt_record"


class NoEcgChannel(RecordError):
    """No column or signal can be taken as ECG."""

    code = "no_ecg_channel"


class RecordTooShort(RecordError):
    """Shorter than the estimator's minimum (10 s): no rate can be trusted."""

    code = "record_too_short"


class SamplingRateTooLow(RecordError):
    """Below 250 Hz the fetal QRS complex (10-20 ms wide) is not resolved."""

    code = "sampling_rate_too_low"


class UnusableSignal(RecordError):
    """Every channel is invalid, flat, or of an amplitude no body surface ECG has."""

    code = "unusable_signal"


class RecordTooLarge(RecordError):
    """The object exceeds the configured maximum size; refused before reading it whole."""

    code = "record_too_large"


class InvalidOptions(FhrError):
    """An estimator option is unknown, of the wrong type, or out of range for the record."""

    code = "invalid_options"


class MissingSamplingRate(RecordError):
    """A text file with neither a time column nor a sampling rate given by the caller."""

    code = "missing_sampling_rate"
