"""The jobs queue worker: an SQS event source mapping delivers batches; failures are reported per message.

Returns ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` (the mapping must enable
``ReportBatchItemFailures``), so one bad message does not redeliver its whole batch.

Per message:
- a file no longer ``pending`` (a duplicate, or a retry after success) is acknowledged at once, except
  one that failed for a reason that was not the record's (``retries_exhausted``, ``stuck``): that is a
  redriven message (from the dead-letter queue, by ``fhr jobs redrive`` or the console), so the file is
  reopened (:meth:`JobStore.reopen`, once however often the message comes) and analysed again;
- bad input (a 4xx: missing object, other bucket, unusable record) is final: the file is recorded
  ``failed`` with its code and the message acknowledged — retrying cannot help;
- anything else is transient: the message is reported failed and hidden for an exponentially
  growing time (``ChangeMessageVisibility``: base x 2^(attempt-1), at most 15 min). On the last
  attempt (``JOBS_MAX_RECEIVES``, equal to the queue's redrive ``maxReceiveCount``) the file is
  recorded ``failed`` (``retries_exhausted``) and the message is still reported failed, so SQS moves
  it to the dead-letter queue for inspection;
- a body no producer of ours could have sent (a poison message) is reported failed every time and so
  ends in the dead-letter queue.

Limits: the invocation's deadline comes from its context (``get_remaining_time_in_millis``, less
``JOBS_DEADLINE_MARGIN_S``): a message still running then is reported failed (transient, backed off)
before Lambda would kill the whole batch. A record over :func:`record_limit_bytes` (what the function's
memory can decode with ``PARALLEL_MESSAGES`` in flight) is refused from its size, before anything is
read or decoded: a permanent ``object_too_large``/``record_too_large`` failure.
The analysis goes through the ETag cache, so a retried file whose result was already computed costs
two small calls, and :meth:`JobStore.record_outcome` counts each file exactly once.

Each message names its owner tenant: the file must lie under that tenant's prefix (checked again here,
as the API did) and its result is cached for that tenant; every log line of the message carries it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from typing import Any

from handlers.api import clients
from handlers.api.analysis import analyse, parse_filename, parse_options
from handlers.api.cache import ResultCache
from handlers.api.http import ApiError
from handlers.api.jobs import REOPENABLE_FAILURES, JobMessage, JobStore
from handlers.api.results import ResultObjects
from handlers.api.settings import Settings
from handlers.api.tenancy import Caller, bind
from handlers.fhr.preload import preload
from handlers.runtime.snapstart import register_before_snapshot

logger = logging.getLogger("handlers.api.worker")

MAX_VISIBILITY_S = 900
RETRYABLE_CODES = frozenset({"object_changed"})  # 4xx for a caller, but a second read will be consistent
PARALLEL_MESSAGES = 2  # the estimator is CPU-bound; one vCPU at 1769 MB, two threads overlap I/O
# Bytes of memory one byte of record may need while decoded and estimated: format 212 packs 1.5 bytes a
# sample that become 4 (float32) and the estimator's float64 working copies (a 256 MB upload ~680 MB
# decoded); 8x leaves the runtime and the other message room.
DECODE_EXPANSION = 8
DEFAULT_DEADLINE_MARGIN_S = 10.0


def record_limit_bytes(memory_mb: int, parallel: int = PARALLEL_MESSAGES) -> int:
    """The largest record a worker of ``memory_mb`` takes, ``parallel`` records decoding at once."""
    return memory_mb * 1024 * 1024 // (parallel * DECODE_EXPANSION)


def worker_settings() -> Settings:
    """The API's settings with the record limit lowered to what this function's memory can decode."""
    settings = Settings.from_env()
    try:
        memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"))
    except ValueError:
        memory_mb = 0
    if memory_mb <= 0:
        return settings
    return dataclasses.replace(settings, max_record_bytes=min(settings.max_record_bytes, record_limit_bytes(memory_mb)))


def deadline_of(context: Any) -> float | None:
    """The monotonic time by which every message must be settled (``None``: no context deadline)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    try:
        margin = float(os.environ.get("JOBS_DEADLINE_MARGIN_S", DEFAULT_DEADLINE_MARGIN_S))
    except ValueError:
        margin = DEFAULT_DEADLINE_MARGIN_S
    return time.monotonic() + remaining() / 1000.0 - margin


async def init() -> None:
    await clients.open_services("s3", "dynamodb", "sqs")
    clients.reopen_after_restore("s3", "dynamodb", "sqs")  # SnapStart only (see handlers.api.fhr.init)
    register_before_snapshot(preload)


async def shutdown() -> None:
    await clients.close()


SWEEP_SOURCE = "fhr.jobs-sweeper"  # fhrapp.definition.SWEEP_SOURCE (tests check they agree)


