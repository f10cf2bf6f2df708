"""One FHR analysis of one S3 object, shared by the synchronous endpoint and the queue worker.

Order of work, cheapest first, so bad input costs nothing and a repeat costs two small calls:
1. parse and authorise the ``s3://bucket/key`` name (400 / 403) and the options (400);
2. resolve the record's objects once (:func:`handlers.storage.recordset.resolve_record`: the object,
   or a WFDB header and every signal file it names): 404 if one is missing, 413 if their total is
   over the size limit, 422 if the header names a file outside its directory;
3. look the result up in the cache, keyed by every object's ETag: a hit returns without reading
   the signal data;
4. if a deadline is given and the predicted time (from the same total size) does not fit, stop and
   let the caller defer;
5. read exactly the resolved objects (streamed ranges, ``If-Match`` on their ETags) and run the
   estimator in a worker thread; cache the result.

Science and storage errors carry a machine ``code``; :func:`api_error_for` maps them to statuses
(422 unusable record, 413 too large, 404 missing, 400 bad options, 503 storage trouble), and
:data:`RECORD_ERRORS` declares the same mapping for the API's contract, each code described by its
error class (both modules hold only exception classes: importing them stays cheap).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from handlers.api.cache import ResultCache, cache_key, compact_result, options_hash, plain
from handlers.api.contract import ErrorCode, codes, raises
from handlers.api.http import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
)
from handlers.api.inputs import JSON_ERRORS, check_object_key
from handlers.api.results import StoredResult
from handlers.api.settings import Settings
from handlers.fhr import errors as science_errors
from handlers.storage import errors as storage_errors

if TYPE_CHECKING:
    from handlers.storage.recordset import RecordObjects

T = TypeVar("T")

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
MAX_CHANNELS_FOR_EARLY_CHECK = 1 << 16

# Codes that are not "this record is unusable" (422) or "storage trouble" (503) but something more precise.
STATUS_BY_CODE = {
    "invalid_options": 400,
    "object_not_found": 404,
    "access_denied": 403,
    "object_too_large": 413,
    "record_too_large": 413,
    "object_changed": 409,
    "signal_file_outside_record": 422,
    "too_many_signal_files": 422,
}
_ABSTRACT_ERRORS = (science_errors.FhrError, science_errors.RecordError)  # bases: raised through a subclass


def status_of(error: type[BaseException]) -> int | None:
    """The HTTP status of a science or storage error class (``None``: not one of theirs)."""
    code, module = getattr(error, "code", None), error.__module__
    if not isinstance(code, str) or not module.startswith(("handlers.fhr", "handlers.storage")):
        return None
    return STATUS_BY_CODE.get(code, 422 if module.startswith("handlers.fhr") else 503)


def _record_errors() -> tuple[ErrorCode, ...]:
    """Every code of the science and storage errors, with the status :func:`api_error_for` gives it."""
    declared = []
    for module in (science_errors, storage_errors):
        for error in vars(module).values():
            if isinstance(error, type) and error.__module__ == module.__name__ and error not in _ABSTRACT_ERRORS:
                status = status_of(error)
                if status is not None:
                    doc = " ".join((error.__doc__ or error.code).split())
                    declared.append(ErrorCode(status, error.code, doc))
    return tuple(declared)


# What reading and analysing a record can answer (the science and storage errors, mapped by api_error_for).
RECORD_ERRORS = _record_errors()
FILENAME_ERRORS = codes(
    400,
    missing_filename="no filename was given",
    invalid_uri="the filename is not s3://bucket/key with a valid bucket name and a key of at most 1024 bytes without "
    "control characters, or names a WFDB .dat instead of its .hea",
) + codes(403, forbidden_bucket="the filename names a bucket other than the stack's")
OPTIONS_ERRORS = codes(
    400,
    invalid_options="options is not an object of known options within their ranges (handlers/fhr/options.py), "
    "or, as a query parameter, not valid JSON",
)
# The options query parameter is JSON text: read by the shared JSON rules, a syntax error is invalid_options.
OPTIONS_QUERY_ERRORS = OPTIONS_ERRORS + tuple(e for e in JSON_ERRORS if e.code != "malformed_json")


@dataclass(frozen=True)
class S3Target:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class Outcome:
    """What one analysis produced: a result (fresh or cached), or a request to defer it.

    A cached result kept in S3 is not read: ``result`` is ``None`` and ``stored_result`` says where it is
    (its size and summary with it); a fresh one written to S3 has both."""

    result: dict[str, Any] | None
    cached: bool
    pk: str
    size: int
    deferred: bool = False
    predicted_s: float = 0.0
    stored: bool = False
    stored_result: StoredResult | None = None

    @property
    def summary(self) -> Any:
        if self.result is not None:
            return self.result.get("summary")
        return self.stored_result.summary if self.stored_result is not None else None


def parse_filename(value: Any, allowed_bucket: str) -> S3Target:
    """``s3://bucket/key`` naming an object in the stack's bucket, else a 400 or a 403."""
    if value is None or value == "":
        raise BadRequest("filename is required, as s3://bucket/key", code="missing_filename")
    if not isinstance(value, str):
        raise BadRequest("filename must be a string s3://bucket/key", code="invalid_uri")
    if not value.startswith("s3://"):
        raise BadRequest(f"filename must be an s3://bucket/key URI, got {value[:80]!r}", code="invalid_uri")
    bucket, _, key = value[len("s3://") :].partition("/")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise BadRequest(f"{bucket[:80]!r} is not a valid bucket name", code="invalid_uri")
    if not key:
        raise BadRequest("the object key is empty", code="invalid_uri")
    check_object_key(key, "the object key", "invalid_uri")
    if bucket != allowed_bucket:
        raise Forbidden(f"only objects in the bucket {allowed_bucket!r} may be read", code="forbidden_bucket")
    if key.lower().endswith(".dat"):
        raise BadRequest("name a WFDB record by its .hea header; it names its signal files", code="invalid_uri")
    return S3Target(bucket, key)


