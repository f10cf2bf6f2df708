"""Deterministic zip archives: the same files always give the same bytes, hence the same sha256.

Lambda redeploys a function when its ``source_code_hash`` changes, so an archive must not depend on
when or where it was built: entries are sorted, timestamps fixed, permissions normalised (0644, or
0755 for executables such as the exec wrapper), and bytecode caches left out - except the
deterministic CPython 3.12 ``.pyc`` files :mod:`bundler.bytecode` wrote on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bundler.bytecode import is_shipped_bytecode

FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of an archive: where it goes (``arcname``) and where it comes from."""

    arcname: str
    source: Path
    size: int
    executable: bool


@dataclass(frozen=True)
class ArchiveDigest:
    sha256: str
    sha256_b64: str
    zipped_bytes: int


def collect(
    root: Path,
    prefix: str,
    skip_top: frozenset[str] = frozenset(),
    *,
    bytecode: bool = False,
    leave_out: Callable[[str], bool] | None = None,
) -> list[Entry]:
    """Every shippable file below ``root``, named ``<prefix>/<relative path>``, sorted by name.

    ``skip_top`` names first-level entries of ``root`` to leave out (e.g. pip's ``bin/`` scripts,
    whose shebangs point at the build machine's interpreter). ``bytecode`` keeps the ``.pyc`` files
    :func:`bundler.bytecode.compile_tree` wrote (any other bytecode is left out); ``leave_out`` is
    asked about every relative path (e.g. botocore data of services the handlers never call).
    """
    entries = [
        Entry(f"{prefix}/{rel}" if prefix else rel, path, st.st_size, bool(st.st_mode & 0o111))
        for rel, path, st in _walk(root, skip_top, bytecode)
        if leave_out is None or not leave_out(rel)
    ]
    return sorted(entries, key=lambda e: e.arcname)


def _walk(root: Path, skip_top: frozenset[str], bytecode: bool) -> Iterator[tuple[str, Path, os.stat_result]]:
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] in skip_top or any(part.startswith(".") for part in rel.parts):
            continue
        shipped = bytecode and is_shipped_bytecode(rel.as_posix())
        if not shipped and (any(part in EXCLUDED_DIRS for part in rel.parts) or path.suffix in EXCLUDED_SUFFIXES):
            continue
        if shipped and any(part in EXCLUDED_DIRS and part != "__pycache__" for part in rel.parts):
            continue
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode):
            continue
        yield rel.as_posix(), path, st


def write_zip(entries: Iterable[Entry], dest: Path) -> ArchiveDigest:
    """Write ``entries`` (in the given order) to ``dest`` with fixed metadata; return its digest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.arcname, date_time=FIXED_TIMESTAMP)
            info.create_system = 3  # unix, so external_attr carries the permission bits
            info.external_attr = ((0o100755 if entry.executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with entry.source.open("rb") as src, zf.open(info, "w") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
    tmp.replace(dest)
    return digest(dest)


def digest(path: Path) -> ArchiveDigest:
    """sha256 of a file, in hex and in the base64 form Lambda's ``source_code_hash`` uses."""
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
    raw = sha.digest()
    return ArchiveDigest(raw.hex(), base64.b64encode(raw).decode("ascii"), path.stat().st_size)


def sizes_by_package(entries: Iterable[Entry], prefix: str) -> dict[str, int]:
    """Unzipped bytes per top-level name below ``prefix`` (``numpy``, ``numpy.libs``, ``handlers``...)."""
    sizes: dict[str, int] = {}
    strip = len(prefix) + 1 if prefix else 0
    for entry in entries:
        top = entry.arcname[strip:].split("/", 1)[0]
        sizes[top] = sizes.get(top, 0) + entry.size
    return dict(sorted(sizes.items(), key=lambda item: (-item[1], item[0])))
