"""Enforcing a function's memory size (and, where the kernel lets us, its CPU share) on a worker process.

Two mechanisms, picked once per service:

* ``cgroup``: a cgroup v2 child per worker with ``memory.max`` = the function's memory size (and
  ``memory.swap.max`` = 0), so the kernel OOM-kills the worker exactly like Lambda's sandbox; with
  ``cpu_shares=True`` also ``cpu.max`` = memory / 1,769 MB of a CPU. Only when ``/sys/fs/cgroup`` is a
  writable cgroup v2 hierarchy whose root delegates the ``memory`` controller.
* ``rss`` (the fallback, and what this project's build machine uses: it has a cgroup v1 hierarchy): the
  service polls the resident set of the worker's process tree every 20 ms while it initialises or runs
  and SIGKILLs the process group above the limit. A burst faster than the poll can overshoot briefly.
  ``RLIMIT_AS`` is not used: it caps virtual address space, which Python with numpy/FFTW maps far
  beyond what it touches.

Either way the REPORT line's ``Max Memory Used`` is the peak resident set seen for the worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Literal

from localcloud.lambda_service.spec import vcpu_share

CGROUP_ROOT = Path("/sys/fs/cgroup")
MemoryEnforcement = Literal["auto", "cgroup", "rss"]
_PAGE_KB = 1024


def _status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (0 if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            return [int(child) for child in children.read().split()]
    except (OSError, ValueError):
        return []


def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (what the worker's sandbox would be charged)."""
    total, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _status_kb(current, "VmRSS:") * _PAGE_KB
        pending.extend(_children(current))
    return total


def peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of the worker's resident set (``VmHWM``)."""
    return _status_kb(pid, "VmHWM:") * _PAGE_KB


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the worker's whole process group (workers start in their own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def cgroup_v2_available() -> bool:
    """True when ``/sys/fs/cgroup`` is cgroup v2, writable, and delegates the memory controller."""
    controllers = CGROUP_ROOT / "cgroup.subtree_control"
    try:
        return "memory" in controllers.read_text().split() and os.access(CGROUP_ROOT, os.W_OK)
    except OSError:
        return False


def choose_enforcement(requested: MemoryEnforcement) -> Literal["cgroup", "rss"]:
    if requested == "auto":
        return "cgroup" if cgroup_v2_available() else "rss"
    return requested


class WorkerCgroup:
    """A cgroup v2 child holding one worker: a kernel-enforced memory limit and optional CPU share."""

    def __init__(self, name: str, memory_mb: int, cpu_shares: bool, parent: Path = CGROUP_ROOT / "localcloud-lambda"):
        self.path = parent / name
        self.memory_mb = memory_mb
        self.cpu_shares = cpu_shares
        self._parent = parent

    def create(self) -> None:
        self._parent.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            (self._parent / "cgroup.subtree_control").write_text("+memory +cpu")
        self.path.mkdir(exist_ok=True)
        (self.path / "memory.max").write_text(str(self.memory_mb * 1024 * 1024))
        with contextlib.suppress(OSError):
            (self.path / "memory.swap.max").write_text("0")
        if self.cpu_shares:
            period = 100_000
            quota = max(1000, int(vcpu_share(self.memory_mb) * period))
            (self.path / "cpu.max").write_text(f"{quota} {period}")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def peak_bytes(self) -> int:
        """``memory.peak`` (kernels >= 5.19), 0 where the kernel does not keep it."""
        try:
            return int((self.path / "memory.peak").read_text())
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()
