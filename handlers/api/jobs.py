"""Job records in the results table, and the queue messages that drive them.

Items (hash key ``pk`` only; every item carries ``expires_at`` like the cache):

- ``job#<id>``: ``tenant`` (the owner), ``total``, ``done_count``, ``failed_count``, ``options`` (JSON),
  ``created_at``, ``enqueued_at`` once every file's message was sent, and ``request_hash`` for a batch
  created under an ``Idempotency-Key``. Only its owner sees it: :meth:`JobStore.job` reads another
  tenant's job as missing.
- ``job#<id>#<index>``: one per file: ``tenant``, ``filename``, ``status`` (pending | done | failed),
  ``created_at``, ``sweeps`` (how often the sweeper re-enqueued it), and when finished ``result_pk``
  (the cache entry), ``summary`` (JSON) and ``cached``, or ``error`` (JSON).

Queue messages carry the owner too, so the worker analyses (and caches) each file as its tenant.

Idempotency: a file leaves ``pending`` exactly once. :func:`record_outcome` writes the file's new
status and the job's counter in ONE DynamoDB transaction conditioned on ``status = pending``, so a
duplicated or retried SQS message can neither count twice nor leave a counter behind a crash.
A file failed for a reason that was not the record's (``retries_exhausted``, ``stuck``) can be
:meth:`JobStore.reopen`-ed by a redriven message: back to ``pending`` and its failure uncounted, in one
transaction conditioned on that very failure, so a redrive is counted once however often it is delivered.

Self-healing creation: records first, messages next, ``enqueued_at`` last. A request that died between
them leaves a job without ``enqueued_at``; the same request again (the same one-file job id, or the
same ``Idempotency-Key``) finds it and sends the messages of its still-pending files, and the sweeper
(:mod:`handlers.api.sweeper`) does the same for a client that never retries. A message sent twice this
way is harmless: the worker counts each file once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.api.dynamo import error_code

JOB_PREFIX = "job#"
MAX_BATCH_FILES = 1000
_JOB_ID_RE = re.compile(r"[0-9a-f]{32}")
_WRITE_BATCH = 25  # BatchWriteItem limit
_GET_BATCH = 100  # BatchGetItem limit
_SEND_BATCH = 10  # SendMessageBatch limit
_PARALLEL_CALLS = 8


def new_job_id() -> str:
    return uuid.uuid4().hex


def job_id_for(result_pk: str) -> str:
    """The one-file job that computes the cache entry ``result_pk``: the same record, options and ETag
    always name the same job."""
    return hashlib.sha256(f"single|{result_pk}".encode()).hexdigest()[:32]


def batch_job_id(tenant: str, idempotency_key: str) -> str:
    """The batch job an ``Idempotency-Key`` names: per tenant, so two tenants' keys never meet."""
    return hashlib.sha256(f"batch|{tenant}|{idempotency_key}".encode()).hexdigest()[:32]


def request_hash(filenames: Sequence[str], options: dict[str, Any]) -> str:
    """What a batch asked for; the same key with another body is a client error, not a retry."""
    text = json.dumps({"filenames": list(filenames), "options": options}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# Failures that were not the record's fault: a redriven message (or the sweeper's) may run the file again.
REOPENABLE_FAILURES = frozenset({"retries_exhausted", "stuck"})


class IdempotencyConflict(Exception):
    """The ``Idempotency-Key`` already names a job of this tenant created from another request body."""


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID_RE.fullmatch(value))


def job_pk(job_id: str) -> str:
    return f"{JOB_PREFIX}{job_id}"


def file_pk(job_id: str, index: int) -> str:
    return f"{JOB_PREFIX}{job_id}#{index}"


