"""Memory/CPU limit helpers: Lambda's memory-to-CPU ratio, the cgroup v2 files, RSS of a process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from localcloud.lambda_service import limits, vcpu_share


def test_memory_maps_to_lambdas_cpu_share() -> None:
    assert vcpu_share(1769) == 1.0
    assert round(vcpu_share(128), 3) == 0.072
    assert round(vcpu_share(10_240), 2) == 5.79


def test_worker_cgroup_writes_memory_max_and_cpu_max(tmp_path: Path) -> None:
    """The files the kernel reads, written into a stand-in directory (this machine has no cgroup v2)."""
    cgroup = limits.WorkerCgroup("w1", 1769, cpu_shares=True, parent=tmp_path)
    cgroup.create()
    assert (tmp_path / "w1" / "memory.max").read_text() == str(1769 * 1024 * 1024)
    assert (tmp_path / "w1" / "memory.swap.max").read_text() == "0"
    assert (tmp_path / "w1" / "cpu.max").read_text() == "100000 100000"
    half = limits.WorkerCgroup("w2", 884, cpu_shares=True, parent=tmp_path)
    half.create()
    assert (tmp_path / "w2" / "cpu.max").read_text() == "49971 100000"


def test_tree_rss_counts_children_and_peak_is_at_least_current() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; b = bytearray(64 * 1024 * 1024); b[::4096] = b'x' * (len(b) // 4096); time.sleep(30)",
        ],
    )
    try:
        for _ in range(200):
            if limits.tree_rss_bytes(child.pid) > 60 * 1024 * 1024:
                break
            time.sleep(0.02)
        assert limits.tree_rss_bytes(child.pid) > 60 * 1024 * 1024
        assert limits.tree_rss_bytes(os.getpid()) >= limits.tree_rss_bytes(child.pid), "a parent counts its child"
        assert limits.peak_rss_bytes(child.pid) >= 60 * 1024 * 1024
    finally:
        child.kill()
        child.wait()
    assert limits.tree_rss_bytes(child.pid) == 0
