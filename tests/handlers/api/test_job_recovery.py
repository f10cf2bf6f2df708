"""Jobs that survive a half-done creation, a redrive, a deadline and concurrent deliveries (issue 11 §3).

Faults are real: an SQS or S3 endpoint nobody listens on, a moto server answering concurrently.
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
from handlers.api.jobs import JobStore, batch_job_id, file_pk

MINE = "tenants/t-test/"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def a01(fhr_stack: Any, boto: Any, set_a_dir: Path) -> str:
    for suffix in ("hea", "dat"):
        boto("s3").put_object(
            Bucket=fhr_stack.bucket, Key=f"{MINE}set-a/a01.{suffix}", Body=(set_a_dir / f"a01.{suffix}").read_bytes()
        )
    return f"s3://{fhr_stack.bucket}/{MINE}set-a/a01.hea"


@pytest.fixture
def sqs_down(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the handlers' SQS client at a closed port (the enqueue fails), and back."""

    async def down() -> None:
        await clients.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    return down


async def restore(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    await clients.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)


def bodies(boto: Any, queue_url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        batch = boto("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        found.extend(json.loads(m["Body"]) for m in batch)


async def test_concurrent_outcomes_count_once(fhr_stack: Any, boto: Any, context: Any) -> None:
    """The race behind the old flaky test, made wide: 24 concurrent transactions on one pending file."""
    dynamodb = await clients.client("dynamodb")
    store = JobStore(dynamodb, fhr_stack.results_table, 3600)
    await store.create("a" * 32, ["s3://b/k.hea"], {}, "batch", "t-test")
    outcome = {"status": "failed", "error": {"code": "object_not_found", "message": "x", "status": 404}}
    results = await asyncio.gather(*(store.record_outcome("a" * 32, 0, outcome) for _ in range(24)))
    assert results.count(True) == 1
    job = boto("dynamodb").get_item(TableName=fhr_stack.results_table, Key={"pk": {"S": "job#" + "a" * 32}})["Item"]
    assert (job["failed_count"]["N"], job["done_count"]["N"]) == ("1", "0")


async def test_retry_after_a_failed_enqueue_repairs_the_one_file_job(
    a01: str,
    fhr_stack: Any,
    boto: Any,
    aws_env: str,
    make_event: Any,
    parse_body: Any,
    context: Any,
    sqs_down: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")  # deferred: a one-file job
    await sqs_down()
    first = await handler(make_event("GET", "/fhr", query={"filename": a01}), context)
    assert first["statusCode"] == 503, parse_body(first)  # records written, message not sent
    assert bodies(boto, fhr_stack.queue_url) == []
    await restore(monkeypatch, aws_env)
    answers = [parse_body(await handler(make_event("GET", "/fhr", query={"filename": a01}), context)) for _ in range(3)]
    assert len({a["jobId"] for a in answers}) == 1 and answers[0]["status"] == "pending"
    sent = bodies(boto, fhr_stack.queue_url)
    assert [m["jobId"] for m in sent] == [answers[0]["jobId"]]  # repaired once, not re-sent by later retries


async def test_batch_idempotency_key_repairs_and_never_doubles(
    fhr_stack: Any,
    boto: Any,
    aws_env: str,
    make_event: Any,
    parse_body: Any,
    context: Any,
    sqs_down: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [f"s3://{fhr_stack.bucket}/{MINE}r{i}.hea" for i in range(12)]
    headers = {"idempotency-key": "order-42"}

    def batch(body: dict[str, Any], key_headers: dict[str, str] | None = headers) -> dict[str, Any]:
        return make_event("POST", "/fhr/batch", body=body, headers=key_headers)

    await sqs_down()
    response = await handler(batch({"filenames": names}), context)
    assert response["statusCode"] == 503
    await restore(monkeypatch, aws_env)
    answers = [parse_body(await handler(batch({"filenames": names}), context)) for _ in range(2)]
    assert {a["jobId"] for a in answers} == {batch_job_id("t-test", "order-42")}
    sent = bodies(boto, fhr_stack.queue_url)
    assert sorted(m["index"] for m in sent) == list(range(12))  # the repair sent each file once
    reused = await handler(batch({"filenames": names[:3]}), context)
    assert (reused["statusCode"], parse_body(reused)["code"]) == (422, "idempotency_key_reused")
    for bad in ("", "with space", "é", "x" * 256):
        response = await handler(batch({"filenames": names}, {"idempotency-key": bad}), context)
        assert (response["statusCode"], parse_body(response)["code"]) == (400, "invalid_idempotency_key"), bad
    other = parse_body(await handler(batch({"filenames": names}, None), context))
    assert other["jobId"] != answers[0]["jobId"]  # no key: a new job every time


async def test_redriven_message_reruns_a_file_that_exhausted_its_retries(
    a01: str,
    fhr_stack: Any,
    boto: Any,
    aws_env: str,
    make_event: Any,
    parse_body: Any,
    context: Any,
    receive_sqs_event: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    response = await handler(make_event("POST", "/fhr/batch", body={"filenames": [a01]}), context)
    job_id = parse_body(response)["jobId"]
    await clients.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("JOBS_MAX_RECEIVES", "1")  # the first failure is the last attempt
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    assert len((await worker.handler(event, context))["batchItemFailures"]) == 1
    item = boto("dynamodb").get_item(TableName=fhr_stack.results_table, Key={"pk": {"S": file_pk(job_id, 0)}})
    assert item["Item"]["error_code"]["S"] == "retries_exhausted"
    await restore(monkeypatch, aws_env)
    redriven = {"Records": event["Records"] * 2}  # the redriven message, delivered twice at once
    results = await asyncio.gather(worker.handler(redriven, context), worker.handler(event, context))
    assert all(r == {"batchItemFailures": []} for r in results)
    job = parse_body(await handler(_job_event(make_event, job_id), context))
    assert (job["status"], job["done"], job["failed"], job["pending"]) == ("done", 1, 0, 0)
    assert job["files"][0]["status"] == "done" and "error" not in job["files"][0]


async def test_client_caused_failure_is_never_reopened(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, receive_sqs_event: Any
) -> None:
    body = {"filenames": [f"s3://{fhr_stack.bucket}/{MINE}missing.hea"]}
    job_id = parse_body(await handler(make_event("POST", "/fhr/batch", body=body), context))["jobId"]
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    for _ in range(3):  # the first records object_not_found; later copies (a redrive) change nothing
        assert await worker.handler(event, context) == {"batchItemFailures": []}
    job = parse_body(await handler(_job_event(make_event, job_id), context))
    assert (job["failed"], job["pending"], job["error"]["code"]) == (1, 0, "object_not_found")


async def test_worker_refuses_a_record_its_memory_cannot_decode(
    a01: str,
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    receive_sqs_event: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4")  # 4 MiB / (2 x 8) = 256 KiB < a01's 480 KB
    assert worker.record_limit_bytes(4) == 256 * 1024
    job_id = parse_body(await handler(make_event("POST", "/fhr/batch", body={"filenames": [a01]}), context))["jobId"]
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    assert await worker.handler(event, context) == {"batchItemFailures": []}  # permanent: acknowledged
    job = parse_body(await handler(_job_event(make_event, job_id), context))
    assert job["failed"] == 1 and job["error"]["status"] == 413, job["error"]


async def test_worker_deadline_comes_from_the_context(
    a01: str,
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    make_context: Any,
    context: Any,
    receive_sqs_event: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOBS_DEADLINE_MARGIN_S", "5")
    job_id = parse_body(await handler(make_event("POST", "/fhr/batch", body={"filenames": [a01]}), context))["jobId"]
    event = receive_sqs_event(boto, fhr_stack.queue_url)
    response = await worker.handler(event, make_context(timeout_s=4.0))  # less left than the margin
    assert len(response["batchItemFailures"]) == 1  # redelivered later, not lost
    job = parse_body(await handler(_job_event(make_event, job_id), context))
    assert job["pending"] == 1


def _job_event(make_event: Any, job_id: str) -> dict[str, Any]:
    return make_event("GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id})


async def test_sweeper_requeues_a_lost_file_then_marks_it_stuck(
    fhr_stack: Any,
    boto: Any,
    aws_env: str,
    make_event: Any,
    parse_body: Any,
    context: Any,
    sqs_down: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from handlers.api import sweeper
    from handlers.api.settings import Settings

    names = [f"s3://{fhr_stack.bucket}/{MINE}secret-name-{i}.hea" for i in range(3)]
    await sqs_down()
    response = await handler(make_event("POST", "/fhr/batch", body={"filenames": names}), context)
    assert response["statusCode"] == 503  # records written, no message: nobody retries this request
    await restore(monkeypatch, aws_env)
    settings, now = Settings.from_env(), int(time.time())
    assert await sweeper.sweep(settings, now, stuck_after=1000, unsent_grace=120) == {
        "pending": 3,
        "requeued": 0,
        "failed": 0,
    }  # within the grace: its request may still be running
    later = now + 121
    assert (await sweeper.sweep(settings, later, 1000, 120))["requeued"] == 3
    assert (await sweeper.sweep(settings, later + 10, 1000, 120))["requeued"] == 0  # once per file
    sent = bodies(boto, fhr_stack.queue_url)
    assert sorted(m["index"] for m in sent) == [0, 1, 2] and {m["tenant"] for m in sent} == {"t-test"}
    counts = await sweeper.sweep(settings, later + 1001, 1000, 120)
    assert counts == {"pending": 3, "requeued": 0, "failed": 3}
    job_id = sent[0]["jobId"]
    job = parse_body(await handler(_job_event(make_event, job_id), context))
    assert (job["pending"], job["failed"]) == (0, 3)
    assert {f["error"]["code"] for f in job["files"]} == {"stuck"}
    # A late (or redriven) message reopens a stuck file once; it then fails for its own reason, and the
    # sweeper's clock restarted with the reopen, so the next sweep does not mark it stuck over that.
    record = {"messageId": "m-0", "body": json.dumps(sent[0]), "attributes": {"ApproximateReceiveCount": "1"}}
    assert await worker.handler({"Records": [record, record]}, context) == {"batchItemFailures": []}
    assert (await sweeper.sweep(settings, int(time.time()) + 5, 1000, 120))["failed"] == 0
    job = parse_body(await handler(_job_event(make_event, job_id), context))
    assert (job["pending"], job["failed"], job["done"]) == (0, 3, 0)
    codes = {f["index"]: f["error"]["code"] for f in job["files"]}
    assert codes == {sent[0]["index"]: "object_not_found", **{i: "stuck" for i in range(3) if i != sent[0]["index"]}}
    ours = [r for r in caplog.records if r.name.startswith("handlers.")]  # not moto's access log
    assert ours and not any("secret-name" in r.getMessage() for r in ours)


async def test_the_schedule_event_runs_the_sweeper_in_the_worker(fhr_stack: Any, context: Any) -> None:
    from fhrapp.definition import APP, SWEEP_SCHEDULE, SWEEP_SOURCE

    assert worker.SWEEP_SOURCE == SWEEP_SOURCE and SWEEP_SCHEDULE in APP.schedules
    assert SWEEP_SCHEDULE.function == "worker"
    counts = await worker.handler(dict(SWEEP_SCHEDULE.payload), context)
    assert counts == {"pending": 0, "requeued": 0, "failed": 0}
