"""``fhr local`` as a child process, for the contract suite and the benchmarks that need a stack.

It runs the same command a developer runs and waits for its outputs file, so whatever uses it
exercises the real start-up path; leaving the ``with`` block sends SIGTERM and waits for a clean exit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localcloud.outputs import load

REPO_ROOT = Path(__file__).resolve().parent.parent


class LaunchError(RuntimeError):
    """``fhr local`` exited or did not write its outputs in time; carries the tail of its log."""


@contextmanager
def local_cloud(
    workdir: Path, stack: str = "dev", extra_args: Sequence[str] = ("--no-schedules",), timeout_s: float = 60.0
) -> Iterator[dict[str, Any]]:
    """Start ``fhr local --stack STACK --port 0 --outputs-file …``; yield its outputs; stop it after."""
    outputs_file, log_file = workdir / "outputs.json", workdir / "fhr-local.log"
    command = [sys.executable, "-m", "fhrcli.main", "local", "--stack", stack, "--port", "0"]
    command += ["--outputs-file", str(outputs_file), *extra_args]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + timeout_s
        while not outputs_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise LaunchError(f"fhr local did not become ready:\n{log_file.read_text()[-3000:]}")
            time.sleep(0.05)
        yield load(outputs_file)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
