"""Fault injection for the jobs path (issue 11 §3): ``venv/bin/python -m benchmarks.fault_injection``.

A real moto server (made atomic as DynamoDB, ``localcloud.moto``) behind a fault proxy (aiohttp on
loopback) that every handler client goes through. For each fault, a batch of real set-a records is
submitted through the FHR handler (with an ``Idempotency-Key``, retried as a client would on a 5xx),
then the worker is driven as the SQS event source mapping drives it (queue visibility 1 s, maxReceiveCount
3) until the queue is empty, then the sweeper runs past its horizon. Printed per fault: files done,
failed (with codes), still pending, DLQ messages, and duplicates (a file counted twice: job counters
above the total or disagreeing with the file records).

Faults are injected by the proxy (HTTP 503 SlowDown, DynamoDB throttling, SQS 500, a connection reset
after half a body), by the event source (a batch delivered twice at once, an invocation that never
answers: what a SIGKILLed or OOM-killed worker leaves behind), by the context (a deadline already
spent) and by the function's memory (a record over what it can decode). Bounded: a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "eu-west-1"
TENANT = "t-fault"
SET_A = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "challenge2013-set-a"
RECORDS = ("a01", "a02", "a03", "a04")


@dataclass
class Faults:
    """What the proxy still has to break: counts per kind (decremented as they fire)."""

    s3_slowdown: int = 0
    s3_reset: int = 0
    dynamodb_throttle: int = 0
    sqs_send_error: int = 0
    fired: Counter[str] = field(default_factory=Counter)


def _service(request: Any) -> str:
    auth = request.headers.get("Authorization", "")
    for name in ("s3", "dynamodb", "sqs"):
        if f"/{name}/aws4_request" in auth:
            return name
    return "other"


async def start_proxy(upstream: str, faults: Faults) -> tuple[Any, str]:
    import aiohttp
    from aiohttp import web

    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.StreamResponse:
        service, body = _service(request), await request.read()
        target = request.headers.get("X-Amz-Target", "")
        if service == "dynamodb" and faults.dynamodb_throttle > 0:
            faults.dynamodb_throttle -= 1
            faults.fired["dynamodb_throttle"] += 1
            error = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}
            return web.json_response(error, status=400, content_type="application/x-amz-json-1.0")
        if service == "sqs" and "SendMessage" in (target + body.decode("latin-1")) and faults.sqs_send_error > 0:
            faults.sqs_send_error -= 1
            faults.fired["sqs_send_error"] += 1
            return web.Response(status=500, text="InternalError")
        is_get = service == "s3" and request.method == "GET" and request.path.count("/") > 1
        if is_get and faults.s3_slowdown > 0:
            faults.s3_slowdown -= 1
            faults.fired["s3_slowdown"] += 1
            xml = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return web.Response(status=503, text=xml, content_type="application/xml")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers, data=body, allow_redirects=False
        ) as answer:
            payload = await answer.read()
            reply_headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in ("transfer-encoding", "content-encoding")
            }
            if is_get and answer.status in (200, 206) and len(payload) > 1024 and faults.s3_reset > 0:
                faults.s3_reset -= 1
                faults.fired["s3_reset"] += 1
                response = web.StreamResponse(status=answer.status, headers=reply_headers)
                await response.prepare(request)
                await response.write(payload[: len(payload) // 2])
                assert request.transport is not None
                request.transport.abort()  # connection reset mid-stream
                return response
            return web.Response(status=answer.status, body=payload, headers=reply_headers)

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop() -> None:
        await session.close()
        await runner.cleanup()

    return stop, f"http://127.0.0.1:{port}"


@dataclass
class Scenario:
    name: str
    faults: Faults = field(default_factory=Faults)
    duplicate: bool = False  # every batch delivered twice at once
    lost_invocations: int = 0  # invocations that never answer (a killed worker)
    spent_deadline: int = 0  # invocations whose context has no time left
    memory_mb: int = 1769


SCENARIOS = (
    Scenario("none"),
    Scenario("enqueue failure (SQS 500 x2)", Faults(sqs_send_error=2)),
    Scenario("DynamoDB throttling (x6)", Faults(dynamodb_throttle=6)),
    Scenario("S3 503 SlowDown (x6)", Faults(s3_slowdown=6)),
    Scenario("S3 reset mid-stream (x3)", Faults(s3_reset=3)),
    Scenario("worker killed mid-job (x1)", lost_invocations=1),
    Scenario("worker killed every time", lost_invocations=99),
    Scenario("worker deadline spent (x1)", spent_deadline=1),
    Scenario("out of memory: record > limit", memory_mb=4),
    Scenario("duplicate delivery", duplicate=True),
)


def _boto(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def _make_stack(moto: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    bucket, table = f"ecg-{suffix}", f"results-{suffix}"
    _boto("s3", moto).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    _boto("dynamodb", moto).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = _boto("sqs", moto)
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    queue = sqs.create_queue(
        QueueName=f"jobs-{suffix}", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "1"}
    )["QueueUrl"]
    for record in RECORDS:
        for ext in ("hea", "dat"):
            _boto("s3", moto).put_object(
                Bucket=bucket, Key=f"tenants/{TENANT}/{record}.{ext}", Body=(SET_A / f"{record}.{ext}").read_bytes()
            )
    return {"bucket": bucket, "table": table, "queue": queue, "dlq": dlq}


def _event(method: str, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    text = json.dumps(body)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **headers},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
            "requestId": uuid.uuid4().hex,
        },
        "body": text,
        "isBase64Encoded": False,
    }


def _context(timeout_s: float) -> Any:
    from handlers.runtime.context import FunctionInfo, LambdaContext

    info = FunctionInfo.from_environ(
        {"AWS_LAMBDA_FUNCTION_NAME": "fault-worker", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}
    )
    return LambdaContext(info, uuid.uuid4().hex, int((time.time() + timeout_s) * 1000), "arn:aws:lambda:::function:x")


async def run_scenario(scenario: Scenario, moto: str) -> dict[str, Any]:
    from handlers.api import clients, fhr, sweeper, worker
    from handlers.api.settings import Settings

    stack = _make_stack(moto)
    stop, proxy = await start_proxy(moto, scenario.faults)
    env = {
        "AWS_ENDPOINT_URL_S3": proxy,
        "AWS_ENDPOINT_URL_DYNAMODB": proxy,
        "AWS_ENDPOINT_URL_SQS": proxy,
        "AWS_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "2",
        "ECG_BUCKET": stack["bucket"],
        "RESULTS_TABLE": stack["table"],
        "JOBS_QUEUE_URL": stack["queue"],
        "JOBS_MAX_RECEIVES": "3",
        "JOBS_BACKOFF_BASE_S": "0",
        "JOBS_DEADLINE_MARGIN_S": "1",
        "FHR_OPEN_TENANT": TENANT,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(scenario.memory_mb),
    }
    os.environ.update(env)
    await clients.close()
    try:
        names = [f"s3://{stack['bucket']}/tenants/{TENANT}/{r}.hea" for r in RECORDS]
        event = _event("POST", "/fhr/batch", {"filenames": names}, {"idempotency-key": f"k-{uuid.uuid4().hex}"})
        statuses = []
        for _ in range(5):  # a client retrying 5xx with the same key
            response = await fhr.handler(event, _context(29))
            statuses.append(response["statusCode"])
            if response["statusCode"] == 202:
                break
        job_id = json.loads(response["body"]).get("jobId")
        await _drive(scenario, stack, worker)
        counts = await sweeper.sweep(Settings.from_env(), int(time.time()) + 10_000, 1000, 120)
        await _drive(scenario, stack, worker)
        counts2 = await sweeper.sweep(Settings.from_env(), int(time.time()) + 20_000, 1000, 120)
        return _tally(scenario, stack, job_id, statuses, moto, counts, counts2)
    finally:
        await clients.close()
        await stop()


async def _drive(scenario: Scenario, stack: dict[str, str], worker: Any) -> None:
    """Play the event source mapping until the queue is empty (visibility 1 s) or 25 s have passed."""
    sqs = _boto("sqs", stack["queue"].split("/123456789012")[0])
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=stack["queue"], MaxNumberOfMessages=5, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        if not got:
            attributes = sqs.get_queue_attributes(
                QueueUrl=stack["queue"],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0":
                return
            continue
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
            }
            for m in got
        ]
        if scenario.lost_invocations > 0:
            scenario.lost_invocations -= 1
            continue  # the worker died: no answer, the batch comes back after the visibility timeout
        timeout = 29.0
        if scenario.spent_deadline > 0:
            scenario.spent_deadline -= 1
            timeout = 0.5
        calls = [worker.handler({"Records": records}, _context(timeout))]
        if scenario.duplicate:
            calls.append(worker.handler({"Records": records}, _context(timeout)))
        answers = await asyncio.gather(*calls)
        failed = {f["itemIdentifier"] for answer in answers for f in answer["batchItemFailures"]}
        done = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
            for i, r in enumerate(records)
            if r["messageId"] not in failed
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=stack["queue"], Entries=done)


def _tally(
    scenario: Scenario,
    stack: dict[str, str],
    job_id: str | None,
    statuses: list[int],
    moto: str,
    *sweeps: dict[str, int],
) -> dict[str, Any]:
    dynamodb, sqs = _boto("dynamodb", moto), _boto("sqs", moto)
    files = []
    for index in range(len(RECORDS)):
        item = dynamodb.get_item(TableName=stack["table"], Key={"pk": {"S": f"job#{job_id}#{index}"}}).get("Item")
        files.append(item)
    job = dynamodb.get_item(TableName=stack["table"], Key={"pk": {"S": f"job#{job_id}"}}).get("Item", {})
    outcomes = Counter(f["status"]["S"] if f else "missing" for f in files)
    codes = Counter(f["error_code"]["S"] for f in files if f and "error_code" in f)
    done_count, failed_count = (
        int(job.get("done_count", {"N": "-1"})["N"]),
        int(job.get("failed_count", {"N": "-1"})["N"]),
    )
    duplicates = (done_count - outcomes["done"]) + (failed_count - outcomes["failed"])
    dlq = 0
    while batch := sqs.receive_message(QueueUrl=stack["dlq"], MaxNumberOfMessages=10).get("Messages", []):
        dlq += len(batch)
    return {
        "fault": scenario.name,
        "requests": "/".join(str(s) for s in statuses),
        "files": len(RECORDS),
        "done": outcomes["done"],
        "failed": outcomes["failed"],
        "codes": ",".join(f"{c}:{n}" for c, n in sorted(codes.items())) or "-",
        "pending": outcomes["pending"] + outcomes["missing"],
        "dlq": dlq,
        "duplicates": duplicates,
        "fired": ",".join(f"{k}:{v}" for k, v in sorted(scenario.faults.fired.items())) or "-",
        "swept": "+".join(str(s["requeued"] + s["failed"]) for s in sweeps),
    }


async def main() -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from localcloud.moto import DUMMY_CREDENTIALS, serialize_dynamodb_writes

    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(DUMMY_CREDENTIALS)
    serialize_dynamodb_writes()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    moto = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    started = time.perf_counter()
    try:
        rows = [await run_scenario(scenario, moto) for scenario in SCENARIOS]
    finally:
        server.stop()
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print(" | ".join(c.ljust(widths[c]) for c in columns))
    print("-|-".join("-" * widths[c] for c in columns))
    for row in rows:
        print(" | ".join(str(row[c]).ljust(widths[c]) for c in columns))
    print(f"\n{len(rows)} faults x {len(RECORDS)} files in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
