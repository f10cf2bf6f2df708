"""The OpenAPI 3.1 document of a stack's HTTP API, assembled from what already defines the API.

Two sources, nothing hand-kept:

- the **route table** of the app definition (``fhrapp.definition``: each route's operation id, method,
  path, handler module, scopes and whether it is public), which reaches the web function as the
  environment variable :data:`ROUTES_ENV` (so it serves ``GET /openapi.json`` for exactly the routes
  its gateway has) and ``fhr openapi`` directly;
- each handler module's ``CONTRACT`` (:mod:`handlers.api.contract`): parameters, bodies, replies and the
  error codes the route's handler can raise, which the handlers themselves read their requests through.

To those the document adds what API Gateway itself answers, from the route's place in the definition:
``401``/``403 {"message"}`` from the JWT authorizer on a jwt stack's protected routes, ``429`` from stage
throttling, ``413`` over its payload limit, ``500`` when Lambda refuses the invocation and ``503`` when the
integration times out. Security: a jwt stack declares an HTTP bearer (JWT) scheme and, per route, the
scopes of which a token needs ANY (one security requirement per scope); public routes require nothing; an
open stack declares no security at all.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.api.contract import COMPONENTS, NOT_OVER_HTTP, ErrorCode, Operation, Reply, obj, string

ROUTES_ENV = "FHR_API_ROUTES"  # fhrapp.definition.API_ROUTES_ENV names the same variable
OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"  # the contract's version: bump the major on a change that breaks clients
TITLE = "FHR service API"
DESCRIPTION = (
    "Fetal heart rate from abdominal ECG recordings stored in the stack's S3 bucket. Every error a function "
    "answers is `{code, message, requestId}` with a machine `code` per case (listed per response below); API "
    "Gateway's own refusals are `{message}`. Each caller (tenant) reaches only its own recordings, results, jobs "
    "and items, under `tenants/<tenant>/`; `GET /recordings` answers the caller's prefix."
)
SECURITY_SCHEME = "jwt"
COLD_START_HEADER = {"$ref": "#/components/headers/ColdStart"}
HEADERS = {
    "ColdStart": {
        "description": "x-fhr-cold-start: true on the first answer of a new execution environment (a cold start)",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
ERROR = {"$ref": "#/components/schemas/Error"}
GATEWAY_ERROR = {"$ref": "#/components/schemas/GatewayError"}
BASE_SCHEMAS = {
    "Error": obj(
        "an error the service answers on purpose: branch on code, show message, quote requestId",
        required=("code", "message", "requestId"),
        code=string("the machine code of the case (listed per response)"),
        message=string("for humans"),
        requestId=string("the request's id in the service's logs"),
        details={"type": "object", "description": "more about the case, when there is more"},
    ),
    "GatewayError": obj(
        "API Gateway's own answer (the request did not reach a function, or the function did not answer)",
        message=string(),
    ),
}
# What the gateway answers by itself, per status: (when, on which routes).
GATEWAY_ANSWERS = {
    401: "the gateway: no token, or an invalid or expired one (Unauthorized)",
    403: "the gateway: the token holds none of the route's scopes (Forbidden, with www-authenticate)",
    413: "the gateway: the request is over its payload limit",
    429: "the gateway: the stage's throttling limit (Too Many Requests)",
    500: "the gateway: Lambda refused the invocation, e.g. over the function's reserved concurrency",
    503: "the gateway: the integration did not answer within 30 s",
}


@dataclass(frozen=True)
class RouteInfo:
    """One route of the app definition, as the document needs it."""

    operation_id: str
    method: str
    path: str
    module: str  # the handler module whose CONTRACT declares the route
    scopes: tuple[str, ...] = ()
    public: bool = False

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def routes_from_json(text: str) -> list[RouteInfo]:
    """The route table as :func:`fhrapp.definition.api_routes_json` writes it."""
    return [
        RouteInfo(
            r["operationId"], r["method"], r["path"], r["module"], tuple(r.get("scopes", ())), bool(r.get("public"))
        )
        for r in json.loads(text)
    ]


def routes_from_env(environ: Mapping[str, str]) -> list[RouteInfo]:
    """The route table the function was deployed with (a missing table is a misconfiguration: 500)."""
    text = environ.get(ROUTES_ENV)
    if not text:
        from handlers.api.http import InternalError

        raise InternalError(f"the function is not configured with {ROUTES_ENV}")
    return routes_from_json(text)


def contract_of(route: RouteInfo) -> Operation:
    """The route's :class:`Operation`, from its handler module's ``CONTRACT``."""
    contract = getattr(importlib.import_module(route.module), "CONTRACT", {})
    if route.route_key not in contract:
        raise LookupError(f"{route.module}.CONTRACT declares no operation for {route.route_key}")
    return contract[route.route_key]


def document(routes: Iterable[RouteInfo], *, jwt: bool, server: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` on a stack whose callers hold JWTs (``jwt``) or not."""
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for route in routes:
        operation = contract_of(route)
        tags.update(dict.fromkeys(operation.tags))
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, operation, jwt)
    components: dict[str, Any] = {"schemas": {**BASE_SCHEMAS, **dict(sorted(COMPONENTS.items()))}, "headers": HEADERS}
    if jwt:
        components["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "a token from the stack's issuer (fhr:auth.issuer, for fhr:auth.audience); the gateway "
                "checks its signature, expiry and the route's scopes, and its tenant claim (fhr:auth.tenantClaim) "
                "names the caller's tenant",
            }
        }
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": API_VERSION, "description": DESCRIPTION},
        "tags": [{"name": name} for name in tags],
        "paths": paths,
        "components": components,
    }
    if server:
        doc["servers"] = [{"url": server.rstrip("/")}]
    return doc


