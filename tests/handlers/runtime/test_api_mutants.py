"""The aiohttp Runtime API client (handlers/runtime/api.py) seen from outside, with the streams transport
(and awslambdaric where it applies) held to the same behaviour:

- an event body reaches the handler byte for byte: a ``Content-Encoding`` on ``/next`` is not undone;
- an accepted answer (202) is not logged as refused, a refused one is, once;
- a Runtime API whose listener takes no connection (its accept queue is full, so the SYN goes unanswered)
  costs 5 s per connect attempt before the runtime moves to its next attempt.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from pathlib import Path

import pytest

RUNTIMES = [
    pytest.param("ours", {"FHR_RUNTIME_TRANSPORT": "aiohttp"}, id="aiohttp"),
    pytest.param("ours", {"FHR_RUNTIME_TRANSPORT": "streams"}, id="streams"),
    pytest.param("awslambdaric", {}, id="awslambdaric"),
]


@pytest.mark.parametrize(("runtime", "env"), RUNTIMES)
async def test_a_content_encoding_on_next_is_not_undone_the_body_is_the_event(raw_peer, launch, runtime, env):
    """Invoke payloads are opaque bytes: awslambdaric's client does not decode them, and neither do ours."""
    await launch(raw_peer.address, "rt_handlers.sync_echo", runtime=runtime, **env)
    packed = gzip.compress(json.dumps({"n": 1}).encode())
    outcome = await raw_peer.invoke(packed, {"Content-Encoding": "gzip"})
    assert outcome.kind == "error" and outcome.json()["errorType"] == "Runtime.UnmarshalError"
    plain = await raw_peer.invoke({"n": 2}, {"Content-Encoding": "identity"})
    assert plain.json()["event"] == {"n": 2}


@pytest.mark.parametrize("transport", ["aiohttp", "streams"])
async def test_only_a_refused_answer_is_logged_as_not_accepted(raw_peer, launch, transport):
    process = await launch(raw_peer.address, "rt_handlers.raises", FHR_RUNTIME_TRANSPORT=transport)
    raw_peer.answer_failure_status = 403  # the first error answer is refused (already answered / timed out)
    lost = asyncio.ensure_future(raw_peer.invoke({"n": 0}))
    try:
        while raw_peer.answer_posts < 1:
            assert process.proc.returncode is None
            await asyncio.sleep(0.01)
    finally:
        lost.cancel()
    raw_peer.answer_failure_status = None
    for n in (1, 2, 3):  # accepted with 202
        outcome = await raw_peer.invoke({"n": n})
        assert outcome.error_type == "ValueError" and outcome.json()["errorMessage"] == f"boom {n}"
    process.proc.terminate()
    assert await process.wait() == 0
    refusals = [json.loads(line)["message"] for line in await process.output() if "not accepted" in line]
    assert len(refusals) == 1 and "status 403" in refusals[0], refusals


def syn_sent_ports(port: int) -> set[int]:
    """Local ports of the IPv4 sockets of this network namespace still in SYN_SENT towards 127.0.0.1:``port``."""
    ports = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        remote, state = fields[2], fields[3]
        if state == "02" and remote == f"0100007F:{port:04X}":
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


@pytest.mark.parametrize("transport", ["aiohttp", "streams"])
async def test_a_connect_attempt_that_gets_no_answer_is_given_up_after_5_s(launch, transport):
    """Measured on the kernel's side: how long the runtime's first socket stays in SYN_SENT before it is
    abandoned for the next attempt (the documented 5 s ``sock_connect``; then the backoff retries)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the accept queue: later SYNs are dropped
            process = await launch(f"127.0.0.1:{port}", "rt_handlers.async_echo", FHR_RUNTIME_TRANSPORT=transport)
            loop = asyncio.get_running_loop()
            seen: dict[int, float] = {}
            gone: dict[int, float] = {}
            deadline = loop.time() + 15
            while loop.time() < deadline and not (gone and len(seen) > 1):
                now, current = loop.time(), syn_sent_ports(port)
                for local in current:
                    seen.setdefault(local, now)
                for local in seen.keys() - current:
                    gone.setdefault(local, now)
                await asyncio.sleep(0.02)
            await process.stop()
    first = min(seen, key=seen.get)
    assert first in gone, "the first connect attempt was never given up"
    waited = gone[first] - seen[first]
    # The timer starts just before the socket exists and the close can come late on a loaded machine; a
    # budget one second off either way (4 s, or 6 s which aiohttp rounds up to a whole second) is out.
    assert 4.3 <= waited < 5.6, f"the first connect attempt was given up after {waited:.2f} s, not 5 s"
    assert len(seen) > 1, "no second attempt after the first timed out"
