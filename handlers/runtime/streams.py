"""Client of the Lambda Runtime API over one raw asyncio stream (HTTP/1.1 keep-alive, no aiohttp).

Why not only aiohttp: the Runtime API is a loopback peer speaking a tiny, fixed subset of HTTP/1.1,
and a runtime's overhead is two requests per invocation. aiohttp's general client costs ~0.2 s of
imports at cold start (its SSL contexts alone ~40 ms) and a few hundred microseconds of Python per
request. This client writes each request in one ``write`` on a single kept-alive connection and parses
exactly what the Runtime API sends (status line, headers, ``Content-Length`` or chunked body).
It is the default transport (``FHR_RUNTIME_TRANSPORT=aiohttp`` selects the other); retries and exit
semantics are the shared ones (``handlers.runtime.protocol``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

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

_TRANSIENT = (OSError, asyncio.IncompleteReadError, EOFError)
_JOIN_LIMIT = 64 * 1024


class _Headers(dict[str, str]):
    """Response headers keyed in lower case; ``get`` is case-insensitive."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


class StreamsRuntimeApi:
    """The Runtime API over one kept-alive TCP connection (reopened if the server drops it)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host, self._port = host or "127.0.0.1", int(port)
        self._prefix = f"/{API_VERSION}/runtime"
        self._host_header = address.encode("latin-1")
        self._next_head = self._head("GET", "/invocation/next", b"")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is not None and self._writer is not None and not self._writer.is_closing():
            return self._reader, self._writer
        opening = asyncio.open_connection(self._host, self._port, limit=1 << 20)
        reader, writer = await asyncio.wait_for(opening, 5)
        self._reader, self._writer = reader, writer
        return reader, writer

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _exchange(self, request: bytes, body: bytes) -> tuple[int, _Headers, bytes]:
        reader, writer = await self._connection()
        try:
            _write(writer, request, body)
            await writer.drain()
            status, headers = await _read_head(reader)
            payload = await _read_body(reader, headers)
        except BaseException:
            self._drop()
            raise
        if (headers.get("connection") or "").lower() == "close":
            self._drop()
        return status, headers, payload

    def _head(self, method: str, path: str, body: bytes, extra: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {self._prefix}{path} HTTP/1.1", f"Host: {self._host_header.decode()}"]
        if method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        for name, value in (extra or {}).items():
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _request(self, method: str, path: str, body: bytes, expected: int, extra: dict[str, str] | None = None):
        head = self._head(method, path, body, extra)

        async def attempt() -> tuple[_Headers, bytes]:
            status, headers, payload = await self._exchange(head, body)
            if status != expected:
                raise RuntimeApiError(path, status, payload)
            return headers, payload

        return await with_reconnect(path, attempt, _TRANSIENT, _is_stale)

    async def next_invocation(self) -> Invocation:
        headers, body = await self._request("GET", "/invocation/next", b"", 200)
        return Invocation.from_headers(headers, body)

    async def answer(self, answer: Answer) -> None:
        await self._request("POST", answer.path, answer.body, 202, answer.headers())

    async def answer_then_next(
        self, answer: Answer, on_rejected: OnRejected, on_answered: Callable[[], None]
    ) -> Invocation:
        """Pipeline the answer and the next ``GET /next`` in one write (HTTP/1.1 pipelining).

        The server handles them in order, so this is the same exchange as two requests in turn, minus one
        write and one event-loop wake-up per invocation. If the answer is refused with a 4xx, the
        replacement answer (if any) goes over a second, short-lived connection, since this one is then
        already waiting on ``/next``. If the connection breaks mid-way, it falls back to two requests.
        """
        head = self._head("POST", answer.path, answer.body, answer.headers())
        try:
            reader, writer = await self._connection()
            _write(writer, head, answer.body, self._next_head)
            await writer.drain()
            status, headers = await _read_head(reader)
            payload = await _read_body(reader, headers)
        except _TRANSIENT:
            self._drop()
            await deliver(self, answer, on_rejected)  # a duplicate of an answer that did arrive is a 4xx
            on_answered()
            return await self.next_invocation()
        if status != 202:
            await self._rejected(answer, RuntimeApiError(answer.path, status, payload), on_rejected)
        on_answered()
        if (headers.get("connection") or "").lower() == "close":  # the pipelined GET was not read
            self._drop()
            return await self.next_invocation()
        return await self._pipelined_next(reader)

    async def _rejected(self, answer: Answer, error: RuntimeApiError, on_rejected: OnRejected) -> None:
        if error.fatal:
            self._drop()
            raise error
        replacement = on_rejected(answer, error)
        if replacement is not None:
            side = StreamsRuntimeApi(f"{self._host}:{self._port}")
            try:
                await deliver(side, replacement, on_rejected)
            finally:
                await side.close()

    async def _pipelined_next(self, reader: asyncio.StreamReader) -> Invocation:
        try:
            status, headers = await _read_head(reader)
            body = await _read_body(reader, headers)
        except _TRANSIENT:
            self._drop()
            return await self.next_invocation()
        if (headers.get("connection") or "").lower() == "close":
            self._drop()
        if status != 200:
            raise RuntimeApiError("/invocation/next", status, body)
        return Invocation.from_headers(headers, body)

    async def post_init_error(self, body: bytes, error_type: str) -> None:
        extra = {"Content-Type": "application/json", ERROR_TYPE_HEADER: error_type}
        await self._request("POST", "/init/error", body, 202, extra)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, _Headers]:
    """Status and headers, read in one ``readuntil`` (one wake-up, not one per header line)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise EOFError("Runtime API closed the connection") from None
        raise
    except asyncio.LimitOverrunError:
        raise RuntimeApiError("(response)", None, b"response head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise RuntimeApiError("(response)", None, lines[0].encode("latin-1"))
    headers = _Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: _Headers) -> bytes:
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length)) if int(length) else b""
    if (headers.get("transfer-encoding") or "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()  # the blank line after the last chunk (no trailers expected)
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readline()
    return b""


def _write(writer: asyncio.StreamWriter, head: bytes, body: bytes, tail: bytes = b"") -> None:
    """One ``write`` (one syscall) for small requests; big bodies are not copied into a joined buffer."""
    if len(body) < _JOIN_LIMIT:
        writer.write(head + body + tail if tail else head + body)
    else:
        writer.writelines((head, body, tail))


def _is_stale(exc: Exception) -> bool:
    return isinstance(exc, asyncio.IncompleteReadError | EOFError | ConnectionResetError | BrokenPipeError)
