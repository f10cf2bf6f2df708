"""What the local Lambda service runs: function specs, worker commands, invocation results."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from localcloud.lambda_service.errors import InvalidParameterValue

OUR_RUNTIME_COMMAND: tuple[str, ...] = (sys.executable, "-m", "handlers.runtime")
"""Our async runtime; it reads the handler from ``_HANDLER`` like Lambda's managed runtimes."""

AWSLAMBDARIC_COMMAND: tuple[str, ...] = (sys.executable, "-m", "awslambdaric", "{handler}")
"""AWS's own runtime client, which takes the handler as its argument (``{handler}`` is substituted)."""

LATEST = "$LATEST"
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10_240
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
MB_PER_VCPU = 1769
"""Lambda's documented ratio: a function gets one full vCPU at 1,769 MB, proportionally less or more."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function as deployed: the same fields the app definition gives a Lambda function.

    ``command`` overrides the worker command (default: our runtime); tests use ``AWSLAMBDARIC_COMMAND``
    to run AWS's runtime client instead. ``reserved_concurrency=None`` means unreserved (the service's
    account-wide limit applies). ``snap_start``: its published versions are initialised once and their
    environments restored from that snapshot (``snapstart.py``); ``$LATEST`` initialises as usual.
    """

    name: str
    handler: str
    memory_mb: int = 128
    timeout_s: float = 3
    reserved_concurrency: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    code_root: Path = Path(".")
    command: tuple[str, ...] | None = None
    description: str = ""
    snap_start: bool = False

    def __post_init__(self) -> None:
        validate_memory(self.memory_mb)
        validate_timeout(self.timeout_s)
        if self.reserved_concurrency is not None and self.reserved_concurrency < 0:
            raise InvalidParameterValue(f"reserved_concurrency must be >= 0, got {self.reserved_concurrency}")

    def worker_command(self) -> list[str]:
        return [part.replace("{handler}", self.handler) for part in (self.command or OUR_RUNTIME_COMMAND)]


def validate_memory(memory_mb: object) -> int:
    if not isinstance(memory_mb, int) or isinstance(memory_mb, bool) or not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise InvalidParameterValue(f"MemorySize must be an integer from {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")
    return memory_mb


def validate_timeout(timeout_s: object) -> float:
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise InvalidParameterValue(f"Timeout must be a number of seconds from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S}")
    return timeout_s


MAX_VCPUS = 6.0
"""Lambda's ceiling: up to 6 vCPUs at 10,240 MB."""


def vcpu_share(memory_mb: int) -> float:
    """The CPU share Lambda gives ``memory_mb`` (1,769 MB = 1 vCPU, linear, at most 6), enforced on workers."""
    return min(memory_mb / MB_PER_VCPU, MAX_VCPUS)


def default_worker_cap() -> int:
    """Live worker processes this machine holds: two per CPU, at most one per ~300 MB of available memory."""
    cpus = os.cpu_count() or 1
    try:
        available_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (ValueError, OSError):
        available_mb = 2048
    return max(2, min(cpus * 2, available_mb // 300))


@dataclass(frozen=True)
class InvokeResult:
    """One invocation's answer, as the Invoke API gives it (``payload`` is the function's JSON or error body)."""

    status_code: int
    payload: bytes
    function_error: str | None
    log_tail: str | None
    request_id: str
    cold_start: bool
    duration_ms: float
    executed_version: str = LATEST
