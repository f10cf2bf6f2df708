"""The event a function really receives for a client's JSON body: API Gateway HTTP API payload 2.0.

The local cloud's front door builds its events from a live ``aiohttp`` request; this module fills
the same skeleton (``localcloud.frontdoor.payload_v2_event``) from the route and the body alone.
Functions without a POST route (queue consumers) receive the payload as it is.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fhrapp.definition import APP, AppDefinition, Route
from localcloud.frontdoor import payload_v2_event


class NoSuchRoute(ValueError):
    """The asked route is not one of the function's routes in the app definition."""


def post_route(logical: str, route_key: str | None = None, app: AppDefinition = APP) -> Route | None:
    """The function's route to tune through: ``route_key`` if given, else its first POST route (or None)."""
    routes = app.routes_of(logical)
    if route_key is not None:
        for route in routes:
            if route.route_key == route_key and route.method == "POST":
                return route
        known = ", ".join(r.route_key for r in routes if r.method == "POST") or "none"
        raise NoSuchRoute(f"function {logical!r} has no POST route {route_key!r} (its POST routes: {known})")
    return next((route for route in routes if route.method == "POST"), None)


def http_api_event(route: Route, body: Any, *, domain: str = "powertune.local") -> dict[str, Any]:
    """A payload-2.0 event for ``route`` carrying ``body`` as JSON, as API Gateway would deliver it."""
    text = json.dumps(body)
    headers = {
        "content-type": "application/json",
        "content-length": str(len(text.encode())),
        "host": domain,
        "user-agent": "fhr-powertune",
        "x-forwarded-proto": "https",
    }
    event = payload_v2_event(
        route_key=route.route_key,
        method=route.method,
        raw_path=route.path,
        raw_query="",
        headers=headers,
        domain=domain,
        source_ip="127.0.0.1",
        user_agent="fhr-powertune",
        protocol="HTTP/1.1",
        request_id=uuid.uuid4().hex[:16],
        api_id="powertune",
    )
    event["body"] = text
    return event


def function_event(logical: str, body: Any, route_key: str | None = None, app: AppDefinition = APP) -> dict[str, Any]:
    """What ``logical`` receives for ``body``: an HTTP API event for its POST route, else ``body`` itself."""
    route = post_route(logical, route_key, app)
    if route is None:
        if not isinstance(body, dict):
            raise ValueError(f"function {logical!r} has no POST route; its payload must be a JSON object event")
        return body
    return http_api_event(route, body)
