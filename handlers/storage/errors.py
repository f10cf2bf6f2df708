"""Errors of the storage package: one base class, one precise subclass per way a read can fail.

Each carries a stable machine ``code`` (like handlers.fhr.errors) so the API maps them to HTTP
statuses without knowing botocore: ObjectNotFound -> 404, ObjectTooLarge -> 413,
ObjectChanged -> 409, AccessDenied -> 403, StorageUnavailable -> 503.
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
