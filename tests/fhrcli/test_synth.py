"""``fhr synth``: the record and its truth file land where asked, in the asked format."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fhrcli import synth as synth_command


def run_synth(argv: list[str]) -> int:
    """Parse with a parser holding only this subcommand, so the test does not depend on the others."""
    parser = argparse.ArgumentParser(prog="fhr")
    synth_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synth", *argv])
    return args.func(args)


def test_physionet_csv_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec.csv"
    assert run_synth(["--minutes", "0.5", "--channels", "2", "--fs", "250", "--out", str(out), "--seed", "3"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "'Elapsed time','AECG1','AECG2'" and len(lines) == 2 + 7500
    truth = json.loads((tmp_path / "rec.truth.json").read_text())
    assert truth["seed"] == 3 and truth["fs"] == 250.0 and truth["n_samples"] == 7500
    assert len(truth["fhr"]["bpm"]) == 120 and truth["snr_db"] == 6.0
    assert "rec.truth.json" in capsys.readouterr().out


def test_wfdb_without_extension_writes_hea_dat_and_truth(tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    out = tmp_path / "rec"
    argv = ["--minutes", "0.25", "--out", str(out), "--format", "wfdb", "--snr-db", "-3", "--signal-loss", "1"]
    assert run_synth(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.dat", "rec.hea", "rec.truth.json"]
    read = wfdb.rdrecord(str(out))
    assert read.p_signal.shape == (15000, 4) and np.isnan(read.p_signal).any()
    truth = json.loads((tmp_path / "rec.truth.json").read_text())
    assert truth["snr_db"] == -3.0 and len(truth["signal_loss"]) == 1


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a.edf", "b.edf"):
        assert run_synth(["--minutes", "0.2", "--out", str(tmp_path / name), "--seed", "9"]) == 0
    assert (tmp_path / "a.edf").read_bytes() == (tmp_path / "b.edf").read_bytes()
    assert (tmp_path / "a.truth.json").read_bytes() == (tmp_path / "b.truth.json").read_bytes()


def test_clean_and_no_events(tmp_path: Path) -> None:
    out = tmp_path / "clean.txt"
    assert run_synth(["--minutes", "3", "--fs", "250", "--out", str(out), "--clean", "--no-events"]) == 0
    truth = json.loads((tmp_path / "clean.truth.json").read_text())
    assert truth["snr_db"] is None and truth["events"] == [] and truth["crossings"] == []
    assert out.read_text().splitlines()[0] == "time_s,AECG1,AECG2,AECG3,AECG4"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--minutes", "1", "--out", "x.xyz"], "cannot tell the format"),
        (["--minutes", "1", "--channels", "0", "--out", "x.csv"], "channels must be between"),
        (["--minutes", "1", "--fs", "20", "--out", "x.csv"], "fs must be at least"),
    ],
)
def test_bad_requests_exit_2_with_a_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path / a) if a.startswith("x.") else a for a in argv]
    assert run_synth(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_negative_minutes_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run_synth(["--minutes", "-1", "--out", "x.csv"])
    assert caught.value.code == 2 and "must be positive" in capsys.readouterr().err


def test_unwritable_destination_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_synth(["--minutes", "0.2", "--out", str(tmp_path / "missing" / "x.csv")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_registered_in_the_fhr_command(tmp_path: Path) -> None:
    """Through the real entry point, as a user runs it."""
    out = tmp_path / "r.edf"
    result = subprocess.run(
        [sys.executable, "-m", "fhrcli.main", "synth", "--minutes", "0.2", "--fs", "500", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"0       " and (tmp_path / "r.truth.json").exists()
