"""Structured JSON log lines: one object per line on stdout, carrying the current request id.

CloudWatch (and the local cloud's log tail) keep stdout line by line, so one JSON object per line is
searchable with Logs Insights without a parser. Fields: ``timestamp`` (UTC ISO 8601, ms), ``level``,
``message``, ``logger``, ``requestId`` (of the invocation being served, ``null`` during init),
``function``, plus any ``extra={...}`` keys and ``exception`` when logged with ``exc_info``.

Handlers use ``get_logger(__name__)``; it is a plain ``logging.Logger``, so libraries that log through
the stdlib end up in the same structured stream once the runtime has called ``configure()``. A handler
package may register a line filter (:func:`add_line_filter`) that sees every line before it is written:
the API adds the caller's tenant and redacts object keys there, whoever logged the line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

_request_id: str | None = None
_function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
_configured = False
_line_filters: list[Callable[[dict[str, Any]], None]] = []

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is emitted.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def set_request_id(request_id: str | None) -> None:
    """Called by the runtime at the start and end of every invocation."""
    global _request_id
    _request_id = request_id


def current_request_id() -> str | None:
    return _request_id


def add_line_filter(line_filter: Callable[[dict[str, Any]], None]) -> None:
    """Run ``line_filter(line)`` on every line's dict before it is written (it may add or rewrite fields)."""
    if line_filter not in _line_filters:
        _line_filters.append(line_filter)


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": _request_id,
            "function": _function_name,
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        for line_filter in _line_filters:
            line_filter(line)
        return json.dumps(line, default=str, ensure_ascii=False)


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line and flushes, so lines interleave correctly with the platform's own."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stdout)


def configure(level: str | None = None, stream: TextIO | None = None) -> None:
    """Install the JSON handler on the root logger once (level from ``AWS_LAMBDA_LOG_LEVEL``, default INFO)."""
    global _configured, _function_name
    _function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    root = logging.getLogger()
    if not _configured:
        handler = _LineHandler(stream)
        handler.setFormatter(JsonLineFormatter())
        root.addHandler(handler)
        _configured = True
    name = (level or os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "INFO").upper()
    root.setLevel(logging.getLevelNamesMapping().get(name, logging.DEBUG if name == "TRACE" else logging.INFO))


def get_logger(name: str = "handler") -> logging.Logger:
    """A logger whose lines are structured JSON carrying the request id."""
    if not _configured:
        configure()
    return logging.getLogger(name)
