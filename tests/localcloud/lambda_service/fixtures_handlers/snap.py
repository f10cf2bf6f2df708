"""A SnapStart function for the local emulation: what init did, and what each restore did."""

from __future__ import annotations

import os
import random
from typing import Any

from handlers.runtime import snapstart

INIT_PID = os.getpid()
RESTORED_IN: list[int] = []
if os.environ.get("SNAP_FAIL") == "init":
    raise RuntimeError("the snapshot's init fails")


@snapstart.register_after_restore
def restored() -> None:
    RESTORED_IN.append(os.getpid())
    if os.environ.get("SNAP_FAIL") == "restore":
        raise RuntimeError("cannot reconnect")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "init_pid": INIT_PID,
        "restored_in": RESTORED_IN,
        "random": random.random(),
        "version": context.function_version,
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "uid": os.getuid(),
        "tmpdir": os.environ.get("TMPDIR"),
    }
