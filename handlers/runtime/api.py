"""Client of the Lambda Runtime API (2018-06-01) over one kept-alive aiohttp session.

One ``ClientSession`` lives for the process: the ``GET /next`` long poll has no client timeout (the
environment may be frozen between invocations) and the response/error posts reuse the same pooled
connection. Failure semantics (the Runtime API contract, as AWS documents it):

- a 5xx from any endpoint is a "container error, non-recoverable": ``RuntimeApiError.fatal`` -> exit;
- a connection that cannot be made: retried with exponential backoff (``BACKOFF_DELAYS_S``), then fatal;
- a stale keep-alive connection dropped by the server: retried once at once, then as above;
- a 4xx on a post (400 bad payload, 403 invocation already answered or timed out, 413 too large) loses
  that invocation only; the caller decides (413 becomes ``Function.ResponseSizeTooLarge``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiohttp

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
    def from_headers(cls, headers: dict[str, str] | aiohttp.typedefs.LooseHeaders, body: bytes) -> Invocation:
        get = headers.get  # type: ignore[union-attr]
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


class RuntimeApi(Protocol):
    """What the invocation loop needs from a Runtime API client (two transports implement it)."""

    async def next_invocation(self) -> Invocation: ...

    async def post_response(self, request_id: str, body: bytes, content_type: str) -> None: ...

    async def post_error(self, request_id: str, body: bytes, error_type: str) -> None: ...

    async def post_init_error(self, body: bytes, error_type: str) -> None: ...

    async def close(self) -> None: ...


async def with_reconnect(
    endpoint: str, attempt: Callable[[], Awaitable[T]], is_stale: Callable[[Exception], bool]
) -> T:
    """Run ``attempt``; on a dropped keep-alive connection retry at once, on a refused one back off, then give up."""
    delays = iter(BACKOFF_DELAYS_S)
    stale_retried = False
    while True:
        try:
            return await attempt()
        except RuntimeApiError:
            raise
        except (OSError, aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            if is_stale(exc) and not stale_retried:
                stale_retried = True
                continue
            delay = next(delays, None)
            if delay is None:
                raise RuntimeApiError(endpoint, None, str(exc).encode()) from exc
            await asyncio.sleep(delay)


class AiohttpRuntimeApi:
    """The Runtime API over one ``aiohttp.ClientSession`` kept for the life of the process."""

    def __init__(self, address: str, session: aiohttp.ClientSession | None = None) -> None:
        self._base = f"http://{address}/{API_VERSION}/runtime"
        self._session = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),  # /next may wait for hours
            connector=aiohttp.TCPConnector(limit=4, keepalive_timeout=3600, ttl_dns_cache=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def next_invocation(self) -> Invocation:
        url = f"{self._base}/invocation/next"

        async def attempt() -> Invocation:
            async with self._session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeApiError("/runtime/invocation/next", resp.status, body)
                return Invocation.from_headers(resp.headers, body)

        return await with_reconnect("/runtime/invocation/next", attempt, _is_stale_aiohttp)

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        url = f"{self._base}{path}"

        async def attempt() -> None:
            async with self._session.post(url, data=body, headers=headers) as resp:
                answer = await resp.read()
                if resp.status != 202:
                    raise RuntimeApiError(path, resp.status, answer)

        await with_reconnect(path, attempt, _is_stale_aiohttp)

    async def post_response(self, request_id: str, body: bytes, content_type: str) -> None:
        await self._post(f"/invocation/{request_id}/response", body, {"Content-Type": content_type})

    async def post_error(self, request_id: str, body: bytes, error_type: str) -> None:
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: error_type}
        await self._post(f"/invocation/{request_id}/error", body, headers)

    async def post_init_error(self, body: bytes, error_type: str) -> None:
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: error_type}
        await self._post("/init/error", body, headers)

    async def close(self) -> None:
        await self._session.close()


def _is_stale_aiohttp(exc: Exception) -> bool:
    return isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
