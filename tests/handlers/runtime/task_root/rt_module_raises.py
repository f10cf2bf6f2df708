"""A handler module that raises while it executes (same classification as awslambdaric: its own type)."""

from typing import Any

raise KeyError("TABLE_NAME")


def handler(event: Any, context: Any) -> str:  # pragma: no cover - never reached
    return "never served"
