"""A real aiohttp server on 127.0.0.1 standing in for a stack's API front door.

It is a peer for the load engine, not a copy of our API: it answers with scripted statuses so the
tests can check counting, retries and job following against real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web


@dataclass
class Script:
    """How the test server behaves; tests mutate it before the run."""

    delay_s: float = 0.0
    fail_first: int = 0  # answer 429 to this many requests first
    always_status: int | None = None
    job_polls_until_done: int = 2
    hits: int = 0
    max_in_flight: int = 0
    in_flight: int = 0
    paths: list[str] = field(default_factory=list)
    job_polls: int = 0


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, Script]]:
    script = Script()

    async def fhr(request: web.Request) -> web.Response:
        script.hits += 1
        arrival = script.hits
        script.in_flight += 1
        script.max_in_flight = max(script.max_in_flight, script.in_flight)
        script.paths.append(request.path_qs)
        try:
            await asyncio.sleep(script.delay_s)
            if script.always_status is not None:
                return web.json_response({"code": "scripted"}, status=script.always_status)
            if arrival <= script.fail_first:
                return web.json_response({"message": "Too Many Requests"}, status=429)
            if request.query.get("filename", "").endswith("long.csv"):
                return web.json_response({"jobId": "j1", "location": "/fhr/jobs/j1"}, status=202)
            headers = {"x-fhr-cold-start": "true"} if arrival == 1 else {}
            return web.json_response({"fhr": {}}, headers=headers)
        finally:
            script.in_flight -= 1

    async def job(request: web.Request) -> web.Response:
        script.job_polls += 1
        state = "done" if script.job_polls >= script.job_polls_until_done else "pending"
        return web.json_response({"jobId": request.match_info["id"], "status": state})

    async def items(request: web.Request) -> web.Response:
        body = await request.json()
        script.hits += 1
        return web.json_response({"operation": body["operation"], "items": []})

    app = web.Application()
    app.router.add_get("/fhr", fhr)
    app.router.add_get("/fhr/jobs/{id}", job)
    app.router.add_post("/DynamoDBManager", items)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", script
    finally:
        await runner.cleanup()


def _outputs_for(api_url: str) -> dict[str, object]:
    return {
        "api_url": api_url,
        "ecg_bucket": "fhr-test-ecg",
        "results_table": "fhr-test-results_table",
        "items_table": "fhr-test-items_table",
        "functions": {"fhr": "fhr-test-fhr", "items": "fhr-test-items"},
        "region": "eu-west-1",
        "stage": "dev",
    }


@pytest.fixture
def outputs_for():  # type: ignore[no-untyped-def]
    """Builds a stack-outputs document pointing at a given API URL."""
    return _outputs_for


@pytest.fixture
def write_outputs():  # type: ignore[no-untyped-def]
    def write(path, api_url: str) -> None:  # type: ignore[no-untyped-def]
        path.write_text(json.dumps(_outputs_for(api_url)))

    return write
