"""``fhr estimate`` end to end on a set-a record: JSON out, a real PNG chart, typed errors with exit 2."""

from __future__ import annotations

import json

from fhrcli.main import main


def test_estimate_prints_the_result_and_writes_a_ctg_png(set_a_dir, tmp_path, capsys) -> None:
    png = tmp_path / "ctg.png"
    assert main(["estimate", str(set_a_dir / "a01.hea"), "--json", "--plot", str(png)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["record"]["format"] == "wfdb"
    assert len(result["fhr"]["bpm"]) == 240
    assert result["timings_ms"]["parse"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_estimate_human_summary(set_a_dir, capsys) -> None:
    assert main(["estimate", str(set_a_dir / "a03.hea")]) == 0
    out = capsys.readouterr().out
    assert "FHR baseline not assessed" in out and "MHR median" in out
    assert "STV per minute (ms): " in out and "fetal beats 12" in out  # a03: 128 reference beats
    assert "FIGO 2015: no class (baseline_bpm not assessed (insufficient_duration)" in out
    assert "deceleration_type (needs_uterine_activity)" in out


def test_bad_options_exit_2_with_the_error_code(set_a_dir, capsys) -> None:
    assert main(["estimate", str(set_a_dir / "a01.hea"), "--options", '{"channels": [7]}']) == 2
    assert "invalid_options" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path, capsys) -> None:
    assert main(["estimate", str(tmp_path / "nope.csv")]) == 2
    assert "error" in capsys.readouterr().err


def test_unreadable_record_exits_2_with_its_code(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,x\n")
    assert main(["estimate", str(bad)]) == 2
    assert "error [" in capsys.readouterr().err


def test_estimate_reads_s3_through_the_streaming_reader(set_a_dir, moto_endpoint, monkeypatch, capsys) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-1")
    s3.create_bucket(Bucket="fhr-cli-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for suffix in (".hea", ".dat"):
        s3.put_object(Bucket="fhr-cli-test", Key=f"set-a/a01{suffix}", Body=(set_a_dir / f"a01{suffix}").read_bytes())
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    assert main(["estimate", "s3://fhr-cli-test/set-a/a01.hea", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["record"]["etag"]
    assert len(result["fhr"]["bpm"]) == 240
    assert main(["estimate", "s3://fhr-cli-test/set-a/missing.hea"]) == 2
    assert "error [" in capsys.readouterr().err