def _operation(route: RouteInfo, operation: Operation, jwt: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": operation.summary,
        "description": operation.description,
        "tags": list(operation.tags),
    }
    if operation.params:
        spec["parameters"] = [param.openapi() for param in operation.params]
    if operation.body is not None:
        body: dict[str, Any] = {"schema": operation.body.schema}
        if operation.body.example is not None:
            body["example"] = operation.body.example
        spec["requestBody"] = {
            "required": operation.body.required,
            "description": operation.body.description,
            "content": {"application/json": body},
        }
    spec["responses"] = _responses(route, operation, jwt)
    if jwt:
        spec["security"] = [] if route.public else [{SECURITY_SCHEME: [scope]} for scope in route.scopes]
    return spec


def _responses(route: RouteInfo, operation: Operation, jwt: bool) -> dict[str, Any]:
    responses: dict[int, dict[str, Any]] = {reply.status: _reply(reply) for reply in operation.replies}
    by_status: dict[int, dict[str, ErrorCode]] = {}
    for error in operation.errors:
        if error.code not in NOT_OVER_HTTP and (jwt or not error.jwt_only):
            by_status.setdefault(error.status, {}).setdefault(error.code, error)
    gateway = {413, 429, 500, 503}
    if jwt and not route.public:
        gateway |= {401, 403}
    for status in sorted(set(by_status) | gateway):
        responses[status] = _error_response(list(by_status.get(status, {}).values()), GATEWAY_ANSWERS.get(status))
    return {str(status): responses[status] for status in sorted(responses)}


def _reply(reply: Reply) -> dict[str, Any]:
    response: dict[str, Any] = {"description": reply.description}
    headers = {name: {"description": text, "schema": {"type": "string"}} for name, text in reply.headers.items()}
    response["headers"] = {**headers, "x-fhr-cold-start": COLD_START_HEADER}
    if reply.schema is not None:
        response["content"] = {reply.media_type: {"schema": reply.schema}}
    return response


def _error_response(errors: list[ErrorCode], gateway: str | None) -> dict[str, Any]:
    """One status's response: the function's codes (each described) and/or the gateway's own answer."""
    lines = [f"- `{error.code}`: {error.description}" for error in errors]
    if gateway:
        lines.append(f"- {gateway}: `{{message}}` only")
    schemas = []
    if errors:
        schemas.append({"allOf": [ERROR, {"properties": {"code": {"enum": [error.code for error in errors]}}}]})
    if gateway:
        schemas.append(GATEWAY_ERROR)
    response: dict[str, Any] = {
        "description": "\n".join(lines),
        "content": {"application/json": {"schema": schemas[0] if len(schemas) == 1 else {"anyOf": schemas}}},
    }
    if errors:
        response["headers"] = {"x-fhr-cold-start": COLD_START_HEADER}
    return response
