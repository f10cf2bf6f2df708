"""The API handlers' SnapStart hooks: no connection in the snapshot, new ones in each restored environment."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from handlers.api import clients, fhr
from handlers.runtime import snapstart


def connections(client: Any) -> int:
    """Open HTTP sessions of an aiobotocore client (each owns a connection pool)."""
    return len(client._endpoint.http_session._sessions)


async def restore_on_a_new_loop(before: dict[str, Any]) -> dict[str, Any]:
    """What the runtime does after a restore, in a new event loop (the snapshot's loop is closed)."""

    def in_new_loop() -> dict[str, Any]:
        async def resume() -> dict[str, Any]:
            await snapstart.run_after_restore()
            dynamodb = await clients.client("dynamodb")
            await dynamodb.list_tables()  # a request on the new loop opens a new connection
            return {"clients": dict(clients._POOL._clients), "connections": connections(dynamodb)}

        return asyncio.run(resume())

    return await asyncio.to_thread(in_new_loop)


@pytest.mark.usefixtures("aws_env")
async def test_fhr_takes_no_connection_into_the_snapshot_and_opens_new_ones_after_a_restore() -> None:
    await fhr.init()
    dynamodb = await clients.client("dynamodb")
    await dynamodb.list_tables()
    assert connections(dynamodb) == 1
    before = dict(clients._POOL._clients)
    await snapstart.run_before_snapshot()
    assert set(before) == {"s3", "dynamodb"} and all(connections(c) == 0 for c in before.values())
    assert "handlers.fhr.estimator" in sys.modules and "pyfftw" in sys.modules  # the estimator goes in
    after = await restore_on_a_new_loop(before)
    assert after["clients"] == before  # the same clients (models, credentials)...
    assert after["connections"] == 1  # ...with a connection of their own, made on the restored loop
    clients._POOL._loop = None  # the test's loop did not make them: let the fixture drop them