async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == SWEEP_SOURCE:
        from handlers.api import sweeper

        return await sweeper.handler(event, context)
    records = (event.get("Records") or []) if isinstance(event, dict) else []
    settings = worker_settings()
    deadline = deadline_of(context)
    gate = asyncio.Semaphore(PARALLEL_MESSAGES)

    async def guarded(record: dict[str, Any]) -> bool:
        async with gate:
            try:
                return await process(record, settings, deadline)
            except Exception:
                logger.exception("message %s failed unexpectedly", record.get("messageId"))
                return False

    outcomes = await asyncio.gather(*(guarded(record) for record in records))
    failures = [
        {"itemIdentifier": record.get("messageId", "")} for record, ok in zip(records, outcomes, strict=True) if not ok
    ]
    return {"batchItemFailures": failures}


async def process(record: dict[str, Any], settings: Settings, deadline: float | None = None) -> bool:
    """Handle one SQS record; ``True`` acknowledges it, ``False`` asks SQS to redeliver it."""
    message_id = record.get("messageId")
    try:
        message = JobMessage.from_json(str(record.get("body", "")))
    except ValueError as exc:
        logger.error("poison message %s: %s", message_id, exc)
        return False
    bind(message.tenant)  # this message's task only: each runs in its own context
    dynamodb = await clients.client("dynamodb")
    store = JobStore(dynamodb, settings.results_table, settings.result_ttl_s)
    item = await store.file(message.job_id, message.index)
    if item is None:
        logger.error("message %s names an unknown job file %s#%s", message_id, message.job_id, message.index)
        return False
    if not await _runnable(store, message, item):
        return True
    try:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("the invocation's deadline came before this message started")
        outcome = await asyncio.wait_for(_analyse(message, settings, dynamodb), timeout=remaining)
    except TimeoutError as exc:
        logger.warning("job %s file %s: the invocation's deadline came first", message.job_id, message.index)
        return await _transient(record, message, store, settings, exc)
    except ApiError as error:
        if error.status >= 500 or error.code in RETRYABLE_CODES:
            return await _transient(record, message, store, settings, error)
        failure = {"code": error.code, "message": error.message, "status": error.status}
        await store.record_outcome(message.job_id, message.index, {"status": "failed", "error": failure})
        _log_outcome(message, "failed", error.code)
        return True
    except Exception as exc:
        logger.exception("job %s file %s: transient failure", message.job_id, message.index)
        return await _transient(record, message, store, settings, exc)
    await store.record_outcome(message.job_id, message.index, outcome)
    _log_outcome(message, "done", None)
    return True


async def _runnable(store: JobStore, message: JobMessage, item: dict[str, Any]) -> bool:
    """Is the file to be analysed now? Pending: yes. Failed for a reason that was not the record's: a
    redrive, so reopen it (once: the reopen is conditioned on that failure). Anything else: a duplicate."""
    status = item["status"]["S"]
    if status == "pending":
        return True
    code = item.get("error_code", {}).get("S")
    if status == "failed" and code in REOPENABLE_FAILURES:
        if await store.reopen(message.job_id, message.index, code):
            logger.info("job %s file %s reopened by a redriven message (%s)", message.job_id, message.index, code)
            return True
        return await store.file_status(message.job_id, message.index) == "pending"  # reopened by a twin
    return False


def _log_outcome(message: JobMessage, status: str, code: str | None) -> None:
    """One line per finished file: job, index, status and code (the tenant is added; never the file name)."""
    extra = {"jobId": message.job_id, "index": message.index, "jobFileStatus": status, "code": code}
    logger.info("job %s file %s %s", message.job_id, message.index, status, extra=extra)


async def _analyse(message: JobMessage, settings: Settings, dynamodb: Any) -> dict[str, Any]:
    target = parse_filename(message.filename, settings.ecg_bucket)
    Caller(message.tenant).check_owns(target.key)
    options = parse_options(message.options)
    s3 = await clients.client("s3")
    cache = ResultCache(dynamodb, settings.results_table, settings.result_ttl_s, ResultObjects(s3, settings.ecg_bucket))
    outcome = await analyse(s3, cache, settings, target, options, tenant=message.tenant)
    recorded: dict[str, Any] = {"status": "done", "cached": outcome.cached, "summary": outcome.summary}
    if outcome.cached or outcome.stored:
        recorded["result_pk"] = outcome.pk
    return recorded


async def _transient(
    record: dict[str, Any], message: JobMessage, store: JobStore, settings: Settings, exc: BaseException
) -> bool:
    attempt = _receive_count(record)
    if attempt >= settings.max_receives:
        failure = {"code": "retries_exhausted", "message": f"gave up after {attempt} attempts", "status": 503}
        await store.record_outcome(message.job_id, message.index, {"status": "failed", "error": failure})
        return False  # still reported: SQS moves the message to the dead-letter queue
    await _back_off(record, settings, attempt)
    return False


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return int((record.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
    except ValueError:
        return 1


async def _back_off(record: dict[str, Any], settings: Settings, attempt: int) -> None:
    if not settings.jobs_queue_url or not record.get("receiptHandle"):
        return
    delay = min(settings.backoff_base_s * 2 ** (attempt - 1), MAX_VISIBILITY_S)
    try:
        sqs = await clients.client("sqs")
        await sqs.change_message_visibility(
            QueueUrl=settings.jobs_queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=delay
        )
    except Exception:
        logger.warning("could not delay message %s; SQS's own visibility timeout applies", record.get("messageId"))
