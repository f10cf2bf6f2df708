"""SnapStart, emulated: one init per published version, every environment of it a fork of that snapshot."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from localcloud.lambda_service import FunctionSpec, LambdaService, limits
from localcloud.lambda_service.sandbox import probe
from tests.localcloud.lambda_service.conftest import FIXTURES, StartService


def snap_function(**overrides: Any) -> FunctionSpec:
    fields: dict[str, Any] = {"code_root": FIXTURES, "timeout_s": 10, "memory_mb": 512, "snap_start": True}
    return FunctionSpec(name="snap", handler="snap.handler", **{**fields, **overrides})


async def invoke(service: LambdaService, qualifier: str = "1") -> tuple[dict[str, Any], Any]:
    result = await service.invoke("snap", b"{}", qualifier=qualifier, log_tail=True)
    return json.loads(result.payload), result


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def report_line(service: LambdaService) -> str:
    return [line for line in service.logs["snap"] if line.startswith("REPORT")][-1]


async def test_environments_of_a_version_are_restored_from_its_one_init(start_service: StartService) -> None:
    service = await start_service([snap_function()])
    service.publish_version("snap")
    answers = await asyncio.gather(*(invoke(service) for _ in range(3)))  # three environments at once
    bodies = [body for body, _ in answers]
    template = service.snapshots.get(("snap", "1"))
    assert template is not None and template.restores == 3
    assert len({b["init_pid"] for b in bodies}) == 1  # init ran once, in the snapshot...
    pids = {b["pid"] for b in bodies}
    assert len(pids) == 3 and bodies[0]["init_pid"] not in pids  # ...and each environment is a copy of it
    assert all(b["restored_in"] == [b["pid"]] for b in bodies)  # the after-restore hook ran in each copy
    assert len({b["random"] for b in bodies}) == 3  # re-seeded: copies do not draw the same numbers
    assert {(b["version"], b["init_type"], b["log_stream"]) for b in bodies} == {("1", "snap-start", None)}
    assert all(result.cold_start for _, result in answers)
    assert "\tRestore Duration: " in report_line(service) and "Init Duration" not in report_line(service)
    warm, result = await invoke(service)
    assert warm["pid"] in pids and not result.cold_start


@pytest.mark.skipif(not probe(), reason="the worker sandbox needs root and util-linux here")
async def test_restored_environments_keep_the_snapshots_sandbox_and_are_frozen_when_idle(
    start_service: StartService,
) -> None:
    service = await start_service([snap_function()], sandbox="on", freeze=True)
    service.publish_version("snap")
    body, _ = await invoke(service)
    assert body["uid"] != 0 and body["tmpdir"] not in (None, "/tmp")  # the snapshot's uid and TMPDIR
    for _ in range(500):  # parked on /next after its answer: the whole restored tree is stopped
        idle = service.pool.idle_workers()
        if idle and idle[0].frozen and all(process_state(pid) == "T" for pid in limits.tree_pids(body["pid"])):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the restored environment was never frozen")
    assert idle[0].restored and idle[0].pid == body["pid"]
    again, _ = await invoke(service)  # thawed for the next event
    assert again["pid"] == body["pid"] and idle[0].freezes >= 1


async def test_latest_is_never_snapshotted(start_service: StartService) -> None:
    service = await start_service([snap_function()])
    body, result = await invoke(service, qualifier="$LATEST")
    assert body["pid"] == body["init_pid"] and body["restored_in"] == [] and body["init_type"] == "on-demand"
    assert result.cold_start and "\tInit Duration: " in report_line(service)
    assert service.snapshots.get(("snap", "$LATEST")) is None


async def test_a_snapshot_whose_init_fails_fails_every_restore_with_that_error(start_service: StartService) -> None:
    service = await start_service([snap_function(environment={"SNAP_FAIL": "init"})])
    service.publish_version("snap")
    for _ in range(2):
        result = await service.invoke("snap", b"{}", qualifier="1")
        assert result.function_error == "Unhandled"
        error = json.loads(result.payload)
        assert error["errorType"] == "RuntimeError" and "the snapshot's init fails" in error["errorMessage"]


async def test_a_failing_after_restore_hook_ends_that_environment(start_service: StartService) -> None:
    service = await start_service([snap_function(environment={"SNAP_FAIL": "restore"})])
    service.publish_version("snap")
    result = await service.invoke("snap", b"{}", qualifier="1")
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Runtime.ExitError"
    assert "exit status 65" in json.loads(result.payload)["errorMessage"]


async def test_deleting_the_version_or_stopping_the_service_ends_the_snapshot(start_service: StartService) -> None:
    service = await start_service([snap_function()])
    for _ in range(2):
        service.publish_version("snap")
    await invoke(service, "1")
    await invoke(service, "2")
    one, two = service.snapshots.get(("snap", "1")), service.snapshots.get(("snap", "2"))
    assert one is not None and two is not None
    pids = [one._process.pid, two._process.pid]  # type: ignore[union-attr]
    service.pool.retire(lambda key: True)
    service.delete_version("snap", "1")
    await asyncio.sleep(0.5)
    assert service.snapshots.get(("snap", "1")) is None and not _alive(pids[0])
    await service.stop()
    assert not _alive(pids[1]) and not service.live_worker_pids()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[1].split()[0] != "Z"
