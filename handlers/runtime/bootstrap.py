"""The runtime's process: load the handler, run its init hook, then serve invocations until SIGTERM.

One event loop, one Runtime API client (one kept-alive HTTP session) and whatever clients the handler's
``init()`` made live for the whole process, so warm invocations reuse open connections. Exit codes:

- 0: SIGTERM/SIGINT, after the handler's ``shutdown()`` hook ran;
- 1: the handler could not be imported or its ``init()`` raised (reported on ``/runtime/init/error``);
- 2: the environment lacks ``AWS_LAMBDA_RUNTIME_API`` or ``_HANDLER`` (nothing to report to);
- 3: the Runtime API answered 5xx or stayed unreachable (its contract says: exit promptly);
- 64 / 65: SnapStart only, a before-snapshot / after-restore hook raised (reported on
  ``/runtime/init/error`` / ``/runtime/restore/error``; the codes awslambdaric uses).

With ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` the process has two event loops: the first runs
init and the before-snapshot hooks and is closed before ``/restore/next`` (see
``handlers.runtime.snapstart``), the second runs the after-restore hooks and serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers.metrics import emit as emit_metrics
from handlers.runtime import clock
from handlers.runtime import logging as runtime_logging
from handlers.runtime.context import FunctionInfo, LambdaContext
from handlers.runtime.errors import ResponseSizeTooLarge, RuntimeApiError
from handlers.runtime.keepwarm import EnvironmentStats, SelfInvoker, answer_keep_warm, is_keep_warm
from handlers.runtime.loader import LoadedHandler, add_task_root, call_hook, error_body, load_handler
from handlers.runtime.protocol import Answer, Invocation, RuntimeApi, deliver
from handlers.runtime.serialization import MAX_RESPONSE_BYTES, decode_event, encode_error, encode_response

EXIT_OK = 0
EXIT_INIT_ERROR = 1
EXIT_BAD_ENVIRONMENT = 2
EXIT_RUNTIME_API_ERROR = 3
EXIT_BEFORE_SNAPSHOT_ERROR = 64
EXIT_AFTER_RESTORE_ERROR = 65
#: The Runtime API transport: "streams" (raw asyncio, default) or "aiohttp" (one ClientSession). Streams
#: won on both figures that matter here (benchmarks/bench_runtime.py): no-op round trip within 1.1x of
#: awslambdaric's C++ client where aiohttp was 1.7-2x, and ~150 ms less cold start when the handler does
#: not import aiohttp itself. The aiohttp client stays selectable and tested.
DEFAULT_TRANSPORT = "streams"
#: How long the handler's ``shutdown()`` hook may take after SIGTERM (Lambda allows ~500 ms).
SHUTDOWN_GRACE_S = 0.5

log = logging.getLogger("handlers.runtime")


@dataclass(frozen=True)
class RuntimeSettings:
    """Where the Runtime API is and which handler to run, from the standard Lambda environment."""

    runtime_api: str
    handler: str
    task_root: str | None
    transport: str
    loop: str
    snap_start: bool = False

    @classmethod
    def from_environ(cls) -> RuntimeSettings | None:
        api, handler = os.environ.get("AWS_LAMBDA_RUNTIME_API"), os.environ.get("_HANDLER")
        if not api or not handler:
            return None
        transport = os.environ.get("FHR_RUNTIME_TRANSPORT", DEFAULT_TRANSPORT)
        loop = os.environ.get("FHR_RUNTIME_LOOP", "auto")
        snap_start = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"
        return cls(api, handler, os.environ.get("LAMBDA_TASK_ROOT"), transport, loop, snap_start)


def make_runtime_api(settings: RuntimeSettings) -> RuntimeApi:
    """The Runtime API client named by ``FHR_RUNTIME_TRANSPORT`` (``streams`` unless it says ``aiohttp``)."""
    if settings.transport == "aiohttp":
        from handlers.runtime.api import AiohttpRuntimeApi

        return AiohttpRuntimeApi(settings.runtime_api)
    from handlers.runtime.streams import StreamsRuntimeApi

    return StreamsRuntimeApi(settings.runtime_api)


class InvocationLoop:
    """Serves invocations one at a time; a failing invocation is reported and the loop goes on.

    ``busy`` is true from the moment an event arrives until its answer is accepted: SIGTERM then lets
    the invocation finish; while idle (waiting on ``/next``) SIGTERM stops the loop at once.
    """

    def __init__(self, api: RuntimeApi, handler: LoadedHandler, info: FunctionInfo) -> None:
        self.api = api
        self.handler = handler
        self.info = info
        self.stats = EnvironmentStats()
        self.invoker = SelfInvoker.from_environ()
        self.busy = False
        self.stopping = False
        self._task: asyncio.Task[None] | None = None

    async def serve(self) -> None:
        """``/next`` -> answer, until told to stop; a fatal Runtime API error propagates."""
        self._task = asyncio.current_task()  # type: ignore[assignment]
        if self.stopping:  # SIGTERM arrived before the loop started
            return
        invocation = await self.api.next_invocation()
        while True:
            self.busy = True
            answer = await self.process(invocation)
            if self.stopping:
                await deliver(self.api, answer, self.on_rejected)
                self.busy = False
                return
            invocation = await self.api.answer_then_next(answer, self.on_rejected, self.on_answered)

    def on_answered(self) -> None:
        self.busy = False
        clock.answered()
        if self.stopping and self._task is not None:
            self._task.cancel()  # SIGTERM came while busy: stop instead of waiting on /next

    def stop(self) -> None:
        """SIGTERM/SIGINT: stop now if idle, else once the current answer is accepted."""
        self.stopping = True
        if not self.busy and self._task is not None:
            self._task.cancel()

    async def process(self, invocation: Invocation) -> Answer:
        """Run one invocation to its answer; never raises for anything the handler or the event did."""
        clock.next_event()
        request_id = invocation.request_id
        runtime_logging.set_request_id(request_id)
        set_trace_id(invocation.trace_id)
        cold = self.stats.count_invocation()
        if cold:  # EMF: CloudWatch counts cold starts per function from this line
            emit_metrics({"ColdStarts": 1}, properties={"requestId": request_id})
        try:
            result = await self._run(invocation, cold)
            body, content_type = encode_response(result, MAX_RESPONSE_BYTES)
            return Answer(request_id, body, content_type)
        except Exception as exc:  # noqa: BLE001 - every handler failure becomes an error answer
            return error_answer(request_id, exc)
        finally:
            runtime_logging.set_request_id(None)

    async def _run(self, invocation: Invocation, cold: bool) -> Any:
        event = decode_event(invocation.body, invocation.content_type)
        if is_keep_warm(event):
            emit_metrics({"WarmPings": 1}, properties={"requestId": invocation.request_id})
            return await answer_keep_warm(event, self.stats, cold, self.invoker)
        context = LambdaContext(
            self.info,
            invocation.request_id,
            invocation.deadline_ms,
            invocation.invoked_function_arn,
            invocation.client_context,
            invocation.cognito_identity,
            invocation.tenant_id,
        )
        result = self.handler.function(event, context)
        if self.handler.is_async or asyncio.iscoroutine(result):
            result = await result
        return result

    def on_rejected(self, answer: Answer, error: RuntimeApiError) -> Answer | None:
        """A 4xx for an answer: a 413 on a response becomes a size error; anything else is logged."""
        if error.status == 413 and answer.error_type is None:
            too_large = ResponseSizeTooLarge(
                f"Response payload size ({len(answer.body)} bytes) exceeded maximum allowed payload size."
            )
            return error_answer(answer.request_id, too_large)
        log.warning("answer for %s not accepted: %s", answer.request_id, error)
        return None

    async def close(self) -> None:
        await self.invoker.close()


TRACE_ID_VARIABLE = "_X_AMZN_TRACE_ID"


def set_trace_id(trace_id: str | None) -> None:
    """Set ``_X_AMZN_TRACE_ID`` in ``os.environ`` for this invocation, without calling setenv(3).

    glibc's setenv keeps every distinct value ever set (by design, since old pointers may still be in
    use): with a new trace id per invocation that leaked ~110 bytes each, +0.8 MB RSS per 9 000
    invocations (benchmarks/bench_runtime.py, part d; awslambdaric has the same leak). So only the
    Python view of the environment is updated - what ``os.environ``/``os.getenv`` readers (X-Ray SDK,
    Powertools) see. Child processes inherit the C environment: pass ``env=os.environ`` to them.
    """
    data = getattr(os.environ, "_data", None)
    if not isinstance(data, dict):  # not CPython's os._Environ: fall back to the plain (leaky) way
        if trace_id:
            os.environ[TRACE_ID_VARIABLE] = trace_id
        else:
            os.environ.pop(TRACE_ID_VARIABLE, None)
        return
    key = os.environ.encodekey(TRACE_ID_VARIABLE)  # type: ignore[attr-defined]
    if trace_id:
        data[key] = os.environ.encodevalue(trace_id)  # type: ignore[attr-defined]
    else:
        data.pop(key, None)


def error_answer(request_id: str, exc: BaseException) -> Answer:
    """The error answer for ``exc`` (awslambdaric's body shape), logged as one structured line."""
    payload = error_body(exc, request_id)
    _log_error(payload)
    return Answer(request_id, encode_error(payload), error_type=payload["errorType"])


def _log_error(payload: dict[str, Any], prefix: str = "") -> None:
    log.error(
        "%s%s: %s",
        prefix,
        payload["errorType"],
        payload["errorMessage"],
        extra={"errorType": payload["errorType"], "stackTrace": payload["stackTrace"]},
    )


async def initialise(api: RuntimeApi, settings: RuntimeSettings) -> LoadedHandler | None:
    """Import the handler and run its ``init()``; on failure report ``/init/error`` and return ``None``."""
    try:
        add_task_root(settings.task_root)
        handler = load_handler(settings.handler)
        if handler.init is not None:
            await call_hook(handler.init)
        return handler
    except Exception as exc:  # noqa: BLE001 - any init failure is reported, then the process exits
        await _report_failure(exc, "init failed: ", api.post_init_error)
        return None


async def _report_failure(exc: BaseException, prefix: str, post: Callable[[bytes, str], Awaitable[None]]) -> None:
    """Log a failure before serving and post its body (a refused post changes nothing: the runtime exits)."""
    payload = error_body(exc)
    _log_error(payload, prefix=prefix)
    with contextlib.suppress(RuntimeApiError):
        await post(encode_error(payload), payload["errorType"])


async def run(settings: RuntimeSettings, handler: LoadedHandler | None = None) -> int:
    """Init (unless ``handler`` was initialised before a snapshot), then serve; returns the exit code."""
    api = make_runtime_api(settings)
    try:
        if handler is None:
            handler = await initialise(api, settings)
            if handler is None:
                return EXIT_INIT_ERROR
        else:
            code = await _after_restore(settings)
            if code != EXIT_OK:
                return code
        loop = InvocationLoop(api, handler, FunctionInfo.from_environ())
        code = await _serve_until_signal(loop)
        await _shutdown(loop)
        return code
    finally:
        await api.close()


async def prepare_snapshot(settings: RuntimeSettings) -> tuple[LoadedHandler | None, int]:
    """SnapStart, before the snapshot: init, then the before-snapshot hooks; the Runtime API connection
    is closed before returning (with the event loop, by the caller)."""
    from handlers.runtime import snapstart

    api = make_runtime_api(settings)
    try:
        handler = await initialise(api, settings)
        if handler is None:
            return None, EXIT_INIT_ERROR
        try:
            await snapstart.run_before_snapshot()
        except snapstart.BeforeSnapshotError as exc:
            await _report_failure(exc, "before-snapshot hook failed: ", api.post_init_error)
            return None, EXIT_BEFORE_SNAPSHOT_ERROR
        return handler, EXIT_OK
    finally:
        await api.close()


async def _after_restore(settings: RuntimeSettings) -> int:
    """SnapStart, in each restored environment: the after-restore hooks (a failure is reported and fatal)."""
    from handlers.runtime import snapstart

    async def post_restore_error(body: bytes, _error_type: str) -> None:
        await asyncio.to_thread(snapstart.report_restore_error, settings.runtime_api, body)

    try:
        await snapstart.run_after_restore()
    except snapstart.AfterRestoreError as exc:
        await _report_failure(exc, "after-restore hook failed: ", post_restore_error)
        return EXIT_AFTER_RESTORE_ERROR
    return EXIT_OK


async def _serve_until_signal(loop: InvocationLoop) -> int:
    """Serve until SIGTERM/SIGINT: an idle loop (waiting on ``/next``) stops at once, a busy one after posting."""
    serving = asyncio.ensure_future(loop.serve())
    event_loop = asyncio.get_running_loop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        event_loop.add_signal_handler(signum, loop.stop)
    try:
        await serving
    except asyncio.CancelledError:
        if not loop.stopping:
            raise
    except RuntimeApiError as exc:
        log.error("Runtime API failure, exiting: %s", exc, extra={"errorType": exc.error_type})
        return EXIT_RUNTIME_API_ERROR
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            event_loop.remove_signal_handler(signum)
    return EXIT_OK


async def _shutdown(loop: InvocationLoop) -> None:
    hook = loop.handler.shutdown
    if hook is not None and loop.stopping:
        try:
            await asyncio.wait_for(call_hook(hook), SHUTDOWN_GRACE_S)
        except Exception:  # noqa: BLE001 - a failing shutdown hook must not change the exit code
            log.exception("shutdown hook failed")
    await loop.close()


def main() -> int:
    """Entry point of ``python -m handlers.runtime``."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    runtime_logging.configure()
    settings = RuntimeSettings.from_environ()
    if settings is None:
        log.error("AWS_LAMBDA_RUNTIME_API and _HANDLER must be set")
        return EXIT_BAD_ENVIRONMENT
    handler = None
    if settings.snap_start:
        with asyncio.Runner(loop_factory=_loop_factory(settings.loop)) as runner:
            handler, code = runner.run(prepare_snapshot(settings))
        if handler is None:
            return code
        restored = _wait_for_restore(settings)
        if restored is None:
            return EXIT_RUNTIME_API_ERROR
        settings = restored
    with asyncio.Runner(loop_factory=_loop_factory(settings.loop)) as runner:
        return runner.run(run(settings, handler))


def _wait_for_restore(settings: RuntimeSettings) -> RuntimeSettings | None:
    """Block on ``/restore/next`` with no event loop alive; the settings of the restored environment."""
    from handlers.runtime import snapstart

    try:
        snapstart.wait_for_restore(settings.runtime_api)
    except RuntimeApiError as exc:
        log.error("Runtime API failure while waiting for restore, exiting: %s", exc)
        return None
    return RuntimeSettings.from_environ() or settings


def _loop_factory(name: str) -> Any:
    """The event loop: ``auto`` (default) is uvloop when it is installed, else asyncio's own;
    ``uvloop`` and ``asyncio`` force one. uvloop cut the runtime's CPU per invocation by about a third and
    brought the no-op round trip under awslambdaric's (benchmarks/bench_runtime.py)."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            log.warning("FHR_RUNTIME_LOOP=uvloop but uvloop is not installed; using asyncio's loop")
        return None
    return uvloop.new_event_loop
