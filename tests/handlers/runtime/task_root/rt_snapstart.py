"""A handler with SnapStart hooks, registered both ways a function can: our registry and AWS's.

``RT_SNAPSTART_FAIL=before|after`` adds a hook that raises at that point. The handler returns what
happened, in order, and whether the random state changed between the snapshot and the invocation.
"""

from __future__ import annotations

import os
import random
from typing import Any

import snapshot_restore_py

from handlers.runtime import snapstart

EVENTS: list[str] = []
SNAPSHOT_RANDOM_STATE: Any = None


def init() -> None:
    EVENTS.append("init")


@snapstart.register_before_snapshot
def remember_random_state() -> None:  # registered first: runs last before the snapshot
    global SNAPSHOT_RANDOM_STATE
    EVENTS.append("before:ours-first")
    SNAPSHOT_RANDOM_STATE = random.getstate()


async def before_async(tag: str) -> None:
    EVENTS.append(f"before:{tag}")


snapstart.register_before_snapshot(before_async, "ours-second")
snapshot_restore_py.register_before_snapshot(EVENTS.append, "before:aws")


@snapstart.register_after_restore
async def after_ours() -> None:
    EVENTS.append("after:ours")


snapshot_restore_py.register_after_restore(EVENTS.append, "after:aws")


def boom() -> None:
    raise OSError("cannot reach the license server")


if os.environ.get("RT_SNAPSTART_FAIL") == "before":
    snapstart.register_before_snapshot(boom)
if os.environ.get("RT_SNAPSTART_FAIL") == "after":
    snapstart.register_after_restore(boom)


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"events": EVENTS, "reseeded": random.getstate() != SNAPSHOT_RANDOM_STATE}


def aws_only_handler(event: Any, context: Any) -> dict[str, Any]:
    """For awslambdaric, which knows only snapshot_restore_py's hooks (and no ``init()``)."""
    return {"events": [e for e in EVENTS if "aws" in e]}
