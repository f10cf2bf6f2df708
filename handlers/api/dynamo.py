"""DynamoDB helpers shared by the items manager, the results cache and the job records.

Plain JSON values go through boto3's ``TypeSerializer`` (numbers as ``Decimal``, so nothing is
rounded through a float); :func:`item_size` follows DynamoDB's documented size rules closely enough
to refuse an item over the 400 KB limit before the service does. :func:`raise_for_client_error`
turns the service's errors into the API's typed ones, so no botocore exception reaches a caller.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any, NoReturn

from handlers.api.contract import codes
from handlers.api.http import BUSY_ERROR_CODES, BadRequest, Conflict, ServiceUnavailable
from handlers.api.inputs import leaves

MAX_ITEM_BYTES = 400 * 1024
# DynamoDB's own rules (its documented quotas), checked here because moto does not enforce them and
# nothing may work locally that AWS would refuse.
MAX_NESTING = 32  # levels of lists and maps inside one attribute value
MAX_ATTRIBUTE_NAME_BYTES = 65535
NUMBER_EXPONENTS = (-130, 125)  # magnitudes from 1E-130 to 9.99...E+125 (38 significant digits)

# Storing caller-supplied values (serialize_item, check_item_size) and DynamoDB's own refusals.
VALUE_ERRORS = codes(
    400,
    invalid_name="an attribute name, or a map key inside a value, is empty or over 64 KB",
    invalid_value="a value DynamoDB cannot store (a number outside 1E-130..9.99E+125 in magnitude)",
    too_deep=f"an attribute value nests lists and maps deeper than DynamoDB's {MAX_NESTING} levels",
    item_too_large=f"the item (or the expression values) is over DynamoDB's {MAX_ITEM_BYTES} bytes",
)
CLIENT_ERRORS = codes(
    400,
    invalid_request="DynamoDB refused the request as invalid (its message says why)",
    item_too_large=f"the item would be over DynamoDB's {MAX_ITEM_BYTES} bytes",
    item_collection_too_large="the caller's partition is over DynamoDB's 10 GB item collection limit",
) + codes(409, condition_failed="the item's condition did not hold")
# DynamoDB throttling answers 503 throttled, as on every route (contract.HANDLER_ERRORS, http.dependency_busy).


def serialize_item(item: Mapping[str, Any], *, what: str = "item") -> dict[str, Any]:
    """A JSON object -> DynamoDB wire format; unsupported values are a 400 naming the attribute."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    out: dict[str, Any] = {}
    for name, value in item.items():
        if not name or len(name.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES:
            raise BadRequest(
                f"{what} attribute names must be 1 to {MAX_ATTRIBUTE_NAME_BYTES} bytes long", code="invalid_name"
            )
        _check_value(value, f"{what} attribute {name[:80]!r}")
        try:
            out[name] = serializer.serialize(_plain_numbers(value))
        except (TypeError, ValueError, decimal.DecimalException) as exc:
            raise BadRequest(f"{what} attribute {name!r} cannot be stored: {exc}", code="invalid_value") from None
    return out


def _check_value(value: Any, where: str) -> None:
    """DynamoDB's limits inside one attribute value: nesting depth, the range of numbers, and the names of
    nested attributes (map keys), which follow the rule of every attribute name: 1 byte to 64 KB.

    An empty map key is not a harmless quirk: moto stored such an item and then answered every read and
    delete of it with a response botocore cannot parse (a 500 for that item forever; found by fuzzing)."""
    for leaf in leaves(value, where, MAX_NESTING):
        if isinstance(leaf, int | decimal.Decimal) and not isinstance(leaf, bool) and leaf:
            number = decimal.Decimal(leaf)
            if number.is_finite() and not NUMBER_EXPONENTS[0] <= number.adjusted() <= NUMBER_EXPONENTS[1]:
                raise BadRequest(
                    f"{where} holds a number outside DynamoDB's range (magnitudes 1E-130 to 9.99E+125)",
                    code="invalid_value",
                )
    maps = [value]
    while maps:  # nesting is bounded by now (leaves refused deeper values)
        node = maps.pop()
        if isinstance(node, dict):
            if any(not name or len(name.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES for name in node):
                raise BadRequest(
                    f"{where} holds a map key that is empty or over {MAX_ATTRIBUTE_NAME_BYTES} bytes (nested "
                    "attribute names follow DynamoDB's rule for attribute names)",
                    code="invalid_name",
                )
            maps.extend(node.values())
        elif isinstance(node, list):
            maps.extend(node)


def serialize_value(value: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer().serialize(_plain_numbers(value))


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {name: deserializer.deserialize(value) for name, value in item.items()}


def _plain_numbers(value: Any) -> Any:
    """Floats never reach the serializer (it refuses them); JSON parsing gives Decimals already."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for a wire-format item: names plus values (documented rules)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + 1 + _value_size(v) for k, v in data.items())
    return len(str(data))


def _number_size(text: str) -> int:
    digits = len(text.lstrip("-").replace(".", "").lstrip("0")) or 1
    return (digits + 1) // 2 + 1


def check_item_size(item: Mapping[str, Any], *, what: str = "item") -> None:
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise BadRequest(
            f"the {what} is {size} bytes; DynamoDB stores at most {MAX_ITEM_BYTES} bytes per item",
            code="item_too_large",
        )


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "") or None
    return None


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Message") or exc)
    return str(exc)


def raise_for_client_error(exc: BaseException, *, invalid_code: str = "invalid_request") -> NoReturn:
    """Map a botocore ``ClientError`` from DynamoDB to an :class:`ApiError` (or re-raise it)."""
    code = error_code(exc)
    message = error_message(exc)
    if code == "ValidationException":
        if "size" in message.lower() and "exceed" in message.lower():
            raise BadRequest(message, code="item_too_large") from None
        raise BadRequest(message, code=invalid_code) from None
    if code == "ConditionalCheckFailedException":
        raise Conflict("the item's condition did not hold", code="condition_failed") from None
    if code in BUSY_ERROR_CODES:
        raise ServiceUnavailable(f"DynamoDB is busy ({code}); retry shortly", code="throttled") from None
    if code == "ItemCollectionSizeLimitExceededException":
        raise BadRequest(message, code="item_collection_too_large") from None
    raise exc


def is_client_error(exc: BaseException) -> bool:
    return error_code(exc) is not None
