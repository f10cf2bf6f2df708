"""SQS event source mappings for the local cloud: the queue feeds its function as Lambda's poller does.

moto holds the queue but nothing consumes it, so for each function of the app definition with a
:class:`~fhrapp.definition.QueueTrigger` the local cloud runs pollers that behave like Lambda's:

- up to ``max_concurrency`` pollers long-poll the queue; each gathers up to ``batch_size`` messages
  within ``max_batching_window_s`` and invokes the function synchronously with an ``aws:sqs`` event;
- ``ReportBatchItemFailures`` (what the Pulumi mapping declares): a response
  ``{"batchItemFailures": [{"itemIdentifier": messageId}]}`` deletes every other message of the batch;
  a function error, a throttle, or a response naming an unknown id leaves the whole batch on the queue;
- messages left on the queue come back after the queue's visibility timeout and, after
  ``maxReceiveCount`` receives, moto's redrive moves them to the dead-letter queue, as SQS does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from fhrapp.definition import QueueTrigger

log = logging.getLogger("localcloud.eventsource")

MAX_RECEIVE_BATCH = 10  # SQS's ReceiveMessage limit
POLL_WAIT_S = 1  # long-poll wait; short so stop() is prompt


@dataclass(frozen=True)
class QueueMapping:
    """One event source mapping: ``queue_url`` (its ARN for the event) feeds ``function_name``."""

    queue_url: str
    queue_arn: str
    function_name: str
    trigger: QueueTrigger
    region: str


def sqs_record(message: dict[str, Any], mapping: QueueMapping) -> dict[str, Any]:
    """One ``Records[]`` entry of the event Lambda sends for an SQS message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": mapping.queue_arn,
        "awsRegion": mapping.region,
    }


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """Message ids to keep on the queue, from an invocation result (all of them on any doubt)."""
    if result is None or result.function_error:
        return batch_ids
    try:
        body = json.loads(result.payload) if result.payload else None
    except ValueError:
        return batch_ids
    if not isinstance(body, dict) or not body.get("batchItemFailures"):
        return set()
    failures = body["batchItemFailures"]
    if not isinstance(failures, list):
        return batch_ids
    ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
    if not ids or not ids <= batch_ids:
        return batch_ids  # Lambda treats a malformed or unknown identifier as a failure of the whole batch
    return {str(i) for i in ids}


class QueuePoller:
    """Runs one mapping's pollers on the loop; ``invoker`` is the local Lambda service."""

    def __init__(self, mapping: QueueMapping, invoker: Any, endpoint_url: str) -> None:
        self.mapping = mapping
        self.invoker = invoker
        self.endpoint_url = endpoint_url
        self.batches: list[tuple[int, int]] = []  # (messages, failed) per invocation, for tests and logs
        self._tasks: list[asyncio.Task[None]] = []
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        import aioboto3

        self._stack = contextlib.AsyncExitStack()
        session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local")
        sqs = await self._stack.enter_async_context(
            session.client("sqs", endpoint_url=self.endpoint_url, region_name=self.mapping.region)
        )
        for index in range(self.mapping.trigger.max_concurrency):
            self._tasks.append(asyncio.create_task(self._poll(sqs), name=f"sqs-poller-{index}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def _poll(self, sqs: Any) -> None:
        while True:
            try:
                messages = await self._gather(sqs)
                if messages:
                    await self._deliver(sqs, messages)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poller of %s failed; retrying", self.mapping.queue_url)
                await asyncio.sleep(1.0)

    async def _gather(self, sqs: Any) -> list[dict[str, Any]]:
        """Up to ``batch_size`` messages, waiting at most the batching window once one has arrived."""
        trigger = self.mapping.trigger
        messages: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(messages) < trigger.batch_size:
            wait = POLL_WAIT_S if deadline is None else max(0, min(POLL_WAIT_S, round(deadline - time.monotonic())))
            answer = await sqs.receive_message(
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=min(MAX_RECEIVE_BATCH, trigger.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages.extend(answer.get("Messages", []))
            if messages and deadline is None:
                deadline = time.monotonic() + trigger.max_batching_window_s
            if not messages or time.monotonic() >= (deadline or 0):
                break
        return messages

    async def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, self.mapping) for m in messages]}
        try:
            result = await self.invoker.invoke(self.mapping.function_name, json.dumps(event).encode())
        except Exception as exc:  # throttled or rejected: the batch stays and comes back later
            log.warning("%s rejected a batch: %s", self.mapping.function_name, exc)
            result = None
        keep = failed_ids(result, {m["MessageId"] for m in messages})
        done = [m for m in messages if m["MessageId"] not in keep]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            await sqs.delete_message_batch(QueueUrl=self.mapping.queue_url, Entries=entries)
        self.batches.append((len(messages), len(keep)))
