"""Tenant isolation in the API handlers: who the caller is, and that nothing crosses tenants.

The handlers run as on a JWT stack (``jwt_tenancy``): each event carries what API Gateway's authorizer
passes (``requestContext.authorizer.jwt``), for two tenants, ``alice`` and ``bob``. State is set up and
inspected with plain boto3 on the moto server, so "nothing written" is read from the tables themselves.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from fhrapp import definition
from handlers.api import fhr, items, tenancy
from handlers.api.http import Forbidden, InternalError
from handlers.api.tenancy import Caller, Unauthenticated, caller_of, key_ref, redact, tenant_id

EVERY_SCOPE = ["fhr/read", "fhr/write", "items/read", "items/write"]
JOB_ROUTE = "GET /fhr/jobs/{id}"


# ---- who is calling -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["alice", "8f14e45f-ceea-467f-a0e6-2b5f8d5e9c1a", "00u1abcd", "A_b-9", "x" * 64, "Alice"]
)
def test_a_safe_claim_value_is_its_own_tenant_id(value: str) -> None:
    assert tenant_id(value) == value


@pytest.mark.parametrize(
    "value", ["auth0|5fe435b5cbbc85006b071eba", "jane.doe@hospital.org", "x" * 65, "../etc", "-x", "h.abc", "é", " "]
)
def test_any_other_claim_value_is_a_stable_hash_that_no_safe_value_can_equal(value: str) -> None:
    tenant = tenant_id(value)
    assert re.fullmatch(r"h\.[0-9a-f]{32}", tenant) and tenant == tenant_id(value)
    assert "." not in tenant_id("h-abc")  # a verbatim id never holds the hash's "."


def test_case_matters_so_two_users_never_share_a_tenant() -> None:
    assert len({tenant_id("Alice"), tenant_id("alice"), tenant_id("ALICE")}) == 3


def test_the_environment_names_are_the_app_definitions() -> None:
    assert (tenancy.TENANT_CLAIM_ENV, tenancy.OPEN_TENANT_ENV) == (
        definition.TENANT_CLAIM_ENV,
        definition.OPEN_TENANT_ENV,
    )
    assert tenancy.TENANTS_PREFIX == definition.TENANTS_PREFIX


def authorizer(claims: dict[str, str], scopes: list[str] | None = None) -> dict[str, Any]:
    return {"jwt": {"claims": claims, "scopes": scopes}}


def test_on_a_jwt_stack_the_tenant_is_the_configured_claim() -> None:
    env = {"FHR_TENANT_CLAIM": "custom:org"}
    caller = caller_of(authorizer({"sub": "u1", "custom:org": "ward-7"}, ["fhr/read"]), env)
    assert caller == Caller("ward-7", frozenset({"fhr/read"}))
    assert caller.prefix == "tenants/ward-7/" and caller.uploads_prefix == "tenants/ward-7/uploads/"


def test_scopes_come_from_the_claims_when_the_route_has_none() -> None:
    env = {"FHR_TENANT_CLAIM": "sub"}
    assert caller_of(authorizer({"sub": "a", "scope": "fhr/read items/read"}), env).scopes == {
        "fhr/read",
        "items/read",
    }
    assert caller_of(authorizer({"sub": "a", "scp": "[fhr/write items/write]"}), env).scopes == {
        "fhr/write",
        "items/write",
    }


def test_a_verified_token_without_the_claim_is_refused() -> None:
    with pytest.raises(Forbidden) as refused:
        caller_of(authorizer({"client_id": "batch-app"}), {"FHR_TENANT_CLAIM": "sub"})
    assert refused.value.code == "missing_tenant"
    with pytest.raises(Forbidden):
        caller_of(authorizer({"sub": ""}), {"FHR_TENANT_CLAIM": "sub"})


def test_a_jwt_stack_refuses_an_event_that_bypassed_its_authorizer() -> None:
    for given in (None, {}, {"jwt": None}, {"lambda": {"sub": "alice"}}):
        with pytest.raises(Unauthenticated):
            caller_of(given, {"FHR_TENANT_CLAIM": "sub"})


def test_on_an_open_stack_everyone_is_the_open_tenant_with_every_scope() -> None:
    caller = caller_of(authorizer({"sub": "mallory"}), {"FHR_OPEN_TENANT": "open"})
    assert caller.tenant == "open" and caller.has_scope("items/write")
    with pytest.raises(InternalError):
        caller_of(None, {})


@pytest.mark.parametrize(
    ("key", "owned"),
    [
        ("tenants/alice/a01.hea", True),
        ("tenants/alice/uploads/2026-01-01/abc/a01.hea", True),
        ("tenants/alice2/a01.hea", False),
        ("tenants/bob/a01.hea", False),
        ("a01.hea", False),
        ("tenants/alice/../bob/a01.hea", False),
        ("tenants/alice/./a01.hea", False),
        ("tenants/alice//a01.hea", False),
        ("tenants/alice/", False),
    ],
)
def test_a_caller_owns_only_keys_under_its_prefix(key: str, owned: bool) -> None:
    assert Caller("alice").owns(key) is owned


# ---- the handlers, as two tenants on a JWT stack ----------------------------------------------------


def as_tenant(make_event: Any, sub: str, *args: Any, scopes: list[str] | None = None, **kwargs: Any) -> dict:
    return make_event(*args, claims={"sub": sub}, scopes=EVERY_SCOPE if scopes is None else scopes, **kwargs)


def upload(boto: Any, bucket: str, set_a_dir: Path, record: str, tenant: str) -> str:
    """Set-a ``record`` as ``tenant``'s ``tenants/<tenant>/<record>.hea`` + ``.dat`` (byte-identical)."""
    for suffix in ("hea", "dat"):
        body = (set_a_dir / f"{record}.{suffix}").read_bytes()
        boto("s3").put_object(Bucket=bucket, Key=f"tenants/{tenant}/{record}.{suffix}", Body=body)
    return f"s3://{bucket}/tenants/{tenant}/{record}.hea"


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "requestId"}


