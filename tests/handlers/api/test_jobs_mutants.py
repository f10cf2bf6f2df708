"""Job records and messages at their edges, found by mutation testing (``make mutants MODULE=api_jobs``).

What lands in DynamoDB and SQS for a batch and a deferred record (every attribute, its expiry, the options
as canonical JSON), the batch APIs' limits crossed (25 items a BatchWriteItem, 100 keys a BatchGetItem, 10
messages a SendMessageBatch), a repair that sends only what is still pending, a retried batch whose options
come in another key order, and the message bodies the worker refuses, on the session's moto server.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from handlers.api import clients, worker
from handlers.api.fhr import handler
from handlers.api.jobs import batch_job_id, file_pk, job_pk

MINE = "tenants/t-test/"
TTL_S = 3600


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch, aws_env: str) -> Any:
    """``await sqs(False)``: the handlers' SQS endpoint is a closed port (sending fails); ``await sqs(True)``: back."""

    async def switch(up: bool) -> None:
        await clients.close()
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", aws_env if up else f"http://127.0.0.1:{closed_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    return switch


def messages(boto: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message body in the queue, received (and so hidden) once each."""
    found: list[dict[str, Any]] = []
    while batch := boto("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        found.extend(json.loads(m["Body"]) for m in batch)
    return found


def item(boto: Any, table: str, pk: str) -> dict[str, Any] | None:
    return boto("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


async def post_batch(make_event: Any, context: Any, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"idempotency-key": key} if key else None
    return await handler(make_event("POST", "/fhr/batch", body=body, headers=headers), context)


async def test_a_batch_stores_exactly_its_records_and_sends_exactly_its_messages(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESULT_TTL_S", str(TTL_S))
    names = [f"s3://{fhr_stack.bucket}/{MINE}b/r{i}.hea" for i in range(2)]
    options = {"window_s": 8.0, "refine": False}
    before = int(time.time())
    response = await post_batch(make_event, context, {"filenames": names, "options": options})
    after = int(time.time())
    job_id = parse_body(response)["jobId"]
    job = item(boto, fhr_stack.results_table, job_pk(job_id))
    assert job is not None
    assert set(job) == {"pk", "kind", "tenant", "total", "done_count", "failed_count", "options", "created_at"} | {
        "expires_at",
        "enqueued_at",
    }
    assert (job["kind"], job["tenant"], job["total"]) == ({"S": "job-batch"}, {"S": "t-test"}, {"N": "2"})
    assert (job["done_count"], job["failed_count"]) == ({"N": "0"}, {"N": "0"})
    assert job["options"] == {"S": '{"refine":false,"window_s":8}'}  # canonical: sorted keys, no spaces
    assert before <= int(job["created_at"]["N"]) <= int(job["enqueued_at"]["N"]) <= after
    assert before + TTL_S <= int(job["expires_at"]["N"]) <= after + TTL_S
    for index, name in enumerate(names):
        stored = item(boto, fhr_stack.results_table, file_pk(job_id, index))
        assert stored is not None and set(stored) == {"pk", "kind", "tenant", "filename", "status", "created_at"} | {
            "expires_at"
        }
        assert (stored["kind"], stored["tenant"], stored["filename"], stored["status"]) == (
            {"S": "job-file"},
            {"S": "t-test"},
            {"S": name},
            {"S": "pending"},
        )
        assert before <= int(stored["created_at"]["N"]) <= after
        assert before + TTL_S <= int(stored["expires_at"]["N"]) <= after + TTL_S
    sent = sorted(messages(boto, fhr_stack.queue_url), key=lambda m: m["index"])
    assert sent == [
        {"jobId": job_id, "index": i, "filename": name, "options": options, "tenant": "t-test"}
        for i, name in enumerate(names)
    ]


async def test_a_batch_over_every_batch_api_limit_is_written_sent_and_listed_whole(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    """101 files: five BatchWriteItem calls (25 a call), eleven SendMessageBatch calls (10 a call), and a page of
    101 files read in two BatchGetItem calls (100 a call). Every file once, in order."""
    names = [f"s3://{fhr_stack.bucket}/{MINE}many/r{i:03d}.hea" for i in range(101)]
    response = await post_batch(make_event, context, {"filenames": names})
    assert response["statusCode"] == 202, parse_body(response)
    job_id = parse_body(response)["jobId"]
    sent = messages(boto, fhr_stack.queue_url)
    assert sorted(m["index"] for m in sent) == list(range(101))
    assert {m["index"]: m["filename"] for m in sent} == dict(enumerate(names))
    event = make_event(
        "GET",
        f"/fhr/jobs/{job_id}",
        route_key="GET /fhr/jobs/{id}",
        path_params={"id": job_id},
        query={"limit": "101"},
    )
    page = parse_body(await handler(event, context))
    assert [(f["index"], f["filename"], f["status"]) for f in page["files"]] == [
        (i, name, "pending") for i, name in enumerate(names)
    ]
    assert (page["total"], page["pending"], page["nextOffset"]) == (101, 101, None)


async def test_a_repair_sends_only_the_files_still_pending_over_two_key_pages(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, sqs: Any
) -> None:
    """A batch whose request died before its messages went out; meanwhile some files finished (the sweeper's
    messages). The same request again sends the pending ones only, read back over two BatchGetItem pages."""
    names = [f"s3://{fhr_stack.bucket}/{MINE}repair/r{i:03d}.hea" for i in range(102)]
    await sqs(False)
    response = await post_batch(make_event, context, {"filenames": names}, key="repair-1")
    assert response["statusCode"] == 503
    job_id = batch_job_id("t-test", "repair-1")
    finished = {0: "done", 1: "failed", 100: "done", 101: "failed"}
    for index, status in finished.items():
        boto("dynamodb").update_item(
            TableName=fhr_stack.results_table,
            Key={"pk": {"S": file_pk(job_id, index)}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}},
        )
    await sqs(True)
    response = await post_batch(make_event, context, {"filenames": names}, key="repair-1")
    assert (response["statusCode"], parse_body(response)["jobId"]) == (202, job_id)
    sent = messages(boto, fhr_stack.queue_url)
    assert sorted(m["index"] for m in sent) == [i for i in range(102) if i not in finished]
    again = await post_batch(make_event, context, {"filenames": names}, key="repair-1")
    assert again["statusCode"] == 202 and messages(boto, fhr_stack.queue_url) == []  # repaired: nothing more


async def test_a_retried_batch_is_the_same_request_whatever_the_order_of_its_option_keys(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    names = [f"s3://{fhr_stack.bucket}/{MINE}order/r.hea"]
    first = await post_batch(
        make_event, context, {"filenames": names, "options": {"refine": False, "window_s": 8}}, "k"
    )
    second = await post_batch(
        make_event, context, {"filenames": names, "options": {"window_s": 8, "refine": False}}, "k"
    )
    assert first["statusCode"] == second["statusCode"] == 202
    assert parse_body(first)["jobId"] == parse_body(second)["jobId"]
    assert len(messages(boto, fhr_stack.queue_url)) == 1
    status = make_event(
        "GET",
        f"/fhr/jobs/{parse_body(first)['jobId']}",
        route_key="GET /fhr/jobs/{id}",
        path_params={"id": parse_body(first)["jobId"]},
    )
    assert (await handler(status, context))["statusCode"] == 200  # the id an Idempotency-Key names is a job id


async def test_a_deferred_record_whose_job_item_was_never_written_is_repaired(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    sqs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first request wrote the one-file job's file record and died before its job record: a retry writes the
    job record, sends the message once, and the job is served."""
    for suffix in ("hea", "dat"):
        body = (set_a_dir / f"a01.{suffix}").read_bytes()
        boto("s3").put_object(Bucket=fhr_stack.bucket, Key=f"{MINE}set-a/a01.{suffix}", Body=body)
    uri = f"s3://{fhr_stack.bucket}/{MINE}set-a/a01.hea"
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")  # deferred
    await sqs(False)
    first = await handler(make_event("GET", "/fhr", query={"filename": uri}), context)
    assert first["statusCode"] == 503
    [job] = [
        i for i in boto("dynamodb").scan(TableName=fhr_stack.results_table)["Items"] if i["kind"]["S"] == "job-single"
    ]
    boto("dynamodb").delete_item(TableName=fhr_stack.results_table, Key={"pk": job["pk"]})
    await sqs(True)
    answers = [parse_body(await handler(make_event("GET", "/fhr", query={"filename": uri}), context)) for _ in range(2)]
    job_id = job["pk"]["S"][4:]
    assert [a["jobId"] for a in answers] == [job_id, job_id]
    assert [m["jobId"] for m in messages(boto, fhr_stack.queue_url)] == [job_id]
    stored = item(boto, fhr_stack.results_table, job_pk(job_id))
    assert stored is not None and (stored["kind"], stored["total"]) == ({"S": "job-single"}, {"N": "1"})


def put_job(boto: Any, table: str, job_id: str, total: int, indexes: list[int], bucket: str) -> None:
    """A job of ``total`` files with the file records ``indexes`` (pending), as the API writes them."""
    now = str(int(time.time()))
    boto("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": job_pk(job_id)},
            "kind": {"S": "job-batch"},
            "tenant": {"S": "t-test"},
            "total": {"N": str(total)},
            "done_count": {"N": "0"},
            "failed_count": {"N": "0"},
            "options": {"S": "{}"},
            "created_at": {"N": now},
            "enqueued_at": {"N": now},
        },
    )
    for index in indexes:
        boto("dynamodb").put_item(
            TableName=table,
            Item={
                "pk": {"S": file_pk(job_id, index)},
                "kind": {"S": "job-file"},
                "tenant": {"S": "t-test"},
                "filename": {"S": f"s3://{bucket}/{MINE}missing/{index}.hea"},
                "status": {"S": "pending"},
                "created_at": {"N": now},
            },
        )


