"""The FHR routes at their edges, found by mutation testing (``make mutants MODULE=api_fhr``).

What a client receives, on the session's moto server: routes reached through a ``$default`` route as well as
by route key, a job's pages at their bounds (the default of 100 files, 1 and 1000, offsets to 1000, 10 with
results), a job's status from its counts, the batch size limit at its boundary, the predicted seconds of a
deferred record, a result exactly at the inline limit, the metrics a request emits, and every answer
checked against the published OpenAPI document.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from apicontract.validate import ResponseChecker
from fhrapp.definition import APP, api_routes_json
from handlers.api import analysis, fhr
from handlers.api import cache as cache_module
from handlers.api.fhr import handler
from handlers.api.jobs import job_pk
from handlers.api.openapi import document, routes_from_json
from tests.handlers.api.test_results import upload

MINE = "tenants/t-test/"
DOC = document(routes_from_json(api_routes_json(APP)), jwt=False, server="https://api.example.org")


@pytest.fixture(scope="module")
def checker() -> ResponseChecker:
    return ResponseChecker(DOC)


@pytest.fixture
def call(make_event: Any, context: Any, parse_body: Any, checker: ResponseChecker):
    """A request as a client makes it; every answer is checked against the document as it arrives."""

    async def run(method: str, path: str, *, ctx: Any = None, **event: Any) -> tuple[int, Any, dict[str, Any]]:
        response = await handler(make_event(method, path, **event), ctx or context)
        checker.check(method, path, response["statusCode"], response["headers"], response["body"].encode())
        return response["statusCode"], parse_body(response), response["headers"]

    return run


def put_job(boto: Any, table: str, job_id: str, total: int, done: int = 0, failed: int = 0) -> None:
    """A job record without file records (they expired first, or the test needs none): files read "unknown"."""
    boto("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": job_pk(job_id)},
            "kind": {"S": "job-batch"},
            "tenant": {"S": "t-test"},
            "total": {"N": str(total)},
            "done_count": {"N": str(done)},
            "failed_count": {"N": str(failed)},
            "options": {"S": "{}"},
            "created_at": {"N": str(int(time.time()))},
        },
    )


def job_path(job_id: str) -> dict[str, Any]:
    return {"route_key": "GET /fhr/jobs/{id}", "path_params": {"id": job_id}}


async def test_a_jobs_pages_at_their_bounds(fhr_stack: Any, boto: Any, call: Any) -> None:
    job_id = "d" * 32
    put_job(boto, fhr_stack.results_table, job_id, total=1001)
    path = f"/fhr/jobs/{job_id}"

    async def page(**query: str) -> tuple[int, Any]:
        status, body, _ = await call("GET", path, query=query or None, **job_path(job_id))
        return status, body

    status, body = await page()
    assert status == 200 and (len(body["files"]), body["offset"], body["nextOffset"]) == (100, 0, 100)
    assert body["files"][0] == {"index": 0, "status": "unknown"} and body["files"][-1]["index"] == 99
    status, body = await page(limit="1")
    assert (len(body["files"]), body["nextOffset"]) == (1, 1)
    status, body = await page(limit="1000")
    assert (len(body["files"]), body["nextOffset"]) == (1000, 1000)
    status, body = await page(offset="1000")
    assert [f["index"] for f in body["files"]] == [1000] and body["nextOffset"] is None
    status, body = await page(results="full")
    assert (len(body["files"]), body["nextOffset"]) == (10, 10)
    status, body = await page(results="full", limit="10", offset="995")
    assert [f["index"] for f in body["files"]] == list(range(995, 1001)) and body["nextOffset"] is None
    for bad in ({"limit": "1001"}, {"offset": "1001"}, {"limit": "11", "results": "full"}, {"offset": "-1"}):
        status, body = await page(**bad)
        assert (status, body["code"]) == (400, "invalid_page"), bad
    status, body = await page(results="partial")
    assert (status, body["code"]) == (400, "invalid_results")


@pytest.mark.parametrize(
    ("total", "done", "failed", "status", "pending"),
    [
        (3, 0, 0, "pending", 3),
        (3, 2, 0, "pending", 1),
        (3, 0, 3, "failed", 0),
        (3, 1, 2, "done", 0),
        (3, 3, 0, "done", 0),
        (1, 0, 1, "failed", 0),
    ],
)
async def test_a_jobs_status_follows_its_counts(
    fhr_stack: Any, boto: Any, call: Any, total: int, done: int, failed: int, status: str, pending: int
) -> None:
    job_id = "e" * 32
    put_job(boto, fhr_stack.results_table, job_id, total=total, done=done, failed=failed)
    code, body, _ = await call("GET", f"/fhr/jobs/{job_id}", **job_path(job_id))
    assert code == 200
    assert (body["status"], body["total"], body["done"], body["failed"], body["pending"]) == (
        status,
        total,
        done,
        failed,
        pending,
    )
    assert ("result" in body) == (total == 1)  # a one-file job always says what became of its one file


async def test_every_route_is_reached_through_a_default_route_too(
    fhr_stack: Any, boto: Any, call: Any, make_event: Any, context: Any, parse_body: Any
) -> None:
    """Behind a ``$default`` route (a plain proxy) the route comes from the method and path."""
    job_id = "f" * 32
    put_job(boto, fhr_stack.results_table, job_id, total=2)
    bucket = fhr_stack.bucket

    async def proxied(method: str, path: str, **event: Any) -> tuple[int, Any]:
        response = await handler(make_event(method, path, route_key="$default", **event), context)
        return response["statusCode"], parse_body(response)

    status, body = await proxied("GET", f"/fhr/jobs/{job_id}")
    assert (status, body["jobId"], body["total"]) == (200, job_id, 2)
    status, body = await proxied("GET", f"/fhr/jobs/{job_id}/")
    assert (status, body["jobId"]) == (200, job_id)
    status, body = await proxied("GET", "/fhr/", query={"filename": f"s3://{bucket}/{MINE}nothing.hea"})
    assert (status, body["code"]) == (404, "object_not_found")  # GET /fhr, trailing slash and all
    status, body = await proxied("POST", "/fhr", body={"filename": f"s3://{bucket}/{MINE}nothing.hea"})
    assert (status, body["code"]) == (404, "object_not_found")
    status, body = await proxied("POST", "/fhr/batch", body={"filenames": []})
    assert (status, body["code"]) == (400, "invalid_filenames")
    status, body = await proxied("DELETE", f"/fhr/jobs/{job_id}")
    assert (status, body["code"]) == (405, "method_not_allowed")
    status, body = await proxied("PUT", "/fhr/batch")
    assert (status, body["code"]) == (405, "method_not_allowed")
    status, body = await proxied("GET", "/fhr/jobs")
    assert (status, body["code"]) == (404, "route_not_found")
    status, body = await proxied("GET", "/fhrx")
    assert (status, body["code"]) == (404, "route_not_found")


async def test_the_batch_limit_is_inclusive(
    fhr_stack: Any, call: Any, boto: Any, scan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit (1000, lowered here to 3 so the test writes three files, not a thousand) is a number a batch
    may have; one more is refused before anything is written."""
    monkeypatch.setattr(fhr, "MAX_BATCH_FILES", 3)
    names = [f"s3://{fhr_stack.bucket}/{MINE}lim/r{i}.hea" for i in range(4)]
    status, body, headers = await call("POST", "/fhr/batch", body={"filenames": names[:3]})
    assert (status, body["total"], body["status"]) == (202, 3, "pending")
    assert headers["location"] == body["location"] == f"/fhr/jobs/{body['jobId']}"
    before = scan(boto, fhr_stack.results_table)
    status, body, _ = await call("POST", "/fhr/batch", body={"filenames": names})
    assert (status, body["code"]) == (400, "too_many_files") and "at most 3" in body["message"]
    assert scan(boto, fhr_stack.results_table) == before


