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

CPU share (``cpu_shares=True``, the default): Lambda gives a function ``memory / 1,769 MB`` of a vCPU
(``vcpu_share``), so a 128 MB function computes ~14x slower than a 1,769 MB one. Enforced, best first:

* ``cgroup``: ``cpu.max`` in the worker's cgroup v2 child (only with the ``cgroup`` memory mechanism).
* ``cfs-v1``: a cgroup v1 ``cpu`` hierarchy the service may write (``/sys/fs/cgroup/cpu``, as root):
  a child per worker with ``cpu.cfs_quota_us`` = share x ``cpu.cfs_period_us`` (100 ms), the same
  kernel CFS bandwidth control as ``cpu.max``. Each service keeps its workers' cgroups under a
  directory of its own (``localcloud-lambda/<pid>-<random>``) and removes it when it stops.
* ``governor``: no writable cgroup at all. ``CpuGovernor`` is a documented approximation in the manner
  of ``cpulimit``: a thread samples the CPU time of the worker's process tree (utime+stime+cutime+cstime
  of ``/proc/<pid>/stat``) every 10 ms, keeps a budget that refills at ``share`` CPU-seconds per wall
  second (capped at one 100 ms period of credit, like a CFS quota that does not carry over), SIGSTOPs
  the tree when the budget is spent and SIGCONTs it when it refills. Averaged over ~100 ms the tree gets
  its share; within a tick it may overshoot by up to one tick per CPU. A stopped tree is always
  continued before it is released (stop, timeout, kill, service stop), so no process is left stopped.

Either way only invocations are throttled, not the init phase: the worker is put under its share when
its runtime first asks for an event. Lambda is commonly observed to run init at full speed, and this
keeps a 128 MB cold start inside the 10 s init limit on a busy two-core machine.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from localcloud.lambda_service.spec import vcpu_share

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_V1_ROOT = CGROUP_ROOT / "cpu"
MemoryEnforcement = Literal["auto", "cgroup", "rss"]
CpuEnforcement = Literal["auto", "cfs-v1", "governor"]
CFS_PERIOD_US = 100_000
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
        self.cpu_limited = False
        self._parent = parent

    def create(self) -> None:
        self._parent.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            (self._parent / "cgroup.subtree_control").write_text("+memory +cpu")
        self.path.mkdir(exist_ok=True)
        (self.path / "memory.max").write_text(str(self.memory_mb * 1024 * 1024))
        with contextlib.suppress(OSError):
            (self.path / "memory.swap.max").write_text("0")
        self.cpu_limited = False
        if self.cpu_shares:
            period = CFS_PERIOD_US
            quota = max(1000, int(vcpu_share(self.memory_mb) * period))
            try:  # without the cpu controller the memory limit still holds; the governor takes the CPU
                (self.path / "cpu.max").write_text(f"{quota} {period}")
                self.cpu_limited = True
            except OSError:
                self.cpu_limited = False

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


# -- CPU share -----------------------------------------------------------------------------------------------
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its live descendants (children of every thread, not only the main one)."""
    found, pending = [], [pid]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    pending.extend(int(child) for child in children.read().split())
            except (OSError, ValueError):
                continue
    return found


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of one process: its threads (utime+stime) and its reaped children (cutime+cstime)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds charged to ``pid``'s process tree so far (what a cgroup's ``cpuacct.usage`` would say)."""
    return sum(process_cpu_seconds(member) for member in tree_pids(pid))


