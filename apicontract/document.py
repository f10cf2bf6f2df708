"""The OpenAPI document of a stack, as its web function serves it at ``GET /openapi.json``.

The same function builds both (:func:`handlers.api.openapi.document`), from the same route table
(:func:`fhrapp.definition.api_routes_json`, which reaches the function as its environment) and the stack's
auth mode (a jwt stack declares the bearer scheme and each route's scopes), so a document written here and
the one a deployed stage serves differ only in ``servers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhrapp.config import load_stack_file
from fhrapp.definition import APP, AppDefinition, api_routes_json


def stack_document(
    stage: str, *, server: str | None = None, app: AppDefinition = APP, root: Path | None = None
) -> dict[str, Any]:
    """The document of the stack ``stage`` (``Pulumi.<stage>.yaml``), its server ``server`` when given."""
    from handlers.api.openapi import document, routes_from_json

    jwt = load_stack_file(stage, root).auth.mode == "jwt"
    return document(routes_from_json(api_routes_json(app)), jwt=jwt, server=server)