def parse_options(value: Any) -> dict[str, Any]:
    """The caller's options as plain JSON values, checked as far as possible before any read."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("options must be a JSON object", code="invalid_options")
    options = plain(value)
    from handlers.fhr.errors import InvalidOptions
    from handlers.fhr.options import parse_options as check

    try:
        check(options, MAX_CHANNELS_FOR_EARLY_CHECK)
    except InvalidOptions as exc:
        raise BadRequest(str(exc), code="invalid_options") from None
    return options


@raises(RECORD_ERRORS)
def api_error_for(exc: BaseException) -> ApiError | None:
    """The API error for a science or storage error (by its ``code``, see :func:`status_of`), else ``None``."""
    status = status_of(type(exc))
    if status is None:
        return None
    code, message = type(exc).code, str(exc) or type(exc).code
    if status == 503:
        return ServiceUnavailable(f"reading the object failed: {message}", code=code)
    error = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict, 413: PayloadTooLarge, 422: Unprocessable}
    return error[status](message, code=code)


async def _mapped(work: Awaitable[T]) -> T:
    """Await ``work``, turning science and storage errors into their API errors."""
    try:
        return await work
    except Exception as exc:
        mapped = api_error_for(exc)
        if mapped is None:
            raise
        raise mapped from None


async def resolve_objects(s3: Any, settings: Settings, target: S3Target) -> RecordObjects:
    """The record's objects (every signal file a WFDB header names), their total within the size limit."""
    from handlers.storage.recordset import resolve_record

    return await _mapped(resolve_record(s3, target.bucket, target.key, max_bytes=settings.max_record_bytes))


