"""What the local Lambda service runs: function specs, worker commands, invocation results."""

from __future__ import annotations

import json
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
MIN_EPHEMERAL_MB, MAX_EPHEMERAL_MB = 512, 10_240
"""Lambda's ephemeral storage (``/tmp``) sizes; 512 MB unless the function asks for more."""
MB_PER_VCPU = 1769
"""Lambda's documented ratio: a function gets one full vCPU at 1,769 MB, proportionally less or more."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function as deployed: the same fields the app definition gives a Lambda function.

    ``command`` overrides the worker command (default: our runtime); tests use ``AWSLAMBDARIC_COMMAND``
    to run AWS's runtime client instead. ``reserved_concurrency=None`` means unreserved (the service's
    account-wide limit applies). ``environment`` is the function's configuration (Lambda's 4 KB limit
    applies to it, GetFunctionConfiguration reports it); ``local_environment`` holds what only the
    local cloud adds (its endpoints, dummy credentials): set before the function's own variables,
    neither counted nor reported, as AWS's own credentials are not. ``snap_start``: its published
    versions are initialised once and their environments restored from that snapshot
    (``snapstart.py``); ``$LATEST`` initialises as usual.
    """

    name: str
    handler: str
    memory_mb: int = 128
    timeout_s: float = 3
    reserved_concurrency: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    local_environment: Mapping[str, str] = field(default_factory=dict)
    code_root: Path = Path(".")
    command: tuple[str, ...] | None = None
    description: str = ""
    ephemeral_storage_mb: int = MIN_EPHEMERAL_MB
    snap_start: bool = False

    def __post_init__(self) -> None:
        validate_memory(self.memory_mb)
        validate_timeout(self.timeout_s)
        validate_ephemeral(self.ephemeral_storage_mb)
        validate_environment(self.environment)
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


def validate_ephemeral(size_mb: object) -> int:
    """EphemeralStorage.Size as Lambda accepts it: an integer from 512 to 10,240 MB."""
    if not isinstance(size_mb, int) or isinstance(size_mb, bool) or not MIN_EPHEMERAL_MB <= size_mb <= MAX_EPHEMERAL_MB:
        raise InvalidParameterValue(
            f"EphemeralStorage.Size must be an integer from {MIN_EPHEMERAL_MB} to {MAX_EPHEMERAL_MB} MB"
        )
    return size_mb


MAX_ENVIRONMENT_BYTES = 4096
"""Lambda's limit on a function's environment variables, all together."""


def environment_size(variables: Mapping[str, str]) -> int:
    """The size Lambda measures: the variables as compact JSON (its error quotes "String measured: {...}")."""
    return len(json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def validate_environment(variables: Mapping[str, str]) -> Mapping[str, str]:
    """Refuse what Lambda refuses: non-string values, or more than 4 KB of variables in total."""
    if not all(isinstance(name, str) and isinstance(value, str) for name, value in variables.items()):
        raise InvalidParameterValue("Environment.Variables must map names to string values")
    size = environment_size(variables)
    if size > MAX_ENVIRONMENT_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {size} bytes"
        )
    return variables


MAX_VCPUS = 6.0
"""Lambda's ceiling: up to 6 vCPUs at 10,240 MB."""


def vcpu_share(memory_mb: int) -> float:
    """The CPU share Lambda gives ``memory_mb`` (1,769 MB = 1 vCPU, linear, at most 6), enforced on workers."""
    return min(memory_mb / MB_PER_VCPU, MAX_VCPUS)


def _available_mb() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (ValueError, OSError):
        return 2048


def default_worker_cap() -> int:
    """Workers running invocations at once on this machine: two per CPU, at most one per ~300 MB available."""
    cpus = os.cpu_count() or 1
    return max(2, min(cpus * 2, _available_mb() // 300))


def default_live_cap() -> int:
    """Worker processes alive at once, idle (frozen) ones included: one per ~300 MB of available memory."""
    return max(2, _available_mb() // 300)


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
