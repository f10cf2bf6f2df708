"""The event a function really receives for a client's JSON body: API Gateway HTTP API payload 2.0.

The local cloud's front door builds its events from a live ``aiohttp`` request
(``localcloud.frontdoor.build_event``), which a tuner that talks to AWS does not have; this builder
makes the same shape from the route and the body alone. Functions without a POST route (queue
consumers) receive the payload as it is.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fhrapp.definition import APP, AppDefinition, Route


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
    now = datetime.now(UTC)
    request_id = uuid.uuid4().hex[:16]
    return {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": route.path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "content-length": str(len(text.encode())),
            "host": domain,
            "user-agent": "fhr-powertune",
            "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "powertune",
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": route.method,
                "path": route.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "fhr-powertune",
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": False,
    }


def function_event(logical: str, body: Any, route_key: str | None = None, app: AppDefinition = APP) -> dict[str, Any]:
    """What ``logical`` receives for ``body``: an HTTP API event for its POST route, else ``body`` itself."""
    route = post_route(logical, route_key, app)
    if route is None:
        if not isinstance(body, dict):
            raise ValueError(f"function {logical!r} has no POST route; its payload must be a JSON object event")
        return body
    return http_api_event(route, body)
