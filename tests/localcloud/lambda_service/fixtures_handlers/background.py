"""A handler that leaves work running after it answers, as an analysis kept in the background does.

``{"op": "start"}`` starts an asyncio task and a thread that both burn CPU and count their rounds, and
a child process that burns CPU in a session of its own (out of the worker's process group), then
answers at once; any other event answers the counts at its start and, after ``hold_s`` seconds
of waiting inside the invocation, at its end. Run by our runtime.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

PROGRESS = {"task": 0, "thread": 0}
_KEEP: set[asyncio.Task[None]] = set()
CHILDREN: list[int] = []


def _burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _thread_rounds() -> None:
    while True:
        _burn(0.002)
        PROGRESS["thread"] += 1
        time.sleep(0.001)


async def _task_rounds() -> None:
    while True:
        _burn(0.002)
        PROGRESS["task"] += 1
        await asyncio.sleep(0.001)


async def handler(event, context):
    if event.get("op") == "start":
        task = asyncio.ensure_future(_task_rounds())
        _KEEP.add(task)
        threading.Thread(target=_thread_rounds, daemon=True).start()
        spin = "import time\nend = time.time() + 60\nwhile time.time() < end:\n    pass"  # bounded, should it leak
        child = subprocess.Popen([sys.executable, "-c", spin], start_new_session=True)
        CHILDREN.append(child.pid)
    at_start = dict(PROGRESS)
    await asyncio.sleep(float(event.get("hold_s", 0)))
    return {"pid": os.getpid(), "children": CHILDREN, **at_start, "at_end": dict(PROGRESS)}
