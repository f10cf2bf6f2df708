"""What a client sends, parsed by one set of rules for every route: no input can make a handler answer 500.

Every route (``/fhr``, ``/DynamoDBManager``, ``/uploads``, ``/recordings``) reads its request through
:class:`handlers.api.http.Request`, which uses this module, so a rule added here holds everywhere:

- **Bodies** (:func:`body_bytes`): at most :data:`MAX_BODY_BYTES` (else 413 ``body_too_large``), valid
  base64 when flagged so, valid Unicode text.
- **JSON** (:func:`parse_json`, for bodies and the ``options`` query parameter): at most
  :data:`MAX_JSON_DEPTH` levels of nesting (``json`` recurses per level, and so does everything that
  walks the value afterwards: 100 000 ``[`` must be a 400, not a ``RecursionError``); member names
  unique (``{"filename": a, "filename": b}`` is ambiguous: a proxy may check one, we would use the
  other); numbers of at most :data:`MAX_NUMBER_CHARS` characters whose exponent stays within
  :data:`MAX_NUMBER_EXPONENT` (``1e999999999`` is valid JSON, and turning it into an integer builds a
  billion digits); no ``NaN``/``Infinity``; and every string and member name valid Unicode.
- **Text** (:func:`check_text`, also applied to query and path parameters): no lone UTF-16 surrogate
  (``"\\ud800"`` is valid JSON but no UTF-8 encoder, S3 or DynamoDB accepts it).
- **S3 keys** (:func:`check_object_key`): at most 1024 bytes, no control characters.
- **Integers in query strings** (:func:`query_int`): ASCII digits only (``int()`` also reads ``²``,
  ``١``, ``" 5"``, ``"1_0"`` and ``"+5"``), within a stated range.

Each failure is a 4xx :class:`~handlers.api.http.ApiError` with a machine ``code`` naming the rule.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from handlers.api.http import BadRequest, PayloadTooLarge

# Lambda refuses a synchronous event over 6 MB (API Gateway's own limit is 10 MB). A body of 4 MiB
# still fits once base64-encoded (5.6 MB) with the event around it, so every body the function can
# receive at all is measured against this limit and answered with our 413; none of our requests
# comes near it (a 1000-file batch is ~1.1 MB, a 400 KB DynamoDB item at most ~2.4 MB of JSON).
MAX_BODY_BYTES = 4 * 1024 * 1024
# Our deepest legitimate body: an items-manager item (DynamoDB allows 32 levels) inside
# {"payload": {"Item": {...}}}.
MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 100
# Beyond float64 (1e308) and DynamoDB (1e126) alike, yet cheap to hold as an exact integer.
MAX_NUMBER_EXPONENT = 400
MAX_QUERY_INT_DIGITS = 12
MAX_KEY_BYTES = 1024  # S3's limit on an object key (so on a prefix or a start-after key too)


def body_bytes(event: Mapping[str, Any]) -> bytes:
    """The request body as bytes: size-checked first, base64-decoded when flagged, text that is Unicode."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("the event's body is not a string", code="invalid_event")
    if event.get("isBase64Encoded"):
        _check_body_size(len(body) // 4 * 3 - body[-2:].count("="))  # the decoded size, before decoding
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the base64 request body does not decode", code="malformed_body") from None
    _check_body_size(len(body))  # at least the UTF-8 length: checked before encoding a huge string
    try:
        data = body.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("the request body is not valid Unicode text", code="invalid_text") from None
    _check_body_size(len(data))
    return data


def _check_body_size(size: int) -> None:
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body is over {MAX_BODY_BYTES} bytes ({size}); send large recordings through "
            "POST /uploads (straight to S3), not in a request body",
            code="body_too_large",
        )


def parse_json(raw: str | bytes, what: str, *, syntax_code: str = "malformed_json") -> Any:
    """``raw`` parsed as JSON by the module's rules; numbers become ``int`` or exact ``Decimal``.

    ``what`` names the input in messages ("the request body"); ``syntax_code`` is the code of a
    syntax error (each other rule has its own code).
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{what} is not UTF-8 text", code=syntax_code) from None
    try:
        value = json.loads(
            raw,
            parse_float=_decimal(what),
            parse_int=_integer(what),
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_members(what),
        )
    except RecursionError:
        raise BadRequest(f"{what} nests deeper than {MAX_JSON_DEPTH} levels", code="too_deep") from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}", code=syntax_code) from None
    check_tree(value, what)
    return value


def check_tree(value: Any, what: str) -> None:
    """Nesting within :data:`MAX_JSON_DEPTH` and every string and member name valid Unicode."""
    for leaf in leaves(value, what, MAX_JSON_DEPTH):
        if isinstance(leaf, str):
            check_text(leaf, what)


def leaves(value: Any, what: str, max_depth: int) -> Iterator[Any]:
    """Every scalar and member name inside a parsed JSON value, refusing nesting deeper than ``max_depth``
    (400 ``too_deep``). Iterative, so any depth is safe to walk."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            yield node
            continue
        if depth >= max_depth:
            raise BadRequest(f"{what} nests deeper than {max_depth} levels", code="too_deep")
        if isinstance(node, dict):
            yield from node
            stack.extend((member, depth + 1) for member in node.values())
        else:
            stack.extend((member, depth + 1) for member in node)


def check_text(value: str, what: str) -> str:
    """``value`` if it is Unicode text; a lone surrogate (``\\ud800``) is a 400 ``invalid_text``."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                f"{what} holds a lone UTF-16 surrogate (such as \\ud800), which is not Unicode text",
                code="invalid_text",
            ) from None
    return value


def query_int(query: Mapping[str, str], name: str, *, default: int, low: int, high: int, code: str) -> int:
    """The query parameter ``name`` as an integer in ``[low, high]``, written in ASCII digits only."""
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_QUERY_INT_DIGITS or not low <= int(raw) <= high:
        raise BadRequest(
            f"{name} must be an integer from {low} to {high} written in ASCII digits, got {raw[:20]!r}", code=code
        )
    return int(raw)


def check_object_key(value: str, what: str, code: str) -> str:
    """Text S3 takes as (part of) an object key: at most 1024 bytes of UTF-8, no control characters."""
    check_text(value, what)
    if len(value.encode("utf-8")) > MAX_KEY_BYTES or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(f"{what} must be at most {MAX_KEY_BYTES} bytes without control characters", code=code)
    return value


def only_fields(given: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Refuse names outside ``allowed`` (a typo must not silently fall back to a default): 400 ``unknown_field``."""
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise BadRequest(
            f"{where} has unknown field(s) {unknown}; use {', '.join(sorted(allowed))}", code="unknown_field"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(what: str) -> Any:
    def parse(text: str) -> int:
        _check_number_length(text, what)
        return int(text)

    return parse


def _decimal(what: str) -> Any:
    def parse(text: str) -> Decimal:
        _check_number_length(text, what)
        number = Decimal(text)
        if number and abs(number.adjusted()) > MAX_NUMBER_EXPONENT:
            raise BadRequest(
                f"{what} holds the number {text!r}, beyond 1e\u00b1{MAX_NUMBER_EXPONENT}", code="invalid_number"
            )
        return number

    return parse


def _check_number_length(text: str, what: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadRequest(
            f"{what} holds a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})", code="invalid_number"
        )


def _unique_members(what: str) -> Any:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        members: dict[str, Any] = {}
        for name, value in pairs:
            if name in members:
                raise BadRequest(f"{what} names the member {name[:80]!r} twice", code="duplicate_key")
            members[name] = value
        return members

    return build
