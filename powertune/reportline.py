"""Parsing Lambda's ``REPORT`` log line, the one source of duration, billed time and init time."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

_FIELDS = {
    "duration_ms": r"Duration: ([\d.]+) ms",
    "billed_ms": r"Billed Duration: ([\d.]+) ms",
    "memory_mb": r"Memory Size: (\d+) MB",
    "max_memory_mb": r"Max Memory Used: (\d+) MB",
    "init_ms": r"Init Duration: ([\d.]+) ms",
    "restore_ms": r"(?<!Billed )Restore Duration: ([\d.]+) ms",  # SnapStart: an environment restored, not initialised
}


class ReportLineMissing(ValueError):
    """The tail of the invocation's log has no REPORT line (logs cut or not requested)."""


@dataclass(frozen=True)
class Report:
    duration_ms: float
    billed_ms: float
    memory_mb: int
    max_memory_mb: int | None
    init_ms: float | None
    restore_ms: float | None = None

    @property
    def cold_start(self) -> bool:
        """A new environment: initialised (``Init Duration``) or restored from a snapshot (``Restore Duration``)."""
        return self.init_ms is not None or self.restore_ms is not None


def parse_log_result(log_result_b64: str) -> Report:
    """Decode ``LogResult`` (base64, last 4 KB of the log) and parse its last REPORT line."""
    text = base64.b64decode(log_result_b64).decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.startswith("REPORT ")]
    if not lines:
        raise ReportLineMissing("no REPORT line in the invocation's log tail")
    return parse_report_line(lines[-1])


def parse_report_line(line: str) -> Report:
    found: dict[str, str | None] = {}
    for name, pattern in _FIELDS.items():
        # "Duration:" also matches inside "Billed Duration:" and "Init Duration:"; anchor on a tab/start.
        anchored = pattern if name != "duration_ms" else r"(?:^|\t|RequestId: \S+\s+)Duration: ([\d.]+) ms"
        match = re.search(anchored, line)
        found[name] = match.group(1) if match else None
    if found["duration_ms"] is None or found["billed_ms"] is None or found["memory_mb"] is None:
        raise ReportLineMissing(f"malformed REPORT line: {line!r}")
    return Report(
        duration_ms=float(found["duration_ms"]),
        billed_ms=float(found["billed_ms"]),
        memory_mb=int(found["memory_mb"]),
        max_memory_mb=None if found["max_memory_mb"] is None else int(found["max_memory_mb"]),
        init_ms=None if found["init_ms"] is None else float(found["init_ms"]),
        restore_ms=None if found["restore_ms"] is None else float(found["restore_ms"]),
    )
