"""``--seed-data``: put the set-a records and one generated 30-min record into the local ECG bucket.

Keys mirror what a client uploads, under the default caller's own prefix ``tenants/<tenant>/`` (the
open tenant, or the tenant of the local issuer's default token): ``a01.hea`` + ``a01.dat`` (a WFDB
record is named by its ``.hea``), and ``synth/synth-30min.hea`` + ``.dat`` for the long record. The
generated record comes from ``handlers.fhr.synth`` and ``handlers.fhr.writers`` (WFDB format 16);
without them the report says it was skipped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.cloud import REPO_ROOT

SET_A_DIR = REPO_ROOT.parent / "shared" / "data" / "challenge2013-set-a"
SYNTH_KEY_PREFIX = "synth/synth-30min"
SET_A_SUFFIXES = (".hea", ".dat")


@dataclass
class SeedReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"seeded {len(self.uploaded)} objects"]
        lines += [f"skipped: {reason}" for reason in self.skipped]
        return "; ".join(lines)


def s3_client(outputs: dict[str, Any]) -> Any:
    """A boto3 S3 client for the local cloud's moto server (dummy credentials)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=outputs["aws_endpoint_url"],
        region_name=outputs["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def set_a_files(data_dir: Path = SET_A_DIR) -> list[Path]:
    return sorted(p for p in data_dir.glob("a[0-9][0-9].*") if p.suffix in SET_A_SUFFIXES)


def synth_record_files(minutes: float = 30) -> dict[str, bytes] | str:
    """``{suffix: bytes}`` of a generated WFDB record, or the reason it cannot be generated."""
    try:
        from handlers.fhr import synth, writers
    except ImportError as exc:
        return f"generated {minutes}-min record: handlers.fhr.synth/writers not available ({exc})"
    record, _truth = synth.synthesize(minutes=minutes, channels=4, fs=1000.0, seed=30)
    files = writers.to_wfdb(record, Path(SYNTH_KEY_PREFIX).name)
    return {".hea": files.header, ".dat": files.data}


def seed(
    outputs: dict[str, Any], prefix: str, data_dir: Path = SET_A_DIR, synth_minutes: float | None = 30
) -> SeedReport:
    """Upload set-a (when present) and the generated record under ``prefix`` (``tenants/<tenant>/``);
    blocking, so run it in a thread."""
    report = SeedReport()
    client = s3_client(outputs)
    bucket = outputs["ecg_bucket"]
    files = set_a_files(data_dir)
    if not files:
        report.skipped.append(f"set-a records: none found in {data_dir}")

    def upload(path: Path) -> str:
        client.put_object(Bucket=bucket, Key=prefix + path.name, Body=path.read_bytes())
        return prefix + path.name

    with ThreadPoolExecutor(max_workers=8) as pool:
        report.uploaded.extend(pool.map(upload, files))
    if synth_minutes:
        generated = synth_record_files(synth_minutes)
        if isinstance(generated, str):
            report.skipped.append(generated)
        else:
            for suffix, data in generated.items():
                client.put_object(Bucket=bucket, Key=f"{prefix}{SYNTH_KEY_PREFIX}{suffix}", Body=data)
                report.uploaded.append(f"{prefix}{SYNTH_KEY_PREFIX}{suffix}")
    return report
