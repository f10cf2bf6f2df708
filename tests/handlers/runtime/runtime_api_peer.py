"""A minimal Lambda Runtime API server: the test peer the runtimes run against.

It speaks the 2018-06-01 protocol exactly as AWS documents it (``/next`` long poll with the invocation
headers, 202 on response/error/init-error posts, 413 above 6 MB) and records what runtimes post, so a
test can drive our runtime and awslambdaric through the same server and compare. Used until (and
besides) the local Lambda service's own Runtime API server; it is a peer, not a fake of our code.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

MAX_PAYLOAD = 6 * 1024 * 1024


@dataclass
class Outcome:
    """What a runtime posted for one invocation (or for init)."""

    kind: str  # "response" | "error" | "init_error"
    body: bytes
    content_type: str | None
    error_type: str | None

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class _Pending:
    request_id: str
    body: bytes
    headers: dict[str, str]
    done: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class RuntimeApiPeer:
    """Serve one function's Runtime API on 127.0.0.1; ``invoke()`` queues an event and awaits the outcome."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._pending: dict[str, _Pending] = {}
        self.init_error: asyncio.Future[Outcome] | None = None
        self.next_calls = 0
        self.next_failure_status: int | None = None  # answer /next with this status (e.g. 500)
        self.first_next_at: float | None = None  # perf_counter of the first /next
        self.max_payload = MAX_PAYLOAD  # a smaller limit makes the server answer 413 sooner
        self.chunked_events = False  # send /next bodies with Transfer-Encoding: chunked
        self.close_after_answer = False  # answer posts with Connection: close (drops pipelined requests)
        self.answer_failure_status: int | None = None  # answer response/error posts with this status (e.g. 500)
        self.answer_posts = 0
        self._runner: web.AppRunner | None = None
        self.address = ""

    async def start(self) -> str:
        self.init_error = asyncio.get_running_loop().create_future()
        app = web.Application(client_max_size=MAX_PAYLOAD * 4)
        base = "/2018-06-01/runtime"
        app.router.add_get(f"{base}/invocation/next", self._next)
        app.router.add_post(f"{base}/invocation/{{rid}}/response", self._response)
        app.router.add_post(f"{base}/invocation/{{rid}}/error", self._error)
        app.router.add_post(f"{base}/init/error", self._init_error)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def invoke(
        self, event: bytes | object, headers: dict[str, str] | None = None, timeout: float = 20.0
    ) -> Outcome:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        pending = _Pending(str(uuid.uuid4()), body, headers or {})
        self._pending[pending.request_id] = pending
        await self._queue.put(pending)
        return await asyncio.wait_for(pending.done, timeout)

    async def init_failure(self, timeout: float = 15.0) -> Outcome:
        assert self.init_error is not None
        return await asyncio.wait_for(self.init_error, timeout)

    def fail_next(self, status: int) -> None:
        self.next_failure_status = status

    async def _next(self, request: web.Request) -> web.StreamResponse:
        self.next_calls += 1
        if self.first_next_at is None:
            self.first_next_at = time.perf_counter()
        if self.next_failure_status is not None:
            return web.Response(status=self.next_failure_status, text='{"errorMessage":"injected"}')
        pending = await self._queue.get()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": pending.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:123456789012:function:peer-fn",
            "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            "Content-Type": "application/json",
            **pending.headers,
        }
        headers = {name: value for name, value in headers.items() if value is not None}  # None: header omitted
        if not self.chunked_events:
            return web.Response(body=pending.body, headers=headers)
        stream = web.StreamResponse(headers=headers)
        stream.enable_chunked_encoding()
        await stream.prepare(request)
        for start in range(0, len(pending.body), 7):  # many small chunks
            await stream.write(pending.body[start : start + 7])
        await stream.write_eof()
        return stream

    def _settle(self, request: web.Request, outcome: Outcome) -> web.Response:
        self.answer_posts += 1
        if self.answer_failure_status is not None:
            return web.json_response({"errorType": "InjectedFailure"}, status=self.answer_failure_status)
        pending = self._pending.pop(request.match_info["rid"], None)
        if pending is None:
            return web.json_response({"errorType": "InvalidRequestID"}, status=400)
        pending.done.set_result(outcome)
        response = web.json_response({"status": "OK"}, status=202)
        if self.close_after_answer:
            response.force_close()
        return response

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > self.max_payload:
            return web.json_response({"errorType": "RequestEntityTooLarge"}, status=413)
        return self._settle(request, Outcome("response", body, request.content_type, None))

    async def _error(self, request: web.Request) -> web.Response:
        body = await request.read()
        error_type = request.headers.get("Lambda-Runtime-Function-Error-Type")
        return self._settle(request, Outcome("error", body, request.content_type, error_type))

    async def _init_error(self, request: web.Request) -> web.Response:
        body = await request.read()
        error_type = request.headers.get("Lambda-Runtime-Function-Error-Type")
        assert self.init_error is not None
        if not self.init_error.done():
            self.init_error.set_result(Outcome("init_error", body, request.content_type, error_type))
        return web.json_response({"status": "OK"}, status=202)
