"""The bundle build: deterministic archives, their contents, the layer cache, the size limit."""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from bundler.archive import FIXED_TIMESTAMP
from bundler.build import BundleSources, build_bundle, layer_cache_key, size_report, unzipped_size
from bundler.errors import BundleTooLarge, DependencyInstallFailed, ManifestInvalid, ManifestMissing, SourceMissing
from bundler.manifest import LAMBDA_UNZIPPED_LIMIT, MANIFEST_NAME, read_manifest
from bundler.smoke import SmokeCheckFailed, smoke_check


def sources(
    tmp_path: Path, handlers: Path, requirements: str, wheelhouse: Path | None = None, python: Path | None = None
) -> BundleSources:
    """Sources only, unless a CPython 3.12 is given for the bytecode (its own tests below)."""
    req = tmp_path / "requirements.txt"
    req.write_text(requirements)
    extra = ("--no-index", "--find-links", str(wheelhouse)) if wheelhouse else ("--no-index",)
    return BundleSources(
        handlers=handlers, requirements=req, cache=tmp_path / "cache", extra_pip_args=extra, python=python
    )


def test_two_builds_of_the_same_inputs_have_the_same_hash(tmp_path: Path, handler_tree: Path) -> None:
    src = sources(tmp_path, handler_tree, "")
    first = build_bundle(tmp_path / "out1", src)
    # Touch every file: a rebuild at another time must not change the archive.
    for path in handler_tree.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    second = build_bundle(tmp_path / "out2", src)
    assert first.code.sha256 == second.code.sha256
    assert (tmp_path / "out1" / "code.zip").read_bytes() == (tmp_path / "out2" / "code.zip").read_bytes()
    assert first.layer is not None and second.layer is not None
    assert first.layer.sha256 == second.layer.sha256


def test_a_changed_source_changes_the_hash(tmp_path: Path, handler_tree: Path) -> None:
    src = sources(tmp_path, handler_tree, "")
    before = build_bundle(tmp_path / "out", src).code
    (handler_tree / "api" / "fhr.py").write_text("async def handler(event, context):\n    return {}\n")
    after = build_bundle(tmp_path / "out", src).code
    assert before.sha256 != after.sha256
    assert before.sha256_b64 != after.sha256_b64


def test_code_zip_holds_handlers_only_without_bytecode_or_tests(tmp_path: Path, handler_tree: Path) -> None:
    manifest = build_bundle(tmp_path / "out", sources(tmp_path, handler_tree, ""))
    with zipfile.ZipFile(manifest.code_path) as zf:
        infos = zf.infolist()
    names = [info.filename for info in infos]
    assert names == [
        "handlers/__init__.py",
        "handlers/api/__init__.py",
        "handlers/api/fhr.py",
        "handlers/runtime/__init__.py",
        "handlers/runtime/exec_wrapper.sh",
    ]
    assert {info.date_time for info in infos} == {FIXED_TIMESTAMP}
    modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in infos}
    assert modes["handlers/runtime/exec_wrapper.sh"] == 0o755  # Lambda must be able to exec the wrapper
    assert {m for n, m in modes.items() if not n.endswith(".sh")} == {0o644}


def test_manifest_records_paths_hashes_and_sizes(tmp_path: Path, handler_tree: Path) -> None:
    out = tmp_path / "out"
    built = build_bundle(out, sources(tmp_path, handler_tree, ""))
    data = json.loads((out / MANIFEST_NAME).read_text())
    assert data["code"]["path"] == "code.zip" and data["layer"]["path"] == "layer.zip"
    assert data["code"]["zipped_bytes"] == (out / "code.zip").stat().st_size
    assert data["code"]["unzipped_bytes"] == unzipped_size(out / "code.zip")
    assert data["total_unzipped_bytes"] == built.code.unzipped_bytes + built.layer.unzipped_bytes
    assert data["runtime"] == "python3.12" and data["architecture"] == "x86_64"
    assert data["limit_bytes"] == LAMBDA_UNZIPPED_LIMIT == 250 * 1024 * 1024
    assert set(data["code"]["packages"]) == {"handlers.__init__.py", "handlers.api", "handlers.runtime"}
    assert read_manifest(out) == built


def test_layer_installs_requirements_under_python_for_the_lambda_platform(
    tmp_path: Path, handler_tree: Path, wheelhouse: Path
) -> None:
    manifest = build_bundle(tmp_path / "out", sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse))
    assert manifest.layer is not None and manifest.layer_path is not None
    with zipfile.ZipFile(manifest.layer_path) as zf:
        names = zf.namelist()
    assert "python/tinydep/__init__.py" in names and "python/tinydep/data.txt" in names
    assert all(name.startswith("python/") for name in names)
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
    # pip's RECORD hashes the bin/ scripts, whose shebangs name the interpreter that ran pip: not shipped,
    # or the layer's hash would depend on how the build was started.
    assert not [name for name in names if name.startswith("python/bin/") or name.endswith("/RECORD")]
    assert manifest.layer.packages["tinydep"] == len("VERSION = '1.0'\n") + 4096
    assert "layer" in size_report(manifest) and "tinydep" in size_report(manifest)


