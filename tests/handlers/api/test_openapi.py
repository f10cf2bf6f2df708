"""The OpenAPI document: valid OpenAPI 3.1, every route of the definition, auth per stack, every error code."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from fhrapp.definition import APP, api_routes_json
from handlers.api.contract import NOT_OVER_HTTP
from handlers.api.openapi import contract_of, document, routes_from_json

ROUTES = routes_from_json(api_routes_json(APP))


@pytest.fixture(scope="module", params=[False, True], ids=["open", "jwt"])
def doc(request: pytest.FixtureRequest) -> dict[str, Any]:
    return document(ROUTES, jwt=request.param, server="https://api.example.org")


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m.upper()} {path}": op for path, item in doc["paths"].items() for m, op in item.items()}


def test_the_document_is_valid_openapi_3_1_with_every_route(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "https://api.example.org"}]
    assert {key: op["operationId"] for key, op in operations(doc).items()} == {
        r.route_key: r.operation_id for r in APP.routes
    }


def test_auth_is_the_gateways(doc: dict[str, Any]) -> None:
    jwt = "securitySchemes" in doc["components"]
    for route in APP.routes:
        op = operations(doc)[route.route_key]
        if not jwt:
            assert "security" not in op and "401" not in op["responses"]
        elif route.public:
            assert op["security"] == [] and "401" not in op["responses"]
        else:  # a token needs ANY of the route's scopes: one requirement per scope
            assert op["security"] == [{"jwt": [scope]} for scope in route.scopes]
            assert {"401", "403"} <= set(op["responses"])


def test_every_declared_code_is_in_its_status_enum_and_only_there(doc: dict[str, Any]) -> None:
    jwt = "securitySchemes" in doc["components"]
    for route in ROUTES:
        responses = operations(doc)[route.route_key]["responses"]
        for error in contract_of(route).errors:
            shown = error.code not in NOT_OVER_HTTP and (jwt or not error.jwt_only)
            schema = responses.get(str(error.status), {}).get("content", {}).get("application/json", {}).get("schema")
            assert (shown and f"'{error.code}'" in str(schema)) or (not shown and f"'{error.code}'" not in str(schema))
        for status in ("429", "500", "503"):  # the gateway's own answers, on every route
            assert "GatewayError" in str(responses[status]["content"])


def test_the_function_and_gateway_errors_are_told_apart(doc: dict[str, Any]) -> None:
    error, gateway = doc["components"]["schemas"]["Error"], doc["components"]["schemas"]["GatewayError"]
    assert error["required"] == ["code", "message", "requestId"] and error["additionalProperties"] is False
    assert gateway["required"] == ["message"] and gateway["additionalProperties"] is False


def test_a_route_without_a_declaration_is_an_error() -> None:
    from dataclasses import replace

    with pytest.raises(LookupError, match="declares no operation for GET /nowhere"):
        document([replace(ROUTES[0], path="/nowhere")], jwt=False)
