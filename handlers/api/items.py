"""``POST /DynamoDBManager``: the seeds' DynamoDB manager, restricted to the stack's items table.

Body ``{"operation", "tableName"?, "payload"}`` with the seeds' payload shapes (``Item``, ``Key``,
update expressions). Differences from the seeds, each closing a hole they had:

- ``tableName`` may only name the stack's items table (env ``ITEMS_TABLE``); any other is a 403.
- ``create`` never overwrites an existing item unless the payload says ``"overwrite": true`` (409).
- ``update`` only updates an existing item (404 otherwise) unless ``"upsert": true``; expressions
  are checked (clauses, placeholders) before DynamoDB sees them.
- ``list`` paginates: ``Limit`` 1..100, ``nextToken`` an opaque token of the last evaluated key.
- Numbers are parsed as ``Decimal`` and written back as JSON integers or floats, so they round-trip.

Tenancy: the table's hash key is the caller's tenant (``tenant``) and its range key the item's ``id``,
so every operation is confined to the caller's own partition: a caller names items by ``id`` alone,
the handler adds its tenant to every key, and ``list`` is a Query of that partition (never a Scan of
everyone's). ``tenant`` is the service's attribute: an item or key that sets it is refused, and
answers never show it. Another tenant's item with the same ``id`` is simply a different item: reading,
updating or deleting it answers 404 as for an id nobody has. Scopes: the route admits a token with
``items/read`` or ``items/write`` (API Gateway checks ANY of a route's scopes); ``read``/``list`` need
``items/read`` and ``create``/``update``/``delete`` ``items/write``, checked here (403
``insufficient_scope``); ``ping``/``echo`` touch no item and need either.

Responses keep the seeds' key names: ``{"Item"}``, ``{"Attributes"}``, ``{"Items", "Count", "nextToken"}``.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from handlers.api import clients
from handlers.api.contract import (
    HANDLER_ERRORS,
    Body,
    Operation,
    Reply,
    array,
    boolean,
    codes,
    integer,
    nullable,
    obj,
    string,
)
from handlers.api.dynamo import (
    CLIENT_ERRORS,
    VALUE_ERRORS,
    check_item_size,
    deserialize_item,
    error_code,
    is_client_error,
    item_size,
    raise_for_client_error,
    serialize_item,
)
from handlers.api.expressions import (
    EXPRESSION_ERRORS,
    check_condition_expression,
    check_placeholders,
    check_update_expression,
)
from handlers.api.http import (
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Request,
    api_handler,
    json_response,
)
from handlers.api.inputs import JSON_BODY_ERRORS, REQUEST_ERRORS, UNKNOWN_FIELD, parse_json
from handlers.api.tenancy import CALLER_ERRORS, SCOPE_ERRORS, Caller

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 25
KEY_PLACEHOLDER = "#__key"  # ours, for "the item exists"; refused if a caller defines it
TENANT_ATTRIBUTE = "tenant"  # the table's hash key (fhrapp.definition.ITEMS_TABLE), set by the service
SCOPE_READ = "items/read"
SCOPE_WRITE = "items/write"

ItemOperation = Callable[["Table", dict[str, Any]], Awaitable[dict[str, Any]]]

_key_schemas: dict[str, tuple[tuple[str, str], ...]] = {}


async def init() -> None:
    """Open the DynamoDB client before the first request (the runtime calls this once)."""
    await clients.open_services("dynamodb")
    clients.reopen_after_restore("dynamodb")  # SnapStart only


async def shutdown() -> None:
    await clients.close()


# DynamoDB's limit on a range key value (bytes of the value: UTF-8 text, or a number's stored form); the hash key
# is the service's tenant id, so every key attribute a caller names is the range key.
MAX_RANGE_KEY_VALUE_BYTES = 1024


class Table:
    """The items table as one tenant sees it: its name, the item key callers use (the range key, with its type),
    the tenant's partition and the client to reach it."""

    def __init__(self, name: str, key_types: tuple[tuple[str, str], ...], client: Any, tenant: str) -> None:
        self.name = name
        self.key_types = dict(key_types)  # without the tenant: attribute name -> "S" | "N" | "B"
        self.key_names = tuple(name for name, _ in key_types)
        self.client = client
        self.tenant = tenant

    @property
    def partition(self) -> dict[str, Any]:
        return {TENANT_ATTRIBUTE: {"S": self.tenant}}

    def key(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload["Key"]`` checked against the item key, in wire format, in the caller's partition."""
        key = payload.get("Key")
        if key is None:
            raise BadRequest("payload.Key is required", code="missing_key")
        if not isinstance(key, dict):
            raise BadRequest("payload.Key must be an object", code="invalid_key")
        extra = sorted(set(key) - set(self.key_names))
        if extra:
            raise BadRequest(f"payload.Key has non-key attribute(s) {extra}", code="invalid_key")
        return self.key_of(key, "payload.Key")

    def key_of(self, attributes: dict[str, Any], where: str) -> dict[str, Any]:
        """The full key of ``attributes`` in wire format: the caller's tenant plus its key attributes,
        present, and strings or numbers."""
        missing = [name for name in self.key_names if name not in attributes]
        if missing:
            raise BadRequest(f"{where} lacks the key attribute(s) {missing}", code="missing_key")
        wire = serialize_item({name: attributes[name] for name in self.key_names}, what="key")
        for name, value in wire.items():
            kind, expected = next(iter(value)), self.key_types[name]
            if kind != expected or value in ({"S": ""}, {"B": b""}):
                what = {"S": "a non-empty string", "N": "a number", "B": "non-empty binary"}.get(expected, expected)
                raise BadRequest(f"key attribute {name!r} must be {what}", code="invalid_key")
            if item_size({name: value}) - len(name.encode("utf-8")) > MAX_RANGE_KEY_VALUE_BYTES:
                raise BadRequest(
                    f"key attribute {name!r} is over DynamoDB's {MAX_RANGE_KEY_VALUE_BYTES} bytes", code="invalid_key"
                )
        return {**self.partition, **wire}

    def stored(self, item: dict[str, Any]) -> dict[str, Any]:
        """A caller's item in wire format, placed in the caller's partition."""
        if TENANT_ATTRIBUTE in item:
            raise BadRequest(f"{TENANT_ATTRIBUTE!r} is set by the service, not by callers", code="reserved_attribute")
        self.key_of(item, "payload.Item")
        return {**serialize_item(item), **self.partition}

    @staticmethod
    def shown(wire: dict[str, Any]) -> dict[str, Any]:
        """An item as callers see it: without the service's tenant attribute."""
        return deserialize_item({name: value for name, value in wire.items() if name != TENANT_ATTRIBUTE})


async def _table(client: Any, caller: Caller) -> Table:
    name = os.environ.get("ITEMS_TABLE", "")
    if not name:
        raise InternalError("the function is not configured with an items table")
    if name not in _key_schemas:
        description = (await client.describe_table(TableName=name))["Table"]
        types = {d["AttributeName"]: d["AttributeType"] for d in description["AttributeDefinitions"]}
        ordered = sorted(description["KeySchema"], key=lambda k: 0 if k["KeyType"] == "HASH" else 1)
        names = tuple(k["AttributeName"] for k in ordered)
        if names[0] != TENANT_ATTRIBUTE or len(names) != 2:
            # An items table from before tenancy (hash key "id"): serving it would mix every tenant's items.
            raise InternalError(f"the items table is not partitioned by {TENANT_ATTRIBUTE!r} (key schema {names})")
        _key_schemas[name] = tuple((n, types[n]) for n in names[1:])
    return Table(name, _key_schemas[name], client, caller.tenant)


@api_handler
async def handler(request: Request, context: Any) -> dict[str, Any]:
    if request.method != "POST":
        raise MethodNotAllowed("the DynamoDB manager accepts POST only")
    caller = request.caller
    body = request.json_object()
    MANAGE.check_body(body)
    operation = _operation(body.get("operation"))
    if operation in ("ping", "echo"):
        return _answer_without_table(operation, body)
    caller.require_scope(SCOPE_READ if operation in READ_OPERATIONS else SCOPE_WRITE, f"the {operation} operation")
    table = await _table(await clients.client("dynamodb"), caller)
    _check_table_name(body.get("tableName"), table.name)
    payload = _payload(body)
    try:
        return await OPERATIONS[operation](table, payload)
    except Exception as exc:
        if is_client_error(exc):
            raise_for_client_error(exc)
        raise


def _operation(value: Any) -> str:
    if value is None:
        raise BadRequest("operation is required", code="missing_operation")
    if not isinstance(value, str):
        raise BadRequest("operation must be a string", code="invalid_operation")
    if value not in OPERATIONS and value not in ("ping", "echo"):
        known = ", ".join(sorted([*OPERATIONS, "ping", "echo"]))
        raise BadRequest(f"unknown operation {value!r}; use one of {known}", code="unknown_operation")
    return value


def _check_table_name(value: Any, table_name: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise BadRequest("tableName must be a string", code="invalid_table_name")
    if value != table_name:
        raise Forbidden(f"this API only serves the table {table_name!r}", code="forbidden_table")


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        raise BadRequest("payload must be an object", code="invalid_payload")
    return payload


def _answer_without_table(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    # Checked even though nothing is read: a caller naming another table learns it is not allowed.
    table_name = os.environ.get("ITEMS_TABLE", "")
    _check_table_name(body.get("tableName"), table_name)
    if operation == "ping":
        return json_response(200, "pong")
    return json_response(200, body.get("payload"))


def _only(payload: dict[str, Any], operation: str) -> None:
    """Refuse payload fields the operation's declared payload (:data:`PAYLOADS`) does not name."""
    extra = sorted(set(payload) - set(PAYLOADS[operation]["properties"]))
    if extra:
        raise BadRequest(f"{operation} does not take payload field(s) {extra}", code="unknown_field")


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"payload.{name} must be true or false", code="invalid_payload")
    return value


async def create(table: Table, payload: dict[str, Any]) -> dict[str, Any]:
    _only(payload, "create")
    item = payload.get("Item")
    if item is None:
        raise BadRequest("payload.Item is required", code="missing_item")
    if not isinstance(item, dict) or not item:
        raise BadRequest("payload.Item must be a non-empty object", code="invalid_item")
    wire = table.stored(item)
    check_item_size(wire)
    request: dict[str, Any] = {"TableName": table.name, "Item": wire}
    if not _flag(payload, "overwrite"):
        request["ConditionExpression"] = "attribute_not_exists(#k)"
        request["ExpressionAttributeNames"] = {"#k": TENANT_ATTRIBUTE}
    try:
        await table.client.put_item(**request)
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            message = 'an item with this key exists; send "overwrite": true to replace it'
            raise Conflict(message, code="item_exists") from None
        raise
    return json_response(201, {"Item": item})


async def read(table: Table, payload: dict[str, Any]) -> dict[str, Any]:
    _only(payload, "read")
    key = table.key(payload)
    response = await table.client.get_item(
        TableName=table.name, Key=key, ConsistentRead=_flag(payload, "ConsistentRead")
    )
    if "Item" not in response:
        raise NotFound("no item has this key", code="item_not_found")
    return json_response(200, {"Item": table.shown(response["Item"])})


async def update(table: Table, payload: dict[str, Any]) -> dict[str, Any]:
    _only(payload, "update")
    key = table.key(payload)
    if "UpdateExpression" not in payload:
        raise BadRequest("payload.UpdateExpression is required", code="missing_update_expression")
    check_update_expression(payload["UpdateExpression"])
    expressions = [payload["UpdateExpression"]]
    if "ConditionExpression" in payload:
        check_condition_expression(payload["ConditionExpression"])
        expressions.append(payload["ConditionExpression"])
    names = payload.get("ExpressionAttributeNames")
    values = payload.get("ExpressionAttributeValues")
    check_placeholders(expressions, names, values)
    request = _update_request(table, key, payload, names, values)
    try:
        response = await table.client.update_item(**request)
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        raise await _explain_failed_update(table, key) from None
    return json_response(200, {"Attributes": table.shown(response.get("Attributes", {}))})


def _update_request(
    table: Table, key: dict[str, Any], payload: dict[str, Any], names: Any, values: Any
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TableName": table.name,
        "Key": key,
        "UpdateExpression": payload["UpdateExpression"],
        "ReturnValues": "ALL_NEW",
    }
    all_names = dict(names or {})
    if KEY_PLACEHOLDER in all_names:
        raise BadRequest(f"the placeholder {KEY_PLACEHOLDER} is reserved", code="invalid_placeholder")
    condition = payload.get("ConditionExpression")
    if not _flag(payload, "upsert"):
        all_names[KEY_PLACEHOLDER] = TENANT_ATTRIBUTE
        exists = f"attribute_exists({KEY_PLACEHOLDER})"
        condition = f"({condition}) AND {exists}" if condition else exists
    if condition:
        request["ConditionExpression"] = condition
    if all_names:
        request["ExpressionAttributeNames"] = all_names
    if values:
        wire_values = serialize_item(values, what="ExpressionAttributeValues")
        check_item_size(wire_values, what="ExpressionAttributeValues")
        request["ExpressionAttributeValues"] = wire_values
    return request


async def _explain_failed_update(table: Table, key: dict[str, Any]) -> Exception:
    """A failed condition means either no such item or the caller's own condition: say which."""
    current = await table.client.get_item(TableName=table.name, Key=key, ConsistentRead=True)
    if "Item" not in current:
        return NotFound('no item has this key; send "upsert": true to create it', code="item_not_found")
    return Conflict("the item exists but ConditionExpression did not hold", code="condition_failed")


async def delete(table: Table, payload: dict[str, Any]) -> dict[str, Any]:
    _only(payload, "delete")
    key = table.key(payload)
    response = await table.client.delete_item(TableName=table.name, Key=key, ReturnValues="ALL_OLD")
    if "Attributes" not in response:
        raise NotFound("no item has this key", code="item_not_found")
    return json_response(200, {"Attributes": table.shown(response["Attributes"])})


async def list_items(table: Table, payload: dict[str, Any]) -> dict[str, Any]:
    _only(payload, "list")
    limit = payload.get("Limit", DEFAULT_LIST_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise BadRequest(f"payload.Limit must be an integer from 1 to {MAX_LIST_LIMIT}", code="invalid_limit")
    request: dict[str, Any] = {
        "TableName": table.name,
        "Limit": limit,
        "KeyConditionExpression": "#tenant = :tenant",
        "ExpressionAttributeNames": {"#tenant": TENANT_ATTRIBUTE},
        "ExpressionAttributeValues": {":tenant": {"S": table.tenant}},
    }
    token = payload.get("nextToken")
    if token is not None:
        request["ExclusiveStartKey"] = {**decode_token(token, table), **table.partition}
    try:
        response = await table.client.query(**request)
    except Exception as exc:
        if error_code(exc) == "ValidationException" and token is not None:
            raise BadRequest("nextToken is not one this API issued", code="invalid_next_token") from None
        raise
    items = [table.shown(item) for item in response.get("Items", [])]
    last = response.get("LastEvaluatedKey")
    return json_response(200, {"Items": items, "Count": len(items), "nextToken": encode_token(last) if last else None})


def encode_token(last_evaluated_key: dict[str, Any]) -> str:
    """Opaque to callers: URL-safe base64 of the wire-format ``LastEvaluatedKey`` without the tenant
    (the caller's own partition is added back on the next page, so a token cannot move across tenants)."""
    key = {name: value for name, value in last_evaluated_key.items() if name != TENANT_ATTRIBUTE}
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: Any, table: Table) -> dict[str, Any]:
    invalid = BadRequest("nextToken is not one this API issued", code="invalid_next_token")
    if not isinstance(token, str) or not token:
        raise invalid
    try:
        key = parse_json(base64.urlsafe_b64decode(token.encode("ascii")), "nextToken")
    except (binascii.Error, ValueError, UnicodeError, BadRequest):
        raise invalid from None
    if not isinstance(key, dict) or set(key) != set(table.key_names):
        raise invalid
    try:  # the key a page ended on, as this API serialised it: same types, same limits as any key
        plain = {name: deserialize_item({name: value})[name] for name, value in key.items()}
        if table.key_of(plain, "nextToken") != {**table.partition, **key}:
            raise invalid
    except (BadRequest, TypeError, ValueError, AttributeError, decimal.DecimalException):
        raise invalid from None
    return key


READ_OPERATIONS = frozenset({"read", "list"})
OPERATIONS: dict[str, ItemOperation] = {
    "create": create,
    "read": read,
    "update": update,
    "delete": delete,
    "list": list_items,
}


# ---- the contract of POST /DynamoDBManager (handlers.api.contract) ---------------------------------------------------

ITEM_VALUE = {"description": "any JSON value (numbers are stored exactly, as DynamoDB numbers)"}
KEY = obj("the item's key: its id (the caller's tenant is added by the service)", id=string(minLength=1))
ITEM = obj(
    "an item: its id and any other attributes (not tenant, which the service sets)",
    required=("id",),
    extra=True,
    id=string(minLength=1),
)
PAYLOADS: dict[str, dict[str, Any]] = {
    "create": obj(required=("Item",), Item=ITEM, overwrite=boolean("replace an existing item with this key")),
    "read": obj(required=("Key",), Key=KEY, ConsistentRead=boolean()),
    "update": obj(
        required=("Key", "UpdateExpression"),
        Key=KEY,
        UpdateExpression=string("SET / REMOVE / ADD / DELETE clauses, each once", minLength=1),
        ConditionExpression=string(minLength=1),
        ExpressionAttributeNames={"type": "object", "additionalProperties": string(minLength=1)},
        ExpressionAttributeValues={"type": "object", "additionalProperties": ITEM_VALUE},
        upsert=boolean("create the item when it does not exist"),
    ),
    "delete": obj(Key=KEY),
    "list": obj(
        required=(),
        Limit=integer(minimum=1, maximum=MAX_LIST_LIMIT, default=DEFAULT_LIST_LIMIT),
        nextToken=string("the nextToken of the previous page"),
    ),
}
ITEMS_PAGE = obj(
    "one page of the caller's items",
    Items=array(ITEM),
    Count=integer(minimum=0),
    nextToken=nullable(string("pass it back as payload.nextToken for the next page")),
)
MANAGE_BODY = {
    **obj(
        required=("operation",),
        operation=string(enum=[*PAYLOADS, "ping", "echo"]),
        tableName=string("the stack's items table (the only one served); optional"),
        payload=ITEM_VALUE,
    ),
    "oneOf": [
        *(
            {
                "properties": {"operation": {"const": name}, "payload": schema},
                "required": ["payload"] if schema.get("required") else [],
            }
            for name, schema in PAYLOADS.items()
        ),
        {"properties": {"operation": {"enum": ["ping", "echo"]}}},
    ],
}
MANAGE = Operation(
    summary="The DynamoDB manager (the seeds' create / read / update / delete / list / ping / echo)",
    description="On the stack's items table only, in the caller's own partition. read and list need items/read; "
    "create, update and delete need items/write; ping and echo either.",
    body=Body(MANAGE_BODY, "the operation, and its payload"),
    replies=(
        Reply(
            200,
            'read: {Item}; update, delete: {Attributes}; list: {Items, Count, nextToken}; ping: "pong"; echo: the '
            "payload as sent",
            {"anyOf": [obj(Item=ITEM), obj(Attributes=ITEM), ITEMS_PAGE, string(const="pong"), ITEM_VALUE]},
        ),
        Reply(201, "create: the item as stored", obj(Item=ITEM)),
    ),
    errors=(
        *REQUEST_ERRORS,
        *JSON_BODY_ERRORS,
        *UNKNOWN_FIELD,
        *CALLER_ERRORS,
        *SCOPE_ERRORS,
        *codes(
            400,
            missing_operation="no operation",
            invalid_operation="operation is not a string",
            unknown_operation="operation is not one of create, read, update, delete, list, ping, echo",
            invalid_table_name="tableName is not a string",
            invalid_payload="payload (or a flag in it) has the wrong type",
            missing_key="payload.Key, or the id of payload.Item, is missing",
            invalid_key="the key is not {id: non-empty string} of at most 1024 bytes",
            reserved_attribute="the item sets tenant, which the service sets",
            missing_item="payload.Item is missing",
            invalid_item="payload.Item is not a non-empty object",
            missing_update_expression="payload.UpdateExpression is missing",
            invalid_limit=f"payload.Limit is not an integer from 1 to {MAX_LIST_LIMIT}",
            invalid_next_token="nextToken is not one this API issued for the caller",
        ),
        *codes(403, forbidden_table="tableName names a table other than the stack's items table"),
        *codes(404, item_not_found="no item of the caller's has this key"),
        *codes(409, item_exists='an item with this key exists (send "overwrite": true to replace it)'),
        *EXPRESSION_ERRORS,
        *VALUE_ERRORS,
        *CLIENT_ERRORS,
        *HANDLER_ERRORS,
    ),
    tags=("items",),
)
CONTRACT = {"POST /DynamoDBManager": MANAGE}
