"""One FHR analysis of one S3 object, shared by the synchronous endpoint and the queue worker.

Order of work, cheapest first, so bad input costs nothing and a repeat costs two small calls:
1. parse and authorise the ``s3://bucket/key`` name (400 / 403) and the options (400);
2. HEAD the object (and a WFDB header's ``.dat``): 404 if missing, 413 if over the size limit;
3. look the ETag-keyed result up in the cache: a hit returns without reading the object;
4. if a deadline is given and the predicted time does not fit, stop and let the caller defer;
5. read the record (streamed ranges) and run the estimator in a worker thread; cache the result.

Science and storage errors carry a machine ``code``; :func:`api_error_for` maps them to statuses
(422 unusable record, 413 too large, 404 missing, 400 bad options) without importing either
package at module load, so importing this module stays cheap.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from handlers.api.cache import ResultCache, cache_key, compact_result, options_hash, plain
from handlers.api.dynamo import error_code
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
from handlers.api.settings import Settings

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024
MAX_CHANNELS_FOR_EARLY_CHECK = 1 << 16

# Codes that are not "this record is unusable" (422) but something more precise.
STATUS_BY_CODE = {
    "invalid_options": 400,
    "object_not_found": 404,
    "not_found": 404,
    "no_such_key": 404,
    "access_denied": 403,
    "object_too_large": 413,
    "record_too_large": 413,
    "object_changed": 409,
}


@dataclass(frozen=True)
class S3Target:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_wfdb_header(self) -> bool:
        return self.key.lower().endswith(".hea")

    @property
    def keys(self) -> tuple[str, ...]:
        """The objects the record is made of: a WFDB header's signal file sits beside it."""
        if self.is_wfdb_header:
            return (self.key, self.key[:-4] + ".dat")
        return (self.key,)


@dataclass(frozen=True)
class ObjectSet:
    etags: tuple[str, ...]
    size: int


@dataclass
class Outcome:
    """What one analysis produced: a result (fresh or cached), or a request to defer it."""

    result: dict[str, Any] | None
    cached: bool
    pk: str
    size: int
    deferred: bool = False
    predicted_s: float = 0.0
    stored: bool = False


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
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES or any(ord(c) < 32 for c in key):
        raise BadRequest("the object key is empty, too long or holds control characters", code="invalid_uri")
    if bucket != allowed_bucket:
        raise Forbidden(f"only objects in the bucket {allowed_bucket!r} may be read", code="forbidden_bucket")
    if key.lower().endswith(".dat"):
        raise BadRequest("name a WFDB record by its .hea header; its .dat is read beside it", code="invalid_uri")
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


def api_error_for(exc: BaseException) -> ApiError | None:
    """The API error for a science or storage error (by its ``code``), else ``None``."""
    module = type(exc).__module__
    code = getattr(exc, "code", None)
    if not isinstance(code, str) or not module.startswith(("handlers.fhr", "handlers.storage")):
        return None
    status = STATUS_BY_CODE.get(code)
    message = str(exc) or code
    if status is None:
        if module.startswith("handlers.fhr"):
            return Unprocessable(message, code=code)
        return ServiceUnavailable(f"reading the object failed: {message}", code=code)
    error = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict, 413: PayloadTooLarge}[status]
    return error(message, code=code)


async def head_objects(s3: Any, target: S3Target) -> ObjectSet:
    heads = await asyncio.gather(*(_head(s3, target.bucket, key) for key in target.keys))
    return ObjectSet(etags=tuple(etag for etag, _ in heads), size=sum(size for _, size in heads))


async def _head(s3: Any, bucket: str, key: str) -> tuple[str, int]:
    try:
        response = await s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            raise NotFound(f"s3://{bucket}/{key} does not exist", code="object_not_found") from None
        if code in ("403", "AccessDenied"):
            raise Forbidden(f"s3://{bucket}/{key} may not be read", code="access_denied") from None
        raise
    return str(response.get("ETag", "")).strip('"'), int(response.get("ContentLength", 0))


class Throughput:
    """Bytes per second this environment achieved (EWMA); predictions use the slower of it and config."""

    def __init__(self, weight: float = 0.3) -> None:
        self.weight = weight
        self.observed: float | None = None

    def observe(self, size: int, seconds: float) -> None:
        if size <= 0 or seconds <= 0:
            return
        rate = size / seconds
        self.observed = rate if self.observed is None else (1 - self.weight) * self.observed + self.weight * rate

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
) -> Outcome:
    """Analyse ``target`` for ``tenant`` (who must own it: callers check with ``Caller.check_owns``)."""
    objects = await head_objects(s3, target)
    if objects.size > settings.max_record_bytes:
        raise PayloadTooLarge(
            f"{target.uri} is {objects.size} bytes; the limit is {settings.max_record_bytes}", code="object_too_large"
        )
    digest = options_hash(options)
    pk = cache_key(tenant, target.bucket, target.key, objects.etags, digest)
    hit = await cache.get(pk, tenant)
    if hit is not None:
        return Outcome(hit, cached=True, pk=pk, size=objects.size)
    predicted = THROUGHPUT.predict_s(objects.size, settings)
    if budget_s is not None and predicted > budget_s:
        return Outcome(None, cached=False, pk=pk, size=objects.size, deferred=True, predicted_s=predicted)
    started = time.perf_counter()
    result, etag = await read_and_estimate(s3, settings, target, options)
    THROUGHPUT.observe(objects.size, time.perf_counter() - started)
    if etag and etag != objects.etags[0]:  # replaced between HEAD and GET: key the result by what was read
        pk = cache_key(tenant, target.bucket, target.key, (etag, *objects.etags[1:]), digest)
    meta = {
        "tenant": tenant,
        "bucket": target.bucket,
        "key": target.key,
        "etag": ",".join(objects.etags),
        "options_hash": digest,
    }
    stored = await cache.put(pk, result, meta)
    return Outcome(result, cached=False, pk=pk, size=objects.size, stored=stored)


async def read_and_estimate(
    s3: Any, settings: Settings, target: S3Target, options: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Stream the record from S3, estimate in a thread (the loop stays free), compact the result."""
    from handlers.fhr import estimate
    from handlers.storage.s3stream import read_record

    try:
        record, info, _timings = await read_record(
            s3,
            target.bucket,
            target.key,
            part_size=settings.part_size,
            concurrency=settings.read_concurrency,
            max_bytes=settings.max_record_bytes,
        )
        result = await asyncio.to_thread(estimate, record, options)
    except Exception as exc:
        mapped = api_error_for(exc)
        if mapped is None:
            raise
        raise mapped from None
    etag = getattr(info, "etag", None)
    return compact_result(result), (str(etag).strip('"') if etag else None)
