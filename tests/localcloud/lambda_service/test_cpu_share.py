"""CPU share per memory size: a CPU-bound handler computes slower at 256 MB than at 1,769 MB.

Behavioural checks, not benchmarks: the handler burns a fixed amount of its own CPU time, and the
ratio CPU-time / REPORT duration must follow the share by a generous margin (the machine is shared,
so a 1,769 MB worker rarely gets its full CPU; 256 MB is held to ~0.145 of one however busy it is).
Every available mechanism runs: the SIGSTOP/SIGCONT governor always, the cgroup v1 CFS quota where
this process may write ``/sys/fs/cgroup/cpu``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from localcloud.lambda_service import FunctionSpec, limits, vcpu_share
from powertune.reportline import parse_log_result

SPIN = textwrap.dedent(
    """
    import os
    import time


    def handler(event, context):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        total = 0
        while time.process_time() - started_cpu < float(event["cpu_s"]):
            for i in range(2000):
                total += i * i
        return {"cpu_s": time.process_time() - started_cpu, "pid": os.getpid()}
    """
)
MECHANISMS = ["governor", *(["cfs-v1"] if limits.cfs_v1_available() else [])]


@pytest.fixture
def spin_root(tmp_path: Path) -> Path:
    (tmp_path / "spin.py").write_text(SPIN)
    return tmp_path


def spin_function(code_root: Path, memory_mb: int, timeout_s: float = 20) -> FunctionSpec:
    return FunctionSpec(
        name="spin", handler="spin.handler", memory_mb=memory_mb, timeout_s=timeout_s, code_root=code_root
    )


async def cpu_per_wall(service, cpu_s: float) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds the handler used per second of the REPORT line's Duration (a warm invocation)."""
    await service.invoke("spin", b'{"cpu_s": 0.005}')  # make the next one warm: no init in the figure
    result = await service.invoke("spin", json.dumps({"cpu_s": cpu_s}).encode(), log_tail=True)
    assert result.function_error is None, result.payload
    report = parse_log_result(result.log_tail or "")
    return json.loads(result.payload)["cpu_s"] * 1000 / report.duration_ms


def wait_for_state(pids: list[int], stopped: bool) -> bool:
    """Signals are delivered asynchronously: poll (up to 2 s) until every pid is (or none is) stopped."""
    for _ in range(100):
        now = set(stopped_processes())
        if (set(pids) <= now) if stopped else not (set(pids) & now):
            return True
        time.sleep(0.02)
    return False


