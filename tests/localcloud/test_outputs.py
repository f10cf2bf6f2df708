"""The stack-outputs file: written atomically, read back with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localcloud.outputs import STACK_OUTPUT_KEYS, OutputsError, load, write_atomically

SAMPLE = {
    "api_url": "http://127.0.0.1:1",
    "ecg_bucket": "b",
    "results_table": "r",
    "items_table": "i",
    "functions": {"fhr": "fhr-dev-fhr"},
    "region": "eu-west-1",
    "stage": "dev",
}


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "outputs.json"
    write_atomically(path, SAMPLE)
    assert load(path) == SAMPLE
    assert [p.name for p in path.parent.iterdir()] == ["outputs.json"]  # no temporary file left


def test_errors_name_the_file_and_the_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(OutputsError, match="no such"):
        load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(OutputsError, match="not JSON"):
        load(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text(json.dumps({"api_url": "x"}))
    with pytest.raises(OutputsError, match=", ".join(STACK_OUTPUT_KEYS[1:])):
        load(tmp_path / "partial.json")
