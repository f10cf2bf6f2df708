"""The DynamoDB manager at its edges, found by mutation testing (``make mutants MODULE=api_items``).

Each test holds what a client receives, against DynamoDB on the session's moto server: the limits at their
exact boundaries (page sizes, the range key's 1024 bytes), the items table's key schema checked before it is
served, page tokens that are not this API's, a failure on a later page not blamed on the token, the read behind
a failed conditional update being a consistent one, and every answer and request body agreeing with the
published OpenAPI document (a client generated from it must not be surprised).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from apicontract.validate import DOCUMENT_URI, ResponseChecker
from fhrapp.definition import APP, api_routes_json
from handlers.api import clients
from handlers.api.items import handler
from handlers.api.openapi import document, routes_from_json

from .test_items import TENANT, manager_event, stored_key

DOC = document(routes_from_json(api_routes_json(APP)), jwt=False, server="https://api.example.org")
OPERATION_POINTER = "#/paths/~1DynamoDBManager/post"
BODY_POINTER = f"{OPERATION_POINTER}/requestBody/content/application~1json/schema"
REPLY_200_POINTER = f"{OPERATION_POINTER}/responses/200/content/application~1json/schema"


@pytest.fixture(scope="module")
def checker() -> ResponseChecker:
    return ResponseChecker(DOC)


@pytest.fixture
def call(make_event: Any, context: Any, parse_body: Any, items_table: str, checker: ResponseChecker):
    """The manager as a client calls it; every answer is checked against the document as it arrives."""

    async def run(operation: str, payload: Any = None, **extra: Any) -> tuple[int, Any]:
        body: dict[str, Any] = {"operation": operation, **extra}
        if payload is not None:
            body["payload"] = payload
        response = await handler(manager_event(make_event, body), context)
        checker.check(
            "POST", "/DynamoDBManager", response["statusCode"], response["headers"], response["body"].encode()
        )
        return response["statusCode"], parse_body(response)

    return run


def put_items(boto: Any, table: str, count: int, tenant: str = TENANT) -> list[str]:
    """``count`` items of ``tenant`` written straight to the table (25 per BatchWriteItem)."""
    ids = [f"i{n:03d}" for n in range(count)]
    for start in range(0, count, 25):
        requests = [
            {"PutRequest": {"Item": {**stored_key(i, tenant), "n": {"N": "1"}}}} for i in ids[start : start + 25]
        ]
        boto("dynamodb").batch_write_item(RequestItems={table: requests})
    return ids


def validator_at(pointer: str) -> Draft202012Validator:
    """A validator for the document's schema at ``pointer`` (``$ref`` resolved within the document)."""
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(DOC, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": DOCUMENT_URI + pointer}, registry=registry)


# The 200 answer is anyOf these shapes (echo makes the whole of it "any JSON value"), and its description says
# which operation answers which: each answer must fit its own.
SHAPE_OF_200 = {"read": 0, "update": 1, "delete": 1, "list": 2, "ping": 3}


def fits_its_shape(operation: str, answer: Any) -> bool:
    pointer = f"{REPLY_200_POINTER}/anyOf/{SHAPE_OF_200[operation]}"
    return validator_at(pointer).is_valid(answer)


async def test_every_answer_fits_the_published_document(call: Any) -> None:
    """Statuses and bodies of every operation, success and refusal, as the OpenAPI document declares them."""
    item = {"id": "a", "n": 1, "tags": ["x"], "nested": {"k": 1.5}}
    assert await call("create", {"Item": item}) == (201, {"Item": item})
    assert (await call("create", {"Item": item}))[0] == 409
    assert await call("read", {"Key": {"id": "a"}}) == (200, {"Item": item})
    assert fits_its_shape("read", {"Item": item})
    assert (await call("read", {"Key": {"id": "b"}}))[0] == 404
    update = {"Key": {"id": "a"}, "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": 2}}
    assert await call("update", update) == (200, {"Attributes": {**item, "n": 2}})
    assert fits_its_shape("update", {"Attributes": {**item, "n": 2}})
    assert await call("list", {}) == (200, {"Items": [{**item, "n": 2}], "Count": 1, "nextToken": None})
    assert fits_its_shape("list", {"Items": [{**item, "n": 2}], "Count": 1, "nextToken": None})
    assert await call("delete", {"Key": {"id": "a"}}) == (200, {"Attributes": {**item, "n": 2}})
    assert await call("list", {}) == (200, {"Items": [], "Count": 0, "nextToken": None})
    assert fits_its_shape("list", {"Items": [], "Count": 0, "nextToken": None})
    assert await call("ping") == (200, "pong") and fits_its_shape("ping", "pong")
    assert await call("echo", {"any": [1, "thing"]}) == (200, {"any": [1, "thing"]})
    assert (await call("read", {"Key": {"id": "a"}}, tableName="other"))[0] == 403
    assert (await call("list", {"Limit": 0}))[0] == 400


