"""The local HTTP API front door: API Gateway HTTP API behaviour in front of the local Lambda service.

moto stores API Gateway v2 configuration but serves no traffic, so the local cloud answers HTTP itself,
with the behaviour a client sees from a deployed HTTP API (payload format 2.0, ``$default`` stage):

- routes of the app definition (``METHOD /path``, ``{name}`` and greedy ``{name+}`` parameters, ``ANY``);
  no match -> ``404 {"message":"Not Found"}``;
- stage throttling as a token bucket (burst = capacity, rate = refill per second) ->
  ``429 {"message":"Too Many Requests"}``;
- CORS from the stack: API Gateway answers preflight ``OPTIONS`` itself when no route takes it (an
  ``OPTIONS`` or ``ANY`` route does, authorizer included, as ``$default`` does on AWS) and adds the CORS
  headers to responses of allowed origins;
- JWT authorizer when the stack's auth mode is ``jwt`` -> ``401 {"message":"Unauthorized"}``; a valid
  token holding none of the route's scopes -> ``403 {"message":"Forbidden"}`` with a
  ``www-authenticate: Bearer ... error="insufficient_scope"`` header; the verified claims reach the
  function as API Gateway passes them (``requestContext.authorizer.jwt``: every claim a string,
  ``scopes`` the token's scopes on a route that has scopes, else null);
- request -> payload 2.0 event (lower-case headers, repeated values comma-joined, ``cookies``,
  ``queryStringParameters`` with repeats comma-joined, ``pathParameters``, base64 body for binary
  content types, ``requestContext``);
- response mapping: ``statusCode``/``headers``/``cookies``/``body``/``isBase64Encoded``; a response
  without ``statusCode`` is 200 with the JSON as body.

Failures answer what API Gateway answers (Lambda developer guide, "Handling Lambda errors with an API
Gateway API": an invocation the Lambda API rejects is a 500, a function that fails or answers in the
wrong format a 502, both with the generic body; HTTP APIs spell it ``{"message":"Internal Server Error"}``):

- request body over 10 MB (HTTP API's payload limit) -> ``413 {"message":"Request Entity Too Large"}``,
  the function is not invoked;
- Lambda rejects the invocation: throttled (``TooManyRequestsException``), event over 6 MB
  (``RequestEntityTooLargeException``, e.g. a 7 MB body, base64-encoded in the event) -> ``500``;
- function error, timeout (``Sandbox.Timedout``), response over 6 MB (``Function.ResponseSizeTooLarge``),
  malformed response -> ``502``;
- no answer within the 30 s integration timeout, counted from the moment the front door received the
  request (so time spent queueing for a local worker counts, as everything after receipt counts on
  AWS) -> ``503 {"message":"Service Unavailable"}``; the invocation itself runs on, as on AWS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from multidict import CIMultiDict

from fhrapp.definition import API_CORS_HEADERS, API_CORS_MAX_AGE_S
from localcloud.jwt import JwtAuthorizer, Unauthorized, VerifiedToken
from localcloud.moto import ACCOUNT_ID

log = logging.getLogger("localcloud.frontdoor")

INTEGRATION_TIMEOUT_S = 30.0
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # HTTP API's payload limit
DEFAULT_RESPONSE_CONTENT_TYPE = "text/plain; charset=utf-8"
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/x-ndjson",
)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})


class Invoker(Protocol):
    """What the front door needs of the local Lambda service (see localcloud.lambda_service)."""

    async def invoke(self, name: str, payload: bytes, invocation_type: str = ..., log_tail: bool = ...) -> Any: ...


@dataclass(frozen=True)
class RouteTarget:
    """A route of the app definition bound to the deployed name of its function."""

    method: str
    path: str
    function_name: str
    public: bool = False  # skips the JWT authorizer (the web page: a browser navigation carries no token)
    scopes: tuple[str, ...] = ()  # the token must hold any one of them (authorization_scopes)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in self.path.split("/") if s)

    def match(self, method: str, segments: Sequence[str]) -> dict[str, str] | None:
        """Path parameters when this route serves ``method`` on ``segments``, else None."""
        if self.method not in (method, "ANY"):
            return None
        params: dict[str, str] = {}
        pattern = self.segments
        for i, part in enumerate(pattern):
            if part.startswith("{") and part.endswith("+}"):
                if i >= len(segments):
                    return None
                params[part[1:-2]] = "/".join(segments[i:])
                return params
            if i >= len(segments):
                return None
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = segments[i]
            elif part != segments[i]:
                return None
        return params if len(pattern) == len(segments) else None

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway prefers literal segments over parameters, and a method over ANY."""
        literals = sum(1 for s in self.segments if not s.startswith("{"))
        greedy = sum(1 for s in self.segments if s.endswith("+}"))
        return (literals, -greedy, 0 if self.method == "ANY" else 1)