def signal_tree(pid: int, sig: int) -> None:
    """Signal ``pid``'s process group (a worker leads its own session) and any descendant outside it."""
    members = tree_pids(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
    for member in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if member == pid or os.getpgid(member) != pid:
                os.kill(member, sig)


def signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def cgroup_members(cgroup: Path) -> list[int] | None:
    """The processes of a cgroup (its ``cgroup.procs``), None when it cannot be read."""
    try:
        return [int(line) for line in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return None


def outside_group(pid: int, members: list[int] | None = None) -> list[int]:
    """Descendants of ``pid`` (a process group leader) that left its group, e.g. by ``setsid``.

    ``members``: the tree's processes when known cheaply (its cgroup's, which children inherit, one
    read); otherwise the tree is walked through ``/proc``."""
    outside = []
    for member in tree_pids(pid) if members is None else members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if member != pid and os.getpgid(member) != pid:
                outside.append(member)
    return outside


def cfs_v1_available(root: Path = CPU_V1_ROOT) -> bool:
    """True when a cgroup v1 ``cpu`` hierarchy with CFS bandwidth control is mounted and writable."""
    return (root / "cpu.cfs_quota_us").exists() and os.access(root, os.W_OK)


def choose_cpu_enforcement(requested: CpuEnforcement) -> Literal["cfs-v1", "governor"]:
    """The fallback when the worker is not in a cgroup v2 child with ``cpu.max``."""
    if requested == "auto":
        return "cfs-v1" if cfs_v1_available() else "governor"
    return requested


CFS_V1_PARENT = CPU_V1_ROOT / "localcloud-lambda"


def service_cgroup_dir(root: Path = CFS_V1_PARENT) -> Path:
    """A directory of its own for one service's worker cgroups, so its stop sweeps only its own."""
    return root / f"{os.getpid()}-{os.urandom(4).hex()}"


async def remove_cgroup_dir(path: Path, attempts: int = 20, pause_s: float = 0.05) -> bool:
    """rmdir a service's cgroup directory and its worker children once they are empty.

    A killed worker's cgroup stays busy for a moment after its process is reaped (grandchildren that
    were not ours to wait for are still exiting), so removal is retried briefly.
    """
    import asyncio

    for _ in range(attempts):
        children = [child for child in path.iterdir() if child.is_dir()] if path.is_dir() else []
        for child in children:
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            path.rmdir()
        if not path.exists():
            return True
        await asyncio.sleep(pause_s)
    return False


class CfsCgroupV1:
    """A cgroup v1 ``cpu`` child holding one worker's tree with ``cpu.cfs_quota_us`` = share of a period."""

    def __init__(self, name: str, memory_mb: int, parent: Path = CFS_V1_PARENT) -> None:
        self.path = parent / name
        self.quota_us = max(1000, int(vcpu_share(memory_mb) * CFS_PERIOD_US))
        self._parent = parent

    def create(self) -> None:
        self._parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir(exist_ok=True)
        (self.path / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))

    def add_tree(self, pid: int) -> None:
        for member in tree_pids(pid):
            with contextlib.suppress(ProcessLookupError, OSError):
                (self.path / "cgroup.procs").write_text(str(member))

    def throttled_s(self) -> float:
        """Time the kernel held the group back (``cpu.stat`` ``throttled_time``), 0 when unknown."""
        try:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("throttled_time"):
                    return int(line.split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0
        return 0.0

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


@dataclass
class _Governed:
    """One worker tree under the governor: its share, its CPU budget and whether it is stopped now."""

    pid: int
    share: float
    budget_s: float
    last_cpu_s: float
    last_wall_s: float
    stopped: bool = False
    stops: int = 0
    stopped_s: float = 0.0
    stopped_at: float = 0.0


class CpuGovernor:
    """Holds worker process trees to a CPU share by SIGSTOP/SIGCONT (see the module docstring).

    One daemon thread serves every governed tree of a service (the event loop's latency under load
    must not stretch a stop). ``release`` and ``close`` always SIGCONT a stopped tree first.
    """

    def __init__(self, interval_s: float = 0.01, period_s: float = CFS_PERIOD_US / 1e6) -> None:
        self.interval_s = interval_s
        self.period_s = period_s
        self._trees: dict[int, _Governed] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self.close)

    def govern(self, pid: int, share: float) -> None:
        """Start holding ``pid``'s tree to ``share`` CPUs (shares at or above the machine's CPUs still count)."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return
            credit = share * self.period_s
            self._trees[pid] = _Governed(pid, share, credit, tree_cpu_seconds(pid), now)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cpu-governor", daemon=True)
                self._thread.start()
            self._wake.notify()

    def release(self, pid: int) -> _Governed | None:
        """Stop governing ``pid``; a stopped tree is continued first. Returns its final accounting."""
        with self._lock:
            entry = self._trees.pop(pid, None)
            if entry is not None and entry.stopped:
                self._continue(entry, time.monotonic())
        return entry

    def pause(self, pid: int) -> None:
        """Stop governing ``pid`` WITHOUT continuing it: its worker is about to freeze the tree, and a
        later tick must not SIGCONT it. ``govern`` again on thaw (a fresh budget, like a new period)."""
        with self._lock:
            self._trees.pop(pid, None)

    def governed(self) -> list[int]:
        with self._lock:
            return list(self._trees)

    def stopped(self) -> list[int]:
        with self._lock:
            return [pid for pid, entry in self._trees.items() if entry.stopped]

    def stats(self, pid: int) -> tuple[int, float] | None:
        """(stops, seconds stopped) of a governed tree so far."""
        with self._lock:
            entry = self._trees.get(pid)
            return None if entry is None else (entry.stops, entry.stopped_s)

    def close(self) -> None:
        """Continue and forget every tree, and end the thread."""
        with self._lock:
            self._closed = True
            now = time.monotonic()
            for entry in self._trees.values():
                if entry.stopped:
                    self._continue(entry, now)
            self._trees.clear()
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    # -- the sampling thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._trees and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                self._tick(time.monotonic())
            time.sleep(self.interval_s)

    def _tick(self, now: float) -> None:
        for pid in list(self._trees):
            entry = self._trees[pid]
            members = tree_pids(pid)
            if not os.path.exists(f"/proc/{pid}"):
                del self._trees[pid]  # the worker is gone; nothing left to continue
                continue
            cpu = sum(process_cpu_seconds(member) for member in members)
            used = max(0.0, cpu - entry.last_cpu_s)
            elapsed = max(0.0, now - entry.last_wall_s)
            entry.last_cpu_s, entry.last_wall_s = cpu, now
            entry.budget_s = min(entry.budget_s + entry.share * elapsed - used, entry.share * self.period_s)
            if entry.budget_s < 0 and not entry.stopped:
                signal_tree(pid, signal.SIGSTOP)
                entry.stopped, entry.stops, entry.stopped_at = True, entry.stops + 1, now
            elif entry.budget_s >= 0 and entry.stopped:
                self._continue(entry, now)

    @staticmethod
    def _continue(entry: _Governed, now: float) -> None:
        signal_tree(entry.pid, signal.SIGCONT)
        entry.stopped = False
        entry.stopped_s += now - entry.stopped_at
