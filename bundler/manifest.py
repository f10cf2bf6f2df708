"""The bundle manifest: what ``fhr bundle`` built, read back by the Pulumi program.

``dist/lambda/manifest.json`` (format 1)::

    {
      "format": 1,
      "runtime": "python3.12", "architecture": "x86_64",
      "limit_bytes": 262144000, "total_unzipped_bytes": ...,
      "code":  {"path": "code.zip", "sha256": hex, "sha256_b64": ..., "zipped_bytes": ...,
                "unzipped_bytes": ..., "files": ..., "packages": {"handlers.fhr": bytes, ...},
                "bytecode": "cpython-312 unchecked-hash" | null, "native": "_csvparse.x86_64.so" | null},
      "layer": {... same keys ..., "requirements_sha256": hex, "botocore_services": [...] | null} | null
    }

Paths are relative to the manifest's directory. This module is light (json, hashlib) because the
Pulumi program imports it on every ``pulumi up``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bundler.errors import ManifestInvalid, ManifestMissing

MANIFEST_NAME = "manifest.json"
FORMAT = 1
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # code + layers, unzipped


@dataclass(frozen=True)
class ArchiveInfo:
    path: str
    sha256: str
    sha256_b64: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    packages: dict[str, int]
    requirements_sha256: str | None = None
    bytecode: str | None = None  # "cpython-312 unchecked-hash" when the archive ships .pyc files
    botocore_services: list[str] | None = None  # layer: the services whose SDK data it keeps (None: all)
    native: str | None = None  # code: the native CSV parser's library, when built


@dataclass(frozen=True)
class Manifest:
    code: ArchiveInfo
    layer: ArchiveInfo | None
    runtime: str = RUNTIME
    architecture: str = ARCHITECTURE
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT
    format: int = FORMAT
    root: Path = field(default=Path("."), compare=False)

    @property
    def total_unzipped_bytes(self) -> int:
        return self.code.unzipped_bytes + (self.layer.unzipped_bytes if self.layer else 0)

    @property
    def code_path(self) -> Path:
        return self.root / self.code.path

    @property
    def layer_path(self) -> Path | None:
        return None if self.layer is None else self.root / self.layer.path

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("root")
        data["total_unzipped_bytes"] = self.total_unzipped_bytes
        return data


def write_manifest(manifest: Manifest, directory: Path) -> Path:
    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(directory: Path) -> Manifest:
    """Read and check the manifest in ``directory``; its archives must exist with the recorded sizes."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise ManifestMissing(str(path))
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ManifestInvalid(
                f"{path}: format {data.get('format')!r}, expected {FORMAT}; rebuild with `make bundle`"
            )
        manifest = Manifest(
            code=_archive(data["code"]),
            layer=None if data.get("layer") is None else _archive(data["layer"]),
            runtime=data["runtime"],
            architecture=data["architecture"],
            limit_bytes=int(data["limit_bytes"]),
            root=directory,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestInvalid(f"{path} is unreadable ({exc!r}); rebuild with `make bundle`") from exc
    for info in (manifest.code, manifest.layer):
        if info is not None:
            _check_archive(directory / info.path, info)
    return manifest


def _archive(data: dict[str, Any]) -> ArchiveInfo:
    return ArchiveInfo(
        path=str(data["path"]),
        sha256=str(data["sha256"]),
        sha256_b64=str(data["sha256_b64"]),
        zipped_bytes=int(data["zipped_bytes"]),
        unzipped_bytes=int(data["unzipped_bytes"]),
        files=int(data["files"]),
        packages={str(k): int(v) for k, v in data["packages"].items()},
        requirements_sha256=data.get("requirements_sha256"),
        bytecode=data.get("bytecode"),
        botocore_services=data.get("botocore_services"),
        native=data.get("native"),
    )


def _check_archive(path: Path, info: ArchiveInfo) -> None:
    if not path.is_file():
        raise ManifestInvalid(f"{path} is listed in the manifest but missing; rebuild with `make bundle`")
    if path.stat().st_size != info.zipped_bytes:
        raise ManifestInvalid(f"{path} changed since the manifest was written; rebuild with `make bundle`")