def stopped_processes() -> list[int]:
    """Process ids of this machine's processes in the stopped state (``T``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    if stat.read().rpartition(")")[2].split()[0] == "T":
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_memory_size_sets_the_cpu_share_of_new_workers(start_service, spin_root: Path, mechanism: str) -> None:
    service = await start_service([spin_function(spin_root, 256)], cpu_enforcement=mechanism)
    small = await cpu_per_wall(service, 0.15)
    service.update_configuration("spin", {"MemorySize": 1769})  # retires the 256 MB worker
    # Other processes compete for this machine's CPUs, in bursts: the best of three shows the share.
    large = max([await cpu_per_wall(service, 0.15) for _ in range(3)])
    assert small <= vcpu_share(256) * 1.5, f"256 MB got {small:.3f} CPU, share is {vcpu_share(256):.3f}"
    assert large >= 2 * small, f"1769 MB got {large:.3f} CPU vs {small:.3f} at 256 MB"


async def test_published_version_keeps_its_share(start_service, spin_root: Path) -> None:
    """An alias pins a memory size (the power tuner relies on it), so its workers keep that share."""
    service = await start_service([spin_function(spin_root, 256)], cpu_enforcement="governor")
    version = service.publish_version("spin")["Version"]
    service.update_configuration("spin", {"MemorySize": 1769})
    await service.invoke("spin", b'{"cpu_s": 0.005}', qualifier=version)
    pinned = await service.invoke("spin", b'{"cpu_s": 0.1}', qualifier=version, log_tail=True)
    ratio = json.loads(pinned.payload)["cpu_s"] * 1000 / parse_log_result(pinned.log_tail or "").duration_ms
    assert "Memory Size: 256 MB" in (service.logs["spin"][-1])
    assert ratio <= vcpu_share(256) * 1.5


async def test_a_throttled_worker_is_never_left_stopped(start_service, spin_root: Path) -> None:
    """Timeout while held back, then stop while held back: every process continues or dies."""
    service = await start_service([spin_function(spin_root, 128, timeout_s=1)], cpu_enforcement="governor")
    assert service.cpu_governor is not None
    timed_out = await service.invoke("spin", b'{"cpu_s": 5}')
    assert json.loads(timed_out.payload)["errorType"] == "Sandbox.Timedout"
    assert service.cpu_governor.governed() == []
    service.update_configuration("spin", {"Timeout": 20})
    task = asyncio.ensure_future(service.invoke("spin", b'{"cpu_s": 5}'))
    for _ in range(200):  # wait until the governor has the busy worker stopped at least once
        await asyncio.sleep(0.02)
        if service.cpu_governor.stopped():
            break
    held = service.cpu_governor.stopped()
    assert held, "the 128 MB worker was never held back"
    await service.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert wait_for_state(held, stopped=False)
    assert service.live_worker_pids() == []


def test_governor_holds_a_plain_process_to_its_share_and_releases_it() -> None:
    spinner = subprocess.Popen(
        [sys.executable, "-c", "while True: pass"], start_new_session=True, stdout=subprocess.DEVNULL
    )
    governor = limits.CpuGovernor()
    try:
        time.sleep(0.1)
        before = limits.tree_cpu_seconds(spinner.pid)
        started = time.monotonic()
        governor.govern(spinner.pid, 0.2)
        time.sleep(1.0)
        used = limits.tree_cpu_seconds(spinner.pid) - before
        wall = time.monotonic() - started
        stats = governor.stats(spinner.pid)
        assert used / wall < 0.4, f"governed at 0.2 CPU, used {used / wall:.2f}"
        assert stats is not None and stats[0] >= 3, "held back repeatedly, not once"
        governor.release(spinner.pid)
        assert wait_for_state([spinner.pid], stopped=False)
    finally:
        governor.close()
        spinner.send_signal(signal.SIGKILL)
        spinner.wait()


def test_tree_cpu_counts_children() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys; subprocess.run([sys.executable,'-c','while True: pass'])"],
        start_new_session=True,
    )
    try:
        time.sleep(0.6)
        members = limits.tree_pids(parent.pid)
        assert len(members) == 2
        assert limits.tree_cpu_seconds(parent.pid) > limits.process_cpu_seconds(parent.pid) + 0.1
        limits.signal_tree(parent.pid, signal.SIGSTOP)
        assert wait_for_state(members, stopped=True)
        limits.signal_tree(parent.pid, signal.SIGCONT)
        assert wait_for_state(members, stopped=False)
    finally:
        limits.kill_group(parent.pid)
        parent.wait()


@pytest.mark.skipif("cfs-v1" not in MECHANISMS, reason="no writable cgroup v1 cpu hierarchy here")
async def test_cfs_cgroups_are_removed_when_the_service_stops(spin_root: Path) -> None:
    """Killed (timeout) and stopped workers alike leave no cgroup directory behind."""
    from localcloud.lambda_service import LambdaService

    service = LambdaService([spin_function(spin_root, 128, timeout_s=1)], memory_enforcement="rss", worker_cap=2)
    await service.start()
    try:
        assert service.cfs_dir is not None
        timed_out = await service.invoke("spin", b'{"cpu_s": 5}')
        assert json.loads(timed_out.payload)["errorType"] == "Sandbox.Timedout"
        await service.invoke("spin", b'{"cpu_s": 0.01}')
        assert [child for child in service.cfs_dir.iterdir() if child.is_dir()], "the live worker has its cgroup"
    finally:
        await service.stop()
    assert not service.cfs_dir.exists()