@dataclass
class TokenBucket:
    """Stage throttling: ``burst`` tokens, refilled at ``rate`` per second."""

    burst: int
    rate: float
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()

    def try_acquire(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class CorsPolicy:
    """The stack's CORS configuration as API Gateway applies it."""

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = API_CORS_HEADERS
    max_age_s: int = API_CORS_MAX_AGE_S

    def allow_origin(self, origin: str | None) -> str | None:
        if not origin or not self.origins:
            return None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.allow_origin(origin)
        if allowed is None:
            return {}
        return {
            "access-control-allow-origin": allowed,
            "access-control-allow-methods": ",".join(self.methods),
            "access-control-allow-headers": ",".join(self.headers),
            "access-control-max-age": str(self.max_age_s),
        }


def is_text_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";")[0].strip().lower()
    return media.startswith(TEXT_TYPES) or media.endswith(("+json", "+xml"))


def gateway_error(status: int, message: str, request_id: str | None = None) -> web.Response:
    response = web.json_response({"message": message}, status=status)
    if request_id:
        response.headers["apigw-requestid"] = request_id
    return response


def new_request_id() -> str:
    """API Gateway's request ids look like ``JKJaXmPLvHcESHA=`` (base64 of 10 random bytes)."""
    return base64.b64encode(os.urandom(10)).decode("ascii")


def _text(value: str) -> str:
    """Header text as an event carries it: aiohttp hands bytes that are not UTF-8 over as lone surrogates
    (``surrogateescape``), which no function could encode again; they become U+FFFD, as in the path
    and the query string."""
    return value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _joined_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, raw_value in request.headers.items():
        key, value = _text(name.lower()), _text(raw_value)
        if key == "cookie":
            continue  # payload 2.0 moves cookies to the "cookies" field
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def _query_parameters(raw_query: str) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params or None


def _cookies(request: web.Request) -> list[str] | None:
    cookies = [
        _text(part.strip())
        for header in request.headers.getall("Cookie", [])
        for part in header.split(";")
        if part.strip()
    ]
    return cookies or None


def payload_v2_event(
    *,
    route_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    domain: str,
    source_ip: str,
    user_agent: str,
    protocol: str,
    request_id: str,
    api_id: str,
) -> dict[str, Any]:
    """The skeleton every payload-2.0 event shares (no body, cookies or parameters yet), from plain
    values: the front door fills it from a live request, the power tuner from a route and a body."""
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0].split(":")[0],
            "http": {
                "method": method,
                "path": unquote(raw_path),
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }


