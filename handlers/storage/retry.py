"""Retrying S3 calls on transient failures, with exponential backoff and full jitter.

WHY our own loop on top of botocore's: a ranged GET can fail *while its body streams* (a reset
mid-part), which botocore's retries do not cover; and the caller's client may be configured
with few or no retries. Full jitter (a uniform delay in [0, base * 2^attempt]) keeps parallel
part readers from retrying in lockstep against a throttling endpoint.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from handlers.storage.errors import AccessDenied, ObjectChanged, ObjectNotFound, StorageError, StorageUnavailable

T = TypeVar("T")

_TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling", "ThrottlingException"}
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
_CHANGED_CODES = frozenset({"412", "PreconditionFailed", "InvalidRange", "416"})


@dataclass
class RetryPolicy:
    """How many times to retry a transient failure and how long to wait between tries."""

    retries: int = 4
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0
    attempts_retried: int = 0  # counts retries actually made, for the timings

    def delay(self, attempt: int) -> float:
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2**attempt)))


def is_transient(exc: BaseException) -> bool:
    """5xx, 429, throttling codes, connection resets, truncated bodies and timeouts."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    if isinstance(exc, BotoCoreError):
        return True  # connection closed/refused, read timeout, incomplete read, streaming error
    import aiohttp

    return isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError))


def classify(exc: BaseException, what: str) -> StorageError | None:
    """The StorageError for a permanent failure, or None when ``exc`` is not an S3 client error."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND_CODES or status == 404:
        return ObjectNotFound(f"{what}: not found")
    if code in _CHANGED_CODES or status in (412, 416):
        return ObjectChanged(f"{what}: the object changed while it was being read; read it again")
    if code in ("AccessDenied", "403") or status == 403:
        return AccessDenied(f"{what}: access denied")
    return StorageError(f"{what}: {code or status}: {error.get('Message', '')}".rstrip(": "))


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    """Run ``call`` until it succeeds, a permanent error occurs, or the retries are spent."""
    attempt = 0
    while True:
        try:
            return await call()
        except StorageError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                mapped = classify(exc, what)
                if mapped is None:
                    raise
                raise mapped from exc
            if attempt >= policy.retries:
                raise StorageUnavailable(
                    f"{what}: still failing after {policy.retries} retries ({type(exc).__name__}: {exc})"
                ) from exc
            await asyncio.sleep(policy.delay(attempt))
            attempt += 1
            policy.attempts_retried += 1
