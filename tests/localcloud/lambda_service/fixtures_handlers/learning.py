"""The FHR function's speed learning (handlers.api.analysis.Throughput.timing) around work that outlives
its invocation: ``{"op": "start", "size": n, "work_s": s}`` starts a background task that "analyses" for
``work_s`` seconds of wall time inside ``timing`` and answers at once; any other event waits ``hold_s``
inside the invocation and answers what was learnt (bytes per second, or null). Run by our runtime."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.api.analysis import Throughput

LEARNT = Throughput()
_KEEP: set[asyncio.Task[None]] = set()


async def _work(size: int, work_s: float) -> None:
    async with LEARNT.timing(size):
        await asyncio.sleep(work_s)


async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("op") == "start":
        task = asyncio.ensure_future(_work(int(event["size"]), float(event["work_s"])))
        _KEEP.add(task)
        task.add_done_callback(_KEEP.discard)
        return {"started": True}
    await asyncio.sleep(float(event.get("hold_s", 0)))
    return {"observed": LEARNT.observed}
