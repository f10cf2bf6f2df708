"""JSON encoding of what handlers really return, and decoding of events.

Handlers return DynamoDB items (``Decimal``), timestamps, numpy scalars and arrays, sets and bytes. The
stdlib encoder (C-accelerated) does the work; ``_to_jsonable`` only sees the types it cannot encode.
Choices, compared with awslambdaric:

- ``Decimal``: an int when integral, else a float (awslambdaric writes the decimal text verbatim, which
  keeps e.g. ``1E+2`` - valid JSON, but surprising to clients). NaN/Infinity are refused (invalid JSON).
- ``datetime``/``date``/``time``: ISO 8601 (awslambdaric raises ``Runtime.MarshalError``).
- ``bytes`` nested in the result: base64 text. ``bytes`` as the whole result: sent as-is (as awslambdaric).
- numpy scalars/arrays: their Python value / nested lists (numpy is never imported here).
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import enum
import json
import uuid
from typing import Any

from handlers.runtime.errors import MarshalError, ResponseSizeTooLarge, UnmarshalError

#: The synchronous invocation payload limit (6 MB), for responses as for requests.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024

JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"


def _to_jsonable(obj: Any) -> Any:
    """Turn a value the stdlib encoder refuses into one it accepts (called only for those)."""
    if isinstance(obj, decimal.Decimal):
        if not obj.is_finite():
            raise ValueError(f"Decimal {obj} is not JSON compliant")
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
        return obj.isoformat()
    if isinstance(obj, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if type(obj).__module__ == "numpy":
        return obj.tolist()  # scalars give Python numbers, arrays nested lists
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def encode_response(result: Any, limit: int = MAX_RESPONSE_BYTES) -> tuple[bytes, str]:
    """Serialise a handler's result to (body, content type); too big or unencodable -> a ``RuntimeFault``."""
    if isinstance(result, bytes | bytearray):
        body, content_type = bytes(result), BINARY_CONTENT_TYPE
    else:
        try:
            text = json.dumps(result, default=_to_jsonable, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise MarshalError(f"Unable to marshal response: {exc}") from None
        body, content_type = text.encode("utf-8"), JSON_CONTENT_TYPE
    if len(body) > limit:
        raise ResponseSizeTooLarge(
            f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size ({limit} bytes)."
        )
    return body, content_type


def encode_error(payload: dict[str, Any]) -> bytes:
    """Serialise an error body; never fails (unencodable parts become their ``repr``)."""
    return json.dumps(payload, default=repr, ensure_ascii=False).encode("utf-8")


def decode_event(body: bytes, content_type: str | None) -> Any:
    """Parse an event body; anything that is not JSON is a ``Runtime.UnmarshalError`` for that invocation."""
    if content_type and not content_type.startswith(JSON_CONTENT_TYPE):
        return body
    try:
        return json.loads(body)
    except ValueError as exc:
        raise UnmarshalError(f"Unable to unmarshal input: {exc}") from None