async def test_another_tenants_object_is_forbidden_whether_or_not_it_exists(
    jwt_tenancy: str,
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    scan: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alices = upload(boto, fhr_stack.bucket, set_a_dir, "a01", "alice")
    absent = f"s3://{fhr_stack.bucket}/tenants/alice/no-such-record.hea"
    caplog.set_level(logging.INFO, logger="werkzeug")
    caplog.clear()  # from here on, every request the moto server receives is logged
    answers = []
    for uri in (alices, absent):
        response = await fhr.handler(as_tenant(make_event, "bob", "GET", "/fhr", query={"filename": uri}), context)
        answers.append((response["statusCode"], without_request_id(parse_body(response))))
    assert answers[0] == answers[1] and answers[0][0] == 403 and answers[0][1]["code"] == "forbidden"
    # Refused before any S3 call: the object's existence cannot leak through timing or errors
    assert not [r for r in caplog.records if r.name == "werkzeug" and "tenants/alice" in r.getMessage()]
    batch = as_tenant(make_event, "bob", "POST", "/fhr/batch", body={"filenames": [alices]})
    response = await fhr.handler(batch, context)
    assert (response["statusCode"], parse_body(response)["code"]) == (403, "forbidden")
    assert scan(boto, fhr_stack.results_table) == []


async def test_identical_recordings_of_two_tenants_are_computed_and_cached_apart(
    jwt_tenancy: str,
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    scan: Any,
) -> None:
    results = {}
    for tenant in ("alice", "bob"):
        uri = upload(boto, fhr_stack.bucket, set_a_dir, "a02", tenant)  # byte-identical uploads
        event = as_tenant(make_event, tenant, "GET", "/fhr", query={"filename": uri})
        results[tenant] = parse_body(await fhr.handler(event, context))
        assert results[tenant]["cached"] is False  # bob's first request is not served alice's entry
    entries = [i for i in scan(boto, fhr_stack.results_table) if i["pk"]["S"].startswith("result#")]
    assert sorted(i["tenant"]["S"] for i in entries) == ["alice", "bob"]
    assert results["alice"]["fhr"] == results["bob"]["fhr"]


async def test_another_tenants_job_reads_as_a_missing_one(
    jwt_tenancy: str,
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    scan: Any,
) -> None:
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a03", "alice")
    batch = as_tenant(make_event, "alice", "POST", "/fhr/batch", body={"filenames": [uri]})
    job_id = parse_body(await fhr.handler(batch, context))["jobId"]
    job_items = [i for i in scan(boto, fhr_stack.results_table) if i["pk"]["S"].startswith(f"job#{job_id}")]
    assert {i["tenant"]["S"] for i in job_items} == {"alice"} and len(job_items) == 2  # the job and its file
    message = json.loads(boto("sqs").receive_message(QueueUrl=fhr_stack.queue_url)["Messages"][0]["Body"])
    assert message["tenant"] == "alice"

    def job_event(tenant: str, jid: str) -> dict[str, Any]:
        return as_tenant(make_event, tenant, "GET", f"/fhr/jobs/{jid}", route_key=JOB_ROUTE, path_params={"id": jid})

    assert (await fhr.handler(job_event("alice", job_id), context))["statusCode"] == 200
    theirs = await fhr.handler(job_event("bob", job_id), context)
    unknown = await fhr.handler(job_event("bob", "0" * 32), context)
    assert theirs["statusCode"] == unknown["statusCode"] == 404
    assert without_request_id(parse_body(theirs))["code"] == without_request_id(parse_body(unknown))["code"]
    assert parse_body(theirs)["message"].replace(job_id, "0" * 32) == parse_body(unknown)["message"]


async def test_the_worker_refuses_a_message_whose_file_is_not_its_tenants(
    jwt_tenancy: str, fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any
) -> None:
    """Defence in depth: even a message no API would have sent cannot make the worker read across tenants."""
    from handlers.api import worker
    from handlers.api.jobs import JobStore

    alices = upload(boto, fhr_stack.bucket, set_a_dir, "a04", "alice")
    store = JobStore(await clients_dynamodb(), fhr_stack.results_table, 3600)
    await store.create("e" * 32, [alices], {}, "batch", "bob")
    body = {"jobId": "e" * 32, "index": 0, "filename": alices, "options": {}, "tenant": "bob"}
    record = {"messageId": "m1", "body": json.dumps(body), "attributes": {"ApproximateReceiveCount": "1"}}
    assert await worker.handler({"Records": [record]}, context) == {"batchItemFailures": []}  # final, not retried
    job = await store.job("e" * 32, "bob")
    assert job is not None and job["failed_count"]["N"] == "1"
    file_item = (await store.files("e" * 32, [0]))[0]
    assert json.loads(file_item["error"]["S"])["code"] == "forbidden"


async def clients_dynamodb() -> Any:
    from handlers.api import clients

    return await clients.client("dynamodb")


async def manager(make_event: Any, context: Any, parse_body: Any, tenant: str, body: Any, **kw: Any) -> tuple:
    response = await items.handler(as_tenant(make_event, tenant, "POST", "/DynamoDBManager", body=body, **kw), context)
    return response["statusCode"], parse_body(response)


async def test_items_live_in_their_tenants_partition_only(
    jwt_tenancy: str, items_table: str, make_event: Any, context: Any, parse_body: Any, boto: Any, scan: Any
) -> None:
    async def call(tenant: str, operation: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return await manager(make_event, context, parse_body, tenant, {"operation": operation, "payload": payload})

    assert (await call("alice", "create", {"Item": {"id": "x", "v": 1}}))[0] == 201
    for i in range(3):
        await call("alice", "create", {"Item": {"id": f"a{i}", "v": i}})
    stored = scan(boto, items_table)
    # Bob cannot see, change or remove alice's item, and his list is empty
    assert (await call("bob", "read", {"Key": {"id": "x"}}))[0] == 404
    update = {"Key": {"id": "x"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 666}}
    assert (await call("bob", "update", update))[0] == 404
    assert (await call("bob", "delete", {"Key": {"id": "x"}}))[0] == 404
    assert await call("bob", "list", {}) == (200, {"Items": [], "Count": 0, "nextToken": None})
    assert scan(boto, items_table) == stored  # nothing written by any of bob's attempts
    # The same id is a different item in bob's partition; alice's stays as it was
    assert (await call("bob", "create", {"Item": {"id": "x", "v": 2}}))[0] == 201
    assert (await call("alice", "read", {"Key": {"id": "x"}}))[1] == {"Item": {"id": "x", "v": 1}}
    assert (await call("bob", "read", {"Key": {"id": "x"}}))[1] == {"Item": {"id": "x", "v": 2}}
    # alice's list pages through her 4 items only, never bob's, and never shows the tenant attribute
    seen, token = [], None
    while True:
        status, page = await call("alice", "list", {"Limit": 3, **({"nextToken": token} if token else {})})
        seen += page["Items"]
        token = page["nextToken"]
        if token is None:
            break
    assert sorted(i["id"] for i in seen) == ["a0", "a1", "a2", "x"] and all("tenant" not in i for i in seen)


async def test_a_caller_cannot_set_the_tenant_nor_forge_a_page_token_of_another(
    jwt_tenancy: str, items_table: str, make_event: Any, context: Any, parse_body: Any, boto: Any, scan: Any
) -> None:
    async def call(tenant: str, operation: str, payload: dict[str, Any]) -> tuple[int, Any]:
        return await manager(make_event, context, parse_body, tenant, {"operation": operation, "payload": payload})

    await call("alice", "create", {"Item": {"id": "secret", "v": 1}})
    before = scan(boto, items_table)
    status, body = await call("bob", "create", {"Item": {"id": "y", "tenant": "alice"}})
    assert (status, body["code"]) == (400, "reserved_attribute")
    move = {
        "Key": {"id": "y"},
        "UpdateExpression": "SET #t = :t",
        "ExpressionAttributeNames": {"#t": "tenant"},
        "ExpressionAttributeValues": {":t": "alice"},
        "upsert": True,
    }
    assert (await call("bob", "update", move))[0] == 400  # a key attribute: DynamoDB refuses, we answer 400
    forged = base64.urlsafe_b64encode(json.dumps({"tenant": {"S": "alice"}, "id": {"S": "a"}}).encode()).decode()
    status, body = await call("bob", "list", {"nextToken": forged})
    assert (status, body["code"]) == (400, "invalid_next_token")
    assert scan(boto, items_table) == before


@pytest.mark.parametrize(
    ("scopes", "operation", "allowed"),
    [
        (["items/read"], "read", True),
        (["items/read"], "list", True),
        (["items/read"], "create", False),
        (["items/read"], "update", False),
        (["items/read"], "delete", False),
        (["items/write"], "read", False),
        (["items/write"], "list", False),
        (["items/write"], "create", True),
        (["items/write"], "ping", True),
        (["items/read"], "echo", True),
    ],
)
async def test_the_manager_enforces_the_finer_scope_of_each_operation(
    jwt_tenancy: str,
    items_table: str,
    make_event: Any,
    context: Any,
    parse_body: Any,
    boto: Any,
    scan: Any,
    scopes: list[str],
    operation: str,
    allowed: bool,
) -> None:
    boto("dynamodb").put_item(TableName=items_table, Item={"tenant": {"S": "alice"}, "id": {"S": "k"}})
    payload = {
        "read": {"Key": {"id": "k"}},
        "list": {},
        "create": {"Item": {"id": "n"}},
        "update": {"Key": {"id": "k"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 1}},
        "delete": {"Key": {"id": "k"}},
        "ping": None,
        "echo": {"e": 1},
    }[operation]
    before = scan(boto, items_table)
    body = {"operation": operation, **({"payload": payload} if payload is not None else {})}
    status, answer = await manager(make_event, context, parse_body, "alice", body, scopes=scopes)
    if allowed:
        assert status < 300, answer
    else:
        assert (status, answer["code"]) == (403, "insufficient_scope")
        assert scan(boto, items_table) == before


async def test_an_items_table_not_partitioned_by_tenant_is_refused(
    jwt_tenancy: str, boto: Any, make_event: Any, context: Any, parse_body: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table from before tenancy (hash key ``id``) would mix everyone's items: 500, nothing served."""
    name = "items-flat-" + tenant_id("flat")[:6]
    boto("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("ITEMS_TABLE", name)
    try:
        status, body = await manager(make_event, context, parse_body, "alice", {"operation": "list"})
        assert (status, body["code"]) == (500, "internal_error")
    finally:
        boto("dynamodb").delete_table(TableName=name)


# ---- logs -----------------------------------------------------------------------------------------


def test_keys_in_log_text_become_short_stable_references() -> None:
    key = "tenants/alice/uploads/2026-05-01/abc123/Jane_Doe_week32.hea"
    text = f"reading s3://fhr-dev-ecg/{key} failed; retrying {key}"
    redacted = redact(text)
    assert "Jane_Doe" not in redacted and "week32" not in redacted
    assert f"s3://fhr-dev-ecg/{key_ref(key)}" in redacted
    assert key_ref(key) == key_ref(key) and re.fullmatch(r"k-[0-9a-f]{12}", key_ref(key))
    assert redact("tenants/alice/x.hea") == f"tenants/alice/{key_ref('x.hea')}"


def test_structured_log_lines_carry_the_tenant_and_no_key() -> None:
    from handlers.runtime.logging import JsonLineFormatter

    record = logging.LogRecord(
        "handlers.api", logging.WARNING, __file__, 1, "api dependency error %s", ("s3://b/tenants/alice/Doe.csv",), None
    )
    record.stackTrace = ['  File "x.py", line 1, in read: tenants/alice/uploads/d/1/Doe.csv']
    try:
        raise RuntimeError("reading tenants/alice/Doe.csv failed")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    tenancy.bind("alice")
    try:
        line = json.loads(JsonLineFormatter().format(record))
    finally:
        tenancy.bind(None)
    assert line["tenant"] == "alice"
    assert "Doe" not in json.dumps(line) and line["stackTrace"][0].endswith(key_ref("uploads/d/1/Doe.csv"))
