"""``--seed-data``: set-a records and a generated record land in the stack's bucket, readable by our reader."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import boto3

from handlers.fhr.readers import read_bytes
from localcloud.seed import SYNTH_KEY_PREFIX, seed


def test_seed_uploads_set_a_and_a_generated_record(moto_endpoint: str, set_a_dir: Path, tmp_path: Path) -> None:
    for name in ("a01.hea", "a01.dat", "a02.hea", "a02.dat", "a01.fqrs"):
        shutil.copy(set_a_dir / name, tmp_path / name)
    bucket = f"seed-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-1")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    outputs = {"aws_endpoint_url": moto_endpoint, "region": "eu-west-1", "ecg_bucket": bucket}

    report = seed(outputs, "tenants/open/", data_dir=tmp_path, synth_minutes=1)

    keys = {obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    names = {"a01.hea", "a01.dat", "a02.hea", "a02.dat", f"{SYNTH_KEY_PREFIX}.hea", f"{SYNTH_KEY_PREFIX}.dat"}
    assert keys == {f"tenants/open/{name}" for name in names}  # records only, not annotations, the tenant's own
    assert set(report.uploaded) == keys and not report.skipped
    header = s3.get_object(Bucket=bucket, Key=f"tenants/open/{SYNTH_KEY_PREFIX}.hea")["Body"].read()
    data = s3.get_object(Bucket=bucket, Key=f"tenants/open/{SYNTH_KEY_PREFIX}.dat")["Body"].read()
    record = read_bytes(header, "synth-30min.hea", data)
    assert record.n_channels == 4 and record.fs == 1000 and record.duration_s == 60.0


def test_missing_set_a_is_reported_not_fatal(moto_endpoint: str, tmp_path: Path) -> None:
    bucket = f"seed-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    outputs = {"aws_endpoint_url": moto_endpoint, "region": "us-east-1", "ecg_bucket": bucket}
    report = seed(outputs, "tenants/open/", tmp_path, None)
    assert report.uploaded == [] and "none found" in report.skipped[0]
