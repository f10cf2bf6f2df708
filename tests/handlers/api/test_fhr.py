"""The FHR endpoint end to end: real set-a records in moto S3, the real estimator, the real cache.

S3 reads are counted from the moto server's own request log (werkzeug logs one line per request it
serves), so "a cache hit does not read the object" is checked on what the server received.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from handlers.api.cache import decode_result
from handlers.api.fhr import handler

MINE = "tenants/t-test/"  # the open tenant's prefix (conftest.open_tenancy): where the caller's objects live


def upload_record(boto: Any, bucket: str, set_a_dir: Path, record: str, stem: str) -> str:
    """``record`` of set-a uploaded as the caller's ``<stem>.hea`` + ``.dat``; returns its s3:// name."""
    key_stem = MINE + stem
    for suffix in ("hea", "dat"):
        body = (set_a_dir / f"{record}.{suffix}").read_bytes()
        if suffix == "hea":  # the header names its signal file: keep it pointing beside itself
            body = body.replace(f"{record}.dat".encode(), f"{key_stem.rsplit('/', 1)[-1]}.dat".encode())
            body = re.sub(rb"^\S+", key_stem.rsplit("/", 1)[-1].encode(), body, count=1)
        boto("s3").put_object(Bucket=bucket, Key=f"{key_stem}.{suffix}", Body=body)
    return f"s3://{bucket}/{key_stem}.hea"


