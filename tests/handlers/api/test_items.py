"""The DynamoDB manager, called as API Gateway calls it, against DynamoDB on a real moto server."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from handlers.api.items import handler

ROUTE = "POST /DynamoDBManager"
TENANT = "t-test"  # the handler tests' open tenant (conftest.open_tenancy)


def stored_key(item_id: str, tenant: str = TENANT) -> dict[str, Any]:
    """The table's key of the caller's item ``item_id`` (wire format): its tenant partition and its id."""
    return {"tenant": {"S": tenant}, "id": {"S": item_id}}


def manager_event(make_event: Any, body: Any = None, *, raw_body: str | None = None, method: str = "POST") -> dict:
    return make_event(method, "/DynamoDBManager", route_key=ROUTE, body=body, raw_body=raw_body)


@pytest.fixture
def call(make_event: Any, context: Any, parse_body: Any, items_table: str):
    async def run(operation: str, payload: Any = None, **extra: Any) -> tuple[int, Any]:
        body: dict[str, Any] = {"operation": operation, **extra}
        if payload is not None:
            body["payload"] = payload
        response = await handler(manager_event(make_event, body), context)
        return response["statusCode"], parse_body(response)

    return run


async def test_ping_and_echo(call: Any) -> None:
    assert await call("ping") == (200, "pong")
    payload = {"a": 1, "b": [1.5, "x", None, True], "c": {"d": 12345678901234567890}}
    assert await call("echo", payload) == (200, payload)


async def test_create_then_read_round_trips_numbers(call: Any, boto: Any, items_table: str) -> None:
    item = {
        "id": "n1",
        "price": 19.99,
        "qty": 3,
        "big": 12345678901234567890,
        "tiny": 0.000001,
        "nested": {"x": [1, 2.5]},
    }
    status, body = await call("create", {"Item": item})
    assert (status, body) == (201, {"Item": item})
    stored = boto("dynamodb").get_item(TableName=items_table, Key=stored_key("n1"))["Item"]
    assert stored["tenant"] == {"S": TENANT}  # in the caller's partition; never shown to it
    assert stored["price"] == {"N": "19.99"} and stored["big"] == {"N": "12345678901234567890"}
    status, body = await call("read", {"Key": {"id": "n1"}})
    assert status == 200
    assert body["Item"] == item
    assert isinstance(body["Item"]["qty"], int) and isinstance(body["Item"]["price"], float)


async def test_create_does_not_overwrite_unless_asked(call: Any, boto: Any, items_table: str) -> None:
    assert (await call("create", {"Item": {"id": "k", "v": 1}}))[0] == 201
    status, body = await call("create", {"Item": {"id": "k", "v": 2}})
    assert status == 409 and body["code"] == "item_exists"
    assert (await call("read", {"Key": {"id": "k"}}))[1]["Item"]["v"] == 1
    assert (await call("create", {"Item": {"id": "k", "v": 3}, "overwrite": True}))[0] == 201
    assert (await call("read", {"Key": {"id": "k"}}))[1]["Item"] == {"id": "k", "v": 3}


async def test_read_missing_item_is_404(call: Any) -> None:
    status, body = await call("read", {"Key": {"id": "nobody"}})
    assert status == 404 and body["code"] == "item_not_found" and body["requestId"]


async def test_update_existing_item(call: Any) -> None:
    await call("create", {"Item": {"id": "u", "count": 1, "tags": ["a"]}})
    status, body = await call(
        "update",
        {
            "Key": {"id": "u"},
            "UpdateExpression": "SET #n = :name, price = :p ADD #c :one REMOVE tags",
            "ExpressionAttributeNames": {"#n": "name", "#c": "count"},
            "ExpressionAttributeValues": {":name": "widget", ":p": 2.75, ":one": 1},
        },
    )
    assert status == 200
    assert body["Attributes"] == {"id": "u", "count": 2, "name": "widget", "price": 2.75}


async def test_update_missing_item_is_404_and_creates_nothing(call: Any, boto: Any, items_table: str) -> None:
    payload = {"Key": {"id": "ghost"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 1}}
    status, body = await call("update", payload)
    assert status == 404 and body["code"] == "item_not_found"
    assert "Item" not in boto("dynamodb").get_item(TableName=items_table, Key=stored_key("ghost"))
    status, body = await call("update", {**payload, "upsert": True})
    assert status == 200 and body["Attributes"] == {"id": "ghost", "v": 1}


async def test_update_condition_failure_is_409(call: Any) -> None:
    await call("create", {"Item": {"id": "c", "version": 2}})
    status, body = await call(
        "update",
        {
            "Key": {"id": "c"},
            "UpdateExpression": "SET version = :new",
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":new": 3, ":expected": 1},
        },
    )
    assert status == 409 and body["code"] == "condition_failed"
    assert (await call("read", {"Key": {"id": "c"}}))[1]["Item"]["version"] == 2


async def test_delete_returns_old_item_then_404(call: Any) -> None:
    await call("create", {"Item": {"id": "d", "v": 1.5}})
    assert await call("delete", {"Key": {"id": "d"}}) == (200, {"Attributes": {"id": "d", "v": 1.5}})
    status, body = await call("delete", {"Key": {"id": "d"}})
    assert status == 404 and body["code"] == "item_not_found"


async def test_list_paginates_every_item_exactly_once(call: Any) -> None:
    ids = {f"item-{i:02d}" for i in range(11)}
    for item_id in ids:
        await call("create", {"Item": {"id": item_id, "n": 1}})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        payload: dict[str, Any] = {"Limit": 4}
        if token:
            payload["nextToken"] = token
        status, body = await call("list", payload)
        assert status == 200 and body["Count"] == len(body["Items"]) <= 4
        seen.extend(item["id"] for item in body["Items"])
        pages += 1
        token = body["nextToken"]
        if token is None:
            break
    assert sorted(seen) == sorted(ids) and pages >= 3


async def test_table_name_may_only_be_the_stacks(call: Any, items_table: str) -> None:
    assert (await call("create", {"Item": {"id": "t"}}, tableName=items_table))[0] == 201
    for operation, payload in [
        ("read", {"Key": {"id": "t"}}),
        ("create", {"Item": {"id": "t2"}}),
        ("delete", {"Key": {"id": "t"}}),
        ("list", {}),
        ("ping", None),
    ]:
        status, body = await call(operation, payload, tableName="someone-elses-table")
        assert status == 403 and body["code"] == "forbidden_table", operation
    assert (await call("read", {"Key": {"id": "t"}}))[0] == 200


async def test_base64_encoded_body_is_accepted(
    make_event: Any, context: Any, parse_body: Any, items_table: str
) -> None:
    event = manager_event(make_event, raw_body=base64.b64encode(b'{"operation": "ping"}').decode())
    event["isBase64Encoded"] = True
    response = await handler(event, context)
    assert (response["statusCode"], parse_body(response)) == (200, "pong")


BIG = "x" * (401 * 1024)

BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("unknown operation", {"operation": "drop", "payload": {}}, 400, "unknown_operation"),
    ("operation not a string", {"operation": 7}, 400, "invalid_operation"),
    ("missing operation", {"payload": {}}, 400, "missing_operation"),
    ("unknown top-level field", {"operation": "ping", "payLoad": {}}, 400, "unknown_field"),
    ("payload not an object", {"operation": "read", "payload": [1]}, 400, "invalid_payload"),
    (
        "tableName not a string",
        {"operation": "read", "tableName": 5, "payload": {"Key": {"id": "a"}}},
        400,
        "invalid_table_name",
    ),
    (
        "other table",
        {"operation": "create", "tableName": "prod-users", "payload": {"Item": {"id": "a"}}},
        403,
        "forbidden_table",
    ),
    ("create without Item", {"operation": "create", "payload": {}}, 400, "missing_item"),
    ("create Item not object", {"operation": "create", "payload": {"Item": "a"}}, 400, "invalid_item"),
    ("create Item without key", {"operation": "create", "payload": {"Item": {"name": "a"}}}, 400, "missing_key"),
    ("create key of wrong type", {"operation": "create", "payload": {"Item": {"id": True}}}, 400, "invalid_key"),
    ("create empty key", {"operation": "create", "payload": {"Item": {"id": ""}}}, 400, "invalid_key"),
    (
        "create overwrite not bool",
        {"operation": "create", "payload": {"Item": {"id": "a"}, "overwrite": "yes"}},
        400,
        "invalid_payload",
    ),
    (
        "create oversized item",
        {"operation": "create", "payload": {"Item": {"id": "a", "blob": BIG}}},
        400,
        "item_too_large",
    ),
    (
        "create unknown payload field",
        {"operation": "create", "payload": {"Item": {"id": "a"}, "TTL": 3}},
        400,
        "unknown_field",
    ),
    ("read without Key", {"operation": "read", "payload": {}}, 400, "missing_key"),
    ("read Key a list", {"operation": "read", "payload": {"Key": ["a"]}}, 400, "invalid_key"),
    ("read Key extra attribute", {"operation": "read", "payload": {"Key": {"id": "a", "x": 1}}}, 400, "invalid_key"),
    ("read Key a map", {"operation": "read", "payload": {"Key": {"id": {"S": "a"}}}}, 400, "invalid_key"),
    ("delete without Key", {"operation": "delete", "payload": {"Item": {"id": "a"}}}, 400, "unknown_field"),
    (
        "update without expression",
        {"operation": "update", "payload": {"Key": {"id": "a"}}},
        400,
        "missing_update_expression",
    ),
    (
        "update empty expression",
        {"operation": "update", "payload": {"Key": {"id": "a"}, "UpdateExpression": "  "}},
        400,
        "invalid_expression",
    ),
    (
        "update expression not a string",
        {"operation": "update", "payload": {"Key": {"id": "a"}, "UpdateExpression": 1}},
        400,
        "invalid_expression",
    ),
    (
        "update unknown clause",
        {"operation": "update", "payload": {"Key": {"id": "a"}, "UpdateExpression": "PUT v = 1"}},
        400,
        "invalid_update_expression",
    ),
    (
        "update empty clause",
        {"operation": "update", "payload": {"Key": {"id": "a"}, "UpdateExpression": "SET"}},
        400,
        "invalid_update_expression",
    ),
    (
        "update repeated clause",
        {
            "operation": "update",
            "payload": {
                "Key": {"id": "a"},
                "UpdateExpression": "SET a = :v SET b = :v",
                "ExpressionAttributeValues": {":v": 1},
            },
        },
        400,
        "invalid_update_expression",
    ),
    (
        "update unknown value placeholder",
        {"operation": "update", "payload": {"Key": {"id": "a"}, "UpdateExpression": "SET v = :nope"}},
        400,
        "unknown_placeholder",
    ),
    (
        "update unknown name placeholder",
        {
            "operation": "update",
            "payload": {"Key": {"id": "a"}, "UpdateExpression": "SET #v = :v", "ExpressionAttributeValues": {":v": 1}},
        },
        400,
        "unknown_placeholder",
    ),
    (
        "update unused placeholder",
        {
            "operation": "update",
            "payload": {
                "Key": {"id": "a"},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": 1, ":w": 2},
            },
        },
        400,
        "unused_placeholder",
    ),
    (
        "update malformed placeholder key",
        {
            "operation": "update",
            "payload": {"Key": {"id": "a"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {"v": 1}},
        },
        400,
        "invalid_placeholder",
    ),
    (
        "update reserved placeholder",
        {
            "operation": "update",
            "payload": {
                "Key": {"id": "a"},
                "UpdateExpression": "SET #__key = :v",
                "ExpressionAttributeNames": {"#__key": "x"},
                "ExpressionAttributeValues": {":v": 1},
            },
        },
        400,
        "invalid_placeholder",
    ),
    (
        "update oversized value",
        {
            "operation": "update",
            "payload": {
                "Key": {"id": "a"},
                "UpdateExpression": "SET v = :v",
                "upsert": True,
                "ExpressionAttributeValues": {":v": BIG},
            },
        },
        400,
        "item_too_large",
    ),
    (
        "update of the key attribute",
        {
            "operation": "update",
            "payload": {
                "Key": {"id": "a"},
                "UpdateExpression": "SET id = :v",
                "upsert": True,
                "ExpressionAttributeValues": {":v": "b"},
            },
        },
        400,
        "invalid_request",
    ),
    ("list Limit zero", {"operation": "list", "payload": {"Limit": 0}}, 400, "invalid_limit"),
    ("list Limit too big", {"operation": "list", "payload": {"Limit": 101}}, 400, "invalid_limit"),
    ("list Limit a string", {"operation": "list", "payload": {"Limit": "5"}}, 400, "invalid_limit"),
    ("list Limit a float", {"operation": "list", "payload": {"Limit": 2.5}}, 400, "invalid_limit"),
    ("list Limit a bool", {"operation": "list", "payload": {"Limit": True}}, 400, "invalid_limit"),
    ("list garbage token", {"operation": "list", "payload": {"nextToken": "%%%not-base64"}}, 400, "invalid_next_token"),
    (
        "list forged token",
        {
            "operation": "list",
            "payload": {"nextToken": base64.urlsafe_b64encode(json.dumps({"other": {"S": "x"}}).encode()).decode()},
        },
        400,
        "invalid_next_token",
    ),
]

BAD_RAW: list[tuple[str, str | None, int, str]] = [
    (
        "number beyond 38 digits",
        '{"operation": "create", "payload": {"Item": {"id": "n", "v": 1.0000000000000000000000000000000000000001}}}',
        400,
        "invalid_value",
    ),
    ("malformed JSON", '{"operation": "ping",', 400, "malformed_json"),
    ("NaN is not JSON", '{"operation": "echo", "payload": NaN}', 400, "malformed_json"),
    ("body is an array", '["ping"]', 400, "invalid_body"),
    ("empty body", "", 400, "missing_body"),
    ("no body", None, 400, "missing_body"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_bodies_are_4xx_and_write_nothing(
    case: str,
    body: Any,
    status: int,
    code: str,
    make_event: Any,
    context: Any,
    parse_body: Any,
    boto: Any,
    scan: Any,
    items_table: str,
) -> None:
    boto("dynamodb").put_item(TableName=items_table, Item={**stored_key("a"), "v": {"N": "1"}})
    before = scan(boto, items_table)
    response = await handler(manager_event(make_event, body), context)
    answer = parse_body(response)
    assert (response["statusCode"], answer["code"]) == (status, code), answer
    assert set(answer) == {"code", "message", "requestId"} and answer["requestId"] == context.aws_request_id
    assert scan(boto, items_table) == before


@pytest.mark.parametrize(("case", "raw", "status", "code"), BAD_RAW, ids=[c[0] for c in BAD_RAW])
async def test_malformed_requests_are_400(
    case: str,
    raw: str | None,
    status: int,
    code: str,
    make_event: Any,
    context: Any,
    parse_body: Any,
    boto: Any,
    scan: Any,
    items_table: str,
) -> None:
    before = scan(boto, items_table)
    response = await handler(manager_event(make_event, raw_body=raw), context)
    assert (response["statusCode"], parse_body(response)["code"]) == (status, code)
    assert scan(boto, items_table) == before


async def test_undecodable_base64_body_is_400(make_event: Any, context: Any, parse_body: Any, items_table: str) -> None:
    event = manager_event(make_event, raw_body="not base64!")
    event["isBase64Encoded"] = True
    response = await handler(event, context)
    assert (response["statusCode"], parse_body(response)["code"]) == (400, "malformed_body")


async def test_an_event_that_is_not_an_http_request_is_400(context: Any, parse_body: Any, items_table: str) -> None:
    response = await handler(["not", "an", "event"], context)  # type: ignore[arg-type]
    assert (response["statusCode"], parse_body(response)["code"]) == (400, "invalid_event")


async def test_wrong_method_is_405(make_event: Any, context: Any, parse_body: Any, items_table: str) -> None:
    response = await handler(manager_event(make_event, method="GET"), context)
    assert (response["statusCode"], parse_body(response)["code"]) == (405, "method_not_allowed")


async def test_unexpected_failure_is_a_500_without_trace(
    make_event: Any,
    context: Any,
    parse_body: Any,
    monkeypatch: pytest.MonkeyPatch,
    items_table: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ITEMS_TABLE", "table-that-does-not-exist")
    response = await handler(manager_event(make_event, {"operation": "list", "payload": {}}), context)
    body = parse_body(response)
    assert response["statusCode"] == 500 and body["code"] == "internal_error"
    assert "Traceback" not in response["body"] and "ResourceNotFound" not in response["body"]
    assert any(context.aws_request_id in record.getMessage() and record.exc_info for record in caplog.records)
