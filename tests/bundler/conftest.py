"""Small, offline bundle inputs: a tiny handler tree and a hand-made wheel pip installs from disk."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest


@pytest.fixture
def handler_tree(tmp_path: Path) -> Path:
    """A ``handlers/`` package with the clutter a real checkout has (bytecode, tests, hidden files)."""
    root = tmp_path / "src" / "handlers"
    (root / "runtime").mkdir(parents=True)
    (root / "api").mkdir()
    (root / "__init__.py").write_text('"""handlers"""\n')
    (root / "runtime" / "__init__.py").write_text("")
    (root / "runtime" / "exec_wrapper.sh").write_text("#!/bin/sh\nexec python3 -m handlers.runtime\n")
    (root / "runtime" / "exec_wrapper.sh").chmod(0o755)
    (root / "api" / "__init__.py").write_text("")
    (root / "api" / "fhr.py").write_text("async def handler(event, context):\n    return {'statusCode': 200}\n" * 50)
    (root / "api" / "__pycache__").mkdir()
    (root / "api" / "__pycache__" / "fhr.cpython-311.pyc").write_bytes(b"\0" * 64)
    (root / "api" / "stale.pyc").write_bytes(b"\0" * 16)
    (root / "api" / "tests").mkdir()
    (root / "api" / "tests" / "test_fhr.py").write_text("def test(): pass\n")
    (root / ".DS_Store").write_bytes(b"junk")
    return root


def make_wheel(directory: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """Write a minimal valid pure-Python wheel (what pip accepts with ``--only-binary=:all:``)."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{name}/data.txt": b"x" * 4096,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        # a console script: pip writes bin/tinydep with a shebang naming the build machine's interpreter
        f"{dist_info}/entry_points.txt": f"[console_scripts]\n{name} = {name}:main\n".encode(),
    }
    record_lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{dist_info}/RECORD", "\n".join(record_lines) + "\n")
    return wheel


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    house = tmp_path / "wheelhouse"
    make_wheel(house)
    return house