class S3Requests:
    """Counts requests the moto server logged for one key prefix."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def count(self, method: str, path_part: str) -> int:
        pattern = re.compile(rf"(?<![A-Z]){method} /[^ ]*{re.escape(path_part)}[^ ]* HTTP")  # 206 lines are coloured
        return sum(1 for r in self.caplog.records if r.name == "werkzeug" and pattern.search(r.getMessage()))


@pytest.fixture
def s3_requests(caplog: pytest.LogCaptureFixture) -> S3Requests:
    caplog.set_level(logging.INFO, logger="werkzeug")
    return S3Requests(caplog)


async def get_fhr(make_event: Any, parse_body: Any, context: Any, uri: str) -> tuple[int, Any]:
    response = await handler(make_event("GET", "/fhr", query={"filename": uri}), context)
    return response["statusCode"], parse_body(response)


async def test_repeat_is_served_from_cache_without_reading_s3(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    s3_requests: S3Requests,
) -> None:
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a01", "hit/a01")
    status, first = await get_fhr(make_event, parse_body, context, uri)
    assert status == 200 and first["cached"] is False
    assert first["fhr"]["fs"] == 4 and len(first["fhr"]["bpm"]) > 200
    signal_reads = s3_requests.count("GET", "hit/a01.dat")
    assert signal_reads >= 1 and s3_requests.count("GET", "hit/a01.hea") == 1
    status, second = await get_fhr(make_event, parse_body, context, uri)
    assert status == 200 and second["cached"] is True
    # A hit reads the (small) header again, to know which signal files make the record, and HEADs those.
    assert s3_requests.count("GET", "hit/a01.dat") == signal_reads
    assert s3_requests.count("GET", "hit/a01.hea") == 2
    assert {**second, "cached": False} == first


async def test_changed_object_is_recomputed(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any
) -> None:
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a01", "changing/rec")
    _, first = await get_fhr(make_event, parse_body, context, uri)
    upload_record(boto, fhr_stack.bucket, set_a_dir, "a02", "changing/rec")  # new ETags, same key
    _, second = await get_fhr(make_event, parse_body, context, uri)
    assert second["cached"] is False and second["fhr"]["bpm"] != first["fhr"]["bpm"]
    _, third = await get_fhr(make_event, parse_body, context, uri)
    assert third["cached"] is True and third["fhr"]["bpm"] == second["fhr"]["bpm"]


async def test_options_are_part_of_the_cache_key(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any
) -> None:
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a03", "opts/a03")
    assert (await get_fhr(make_event, parse_body, context, uri))[1]["cached"] is False
    post = make_event("POST", "/fhr", body={"filename": uri, "options": {"refine": False}})
    first = parse_body(await handler(post, context))
    assert first["cached"] is False
    again = parse_body(
        await handler(make_event("POST", "/fhr", body={"filename": uri, "options": {"refine": False}}), context)
    )
    assert again["cached"] is True


async def test_cache_entry_is_compressed_with_a_ttl(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any, scan: Any
) -> None:
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a04", "ttl/a04")
    _, body = await get_fhr(make_event, parse_body, context, uri)
    (item,) = [i for i in scan(boto, fhr_stack.results_table) if i["pk"]["S"].startswith("result#")]
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 7 * 24 * 3600)) < 60
    assert item["tenant"] == {"S": "t-test"}  # the owner, checked on every read
    assert decode_result(item["result_z"]["B"]) == {k: v for k, v in body.items() if k != "cached"}
    assert len(item["result_z"]["B"]) < len(json.dumps(body)) / 2


GARBAGE = [
    ("junk.csv", b"\x00\x17\xff\xfe" * 5000, "unsupported_format"),
    ("empty.csv", b"", "empty_record"),
    ("words.csv", b"time,ecg\nhello,world\nfoo,bar\n" * 50, None),
    ("ragged.csv", b'"\n' * 100, "corrupt_record"),
    ("header-only.csv", b"'Elapsed time','ECG'\n'hh:mm:ss.mmm','mV'\n", "empty_record"),
    ("no-time.csv", b"1,2\n" * 20000, None),
    ("noise.edf", b"0       " + bytes((i * 37) % 256 for i in range(3000)), "corrupt_record"),
    ("not-text.hea", b"\xff\xfe\x00garbage\n", "corrupt_record"),
]


@pytest.mark.parametrize(("key", "data", "code"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_unusable_files_are_422_and_not_cached(
    key: str,
    data: bytes,
    code: str | None,
    fhr_stack: Any,
    boto: Any,
    make_event: Any,
    parse_body: Any,
    context: Any,
    scan: Any,
) -> None:
    key = MINE + key
    boto("s3").put_object(Bucket=fhr_stack.bucket, Key=key, Body=data)
    if key.endswith(".hea"):
        boto("s3").put_object(Bucket=fhr_stack.bucket, Key=key[:-4] + ".dat", Body=b"\x00" * 64)
    before = scan(boto, fhr_stack.results_table)
    status, body = await get_fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{key}")
    assert status == 422, body
    assert set(body) == {"code", "message", "requestId"}
    if code:
        assert body["code"] == code
    assert scan(boto, fhr_stack.results_table) == before


async def test_corrupt_wfdb_header_is_422(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any
) -> None:
    header = b"r 4 1000 60000\nnot a signal line\n"
    boto("s3").put_object(Bucket=fhr_stack.bucket, Key=f"{MINE}bad/r.hea", Body=header)
    boto("s3").put_object(Bucket=fhr_stack.bucket, Key=f"{MINE}bad/r.dat", Body=(set_a_dir / "a01.dat").read_bytes())
    status, body = await get_fhr(make_event, parse_body, context, f"s3://{fhr_stack.bucket}/{MINE}bad/r.hea")
    assert status == 422, body


def job_event(make_event: Any, job_id: str, **query: str) -> dict[str, Any]:
    return make_event(
        "GET", f"/fhr/jobs/{job_id}", route_key="GET /fhr/jobs/{id}", path_params={"id": job_id}, query=query or None
    )


async def test_deferred_record_completes_through_the_queue(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    context: Any,
    drive_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a05", "slow/a05")
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")
    status, accepted = await get_fhr(make_event, parse_body, context, uri)
    assert status == 202
    assert await drive_worker(fhr_stack.queue_url, context) == (1, [])
    job = parse_body(await handler(job_event(make_event, accepted["jobId"]), context))
    assert (job["status"], job["done"], job["pending"]) == ("done", 1, 0)
    assert job["result"]["fhr"]["fs"] == 4 and job["files"][0]["cached"] is False
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000000000")
    status, direct = await get_fhr(make_event, parse_body, context, uri)
    assert status == 200 and direct["cached"] is True  # the worker's result landed in the cache
    assert {k: v for k, v in direct.items() if k != "cached"} == job["result"]


async def test_batch_computes_each_record_once_and_reuses_the_cache(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, parse_body: Any, context: Any, drive_worker: Any
) -> None:
    uris = [upload_record(boto, fhr_stack.bucket, set_a_dir, r, f"batch/{r}") for r in ("a06", "a07")]
    missing = f"s3://{fhr_stack.bucket}/{MINE}batch/a99.hea"

    async def run_batch() -> dict[str, Any]:
        response = await handler(make_event("POST", "/fhr/batch", body={"filenames": [*uris, missing]}), context)
        job_id = parse_body(response)["jobId"]
        assert await drive_worker(fhr_stack.queue_url, context) == (3, [])
        return parse_body(await handler(job_event(make_event, job_id, results="full"), context))

    first = await run_batch()
    assert (first["status"], first["done"], first["failed"], first["pending"]) == ("done", 2, 1, 0)
    by_index = {f["index"]: f for f in first["files"]}
    assert by_index[2]["error"]["code"] == "object_not_found"
    assert all(by_index[i]["result"]["fhr"]["fs"] == 4 and by_index[i]["summary"] for i in (0, 1))
    second = await run_batch()
    assert [f.get("cached") for f in second["files"]] == [True, True, None]
    assert [f["result"] for f in second["files"][:2]] == [by_index[0]["result"], by_index[1]["result"]]


async def test_deadline_is_enforced_while_computing(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    parse_body: Any,
    make_context: Any,
    drive_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The prediction says "fits" but the invocation has 20 ms left: the answer is still a timely 202."""
    from handlers.api import analysis, fhr

    monkeypatch.setattr(analysis.THROUGHPUT, "observed", None)  # forget what earlier tests measured
    uri = upload_record(boto, fhr_stack.bucket, set_a_dir, "a08", "tight/a08")
    for name, value in {
        "FHR_THROUGHPUT_BYTES_PER_S": "1e12",
        "FHR_FIXED_OVERHEAD_S": "0",
        "FHR_SAFETY_MARGIN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    await fhr.init()  # clients open before the clock starts, as the runtime does at cold start
    context = make_context(timeout_s=0.02)
    status, accepted = await get_fhr(make_event, parse_body, context, uri)
    assert status == 202 and accepted["status"] == "pending"
    await fhr.drain()  # the interrupted analysis stops (on Lambda it would resume in someone else's invocation)
    assert await drive_worker(fhr_stack.queue_url, make_context()) == (1, [])
    job = parse_body(await handler(job_event(make_event, accepted["jobId"]), make_context()))
    # One computation, by the queue worker alone: the abandoned analysis cached nothing.
    assert job["status"] == "done" and job["done"] == 1 and job["files"][0]["cached"] is False
