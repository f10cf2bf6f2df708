"""Smoke check of a built bundle: unpack it as Lambda would and import the runtime's modules.

Lambda unpacks the code zip to ``/var/task`` and the layer to ``/opt``; the exec wrapper puts both on
``PYTHONPATH``. Doing the same with a CPython 3.12 interpreter catches a layer built for the wrong
platform or missing a transitive dependency before ``pulumi up`` ships it. Each module must come
from the unpacked bundle, not from the interpreter's own site-packages.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from bundler.errors import BundleError
from bundler.manifest import Manifest

DEFAULT_MODULES = ("numpy", "pyfftw", "aiohttp", "aioboto3", "botocore", "handlers.runtime")
_PROBE = """
import importlib, json, sys
roots, modules = json.loads(sys.argv[1])
sys.path[:0] = roots
found = {}
for name in modules:
    module = importlib.import_module(name)
    found[name] = [getattr(module, "__file__", "") or "", getattr(module, "__version__", None)]
print(json.dumps(found))
"""


class SmokeCheckFailed(BundleError):
    """The unpacked bundle does not import under the Lambda Python version."""


def smoke_check(manifest: Manifest, python: Path, modules: Sequence[str] = DEFAULT_MODULES) -> dict[str, str | None]:
    """Import ``modules`` from the unpacked bundle with ``python``; return each module's version."""
    with tempfile.TemporaryDirectory(prefix="fhr-smoke-") as tmp:
        task, opt = Path(tmp) / "task", Path(tmp) / "opt"
        zipfile.ZipFile(manifest.code_path).extractall(task)
        if manifest.layer_path is not None:
            zipfile.ZipFile(manifest.layer_path).extractall(opt)
        roots = [str(task), str(opt / "python")]
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE, json.dumps([roots, list(modules)])],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise SmokeCheckFailed(f"importing the bundle with {python} failed:\n{tail}")
        found = json.loads(proc.stdout)
        outside = [name for name, (path, _) in found.items() if not path.startswith(tmp)]
        if outside:
            raise SmokeCheckFailed(f"{', '.join(outside)} imported from outside the bundle: missing from it")
        return {name: version for name, (_, version) in found.items()}