async def test_a_deferred_record_says_how_long_it_is_predicted_to_take(
    fhr_stack: Any, boto: Any, set_a_dir: Path, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis.THROUGHPUT, "observed", None)  # what earlier tests measured is not this test's
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")
    monkeypatch.setenv("FHR_FIXED_OVERHEAD_S", "0.5")
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a01", "pred/a01")
    size = sum((set_a_dir / f"a01.{s}").stat().st_size for s in ("hea", "dat"))
    status, body, headers = await call("GET", "/fhr", query={"filename": uri})
    assert status == 202 and body["predictedSeconds"] == round(0.5 + size / 1000, 1)
    assert headers["location"] == body["location"] == f"/fhr/jobs/{body['jobId']}"
    status, job, _ = await call("GET", body["location"], **job_path(body["jobId"]))
    assert status == 200 and job["status"] == "pending" and job["result"] is None and job["error"] is None


async def test_a_result_exactly_at_the_inline_limit_is_answered_inline(
    fhr_stack: Any, boto: Any, set_a_dir: Path, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "MAX_ITEM_BYTES", cache_module.ITEM_HEADROOM + 100)  # stored in S3
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1e12")
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a03", "inline/a03")
    status, fresh, _ = await call("GET", "/fhr", query={"filename": uri})
    assert status == 200 and fresh["cached"] is False
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", 1000)
    status, linked, _ = await call("GET", "/fhr", query={"filename": uri})
    size = linked["resultLink"]["bytes"]
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", size)
    status, inline, _ = await call("GET", "/fhr", query={"filename": uri})
    assert status == 200 and inline == {**fresh, "cached": True}
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", size - 1)
    status, linked, _ = await call("GET", "/fhr", query={"filename": uri})
    assert status == 200 and set(linked) == {"resultLink", "summary", "cached"}


