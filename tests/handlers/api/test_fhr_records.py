"""WFDB records through the FHR API: one resolved object set keys the cache, bounds the size, feeds the
prediction and is what the reader reads (real moto S3 and DynamoDB, the real estimator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers.api.fhr import handler

MINE = "tenants/t-test/"  # the open tenant's prefix (conftest.open_tenancy): where the caller's objects live


def put_files(boto: Any, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        boto("s3").put_object(Bucket=bucket, Key=prefix + name, Body=body)


async def fhr(make_event: Any, parse_body: Any, context: Any, uri: str) -> tuple[int, Any]:
    response = await handler(make_event("GET", "/fhr", query={"filename": uri}), context)
    return response["statusCode"], parse_body(response)


async def test_a_header_naming_another_file_is_keyed_by_that_files_etag(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any
) -> None:
    header = (set_a_dir / "a01.hea").read_bytes().replace(b"a01.dat", b"other.dat")
    put_files(
        boto, fhr_stack.bucket, MINE + "named/", {"rec.hea": header, "other.dat": (set_a_dir / "a01.dat").read_bytes()}
    )
    uri = f"s3://{fhr_stack.bucket}/{MINE}named/rec.hea"
    status, first = await fhr(make_event, parse_body, context, uri)
    assert status == 200 and first["cached"] is False
    assert (await fhr(make_event, parse_body, context, uri))[1]["cached"] is True
    # other.dat changes (the header does not): a fresh result, not the stale cached one
    boto("s3").put_object(
        Bucket=fhr_stack.bucket, Key=MINE + "named/other.dat", Body=(set_a_dir / "a02.dat").read_bytes()
    )
    status, second = await fhr(make_event, parse_body, context, uri)
    assert status == 200 and second["cached"] is False and second["fhr"]["bpm"] != first["fhr"]["bpm"]
    status, direct = await fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{MINE}named/rec.hea")
    assert direct["cached"] is True and direct["fhr"]["bpm"] == second["fhr"]["bpm"]
    # a named.dat beside the header changes nothing: it is not part of the record
    boto("s3").put_object(Bucket=fhr_stack.bucket, Key=MINE + "named/rec.dat", Body=b"decoy")
    assert (await fhr(make_event, parse_body, context, uri))[1]["cached"] is True


async def test_a_multi_file_record_works_without_a_dummy_dat_and_equals_the_single_file_one(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any, split_wfdb: Any
) -> None:
    put_files(boto, fhr_stack.bucket, MINE + "multi/", split_wfdb("a01", "rec"))
    single = (set_a_dir / "a01.hea").read_bytes().replace(b"a01", b"one")
    put_files(
        boto, fhr_stack.bucket, MINE + "single/", {"one.hea": single, "one.dat": (set_a_dir / "a01.dat").read_bytes()}
    )
    status, multi = await fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{MINE}multi/rec.hea")
    assert status == 200, multi
    _, one = await fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{MINE}single/one.hea")
    assert multi["fhr"] == one["fhr"] and multi["summary"] == one["summary"]
    # one of the files changes: a fresh result
    boto("s3").put_object(
        Bucket=fhr_stack.bucket, Key=MINE + "multi/rec_2.dat", Body=split_wfdb("a02", "rec")["rec_2.dat"]
    )
    status, changed = await fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{MINE}multi/rec.hea")
    assert status == 200 and changed["cached"] is False and changed["fhr"] != multi["fhr"]


async def test_size_limit_and_prediction_count_every_signal_file(
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    split_wfdb: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handlers.api import analysis

    files = split_wfdb("a03", "rec")
    put_files(boto, fhr_stack.bucket, MINE + "sized/", files)
    uri = f"s3://{fhr_stack.bucket}/{MINE}sized/rec.hea"
    total = sum(len(body) for body in files.values())
    monkeypatch.setenv("MAX_RECORD_BYTES", str(total - 1))  # each file alone fits
    status, body = await fhr(make_event, parse_body, context, uri)
    assert (status, body["code"]) == (413, "object_too_large") and str(total) in body["message"]
    monkeypatch.setenv("MAX_RECORD_BYTES", str(total))
    # 16 kB/s: the whole record (~480 kB) needs ~31 s, more than the request's budget; either file alone would not
    monkeypatch.setattr(analysis.THROUGHPUT, "observed", None)
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "16000")
    status, accepted = await fhr(make_event, parse_body, context, uri)
    assert status == 202 and accepted["predictedSeconds"] == round(1.0 + total / 16000, 1)


@pytest.mark.parametrize(
    "name", ["../secret.dat", "/secret.dat", "s3://another-bucket/secret.dat", "inner/../../secret.dat"]
)
async def test_a_header_naming_a_file_outside_its_directory_is_422_and_writes_nothing(
    name: str,
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    scan: Any,
    queue_depth: Any,
) -> None:
    header = (set_a_dir / "a01.hea").read_bytes().replace(b"a01.dat", name.encode())
    put_files(boto, fhr_stack.bucket, MINE + "", {"secret.dat": (set_a_dir / "a01.dat").read_bytes()})
    put_files(boto, fhr_stack.bucket, MINE + "box/inner/", {"rec.hea": header})
    before = scan(boto, fhr_stack.results_table)
    status, body = await fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{MINE}box/inner/rec.hea")
    assert (status, body["code"]) == (422, "signal_file_outside_record"), body
    assert set(body) == {"code", "message", "requestId"}
    assert scan(boto, fhr_stack.results_table) == before and queue_depth(boto, fhr_stack.queue_url) == 0
