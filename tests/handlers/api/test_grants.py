"""Every AWS call the API handlers make is granted to their function in the app definition.

The handlers' own aioboto3 clients are observed (botocore's ``before-parameter-build`` event) while each
function runs through its routes, its error paths included; each call is mapped to the IAM action it
needs and to the definition's resource it touches, then checked against the function's grants. A
handler that starts calling something new, or a grant that is dropped, fails here rather than with
an AccessDenied in a deployed stage.
"""

from __future__ import annotations

import fnmatch
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fhrapp.definition import APP
from handlers.api import clients, fhr, items, worker

Call = tuple[str, str, dict[str, Any]]

TRANSACTION_ACTIONS = {
    "Update": "UpdateItem",
    "Put": "PutItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


async def observe() -> list[Call]:
    """Record (service, operation, params) of every call the handlers' clients make from now on."""
    calls: list[Call] = []
    for service in ("s3", "dynamodb", "sqs"):
        client = await clients.client(service)

        def record(model: Any, params: dict[str, Any], service: str = service, **_: Any) -> None:
            calls.append((service, model.name, params))

        client.meta.events.register("before-parameter-build", record)
    return calls


def needed(call: Call, resource_of: Callable[[str, dict[str, Any]], str]) -> set[tuple[str, str]]:
    """(logical resource, IAM action) pairs one call needs."""
    service, operation, params = call
    resource = resource_of(service, params)
    if service == "s3":
        if operation in ("HeadObject", "GetObject"):
            return {(resource, "s3:GetObject")}
        tagging = {(resource, "s3:PutObjectTagging")} if operation == "PutObject" and "Tagging" in params else set()
        return {(resource, f"s3:{operation}")} | tagging
    if service == "dynamodb" and operation == "TransactWriteItems":
        kinds = {kind for item in params["TransactItems"] for kind in item}
        return {(resource, f"dynamodb:{TRANSACTION_ACTIONS[kind]}") for kind in kinds}
    if service == "sqs":
        return {(resource, f"sqs:{SQS_BATCH_ACTIONS.get(operation, operation)}")}
    return {(resource, f"{service}:{operation}")}


def granted(function: str) -> set[tuple[str, str]]:
    return {(g.resource, action) for g in APP.function(function).grants for action in g.actions}


def objects_outside_grants(function: str, calls: list[Call]) -> list[tuple[str, str]]:
    """S3 object calls whose key no grant's prefix covers (IAM's ``*`` matches any characters)."""
    outside = []
    for service, operation, params in calls:
        if service != "s3" or "Key" not in params:
            continue
        action = "s3:GetObject" if operation in ("HeadObject", "GetObject") else f"s3:{operation}"
        prefixes = [g.prefix for g in APP.function(function).grants if action in g.actions]
        if not any(fnmatch.fnmatchcase(params["Key"], prefix + "*") for prefix in prefixes):
            outside.append((action, params["Key"]))
    return outside


@pytest.fixture
def resource_of(fhr_stack: Any, items_table: str) -> Callable[[str, dict[str, Any]], str]:
    def resolve(service: str, params: dict[str, Any]) -> str:
        body = params
        if service == "s3":
            return {fhr_stack.bucket: "ecg_bucket"}[params["Bucket"]]
        if service == "dynamodb":
            tables = {body.get("TableName")} | set(body.get("RequestItems", {}))
            tables |= {next(iter(i.values()))["TableName"] for i in body.get("TransactItems", [])}
            tables.discard(None)
            (table,) = tables
            return {fhr_stack.results_table: "results_table", items_table: "items_table"}[table]
        queue_url = body.get("QueueUrl")
        return {fhr_stack.queue_url: "jobs_queue"}[queue_url]

    return resolve


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MINE = "tenants/t-test/"  # the open tenant's prefix (conftest.open_tenancy)


def upload(boto: Any, bucket: str, set_a_dir: Path, record: str) -> str:
    for suffix in ("hea", "dat"):
        boto("s3").put_object(
            Bucket=bucket, Key=f"{MINE}{record}.{suffix}", Body=(set_a_dir / f"{record}.{suffix}").read_bytes()
        )
    return f"s3://{bucket}/{MINE}{record}.hea"


async def test_fhr_and_worker_calls_are_granted(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    drive_worker: Any,
    resource_of: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = await observe()
    a01 = upload(boto, fhr_stack.bucket, set_a_dir, "a01")
    missing = f"s3://{fhr_stack.bucket}/{MINE}a99.hea"
    for uri in (a01, a01, missing):
        await fhr.handler(make_event("GET", "/fhr", query={"filename": uri}), context)
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")
    slow = parse_body(
        await fhr.handler(make_event("POST", "/fhr", body={"filename": a01, "options": {"refine": False}}), context)
    )
    batch = parse_body(await fhr.handler(make_event("POST", "/fhr/batch", body={"filenames": [a01, missing]}), context))
    for job_id in (slow["jobId"], batch["jobId"]):
        event = make_event("GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id})
        assert (await fhr.handler(event, context))["statusCode"] == 200
    fhr_needs = set().union(*(needed(c, resource_of) for c in calls))
    assert fhr_needs <= granted("fhr"), sorted(fhr_needs - granted("fhr"))
    assert objects_outside_grants("fhr", calls) == []

    calls.clear()
    poison = {"jobId": batch["jobId"], "index": 1, "filename": missing, "options": {}, "tenant": "t-test"}
    await drive_worker(fhr_stack.queue_url, context)
    boto("sqs").send_message(QueueUrl=fhr_stack.queue_url, MessageBody=json.dumps(poison))
    await drive_worker(fhr_stack.queue_url, context)
    worker_needs = set().union(*(needed(c, resource_of) for c in calls))
    assert {op for _, op, _ in calls} >= {"HeadObject", "GetObject", "TransactWriteItems", "PutItem"}
    assert worker_needs <= granted("worker"), sorted(worker_needs - granted("worker"))
    assert objects_outside_grants("worker", calls) == []


async def test_transient_back_off_is_granted(
    fhr_stack: Any,
    boto: Any,
    context: Any,
    receive_sqs_event: Any,
    make_event: Any,
    parse_body: Any,
    resource_of: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = parse_body(
        await fhr.handler(
            make_event("POST", "/fhr/batch", body={"filenames": [f"s3://{fhr_stack.bucket}/{MINE}x.hea"]}), context
        )
    )
    assert batch["total"] == 1
    await clients.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")  # S3 unreachable
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    calls = await observe()
    response = await worker.handler(receive_sqs_event(boto, fhr_stack.queue_url), context)
    assert len(response["batchItemFailures"]) == 1
    assert "ChangeMessageVisibility" in {op for _, op, _ in calls}
    needs = set().union(*(needed(c, resource_of) for c in calls))
    assert needs <= granted("worker"), sorted(needs - granted("worker"))


async def test_items_calls_are_granted(
    items_table: str, fhr_stack: Any, make_event: Any, context: Any, resource_of: Any
) -> None:
    calls = await observe()
    bodies = [
        {"operation": "create", "payload": {"Item": {"id": "g", "v": 1}}},
        {"operation": "create", "payload": {"Item": {"id": "g", "v": 1}}},
        {"operation": "read", "payload": {"Key": {"id": "g"}}},
        {
            "operation": "update",
            "payload": {"Key": {"id": "g"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 2}},
        },
        {
            "operation": "update",
            "payload": {"Key": {"id": "zz"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 2}},
        },
        {"operation": "list", "payload": {"Limit": 1}},
        {"operation": "delete", "payload": {"Key": {"id": "g"}}},
    ]
    for body in bodies:
        await items.handler(make_event("POST", "/DynamoDBManager", body=body), context)
    needs = set().union(*(needed(c, resource_of) for c in calls))
    assert {op for _, op, _ in calls} >= {"DescribeTable", "PutItem", "GetItem", "UpdateItem", "Query", "DeleteItem"}
    assert needs <= granted("items"), sorted(needs - granted("items"))


def test_missing_objects_can_be_told_from_forbidden_ones() -> None:
    """Without s3:ListBucket, S3 answers HEAD on a missing key with 403, and the API could not say 404."""
    for function in ("fhr", "worker"):
        assert ("ecg_bucket", "s3:ListBucket") in granted(function), function


async def test_results_stored_in_s3_are_granted(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    drive_worker: Any,
    resource_of: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Results over the item limit are S3 objects (PutObject with its expiry tag) under tenants/*/results/."""
    from handlers.api import cache

    monkeypatch.setattr(cache, "MAX_ITEM_BYTES", cache.ITEM_HEADROOM + 100)
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", 1000)  # answered as links
    calls = await observe()
    a02 = upload(boto, fhr_stack.bucket, set_a_dir, "a02")
    for _ in range(2):
        assert (await fhr.handler(make_event("GET", "/fhr", query={"filename": a02}), context))["statusCode"] == 200
    assert "PutObject" in {op for _, op, _ in calls}
    fhr_needs = set().union(*(needed(c, resource_of) for c in calls))
    assert fhr_needs <= granted("fhr"), sorted(fhr_needs - granted("fhr"))
    assert objects_outside_grants("fhr", calls) == []

    batch = parse_body(
        await fhr.handler(
            make_event("POST", "/fhr/batch", body={"filenames": [a02], "options": {"refine": False}}), context
        )
    )
    assert batch["total"] == 1
    calls.clear()
    await drive_worker(fhr_stack.queue_url, context)
    assert "PutObject" in {op for _, op, _ in calls}
    worker_needs = set().union(*(needed(c, resource_of) for c in calls))
    assert worker_needs <= granted("worker"), sorted(worker_needs - granted("worker"))
    assert objects_outside_grants("worker", calls) == []
