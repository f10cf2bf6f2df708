"""The jobs sweeper: no file stays ``pending`` for ever (issue 11 §3).

A file is pending while some message for it may still be delivered. SQS gives a message at most
``max_receives`` deliveries, each hidden for at most the queue's visibility timeout (the worker's
back-off is capped below it), so a file pending longer than ``visibility x max_receives`` after its
job's messages were sent has lost its message (a worker killed each time, a message deleted by
mistake, a request that died before sending). The sweeper then:

- re-enqueues it once (``sweeps`` = 1), with the owner tenant of the file record, never another's;
- marks it ``failed`` with the code ``stuck`` if it is still pending one more period later (a
  redriven message may still reopen it: ``stuck`` is not the record's fault).

A file whose job was never marked ``enqueued_at`` (its request died between the records and the
messages) waits only ``JOBS_UNSENT_GRACE_S`` (default 120 s, beyond any request still running).

It scans the results table for pending job files (a filtered Scan: its cost grows with the table,
cache entries included; a sparse index would serve it better, see docs/FIDELITY.md). Logs carry job ids,
indexes and counts only, never a file name.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from handlers.api import clients
from handlers.api.jobs import JobMessage, JobStore, enqueue, file_pk, job_pk
from handlers.api.settings import Settings

logger = logging.getLogger("handlers.api.sweeper")

DEFAULT_UNSENT_GRACE_S = 120


# Invoked by the worker's handler for the schedule's event (fhrapp.definition.SWEEP_SCHEDULE): the worker
# already holds the queue, the table and their clients.


def stuck_after_s(environ: Any = None) -> int:
    """Visibility timeout x max receives, from the environment the app definition sets."""
    env = os.environ if environ is None else environ
    return int(env.get("JOBS_VISIBILITY_TIMEOUT_S", "1800")) * int(env.get("JOBS_MAX_RECEIVES", "5"))


async def handler(event: Any, context: Any) -> dict[str, int]:
    settings = Settings.from_env()
    now = int(time.time())
    counts = await sweep(
        settings, now, stuck_after_s(), int(os.environ.get("JOBS_UNSENT_GRACE_S", DEFAULT_UNSENT_GRACE_S))
    )
    logger.info("sweep: %s", counts, extra=counts)
    return counts


async def sweep(settings: Settings, now: int, stuck_after: int, unsent_grace: int) -> dict[str, int]:
    dynamodb = await clients.client("dynamodb")
    store = JobStore(dynamodb, settings.results_table, settings.result_ttl_s)
    counts = {"pending": 0, "requeued": 0, "failed": 0}
    jobs: dict[str, dict[str, Any] | None] = {}
    for item in await _pending_files(dynamodb, settings.results_table):
        counts["pending"] += 1
        job_id, index = item["pk"]["S"][len("job#") :].split("#")
        if job_id not in jobs:
            response = await dynamodb.get_item(
                TableName=settings.results_table, Key={"pk": {"S": job_pk(job_id)}}, ConsistentRead=True
            )
            jobs[job_id] = response.get("Item")
        job = jobs[job_id]
        if job is None or job.get("tenant") != item.get("tenant"):
            continue  # a job item not written yet (its request is still running) or not this file's owner
        since = int(job.get("enqueued_at", job.get("created_at", {"N": str(now)}))["N"])
        sweeps = int(item.get("sweeps", {"N": "0"})["N"])
        since = max(since, int(item.get("swept_at", {"N": "0"})["N"]))  # swept, or reopened by a redrive
        limit = stuck_after if "enqueued_at" in job or sweeps else unsent_grace
        if now - since <= limit:
            continue
        if sweeps:
            error = {"code": "stuck", "message": f"no delivery finished it within {limit} s", "status": 503}
            if await store.record_outcome(job_id, int(index), {"status": "failed", "error": error}):
                counts["failed"] += 1
                logger.warning("job %s file %s: stuck, marked failed", job_id, index)
            continue
        if await _claim(dynamodb, settings.results_table, job_id, int(index), now):
            tenant = item["tenant"]["S"]
            options = json.loads(job["options"]["S"])
            message = JobMessage(job_id, int(index), item["filename"]["S"], options, tenant)
            await enqueue(await clients.client("sqs"), settings.jobs_queue_url, [message])
            counts["requeued"] += 1
            logger.warning("job %s file %s: pending too long, re-enqueued", job_id, index)
    return counts


async def _claim(dynamodb: Any, table: str, job_id: str, index: int, now: int) -> bool:
    """Count the sweep before sending, conditioned on the file still pending and not swept (one sweeper wins)."""
    try:
        await dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": file_pk(job_id, index)}},
            UpdateExpression="SET sweeps = :one, swept_at = :now",
            ConditionExpression="#status = :pending AND attribute_not_exists(sweeps)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(now)}, ":pending": {"S": "pending"}},
        )
    except Exception as exc:
        from handlers.api.dynamo import error_code

        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


async def _pending_files(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    request: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "#kind = :file AND #status = :pending",
        "ExpressionAttributeNames": {"#kind": "kind", "#status": "status"},
        "ExpressionAttributeValues": {":file": {"S": "job-file"}, ":pending": {"S": "pending"}},
        "ConsistentRead": True,
    }
    found: list[dict[str, Any]] = []
    while True:
        page = await dynamodb.scan(**request)
        found.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