def build_event(
    request: web.Request,
    body: bytes,
    route: RouteTarget,
    path_parameters: Mapping[str, str],
    request_id: str,
    api_id: str,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for one request."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    headers = _joined_headers(request)
    source_ip = request.remote or "127.0.0.1"
    headers.setdefault("x-forwarded-for", source_ip)
    headers.setdefault("x-forwarded-proto", request.scheme)
    headers.setdefault("x-forwarded-port", str(request.url.port or ""))
    event = payload_v2_event(
        route_key=route.route_key,
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=headers,
        domain=request.host,
        source_ip=source_ip,
        user_agent=request.headers.get("User-Agent", ""),
        protocol=f"HTTP/{request.version.major}.{request.version.minor}",
        request_id=request_id,
        api_id=api_id,
    )
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    for key, value in (
        ("cookies", _cookies(request)),
        ("queryStringParameters", _query_parameters(raw_query)),
        ("pathParameters", dict(path_parameters) or None),
    ):
        if value is not None:
            event[key] = value
    if body:
        if is_text_content_type(request.headers.get("Content-Type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    return event


class InsufficientScope(Exception):
    """A valid token that holds none of the route's scopes: API Gateway answers 403, not 401."""

    def __init__(self, scopes: Sequence[str]) -> None:
        super().__init__(" ".join(scopes))
        self.scopes = tuple(scopes)

    def response(self, request_id: str) -> web.Response:
        response = gateway_error(403, "Forbidden", request_id)
        wanted = " ".join(self.scopes)
        response.headers["www-authenticate"] = (
            f'Bearer scope="{wanted}" error="insufficient_scope" error_description="expected scopes: [{wanted}]"'
        )
        return response


def claim_text(value: Any) -> str | None:
    """A claim as API Gateway hands it to the integration: strings as they are, numbers and booleans
    as text, arrays in its bracket form (``[a b]``), objects as JSON; ``None`` for a null claim (left out)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + " ".join(claim_text(v) or "" for v in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def authorizer_context(token: VerifiedToken, route: RouteTarget) -> dict[str, Any]:
    """``requestContext.authorizer`` of a JWT-authorized route: the claims as strings, and the token's
    scopes only where the route asks for scopes (API Gateway sends ``null`` otherwise)."""
    claims = {name: text for name, value in token.claims.items() if (text := claim_text(value)) is not None}
    return {"jwt": {"claims": claims, "scopes": list(token.scopes) if route.scopes else None}}


class MalformedResponse(Exception):
    """The function answered something API Gateway cannot map to HTTP (-> 502)."""


def _header_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_header_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def map_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Format 2.0 response mapping: (status, header list, body) from the function's payload."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError as exc:
        raise MalformedResponse(f"payload is not JSON: {exc}") from None
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, [("content-type", "application/json")], payload
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for source in ("multiValueHeaders", "headers"):
        given = result.get(source) or {}
        if not isinstance(given, dict):
            raise MalformedResponse(f"{source} is not an object")
        headers.extend((str(k).lower(), _header_value(v)) for k, v in given.items())
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies is not a list")
    headers.extend(("set-cookie", str(c)) for c in cookies)
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("isBase64Encoded body is not base64") from None
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", DEFAULT_RESPONSE_CONTENT_TYPE))
    return status, [(n, v) for n, v in headers if n not in HOP_BY_HOP], data


class FrontDoor:
    """An aiohttp server on loopback acting as the stack's HTTP API ``$default`` stage."""

    def __init__(
        self,
        routes: Sequence[RouteTarget],
        invoker: Invoker,
        *,
        throttle: TokenBucket | None = None,
        cors: CorsPolicy | None = None,
        authorizer: JwtAuthorizer | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        api_id: str = "local",
    ) -> None:
        self.routes = sorted(routes, key=lambda r: r.specificity, reverse=True)
        self.invoker = invoker
        self.throttle = throttle
        self.cors = cors
        self.authorizer = authorizer
        self.host = host
        self.port = port
        self.integration_timeout_s = integration_timeout_s
        self.api_id = api_id
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        # Every path, control characters included ("." stops at a newline, and aiohttp would answer a path holding
        # %0A with its own text 404 where API Gateway routes it to the function; found by fuzzing).
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def find_route(self, method: str, raw_path: str) -> tuple[RouteTarget, dict[str, str]] | None:
        segments = [unquote(s) for s in raw_path.split("/") if s]
        for route in self.routes:
            params = route.match(method, segments)
            if params is not None:
                return route, params
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        deadline = asyncio.get_running_loop().time() + self.integration_timeout_s  # from receipt
        request_id = new_request_id()
        if self.throttle is not None and not self.throttle.try_acquire():
            return gateway_error(429, "Too Many Requests", request_id)
        origin = request.headers.get("Origin")
        raw_path = request.raw_path.partition("?")[0]
        found = self.find_route(request.method, raw_path)
        if self._is_preflight(request) and found is None:
            # API Gateway answers a preflight itself only when no route takes it: an OPTIONS route, and an ANY route
            # too, catch OPTIONS (authorizer included: a preflight to an ANY route of a jwt stack is 401 on AWS).
            return self._preflight(origin, request_id)
        if found is None:
            return self._with_cors(gateway_error(404, "Not Found", request_id), origin)
        route, params = found
        try:
            authorizer = None if route.public else self._authorize(request, route)
        except Unauthorized as exc:
            log.info("401 for %s %s: %s", request.method, raw_path, exc.reason)
            return self._with_cors(gateway_error(401, "Unauthorized", request_id), origin)
        except InsufficientScope as exc:
            log.info("403 for %s %s: the token holds none of %s", request.method, raw_path, list(route.scopes))
            return self._with_cors(exc.response(request_id), origin)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._with_cors(gateway_error(413, "Request Entity Too Large", request_id), origin)
        event = build_event(request, body, route, params, request_id, self.api_id, authorizer)
        response = await self._integrate(route, event, request_id, deadline)
        response.headers["apigw-requestid"] = request_id
        return self._with_cors(response, origin)

    def _is_preflight(self, request: web.Request) -> bool:
        return (
            self.cors is not None
            and request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )

    def _preflight(self, origin: str | None, request_id: str) -> web.Response:
        assert self.cors is not None
        response = web.Response(status=204, headers=self.cors.preflight_headers(origin))
        response.headers["apigw-requestid"] = request_id
        return response

    def _with_cors(self, response: web.Response, origin: str | None) -> web.Response:
        """With CORS configured, API Gateway drops the backend's CORS headers and sets its own."""
        if self.cors is None:
            return response
        for name in [n for n in response.headers if n.lower().startswith("access-control-")]:
            del response.headers[name]
        allowed = self.cors.allow_origin(origin)
        if allowed is not None:
            response.headers["access-control-allow-origin"] = allowed
        return response

    def _authorize(self, request: web.Request, route: RouteTarget) -> dict[str, Any] | None:
        if self.authorizer is None:
            return None
        token = self.authorizer.verify_header(request.headers.get("Authorization"))
        if route.scopes and not set(route.scopes) & set(token.scopes):
            raise InsufficientScope(route.scopes)
        return authorizer_context(token, route)

    async def _integrate(
        self, route: RouteTarget, event: dict[str, Any], request_id: str, deadline: float
    ) -> web.Response:
        payload = json.dumps(event).encode("utf-8")
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            result = await asyncio.wait_for(self.invoker.invoke(route.function_name, payload), timeout=remaining)
        except TimeoutError:
            log.warning("%s: integration timed out after %.0f s", route.route_key, self.integration_timeout_s)
            return gateway_error(503, "Service Unavailable", request_id)
        except Exception:
            log.exception("%s: the Lambda service rejected the invocation", route.route_key)
            return gateway_error(500, "Internal Server Error", request_id)
        if result.status_code >= 300:
            log.warning("%s: Lambda answered %s: %r", route.route_key, result.status_code, result.payload[:300])
            return gateway_error(500, "Internal Server Error", request_id)
        if result.function_error:
            log.warning("%s: function error %s: %r", route.route_key, result.function_error, result.payload[:300])
            return gateway_error(502, "Internal Server Error", request_id)
        try:
            status, headers, body = map_response(result.payload)
        except MalformedResponse as exc:
            log.warning("%s: malformed function response: %s", route.route_key, exc)
            return gateway_error(502, "Internal Server Error", request_id)
        return web.Response(status=status, body=body, headers=CIMultiDict(headers))
