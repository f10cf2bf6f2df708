"""The Lambda REST API (2015-03-31) on aiohttp, enough for boto3's Lambda client to work unchanged.

Invoke, Get/UpdateFunctionConfiguration, GetFunction, ListFunctions, PublishVersion, aliases,
DeleteFunction (of a version) and GetFunctionConcurrency: what the local cloud, the keep-warm fan-out
and the power tuner call. SigV4 headers are accepted and ignored. Errors are AWS's: the
``x-amzn-ErrorType`` header plus ``{"Type", "message", ...}``, which botocore turns into the modelled
exception (``ResourceNotFoundException``, ``TooManyRequestsException`` with ``Reason``, ...).

This module knows the service only through ``LambdaBackend``, the operations it translates to HTTP:
``service.py`` imports it to serve itself, never the other way round.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from localcloud.lambda_service.errors import (
    InvalidParameterValue,
    LambdaServiceError,
    RequestTooLarge,
    ResourceNotFound,
)
from localcloud.lambda_service.payloads import MAX_PAYLOAD_BYTES, read_capped
from localcloud.lambda_service.spec import LATEST, InvokeResult

log = logging.getLogger(__name__)
FUNCTIONS = "/2015-03-31/functions"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LambdaBackend(Protocol):
    """What the Invoke API needs of the local Lambda service (``LambdaService`` provides it)."""

    async def invoke(
        self,
        name: str,
        payload: bytes,
        invocation_type: str = ...,
        log_tail: bool = ...,
        *,
        qualifier: str | None = ...,
        client_context: str | None = ...,
        client_address: tuple[str, int] | None = ...,
    ) -> InvokeResult: ...

    def configuration(self, name: str, qualifier: str | None = None) -> dict[str, Any]: ...

    def update_configuration(self, name: str, changes: dict[str, Any]) -> dict[str, Any]: ...

    def function_description(self, name: str, qualifier: str | None = None) -> dict[str, Any]: ...

    def function_names(self) -> list[str]: ...

    def reserved_concurrency(self, name: str) -> int | None: ...

    def publish_version(self, name: str) -> dict[str, Any]: ...

    def delete_version(self, name: str, version: str) -> None: ...

    def put_alias(
        self, name: str, alias: str, version: str | None, description: str | None, create: bool
    ) -> dict[str, Any]: ...

    def alias_configuration(self, name: str, alias: str) -> dict[str, Any]: ...

    def delete_alias(self, name: str, alias: str) -> None: ...


def error_response(error: LambdaServiceError) -> web.Response:
    response = web.json_response(error.body(), status=error.status)
    response.headers["x-amzn-ErrorType"] = error.error_type
    if error.status == 429:
        response.headers["Retry-After"] = "1"
    return response


@web.middleware
async def aws_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Typed errors become AWS error responses; nothing unexpected leaks a stack trace to the client."""
    try:
        return await handler(request)
    except LambdaServiceError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(_unknown_operation(request))
        raise
    except Exception:
        log.exception("local Lambda service failed on %s %s", request.method, request.path)
        return error_response(LambdaServiceError("internal error in the local Lambda service (see its log)"))


def _unknown_operation(request: web.Request) -> LambdaServiceError:
    error = ResourceNotFound(f"no Lambda operation at {request.method} {request.path} in the local service")
    error.error_type = "UnknownOperationException"
    return error


