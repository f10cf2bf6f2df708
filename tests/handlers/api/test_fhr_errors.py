"""The FHR API's bad-input corpus: every case a 4xx with its code, and nothing written anywhere.

"Nothing written" is checked on the results table (scanned before and after), on the items table
and on the jobs queue (no message appears), so a handler that caches or enqueues before validating
fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers.api.fhr import handler

JOB_ID = "0123456789abcdef0123456789abcdef"
MINE = "tenants/t-test/"  # the open tenant's prefix (conftest.open_tenancy)


@pytest.fixture
def uploaded(fhr_stack: Any, boto: Any, set_a_dir: Path) -> dict[str, str]:
    """A real WFDB record, a header whose .dat is missing, and a small text object."""
    s3 = boto("s3")
    for suffix in ("hea", "dat"):
        s3.put_object(
            Bucket=fhr_stack.bucket, Key=f"{MINE}set-a/a01.{suffix}", Body=(set_a_dir / f"a01.{suffix}").read_bytes()
        )
    s3.put_object(Bucket=fhr_stack.bucket, Key=f"{MINE}orphan/a02.hea", Body=(set_a_dir / "a02.hea").read_bytes())
    s3.put_object(Bucket=fhr_stack.bucket, Key=f"{MINE}big.csv", Body=b"1,2,3\n" * 400)
    # Another tenant's record, readable by nobody but that tenant
    s3.put_object(Bucket=fhr_stack.bucket, Key="tenants/t-other/a03.hea", Body=(set_a_dir / "a03.hea").read_bytes())
    return {"bucket": fhr_stack.bucket}


def cases(bucket: str) -> list[tuple[str, dict[str, Any], int, str]]:
    """(name, event arguments, status, code) for every kind of bad request the API must refuse."""
    ok = f"s3://{bucket}/{MINE}set-a/a01.hea"
    get = {"method": "GET", "path": "/fhr"}
    post = {"method": "POST", "path": "/fhr"}
    batch = {"method": "POST", "path": "/fhr/batch"}
    return [
        ("GET without filename", {**get}, 400, "missing_filename"),
        ("GET empty filename", {**get, "query": {"filename": ""}}, 400, "missing_filename"),
        ("GET http URI", {**get, "query": {"filename": "https://example.com/a01.hea"}}, 400, "invalid_uri"),
        ("GET bare s3://", {**get, "query": {"filename": "s3://"}}, 400, "invalid_uri"),
        ("GET bucket without key", {**get, "query": {"filename": f"s3://{bucket}"}}, 400, "invalid_uri"),
        ("GET bucket slash no key", {**get, "query": {"filename": f"s3://{bucket}/"}}, 400, "invalid_uri"),
        ("GET invalid bucket name", {**get, "query": {"filename": "s3://Bad_Bucket/a01.hea"}}, 400, "invalid_uri"),
        ("GET control char in key", {**get, "query": {"filename": f"s3://{bucket}/a\n01.hea"}}, 400, "invalid_uri"),
        ("GET key too long", {**get, "query": {"filename": f"s3://{bucket}/{'k' * 1100}"}}, 400, "invalid_uri"),
        ("GET names the .dat", {**get, "query": {"filename": f"s3://{bucket}/{MINE}a01.dat"}}, 400, "invalid_uri"),
        (
            "GET other bucket",
            {**get, "query": {"filename": "s3://someone-elses-bucket/a01.hea"}},
            403,
            "forbidden_bucket",
        ),
        (
            "GET missing object",
            {**get, "query": {"filename": f"s3://{bucket}/{MINE}nope/a99.hea"}},
            404,
            "object_not_found",
        ),
        (
            "GET header without .dat",
            {**get, "query": {"filename": f"s3://{bucket}/{MINE}orphan/a02.hea"}},
            404,
            "object_not_found",
        ),
        (
            "GET over size limit",
            {**get, "query": {"filename": f"s3://{bucket}/{MINE}big.csv"}},
            413,
            "object_too_large",
        ),
        # Outside the caller's prefix: the same 403 whether the object exists (t-other's a03) or not
        ("GET flat key", {**get, "query": {"filename": f"s3://{bucket}/set-a/a01.hea"}}, 403, "forbidden"),
        (
            "GET other tenant's",
            {**get, "query": {"filename": f"s3://{bucket}/tenants/t-other/a03.hea"}},
            403,
            "forbidden",
        ),
        (
            "GET other tenant's none",
            {**get, "query": {"filename": f"s3://{bucket}/tenants/t-other/x.hea"}},
            403,
            "forbidden",
        ),
        (
            "GET dot segments",
            {**get, "query": {"filename": f"s3://{bucket}/{MINE}../t-other/a03.hea"}},
            403,
            "forbidden",
        ),
        (
            "GET prefix look-alike",
            {**get, "query": {"filename": f"s3://{bucket}/tenants/t-test2/a.hea"}},
            403,
            "forbidden",
        ),
        ("GET unknown parameter", {**get, "query": {"filename": ok, "file": "x"}}, 400, "unknown_field"),
        ("GET options not JSON", {**get, "query": {"filename": ok, "options": "{threads: 2"}}, 400, "invalid_options"),
        ("GET options a list", {**get, "query": {"filename": ok, "options": "[1]"}}, 400, "invalid_options"),
        ("POST malformed JSON", {**post, "raw_body": '{"filename": '}, 400, "malformed_json"),
        ("POST empty body", {**post, "raw_body": ""}, 400, "missing_body"),
        ("POST JSON array", {**post, "body": [ok]}, 400, "invalid_body"),
        ("POST unknown field", {**post, "body": {"filename": ok, "option": {}}}, 400, "unknown_field"),
        ("POST filename a number", {**post, "body": {"filename": 42}}, 400, "invalid_uri"),
        ("POST options a string", {**post, "body": {"filename": ok, "options": "fast"}}, 400, "invalid_options"),
        ("POST unknown option", {**post, "body": {"filename": ok, "options": {"speed": 11}}}, 400, "invalid_options"),
        (
            "POST option out of range",
            {**post, "body": {"filename": ok, "options": {"threads": 0}}},
            400,
            "invalid_options",
        ),
        (
            "POST option wrong type",
            {**post, "body": {"filename": ok, "options": {"refine": "yes"}}},
            400,
            "invalid_options",
        ),
        ("POST other bucket", {**post, "body": {"filename": "s3://prod-ecg/a01.hea"}}, 403, "forbidden_bucket"),
        *tuning_cases(post, ok),
        ("DELETE /fhr", {"method": "DELETE", "path": "/fhr"}, 405, "method_not_allowed"),
        ("unknown route", {"method": "GET", "path": "/fhr/everything"}, 404, "route_not_found"),
        ("batch without filenames", {**batch, "body": {"options": {}}}, 400, "invalid_filenames"),
        ("batch empty list", {**batch, "body": {"filenames": []}}, 400, "invalid_filenames"),
        ("batch filenames a string", {**batch, "body": {"filenames": ok}}, 400, "invalid_filenames"),
        ("batch over 1000", {**batch, "body": {"filenames": [ok] * 1001}}, 400, "too_many_files"),
        (
            "batch one other bucket",
            {**batch, "body": {"filenames": [ok, ok, "s3://prod-ecg/a.hea"]}},
            403,
            "forbidden_bucket",
        ),
        ("batch one malformed", {**batch, "body": {"filenames": [ok, "a01.hea"]}}, 400, "invalid_uri"),
        (
            "batch one other tenant's",
            {**batch, "body": {"filenames": [ok, f"s3://{bucket}/tenants/t-other/a03.hea"]}},
            403,
            "forbidden",
        ),
        (
            "batch bad options",
            {**batch, "body": {"filenames": [ok], "options": {"window_s": 99}}},
            400,
            "invalid_options",
        ),
        ("batch unknown field", {**batch, "body": {"filenames": [ok], "priority": 1}}, 400, "unknown_field"),
        (
            "job id malformed",
            {
                "method": "GET",
                "path": "/fhr/jobs/../../etc",
                "route_key": "GET /fhr/jobs/{id}",
                "path_params": {"id": "../../etc"},
            },
            400,
            "invalid_job_id",
        ),
        (
            "job unknown",
            {
                "method": "GET",
                "path": f"/fhr/jobs/{JOB_ID}",
                "route_key": "GET /fhr/jobs/{id}",
                "path_params": {"id": JOB_ID},
            },
            404,
            "job_not_found",
        ),
    ]


def tuning_cases(post: dict[str, Any], ok: str) -> list[tuple[str, dict[str, Any], int, str]]:
    """The issue's reproductions (500s and cached nonsense before the knobs were checked), and more."""
    bad_tuning = {
        "working_fs 0": {"working_fs": 0},
        "envelope_fs 0": {"envelope_fs": 0},
        "maternal_components 0": {"maternal_components": 0},
        "maternal_components -3": {"maternal_components": -3},
        "maternal_components 2.5": {"maternal_components": 2.5},
        "band_low above band_high": {"band_low": 40, "band_high": 20},
        "negative penalty": {"penalty_per_bpm": -1},
        "unknown knob": {"band_lo": 10},
        "knob a string": {"half_weight": "0.5"},
        "tuning a list": [1, 2],
    }
    beyond_floats = f'{{"filename": "{ok}", "options": {{"tuning": {{"whiten_hz": 1e400}}}}}}'
    return [
        *[
            (
                f"POST tuning {label}",
                {**post, "body": {"filename": ok, "options": {"tuning": t}}},
                400,
                "invalid_options",
            )
            for label, t in bad_tuning.items()
        ],
        ("POST tuning knob beyond float range", {**post, "raw_body": beyond_floats}, 400, "invalid_options"),
    ]


