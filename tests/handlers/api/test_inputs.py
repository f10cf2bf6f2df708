"""Bad input on every route: a 4xx with a machine code and a human message, and nothing written anywhere.

The corpus holds the issue's cases (100 000 ``[``, a depth-900 item, lone surrogates in every kind
of string, non-ASCII digits in numeric query parameters, bodies over the limit) and what a further
hunt found: huge numbers, floats where integers go, duplicate member names, wrong content types,
invalid base64, empty bodies, look-alike (Unicode-normalisation) names, NUL bytes, over-long keys
and names, forged page tokens, malformed events. Each case runs through the real handler (fhr,
items, web) against moto; before and after, every table is scanned, both queues counted and the
bucket listed, so a handler that writes before it validates fails here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.api import fhr, items
from handlers.api.http import BadRequest, PayloadTooLarge
from handlers.api.inputs import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    body_bytes,
    check_text,
    parse_json,
    query_int,
)
from handlers.web import app as web

JOB = "0123456789abcdef0123456789abcdef"
DEEP = "[" * 100_000
LONE = "\\ud800"  # as JSON writes it: valid JSON, no Unicode text


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


@dataclass(frozen=True)
class Case:
    name: str
    route: str  # "fhr" | "items" | "web"
    method: str
    path: str
    status: int
    code: str
    body: Any = None  # JSON-encoded as a client would
    raw: str | None = None  # the body text exactly (may hold what json.dumps would escape)
    query: dict[str, str] | None = None
    path_params: dict[str, str] | None = None
    base64_body: bool = False
    content_type: str | None = None
    event_patch: dict[str, Any] | None = None


def fhr_case(name: str, status: int, code: str, **kwargs: Any) -> Case:
    return Case(name, "fhr", kwargs.pop("method", "POST"), kwargs.pop("path", "/fhr"), status, code, **kwargs)


def items_case(name: str, status: int, code: str, **kwargs: Any) -> Case:
    return Case(name, "items", "POST", "/DynamoDBManager", status, code, **kwargs)


def web_case(name: str, status: int, code: str, **kwargs: Any) -> Case:
    return Case(name, "web", kwargs.pop("method", "POST"), kwargs.pop("path", "/uploads"), status, code, **kwargs)


def recordings_case(name: str, code: str, query: dict[str, str]) -> Case:
    return Case(name, "web", "GET", "/recordings", 400, code, query=query)


def job_case(name: str, status: int, code: str, query: dict[str, str], job: str = "{job}") -> Case:
    return Case(name, "fhr", "GET", f"/fhr/jobs/{job}", status, code, query=query, path_params={"id": job})


def create(item: Any) -> dict[str, Any]:
    return {"operation": "create", "payload": {"Item": item}}


def token(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


OK = "s3://{bucket}/tenants/t-test/set-a/a01.hea"
CSV = {"name": "a.csv", "size": 5}

CASES = [
    # --- the list -------------------------------------------------------------------------
    fhr_case("fhr: 100 000 [", 400, "too_deep", raw=DEEP),
    fhr_case("batch: 100 000 [", 400, "too_deep", raw=DEEP, path="/fhr/batch"),
    fhr_case("fhr: 100 000 [ in options", 400, "too_deep", method="GET", query={"filename": OK, "options": DEEP}),
    items_case("items: 100 000 [", 400, "too_deep", raw=DEEP),
    web_case("uploads: 100 000 [", 400, "too_deep", raw=DEEP),
    items_case("items: depth-900 item", 400, "too_deep", body=create({"id": "d", "v": nested(900)})),
    items_case("items: depth-33 item (DynamoDB allows 32)", 400, "too_deep", body=create({"id": "d", "v": nested(33)})),
    items_case("items: echo of depth 900", 400, "too_deep", body={"operation": "echo", "payload": nested(900)}),
    fhr_case("fhr: lone surrogate in filename", 400, "invalid_text", raw=f'{{"filename": "{OK[:-4]}{LONE}.hea"}}'),
    fhr_case("fhr: lone surrogate in filename (GET)", 400, "invalid_text", method="GET", query={"filename": "\ud800"}),
    fhr_case(
        "batch: lone surrogate in a filename",
        400,
        "invalid_text",
        path="/fhr/batch",
        raw=f'{{"filenames": ["{LONE}"]}}',
    ),
    fhr_case(
        "fhr: lone surrogate in an option name",
        400,
        "invalid_text",
        raw=f'{{"filename": "{OK}", "options": {{"{LONE}": 1}}}}',
    ),
    fhr_case(
        "fhr: raw lone surrogate in the event body", 400, "invalid_text", event_patch={"body": '{"filename": "\ud800"}'}
    ),
    job_case("job: lone surrogate as the id", 400, "invalid_text", {}, job="\ud800"),
    items_case(
        "items: lone surrogate in an item id",
        400,
        "invalid_text",
        raw=f'{{"operation": "create", "payload": {{"Item": {{"id": "{LONE}"}}}}}}',
    ),
    items_case(
        "items: lone surrogate in a Key",
        400,
        "invalid_text",
        raw=f'{{"operation": "read", "payload": {{"Key": {{"id": "{LONE}"}}}}}}',
    ),
    items_case(
        "items: lone surrogate as an attribute name",
        400,
        "invalid_text",
        raw=f'{{"operation": "create", "payload": {{"Item": {{"id": "s", "{LONE}": 1}}}}}}',
    ),
    items_case(
        "items: lone surrogate in ExpressionAttributeNames",
        400,
        "invalid_text",
        raw='{"operation": "update", "payload": {"Key": {"id": "a"}, "UpdateExpression": "SET #n = :v", '
        f'"ExpressionAttributeNames": {{"#n": "{LONE}"}}, "ExpressionAttributeValues": {{":v": 1}}, "upsert": true}}}}',
    ),
    items_case(
        "items: lone surrogate as nextToken",
        400,
        "invalid_text",
        raw=f'{{"operation": "list", "payload": {{"nextToken": "{LONE}"}}}}',
    ),
    web_case(
        "uploads: lone surrogate in a file name",
        400,
        "invalid_text",
        raw=f'{{"files": [{{"name": "a{LONE}.csv", "size": 5}}]}}',
    ),
    recordings_case("recordings: lone surrogate in prefix", "invalid_text", {"prefix": "\ud800"}),
    recordings_case("recordings: limit=\u00b2", "invalid_limit", {"limit": "\u00b2"}),
    recordings_case("recordings: limit=\u0661", "invalid_limit", {"limit": "\u0661"}),
    job_case("job: limit=\u00b2", 400, "invalid_page", {"limit": "\u00b2"}),
    job_case("job: offset=\u0661", 400, "invalid_page", {"offset": "\u0661"}),
    job_case("job: offset in fullwidth digits", 400, "invalid_page", {"offset": "\uff11"}),
    fhr_case("fhr: body over the limit", 413, "body_too_large", raw='{"filename": "' + "a" * MAX_BODY_BYTES + '"}'),
    fhr_case("batch: body over the limit", 413, "body_too_large", path="/fhr/batch", raw=" " * (MAX_BODY_BYTES + 1)),
    items_case(
        "items: body over the limit",
        413,
        "body_too_large",
        raw='{"operation": "echo", "payload": "' + "a" * MAX_BODY_BYTES + '"}',
    ),
    web_case(
        "uploads: base64 body over the limit",
        413,
        "body_too_large",
        raw=base64.b64encode(b" " * (MAX_BODY_BYTES + 3)).decode(),
        base64_body=True,
    ),
    # --- huge numbers, and floats where integers go -------------------------------------------------
    fhr_case(
        "fhr: 1e999999999 (a billion digits as an integer)",
        400,
        "invalid_number",
        raw=f'{{"filename": "{OK}", "options": {{"threads": 1e999999999}}}}',
    ),
    items_case("items: echo 1e999999999", 400, "invalid_number", raw='{"operation": "echo", "payload": -1e999999999}'),
    items_case(
        "items: a 5000-digit integer", 400, "invalid_number", raw='{"operation": "echo", "payload": ' + "9" * 5000 + "}"
    ),
    items_case(
        "items: number beyond DynamoDB's range",
        400,
        "invalid_value",
        raw='{"operation": "create", "payload": {"Item": {"id": "n", "v": 1e126}}}',
    ),
    items_case(
        "items: number below DynamoDB's range",
        400,
        "invalid_value",
        raw='{"operation": "create", "payload": {"Item": {"id": "n", "v": 1e-131}}}',
    ),
    fhr_case(
        "fhr: option beyond float range",
        400,
        "invalid_options",
        raw=f'{{"filename": "{OK}", "options": {{"window_s": 1e400}}}}',
    ),
    fhr_case("fhr: threads 2.5", 400, "invalid_options", body={"filename": OK, "options": {"threads": 2.5}}),
    items_case("items: Limit 1e1", 400, "invalid_limit", raw='{"operation": "list", "payload": {"Limit": 1e1}}'),
    web_case("uploads: size 5.5", 400, "invalid_files", body={"files": [{"name": "a.csv", "size": 5.5}]}),
    web_case("uploads: size 1e999", 400, "invalid_number", raw='{"files": [{"name": "a.csv", "size": 1e999}]}'),
    job_case("job: limit 5.0", 400, "invalid_page", {"limit": "5.0"}),
    job_case("job: limit ' 5'", 400, "invalid_page", {"limit": " 5"}),
    job_case("job: limit 1_0", 400, "invalid_page", {"limit": "1_0"}),
    job_case("job: limit +5", 400, "invalid_page", {"limit": "+5"}),
    job_case("job: offset of 5000 digits", 400, "invalid_page", {"offset": "9" * 5000}),
    recordings_case("recordings: limit of 5000 digits", "invalid_limit", {"limit": "9" * 5000}),
    # --- duplicate member names ----------------------------------------------------------------------
    fhr_case(
        "fhr: filename twice",
        400,
        "duplicate_key",
        raw=f'{{"filename": "{OK}", "filename": "s3://other-bucket/a.hea"}}',
    ),
    items_case("items: operation twice", 400, "duplicate_key", raw='{"operation": "read", "operation": "ping"}'),
    items_case(
        "items: key attribute twice",
        400,
        "duplicate_key",
        raw='{"operation": "create", "payload": {"Item": {"id": "a", "id": "b"}}}',
    ),
    web_case(
        "uploads: files twice", 400, "duplicate_key", raw='{"files": [], "files": [{"name": "a.csv", "size": 5}]}'
    ),
    # --- content types, encodings, empty bodies -----------------------------------------------------
    fhr_case(
        "fhr: a form body",
        400,
        "malformed_json",
        raw="filename=s3%3A%2F%2Fb%2Fa.hea",
        content_type="application/x-www-form-urlencoded",
    ),
    items_case(
        "items: multipart body (base64, as the front door sends binary)",
        400,
        "malformed_json",
        raw=base64.b64encode(b"--x\r\nContent-Disposition: form-data\r\n\r\nping\r\n--x--").decode(),
        base64_body=True,
        content_type="multipart/form-data; boundary=x",
    ),
    items_case("items: invalid base64", 400, "malformed_body", raw="not base64!", base64_body=True),
    items_case(
        "items: base64 of non-UTF-8",
        400,
        "malformed_json",
        raw=base64.b64encode(b"\xff\xfe{}").decode(),
        base64_body=True,
    ),
    items_case(
        "items: UTF-16 JSON",
        400,
        "malformed_json",
        raw=base64.b64encode('{"operation": "ping"}'.encode("utf-16")).decode(),
        base64_body=True,
    ),
    fhr_case("fhr: empty body", 400, "missing_body", raw=""),
    fhr_case("fhr: whitespace body", 400, "missing_body", raw=" \n\t "),
    web_case("uploads: null body", 400, "invalid_body", raw="null"),
    items_case("items: NaN", 400, "malformed_json", raw='{"operation": "echo", "payload": NaN}'),
    items_case(
        "items: raw NUL inside a string", 400, "malformed_json", raw='{"operation": "echo", "payload": "a\x00b"}'
    ),
    # --- look-alike names (Unicode normalisation would make them equal; we do not normalise) ---------
    fhr_case("fhr: 'fi' ligature in filename", 400, "unknown_field", body={"\ufb01lename": OK}),
    items_case(
        "items: fullwidth operation", 400, "unknown_operation", body={"operation": "\uff43reate", "payload": {}}
    ),
    items_case(
        "items: Cyrillic i in tableName",
        403,
        "forbidden_table",
        body={"operation": "read", "tableName": "\u0456tems", "payload": {"Key": {"id": "a"}}},
    ),
    items_case("items: fullwidth key attribute", 400, "missing_key", body=create({"\uff49\uff44": "a"})),
    # --- NUL bytes, over-long keys and names ---------------------------------------------------------
    fhr_case("fhr: NUL in the object key", 400, "invalid_uri", body={"filename": OK + "\u0000"}),
    fhr_case(
        "fhr: object key over 1024 bytes (multibyte)",
        400,
        "invalid_uri",
        body={"filename": "s3://{bucket}/tenants/t-test/" + "\u00e9" * 600},
    ),
    recordings_case("recordings: NUL in prefix", "invalid_prefix", {"prefix": "a\u0000"}),
    recordings_case("recordings: prefix over 1024 bytes", "invalid_prefix", {"prefix": "p" * 1025}),
    recordings_case(
        "recordings: nextToken of a NUL", "invalid_token", {"nextToken": base64.urlsafe_b64encode(b"\x00").decode()}
    ),
    items_case("items: id (range key) over 1024 bytes", 400, "invalid_key", body=create({"id": "k" * 1025})),
    items_case("items: attribute name over 64 KB", 400, "invalid_name", body=create({"id": "n", "a" * 65536: 1})),
    items_case("items: empty attribute name", 400, "invalid_name", body=create({"id": "n", "": 1})),
    items_case(
        "items: key of the wrong type", 400, "invalid_key", body={"operation": "read", "payload": {"Key": {"id": 5}}}
    ),
    # --- forged tokens, unknown fields, malformed events ---------------------------------------------
    items_case(
        "items: token with an empty key",
        400,
        "invalid_next_token",
        body={"operation": "list", "payload": {"nextToken": token({"id": {"S": ""}})}},
    ),
    items_case(
        "items: token with a non-number N",
        400,
        "invalid_next_token",
        body={"operation": "list", "payload": {"nextToken": token({"id": {"N": "abc"}})}},
    ),
    items_case(
        "items: token with a list key",
        400,
        "invalid_next_token",
        body={"operation": "list", "payload": {"nextToken": token({"id": {"S": ["x"]}})}},
    ),
    items_case(
        "items: token of 100 000 [",
        400,
        "invalid_next_token",
        body={"operation": "list", "payload": {"nextToken": base64.urlsafe_b64encode(DEEP.encode()).decode()}},
    ),
    web_case("uploads: unknown top-level field", 400, "unknown_field", body={"files": [CSV], "bucket": "other"}),
    web_case("uploads: unknown per-file field", 400, "unknown_field", body={"files": [{**CSV, "key": "../../x"}]}),
    recordings_case("recordings: unknown parameter", "unknown_field", {"limt": "5"}),
    job_case("job: unknown parameter", 400, "unknown_field", {"results": "full", "page": "2"}),
    job_case("job: results=everything", 400, "invalid_results", {"results": "everything"}),
    items_case(
        "items: requestContext not an object",
        400,
        "invalid_event",
        body={"operation": "ping"},
        event_patch={"requestContext": "x"},
    ),
    web_case("web: body not a string", 400, "invalid_event", body=CSV, event_patch={"body": {"files": []}}),
    fhr_case(
        "fhr: WFDB header with '\u00b2' signals",
        422,
        "corrupt_record",
        method="GET",
        query={"filename": "s3://{bucket}/tenants/t-test/bad/sup.hea"},
    ),
]


def build_event(case: Case, make_event: Callable[..., dict[str, Any]], bucket: str, job: str) -> dict[str, Any]:
    """The payload-2.0 event, with text set after building so that it may hold what encoders refuse."""

    def fill(text: str) -> str:
        return text.replace("{bucket}", bucket).replace("{job}", job)

    path = fill(case.path)
    route_key = "GET /fhr/jobs/{id}" if path.startswith("/fhr/jobs/") else None
    event = make_event(case.method, path, route_key=route_key)
    if case.body is not None or case.raw is not None:
        event["body"] = fill(case.raw) if case.raw is not None else fill(json.dumps(case.body))
        event["headers"]["content-type"] = case.content_type or "application/json"
    event["isBase64Encoded"] = case.base64_body
    if case.query is not None:
        event["queryStringParameters"] = {k: fill(v) for k, v in case.query.items()}
    if case.path_params is not None:
        event["pathParameters"] = {k: fill(v) for k, v in case.path_params.items()}
    event.update(case.event_patch or {})
    return event


@pytest.fixture
def world(fhr_stack: Any, items_table: str, boto: Any, set_a_dir: Path, context: Any) -> Any:
    """Objects, an item and a job to aim at, and a snapshot of everything that could be written."""
    s3 = boto("s3")
    for suffix in ("hea", "dat"):
        s3.put_object(
            Bucket=fhr_stack.bucket,
            Key=f"tenants/t-test/set-a/a01.{suffix}",
            Body=(set_a_dir / f"a01.{suffix}").read_bytes(),
        )
    s3.put_object(
        Bucket=fhr_stack.bucket, Key="tenants/t-test/bad/sup.hea", Body="sup \u00b2 1000\nsup.dat 16\n".encode()
    )
    boto("dynamodb").put_item(
        TableName=items_table, Item={"tenant": {"S": "t-test"}, "id": {"S": "a"}, "v": {"N": "1"}}
    )
    return fhr_stack


async def new_job(make_event: Any, context: Any, bucket: str) -> str:
    event = make_event("POST", "/fhr/batch", body={"filenames": [f"s3://{bucket}/tenants/t-test/set-a/a01.hea"]})
    response = await fhr.handler(event, context)
    assert response["statusCode"] == 202
    return json.loads(response["body"])["jobId"]


def snapshot(boto: Any, scan: Any, queue_depth: Any, stack: Any, items_table: str) -> Any:
    objects = boto("s3").list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    return (
        scan(boto, stack.results_table),
        scan(boto, items_table),
        queue_depth(boto, stack.queue_url),
        queue_depth(boto, stack.dlq_url),
        sorted((o["Key"], o["ETag"]) for o in objects),
    )


HANDLERS = {"fhr": fhr.handler, "items": items.handler, "web": web.handler}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_is_a_4xx_with_a_code_and_a_message_and_writes_nothing(
    case: Case,
    world: Any,
    items_table: str,
    boto: Any,
    scan: Any,
    queue_depth: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
) -> None:
    job = await new_job(make_event, context, world.bucket) if "{job}" in case.path else JOB
    event = build_event(case, make_event, world.bucket, job)
    before = snapshot(boto, scan, queue_depth, world, items_table)
    response = await HANDLERS[case.route](event, context)
    body = parse_body(response)
    assert (response["statusCode"], body["code"]) == (case.status, case.code), body
    assert set(body) == {"code", "message", "requestId"} and body["requestId"] == context.aws_request_id
    assert len(body["message"]) > 10 and "Traceback" not in response["body"]
    assert snapshot(boto, scan, queue_depth, world, items_table) == before


async def test_valid_edges_still_work(
    world: Any, items_table: str, make_event: Any, parse_body: Any, context: Any
) -> None:
    """The limits are limits, not off-by-one refusals: depth 32 items, 1024-byte ids (the range key), look-alikes."""

    async def manager(body: Any = None, raw: str | None = None) -> tuple[int, Any]:
        response = await items.handler(make_event("POST", "/DynamoDBManager", body=body, raw_body=raw), context)
        return response["statusCode"], parse_body(response)

    assert (await manager(create({"id": "deep", "v": nested(32)})))[0] == 201
    extremes = '"n": -9.9999999999999999999999999999999999999E+125, "m": 1E-130'
    biggest = f'{{"operation": "create", "payload": {{"Item": {{"id": "{"k" * 1024}", {extremes}}}}}}}'
    assert (await manager(raw=biggest))[0] == 201
    assert (await manager(create({"id": "alike", "\u00e9": 1, "e\u0301": 2})))[0] == 201  # NFC and NFD: two names
    status, read = await manager({"operation": "read", "payload": {"Key": {"id": "alike"}}})
    assert status == 200 and read["Item"] == {"id": "alike", "\u00e9": 1, "e\u0301": 2}
    emoji = "\U0001f600"  # a valid surrogate *pair* in JSON is one character, and fine
    status, created = await manager(
        json.loads('{"operation": "create", "payload": {"Item": {"id": "\\ud83d\\ude00"}}}')
    )
    assert status == 201 and created["Item"]["id"] == emoji
    page = await web.handler(
        {**make_event("GET", "/recordings"), "queryStringParameters": {"limit": "1000", "prefix": "set-a/"}}, context
    )
    assert page["statusCode"] == 200 and [r["key"] for r in parse_body(page)["recordings"]] == [
        "tenants/t-test/set-a/a01.hea"
    ]


# --- the shared rules, unit by unit -------------------------------------------------------------------


def test_parse_json_keeps_numbers_exact_and_names_the_input() -> None:
    assert parse_json('{"a": 1.10, "b": [2, 0e-999]}', "x") == {"a": Decimal("1.10"), "b": [2, Decimal("0e-999")]}
    with pytest.raises(BadRequest, match="the options query parameter nests deeper") as caught:
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "the options query parameter")
    assert caught.value.code == "too_deep"
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "x") is not None
    with pytest.raises(BadRequest) as caught:
        parse_json("{", "x", syntax_code="invalid_options")
    assert caught.value.code == "invalid_options"


@pytest.mark.parametrize("text", ["a\ud800b", "\udfff", "\ud800\ud800"])
def test_check_text_refuses_lone_surrogates(text: str) -> None:
    with pytest.raises(BadRequest, match="surrogate"):
        check_text(text, "x")
    assert check_text("\U0001f600 \u00e9 a\u0000", "x")  # astral characters, accents and NUL are text


@pytest.mark.parametrize("raw", ["0", "5", "1000"])
def test_query_int_takes_ascii_digits_in_range(raw: str) -> None:
    assert query_int({"n": raw}, "n", default=1, low=0, high=1000, code="c") == int(raw)


@pytest.mark.parametrize("raw", ["", "-1", "1001", "\u00b2", "\u0661", "\uff15", " 5", "5 ", "1_0", "+5", "5.0", "0x5"])
def test_query_int_refuses_everything_else(raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        query_int({"n": raw}, "n", default=1, low=0, high=1000, code="bad_n")
    assert caught.value.code == "bad_n"


def test_body_bytes_checks_size_before_decoding() -> None:
    assert body_bytes({"body": "x" * MAX_BODY_BYTES}) == b"x" * MAX_BODY_BYTES
    with pytest.raises(PayloadTooLarge):
        body_bytes({"body": "\u00e9" * (MAX_BODY_BYTES // 2 + 1)})  # under the limit in characters, over in bytes
    encoded = base64.b64encode(b"y" * MAX_BODY_BYTES).decode()
    assert len(body_bytes({"body": encoded, "isBase64Encoded": True})) == MAX_BODY_BYTES
    with pytest.raises(PayloadTooLarge):
        body_bytes({"body": base64.b64encode(b"y" * (MAX_BODY_BYTES + 3)).decode(), "isBase64Encoded": True})
