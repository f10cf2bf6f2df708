"""moto made as strict as AWS where our code could rely on its laxity: SQS message sizes, DynamoDB batches."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fhrapp.definition import JOBS_QUEUE, DataResource
from localcloud.moto import enforce_dynamodb_batch_limits, enforce_sqs_message_sizes, sqs_message_size
from localcloud.resources import PlannedResource, create_resources

REGION = "eu-west-1"


def make_queue(moto_endpoint: str, max_message_bytes: int | None) -> tuple[Any, str]:
    """A queue created the way the local cloud creates the stack's (MaximumMessageSize from the definition)."""
    enforce_sqs_message_sizes()
    resource = (
        JOBS_QUEUE
        if max_message_bytes is None
        else DataResource("q", "queue", "Q", max_message_bytes=max_message_bytes)
    )
    name = f"sizes-{uuid.uuid4().hex[:8]}"
    settings = {"visibility_timeout_s": 30, "retention_s": 3600, "dead_letter": None, "max_receives": 5}
    create_resources([PlannedResource(resource, name, settings)], moto_endpoint, REGION)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    return sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"]


def refused(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]


def test_the_stacks_queue_takes_256_kib_not_mosts_default_1_mib(moto_endpoint: str) -> None:
    sqs, url = make_queue(moto_endpoint, None)
    limit = JOBS_QUEUE.max_message_bytes
    assert limit == 256 * 1024
    sqs.send_message(QueueUrl=url, MessageBody="x" * limit)
    error = refused(sqs.send_message, QueueUrl=url, MessageBody="x" * (limit + 1))
    assert error["Message"] == "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes."


def test_size_is_counted_in_bytes_with_the_attributes(moto_endpoint: str) -> None:
    sqs, url = make_queue(moto_endpoint, 1024)
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    refused(sqs.send_message, QueueUrl=url, MessageBody="é" * 600)  # 600 characters, 1,200 bytes
    attributes = {"tenant": {"DataType": "String", "StringValue": "t" * 300}}
    assert sqs_message_size("x" * 750, attributes) == 750 + len("tenant") + len("String") + 300  # 1,062
    refused(sqs.send_message, QueueUrl=url, MessageBody="x" * 750, MessageAttributes=attributes)
    sqs.send_message(QueueUrl=url, MessageBody="x" * 600, MessageAttributes=attributes)
    binary = {"blob": {"DataType": "Binary", "BinaryValue": b"\0" * 100}}
    assert sqs_message_size("", binary) == len("blob") + len("Binary") + 100


def test_a_batch_is_checked_whole_before_anything_is_sent(moto_endpoint: str) -> None:
    sqs, url = make_queue(moto_endpoint, 2048)
    entries = [{"Id": str(i), "MessageBody": "x" * 100} for i in range(3)] + [{"Id": "big", "MessageBody": "é" * 1500}]
    refused(sqs.send_message_batch, QueueUrl=url, Entries=entries)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0), (
        "no entry of a refused batch was sent"
    )
    big, huge = make_queue(moto_endpoint, 1024 * 1024)
    entries = [{"Id": str(i), "MessageBody": "x" * (120 * 1024)} for i in range(9)]
    assert refused(big.send_message_batch, QueueUrl=huge, Entries=entries)["Code"].endswith("BatchRequestTooLong")


def test_a_batch_write_takes_25_requests_and_refuses_26_whole(moto_endpoint: str) -> None:
    enforce_dynamodb_batch_limits()
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)
    table = f"batch-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:

        def puts(first: int, count: int) -> list[dict[str, Any]]:
            return [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(first, first + count)]

        assert dynamodb.batch_write_item(RequestItems={table: puts(0, 25)})["UnprocessedItems"] == {}
        error = refused(dynamodb.batch_write_item, RequestItems={table: puts(100, 26)})
        assert error["Code"] == "ValidationException" and "Too many items" in error["Message"]
        assert dynamodb.scan(TableName=table)["Count"] == 25  # nothing of the refused batch was written
    finally:
        dynamodb.delete_table(TableName=table)
