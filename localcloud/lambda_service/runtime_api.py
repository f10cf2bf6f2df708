"""A Lambda Runtime API (2018-06-01) server for ONE execution environment, on aiohttp.

The Runtime API names no function in its paths, so every worker process gets its own server (its own
``127.0.0.1:port`` in ``AWS_LAMBDA_RUNTIME_API``), exactly as each Lambda execution environment has its
own RAPID endpoint. The server is usable on its own (the runtime's tests drive it directly):

    server = RuntimeApiServer(function_arn="arn:aws:lambda:...:function:f")
    await server.start()                     # server.address -> "127.0.0.1:PORT"
    outcome = await server.invoke(b'{"x": 1}', timeout_s=3)
    outcome.error_type, outcome.payload      # None + response, or the runtime's error type + error body

Behaviour follows AWS's RAPID: ``/next`` long-polls until an event is queued; ``/response`` answers 202
(413 above 6 MB, and the caller then gets ``Function.ResponseSizeTooLarge``); ``/error`` and
``/init/error`` take ``Lambda-Runtime-Function-Error-Type`` and a JSON error body; an unknown request id
is 400 ``InvalidRequestID``; a second answer for the same id, or an init error after the first ``/next``,
is 403 ``InvalidStateTransition``. ``fail_next`` makes the server answer 5xx on purpose so a runtime can
prove it survives a broken Runtime API. ``on_waiting`` is called when the runtime parks on ``/next``
with nothing queued and every event answered: the moment Lambda freezes an environment (the worker
uses it to do the same); ``on_delivered`` once an event is written to the runtime (to thaw it).

SnapStart: ``GET /restore/next`` (the runtime waits there while the snapshot is taken) is answered 200
once the owner calls ``restore()`` (at once with ``restore_at_once=True``, for environments that are
already restored copies); ``POST /restore/error`` records an after-restore failure in ``restore_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from localcloud.lambda_service.payloads import MAX_PAYLOAD_BYTES, read_capped

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
RESPONSE_TOO_LARGE_TYPE = "Function.ResponseSizeTooLarge"
FaultRoute = Literal["next", "response", "error", "init_error", "restore_next", "restore_error"]


@dataclass(frozen=True)
class InvocationOutcome:
    """What the runtime answered for one invocation: a response (``error_type`` None) or an error body."""

    payload: bytes
    error_type: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error_type is not None


@dataclass(frozen=True)
class InitError:
    """The body and type the runtime posted to ``/runtime/init/error`` before exiting."""

    payload: bytes
    error_type: str


def _new_future() -> asyncio.Future[InvocationOutcome]:
    return asyncio.get_running_loop().create_future()


@dataclass
class Invocation:
    """One event handed to the runtime; ``outcome`` resolves when the runtime answers (or is killed)."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None
    outcome: asyncio.Future[InvocationOutcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    delivered_at: float | None = None

    def headers(self) -> dict[str, str]:
        """The ``/next`` response headers AWS sends with an event."""
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
            "Content-Type": "application/json",
        }
        if self.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        if self.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = self.cognito_identity
        return headers

    def settle(self, outcome: InvocationOutcome) -> bool:
        """Resolve the outcome once; later answers (after a timeout, say) are ignored."""
        if self.outcome.done():
            return False
        self.outcome.set_result(outcome)
        return True


def new_trace_id() -> str:
    """An X-Ray style trace header value, as AWS puts in ``Lambda-Runtime-Trace-Id``."""
    epoch_hex = f"{int(time.time()):08x}"
    return f"Root=1-{epoch_hex}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _error_response(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorMessage": message, "errorType": error_type}, status=status)


# Events up to this size fit in loopback's socket buffers, so they can be written in full to a frozen
# runtime before it is thawed (it then wakes once, to a ready event); larger ones thaw it first.
THAW_AFTER_WRITE_MAX_BYTES = 64 * 1024