def metric_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, filter(None, text.splitlines())) if "_aws" in line]


async def test_a_miss_and_a_hit_emit_their_metrics(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    call: Any,
    context: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1e12")
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a02", "emf/a02")
    size = sum((set_a_dir / f"a02.{s}").stat().st_size for s in ("hea", "dat"))
    capsys.readouterr()
    started = time.perf_counter()
    assert (await call("GET", "/fhr", query={"filename": uri}))[0] == 200
    wall_ms = (time.perf_counter() - started) * 1000
    [miss] = metric_lines(capsys.readouterr().out)
    assert miss["CacheMisses"] == 1 and "CacheHits" not in miss and miss["BytesStreamed"] == size
    assert 0 < miss["FhrDurationMs"] <= wall_ms and miss["requestId"] == context.aws_request_id
    assert (await call("GET", "/fhr", query={"filename": uri}))[0] == 200
    [hit] = metric_lines(capsys.readouterr().out)
    assert hit["CacheHits"] == 1 and "CacheMisses" not in hit and "FhrDurationMs" not in hit
    assert hit["requestId"] == context.aws_request_id


async def test_a_reused_key_a_long_key_and_a_queue_down_answer_as_documented(
    fhr_stack: Any, call: Any, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from jsonschema import Draft202012Validator

    from handlers.api import clients

    [param] = [p for p in DOC["paths"]["/fhr/batch"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    documented = Draft202012Validator(param["schema"])
    names = [f"s3://{fhr_stack.bucket}/{MINE}keys/r{i}.hea" for i in range(2)]
    longest, too_long = "k" * 255, "k" * 256
    assert documented.is_valid(longest) and not documented.is_valid(too_long)
    status, body, _ = await call(
        "POST", "/fhr/batch", body={"filenames": names[:1]}, headers={"idempotency-key": longest}
    )
    assert status == 202
    status, body, _ = await call("POST", "/fhr/batch", body={"filenames": names}, headers={"idempotency-key": longest})
    assert (status, body["code"]) == (422, "idempotency_key_reused")
    status, body, _ = await call("POST", "/fhr/batch", body={"filenames": names}, headers={"idempotency-key": too_long})
    assert (status, body["code"]) == (400, "invalid_idempotency_key")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    await clients.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    status, body, _ = await call("POST", "/fhr/batch", body={"filenames": names})
    assert (status, body["code"]) == (503, "queue_unavailable")


async def test_a_retry_of_a_queued_record_joins_its_job_even_when_it_would_now_fit(
    fhr_stack: Any, boto: Any, set_a_dir: Path, call: Any, queue_depth: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record is queued (predicted too slow); the prediction changes (the environment learnt a faster rate): a
    retry joins the queued job rather than computing the same record beside it."""
    monkeypatch.setattr(analysis.THROUGHPUT, "observed", None)
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a01", "join/a01")
    status, first, _ = await call("GET", "/fhr", query={"filename": uri})
    assert status == 202
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1e12")
    status, again, _ = await call("GET", "/fhr", query={"filename": uri})
    assert (status, again["jobId"]) == (202, first["jobId"])
    assert queue_depth(boto, fhr_stack.queue_url) == 1


async def test_a_retry_after_an_abandoned_analysis_joins_the_job_not_the_stopping_analysis(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    call: Any,
    make_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request's deadline came mid-analysis: the analysis is stopped and the record queued (202). A retry at once
    must not join the analysis being stopped (it would end cancelled, not answered): it joins the queued job."""
    monkeypatch.setattr(analysis.THROUGHPUT, "observed", None)
    for name, value in {
        "FHR_THROUGHPUT_BYTES_PER_S": "1e12",
        "FHR_FIXED_OVERHEAD_S": "0",
        "FHR_SAFETY_MARGIN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a01", "abandon/a01")
    await fhr.init()
    status, first, _ = await call("GET", "/fhr", query={"filename": uri}, ctx=make_context(timeout_s=0.02))
    assert status == 202
    status, again, _ = await call("GET", "/fhr", query={"filename": uri}, ctx=make_context())
    assert (status, again["jobId"]) == (202, first["jobId"])
    await fhr.drain()


@pytest.mark.parametrize(
    ("room", "files"),
    [
        ("2 entries", 2),  # two entries and their separators fill it exactly
        ("3 entries less 1", 2),  # a third would need one byte more, separator included
        ("3 entries", 3),
        ("1 byte", 1),  # a page always carries its first file, however large
    ],
)
async def test_a_page_holds_the_entries_that_fit_its_bytes_with_their_separators(
    fhr_stack: Any, boto: Any, call: Any, monkeypatch: pytest.MonkeyPatch, room: str, files: int
) -> None:
    from handlers.api.http import dumps
    from handlers.api.results import escaped_size

    job_id = "9" * 32
    put_job(boto, fhr_stack.results_table, job_id, total=5)
    entry = escaped_size(dumps({"index": 0, "status": "unknown"})) + 1  # its bytes and the comma after it
    budget = {"2 entries": 2 * entry, "3 entries less 1": 3 * entry - 1, "3 entries": 3 * entry, "1 byte": 1}[room]
    monkeypatch.setattr(fhr, "PAGE_MAX_BYTES", budget)
    status, page, _ = await call("GET", f"/fhr/jobs/{job_id}", query={"limit": "4"}, **job_path(job_id))
    assert status == 200 and [f["index"] for f in page["files"]] == list(range(files))
    assert page["nextOffset"] == files


@pytest.mark.parametrize(
    ("query", "accepted"),
    [
        ({"offset": "0"}, True),
        ({"offset": "1000"}, True),
        ({"offset": "-1"}, False),
        ({"offset": "1001"}, False),
        ({"limit": "1"}, True),
        ({"limit": "1000"}, True),
        ({"limit": "0"}, False),
        ({"limit": "1001"}, False),
    ],
)
async def test_the_document_accepts_exactly_the_job_queries_the_handler_accepts(
    fhr_stack: Any, boto: Any, call: Any, query: dict[str, str], accepted: bool
) -> None:
    from jsonschema import Draft202012Validator

    job_id = "8" * 32
    put_job(boto, fhr_stack.results_table, job_id, total=2)
    params = {p["name"]: p["schema"] for p in DOC["paths"]["/fhr/jobs/{id}"]["get"]["parameters"]}
    [(name, text)] = query.items()
    assert Draft202012Validator(params[name]).is_valid(int(text)) == accepted
    status, body, _ = await call("GET", f"/fhr/jobs/{job_id}", query=query, **job_path(job_id))
    assert (status == 200) == accepted and (accepted or body["code"] == "invalid_page"), body


async def test_a_request_with_less_time_left_than_the_margin_is_deferred_with_a_sane_prediction(
    fhr_stack: Any, boto: Any, set_a_dir: Path, call: Any, make_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 s left and a 3 s margin: nothing is computed, the record is queued, and the 202 says how long the record
    is predicted to take (the document: at least 0), never the negative time the request had left."""
    monkeypatch.setattr(analysis.THROUGHPUT, "observed", None)
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1e12")
    monkeypatch.setenv("FHR_FIXED_OVERHEAD_S", "1.5")  # the prediction: 1.5 s and a few picoseconds a byte
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a01", "late/a01")
    status, body, _ = await call("GET", "/fhr", query={"filename": uri}, ctx=make_context(timeout_s=2.0))
    assert (status, body["predictedSeconds"]) == (202, 1.5), body


async def test_a_missing_job_and_an_empty_batch_answer_as_documented(fhr_stack: Any, call: Any) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from apicontract.validate import DOCUMENT_URI

    status, body, _ = await call("GET", f"/fhr/jobs/{'5' * 32}", **job_path("5" * 32))
    assert (status, body["code"]) == (404, "job_not_found")
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(DOC, default_specification=DRAFT202012))
    pointer = "#/paths/~1fhr~1batch/post/requestBody/content/application~1json/schema"
    documented = Draft202012Validator({"$ref": DOCUMENT_URI + pointer}, registry=registry)
    one = [f"s3://{fhr_stack.bucket}/{MINE}doc/r.hea"]
    for filenames, accepted in (([], False), (one, True)):
        assert documented.is_valid({"filenames": filenames}) == accepted
        status, body, _ = await call("POST", "/fhr/batch", body={"filenames": filenames})
        assert (status == 202) == accepted, body
