"""A moto server on loopback: S3, DynamoDB and SQS for the local cloud.

moto's in-process ``mock_aws()`` does not reach aiobotocore, and handlers run in worker processes
anyway, so the local cloud runs moto as a real HTTP server (``ThreadedMotoServer``) that every process
reaches through ``AWS_ENDPOINT_URL_*``. moto is imported only when the server starts.

Where moto is laxer than AWS in a way our code could come to rely on, the server is made strict before
it starts (``enforce_sqs_message_sizes``): SQS counts a message's size in bytes, attributes included,
against the queue's MaximumMessageSize; moto counts the body's characters only. DynamoDB evaluates a
write's condition and applies it atomically (a transaction as a whole); moto's threaded server checks
and writes without a lock, so two concurrent conditional writes can both pass
(``serialize_dynamodb_writes``). BatchWriteItem takes at most 25 requests; moto takes any number
(``enforce_dynamodb_batch_limits``).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account: the ARNs and queue URLs it hands out

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class MotoServer:
    """Start/stop one ``ThreadedMotoServer`` bound to ``host`` on ``port`` (0 = any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None  # moto.server.ThreadedMotoServer, imported lazily

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        enforce_sqs_message_sizes()
        serialize_dynamodb_writes()
        enforce_dynamodb_batch_limits()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self.port = server._server.server_port  # type: ignore[union-attr]  # port 0: the OS picks
        self._server = server
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


SQS_MAX_BATCH_BYTES = 1024 * 1024
"""SendMessageBatch: the messages of one batch together, at most 1 MiB."""


def sqs_message_size(body: str, attributes: Mapping[str, Any] | None = None) -> int:
    """What SQS counts against MaximumMessageSize: the body's UTF-8 bytes, and each message attribute's
    name, data type and value (a binary value by its decoded length)."""
    size = len(body.encode("utf-8"))
    for name, attribute in (attributes or {}).items():
        size += len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8"))
        if "StringValue" in attribute:
            size += len(str(attribute["StringValue"]).encode("utf-8"))
        if "BinaryValue" in attribute:
            value = attribute["BinaryValue"]
            try:
                size += len(value if isinstance(value, bytes) else base64.b64decode(value))
            except (binascii.Error, ValueError):
                size += len(str(value))
    return size


def _too_long(limit: int) -> Exception:
    from moto.sqs.exceptions import InvalidParameterValue

    return InvalidParameterValue(
        f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
    )


def enforce_sqs_message_sizes() -> None:
    """Make moto's SendMessage/SendMessageBatch measure sizes as SQS does (idempotent, process-wide)."""
    from moto.sqs.exceptions import BatchRequestTooLong
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend, "_localcloud_sizes", False):
        return
    send_one, send_batch = SQSBackend.send_message, SQSBackend.send_message_batch

    def send_message(self: Any, queue_name: str, message_body: str, message_attributes: Any = None, *a: Any, **k: Any):
        limit = int(self.get_queue(queue_name).maximum_message_size)
        if sqs_message_size(message_body, message_attributes) > limit:
            raise _too_long(limit)
        return send_one(self, queue_name, message_body, message_attributes, *a, **k)

    def send_message_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        limit = int(self.get_queue(queue_name).maximum_message_size)
        sizes = [sqs_message_size(e["MessageBody"], e.get("MessageAttributes")) for e in entries.values()]
        if sum(sizes) > SQS_MAX_BATCH_BYTES:
            raise BatchRequestTooLong(sum(sizes))
        if any(size > limit for size in sizes):  # checked before any entry is sent, as SQS does
            raise _too_long(limit)
        return send_batch(self, queue_name, entries)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    SQSBackend.send_message_batch = send_message_batch  # type: ignore[method-assign]
    SQSBackend._localcloud_sizes = True  # type: ignore[attr-defined]


_DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "get_item",
    "transact_get_items",
)


def serialize_dynamodb_writes() -> None:
    """Make moto's DynamoDB check-and-write atomic, as DynamoDB is (idempotent, process-wide).

    moto evaluates a ``ConditionExpression`` and then writes, with nothing between the two keeping
    another request thread of the ThreadedMotoServer out: two concurrent ``TransactWriteItems``
    conditioned on ``status = pending`` could both commit (a file counted twice), which DynamoDB never
    allows. One lock around every item read and write gives DynamoDB's guarantee (and more: DynamoDB
    serialises per item, not per table; the local cloud is not measured for DynamoDB throughput).
    """
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_localcloud_atomic", False):
        return
    lock = threading.RLock()

    def locked(method: Any) -> Any:
        @functools.wraps(method)
        def run(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return run

    for name in _DYNAMODB_WRITES:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend._localcloud_atomic = True  # type: ignore[attr-defined]


DYNAMODB_MAX_BATCH_WRITES = 25
"""BatchWriteItem: at most 25 put or delete requests per call, across its tables."""


def enforce_dynamodb_batch_limits() -> None:
    """Make moto's BatchWriteItem refuse more than 25 requests, as DynamoDB does (idempotent, process-wide).

    moto writes any number; DynamoDB answers ``ValidationException`` and writes nothing, so code that batched
    26 would pass every local test and fail on AWS. (moto already refuses a BatchGetItem of over 100 keys.)"""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_localcloud_batch_limits", False):
        return
    batch_write_item = DynamoHandler.batch_write_item

    def limited(self: Any) -> Any:
        requests = sum(len(table_requests) for table_requests in self.body.get("RequestItems", {}).values())
        if requests > DYNAMODB_MAX_BATCH_WRITES:
            raise MockValidationException("Too many items requested for the BatchWriteItem call")
        return batch_write_item(self)

    DynamoHandler.batch_write_item = limited  # type: ignore[method-assign]
    DynamoHandler._localcloud_batch_limits = True  # type: ignore[attr-defined]