class RuntimeApiServer:
    """The Runtime API of one execution environment: a queue of events and their pending outcomes."""

    def __init__(
        self,
        *,
        function_arn: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_response_bytes: int = MAX_PAYLOAD_BYTES,
        on_waiting: Callable[[], None] | None = None,
        on_delivered: Callable[[], None] | None = None,
        restore_at_once: bool = False,
    ) -> None:
        self.function_arn = function_arn
        self._on_waiting = on_waiting
        self._on_delivered = on_delivered
        self.deliveries = 0
        self.host = host
        self._port = port
        self.max_response_bytes = max_response_bytes
        self._queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self._in_flight: dict[str, Invocation] = {}
        self._answered: deque[str] = deque(maxlen=64)
        self._faults: dict[str, deque[int]] = {}
        self._runner: web.AppRunner | None = None
        self._polls_waiting: set[asyncio.Task[object]] = set()
        self.first_poll = asyncio.Event()
        self.first_poll_at: float | None = None
        self.init_error: asyncio.Future[InitError] = asyncio.get_running_loop().create_future()
        self.polls = 0
        self.restore_requested = asyncio.Event()  # the runtime is waiting on /restore/next: snapshot time
        self._restored = asyncio.Event()
        if restore_at_once:
            self._restored.set()
        self.restore_error: asyncio.Future[InitError] = asyncio.get_running_loop().create_future()

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_PAYLOAD_BYTES * 4)
        prefix = API_PREFIX
        app.router.add_get(f"{prefix}/invocation/next", self._next)
        app.router.add_post(f"{prefix}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{prefix}/invocation/{{request_id}}/error", self._error)
        app.router.add_post(f"{prefix}/init/error", self._init_error)
        app.router.add_get(f"{prefix}/restore/next", self._restore_next)
        app.router.add_post(f"{prefix}/restore/error", self._restore_error)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the server; events still pending resolve with nothing (their owner decides what it means).

        Long polls still parked on ``/next`` are cancelled first, so no request task outlives the server.
        """
        for task in list(self._polls_waiting):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def waiting_idle(self) -> bool:
        """The runtime is parked on ``/next`` with every event answered and none queued."""
        return bool(self._polls_waiting) and self._queue.empty() and not self._in_flight

    @property
    def address(self) -> str:
        """``host:port`` for ``AWS_LAMBDA_RUNTIME_API``."""
        return f"{self.host}:{self._port}"

    # -- the owner's side ----------------------------------------------------------------------------
    def submit(
        self,
        payload: bytes,
        *,
        timeout_s: float,
        request_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        trace_id: str | None = None,
    ) -> Invocation:
        """Queue an event for the runtime's next ``/next``; await ``invocation.outcome`` for its answer."""
        invocation = Invocation(
            request_id=request_id or str(uuid.uuid4()),
            payload=payload,
            deadline_ms=int((time.time() + timeout_s) * 1000),
            function_arn=self.function_arn,
            trace_id=trace_id or new_trace_id(),
            client_context=client_context,
            cognito_identity=cognito_identity,
        )
        self._in_flight[invocation.request_id] = invocation
        self._queue.put_nowait(invocation)
        return invocation

    async def invoke(self, payload: bytes, *, timeout_s: float = 30.0, **kwargs: str | None) -> InvocationOutcome:
        """Submit an event and wait for the runtime's answer (no timeout enforcement: the caller owns that)."""
        invocation = self.submit(payload, timeout_s=timeout_s, **kwargs)  # type: ignore[arg-type]
        return await invocation.outcome

    def abandon(self, invocation: Invocation) -> None:
        """Forget an invocation whose environment was killed: a late answer for it is then a 400."""
        self._in_flight.pop(invocation.request_id, None)

    def restore(self) -> None:
        """Answer the runtime's ``/restore/next`` (now, or as soon as it asks): it is a restored environment."""
        self._restored.set()

    def fail_next(self, route: FaultRoute, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests on ``route`` with ``status`` (a broken Runtime API, for tests)."""
        self._faults.setdefault(route, deque()).extend([status] * times)

    def _injected_fault(self, route: FaultRoute) -> web.Response | None:
        pending = self._faults.get(route)
        if not pending:
            return None
        status = pending.popleft()
        return _error_response(status, "ServiceException", f"injected fault on {route}")

    # -- the runtime's side ----------------------------------------------------------------------------
    async def _next(self, request: web.Request) -> web.StreamResponse:
        self.polls += 1
        if not self.first_poll.is_set():
            self.first_poll_at = time.perf_counter()
            self.first_poll.set()
        fault = self._injected_fault("next")
        if fault is not None:
            return fault
        task = asyncio.current_task()
        assert task is not None
        self._polls_waiting.add(task)
        try:
            if self._on_waiting is not None and self.waiting_idle:
                self._on_waiting()  # every event answered and accepted: the environment may freeze
            invocation = await self._queue.get()
        finally:
            self._polls_waiting.discard(task)
        invocation.delivered_at = time.perf_counter()
        self.deliveries += 1
        response = web.Response(body=invocation.payload, headers=invocation.headers())
        if self._on_delivered is None:
            return response
        if len(invocation.payload) > THAW_AFTER_WRITE_MAX_BYTES:
            # A frozen runtime cannot read: an event larger than the socket buffers would never finish
            # writing, so it is woken first and reads the event as it arrives.
            self._on_delivered()
            return response
        await response.prepare(request)  # the event is on its way before the runtime is woken: it
        await response.write_eof()  # wakes once, to a ready event (a frozen one is thawed just now)
        self._on_delivered()
        return response

    def _pending(self, request_id: str) -> Invocation | web.Response:
        invocation = self._in_flight.get(request_id)
        if invocation is not None:
            return invocation
        if request_id in self._answered:
            return _error_response(403, "InvalidStateTransition", f"request {request_id} was already answered")
        return _error_response(400, "InvalidRequestID", f"unknown request id {request_id}")

    def _finish(self, invocation: Invocation, outcome: InvocationOutcome) -> None:
        self._in_flight.pop(invocation.request_id, None)
        self._answered.append(invocation.request_id)
        invocation.settle(outcome)

    async def _response(self, request: web.Request) -> web.Response:
        fault = self._injected_fault("response")
        if fault is not None:
            return fault
        found = self._pending(request.match_info["request_id"])
        if isinstance(found, web.Response):
            return found
        body = await read_capped(request, self.max_response_bytes)
        if body is None:
            message = f"Response payload size exceeded maximum allowed payload size ({self.max_response_bytes} bytes)."
            error = json.dumps({"errorMessage": message, "errorType": RESPONSE_TOO_LARGE_TYPE}).encode()
            self._finish(found, InvocationOutcome(error, RESPONSE_TOO_LARGE_TYPE))
            return _error_response(413, "RequestEntityTooLarge", message)
        self._finish(found, InvocationOutcome(body))
        return web.json_response({"status": "OK"}, status=202)

    async def _error(self, request: web.Request) -> web.Response:
        fault = self._injected_fault("error")
        if fault is not None:
            return fault
        found = self._pending(request.match_info["request_id"])
        if isinstance(found, web.Response):
            return found
        body = await read_capped(request, self.max_response_bytes) or b""
        error_type = request.headers.get(ERROR_TYPE_HEADER) or _error_type_from(body) or "Unhandled"
        self._finish(found, InvocationOutcome(body, error_type))
        return web.json_response({"status": "OK"}, status=202)

    async def _init_error(self, request: web.Request) -> web.Response:
        late = self.first_poll.is_set() or self.init_error.done()
        return await self._record_failure(request, "init_error", self.init_error, late, "after initialisation finished")

    async def _record_failure(
        self, request: web.Request, route: FaultRoute, into: asyncio.Future[InitError], refused: bool, why: str
    ) -> web.Response:
        """An init or restore error: its body and ``errorType`` kept in ``into`` (once; later ones are 403)."""
        fault = self._injected_fault(route)
        if fault is not None:
            return fault
        if refused:
            return _error_response(403, "InvalidStateTransition", f"{route.replace('_', ' ')} {why}")
        body = await read_capped(request, self.max_response_bytes) or b""
        error_type = request.headers.get(ERROR_TYPE_HEADER) or _error_type_from(body) or "Runtime.Unknown"
        into.set_result(InitError(body, error_type))
        return web.json_response({"status": "OK"}, status=202)

    async def _restore_next(self, request: web.Request) -> web.Response:
        fault = self._injected_fault("restore_next")
        if fault is not None:
            return fault
        if self.first_poll.is_set():
            return _error_response(403, "InvalidStateTransition", "restore/next after the first invocation/next")
        self.restore_requested.set()
        task = asyncio.current_task()
        assert task is not None
        self._polls_waiting.add(task)
        try:
            await self._restored.wait()
        finally:
            self._polls_waiting.discard(task)
        return web.Response(status=200)

    async def _restore_error(self, request: web.Request) -> web.Response:
        done = self.restore_error.done()
        return await self._record_failure(request, "restore_error", self.restore_error, done, "already reported")


def _error_type_from(body: bytes) -> str | None:
    """The ``errorType`` inside an error body, for runtimes that omit the header."""
    with contextlib.suppress(ValueError, AttributeError):
        value = json.loads(body).get("errorType")
        return value if isinstance(value, str) else None
    return None
