"""``fhr evaluate`` on a few dev records: table, split summary, anchors, excluded records named, JSON out."""

from __future__ import annotations

import json

from fhrcli.main import main


def test_evaluate_scores_records_and_writes_json(set_a_dir, tmp_path, capsys) -> None:
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(set_a_dir), "--records", "a01-a03,a33", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "a33     excluded" in text
    assert "dev        records  3" in text
    assert "Andreotti 18.8" in text
    report = json.loads(out.read_text())
    rows = {row["record"]: row for row in report["records"]}
    assert rows["a33"] == {"record": "a33", "split": "excluded"}
    assert rows["a01"]["windows"] == 16 and rows["a01"]["mse"] < 5.0
    assert report["splits"]["dev"]["records"] == 3
    assert report["splits"]["dev"]["coverage"] == 1.0


def test_acceptance_records_are_reported_as_their_own_split(set_a_dir, capsys) -> None:
    assert main(["evaluate", str(set_a_dir), "--records", "a41"]) == 0
    assert "acceptance records  1" in capsys.readouterr().out


def test_missing_directory_exits_2(tmp_path, capsys) -> None:
    assert main(["evaluate", str(tmp_path), "--records", "a01"]) == 2
    assert "error" in capsys.readouterr().err
