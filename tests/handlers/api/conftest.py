"""Fixtures for the API handler tests: a moto-backed stack and API Gateway payload-2.0 events.

Handlers are called directly (``await handler(event, context)``) with their REAL aioboto3 clients
pointed at the session's moto server through ``AWS_ENDPOINT_URL_*``; the tests set up and inspect
state with plain boto3, an independent client, so a handler bug cannot hide behind a shared helper.

Unless a test says otherwise the functions run as on an open stack whose one tenant is ``TENANT``
(its objects under :func:`tenant_key`); ``jwt_tenancy`` switches them to a JWT stack, where
``http_event(..., claims=..., scopes=...)`` carries what API Gateway's authorizer would pass.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

REGION = "eu-west-1"
TENANT = "t-test"  # the open tenant of the handler tests


def tenant_key(stem: str, tenant: str = TENANT) -> str:
    """Where ``stem`` lives for ``tenant``: ``tenants/<tenant>/<stem>``."""
    return f"tenants/{tenant}/{stem}"


@pytest.fixture
def key_of() -> Callable[..., str]:
    """:func:`tenant_key` for the tests: ``key_of("set-a/a01.hea")`` -> ``tenants/t-test/set-a/a01.hea``."""
    return tenant_key


@pytest.fixture(autouse=True)
def open_tenancy(monkeypatch: pytest.MonkeyPatch) -> str:
    """An open stack's tenancy: every caller is ``TENANT``."""
    monkeypatch.delenv("FHR_TENANT_CLAIM", raising=False)
    monkeypatch.setenv("FHR_OPEN_TENANT", TENANT)
    return TENANT


@pytest.fixture
def jwt_tenancy(monkeypatch: pytest.MonkeyPatch) -> str:
    """A JWT stack's tenancy: the tenant is the verified ``sub`` claim."""
    monkeypatch.delenv("FHR_OPEN_TENANT", raising=False)
    monkeypatch.setenv("FHR_TENANT_CLAIM", "sub")
    return "sub"


def Context(timeout_s: float = 29.0) -> Any:  # noqa: N802 - stands for the class it builds
    """The runtime's own ``LambdaContext``, with a real deadline ``timeout_s`` from now."""
    from handlers.runtime.context import FunctionInfo, LambdaContext

    info = FunctionInfo.from_environ(
        {"AWS_LAMBDA_FUNCTION_NAME": "fhr-test-fhr", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}
    )
    deadline_ms = int((time.time() + timeout_s) * 1000)
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:fhr-test-fhr"
    return LambdaContext(info, str(uuid.uuid4()), deadline_ms, arn)


@pytest.fixture
def context() -> Any:
    return Context()


@pytest.fixture
def make_context() -> Callable[..., Any]:
    return Context


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for service in ("S3", "DYNAMODB", "SQS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    return moto_endpoint


@pytest.fixture
def boto(aws_env: str) -> Callable[[str], Any]:
    """Plain boto3 clients on the moto server, for setting up and inspecting state."""
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = boto3.client(service, endpoint_url=aws_env, region_name=REGION)
        return made[service]

    return client


@pytest.fixture(autouse=True)
async def close_api_clients() -> AsyncIterator[None]:
    """Each test has its own event loop; close the handler's clients on the loop that made them."""
    yield
    from handlers.api import clients

    await clients.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def items_table(boto: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = unique("items")
    boto("dynamodb").create_table(  # the items table of fhrapp.definition: tenant partition, item id
        TableName=name,
        KeySchema=[{"AttributeName": "tenant", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "tenant", "AttributeType": "S"},
            {"AttributeName": "id", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("ITEMS_TABLE", name)
    yield name
    boto("dynamodb").delete_table(TableName=name)


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = None,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the service would deliver it; with
    ``claims``, as a JWT-authorized route delivers it (claims as strings, the token's scopes)."""
    now = time.time()
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "pytest", **(headers or {})}
    if text is not None:
        all_headers.setdefault("content-type", "application/json")
        all_headers["content-length"] = str(len(text.encode()))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urllib.parse.urlencode(query or {}),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": scopes}}
    if query:
        event["queryStringParameters"] = dict(query)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if text is not None:
        event["body"] = text
    return event


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    return http_event


def body_of(response: dict[str, Any]) -> Any:
    assert response["headers"]["content-type"] == "application/json"
    return json.loads(response["body"])


@pytest.fixture
def parse_body() -> Callable[[dict[str, Any]], Any]:
    return body_of


def scan_all(boto: Callable[[str], Any], table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = boto("dynamodb").scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture
def scan() -> Callable[[Callable[[str], Any], str], list[dict[str, Any]]]:
    return scan_all


def messages_in(boto: Callable[[str], Any], queue_url: str) -> int:
    """Messages in a queue, visible or in flight (what a handler that enqueued anything would leave)."""
    attributes = boto("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def queue_depth() -> Callable[[Callable[[str], Any], str], int]:
    return messages_in


@dataclass(frozen=True)
class FhrStack:
    """The FHR function's resources on moto, named uniquely per test."""

    bucket: str
    results_table: str
    queue_url: str
    dlq_url: str


@pytest.fixture
def fhr_stack(boto: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[FhrStack]:
    bucket = unique("ecg")
    table = unique("results")
    boto("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = boto("sqs")
    dlq_url = sqs.create_queue(QueueName=unique("jobs-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    queue_url = sqs.create_queue(
        QueueName=unique("jobs"), Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "30"}
    )["QueueUrl"]
    monkeypatch.setenv("ECG_BUCKET", bucket)
    monkeypatch.setenv("RESULTS_TABLE", table)
    monkeypatch.setenv("JOBS_QUEUE_URL", queue_url)
    monkeypatch.setenv("JOBS_MAX_RECEIVES", "3")
    yield FhrStack(bucket, table, queue_url, dlq_url)
    boto("dynamodb").delete_table(TableName=table)


def sqs_event(boto: Callable[[str], Any], queue_url: str, *, max_messages: int = 10, wait_s: int = 0) -> dict[str, Any]:
    """Receive from the real queue and wrap the messages as an SQS event source mapping delivers them."""
    sqs = boto("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    received = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_s, AttributeNames=["All"]
    ).get("Messages", [])
    records = [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": REGION,
        }
        for message in received
    ]
    return {"Records": records}


@pytest.fixture
def receive_sqs_event() -> Callable[..., dict[str, Any]]:
    return sqs_event


@pytest.fixture
def drive_worker(boto: Callable[[str], Any]) -> Callable[..., Any]:
    """Play the event source mapping once: receive, invoke the worker, delete what it did not report.

    ``ReportBatchItemFailures`` means exactly that contract: messages absent from
    ``batchItemFailures`` are deleted, the others return to the queue.
    """
    from handlers.api import worker

    async def drive(queue_url: str, context: Any) -> tuple[int, list[str]]:
        event = sqs_event(boto, queue_url)
        response = await worker.handler(event, context)
        failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
        for record in event["Records"]:
            if record["messageId"] not in failed:
                boto("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
        return len(event["Records"]), failed

    return drive
