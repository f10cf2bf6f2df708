"""An ``async def`` handler with an init hook: what our runtime runs and awslambdaric cannot."""

from __future__ import annotations

import asyncio
import os

STATE: dict[str, int] = {"inits": 0}


async def init() -> None:
    STATE["inits"] += 1


async def handler(event, context):
    await asyncio.sleep(0)
    return {"event": event, "inits": STATE["inits"], "pid": os.getpid(), "request_id": context.aws_request_id}
