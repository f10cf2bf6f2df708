"""SnapStart's restore handshake through the real Runtime API: hooks, /restore/next, failures.

The server holds ``/restore/next`` until the test calls ``restore()``: that is the moment Lambda takes
the snapshot, so what ran by then is what every restored environment shares.
"""

from __future__ import annotations

import asyncio
import json

import pytest

SNAP = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}


async def _at_snapshot(peer, timeout: float = 20.0) -> None:
    await asyncio.wait_for(peer.server.restore_requested.wait(), timeout)


async def test_hooks_run_around_restore_next_in_awslambdarics_order(peer, launch):
    process = await launch(peer.address, "rt_snapstart.handler", **SNAP)
    await _at_snapshot(peer)
    await asyncio.sleep(0.2)
    assert peer.next_calls == 0  # waiting to be restored, not for an event
    peer.server.restore()
    outcome = await peer.invoke({})
    body = outcome.json()
    # before-snapshot: last registered first (AWS's registry after ours); after-restore: first registered first
    assert body["events"] == [
        "init",
        "before:aws",
        "before:ours-second",
        "before:ours-first",
        "after:ours",
        "after:aws",
    ]
    assert body["reseeded"] is True  # the runtime's own after-restore hook re-seeded `random`
    assert process.proc.returncode is None


async def test_awslambdaric_runs_the_same_snapshot_restore_py_hooks(peer, launch):
    """The parity case: hooks registered through AWS's library run in the same order under either runtime."""
    results = {}
    for runtime in ("awslambdaric", "ours"):
        server = type(peer)()
        await server.start()
        try:
            await launch(server.address, "rt_snapstart.aws_only_handler", runtime=runtime, **SNAP)
            await _at_snapshot(server)
            server.server.restore()
            results[runtime] = (await server.invoke({})).json()["events"]
        finally:
            await server.stop()
    assert results["ours"] == results["awslambdaric"] == ["before:aws", "after:aws"]


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
async def test_on_demand_init_never_waits_for_a_restore(peer, launch, runtime):
    handler = "rt_snapstart.handler" if runtime == "ours" else "rt_snapstart.aws_only_handler"
    await launch(peer.address, handler, runtime=runtime)
    body = (await peer.invoke({})).json()
    assert body["events"] == (["init"] if runtime == "ours" else [])
    assert not peer.server.restore_requested.is_set()


async def test_a_failing_before_snapshot_hook_is_an_init_error(peer, launch):
    process = await launch(peer.address, "rt_snapstart.handler", RT_SNAPSTART_FAIL="before", **SNAP)
    failure = await peer.init_failure()
    assert failure.error_type == "Runtime.BeforeSnapshotError"
    body = failure.json()
    assert body["errorType"] == "Runtime.BeforeSnapshotError"
    assert "boom failed: OSError: cannot reach the license server" in body["errorMessage"]
    assert await process.wait() == 64
    assert not peer.server.restore_requested.is_set()


async def test_a_failing_after_restore_hook_is_reported_on_restore_error(peer, launch):
    process = await launch(peer.address, "rt_snapstart.handler", RT_SNAPSTART_FAIL="after", **SNAP)
    await _at_snapshot(peer)
    peer.server.restore()
    failure = await asyncio.wait_for(peer.server.restore_error, 20)
    assert failure.error_type == "Runtime.AfterRestoreError"
    assert json.loads(failure.payload)["errorType"] == "Runtime.AfterRestoreError"
    assert await process.wait() == 65
    assert peer.next_calls == 0


async def test_a_restore_next_the_api_refuses_ends_the_runtime(peer, launch):
    peer.server.fail_next("restore_next", 500)
    process = await launch(peer.address, "rt_snapstart.handler", **SNAP)
    assert await process.wait() == 3
