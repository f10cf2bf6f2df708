"""Fixtures every test package shares: where the set-a data lives, and one real moto server.

moto's in-process ``mock_aws()`` does not work with aiobotocore, so S3, DynamoDB and SQS tests talk
to a real moto server on 127.0.0.1 (see ../shared/PLATFORM.md). Tests create uniquely named
buckets and tables, so one server serves the whole session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SET_A = SHARED_DATA / "challenge2013-set-a"

# Credentials for the moto server only; never real ones. Set before any boto client is built.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}.items():
    os.environ.setdefault(_name, _value)


# Under CI=true a skip is a failure, unless its reason is something CI cannot have (checked against
# each skip's reason text). A module that fails to import, a dependency missing from the venv or code
# that "has not landed yet" must fail the build, not vanish from it.
CI_MAY_SKIP = (
    "no C compiler",  # the readers then run on numpy only (tests/handlers/fhr/readers/test_native.py)
    "no CPython 3.12 on this machine",  # bundler bytecode for Lambda's interpreter
    "this interpreter is the Lambda version",
    "the worker sandbox needs root and util-linux here",
    "no writable cgroup v1 cpu hierarchy here",
    "a deployed stage's logs are in CloudWatch",  # only with FHR_STACK_OUTPUTS (a deployed stage)
    "set FHR_FUZZ_STAGE=1 to fuzz a deployed stage",
    "a selection of the suite (-k/-m) need not call every operation",  # partial runs; CI runs everything
    "the whole contract suite did not run",
)


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not (running_in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if any(allowed in reason for allowed in CI_MAY_SKIP):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where only what CI cannot have may skip (tests/conftest.py): {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def set_a_dir() -> Path:
    """The PhysioNet/CinC 2013 set-a records (read-only, beside the checkout)."""
    if not (SET_A / "a01.hea").exists():
        pytest.fail(f"set-a data not found at {SET_A}: the tests read ../shared/data beside the checkout")
    return SET_A


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on loopback for the whole test session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    from localcloud.moto import enforce_dynamodb_batch_limits, serialize_dynamodb_writes

    serialize_dynamodb_writes()  # as the local cloud's moto: a conditional write is atomic, as in DynamoDB
    enforce_dynamodb_batch_limits()  # and a BatchWriteItem takes at most 25 requests
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port  # port 0 asks the OS for a free one
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
