"""``fhr local`` as a user runs it: a subprocess that prints outputs, serves, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fhrapp.definition import APP, physical_name
from localcloud.outputs import LOCAL_OUTPUT_KEYS, STACK_OUTPUT_KEYS

REPO_ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc), i.e. the worker processes and their children."""
    found, pending = set(), [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.add(child)
            pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kill_tree(process: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL ``fhr local`` and whatever it still has running (SIGKILL ends stopped processes too)."""
    survivors = [pid for pid in descendants(process.pid) if alive(pid)] if process.poll() is None else []
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    kill_pids(survivors)
    return survivors


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start_local(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], dict]:
    outputs_file = tmp_path / "outputs.json"
    command = [sys.executable, "-m", "fhrcli.main", "local", "--port", "0", "--outputs-file", str(outputs_file)]
    with (tmp_path / "stderr.log").open("wb") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([*command, *extra], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr)
    deadline = time.monotonic() + 30
    while not outputs_file.exists():
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.log").read_text()
        time.sleep(0.05)
    return process, json.loads(outputs_file.read_text())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_every_process_fhr_local_started(tmp_path: Path, sig: signal.Signals) -> None:
    process, outputs = start_local(tmp_path, "--app", "tests.localcloud.echo_app:APP", "--no-schedules")
    try:
        # Two overlapping slow requests make the Lambda service start two worker processes
        url = outputs["api_url"] + "/slow?s=1.5"
        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(urllib.request.urlopen, url, timeout=30) for _ in range(2)]
            deadline = time.monotonic() + 20
            while len(descendants(process.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            children = descendants(process.pid)
            assert len(children) >= 2, (tmp_path / "stderr.log").read_text()
            for call in calls:
                assert call.result().status == 200
        process.send_signal(sig)
        assert process.wait(timeout=20) == 0
    finally:
        kill_tree(process)  # a failed run must not leave (frozen) workers behind for the rest of the suite
    survivors = [pid for pid in children if alive(pid)]
    kill_pids(survivors)
    assert not survivors, "worker processes survived fhr local"
    assert not (tmp_path / "outputs.json").exists(), "a dead stack's outputs file was left behind"


def test_stdout_is_the_outputs_json(tmp_path: Path) -> None:
    process, outputs = start_local(tmp_path, "--no-schedules", "--idle-timeout", "60-120")
    try:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    printed = json.loads(stdout)
    assert printed == outputs
    assert set(printed) >= {*STACK_OUTPUT_KEYS, *LOCAL_OUTPUT_KEYS, "dashboard_name"}
    assert printed["functions"] == {fn.name: physical_name("fhr", "dev", fn.name) for fn in APP.functions}
    announced = (tmp_path / "stderr.log").read_text()
    assert "frozen between invocations" in announced and "reclaimed after 60-120 s idle" in announced


def test_a_bad_stack_name_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fhrcli.main", "local", "--stack", "staging"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 2
    assert "Pulumi.staging.yaml" in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_a_clear_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "fhrcli.main", "local", "--port", str(port), "--no-schedules"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert "choose another --port" in result.stderr and "Traceback" not in result.stderr


def test_an_environment_lambda_would_refuse_stops_fhr_local_before_anything_starts(tmp_path: Path) -> None:
    """4,050 bytes of variables alone fit, but with the bucket name and queue URL Pulumi would add they
    do not: refused at start, naming the function, as ``pulumi up`` would fail to create it."""
    command = [sys.executable, "-m", "fhrcli.main", "local", "--port", "0", "--app"]
    done = subprocess.run(
        [*command, "tests.localcloud.echo_app:TOO_BIG_ENVIRONMENT"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "functions.echo" in done.stderr and "exceeded the 4KB limit" in done.stderr
    assert "Traceback" not in done.stderr