def record(body: Any, message_id: str = "m-1") -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"messageId": message_id, "body": text, "attributes": {"ApproximateReceiveCount": "1"}}


async def test_the_last_index_a_batch_can_have_is_999(fhr_stack: Any, boto: Any, context: Any) -> None:
    job_id = "c" * 32
    put_job(boto, fhr_stack.results_table, job_id, 1001, [0, 1, 5, 999, 1000], fhr_stack.bucket)

    def body(index: Any, **extra: Any) -> dict[str, Any]:
        filename = f"s3://{fhr_stack.bucket}/{MINE}missing/{index}.hea"
        return {"jobId": job_id, "index": index, "filename": filename, "options": None, "tenant": "t-test", **extra}

    assert await worker.handler({"Records": [record(body(999))]}, context) == {"batchItemFailures": []}
    assert await worker.handler({"Records": [record(body(0))]}, context) == {"batchItemFailures": []}
    refused = [
        body(1000),
        body(-1),
        body(True),
        body("5"),
        body(0, tenant=""),
        body(0, tenant=None),
        body(0, filename=7),
        body(0, options=[1]),
        body(0, jobId="C" * 32),
        [body(0)],
    ]
    for bad in refused:
        answer = await worker.handler({"Records": [record(bad, "poison")]}, context)
        assert answer == {"batchItemFailures": [{"itemIdentifier": "poison"}]}, bad
    # True is no index (JSON true, not 1) and "5" no number: files 1 and 5 are untouched, as is 1000
    indexes = (0, 1, 5, 999, 1000)
    statuses = {i: item(boto, fhr_stack.results_table, file_pk(job_id, i))["status"]["S"] for i in indexes}
    assert statuses == {0: "failed", 1: "pending", 5: "pending", 999: "failed", 1000: "pending"}
    job = item(boto, fhr_stack.results_table, job_pk(job_id))
    assert job is not None and job["failed_count"] == {"N": "2"}


