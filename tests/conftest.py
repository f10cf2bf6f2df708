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

    from localcloud.moto import serialize_dynamodb_writes

    serialize_dynamodb_writes()  # as the local cloud's moto: a conditional write is atomic, as in DynamoDB
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port  # port 0 asks the OS for a free one
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