def test_layer_is_cached_by_the_hash_of_its_requirements(tmp_path: Path, handler_tree: Path, wheelhouse: Path) -> None:
    src = sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse)
    first = build_bundle(tmp_path / "out", src)
    assert first.layer is not None and first.layer.requirements_sha256 == layer_cache_key(
        src.requirements, src.extra_pip_args
    )
    shutil.rmtree(wheelhouse)  # pip could no longer install it: a second build must come from the cache
    second = build_bundle(tmp_path / "out2", src)
    assert second.layer == first.layer
    src.requirements.write_text("tinydep==1.0\n# changed\n")
    with pytest.raises(DependencyInstallFailed, match="tinydep"):
        build_bundle(tmp_path / "out3", src)


def test_unknown_requirement_fails_with_pips_reason(tmp_path: Path, handler_tree: Path, wheelhouse: Path) -> None:
    with pytest.raises(DependencyInstallFailed, match="no-such-package-fhr") as err:
        build_bundle(tmp_path / "out", sources(tmp_path, handler_tree, "no-such-package-fhr==9.9\n", wheelhouse))
    assert err.value.returncode != 0


def test_over_the_unzipped_limit_fails_clearly_and_writes_no_manifest(
    tmp_path: Path, handler_tree: Path, wheelhouse: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(BundleTooLarge) as err:
        build_bundle(out, sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse), limit_bytes=4000)
    assert err.value.unzipped_bytes > 4000 and err.value.limit_bytes == 4000
    assert err.value.largest[0][0] == "tinydep"
    assert "over Lambda's limit" in str(err.value) and "tinydep" in str(err.value)
    assert not (out / MANIFEST_NAME).exists()


def test_code_only_rebuild_keeps_the_previous_layer(tmp_path: Path, handler_tree: Path, wheelhouse: Path) -> None:
    out = tmp_path / "out"
    full = build_bundle(out, sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse))
    quick = build_bundle(out, sources(tmp_path, handler_tree, "other==1\n"), with_layer=False)
    assert quick.layer == full.layer
    assert build_bundle(tmp_path / "fresh", sources(tmp_path, handler_tree, ""), with_layer=False).layer is None


def test_missing_handlers_package_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(SourceMissing, match="not a package"):
        build_bundle(tmp_path / "out", sources(tmp_path, tmp_path / "nowhere", ""))


def test_reading_a_missing_or_stale_manifest(tmp_path: Path, handler_tree: Path) -> None:
    with pytest.raises(ManifestMissing, match="make bundle"):
        read_manifest(tmp_path / "empty")
    out = tmp_path / "out"
    build_bundle(out, sources(tmp_path, handler_tree, ""))
    with (out / "code.zip").open("ab") as f:
        f.write(b"tampered")
    with pytest.raises(ManifestInvalid, match="changed since"):
        read_manifest(out)
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ManifestInvalid, match="unreadable"):
        read_manifest(out)


def test_the_real_handlers_bundle_ships_the_exec_wrapper(tmp_path: Path, repo_root: Path) -> None:
    """Interface 2: the wrapper Lambda's AWS_LAMBDA_EXEC_WRAPPER names must be in the code zip, executable."""
    src = BundleSources(
        handlers=repo_root / "handlers", requirements=tmp_path / "none.txt", cache=tmp_path / "c", python=None
    )
    src.requirements.write_text("")
    manifest = build_bundle(tmp_path / "out", src)
    with zipfile.ZipFile(manifest.code_path) as zf:
        info = zf.getinfo("handlers/runtime/exec_wrapper.sh")
        assert (info.external_attr >> 16) & 0o111
        assert all(name.startswith("handlers/") for name in zf.namelist())


def test_the_code_zip_ships_a_native_parser_built_from_its_source(tmp_path: Path, repo_root: Path) -> None:
    """Built fresh from the shipped source (a stale library in the checkout is never taken), or absent."""
    from bundler import native

    handlers = tmp_path / "checkout" / "handlers"
    shutil.copytree(repo_root / "handlers", handlers, ignore=shutil.ignore_patterns("__pycache__", "_csvparse.*"))
    stale = handlers / "fhr" / "readers" / native.library_name()
    stale.write_bytes(b"a library built from an older csvparse.c")
    src = BundleSources(handlers=handlers, requirements=tmp_path / "none.txt", cache=tmp_path / "c", python=None)
    src.requirements.write_text("")
    manifest = build_bundle(tmp_path / "out", src)
    with zipfile.ZipFile(manifest.code_path) as zf:
        names = zf.namelist()
        shipped = zf.read(f"handlers/fhr/readers/{native.library_name()}") if manifest.code.native else None
    assert "handlers/fhr/readers/csvparse.c" in names
    if native.compiler() is None:
        assert manifest.code.native is None and not [n for n in names if n.endswith(".so")]
        return
    assert manifest.code.native == native.library_name()
    assert shipped is not None and shipped.startswith(b"\x7fELF") and b"older" not in shipped


def test_smoke_check_imports_from_the_unpacked_bundle(tmp_path: Path, handler_tree: Path, wheelhouse: Path) -> None:
    manifest = build_bundle(tmp_path / "out", sources(tmp_path, handler_tree, "tinydep==1.0\n", wheelhouse))
    assert smoke_check(manifest, Path(sys.executable), ("tinydep", "handlers.api.fhr")) == {
        "tinydep": None,
        "handlers.api.fhr": None,
    }
    with pytest.raises(SmokeCheckFailed, match="ModuleNotFoundError"):
        smoke_check(manifest, Path(sys.executable), ("not_in_the_bundle",))
    with pytest.raises(SmokeCheckFailed, match="json imported from outside the bundle"):
        smoke_check(manifest, Path(sys.executable), ("json",))
