"""Payload limits and capped body reading shared by the Runtime API and the Invoke API."""

from __future__ import annotations

from aiohttp import web

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous request and response limit (6 MB)."""
MAX_EVENT_PAYLOAD_BYTES = 1024 * 1024
"""Lambda's asynchronous (Event) invocation limit (1 MB; the deprecated InvokeAsync keeps 256 KB)."""

_DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


async def read_capped(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes.

    An oversized body is still drained (up to 64 MB) so the client reads our 413 instead of a reset
    connection; the bytes past the limit are never kept in memory.
    """
    declared = request.content_length
    chunks: list[bytes] = []
    total = 0
    too_large = declared is not None and declared > limit
    async for chunk in request.content.iter_chunked(256 * 1024):
        total += len(chunk)
        if total > limit:
            too_large = True
        if too_large:
            chunks.clear()
            if total > _DRAIN_LIMIT_BYTES:
                break
            continue
        chunks.append(chunk)
    return None if too_large else b"".join(chunks)