CASE_NAMES = [case[0] for case in cases("bucket")]


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_bad_input_is_a_4xx_with_its_code_and_writes_nothing(
    name: str,
    uploaded: dict[str, str],
    fhr_stack: Any,
    boto: Any,
    scan: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    queue_depth: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_RECORD_BYTES", "2000")  # a01 (~480 KB) is over it too, but it is never reached
    case = {c[0]: c for c in cases(fhr_stack.bucket)}[name]
    _, arguments, status, code = case
    method, path = arguments.pop("method"), arguments.pop("path")
    before = scan(boto, fhr_stack.results_table)
    response = await handler(make_event(method, path, **arguments), context)
    body = parse_body(response)
    assert (response["statusCode"], body["code"]) == (status, code), body
    assert set(body) == {"code", "message", "requestId"} and body["requestId"] == context.aws_request_id
    assert body["message"] and "Traceback" not in response["body"]
    assert scan(boto, fhr_stack.results_table) == before
    assert queue_depth(boto, fhr_stack.queue_url) == 0


async def test_batch_error_names_the_bad_index(
    uploaded: dict[str, str], fhr_stack: Any, make_event: Any, parse_body: Any, context: Any
) -> None:
    ok = f"s3://{fhr_stack.bucket}/{MINE}set-a/a01.hea"
    event = make_event("POST", "/fhr/batch", body={"filenames": [ok, ok, "s3://prod-ecg/x.hea"]})
    body = parse_body(await handler(event, context))
    assert body["message"].startswith("filenames[2]:")


async def test_unconfigured_function_is_a_500_without_details(
    make_event: Any, parse_body: Any, context: Any, monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    monkeypatch.delenv("ECG_BUCKET", raising=False)
    response = await handler(make_event("GET", "/fhr", query={"filename": "s3://b-b-b/a01.hea"}), context)
    body = parse_body(response)
    assert response["statusCode"] == 500 and body["code"] == "internal_error"
    assert set(body) == {"code", "message", "requestId"}
