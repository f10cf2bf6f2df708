"""Plain synchronous handlers run by awslambdaric (and our runtime) in the lambda_service tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

SEEN: list[int] = []
_HELD: list[bytearray] = []


def echo(event, context):
    """Return what the runtime saw, so tests check the Runtime API headers end to end."""
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "memory_limit_in_mb": int(context.memory_limit_in_mb),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": getattr(context.client_context, "custom", None),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "runtime_api": os.environ.get("AWS_LAMBDA_RUNTIME_API"),
        "env_marker": os.environ.get("FIXTURE_MARKER"),
        "pid": os.getpid(),
    }


def fail(event, context):
    raise ValueError(f"bad input: {event.get('why', 'none')}")


def big(event, context):
    return "x" * int(event["size"])


def nap(event, context):
    time.sleep(float(event["seconds"]))
    return {"slept": event["seconds"], "pid": os.getpid()}


def hog(event, context):
    """Allocate and touch ``mb`` megabytes, then hold them, to cross the memory limit."""
    for _ in range(int(event["mb"])):
        chunk = bytearray(1024 * 1024)
        chunk[::4096] = b"\x01" * len(chunk[::4096])
        _HELD.append(chunk)
        time.sleep(0.002)
    time.sleep(float(event.get("hold_s", 5)))
    return {"held_mb": len(_HELD)}


def crash(event, context):
    os._exit(3)


def chatty(event, context):
    for index in range(int(event.get("lines", 3))):
        print(f"line {index} of {context.aws_request_id}", flush=True)
    return {"ok": True}


def gate(event, context):
    """Block until the file named by the event exists, so a test controls when invocations finish."""
    path = Path(event["gate"])
    deadline = time.monotonic() + float(event.get("max_s", 30))
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"seq": event.get("seq"), "pid": os.getpid()}


def sequence(event, context):
    """Record the order in which THIS environment received events: FIFO dispatch keeps it increasing."""
    SEEN.append(int(event["seq"]))
    return {"seq": event["seq"], "pid": os.getpid(), "seen": list(SEEN)}


def spawn(event, context):
    """Start a grandchild process (as a handler shelling out would) and return its pid."""
    import subprocess

    child = subprocess.Popen(["sleep", "60"])
    return {"child": child.pid, "pid": os.getpid()}


def runtime_origin(event, context):
    """Where the worker's runtime and the ``handlers`` package were imported from."""
    import sys

    runtime = sys.modules.get("handlers.runtime")
    return {"runtime": getattr(runtime, "__file__", None)}
