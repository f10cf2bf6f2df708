"""Deferred requests, batches and the queue worker, on a real SQS queue (with a DLQ) and DynamoDB.

``drive_worker`` (conftest) plays the event source mapping.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from handlers.api import clients, worker
from handlers.api.fhr import handler

MINE = "tenants/t-test/"  # the open tenant's prefix (conftest.open_tenancy)


def job_event(make_event: Any, job_id: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    return make_event(
        "GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id}, query=query
    )


async def get_job(make_event: Any, parse_body: Any, context: Any, job_id: str, **query: str) -> tuple[int, Any]:
    response = await handler(job_event(make_event, job_id, query or None), context)
    return response["statusCode"], parse_body(response)


async def start_batch(make_event: Any, parse_body: Any, context: Any, filenames: list[str]) -> str:
    response = await handler(make_event("POST", "/fhr/batch", body={"filenames": filenames}), context)
    body = parse_body(response)
    assert response["statusCode"] == 202, body
    assert body["total"] == len(filenames) and response["headers"]["location"] == body["location"]
    return body["jobId"]


@pytest.fixture
def a01(fhr_stack: Any, boto: Any, set_a_dir: Path) -> str:
    for suffix in ("hea", "dat"):
        boto("s3").put_object(
            Bucket=fhr_stack.bucket, Key=f"{MINE}set-a/a01.{suffix}", Body=(set_a_dir / f"a01.{suffix}").read_bytes()
        )
    return f"s3://{fhr_stack.bucket}/{MINE}set-a/a01.hea"


async def test_record_predicted_too_slow_is_deferred(
    a01: str,
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")  # ~480 s predicted for a01's 480 KB
    response = await handler(make_event("GET", "/fhr", query={"filename": a01}), context)
    body = parse_body(response)
    assert response["statusCode"] == 202, body
    assert body["status"] == "pending" and body["location"] == f"/fhr/jobs/{body['jobId']}"
    assert body["predictedSeconds"] > 30
    messages = boto("sqs").receive_message(QueueUrl=fhr_stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["jobId"] for m in messages] == [body["jobId"]]
    status, job = await get_job(make_event, parse_body, context, body["jobId"])
    assert status == 200
    assert (job["status"], job["total"], job["pending"], job["done"], job["failed"]) == ("pending", 1, 1, 0, 0)
    assert job["files"] == [{"index": 0, "filename": a01, "status": "pending"}]


async def test_retried_slow_request_joins_the_queued_job(
    a01: str,
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")
    answers = [parse_body(await handler(make_event("GET", "/fhr", query={"filename": a01}), context)) for _ in range(3)]
    assert len({a["jobId"] for a in answers}) == 1
    post = make_event("POST", "/fhr", body={"filename": a01, "options": {"refine": False}})
    assert parse_body(await handler(post, context))["jobId"] != answers[0]["jobId"]  # other options, other job
    messages = boto("sqs").receive_message(QueueUrl=fhr_stack.queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 2


async def test_short_remaining_time_defers(a01: str, make_event: Any, parse_body: Any, make_context: Any) -> None:
    response = await handler(make_event("GET", "/fhr", query={"filename": a01}), make_context(timeout_s=2.0))
    assert response["statusCode"] == 202 and parse_body(response)["status"] == "pending"


async def test_worker_records_bad_files_as_failed_once(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, drive_worker: Any
) -> None:
    names = [f"s3://{fhr_stack.bucket}/{MINE}missing/r{i}.hea" for i in range(3)]
    job_id = await start_batch(make_event, parse_body, context, names)
    received, failed = await drive_worker(fhr_stack.queue_url, context)
    assert (received, failed) == (3, [])
    status, job = await get_job(make_event, parse_body, context, job_id)
    assert (job["status"], job["done"], job["failed"], job["pending"]) == ("failed", 0, 3, 0)
    assert sorted(f["filename"] for f in job["files"]) == sorted(names)
    assert {f["error"]["code"] for f in job["files"]} == {"object_not_found"}
    assert boto("sqs").receive_message(QueueUrl=fhr_stack.queue_url).get("Messages") is None


async def test_duplicate_and_concurrent_deliveries_count_once(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, receive_sqs_event: Any
) -> None:
    job_id = await start_batch(make_event, parse_body, context, [f"s3://{fhr_stack.bucket}/{MINE}missing/x.hea"])
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    duplicate = {"Records": event["Records"] * 2}  # SQS at-least-once: the same message twice in a batch
    results = await asyncio.gather(worker.handler(duplicate, context), worker.handler(event, context))
    assert all(r == {"batchItemFailures": []} for r in results)
    assert await worker.handler(event, context) == {"batchItemFailures": []}  # a late redelivery
    _, job = await get_job(make_event, parse_body, context, job_id)
    assert (job["failed"], job["done"], job["pending"], job["total"]) == (1, 0, 0, 1)


async def test_poison_message_ends_in_the_dead_letter_queue(
    fhr_stack: Any, boto: Any, context: Any, receive_sqs_event: Any
) -> None:
    sqs = boto("sqs")
    sqs.send_message(QueueUrl=fhr_stack.queue_url, MessageBody="{not json")
    for _ in range(3):  # the queue's maxReceiveCount
        event = receive_sqs_event(boto, fhr_stack.queue_url)
        response = await worker.handler(event, context)
        assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][0]["messageId"]]
        # let the visibility timeout lapse at once instead of waiting for it
        sqs.change_message_visibility(
            QueueUrl=fhr_stack.queue_url, ReceiptHandle=event["Records"][0]["receiptHandle"], VisibilityTimeout=0
        )
    assert receive_sqs_event(boto, fhr_stack.queue_url)["Records"] == []  # over maxReceiveCount: moved
    dead = sqs.receive_message(QueueUrl=fhr_stack.dlq_url).get("Messages", [])
    assert [m["Body"] for m in dead] == ["{not json"]


async def test_message_for_an_unknown_job_is_reported(
    fhr_stack: Any, boto: Any, context: Any, receive_sqs_event: Any
) -> None:
    body = {"jobId": "f" * 32, "index": 0, "filename": f"s3://{fhr_stack.bucket}/{MINE}a.hea", "options": {}}
    body["tenant"] = "t-test"
    boto("sqs").send_message(QueueUrl=fhr_stack.queue_url, MessageBody=json.dumps(body))
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    response = await worker.handler(event, context)
    assert len(response["batchItemFailures"]) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_transient_failure_backs_off_then_gives_up(
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    receive_sqs_event: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = await start_batch(make_event, parse_body, context, [f"s3://{fhr_stack.bucket}/{MINE}set-a/a01.hea"])
    await clients.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")  # S3 unreachable
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the SDK's own retries would only slow the test
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    response = await worker.handler(event, context)
    assert len(response["batchItemFailures"]) == 1
    assert receive_sqs_event(boto, fhr_stack.queue_url)["Records"] == []  # hidden by the back-off
    _, job = await get_job(make_event, parse_body, context, job_id)
    assert job["pending"] == 1  # a transient failure is not final
    # Let the back-off lapse now rather than in 10 s; the second attempt is the last one allowed.
    boto("sqs").change_message_visibility(
        QueueUrl=fhr_stack.queue_url, ReceiptHandle=event["Records"][0]["receiptHandle"], VisibilityTimeout=0
    )
    monkeypatch.setenv("JOBS_MAX_RECEIVES", "2")
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    response = await worker.handler(event, context)
    assert len(response["batchItemFailures"]) == 1  # still reported, so SQS dead-letters it
    _, job = await get_job(make_event, parse_body, context, job_id)
    assert (job["status"], job["failed"], job["pending"]) == ("failed", 1, 0)
    assert job["error"]["code"] == "retries_exhausted"


async def test_job_pages(fhr_stack: Any, make_event: Any, parse_body: Any, context: Any) -> None:
    job_id = await start_batch(
        make_event, parse_body, context, [f"s3://{fhr_stack.bucket}/{MINE}m{i}.hea" for i in range(5)]
    )
    status, page = await get_job(make_event, parse_body, context, job_id, limit="2", offset="2")
    assert status == 200
    assert [f["index"] for f in page["files"]] == [2, 3] and page["nextOffset"] == 4
    status, page = await get_job(make_event, parse_body, context, job_id, limit="2", offset="4")
    assert [f["index"] for f in page["files"]] == [4] and page["nextOffset"] is None
    for query in ({"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"limit": "11", "results": "full"}):
        status, body = await get_job(make_event, parse_body, context, job_id, **query)
        assert (status, body["code"]) == (400, "invalid_page"), query


async def test_the_documented_1000_file_batch_is_accepted_whole_and_1001_refused(
    fhr_stack: Any, boto: Any, scan: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    """Exactly the documented limit (1,000 files): 40 BatchWriteItem and 100 SendMessageBatch calls, every
    file and message written (~10 s, moto's SQS takes ~10 ms a message). One more is refused with
    ``too_many_files`` before anything is written."""
    names = [f"s3://{fhr_stack.bucket}/{MINE}many/r{i:04d}.hea" for i in range(1000)]
    job_id = await start_batch(make_event, parse_body, context, names)
    files = [i for i in scan(boto, fhr_stack.results_table) if i["pk"]["S"].startswith(f"job#{job_id}#")]
    assert sorted(i["filename"]["S"] for i in files) == names
    attributes = boto("sqs").get_queue_attributes(
        QueueUrl=fhr_stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1000"
    status, page = await get_job(make_event, parse_body, context, job_id, limit="1000")
    assert (page["total"], page["pending"], len(page["files"]), page["nextOffset"]) == (1000, 1000, 1000, None)
    assert [f["filename"] for f in page["files"]] == names
    before = len(scan(boto, fhr_stack.results_table))
    one_more = names + [f"s3://{fhr_stack.bucket}/{MINE}many/r1000.hea"]
    response = await handler(make_event("POST", "/fhr/batch", body={"filenames": one_more}), context)
    assert (response["statusCode"], parse_body(response)["code"]) == (400, "too_many_files")
    assert len(scan(boto, fhr_stack.results_table)) == before
    attributes = boto("sqs").get_queue_attributes(
        QueueUrl=fhr_stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1000"
