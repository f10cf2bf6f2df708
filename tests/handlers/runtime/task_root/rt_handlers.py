"""Handlers the runtime tests run: one per behaviour, all in one module so one import serves them all."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from handlers.runtime.logging import get_logger

INIT_CALLS = 0
log = get_logger(__name__)


async def init() -> None:
    global INIT_CALLS
    INIT_CALLS += 1


async def shutdown() -> None:
    marker = os.environ.get("RT_SHUTDOWN_MARKER")
    if marker:
        Path(marker).write_text("shutdown ran")


async def async_echo(event: Any, context: Any) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"event": event, "kind": "async", "initCalls": INIT_CALLS}


def sync_echo(event: Any, context: Any) -> dict[str, Any]:
    return {"event": event, "kind": "sync"}


def context_fields(event: Any, context: Any) -> dict[str, Any]:
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "memory_is_int": isinstance(context.memory_limit_in_mb, int),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "client_custom": cc.custom if cc is not None else None,
        "cognito_identity_id": context.identity.cognito_identity_id if context.identity else None,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "tenant_id": context.tenant_id,
        "has_log": callable(getattr(context, "log", None)),
    }


async def raises(event: Any, context: Any) -> None:
    raise ValueError(f"boom {event.get('n')}")


def sync_raises(event: Any, context: Any) -> None:
    raise ValueError(f"boom {event.get('n')}")


async def dynamo_item(event: Any, context: Any) -> dict[str, Any]:
    return {
        "count": Decimal("3"),
        "ratio": Decimal("0.25"),
        "nested": [Decimal("-12"), {"x": Decimal("1.5E+1")}],
        "when": dt.datetime(2026, 11, 25, 12, 30, tzinfo=dt.UTC),
        "day": dt.date(2026, 11, 25),
        "blob": b"\x00\x01\xff",
        "tags": {"a"},
    }


def sync_decimal(event: Any, context: Any) -> dict[str, Any]:
    return {"count": Decimal("3"), "ratio": Decimal("0.25")}


async def sized(event: Any, context: Any) -> dict[str, Any]:
    return {"data": "x" * int(event["bytes"])}


def sync_sized(event: Any, context: Any) -> dict[str, Any]:
    return {"data": "x" * int(event["bytes"])}


def python_path(event: Any, context: Any) -> str:
    return os.environ.get("PYTHONPATH", "")


async def unmarshalable(event: Any, context: Any) -> object:
    return {"thing": object()}


async def logs(event: Any, context: Any) -> dict[str, Any]:
    log.info("handling %s", event.get("n"), extra={"step": "start"})
    return {"requestId": context.aws_request_id}


async def slow(event: Any, context: Any) -> str:
    await asyncio.sleep(float(event.get("seconds", 1)))
    return "finished"


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


async def raises_unprintable(event: Any, context: Any) -> None:
    raise Unprintable()
