"""The shared Runtime API protocol (handlers/runtime/protocol.py), as a Lambda operator sees it.

Through the real exchange with our runtime as a subprocess, on both transports:

- a Runtime API that keeps dropping its connections: the first drop is retried at once, then every
  attempt waits on the documented backoff schedule, then the runtime exits with code 3 (no storm, no
  hang, no faster or slower give-up);
- a replacement answer (the size error that replaces a response refused with 413) refused with a 4xx
  loses only that invocation: the runtime logs it and serves the next event; a 5xx on it is fatal.

The schedule is written out here, not imported: a test that read the constant would follow a wrong one.
"""

from __future__ import annotations

import asyncio
import json

import pytest

#: The documented backoff (protocol.py's docstring: about 3 s in all, then exit).
BACKOFF_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
#: A timer never fires early; this much late is allowed for a loaded 2-core machine (a schedule one
#: second off anywhere fails).
SLACK_S = 0.95

TRANSPORTS = [
    # aiohttp's ClientSession itself retries an idempotent GET once on a dropped connection (RFC 9112
    # 9.3.1), so each of the runtime's attempts reaches the server twice there.
    pytest.param("aiohttp", 2, id="aiohttp"),
    pytest.param("streams", 1, id="streams"),
]


class DroppingServer:
    """Accepts every connection, reads one request head and closes without answering; records arrivals."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.arrivals.append(asyncio.get_running_loop().time())
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def exit_or_too_many(process, server: DroppingServer, expected: int, timeout: float = 15.0) -> int | None:
    """Wait for the runtime to exit; stop early (None) once it made more requests than expected."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while process.proc.returncode is None and len(server.arrivals) <= expected and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return process.proc.returncode


@pytest.mark.parametrize(("transport", "requests_per_attempt"), TRANSPORTS)
async def test_dropped_connections_are_retried_once_at_once_then_on_the_backoff_schedule_then_fatal(
    launch, transport, requests_per_attempt
):
    server = DroppingServer()
    address = await server.start()
    try:
        process = await launch(address, "rt_handlers.async_echo", FHR_RUNTIME_TRANSPORT=transport)
        attempts = 1 + 1 + len(BACKOFF_S)  # the first, the one at-once retry, one after each delay
        expected = attempts * requests_per_attempt
        code = await exit_or_too_many(process, server, expected)
        assert len(server.arrivals) == expected, f"{len(server.arrivals)} requests, expected {expected}"
        assert code == 3
    finally:
        await server.stop()
    starts = server.arrivals[::requests_per_attempt]
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert gaps[0] < 0.5, f"the first drop was not retried at once: {gaps[0]:.3f} s"
    for delay, gap in zip(BACKOFF_S, gaps[1:], strict=True):
        assert delay * 0.9 <= gap < delay + SLACK_S, f"waited {gap:.3f} s where the schedule says {delay} s: {gaps}"


async def answered_or_exited(invocation: asyncio.Future, process):
    """The invocation's outcome, or a failure naming the exit code if the runtime exits first."""
    exited = asyncio.ensure_future(process.proc.wait())
    try:
        done, _ = await asyncio.wait({invocation, exited}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
    assert invocation in done, f"the runtime exited ({process.proc.returncode}) instead of serving the next event"
    return invocation.result()


async def until(condition, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("transport", ["aiohttp", "streams"])
async def test_a_refused_replacement_answer_loses_only_its_invocation(raw_peer, launch, transport):
    raw_peer.max_payload = 1000  # the 5000-byte response is refused with 413 ...
    raw_peer.answer_failure_status = 403  # ... and the size error replacing it with 403 (already answered)
    process = await launch(raw_peer.address, "rt_handlers.sized", FHR_RUNTIME_TRANSPORT=transport)
    lost = asyncio.ensure_future(raw_peer.invoke({"bytes": 5000}))
    try:
        await until(lambda: raw_peer.answer_posts == 1 or process.proc.returncode is not None)
        raw_peer.answer_failure_status = None
        outcome = await answered_or_exited(asyncio.ensure_future(raw_peer.invoke({"bytes": 10})), process)
    finally:
        lost.cancel()
    assert outcome.kind == "response" and len(outcome.json()["data"]) == 10
    process.proc.terminate()
    assert await process.wait() == 0
    refusals = [json.loads(line) for line in await process.output() if "not accepted" in line]
    assert len(refusals) == 1, refusals  # the refused replacement, and not the accepted answer after it
    assert refusals[0]["level"] == "WARNING" and "/error failed: status 403" in refusals[0]["message"]


@pytest.mark.parametrize("transport", ["aiohttp", "streams"])
async def test_a_5xx_on_the_replacement_answer_is_fatal(raw_peer, launch, transport):
    raw_peer.max_payload = 1000  # 413 on the response ...
    raw_peer.answer_failure_status = 500  # ... and 500 on the size error replacing it
    process = await launch(raw_peer.address, "rt_handlers.sized", FHR_RUNTIME_TRANSPORT=transport)
    pending = asyncio.ensure_future(raw_peer.invoke({"bytes": 5000}))
    try:
        assert await process.wait(timeout=10) == 3
    finally:
        pending.cancel()
    assert raw_peer.answer_posts == 1  # the replacement, posted once; nothing after it