AGREEMENT: list[tuple[str, dict[str, Any]]] = [
    ("create", {"Item": {"id": "a"}}),
    ("create", {"Item": {"id": ""}}),
    ("read", {"Key": {"id": "k"}}),
    ("read", {"Key": {"id": ""}}),
    ("update", {"Key": {"id": "k"}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 1}}),
    ("update", {"Key": {"id": ""}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": 1}}),
    ("update", {"Key": {"id": "k"}, "UpdateExpression": "", "ExpressionAttributeValues": {":v": 1}}),
    (
        "update",
        {
            "Key": {"id": "k"},
            "UpdateExpression": "SET v = :v",
            "ConditionExpression": "",
            "ExpressionAttributeValues": {":v": 1},
        },
    ),
    (
        "update",
        {
            "Key": {"id": "k"},
            "UpdateExpression": "SET #v = :v",
            "ExpressionAttributeNames": {"#v": "v"},
            "ExpressionAttributeValues": {":v": 1},
        },
    ),
    (
        "update",
        {
            "Key": {"id": "k"},
            "UpdateExpression": "SET #v = :v",
            "ExpressionAttributeNames": {"#v": ""},
            "ExpressionAttributeValues": {":v": 1},
        },
    ),
    ("delete", {"Key": {"id": "k"}}),
    ("list", {}),
    ("list", {"Limit": 0}),
    ("list", {"Limit": 1}),
    ("list", {"Limit": 100}),
    ("list", {"Limit": 101}),
]


@pytest.mark.parametrize(("operation", "payload"), AGREEMENT)
@pytest.mark.parametrize("with_payload", [True, False], ids=["payload", "no-payload"])
async def test_the_document_accepts_exactly_the_bodies_the_handler_accepts(
    call: Any, boto: Any, items_table: str, operation: str, payload: dict[str, Any], with_payload: bool
) -> None:
    """A body the document calls valid is served (2xx), one it calls invalid is refused (400): a client that
    validates its requests against the document is never surprised either way."""
    boto("dynamodb").put_item(TableName=items_table, Item=stored_key("k"))
    body: dict[str, Any] = {"operation": operation, **({"payload": payload} if with_payload else {})}
    valid = validator_at(BODY_POINTER).is_valid(body)
    status, answer = await call(operation, payload if with_payload else None)
    assert (status < 300) == valid, (body, status, answer)
    assert status < 300 or status == 400, answer


async def test_limit_is_honoured_at_both_ends_and_defaults_to_25(call: Any, boto: Any, items_table: str) -> None:
    ids = put_items(boto, items_table, 101)
    status, page = await call("list", {"Limit": 1})
    assert (status, page["Count"], [i["id"] for i in page["Items"]]) == (200, 1, ids[:1]) and page["nextToken"]
    status, page = await call("list", {"Limit": 100})
    assert (status, page["Count"], [i["id"] for i in page["Items"]]) == (200, 100, ids[:100]) and page["nextToken"]
    status, last = await call("list", {"Limit": 100, "nextToken": page["nextToken"]})
    assert (status, last) == (200, {"Items": [{"id": ids[100], "n": 1}], "Count": 1, "nextToken": None})
    status, page = await call("list")
    assert (status, page["Count"], [i["id"] for i in page["Items"]]) == (200, 25, ids[:25]) and page["nextToken"]
    status, answer = await call("list", {"Limit": 101})
    assert (status, answer["code"]) == (400, "invalid_limit") and "from 1 to 100" in answer["message"]


@pytest.mark.parametrize(
    ("item_id", "fits"),
    [
        ("x" * 1024, True),
        ("é" * 512, True),  # 1024 bytes of UTF-8 in 512 characters
        ("x" * 1025, False),
        ("é" * 512 + "x", False),
    ],
    ids=["1024 ascii", "1024 bytes utf8", "1025 ascii", "1025 bytes utf8"],
)
async def test_the_range_key_holds_1024_bytes_and_not_one_more(
    call: Any, boto: Any, scan: Any, items_table: str, item_id: str, fits: bool
) -> None:
    status, answer = await call("create", {"Item": {"id": item_id, "v": 1}})
    if fits:
        assert status == 201
        assert await call("read", {"Key": {"id": item_id}}) == (200, {"Item": {"id": item_id, "v": 1}})
    else:
        assert (status, answer["code"]) == (400, "invalid_key") and "1024 bytes" in answer["message"]
        assert (await call("read", {"Key": {"id": item_id}}))[1]["code"] == "invalid_key"
        assert scan(boto, items_table) == []


async def test_an_empty_item_is_refused(call: Any, boto: Any, scan: Any, items_table: str) -> None:
    status, answer = await call("create", {"Item": {}})
    assert (status, answer["code"]) == (400, "invalid_item") and scan(boto, items_table) == []


@pytest.fixture
def table_without_range_key(boto: Any, monkeypatch: pytest.MonkeyPatch):
    """A table partitioned by tenant but without an item id: one item per tenant, so not the items table."""
    name = "items-tenant-only-" + TENANT
    boto("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "tenant", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("ITEMS_TABLE", name)
    yield name
    boto("dynamodb").delete_table(TableName=name)


async def test_a_table_keyed_by_tenant_alone_is_refused(
    table_without_range_key: str, make_event: Any, context: Any, parse_body: Any, boto: Any, scan: Any
) -> None:
    body = {"operation": "create", "payload": {"Item": {"id": "a"}}}
    response = await handler(manager_event(make_event, body), context)
    assert (response["statusCode"], parse_body(response)["code"]) == (500, "internal_error")
    assert scan(boto, table_without_range_key) == []


async def test_without_an_items_table_only_ping_and_echo_answer(
    make_event: Any, context: Any, parse_body: Any, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ITEMS_TABLE", raising=False)
    response = await handler(manager_event(make_event, {"operation": "ping"}), context)
    assert (response["statusCode"], parse_body(response)) == (200, "pong")
    response = await handler(manager_event(make_event, {"operation": "list"}), context)
    body = parse_body(response)
    assert (response["statusCode"], body["code"]) == (500, "internal_error")


def token_of(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        5,
        "",
        ["a"],
        token_of(["id"]),
        token_of({"id": {"N": "5"}}),
        token_of({"id": {"S": ""}}),
        token_of({"id": {"S": "a", "N": "1"}}),
        token_of({"id": {"S": "x" * 1025}}),
        token_of({"id": "a"}),
    ],
    ids=["number", "empty", "list", "json list", "number key", "empty key", "two types", "long key", "plain key"],
)
async def test_a_page_token_this_api_did_not_issue_is_400(call: Any, boto: Any, items_table: str, token: Any) -> None:
    put_items(boto, items_table, 3)
    status, answer = await call("list", {"nextToken": token})
    assert (status, answer["code"]) == (400, "invalid_next_token")


async def test_a_token_for_a_key_that_never_existed_still_pages_from_there(
    call: Any, boto: Any, items_table: str
) -> None:
    ids = put_items(boto, items_table, 3)
    status, page = await call("list", {"nextToken": token_of({"id": {"S": "i000x"}})})
    assert (status, [i["id"] for i in page["Items"]]) == (200, ids[1:])


async def test_a_later_page_failing_for_another_reason_is_not_blamed_on_the_token(
    call: Any, boto: Any, items_table: str
) -> None:
    put_items(boto, items_table, 3)
    status, page = await call("list", {"Limit": 2})
    assert status == 200 and page["nextToken"]
    boto("dynamodb").delete_table(TableName=items_table)  # gone between two pages (the handler knows its schema)
    boto("dynamodb").create_table(  # recreated for the fixture's teardown, under another name
        TableName=items_table + "-x",
        KeySchema=[{"AttributeName": "tenant", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        status, answer = await call("list", {"Limit": 2, "nextToken": page["nextToken"]})
        assert (status, answer["code"]) == (500, "internal_error")
    finally:
        boto("dynamodb").delete_table(TableName=items_table + "-x")
        boto("dynamodb").create_table(
            TableName=items_table,
            KeySchema=[{"AttributeName": "tenant", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "tenant", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


async def test_a_failed_conditional_update_is_explained_from_a_consistent_read(call: Any) -> None:
    """After a failed condition the handler reads the item to say 404 or 409; an eventually consistent read could
    miss an item written a moment ago and answer 404 for an item that exists. The request it sends DynamoDB
    (seen on the handler's own client) asks for a strongly consistent read."""
    await call("create", {"Item": {"id": "c", "version": 2}})
    sent: list[dict[str, Any]] = []
    dynamodb = await clients.client("dynamodb")
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda params, **_: sent.append(dict(params))
    )
    update = {
        "Key": {"id": "c"},
        "UpdateExpression": "SET version = :new",
        "ConditionExpression": "version = :expected",
        "ExpressionAttributeValues": {":new": 3, ":expected": 1},
    }
    status, answer = await call("update", update)
    assert (status, answer["code"]) == (409, "condition_failed")
    assert [request["ConsistentRead"] for request in sent] == [True]
    status, answer = await call("read", {"Key": {"id": "c"}})
    assert status == 200 and sent[-1]["ConsistentRead"] is False  # a plain read is the client's choice