class Throughput:
    """Bytes per second this environment achieved (EWMA); predictions use the slower of it and config.

    Learnt from time measured inside invocations (:func:`handlers.runtime.clock.invocation_time`): an
    environment is frozen between them, and wall time across a freeze is not time spent analysing."""

    def __init__(self, weight: float = 0.3) -> None:
        self.weight = weight
        self.observed: float | None = None

    def observe(self, size: int, seconds: float) -> None:
        if size <= 0 or seconds <= 0:
            return
        rate = size / seconds
        self.observed = rate if self.observed is None else (1 - self.weight) * self.observed + self.weight * rate

    @contextlib.asynccontextmanager
    async def timing(self, size: int) -> AsyncIterator[None]:
        """Learn from the work inside the block, timed by the invocation clock (frozen gaps excluded)."""
        from handlers.runtime.clock import invocation_time

        started = invocation_time()
        yield
        self.observe(size, invocation_time() - started)

    def predict_s(self, size: int, settings: Settings) -> float:
        rate = settings.throughput_bytes_per_s
        if self.observed is not None:
            rate = min(rate, self.observed)
        return settings.fixed_overhead_s + size / max(rate, 1.0)


THROUGHPUT = Throughput()


async def analyse(
    s3: Any,
    cache: ResultCache,
    settings: Settings,
    target: S3Target,
    options: dict[str, Any],
    *,
    tenant: str,
    budget_s: float | None = None,
    queued: Callable[[str], Awaitable[bool]] | None = None,
) -> Outcome:
    """Analyse ``target`` for ``tenant`` (who must own it: callers check with ``Caller.check_owns``).

    ``queued(pk)`` (the API's) tells whether a job already computes that result: a retried request
    then joins it (a deferred outcome) instead of starting a second analysis beside the queued one.
    """
    objects = await resolve_objects(s3, settings, target)
    digest = options_hash(options)
    pk = cache_key(tenant, target.bucket, target.key, objects.etags, digest)
    hit = await cache.lookup(pk, tenant)
    if isinstance(hit, StoredResult):
        return Outcome(None, cached=True, pk=pk, size=objects.size, stored=True, stored_result=hit)
    if hit is not None:
        return Outcome(hit, cached=True, pk=pk, size=objects.size)
    predicted = THROUGHPUT.predict_s(objects.size, settings)
    if (budget_s is not None and predicted > budget_s) or (queued is not None and await queued(pk)):
        return Outcome(None, cached=False, pk=pk, size=objects.size, deferred=True, predicted_s=predicted)
    async with THROUGHPUT.timing(objects.size):
        result = await read_and_estimate(s3, settings, objects, options)
    meta = {
        "tenant": tenant,
        "bucket": target.bucket,
        "key": target.key,
        "etag": ",".join(objects.etags),
        "options_hash": digest,
    }
    stored = await cache.put(pk, result, meta)
    where = stored if isinstance(stored, StoredResult) else None
    return Outcome(result, cached=False, pk=pk, size=objects.size, stored=bool(stored), stored_result=where)


async def read_and_estimate(
    s3: Any, settings: Settings, objects: RecordObjects, options: dict[str, Any]
) -> dict[str, Any]:
    """Stream exactly the resolved objects from S3, estimate in a thread (the loop stays free), compact."""
    from handlers.fhr import estimate
    from handlers.storage.s3stream import read_record

    record, _info, _timings = await _mapped(
        read_record(
            s3,
            objects.bucket,
            objects.named.key,
            part_size=settings.part_size,
            concurrency=settings.read_concurrency,
            max_bytes=settings.max_record_bytes,
            objects=objects,
        )
    )
    result = await _mapped(_stoppable(estimate, record, options))
    return compact_result(result)


async def _stoppable(estimate: Any, record: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Run the estimator in a thread that stops at its next stage when this task is cancelled.

    A thread cannot be killed: without this, an analysis abandoned at its request's deadline would go on
    computing in the background, frozen with the environment and resumed inside the next caller's
    invocation (competing with it). The estimator checks :func:`handlers.fhr.estimator.stop_requested`
    between stages (contextvars follow ``asyncio.to_thread``)."""
    from handlers.fhr.estimator import STOP

    stop = threading.Event()

    def run() -> dict[str, Any]:
        STOP.set(stop)
        return estimate(record, options)

    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        stop.set()
        raise
