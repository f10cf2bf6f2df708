"""The API's contract, declared where the handlers use it: operations, parameters, bodies, replies, error codes.

Every handler module that serves routes declares ``CONTRACT``: one :class:`Operation` per route key of
the app definition (``"GET /fhr"``), and reads its requests through it (``operation.check_query``,
``operation.query_int``, ``operation.check_body``), so the names, ranges and fields a handler accepts are
the ones the document publishes. Error codes are declared in groups beside the code that raises them
(``inputs.BODY_ERRORS``, ``analysis.FILENAME_ERRORS``, ...) and listed per operation;
``tests/apicontract/test_reach.py`` walks each route's calls and fails when a route can raise a code its
operation does not list. :mod:`handlers.api.openapi` turns the declarations and the app definition's route
table into the OpenAPI 3.1 document.

Schemas are plain JSON Schema (draft 2020-12, what OpenAPI 3.1 uses); shared ones are registered with
:func:`component` and referenced by ``$ref``. Importing this module loads nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Schema = dict[str, Any]
COMPONENTS: dict[str, Schema] = {}
"""Shared schemas by name (``#/components/schemas/<name>``), filled by :func:`component` as modules load."""


def component(name: str, schema: Schema) -> Schema:
    """Register ``schema`` as ``#/components/schemas/<name>``; returns the ``$ref`` to use in declarations."""
    if COMPONENTS.get(name, schema) != schema:
        raise ValueError(f"two different schemas are registered as {name!r}")
    COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    description: str = "", *, required: Iterable[str] | None = None, extra: bool = False, **properties: Schema
) -> Schema:
    """An object schema: ``properties`` (all required unless ``required`` says which), no other members
    unless ``extra``."""
    schema: Schema = {"type": "object", "properties": dict(properties)}
    names = list(properties) if required is None else list(required)
    if names:
        schema["required"] = names
    if not extra:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def string(description: str = "", **keywords: Any) -> Schema:
    return {"type": "string", **keywords, **({"description": description} if description else {})}


def integer(description: str = "", **keywords: Any) -> Schema:
    return {"type": "integer", **keywords, **({"description": description} if description else {})}


def number(description: str = "", **keywords: Any) -> Schema:
    return {"type": "number", **keywords, **({"description": description} if description else {})}


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def array(items: Schema, description: str = "", **keywords: Any) -> Schema:
    return {"type": "array", "items": items, **keywords, **({"description": description} if description else {})}


@dataclass(frozen=True)
class ErrorCode:
    """One machine ``code`` the API answers with ``status`` and the body ``{code, message, requestId}``."""

    status: int
    code: str
    description: str
    jwt_only: bool = False  # answered only on stacks whose callers hold tokens (a tenant claim, scopes)


def codes(status: int, *, jwt_only: bool = False, **described: str) -> tuple[ErrorCode, ...]:
    """``codes(400, missing_filename="...", invalid_uri="...")``: the codes of one status, each described."""
    return tuple(ErrorCode(status, code, text, jwt_only) for code, text in described.items())


# What every route can answer: the unanticipated (a bug, or a function missing its configuration).
HANDLER_ERRORS = codes(
    500,
    internal_error="something the service did not anticipate, or a function missing its configuration; logged with "
    "its trace under the requestId, never shown",
) + codes(
    503,
    throttled="an AWS service the request needs (DynamoDB, S3, SQS) is throttling or unavailable after the SDK's "
    "retries: send the same request again shortly",
)
# Codes a function answers only to what API Gateway never sends it: a direct invocation's malformed event or
# base64 body, a route the gateway does not have, a JWT stack's event without the authorizer's claims. Not part
# of the HTTP contract, so not in the document (tests/apicontract/test_reach.py knows to skip them).
NOT_OVER_HTTP = frozenset(
    {"invalid_event", "malformed_body", "route_not_found", "method_not_allowed", "unauthenticated"}
)


