"""Errors of the storage package: one base class, one precise subclass per way a read can fail.

Each carries a stable machine ``code`` (like handlers.fhr.errors) so the API maps them to HTTP
statuses without knowing botocore: ObjectNotFound -> 404, ObjectTooLarge -> 413,
ObjectChanged -> 409, AccessDenied -> 403, StorageUnavailable -> 503, and a WFDB header naming signal files
the service will not follow (SignalFileOutsideRecord, TooManySignalFiles) -> 422.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised on purpose while reading from object storage."""

    code = "storage_error"


class ObjectNotFound(StorageError):
    """The bucket or the key does not exist (S3 404 / NoSuchKey / NoSuchBucket)."""

    code = "object_not_found"


class ObjectTooLarge(StorageError):
    """The object is larger than the configured maximum; raised after the HEAD, before any download."""

    code = "object_too_large"


class ObjectChanged(StorageError):
    """The object was overwritten while its parts were being read (its ETag no longer matches)."""

    code = "object_changed"


class AccessDenied(StorageError):
    """The credentials may not read this object (S3 403)."""

    code = "access_denied"


class StorageUnavailable(StorageError):
    """Transient failures (5xx, throttling, resets, timeouts) persisted through every retry."""

    code = "storage_unavailable"


class SignalFileOutsideRecord(StorageError):
    """A WFDB header names a signal file outside its record's directory (``../``, an absolute path, a URL).

    The header is the uploader's text: following such a name would let one record read another
    object (another tenant's, another bucket's), so it is refused before any request is made.
    """

    code = "signal_file_outside_record"


class TooManySignalFiles(StorageError):
    """A WFDB header spreads its signals over more files than a record may have (each costs a request)."""

    code = "too_many_signal_files"
