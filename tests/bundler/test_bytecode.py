"""The bundle's CPython 3.12 bytecode and its trimmed SDK data: deterministic, used, and never stale."""

from __future__ import annotations

import ast
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from bundler.build import BOTOCORE_SERVICES, build_bundle, layer_cache_key, trimmed_endpoints, unused_service_data
from bundler.bytecode import BytecodeFailed, check_python, find_lambda_python, is_shipped_bytecode
from tests.bundler.test_build import sources

LAMBDA_PYTHON = find_lambda_python()
needs_312 = pytest.mark.skipif(LAMBDA_PYTHON is None, reason="no CPython 3.12 on this machine")


@needs_312
def test_archives_carry_deterministic_unchecked_hash_bytecode(
    tmp_path: Path, handler_tree: Path, wheelhouse: Path
) -> None:
    src = sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse, python=LAMBDA_PYTHON)
    first = build_bundle(tmp_path / "out1", src)
    for path in handler_tree.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    second = build_bundle(tmp_path / "out2", src)
    assert first.code.sha256 == second.code.sha256 and first.code.bytecode == "cpython-312 unchecked-hash"
    assert first.layer is not None and second.layer is not None and first.layer.sha256 == second.layer.sha256
    with zipfile.ZipFile(first.code_path) as zf:
        names = set(zf.namelist())
        pyc = zf.read("handlers/api/__pycache__/fhr.cpython-312.pyc")
    assert "handlers/runtime/__pycache__/__init__.cpython-312.pyc" in names
    assert not {name for name in names if "cpython-311" in name or name.endswith("stale.pyc") or "/tests/" in name}
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, source never checked
    assert b"/var/task/handlers/api/fhr.py" in pyc  # the deployed path, not the build directory's
    assert first.layer_path is not None
    with zipfile.ZipFile(first.layer_path) as zf:
        assert b"/opt/python/tinydep/__init__.py" in zf.read("python/tinydep/__pycache__/__init__.cpython-312.pyc")


@needs_312
def test_the_unpacked_bundle_imports_from_its_bytecode(tmp_path: Path, handler_tree: Path, wheelhouse: Path) -> None:
    """Lambda's python3.12 takes the shipped .pyc without reading the source: proven by editing the source."""
    manifest = build_bundle(
        tmp_path / "out", sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse, python=LAMBDA_PYTHON)
    )
    assert manifest.layer_path is not None
    opt = tmp_path / "opt"
    zipfile.ZipFile(manifest.layer_path).extractall(opt)
    (opt / "python" / "tinydep" / "__init__.py").write_text("VERSION = 'edited after the build'\n")
    probe = "import tinydep; print(tinydep.VERSION)"
    env = {"PYTHONPATH": str(opt / "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([str(LAMBDA_PYTHON), "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.0"


def test_another_python_version_is_refused(tmp_path: Path, handler_tree: Path) -> None:
    import sys

    if sys.version_info[:2] == (3, 12):
        pytest.skip("this interpreter is the Lambda version")
    with pytest.raises(BytecodeFailed, match="needs CPython 3.12"):
        check_python(Path(sys.executable))
    with pytest.raises(BytecodeFailed, match="needs CPython 3.12"):
        build_bundle(tmp_path / "out", sources(tmp_path, handler_tree, "", python=Path(sys.executable)))


def test_only_bytecode_the_build_wrote_is_shipped() -> None:
    assert is_shipped_bytecode("numpy/__pycache__/version.cpython-312.pyc")
    assert not is_shipped_bytecode("numpy/__pycache__/version.cpython-311.pyc")
    assert not is_shipped_bytecode("numpy/version.pyc")
    assert not is_shipped_bytecode("numpy/__pycache__/version.cpython-312.opt-1.pyc")


def test_compiled_and_source_only_layers_are_cached_apart(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.4.6\n")
    assert layer_cache_key(requirements) != layer_cache_key(requirements, compiled=True)


def test_sdk_data_is_kept_for_the_services_called_and_shared_files() -> None:
    keep = ("s3", "dynamodb")
    assert unused_service_data("botocore/data/ec2/2016-11-15/service-2.json.gz", keep)
    assert unused_service_data("boto3/data/ec2/2016-11-15/resources-1.json", keep)
    assert not unused_service_data("botocore/data/s3/2006-03-01/service-2.json.gz", keep)
    assert not unused_service_data("botocore/data/endpoints.json", keep)
    assert not unused_service_data("botocore/data/partitions.json", keep)
    assert not unused_service_data("botocore/client.py", keep)


def _client_services(handlers: Path) -> set[str]:
    """Service names in ``client("x")``, ``create_client("x")`` and ``open_services("x", ...)`` calls."""
    found: set[str] = set()
    for path in handlers.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("client", "create_client", "open_services"):
                found.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return found


def test_every_service_the_handlers_call_keeps_its_sdk_data(repo_root: Path) -> None:
    called = _client_services(repo_root / "handlers")
    assert {"s3", "dynamodb", "sqs", "lambda"} <= called
    assert called <= set(BOTOCORE_SERVICES), f"add {called - set(BOTOCORE_SERVICES)} to BOTOCORE_SERVICES"


def test_trimmed_endpoints_resolve_every_kept_service_as_the_full_table_does(tmp_path: Path) -> None:
    """Clients of the kept services, made with only the trimmed table, get the same endpoints."""
    import json

    import botocore
    import botocore.session

    full = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    trimmed = trimmed_endpoints(full, BOTOCORE_SERVICES)
    assert [p["partition"] for p in trimmed["partitions"]] == [p["partition"] for p in full["partitions"]]
    assert set(trimmed["partitions"][0]["services"]) == set(BOTOCORE_SERVICES)
    assert len(json.dumps(trimmed)) < len(json.dumps(full)) / 10
    data = tmp_path / "data"
    data.mkdir()
    (data / "endpoints.json").write_text(json.dumps(trimmed))
    for region in ("eu-west-1", "us-gov-west-1", "cn-north-1"):
        for service in BOTOCORE_SERVICES:
            expected = botocore.session.get_session().create_client(service, region_name=region)
            session = botocore.session.get_session()
            session.set_config_variable("data_path", str(data))  # searched before botocore's own data
            client = session.create_client(service, region_name=region)
            assert client.meta.endpoint_url == expected.meta.endpoint_url
            assert client.meta.region_name == expected.meta.region_name


def test_model_examples_are_documentation_only_and_not_shipped() -> None:
    assert unused_service_data("botocore/data/s3/2006-03-01/examples-1.json", ("s3",))
    assert not unused_service_data("botocore/data/s3/2006-03-01/paginators-1.json", ("s3",))
