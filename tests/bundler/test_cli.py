"""``fhr bundle`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.manifest import read_manifest
from fhrcli.main import main


def test_fhr_bundle_no_layer_writes_code_zip_manifest_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bundle", "--out", str(tmp_path), "--no-layer"]) == 0
    report = capsys.readouterr().out
    manifest = read_manifest(tmp_path)
    assert manifest.layer is None
    assert "code.zip" in report and "handlers.runtime" in report and "layer  (not built)" in report


def test_fhr_bundle_reports_a_failed_install_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.txt"
    assert main(["bundle", "--out", str(tmp_path / "out"), "--requirements", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err
