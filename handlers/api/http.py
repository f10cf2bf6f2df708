"""HTTP plumbing shared by the API handlers: typed errors, JSON bodies, payload-2.0 requests.

Every error leaves the service as ``{"code", "message", "requestId"}`` with the status its class
carries, so clients branch on ``code`` and never parse prose. :func:`api_handler` is the one place
that turns exceptions into responses: an :class:`ApiError` becomes its own status; anything else is
logged (with the request id and the traceback) and answered as a bare 500 ``internal_error`` — a
stack trace never reaches the caller.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.api.tenancy import Caller

logger = logging.getLogger("handlers.api")

JSON_HEADERS = {"content-type": "application/json"}

Handler = Callable[[dict[str, Any], Any], Awaitable[dict[str, Any]]]


class ApiError(Exception):
    """Base of every error the API answers on purpose. Subclasses fix ``status``; ``code`` is per case."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = dict(details or {})


class BadRequest(ApiError):
    """The request itself is malformed: JSON, URI, option, type or shape (400)."""

    status = 400
    code = "bad_request"


class Forbidden(ApiError):
    """The request names a resource outside this stack (another bucket or table) (403)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """The object, item, job or route does not exist (404)."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """The path exists but not with this method (405)."""

    status = 405
    code = "method_not_allowed"


class Conflict(ApiError):
    """The write would clobber state the caller did not ask to replace (409)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The object or item exceeds a size limit (413)."""

    status = 413
    code = "payload_too_large"


class Unprocessable(ApiError):
    """The input was read but cannot be used: unsupported or corrupt record (422)."""

    status = 422
    code = "unprocessable"


class ServiceUnavailable(ApiError):
    """A dependency is throttling or unreachable; the caller may retry (503)."""

    status = 503
    code = "service_unavailable"


class InternalError(ApiError):
    """Something we did not anticipate; logged with its trace, answered without one (500)."""

    status = 500
    code = "internal_error"


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP API payload-2.0 event the handlers use."""

    method: str
    path: str
    route_key: str
    query: dict[str, str]
    path_params: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    request_id: str
    authorizer: dict[str, Any] = field(default_factory=dict)  # requestContext.authorizer (verified claims)

    @cached_property
    def caller(self) -> Caller:
        """Who is calling (tenant, scopes): see :mod:`handlers.api.tenancy`; later log lines carry the tenant."""
        from handlers.api import tenancy

        caller = tenancy.caller_of(self.authorizer)
        tenancy.bind(caller.tenant)
        return caller

    @classmethod
    def from_event(cls, event: Mapping[str, Any], context: Any) -> Request:
        """The request, its text checked by :mod:`handlers.api.inputs` (a malformed event is a 400)."""
        from handlers.api.inputs import body_bytes, check_text

        context_part = _part(event, "requestContext")
        http = _part(context_part, "http")
        method = str(http.get("method") or event.get("httpMethod") or "").upper()
        path = str(http.get("path") or event.get("rawPath") or "")
        route_key = str(event.get("routeKey") or f"{method} {path}")
        headers = {str(k).lower(): str(v) for k, v in _part(event, "headers").items()}
        query = {str(k): str(v) for k, v in _part(event, "queryStringParameters").items()}
        path_params = {str(k): str(v) for k, v in _part(event, "pathParameters").items()}
        for name, value in (*query.items(), *path_params.items()):
            check_text(name, "a query or path parameter's name")
            check_text(value, f"the parameter {name!r}")
        authorizer = _part(event, "requestContext").get("authorizer")
        return cls(
            method=method,
            path=path,
            route_key=route_key,
            query=query,
            path_params=path_params,
            headers=headers,
            raw_body=body_bytes(event),
            request_id=request_id_of(event, context),
            authorizer=dict(authorizer) if isinstance(authorizer, Mapping) else {},
        )

    def json_body(self) -> Any:
        """The body parsed as JSON by :func:`handlers.api.inputs.parse_json` (numbers exact), or a 4xx."""
        from handlers.api.inputs import parse_json

        if not self.raw_body.strip():
            raise BadRequest("the request body is empty; send a JSON object", code="missing_body")
        return parse_json(self.raw_body, "the request body")

    def json_object(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object", code="invalid_body")
        return body


def _part(mapping: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """An optional object of the event; present but not an object, the event is not API Gateway's."""
    value = mapping.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"the event's {name} is not an object", code="invalid_event")
    return value


def request_id_of(event: Mapping[str, Any], context: Any) -> str:
    """The Lambda request id (what the logs carry), else API Gateway's, else a fresh one."""
    rid = getattr(context, "aws_request_id", None)
    if rid:
        return str(rid)
    api_rid = (event.get("requestContext") or {}).get("requestId") if isinstance(event, Mapping) else None
    return str(api_rid) if api_rid else str(uuid.uuid4())


def to_jsonable(value: Any) -> Any:
    """``json.dumps`` default: exact integers stay integers, other Decimals become floats."""
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    value_attr = getattr(value, "value", None)  # boto3's Binary wrapper
    if isinstance(value_attr, (bytes, bytearray)):
        return base64.b64encode(bytes(value_attr)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=to_jsonable, separators=(",", ":"), allow_nan=False)


def json_response(status: int, body: Any, *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": dumps(body),
        "isBase64Encoded": False,
    }


def error_response(error: ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "requestId": request_id}
    if error.details:
        body["details"] = error.details
    return json_response(error.status, body)


COLD_START_HEADER = "x-fhr-cold-start"
_environment = {"answered": 0}
"""API requests this execution environment (process) has answered: the first one paid the cold start."""


def _mark_cold_start(response: dict[str, Any]) -> dict[str, Any]:
    """``x-fhr-cold-start: true`` on the environment's first answer, so clients (``fhr loadtest``) count them.

    Counted per process: when a keep-warm ping started the environment, the runtime answered it without
    the handler, and the first request still carries the header (it is the handler's first).
    """
    _environment["answered"] += 1
    if _environment["answered"] == 1:
        response["headers"] = {**(response.get("headers") or {}), COLD_START_HEADER: "true"}
    return response


def _log_request(event: Any, response: dict[str, Any], started: float) -> None:
    """One structured line per request: route template (never the path or query: they may name a file),
    status and duration; the log filter of :mod:`handlers.api.tenancy` adds the caller's tenant."""
    route = str(event.get("routeKey") or "") if isinstance(event, Mapping) else ""
    status = response.get("statusCode")
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    logger.info("%s %s", route, status, extra={"route": route, "status": status, "durationMs": duration_ms})


# AWS error codes that mean "busy, try again" (DynamoDB, S3, SQS), as botocore's retry handler classifies them:
# once the SDK's own retries are spent, the caller is told to retry, never shown a 500.
BUSY_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalError",
    }
)