async def start_invoke_api(service: LambdaBackend, host: str, port: int) -> tuple[web.AppRunner, int]:
    app = web.Application(middlewares=[aws_errors], client_max_size=MAX_PAYLOAD_BYTES * 4)
    routes = InvokeApi(service)
    app.router.add_post(f"{FUNCTIONS}/{{name}}/invocations", routes.invoke)
    app.router.add_post(f"{FUNCTIONS}/{{name}}/invoke-async/", routes.invoke_async)
    app.router.add_get(f"{FUNCTIONS}/{{name}}/configuration", routes.get_configuration)
    app.router.add_put(f"{FUNCTIONS}/{{name}}/configuration", routes.update_configuration)
    app.router.add_get(f"{FUNCTIONS}/{{name}}", routes.get_function)
    app.router.add_delete(f"{FUNCTIONS}/{{name}}", routes.delete_function)
    app.router.add_get(f"{FUNCTIONS}/", routes.list_functions)
    app.router.add_get(FUNCTIONS, routes.list_functions)
    app.router.add_post(f"{FUNCTIONS}/{{name}}/versions", routes.publish_version)
    app.router.add_post(f"{FUNCTIONS}/{{name}}/aliases", routes.create_alias)
    app.router.add_get(f"{FUNCTIONS}/{{name}}/aliases/{{alias}}", routes.get_alias)
    app.router.add_put(f"{FUNCTIONS}/{{name}}/aliases/{{alias}}", routes.update_alias)
    app.router.add_delete(f"{FUNCTIONS}/{{name}}/aliases/{{alias}}", routes.delete_alias)
    app.router.add_get("/2019-09-30/functions/{name}/concurrency", routes.get_concurrency)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner, runner.addresses[0][1]


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await read_capped(request, MAX_PAYLOAD_BYTES)
    if raw is None:
        raise RequestTooLarge("request body is over 6 MB")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameterValue(f"request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidParameterValue("request body must be a JSON object")
    return body


def _client_context(header: str | None) -> str | None:
    """``X-Amz-Client-Context`` is base64 JSON; the runtime receives it decoded, as RAPID sends it."""
    if not header:
        return None
    try:
        return base64.b64decode(header, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidParameterValue("X-Amz-Client-Context must be base64-encoded JSON") from None


def _peer(request: web.Request) -> tuple[str, int] | None:
    """The caller's (host, port): the service recognises its own workers by it (nested invocations)."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    return (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None


class InvokeApi:
    """aiohttp handlers, each a thin translation between HTTP and ``LambdaService``."""

    def __init__(self, service: LambdaBackend) -> None:
        self.service = service

    async def invoke(self, request: web.Request) -> web.Response:
        payload = await read_capped(request, MAX_PAYLOAD_BYTES)
        if payload is None:
            raise RequestTooLarge(
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            )
        log_type = request.headers.get("X-Amz-Log-Type", "None")
        if log_type not in ("None", "Tail"):
            raise InvalidParameterValue("LogType must be None or Tail")
        result = await self.service.invoke(
            request.match_info["name"],
            payload,
            request.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
            log_type == "Tail",
            qualifier=request.query.get("Qualifier"),
            client_context=_client_context(request.headers.get("X-Amz-Client-Context")),
            client_address=_peer(request),
        )
        headers = {"x-amzn-RequestId": result.request_id, "X-Amz-Executed-Version": result.executed_version}
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if result.log_tail is not None:
            headers["X-Amz-Log-Result"] = result.log_tail
        return web.Response(
            status=result.status_code,
            body=result.payload if result.status_code == 200 else None,
            headers=headers,
            content_type="application/json" if result.status_code == 200 else None,
        )

    async def invoke_async(self, request: web.Request) -> web.Response:
        """The deprecated InvokeAsync operation (still in boto3): an Event invocation answering 202."""
        payload = await read_capped(request, MAX_PAYLOAD_BYTES)
        if payload is None:
            raise RequestTooLarge(f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes")
        await self.service.invoke(request.match_info["name"], payload, "Event")
        return web.json_response({"Status": 202}, status=202)

    async def get_configuration(self, request: web.Request) -> web.Response:
        return web.json_response(self.service.configuration(request.match_info["name"], request.query.get("Qualifier")))

    async def update_configuration(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.json_response(self.service.update_configuration(name, await _json_body(request)))

    async def get_function(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.json_response(self.service.function_description(name, request.query.get("Qualifier")))

    async def delete_function(self, request: web.Request) -> web.Response:
        """DeleteFunction of a published version (the tuner cleans up); the functions themselves stay."""
        name, qualifier = request.match_info["name"], request.query.get("Qualifier")
        if not qualifier or qualifier == LATEST:
            raise InvalidParameterValue("the local Lambda service deletes published versions only (give Qualifier)")
        self.service.delete_version(name, qualifier)
        return web.Response(status=204)

    async def list_functions(self, request: web.Request) -> web.Response:
        configurations = [self.service.configuration(name) for name in self.service.function_names()]
        return web.json_response({"Functions": configurations})

    async def publish_version(self, request: web.Request) -> web.Response:
        await _json_body(request)
        return web.json_response(self.service.publish_version(request.match_info["name"]), status=201)

    async def create_alias(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body.get("Name"), str) or not isinstance(body.get("FunctionVersion"), str):
            raise InvalidParameterValue("CreateAlias needs Name and FunctionVersion")
        config = self.service.put_alias(
            request.match_info["name"], body["Name"], body["FunctionVersion"], body.get("Description", ""), create=True
        )
        return web.json_response(config, status=201)

    async def get_alias(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.service.alias_configuration(request.match_info["name"], request.match_info["alias"])
        )

    async def update_alias(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        config = self.service.put_alias(
            request.match_info["name"],
            request.match_info["alias"],
            body.get("FunctionVersion"),
            body.get("Description"),
            create=False,
        )
        return web.json_response(config)

    async def delete_alias(self, request: web.Request) -> web.Response:
        self.service.delete_alias(request.match_info["name"], request.match_info["alias"])
        return web.Response(status=204)

    async def get_concurrency(self, request: web.Request) -> web.Response:
        reserved = self.service.reserved_concurrency(request.match_info["name"])
        return web.json_response({} if reserved is None else {"ReservedConcurrentExecutions": reserved})
