"""Build the Lambda bundle: ``code.zip`` (``handlers/``) and ``layer.zip`` (runtime dependencies).

The code zip holds ``handlers/`` at its root (-> ``/var/task``); the layer holds the dependencies
under ``python/`` (-> ``/opt/python``), installed by pip for the Lambda platform (CPython 3.12,
manylinux x86_64 wheels only) so the build machine's own Python and OS do not matter. Heavy
dependencies live in the layer so a code change re-uploads a few hundred kB, not numpy.

Layer installs are cached under ``build/layer-cache/<key>`` where the key hashes the requirements
file, the pip platform arguments and the bytecode settings: a second ``make bundle`` with unchanged
requirements reuses it.

Two measured cold-start savings (``benchmarks/bench_coldstart.py``) are built in:

- both archives carry deterministic CPython 3.12 ``.pyc`` files (:mod:`bundler.bytecode`), because
  Lambda's read-only code directories make Python compile every imported module at every cold start;
- the layer keeps botocore's (and boto3's) data for the services the handlers call only
  (``BOTOCORE_SERVICES``): the other ~400 services' models are dead weight in the 250 MB limit, and
  ``endpoints.json`` (1.2 MB of JSON that every first client parses, ~20 ms) keeps only their entries;
  the models' ``examples-1.json`` (documentation) are left out.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundler import native
from bundler.archive import Entry, collect, sizes_by_package, write_zip
from bundler.bytecode import CACHE_TAG, INVALIDATION_MODE, check_python, compile_tree, find_lambda_python
from bundler.errors import BundleTooLarge, DependencyInstallFailed, SourceMissing
from bundler.manifest import (
    ARCHITECTURE,
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


# The AWS services the handlers make clients for (handlers/api/clients.py, the keep-warm fan-out's
# "lambda"); a test scans the handlers for client calls and fails if one names a service not listed.
BOTOCORE_SERVICES = ("dynamodb", "lambda", "s3", "sqs")
# Where the SDKs keep one directory of JSON models per service.
SERVICE_DATA_DIRS = ("botocore/data/", "boto3/data/")
# pip's install record lists the bin/ scripts (left out) with hashes of their shebangs, which name the
# interpreter that ran pip: it would make the layer's hash depend on how the build was started.
PIP_RECORD = ".dist-info/RECORD"
CODE_DEPLOYED_AT = "/var/task"
LAYER_DEPLOYED_AT = "/opt/python"


@dataclass(frozen=True)
class BundleSources:
    """What a bundle is built from; tests point these at small inputs.

    ``python`` is the CPython 3.12 that compiles the bytecode (default: found on this machine, see
    :func:`bundler.bytecode.find_lambda_python`; ``None`` ships sources only). ``botocore_services``
    names the services whose SDK data the layer keeps (``None``: all of them).
    """

    handlers: Path = REPO_ROOT / "handlers"
    requirements: Path = DEFAULT_REQUIREMENTS
    cache: Path = DEFAULT_CACHE
    extra_pip_args: tuple[str, ...] = ()
    python: Path | None = field(default_factory=find_lambda_python)
    botocore_services: tuple[str, ...] | None = BOTOCORE_SERVICES


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
    if sources.python is not None:
        check_python(sources.python)
    out.mkdir(parents=True, exist_ok=True)
    code = build_code(sources.handlers, out / CODE_ZIP, sources.python)
    layer = build_layer(sources, out / LAYER_ZIP) if with_layer else _previous_layer(out)
    manifest = Manifest(code=code, layer=layer, limit_bytes=limit_bytes, root=out)
    check_size(manifest)
    write_manifest(manifest, out)
    return manifest


def build_code(handlers: Path, dest: Path, python: Path | None = None) -> ArchiveInfo:
    """Zip ``handlers/`` with, made in a clean copy, its CPython 3.12 bytecode (given ``python``) and the
    native CSV parser (given a C compiler and a build machine of the Lambda architecture)."""
    if not (handlers / "__init__.py").is_file():
        raise SourceMissing(f"{handlers} is not a package (no __init__.py); nothing to bundle")
    entries = collect(handlers, "handlers", leave_out=_is_native_library)  # never a checkout's own build
    with tempfile.TemporaryDirectory(prefix="fhr-code-") as tmp:
        stage = _stage(entries, Path(tmp))
        made: list[Entry] = []
        if python is not None:
            compile_tree(python, stage / "handlers", f"{CODE_DEPLOYED_AT}/handlers")
            made += [entry for entry in collect(stage, "", bytecode=True) if entry.arcname.endswith(".pyc")]
        library = _native_library(stage / "handlers")
        if library is not None:
            made.append(Entry(library.relative_to(stage).as_posix(), library, library.stat().st_size, False))
        entries = sorted(entries + made, key=lambda e: e.arcname)
        packages = {f"handlers.{name}": size for name, size in sizes_by_package(entries, "handlers").items()}
        info = _archive_info(entries, dest, packages)
    native = library.name if library is not None else None
    return ArchiveInfo(**{**info.__dict__, "bytecode": _bytecode_label(python), "native": native})


def _is_native_library(relative: str) -> bool:
    return Path(relative).name.startswith("_csvparse.") and relative.endswith(".so")


def _native_library(handlers_stage: Path) -> Path | None:
    """Build the native CSV parser into the staged tree, for Lambda's architecture only (no cross-compiling)."""
    if platform.machine() != ARCHITECTURE:
        return None
    source = handlers_stage / "fhr" / "readers" / native.SOURCE.name
    return native.build(source.parent, source) if source.is_file() else None


