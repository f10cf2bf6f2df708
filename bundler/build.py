"""Build the Lambda bundle: ``code.zip`` (``handlers/``) and ``layer.zip`` (runtime dependencies).

The code zip holds ``handlers/`` at its root (-> ``/var/task``); the layer holds the dependencies
under ``python/`` (-> ``/opt/python``), installed by pip for the Lambda platform (CPython 3.12,
manylinux x86_64 wheels only) so the build machine's own Python and OS do not matter. Heavy
dependencies live in the layer so a code change re-uploads a few hundred kB, not numpy.

Layer installs are cached under ``build/layer-cache/<key>`` where the key hashes the requirements
file and the pip platform arguments: a second ``make bundle`` with unchanged requirements reuses it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bundler.archive import Entry, collect, sizes_by_package, write_zip
from bundler.errors import BundleTooLarge, DependencyInstallFailed, SourceMissing
from bundler.manifest import (
    LAMBDA_UNZIPPED_LIMIT,
    ArchiveInfo,
    Manifest,
    read_manifest,
    write_manifest,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "dist" / "lambda"
DEFAULT_CACHE = REPO_ROOT / "build" / "layer-cache"
DEFAULT_REQUIREMENTS = Path(__file__).resolve().parent / "requirements-lambda.txt"
CODE_ZIP = "code.zip"
LAYER_ZIP = "layer.zip"
LAYER_PREFIX = "python"
# manylinux2014 expands to manylinux_2_17 and older; numpy 2.3+ publishes manylinux_2_28 wheels only.
# The python3.12 managed runtime runs on Amazon Linux 2023 (glibc 2.34), so all of these load there.
PIP_PLATFORM_ARGS = (
    "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux_2_34_x86_64",
    "--implementation", "cp",
    "--python-version", "3.12",
    "--only-binary=:all:",
)  # fmt: skip


@dataclass(frozen=True)
class BundleSources:
    """What a bundle is built from; tests point these at small inputs."""

    handlers: Path = REPO_ROOT / "handlers"
    requirements: Path = DEFAULT_REQUIREMENTS
    cache: Path = DEFAULT_CACHE
    extra_pip_args: tuple[str, ...] = ()


def build_bundle(
    out: Path = DEFAULT_OUT,
    sources: BundleSources | None = None,
    *,
    with_layer: bool = True,
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT,
) -> Manifest:
    """Build ``code.zip`` and (unless ``with_layer`` is false) ``layer.zip`` into ``out``; write the manifest.

    Without the layer, a layer already in ``out`` is kept (a quick code-only rebuild). Raises
    :class:`BundleTooLarge` before writing the manifest if code + layer exceed ``limit_bytes``.
    """
    sources = sources or BundleSources()
    out.mkdir(parents=True, exist_ok=True)
    code = build_code(sources.handlers, out / CODE_ZIP)
    layer = build_layer(sources, out / LAYER_ZIP) if with_layer else _previous_layer(out)
    manifest = Manifest(code=code, layer=layer, limit_bytes=limit_bytes, root=out)
    check_size(manifest)
    write_manifest(manifest, out)
    return manifest


def build_code(handlers: Path, dest: Path) -> ArchiveInfo:
    if not (handlers / "__init__.py").is_file():
        raise SourceMissing(f"{handlers} is not a package (no __init__.py); nothing to bundle")
    entries = collect(handlers, "handlers")
    packages = {f"handlers.{name}": size for name, size in sizes_by_package(entries, "handlers").items()}
    return _archive_info(entries, dest, packages)


def build_layer(sources: BundleSources, dest: Path) -> ArchiveInfo:
    """Install the requirements for Lambda (cached by their hash) and zip them under ``python/``."""
    if not sources.requirements.is_file():
        raise SourceMissing(f"requirements file {sources.requirements} does not exist")
    key = layer_cache_key(sources.requirements, sources.extra_pip_args)
    cached_dir = sources.cache / key
    site = cached_dir / LAYER_PREFIX
    if not (cached_dir / "complete").is_file():
        shutil.rmtree(cached_dir, ignore_errors=True)
        install_requirements(sources.requirements, site, sources.extra_pip_args)
        (cached_dir / "complete").write_text(key + "\n")
    entries = collect(site, LAYER_PREFIX, skip_top=frozenset({"bin"}))
    info = _archive_info(entries, dest, sizes_by_package(entries, LAYER_PREFIX))
    return ArchiveInfo(**{**info.__dict__, "requirements_sha256": key})


def layer_cache_key(requirements: Path, extra_pip_args: Sequence[str] = ()) -> str:
    """Hash of everything that decides the layer's contents: requirements, platform, extra pip args."""
    sha = hashlib.sha256(requirements.read_bytes())
    sha.update("\0".join((*PIP_PLATFORM_ARGS, *extra_pip_args)).encode())
    return sha.hexdigest()


