"""Client of the Lambda Runtime API (2018-06-01) over one kept-alive aiohttp session.

One ``ClientSession`` lives for the process: the ``GET /next`` long poll has no client timeout (the
environment may be frozen between invocations) and the response/error posts reuse the same pooled
connection. Retry and exit semantics are in ``handlers.runtime.protocol``.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from handlers.runtime.errors import RuntimeApiError
from handlers.runtime.protocol import (
    API_VERSION,
    ERROR_TYPE_HEADER,
    Answer,
    Invocation,
    OnRejected,
    deliver,
    with_reconnect,
)

_TRANSIENT = (OSError, aiohttp.ClientError)


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

        return await with_reconnect("/runtime/invocation/next", attempt, _TRANSIENT, _is_stale_aiohttp)

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        url = f"{self._base}{path}"

        async def attempt() -> None:
            async with self._session.post(url, data=body, headers=headers) as resp:
                answer = await resp.read()
                if resp.status != 202:
                    raise RuntimeApiError(path, resp.status, answer)

        await with_reconnect(path, attempt, _TRANSIENT, _is_stale_aiohttp)

    async def answer(self, answer: Answer) -> None:
        await self._post(answer.path, answer.body, answer.headers())

    async def answer_then_next(
        self, answer: Answer, on_rejected: OnRejected, on_answered: Callable[[], None]
    ) -> Invocation:
        """Two requests in turn (aiohttp's client does not pipeline)."""
        await deliver(self, answer, on_rejected)
        on_answered()
        return await self.next_invocation()

    async def post_init_error(self, body: bytes, error_type: str) -> None:
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: error_type}
        await self._post("/init/error", body, headers)

    async def close(self) -> None:
        await self._session.close()


def _is_stale_aiohttp(exc: Exception) -> bool:
    return isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