# ---- DynamoDB and SQS answering "not this time": a real proxy in front of moto ----------------------------------
#
# DynamoDB may leave part of a batch unprocessed (UnprocessedItems / UnprocessedKeys) and SQS may fail some entries
# of a SendMessageBatch; moto never does. The proxy forwards every request to moto and, for the operation under
# test, holds back part (or all) of a batch and answers it as the service would, so the retries are exercised
# over HTTP with the handlers' real clients.


class Faults:
    """Which batch operation to disturb, how often, and when each of its calls arrived."""

    def __init__(self, target: str, *, calls: int, everything: bool = False) -> None:
        self.target = target  # e.g. "DynamoDB_20120810.BatchWriteItem"
        self.left = calls  # calls still to disturb
        self.everything = everything  # hold back the whole batch, not its last entry
        self.arrivals: list[float] = []


def _disturb(target: str, body: dict[str, Any], faults: Faults) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what to forward to moto, what to add to moto's answer) for one disturbed call."""
    if target.endswith("BatchWriteItem"):
        (table, requests), held = next(iter(body["RequestItems"].items())), []
        held, kept = (requests, []) if faults.everything else (requests[-1:], requests[:-1])
        return {"RequestItems": {table: kept}} if kept else {}, {"UnprocessedItems": {table: held}}
    if target.endswith("BatchGetItem"):
        table, request = next(iter(body["RequestItems"].items()))
        keys = request["Keys"]
        held, kept = (keys, []) if faults.everything else (keys[-1:], keys[:-1])
        forward = {"RequestItems": {table: {**request, "Keys": kept}}} if kept else {}
        return forward, {"UnprocessedKeys": {table: {**request, "Keys": held}}}
    entries = body["Entries"]  # AmazonSQS.SendMessageBatch
    held, kept = (entries, []) if faults.everything else (entries[-1:], entries[:-1])
    failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"} for e in held]
    return ({**body, "Entries": kept} if kept else {}), {"Failed": failed}


