"""Under CI=true a skip fails the run unless CI cannot have what it needs (tests/conftest.py's hooks).

The real conftest is copied beside probe tests in a temporary directory and run in a pytest subprocess,
with and without CI=true: a skip on a missing import (in a test or at module level) fails under CI and
skips elsewhere; a skip whose reason is on the allow-list, and an xfail, stay what they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBES = """
import pytest

def test_missing_import():
    pytest.importorskip("no_such_module_for_the_ci_probe")

def test_has_not_landed_yet():
    pytest.skip("the estimator has not landed yet")

def test_allowed():
    pytest.skip("no C compiler: the readers run on numpy only")

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

def test_ok():
    pass
"""

MODULE_SKIP = """
import pytest
pytest.importorskip("no_such_module_for_the_ci_probe_either")

def test_never_runs():
    pass
"""


def run_probes(tmp_path: Path, ci: str | None, module_skip: bool = False) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "conftest.py").write_text((HERE / "conftest.py").read_text())
    (tests / "test_probes.py").write_text(MODULE_SKIP if module_skip else PROBES)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci is not None else {})
    command = [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "tests"]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_under_ci_a_skip_on_a_missing_import_fails_and_allowed_skips_stay(tmp_path: Path) -> None:
    run = run_probes(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    assert "FAILED tests/test_probes.py::test_missing_import" in run.stdout
    assert "FAILED tests/test_probes.py::test_has_not_landed_yet" in run.stdout
    assert "SKIPPED" in run.stdout and "no C compiler" in run.stdout
    assert "2 failed, 1 passed, 1 skipped, 1 xfailed" in run.stdout, run.stdout


def test_outside_ci_skips_are_skips(tmp_path: Path) -> None:
    run = run_probes(tmp_path, "false")
    assert run.returncode == 0, run.stdout
    assert "1 passed, 3 skipped, 1 xfailed" in run.stdout, run.stdout


def test_under_ci_a_module_that_skips_itself_on_import_fails_collection(tmp_path: Path) -> None:
    run = run_probes(tmp_path, "true", module_skip=True)
    assert run.returncode != 0 and "skipped under CI=true" in run.stdout, run.stdout
    elsewhere = run_probes(tmp_path, None, module_skip=True)
    assert elsewhere.returncode == 5 and "1 skipped" in elsewhere.stdout, elsewhere.stdout  # 5: no test ran