def install_requirements(requirements: Path, target: Path, extra_pip_args: Sequence[str] = ()) -> None:
    """``pip install --target`` for the Lambda platform; an empty requirements file gives an empty layer."""
    target.mkdir(parents=True, exist_ok=True)
    if not _requirement_lines(requirements):
        return
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--no-compile", "--target", str(target), *PIP_PLATFORM_ARGS, *extra_pip_args, "-r", str(requirements),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DependencyInstallFailed(str(requirements), proc.returncode, proc.stdout + proc.stderr)


def check_size(manifest: Manifest) -> None:
    if manifest.total_unzipped_bytes > manifest.limit_bytes:
        packages = dict(manifest.code.packages)
        if manifest.layer:
            packages.update(manifest.layer.packages)
        largest = sorted(packages.items(), key=lambda item: -item[1])
        raise BundleTooLarge(manifest.total_unzipped_bytes, manifest.limit_bytes, largest)


def size_report(manifest: Manifest, top: int = 12) -> str:
    """A human summary: per archive zipped/unzipped size, then the largest packages of each."""
    lines = [f"Lambda bundle ({manifest.runtime}, {manifest.architecture}) in {manifest.root}"]
    for label, info in (("code", manifest.code), ("layer", manifest.layer)):
        if info is None:
            lines.append(f"  {label:<6} (not built)")
            continue
        lines.append(
            f"  {label:<6} {info.path:<10} {info.zipped_bytes / 1e6:8.2f} MB zipped {info.unzipped_bytes / 1e6:8.2f} MB"
            f" unzipped {info.files:6d} files  sha256 {info.sha256[:16]}"
        )
        lines.extend(f"           {name:<40} {size / 1e6:8.2f} MB" for name, size in list(info.packages.items())[:top])
    share = 100 * manifest.total_unzipped_bytes / manifest.limit_bytes
    total, limit = manifest.total_unzipped_bytes / 1e6, manifest.limit_bytes / 1e6
    lines.append(f"  total unzipped {total:.2f} MB of {limit:.2f} MB ({share:.0f}%)")
    return "\n".join(lines)


def _archive_info(entries: list[Entry], dest: Path, packages: dict[str, int]) -> ArchiveInfo:
    digest = write_zip(entries, dest)
    return ArchiveInfo(
        path=dest.name,
        sha256=digest.sha256,
        sha256_b64=digest.sha256_b64,
        zipped_bytes=digest.zipped_bytes,
        unzipped_bytes=sum(e.size for e in entries),
        files=len(entries),
        packages=packages,
    )


def _previous_layer(out: Path) -> ArchiveInfo | None:
    try:
        return read_manifest(out).layer
    except Exception:  # no usable previous build: the manifest simply has no layer
        return None


def _requirement_lines(requirements: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return [line for line in lines if line]


def unzipped_size(path: Path) -> int:
    """Sum of the uncompressed sizes in a zip (what Lambda counts against its limit)."""
    with zipfile.ZipFile(path) as zf:
        return sum(info.file_size for info in zf.infolist())
