"""CPython 3.12 bytecode for the bundle: every ``.py`` of code and layer shipped with its ``.pyc``.

Why: Lambda's ``/var/task`` and ``/opt`` are read-only, so Python cannot cache bytecode there and a
bundle without ``.pyc`` compiles every module it imports at every cold start
(``benchmarks/bench_coldstart.py`` measures the difference). The managed runtime ships its own SDK
precompiled; this does the same for ours.

The files are deterministic, so the archives' hashes (and hence ``pulumi up``'s "no change") stay
stable:

- compiled by a CPython of the Lambda runtime's version (the ``.pyc`` magic number and the
  ``cpython-312`` cache tag must match, or Python ignores them);
- ``--invalidation-mode unchecked-hash``: no source mtime inside (zip extraction sets its own
  mtimes, which would make timestamp-checked files stale at once), and the source is never read
  to validate them;
- the path recorded in each code object is the deployed one (``/var/task/...``, ``/opt/python/...``),
  not the build directory's; Python corrects it to where the file really is anyway.

Measured here: two compilations of the same tree, one process or eight, give identical bytes
(``tests/bundler/test_build.py`` checks it on every build of the test bundle).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bundler.errors import BundleError

LAMBDA_PYTHON = (3, 12)
CACHE_TAG = f"cpython-{LAMBDA_PYTHON[0]}{LAMBDA_PYTHON[1]}"
INVALIDATION_MODE = "unchecked-hash"
# Test suites inside dependencies are never shipped (bundler.archive leaves them out): not compiled either.
SKIP_PATTERN = r"[/\\]tests?[/\\]"
PYTHON_ENV_VAR = "FHR_LAMBDA_PYTHON"


class BytecodeFailed(BundleError):
    """The CPython 3.12 given for the bundle's bytecode is not one, or could not compile the tree."""


def find_lambda_python() -> Path | None:
    """A CPython of the Lambda runtime's version: ``$FHR_LAMBDA_PYTHON``, pyenv's 3.12.x, or ``python3.12``.

    None when there is none: the bundle then ships sources only (and the size report says so).
    """
    candidates: list[Path] = []
    if os.environ.get(PYTHON_ENV_VAR):
        candidates.append(Path(os.environ[PYTHON_ENV_VAR]))
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    prefix = f"{LAMBDA_PYTHON[0]}.{LAMBDA_PYTHON[1]}."
    versions = sorted(
        (path for path in (pyenv_root / "versions").glob(f"{prefix}*") if path.name[len(prefix) :].isdigit()),
        key=lambda path: int(path.name[len(prefix) :]),
        reverse=True,
    )
    candidates.extend(path / "bin" / f"python{LAMBDA_PYTHON[0]}.{LAMBDA_PYTHON[1]}" for path in versions)
    on_path = shutil.which(f"python{LAMBDA_PYTHON[0]}.{LAMBDA_PYTHON[1]}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and _version_of(candidate) == LAMBDA_PYTHON:
            return candidate
    return None


def _version_of(python: Path) -> tuple[int, int] | None:
    try:
        proc = subprocess.run(
            [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    parts = proc.stdout.split()
    return (int(parts[0]), int(parts[1])) if proc.returncode == 0 and len(parts) == 2 else None


def check_python(python: Path) -> None:
    """Refuse an interpreter of another version: its ``.pyc`` would be ignored (or worse, mistaken)."""
    version = _version_of(python)
    if version != LAMBDA_PYTHON:
        found = "not runnable" if version is None else f"Python {version[0]}.{version[1]}"
        raise BytecodeFailed(
            f"{python} is {found}; the bundle's bytecode needs CPython {LAMBDA_PYTHON[0]}.{LAMBDA_PYTHON[1]}"
            f" (set {PYTHON_ENV_VAR})"
        )


def compile_tree(python: Path, root: Path, deployed_as: str) -> int:
    """Write ``__pycache__/*.cpython-312.pyc`` beside every ``.py`` below ``root``; returns how many.

    ``deployed_as`` is the directory ``root`` becomes on Lambda (``/var/task``, ``/opt/python``).
    A file that does not compile under 3.12 (a Python 2 leftover in some dependency) is skipped, as
    it could not be imported there either.
    """
    cmd = [
        str(python), "-m", "compileall", "-q", "-f", "-j", "0",
        "--invalidation-mode", INVALIDATION_MODE,
        "-s", str(root), "-p", deployed_as,
        "-x", SKIP_PATTERN,
        str(root),
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=1800)
    count = sum(1 for _ in root.rglob(f"__pycache__/*.{CACHE_TAG}.pyc"))
    if proc.returncode != 0 and count == 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise BytecodeFailed(f"compiling {root} with {python} failed:\n{tail}")
    return count


def is_shipped_bytecode(relative: str) -> bool:
    """Whether a path below a compiled tree is bytecode this module wrote (not a stale cache)."""
    return bool(_SHIPPED.search(relative))


_SHIPPED = re.compile(rf"(^|/)__pycache__/[^/]+\.{re.escape(CACHE_TAG)}\.pyc$")