def _stage(entries: list[Entry], stage: Path) -> Path:
    """Copy the shipped sources (never the checkout's own caches or builds) to ``stage``, where bytecode
    and the native library are made; ``stage`` must outlive the zip that reads them."""
    for entry in entries:
        target = stage / entry.arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.source, target)
    return stage


def build_layer(sources: BundleSources, dest: Path) -> ArchiveInfo:
    """Install the requirements for Lambda (cached by their hash), compile them, zip them under ``python/``."""
    if not sources.requirements.is_file():
        raise SourceMissing(f"requirements file {sources.requirements} does not exist")
    key = layer_cache_key(sources.requirements, sources.extra_pip_args, compiled=sources.python is not None)
    cached_dir = sources.cache / key
    site = cached_dir / LAYER_PREFIX
    if not (cached_dir / "complete").is_file():
        shutil.rmtree(cached_dir, ignore_errors=True)
        install_requirements(sources.requirements, site, sources.extra_pip_args)
        if sources.python is not None and site.is_dir():
            compile_tree(sources.python, site, LAYER_DEPLOYED_AT)
        (cached_dir / "complete").write_text(key + "\n")
    services = sources.botocore_services
    entries = collect(
        site,
        LAYER_PREFIX,
        skip_top=frozenset({"bin"}),
        bytecode=sources.python is not None,
        leave_out=lambda rel: rel.endswith(PIP_RECORD) or (services is not None and unused_service_data(rel, services)),
    )
    if services is not None:
        entries = [_trimmed_endpoints(entry, services, cached_dir / "derived") for entry in entries]
    info = _archive_info(entries, dest, sizes_by_package(entries, LAYER_PREFIX))
    return ArchiveInfo(
        **{
            **info.__dict__,
            "requirements_sha256": key,
            "bytecode": _bytecode_label(sources.python),
            "botocore_services": None if services is None else sorted(services),
        }
    )


def unused_service_data(relative: str, services: Sequence[str]) -> bool:
    """Whether ``relative`` (below the layer's site dir) is SDK data no client of ``services`` reads.

    That is another service's models, or a model's ``examples-1.json`` (read only to write docs).
    Files directly in ``botocore/data`` (endpoints, partitions, retry and default configuration) are
    shared by every client and kept (``endpoints.json`` trimmed by :func:`trimmed_endpoints`).
    """
    for data_dir in SERVICE_DATA_DIRS:
        if relative.startswith(data_dir):
            service, _, rest = relative[len(data_dir) :].partition("/")
            return bool(rest) and (service not in services or rest.endswith("/examples-1.json"))
    return False


ENDPOINTS_JSON = f"{LAYER_PREFIX}/botocore/data/endpoints.json"


def trimmed_endpoints(data: dict[str, Any], services: Sequence[str]) -> dict[str, Any]:
    """botocore's endpoint table with every partition's metadata but only the entries of ``services``."""
    partitions = [
        {**partition, "services": {name: spec for name, spec in partition["services"].items() if name in services}}
        for partition in data["partitions"]
    ]
    return {**data, "partitions": partitions}


def _trimmed_endpoints(entry: Entry, services: Sequence[str], scratch: Path) -> Entry:
    """The entry itself, or for ``endpoints.json`` a trimmed copy written (deterministically) to ``scratch``."""
    if entry.arcname != ENDPOINTS_JSON:
        return entry
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / "endpoints.json"
    text = json.dumps(trimmed_endpoints(json.loads(entry.source.read_bytes()), services), separators=(",", ":"))
    target.write_text(text + "\n")
    return Entry(entry.arcname, target, target.stat().st_size, False)


def layer_cache_key(requirements: Path, extra_pip_args: Sequence[str] = (), *, compiled: bool = False) -> str:
    """Hash of everything that decides the layer's contents: requirements, platform, extra pip args, bytecode."""
    sha = hashlib.sha256(requirements.read_bytes())
    sha.update("\0".join((*PIP_PLATFORM_ARGS, *extra_pip_args)).encode())
    if compiled:
        sha.update(f"\0bytecode {CACHE_TAG} {INVALIDATION_MODE}".encode())
    return sha.hexdigest()


def _bytecode_label(python: Path | None) -> str | None:
    return f"{CACHE_TAG} {INVALIDATION_MODE}" if python is not None else None


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
        bytecode = info.bytecode or "none (sources only: no CPython 3.12 found, set FHR_LAMBDA_PYTHON)"
        services = f"; SDK data of {', '.join(info.botocore_services)} only" if info.botocore_services else ""
        lines.append(f"           bytecode: {bytecode}{services}")
        if label == "code":
            parser = info.native or "none (no C compiler or another architecture: CSV parsed on numpy)"
            lines.append(f"           native CSV parser: {parser}")
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
