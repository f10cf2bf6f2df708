"""The API handlers' SnapStart hooks: clients closed before the snapshot and re-opened after a restore."""

from __future__ import annotations

import sys

import pytest

from handlers.api import clients, fhr
from handlers.runtime import snapstart


@pytest.mark.usefixtures("aws_env")
async def test_fhr_closes_its_clients_for_the_snapshot_and_reopens_them_after_restore() -> None:
    await fhr.init()
    before = dict(clients._POOL._clients)
    await snapstart.run_before_snapshot()
    assert clients._POOL._clients == {}  # nothing network-bound goes into the snapshot
    assert "handlers.fhr.estimator" in sys.modules and "pyfftw" in sys.modules  # the estimator does
    await snapstart.run_after_restore()
    after = clients._POOL._clients
    assert set(after) == {"s3", "dynamodb"}
    assert all(after[name] is not before[name] for name in after)  # new clients, new connections