@pytest.fixture
async def faulty(aws_env: str, monkeypatch: pytest.MonkeyPatch):
    """``await faulty(Faults(...))``: the handlers' DynamoDB and SQS clients go through a proxy that disturbs it."""
    import aiohttp
    from aiohttp import web

    state: dict[str, Faults | None] = {"faults": None}
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.Response:
        raw = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        faults = state["faults"]
        extra: dict[str, Any] = {}
        if faults is not None and target == faults.target:
            faults.arrivals.append(time.monotonic())
            if faults.left > 0:
                faults.left -= 1
                body, extra = _disturb(target, json.loads(raw), faults)
                if not body:  # nothing left to forward: answer as the service would
                    empty = {"UnprocessedItems": {}} if "Write" in target else {"Responses": {}, "Successful": []}
                    return web.json_response({**empty, **extra}, content_type="application/x-amz-json-1.0")
                raw = json.dumps(body).encode()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.request(request.method, aws_env + request.path_qs, data=raw, headers=headers) as answer:
            payload = await answer.read()
            if extra:
                payload = json.dumps({**json.loads(payload), **extra}).encode()
            dropped = ("content-length", "transfer-encoding", "x-amz-crc32")  # the body's checksum, if changed
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in dropped[: 3 if extra else 2]}
            return web.Response(status=answer.status, body=payload, headers=kept)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def install(faults: Faults) -> Faults:
        await clients.close()
        for service in ("DYNAMODB", "SQS"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", f"http://127.0.0.1:{port}")
        state["faults"] = faults
        return faults

    yield install
    await clients.close()
    await session.close()
    await runner.cleanup()


def gaps(arrivals: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]


def backed_off(arrivals: list[float], base: float, cap: float) -> bool:
    """Each retry came no sooner than base x 2^attempt (at most cap) after the call before it."""
    return all(gap >= min(base * 2**attempt, cap) - 0.005 for attempt, gap in enumerate(gaps(arrivals)))


async def test_a_batch_write_left_unprocessed_is_retried_until_every_file_is_stored(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, faulty: Any
) -> None:
    faults = await faulty(Faults("DynamoDB_20120810.BatchWriteItem", calls=3))
    names = [f"s3://{fhr_stack.bucket}/{MINE}w/r{i}.hea" for i in range(3)]
    response = await post_batch(make_event, context, {"filenames": names})
    assert response["statusCode"] == 202, parse_body(response)
    job_id = parse_body(response)["jobId"]
    stored = [item(boto, fhr_stack.results_table, file_pk(job_id, i)) for i in range(3)]
    assert [s["filename"]["S"] for s in stored if s] == names
    assert len(faults.arrivals) == 4 and backed_off(faults.arrivals, 0.05, 1.0)


async def test_a_batch_write_never_processed_gives_up_after_8_calls(
    fhr_stack: Any, make_event: Any, parse_body: Any, context: Any, faulty: Any
) -> None:
    faults = await faulty(Faults("DynamoDB_20120810.BatchWriteItem", calls=99, everything=True))
    names = [f"s3://{fhr_stack.bucket}/{MINE}w/r{i}.hea" for i in range(2)]
    response = await post_batch(make_event, context, {"filenames": names})
    assert (response["statusCode"], parse_body(response)["code"]) == (500, "internal_error")
    assert len(faults.arrivals) == 8 and backed_off(faults.arrivals, 0.05, 1.0)


async def test_keys_left_unprocessed_are_read_again_until_the_page_is_whole(
    fhr_stack: Any, make_event: Any, parse_body: Any, context: Any, faulty: Any
) -> None:
    names = [f"s3://{fhr_stack.bucket}/{MINE}g/r{i}.hea" for i in range(3)]
    job_id = parse_body(await post_batch(make_event, context, {"filenames": names}))["jobId"]
    faults = await faulty(Faults("DynamoDB_20120810.BatchGetItem", calls=3))
    event = make_event("GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id})
    page = parse_body(await handler(event, context))
    assert [(f["index"], f["filename"], f["status"]) for f in page["files"]] == [
        (i, name, "pending") for i, name in enumerate(names)
    ]
    assert len(faults.arrivals) == 4 and backed_off(faults.arrivals, 0.05, 1.0)
    faults = await faulty(Faults("DynamoDB_20120810.BatchGetItem", calls=99, everything=True))
    response = await handler(event, context)
    assert (response["statusCode"], parse_body(response)["code"]) == (500, "internal_error")
    assert len(faults.arrivals) == 8 and backed_off(faults.arrivals, 0.05, 1.0)


async def test_messages_sqs_failed_are_sent_again_once_each(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, faulty: Any
) -> None:
    faults = await faulty(Faults("AmazonSQS.SendMessageBatch", calls=3))
    names = [f"s3://{fhr_stack.bucket}/{MINE}s/r{i}.hea" for i in range(3)]
    response = await post_batch(make_event, context, {"filenames": names})
    assert response["statusCode"] == 202, parse_body(response)
    assert sorted(m["index"] for m in messages(boto, fhr_stack.queue_url)) == [0, 1, 2]  # each once
    assert len(faults.arrivals) == 4 and backed_off(faults.arrivals, 0.1, 2.0)


async def test_messages_sqs_never_takes_are_a_503_after_5_calls(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, faulty: Any
) -> None:
    faults = await faulty(Faults("AmazonSQS.SendMessageBatch", calls=99, everything=True))
    names = [f"s3://{fhr_stack.bucket}/{MINE}s/r{i}.hea" for i in range(2)]
    response = await post_batch(make_event, context, {"filenames": names})
    assert (response["statusCode"], parse_body(response)["code"]) == (503, "queue_unavailable")
    assert len(faults.arrivals) == 5 and backed_off(faults.arrivals, 0.1, 2.0)
    assert messages(boto, fhr_stack.queue_url) == []


async def test_every_read_of_a_job_record_is_strongly_consistent(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any, receive_sqs_event: Any
) -> None:
    """Job records are read right after they are written (a retry's repair, a page after a batch, the worker's
    check of a file): an eventually consistent read could miss them. Seen on the handlers' own client."""
    sent: list[tuple[str, bool]] = []
    dynamodb = await clients.client("dynamodb")
    for operation in ("GetItem", "BatchGetItem"):

        def record_read(params: dict[str, Any], operation: str = operation, **_: Any) -> None:
            consistent = params.get("ConsistentRead")
            if consistent is None:  # BatchGetItem: per table
                consistent = all(t.get("ConsistentRead") for t in params["RequestItems"].values())
            sent.append((operation, bool(consistent)))

        dynamodb.meta.events.register(f"provide-client-params.dynamodb.{operation}", record_read)
    names = [f"s3://{fhr_stack.bucket}/{MINE}c/r{i}.hea" for i in range(2)]
    response = await post_batch(make_event, context, {"filenames": names}, key="consistent")
    job_id = parse_body(response)["jobId"]
    await post_batch(make_event, context, {"filenames": names}, key="consistent")  # the retry reads the job
    event = make_event("GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id})
    assert (await handler(event, context))["statusCode"] == 200
    assert await worker.handler(receive_sqs_event(boto, fhr_stack.queue_url), context) == {"batchItemFailures": []}
    assert {operation for operation, _ in sent} == {"GetItem", "BatchGetItem"}
    assert all(consistent for _, consistent in sent), sent


async def test_an_outcome_for_a_file_whose_job_record_is_gone_is_not_taken_for_a_duplicate(
    fhr_stack: Any, boto: Any, context: Any
) -> None:
    """The file's transaction is cancelled by the JOB's condition (its record is gone), not the file's: that is
    no duplicate to acknowledge; the message is reported so SQS delivers it again (or dead-letters it)."""
    job_id = "b" * 32
    put_job(boto, fhr_stack.results_table, job_id, 1, [0], fhr_stack.bucket)
    boto("dynamodb").delete_item(TableName=fhr_stack.results_table, Key={"pk": {"S": job_pk(job_id)}})
    body = {
        "jobId": job_id,
        "index": 0,
        "filename": f"s3://{fhr_stack.bucket}/{MINE}missing/0.hea",
        "options": {},
        "tenant": "t-test",
    }
    assert await worker.handler({"Records": [record(body, "orphan")]}, context) == {
        "batchItemFailures": [{"itemIdentifier": "orphan"}]
    }
    assert item(boto, fhr_stack.results_table, file_pk(job_id, 0))["status"] == {"S": "pending"}


async def test_twin_requests_with_one_key_at_once_answer_the_same_job(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    """Both find no job, both write it; the second's conditional put finds the first's, and joins it."""
    import asyncio

    names = [f"s3://{fhr_stack.bucket}/{MINE}twin/r{i}.hea" for i in range(2)]
    answers = await asyncio.gather(*(post_batch(make_event, context, {"filenames": names}, key="twin") for _ in "ab"))
    assert [a["statusCode"] for a in answers] == [202, 202], [parse_body(a) for a in answers]
    assert parse_body(answers[0])["jobId"] == parse_body(answers[1])["jobId"] == batch_job_id("t-test", "twin")
    assert {m["index"] for m in messages(boto, fhr_stack.queue_url)} == {0, 1}  # sent, maybe twice: counted once


async def test_a_redrive_whose_job_record_is_gone_is_reported_not_acknowledged(
    fhr_stack: Any, boto: Any, context: Any
) -> None:
    """A file failed with retries_exhausted; its job record is gone. The redriven message cannot reopen it (the
    JOB's condition fails, not the file's): it is reported, and the file keeps its failure."""
    job_id = "a" * 31 + "b"
    put_job(boto, fhr_stack.results_table, job_id, 1, [0], fhr_stack.bucket)
    boto("dynamodb").update_item(
        TableName=fhr_stack.results_table,
        Key={"pk": {"S": file_pk(job_id, 0)}},
        UpdateExpression="SET #s = :failed, error_code = :code",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":failed": {"S": "failed"}, ":code": {"S": "retries_exhausted"}},
    )
    boto("dynamodb").delete_item(TableName=fhr_stack.results_table, Key={"pk": {"S": job_pk(job_id)}})
    body = {
        "jobId": job_id,
        "index": 0,
        "filename": f"s3://{fhr_stack.bucket}/{MINE}missing/0.hea",
        "options": {},
        "tenant": "t-test",
    }
    assert await worker.handler({"Records": [record(body, "redriven")]}, context) == {
        "batchItemFailures": [{"itemIdentifier": "redriven"}]
    }
    assert item(boto, fhr_stack.results_table, file_pk(job_id, 0))["status"] == {"S": "failed"}


async def test_twin_requests_with_one_key_and_two_bodies_at_once_make_one_job_and_a_422(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    """Both find no job and both write; the one whose conditional put loses finds a job of ANOTHER body under its
    key: 422, and nothing of its body is queued."""
    import asyncio

    first = [f"s3://{fhr_stack.bucket}/{MINE}twin2/a{i}.hea" for i in range(2)]
    second = [f"s3://{fhr_stack.bucket}/{MINE}twin2/b{i}.hea" for i in range(3)]
    answers = await asyncio.gather(
        *(post_batch(make_event, context, {"filenames": names}, key="twin2") for names in (first, second))
    )
    statuses = [a["statusCode"] for a in answers]
    assert sorted(statuses) == [202, 422], [parse_body(a) for a in answers]
    winner = first if statuses[0] == 202 else second
    assert {m["filename"] for m in messages(boto, fhr_stack.queue_url)} == set(winner)


async def test_another_tenants_job_and_a_missing_one_read_alike(
    fhr_stack: Any, boto: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    theirs, missing = "7" * 32, "6" * 32
    put_job(boto, fhr_stack.results_table, theirs, 1, [0], fhr_stack.bucket)
    boto("dynamodb").update_item(
        TableName=fhr_stack.results_table,
        Key={"pk": {"S": job_pk(theirs)}},
        UpdateExpression="SET tenant = :other",
        ExpressionAttributeValues={":other": {"S": "t-other"}},
    )
    answers = []
    for job_id in (theirs, missing):
        event = make_event("GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id})
        response = await handler(event, context)
        body = parse_body(response)
        answers.append((response["statusCode"], body["code"], body["message"].replace(job_id, "<id>")))
    assert answers[0] == answers[1] and answers[0][:2] == (404, "job_not_found")
