"""The Runtime API contract shared by both transports: an invocation, the client protocol, retries.

Failure semantics (the Runtime API contract, as AWS documents it):

- a 5xx from any endpoint is a "container error, non-recoverable": ``RuntimeApiError.fatal`` -> exit;
- a connection that cannot be made: retried with exponential backoff (``BACKOFF_DELAYS_S``), then fatal;
- a stale keep-alive connection dropped by the server: retried once at once, then as above;
- a 4xx on a post (400 bad payload, 403 invocation already answered or timed out, 413 too large) loses
  that invocation only; the caller decides (413 becomes ``Function.ResponseSizeTooLarge``).

This module imports no HTTP library, so the raw-streams transport starts without aiohttp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from handlers.runtime.errors import RuntimeApiError

API_VERSION = "2018-06-01"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
#: Delays between attempts when the Runtime API cannot be reached (about 3 s in all, then exit).
BACKOFF_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)

T = TypeVar("T")


@dataclass(slots=True)
class Invocation:
    """One event from ``GET /runtime/invocation/next`` with the headers the context is built from."""

    request_id: str
    body: bytes
    content_type: str | None
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str | None
    client_context: str | None
    cognito_identity: str | None
    tenant_id: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], body: bytes) -> Invocation:
        get = headers.get
        deadline = get("Lambda-Runtime-Deadline-Ms") or "0"
        return cls(
            request_id=get("Lambda-Runtime-Aws-Request-Id") or "",
            body=body,
            content_type=get("Content-Type"),
            deadline_ms=int(deadline) if deadline.isdigit() else 0,
            invoked_function_arn=get("Lambda-Runtime-Invoked-Function-Arn") or "",
            trace_id=get("Lambda-Runtime-Trace-Id"),
            client_context=get("Lambda-Runtime-Client-Context"),
            cognito_identity=get("Lambda-Runtime-Cognito-Identity"),
            tenant_id=get("Lambda-Runtime-Aws-Tenant-Id"),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """The runtime's answer to one invocation: a response body, or an error body and its ``errorType``."""

    request_id: str
    body: bytes
    content_type: str = "application/json"
    error_type: str | None = None

    @property
    def path(self) -> str:
        kind = "response" if self.error_type is None else "error"
        return f"/invocation/{self.request_id}/{kind}"

    def headers(self) -> dict[str, str]:
        if self.error_type is None:
            return {"Content-Type": self.content_type}
        return {"Content-Type": "application/json", ERROR_TYPE_HEADER: self.error_type}


#: Called when the Runtime API refuses an answer with a 4xx; may return a replacement answer
#: (a 413 on a response becomes a ``Function.ResponseSizeTooLarge`` error).
OnRejected = Callable[[Answer, RuntimeApiError], "Answer | None"]


class RuntimeApi(Protocol):
    """What the invocation loop needs from a Runtime API client (two transports implement it)."""

    async def next_invocation(self) -> Invocation: ...

    async def answer(self, answer: Answer) -> None: ...

    async def answer_then_next(
        self, answer: Answer, on_rejected: OnRejected, on_answered: Callable[[], None]
    ) -> Invocation:
        """Deliver ``answer`` (calling ``on_answered`` once it is accepted), then wait for the next event."""
        ...

    async def post_init_error(self, body: bytes, error_type: str) -> None: ...

    async def close(self) -> None: ...


async def deliver(api: RuntimeApi, answer: Answer, on_rejected: OnRejected) -> None:
    """Post ``answer``; a 5xx propagates (fatal), a 4xx goes to ``on_rejected`` and its replacement is posted."""
    try:
        await api.answer(answer)
    except RuntimeApiError as exc:
        if exc.fatal:
            raise
        replacement = on_rejected(answer, exc)
        if replacement is not None:
            try:
                await api.answer(replacement)
            except RuntimeApiError as again:
                if again.fatal:
                    raise
                on_rejected(replacement, again)


async def with_reconnect(
    endpoint: str,
    attempt: Callable[[], Awaitable[T]],
    transient: tuple[type[Exception], ...],
    is_stale: Callable[[Exception], bool],
) -> T:
    """Run ``attempt``; on a dropped keep-alive connection retry at once, on a refused one back off, then give up."""
    delays = iter(BACKOFF_DELAYS_S)
    stale_retried = False
    while True:
        try:
            return await attempt()
        except RuntimeApiError:
            raise
        except transient as exc:
            if is_stale(exc) and not stale_retried:
                stale_retried = True
                continue
            delay = next(delays, None)
            if delay is None:
                raise RuntimeApiError(endpoint, None, str(exc).encode()) from exc
            await asyncio.sleep(delay)
