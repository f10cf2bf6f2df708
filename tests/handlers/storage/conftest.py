"""S3 fixtures: a real aioboto3 client on the shared moto server, and a faulty proxy in front of it.

The proxy is a real aiohttp server on 127.0.0.1 that forwards every request to moto, except that
it can answer the first N requests with a 503 SlowDown or drop their connection, cut chosen
responses off halfway through their body, and run a hook before forwarding request K (to
overwrite the object mid-read). It also logs each request,
so a test can prove that nothing was downloaded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aioboto3
import pytest
from aiohttp import ClientSession, web
from botocore.config import Config

REGION = "eu-west-1"
_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class FaultyProxy:
    upstream: str
    fail_first: int = 0
    failure: str = "503"  # or "reset": close the connection without answering
    hooks: dict[int, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    truncate: set[int] = field(default_factory=set)  # requests whose body is cut in half, then the connection
    log: list[tuple[str, str, str | None]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        number = len(self.log)
        self.log.append((request.method, request.path, request.headers.get("Range")))
        if number < self.fail_first:
            if self.failure == "reset":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            return web.Response(status=503, body=_SLOW_DOWN, content_type="application/xml")
        if number in self.hooks:
            await self.hooks[number]()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with (
            ClientSession() as session,
            session.request(
                request.method,
                self.upstream + request.path_qs,
                headers=headers,
                data=await request.read(),
                auto_decompress=False,
            ) as upstream,
        ):
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS}
            if request.method == "HEAD":  # no body, but the object's size is the answer
                out["Content-Length"] = upstream.headers.get("Content-Length", "0")
                return web.Response(status=upstream.status, headers=out)
            if number in self.truncate:
                out["Content-Length"] = str(len(body))
                response = web.StreamResponse(status=upstream.status, headers=out)
                await response.prepare(request)
                await response.write(body[: len(body) // 2])
                assert request.transport is not None
                request.transport.close()
                return response
            return web.Response(status=upstream.status, body=body, headers=out)


def _client_config() -> Config:
    # botocore's own retries off: every retry the tests see is ours.
    return Config(region_name=REGION, retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)


@pytest.fixture
async def s3(moto_endpoint: str) -> AsyncIterator[object]:
    async with aioboto3.Session().client("s3", endpoint_url=moto_endpoint, config=_client_config()) as client:
        yield client


@pytest.fixture
async def bucket(s3) -> str:
    name = f"ecg-{uuid.uuid4().hex[:12]}"
    await s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


@pytest.fixture
async def proxy(moto_endpoint: str) -> AsyncIterator[FaultyProxy]:
    faulty = FaultyProxy(upstream=moto_endpoint)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", faulty.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    faulty.url = f"http://127.0.0.1:{port}"
    try:
        yield faulty
    finally:
        await runner.cleanup()


@pytest.fixture
async def proxied_s3(proxy: FaultyProxy) -> AsyncIterator[object]:
    async with aioboto3.Session().client("s3", endpoint_url=proxy.url, config=_client_config()) as client:
        yield client