def raises(*groups: tuple[ErrorCode, ...]) -> Any:
    """Declare the codes a function raises when they are not literals at its raise sites (a mapping).

    ``tests/apicontract/test_reach.py`` takes the declared codes for such a function instead of reading
    its ``code=`` arguments.
    """
    declared = tuple(error for group in groups for error in group)

    def mark(function: Any) -> Any:
        function.__raises__ = declared
        return function

    return mark


@dataclass(frozen=True)
class Param:
    """A query, path or header parameter, with the JSON Schema of its value as text.

    ``schema`` of an integer parameter gives its range (``minimum``/``maximum``) and ``default``, which
    :meth:`Operation.query_int` enforces; a parameter carrying JSON (``json_schema``) is declared with
    OpenAPI's ``content``, so generators and fuzzers send JSON text of that schema.
    """

    name: str
    location: Literal["query", "path", "header"]
    description: str
    schema: Schema = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    json_schema: Schema | None = None
    example: Any = None

    def openapi(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "in": self.location, "description": self.description}
        if self.required or self.location == "path":
            spec["required"] = True
        if self.json_schema is not None:
            spec["content"] = {"application/json": {"schema": self.json_schema}}
        else:
            spec["schema"] = self.schema
        if self.example is not None:
            spec["example"] = self.example
        return spec


@dataclass(frozen=True)
class Reply:
    """A success response: its status, body schema (``None``: no JSON body) and media type."""

    status: int
    description: str
    schema: Schema | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)  # header name -> description (string values)


@dataclass(frozen=True)
class Body:
    """A JSON request body: its schema (an object's ``properties`` are the fields a handler accepts)."""

    schema: Schema
    description: str
    required: bool = True
    example: Any = None

    @property
    def fields(self) -> set[str]:
        return set(_resolved(self.schema).get("properties", {}))


@dataclass(frozen=True)
class Operation:
    """One route's contract: what it reads (parameters, body), answers (replies) and refuses (errors).

    ``errors`` are the codes the route's handler can raise (:class:`ErrorCode`); the document adds what
    the gateway itself answers (401/403 of the authorizer, 429 throttling, 413 over its limit, 503 on its
    timeout) from the route's place in the app definition.
    """

    summary: str
    description: str
    replies: tuple[Reply, ...]
    errors: tuple[ErrorCode, ...]
    params: tuple[Param, ...] = ()
    body: Body | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for error in self.errors:
            if seen.setdefault(error.code, error.status) != error.status:
                raise ValueError(f"error code {error.code!r} is declared with two statuses")

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(f"the operation declares no parameter {name!r}")

    @property
    def query_names(self) -> set[str]:
        return {p.name for p in self.params if p.location == "query"}

    def check_query(self, query: Mapping[str, str]) -> None:
        """Refuse query parameters the operation does not declare (400 ``unknown_field``)."""
        from handlers.api.inputs import only_fields

        only_fields(query, self.query_names, "the query")

    def check_body(self, body: Mapping[str, Any]) -> None:
        """Refuse body fields the operation's body schema does not declare (400 ``unknown_field``)."""
        from handlers.api.inputs import only_fields

        assert self.body is not None, "the operation declares no body"
        only_fields(body, self.body.fields, "the request body")

    def query_int(self, query: Mapping[str, str], name: str, *, code: str, maximum: int | None = None) -> int:
        """The integer query parameter ``name`` within its declared range (``maximum`` may narrow it)."""
        from handlers.api.inputs import query_int

        schema = self.param(name).schema
        high = schema["maximum"] if maximum is None else min(maximum, schema["maximum"])
        return query_int(query, name, default=min(schema["default"], high), low=schema["minimum"], high=high, code=code)

    def error_codes(self) -> set[tuple[int, str]]:
        return {(error.status, error.code) for error in self.errors}


def _resolved(schema: Schema) -> Schema:
    """A ``$ref`` to a registered component, followed once (bodies are objects or references to one)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return COMPONENTS[ref.rsplit("/", 1)[1]]
    return schema