def dependency_busy(exc: BaseException) -> ApiError | None:
    """A 503 ``throttled`` for an AWS service error that is worth retrying, else ``None``.

    Read from the botocore ``ClientError`` shape (``response["Error"]["Code"]``) so this module need not
    import botocore; only the service and the error code reach the message (never the request's keys).
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str((response.get("Error") or {}).get("Code") or "")
    if code not in BUSY_ERROR_CODES:
        return None
    service = str(getattr(exc, "operation_name", "") or "an AWS call")
    return ServiceUnavailable(f"{service} is busy ({code}); retry shortly", code="throttled")


def api_handler(route: Callable[[Request, Any], Awaitable[dict[str, Any]]]) -> Handler:
    """Wrap ``route(request, context)`` so every outcome is a well-formed HTTP response."""

    @wraps(route)
    async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        response = _mark_cold_start(await _answer(event, context))
        _log_request(event, response, started)
        return response

    async def _answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_id = request_id_of(event if isinstance(event, Mapping) else {}, context)
        from handlers.api import tenancy

        tenancy.bind(None)  # until this request's caller is known (Request.caller)
        try:
            if not isinstance(event, Mapping):
                raise BadRequest("the event is not an HTTP API request", code="invalid_event")
            request = Request.from_event(event, context)
            return await route(request, context)
        except ApiError as error:
            if error.status >= 500:
                logger.warning("api dependency error %s: %s", error.code, error.message, extra={"apiError": error.code})
            return error_response(error, request_id)
        except Exception as exc:
            busy = dependency_busy(exc)
            if busy is not None:
                logger.warning("api dependency busy: %s", busy.message, extra={"apiError": busy.code})
                return error_response(busy, request_id)
            logger.exception("unexpected error serving request %s", request_id, extra={"apiRequestId": request_id})
            return error_response(InternalError("internal error; quote the requestId when reporting it"), request_id)

    return handler
