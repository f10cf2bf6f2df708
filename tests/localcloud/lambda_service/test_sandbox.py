"""The sandbox's file system and identity: read-only code and layers, a private sized TMPDIR, cwd = task root.

We run as root, so a ``chmod`` would stop nothing: these tests write for real and read the errno back.
They need the sandbox (root + util-linux); where it cannot work the service says so and they skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localcloud.lambda_service import FunctionSpec, InvalidParameterValue, LambdaService
from localcloud.lambda_service.sandbox import Sandbox, probe

FIXTURES = Path(__file__).resolve().parent / "fixtures_handlers"
Ric = Callable[..., FunctionSpec]
needs_sandbox = pytest.mark.skipif(not probe(), reason="the worker sandbox needs root and util-linux here")


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    """A task root holding the fixture and a module to import, so a stray ``__pycache__`` would show."""
    root = tmp_path / "task"
    root.mkdir()
    shutil.copy(FIXTURES / "sandboxed.py", root / "sandboxed.py")
    (root / "imported_later.py").write_text("VALUE = 1\n")
    return root


def sandboxed(ric: Ric, task_root: Path, **overrides: Any) -> FunctionSpec:
    # PYTHONDONTWRITEBYTECODE is set on this machine; cleared here so Python tries to cache bytecode.
    return ric(
        "fx-sandbox", "sandboxed.report", code_root=task_root, environment={"PYTHONDONTWRITEBYTECODE": ""}, **overrides
    )


async def report(service: LambdaService, **event: Any) -> dict[str, Any]:
    result = await service.invoke("fx-sandbox", json.dumps(event).encode())
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


@needs_sandbox
async def test_code_and_layers_are_read_only_and_tmp_is_the_environments_own(start_service, ric: Ric, task_root: Path):
    service = await start_service([sandboxed(ric, task_root)])
    seen = await report(service, **{"import": "imported_later"})
    assert seen["uid"] != 0, "not root, as on Lambda"
    assert seen["cwd"] == seen["task_root"] == str(task_root)
    assert (seen["write_code"], seen["write_layer"], seen["write_python"]) == ("EACCES", "EACCES", "EACCES")
    assert not (task_root / "written-by-handler").exists()
    assert not list(task_root.rglob("__pycache__")), "Python could not cache bytecode next to the code"
    assert seen["write_tmp"] is None and seen["tmpdir"] != "/tmp"
    assert seen["tmp_bytes"] == 512 * 1024 * 1024, "TMPDIR is a tmpfs of the default ephemeral size"
    assert not Path(seen["tmpdir"], "written-by-handler").exists(), "the tmpfs is private to the environment"


async def test_without_the_sandbox_the_same_handler_writes_next_to_its_code(start_service, ric: Ric, task_root: Path):
    """The counter-check: as root, a worker outside the sandbox writes wherever it likes."""
    service = await start_service([sandboxed(ric, task_root)], sandbox="off")
    seen = await report(service, **{"import": "imported_later"})
    if os.geteuid() == 0:
        assert seen["write_code"] is None and (task_root / "written-by-handler").exists()
        assert list(task_root.rglob("__pycache__"))


@needs_sandbox
async def test_each_environment_has_its_own_uid_and_tmpdir(start_service, ric: Ric, task_root: Path):
    service = await start_service([sandboxed(ric, task_root)], worker_cap=2)
    other = await start_service([sandboxed(ric, task_root)])
    first, second = await report(service), await report(other)
    assert first["uid"] != second["uid"] and first["tmpdir"] != second["tmpdir"]


@needs_sandbox
async def test_the_configured_ephemeral_size_applies_to_new_environments(start_service, ric: Ric, task_root: Path):
    service = await start_service([sandboxed(ric, task_root, ephemeral_storage_mb=1024)])
    assert (await report(service))["tmp_bytes"] == 1024 * 1024 * 1024
    service.update_configuration("fx-sandbox", {"EphemeralStorage": {"Size": 2048}})
    assert service.configuration("fx-sandbox")["EphemeralStorage"] == {"Size": 2048}
    assert (await report(service))["tmp_bytes"] == 2048 * 1024 * 1024
    with pytest.raises(InvalidParameterValue, match="512 to 10240"):
        service.update_configuration("fx-sandbox", {"EphemeralStorage": {"Size": 256}})


@needs_sandbox
def test_a_full_tmpdir_answers_no_space_left(tmp_path: Path) -> None:
    """The size is the kernel's: writing past it fails with ENOSPC, as a full /tmp does on Lambda."""
    sandbox = Sandbox(enforced=True, root=tmp_path / "envs")
    environment = sandbox.environment("w1", ephemeral_mb=2)
    writer = (
        "import os, sys\n"
        "try:\n    open(os.environ['TMPDIR'] + '/big', 'wb').write(b'0' * 3_000_000)\n"
        "except OSError as e:\n    sys.exit(e.errno)"
    )
    done = subprocess.run(
        environment.wrap([sys.executable, "-c", writer]),
        env={**os.environ, **environment.environment()},
        check=False,
        timeout=30,
    )
    assert done.returncode == 28  # ENOSPC
    sandbox.discard(environment)
    assert not environment.tmpdir.exists()
    assert not any(line.split()[1] == str(environment.tmpdir) for line in Path("/proc/mounts").read_text().splitlines())


def test_environment_variables_over_4_kb_are_refused_as_lambda_refuses_them(start_service, ric: Ric) -> None:
    """Lambda measures the variables as compact JSON: 4,096 bytes pass, one more is refused."""
    fits = {"A": "x" * (4096 - len('{"A":""}'))}
    assert len(json.dumps(fits, separators=(",", ":"))) == 4096
    ric("fx-env", "basic.echo", environment=fits)
    with pytest.raises(InvalidParameterValue, match="exceeded the 4KB limit"):
        ric("fx-env", "basic.echo", environment={"A": fits["A"] + "x"})
