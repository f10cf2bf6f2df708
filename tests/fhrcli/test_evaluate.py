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
    # beats: a01-a03 are clean dev records (measured F1 1.0, 1.0, 0.996; RR RMSE 1.1-6 ms)
    beats = report["splits"]["dev"]["beats"]
    assert beats["f1_mean"] > 0.99 and beats["rr_rmse_mean_ms"] < 8.0 and beats["stv_minutes"] == 3
    assert rows["a01"]["beats"]["fn"] == 0 and len(rows["a01"]["beats"]["stv_test_ms"]) == 1
    # the published algorithms' mean F1 over the same three records, from the shared per-record scores
    assert set(report["splits"]["dev"]["published_beat_f1_mean"]) == {"varanini", "powermf"}
    assert "beats: F1" in text and "published on the same records: varanini" in text


def test_acceptance_records_are_reported_as_their_own_split(set_a_dir, capsys) -> None:
    assert main(["evaluate", str(set_a_dir), "--records", "a41"]) == 0
    assert "acceptance records  1" in capsys.readouterr().out


def test_missing_directory_exits_2(tmp_path, capsys) -> None:
    assert main(["evaluate", str(tmp_path), "--records", "a01"]) == 2
    assert "error" in capsys.readouterr().err
