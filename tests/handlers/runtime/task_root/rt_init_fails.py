"""A handler module whose init hook fails (e.g. a missing configuration value)."""

from typing import Any


async def init() -> None:
    raise RuntimeError("ECG_BUCKET is not set")


async def handler(event: Any, context: Any) -> str:
    return "never served"