@dataclass(frozen=True)
class JobMessage:
    """The body of one queue message: one file of one job."""

    job_id: str
    index: int
    filename: str
    options: dict[str, Any]
    tenant: str

    def to_json(self) -> str:
        body = {
            "jobId": self.job_id,
            "index": self.index,
            "filename": self.filename,
            "options": self.options,
            "tenant": self.tenant,
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> JobMessage:
        """Parse a message body; ``ValueError`` for one that no producer of ours could have sent."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("message body is not an object")
        job_id, index, filename = data.get("jobId"), data.get("index"), data.get("filename")
        options, tenant = data.get("options") or {}, data.get("tenant")
        if not isinstance(job_id, str) or not is_job_id(job_id):
            raise ValueError("message has no valid jobId")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < MAX_BATCH_FILES:
            raise ValueError("message has no valid index")
        if not isinstance(filename, str) or not isinstance(options, dict):
            raise ValueError("message has no valid filename/options")
        if not isinstance(tenant, str) or not tenant:
            raise ValueError("message has no owner tenant")
        return cls(job_id, index, filename, options, tenant)


async def _bounded(calls: Iterable[Any]) -> list[Any]:
    gate = asyncio.Semaphore(_PARALLEL_CALLS)

    async def run(call: Any) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(run(call) for call in calls))


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class JobStore:
    """Job records through a passed-in DynamoDB client (the results table)."""

    def __init__(self, dynamodb: Any, table: str, ttl_s: int) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.ttl_s = ttl_s

    def _expiry(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + self.ttl_s)}

    async def create(
        self,
        job_id: str,
        filenames: Sequence[str],
        options: dict[str, Any],
        kind: str,
        tenant: str,
        request: str | None = None,
    ) -> list[int]:
        """Create the job (files first, then the job item) and return the indexes whose messages to send.

        A job id that exists already (the same ``Idempotency-Key`` again) is not created twice: if
        its messages were all sent (``enqueued_at``) nothing is to be sent; if the request that made it
        died before that, its still-pending files are returned to be sent again. ``request`` (a
        :func:`request_hash`) must match the existing job's, else :class:`IdempotencyConflict`.
        """
        existing = await self._raw_job(job_id)
        if existing is None:
            files = [self._file_item(job_id, i, filename, tenant) for i, filename in enumerate(filenames)]
            # No message of this id was ever sent (messages follow the job item), so files are overwritten safely.
            await _bounded(self._write_batch(chunk) for chunk in _chunks(files, _WRITE_BATCH))
            job = self._job_item(job_id, len(filenames), options, kind, tenant)
            if request is not None:
                job["request_hash"] = {"S": request}
            if await self._put_new(job):
                return list(range(len(filenames)))
            existing = await self._raw_job(job_id)  # a concurrent twin made it first
            assert existing is not None
        if existing.get("tenant", {}).get("S") != tenant or existing.get("request_hash", {}).get("S") != request:
            raise IdempotencyConflict(job_id)
        return await self.unsent(job_id, existing)

    async def unsent(self, job_id: str, job: dict[str, Any]) -> list[int]:
        """The pending files of a job whose messages may not all have been sent (none if they were)."""
        if "enqueued_at" in job:
            return []
        total = int(job["total"]["N"])
        files = await self.files(job_id, range(total))
        return [i for i in range(total) if i in files and files[i]["status"]["S"] == "pending"]

    async def mark_enqueued(self, job_id: str) -> None:
        """Every message of the job was sent: a retry of its request has nothing left to repair."""
        await self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": job_pk(job_id)}},
            UpdateExpression="SET enqueued_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
        )

    async def create_single(self, job_id: str, filename: str, options: dict[str, Any], tenant: str) -> bool:
        """Start the one-file job ``job_id`` unless it is already running or done (then ``False``).

        Deferred requests name their job after the cache key, so a client retrying a slow record
        joins the job already queued instead of queueing the same work again; a failed job restarts.
        ``True`` means: send its message (then :meth:`mark_enqueued`). That is also the answer for a
        pending job whose message was never confirmed sent (its first request died in between): the
        retry repairs it instead of answering 202 forever.
        """
        try:
            await self.dynamodb.put_item(
                TableName=self.table,
                Item=self._file_item(job_id, 0, filename, tenant),
                ConditionExpression="attribute_not_exists(pk) OR #status = :failed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":failed": {"S": "failed"}},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            job = await self._raw_job(job_id)
            if job is not None:
                return bool(await self.unsent(job_id, job))
            # The file exists but its job item does not: the first request died in between.
            status = await self.file_status(job_id, 0)
            if status != "pending":
                return False
            return await self._put_new(self._job_item(job_id, 1, options, "single", tenant)) or True
        await self.dynamodb.put_item(TableName=self.table, Item=self._job_item(job_id, 1, options, "single", tenant))
        return True

    async def _put_new(self, item: dict[str, Any]) -> bool:
        try:
            await self.dynamodb.put_item(
                TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def _raw_job(self, job_id: str) -> dict[str, Any] | None:
        response = await self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": job_pk(job_id)}}, ConsistentRead=True
        )
        return response.get("Item")

    def _file_item(self, job_id: str, index: int, filename: str, tenant: str) -> dict[str, Any]:
        return {
            "pk": {"S": file_pk(job_id, index)},
            "kind": {"S": "job-file"},
            "tenant": {"S": tenant},
            "filename": {"S": filename},
            "status": {"S": "pending"},
            "created_at": {"N": str(int(time.time()))},
            "expires_at": self._expiry(),
        }

    def _job_item(self, job_id: str, total: int, options: dict[str, Any], kind: str, tenant: str) -> dict[str, Any]:
        return {
            "pk": {"S": job_pk(job_id)},
            "kind": {"S": f"job-{kind}"},
            "tenant": {"S": tenant},
            "total": {"N": str(total)},
            "done_count": {"N": "0"},
            "failed_count": {"N": "0"},
            "options": {"S": json.dumps(options, separators=(",", ":"), sort_keys=True)},
            "created_at": {"N": str(int(time.time()))},
            "expires_at": self._expiry(),
        }

    async def _write_batch(self, items: Sequence[dict[str, Any]]) -> None:
        requests = {self.table: [{"PutRequest": {"Item": item}} for item in items]}
        for attempt in range(8):
            response = await self.dynamodb.batch_write_item(RequestItems=requests)
            requests = response.get("UnprocessedItems") or {}
            if not requests:
                return
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError("DynamoDB left items unprocessed after retries")

    async def file_status(self, job_id: str, index: int) -> str | None:
        item = await self.file(job_id, index)
        return item["status"]["S"] if item else None

    async def file(self, job_id: str, index: int) -> dict[str, Any] | None:
        response = await self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": file_pk(job_id, index)}}, ConsistentRead=True
        )
        return response.get("Item")

    async def reopen(self, job_id: str, index: int, code: str) -> bool:
        """A file failed with ``code`` (one of :data:`REOPENABLE_FAILURES`) goes back to ``pending`` and its
        failure is uncounted, atomically; ``False`` if it no longer is in that state (reopened already)."""
        if code not in REOPENABLE_FAILURES:
            return False
        file_update = {
            "TableName": self.table,
            "Key": {"pk": {"S": file_pk(job_id, index)}},
            # swept_at restarts the sweeper's clock: a file reopened long after it was swept is not "stuck" at once
            "UpdateExpression": "SET #status = :pending, reopened = if_not_exists(reopened, :zero) + :one, "
            "swept_at = :now REMOVE #error, error_code, finished_at",
            "ConditionExpression": "#status = :failed AND error_code = :code",
            "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
            "ExpressionAttributeValues": {
                ":pending": {"S": "pending"},
                ":failed": {"S": "failed"},
                ":code": {"S": code},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":now": {"N": str(int(time.time()))},
            },
        }
        job_update = {
            "TableName": self.table,
            "Key": {"pk": {"S": job_pk(job_id)}},
            "UpdateExpression": "ADD failed_count :minus",
            "ConditionExpression": "attribute_exists(pk) AND failed_count > :zero",
            "ExpressionAttributeValues": {":minus": {"N": "-1"}, ":zero": {"N": "0"}},
        }
        return await self._update_file_and_job(file_update, job_update)

    async def record_outcome(self, job_id: str, index: int, outcome: dict[str, Any]) -> bool:
        """Move one file out of ``pending`` and count it, atomically. ``False``: already recorded."""
        done = outcome["status"] == "done"
        names = {"#status": "status", "#finished_at": "finished_at"}
        values: dict[str, Any] = {
            ":pending": {"S": "pending"},
            ":status": {"S": outcome["status"]},
            ":finished_at": {"N": str(int(time.time()))},
        }
        for name in ("result_pk", "summary", "error"):  # "error" is a reserved word: every name goes by #
            if outcome.get(name) is not None:
                names[f"#{name}"] = name
                text = outcome[name] if isinstance(outcome[name], str) else json.dumps(outcome[name])
                values[f":{name}"] = {"S": text}
        error = outcome.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            names["#error_code"] = "error_code"  # what a redrive's reopen() is conditioned on
            values[":error_code"] = {"S": error["code"]}
        if "cached" in outcome:
            names["#cached"] = "cached"
            values[":cached"] = {"BOOL": bool(outcome["cached"])}
        sets = ", ".join(f"{name} = :{name[1:]}" for name in names)
        file_update = {
            "TableName": self.table,
            "Key": {"pk": {"S": file_pk(job_id, index)}},
            "UpdateExpression": f"SET {sets}",
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        counter = "done_count" if done else "failed_count"
        job_update = {
            "TableName": self.table,
            "Key": {"pk": {"S": job_pk(job_id)}},
            "UpdateExpression": f"ADD {counter} :one",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
        return await self._update_file_and_job(file_update, job_update)

    async def _update_file_and_job(self, file_update: dict[str, Any], job_update: dict[str, Any]) -> bool:
        """Both updates in one transaction; ``False`` when the file's condition failed (already moved on)."""
        try:
            await self.dynamodb.transact_write_items(TransactItems=[{"Update": file_update}, {"Update": job_update}])
        except Exception as exc:
            if error_code(exc) == "TransactionCanceledException" and _first_condition_failed(exc):
                return False
            raise
        return True

    async def job(self, job_id: str, tenant: str) -> dict[str, Any] | None:
        """The job item if ``tenant`` owns it; another tenant's job reads exactly as a missing one."""
        response = await self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": job_pk(job_id)}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None or item.get("tenant", {}).get("S") != tenant:
            return None
        return item

    async def files(self, job_id: str, indexes: Iterable[int]) -> dict[int, dict[str, Any]]:
        """File items by index, fetched in BatchGetItem pages."""
        pages = await _bounded(self._get_batch(job_id, chunk) for chunk in _chunks(list(indexes), _GET_BATCH))
        found: dict[int, dict[str, Any]] = {}
        for page in pages:
            for item in page:
                found[int(item["pk"]["S"].rsplit("#", 1)[1])] = item
        return found

    async def _get_batch(self, job_id: str, indexes: Sequence[int]) -> list[dict[str, Any]]:
        keys = [{"pk": {"S": file_pk(job_id, index)}} for index in indexes]
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        items: list[dict[str, Any]] = []
        for attempt in range(8):
            response = await self.dynamodb.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(self.table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError("DynamoDB left keys unprocessed after retries")


def _first_condition_failed(exc: BaseException) -> bool:
    """Was the transaction cancelled because the FILE was no longer pending (a duplicate)?"""
    reasons = getattr(exc, "response", {}).get("CancellationReasons")
    if reasons:
        return reasons[0].get("Code") == "ConditionalCheckFailed"
    return "ConditionalCheckFailed" in str(exc)


async def enqueue(sqs: Any, queue_url: str, messages: Sequence[JobMessage]) -> None:
    """Send every message (10 per call, calls in parallel); a partial failure is retried, then raised."""
    await _bounded(_send_batch(sqs, queue_url, chunk) for chunk in _chunks(list(messages), _SEND_BATCH))


async def _send_batch(sqs: Any, queue_url: str, messages: Sequence[JobMessage]) -> None:
    entries = [{"Id": str(i), "MessageBody": m.to_json()} for i, m in enumerate(messages)]
    for attempt in range(5):
        response = await sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        failed = {f["Id"] for f in response.get("Failed", [])}
        entries = [e for e in entries if e["Id"] in failed]
        if not entries:
            return
        await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
    raise RuntimeError(f"SQS refused {len(entries)} message(s) after retries")
