"""Results of any size (handlers/api/results.py): S3 objects beyond the item limit, links, pages cut by bytes.

The limits are lowered here (the item limit, the inline and page budgets) so that one-minute set-a
records exercise every path in seconds; tests/localcloud/test_fhr_results.py does the same with
generated multi-hour records at the real limits, against the local cloud's 6 MB response limit.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from handlers.api import cache as cache_module
from handlers.api import clients, fhr
from handlers.api.cache import ResultCache
from handlers.api.http import dumps
from handlers.api.results import ResultObjects, StoredResult, escaped_size

MINE = "tenants/t-test/"


def upload(boto: Any, bucket: str, set_a_dir: Path, record: str, stem: str) -> str:
    for suffix in ("hea", "dat"):
        body = (set_a_dir / f"{record}.{suffix}").read_bytes()
        if suffix == "hea":
            body = body.replace(f"{record}.dat".encode(), f"{Path(stem).name}.dat".encode())
        boto("s3").put_object(Bucket=bucket, Key=f"{MINE}{stem}.{suffix}", Body=body)
    return f"s3://{bucket}/{MINE}{stem}.hea"


def noise_result(size: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    return {"fhr": {"bpm": [round(rng.uniform(90, 190), 1) for _ in range(size)]}, "summary": {"baseline_bpm": 140}}


async def get_fhr(make_event: Any, context: Any, uri: str) -> tuple[int, dict[str, Any]]:
    response = await fhr.handler(make_event("GET", "/fhr", query={"filename": uri}), context)
    return response["statusCode"], json.loads(response["body"])


def job_event(make_event: Any, job_id: str, **query: str) -> dict[str, Any]:
    path = f"/fhr/jobs/{job_id}"
    return make_event("GET", path, route_key="GET /fhr/jobs/{id}", path_params={"id": job_id}, query=query or None)


def fetch(url: str) -> tuple[dict[str, str], dict[str, Any]]:
    """GET a presigned URL as a browser would (no credentials of its own); gzip decoded as browsers do."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a loopback moto URL
        encoding, body = response.headers.get("Content-Encoding"), response.read()
        headers = {name.lower(): value for name, value in response.headers.items()}
    if encoding == "gzip":
        body = gzip.decompress(body)
    return headers, json.loads(body)


async def test_a_result_too_large_for_an_item_is_an_encrypted_tagged_object_only_its_tenant_reaches(
    fhr_stack: Any, boto: Any
) -> None:
    dynamodb, s3 = await clients.client("dynamodb"), await clients.client("s3")
    cache = ResultCache(dynamodb, fhr_stack.results_table, 3600, ResultObjects(s3, fhr_stack.bucket))
    rng = random.Random(2)
    big = noise_result(120_000)
    big["fhr"]["quality"] = [rng.random() for _ in range(120_000)]  # ~3 MB of JSON, over 400 KB compressed
    stored = await cache.put("result#" + "ab" * 32, big, {"tenant": "alice", "bucket": fhr_stack.bucket})
    assert isinstance(stored, StoredResult)
    assert stored.key == f"tenants/alice/results/{'ab' * 32}.json.gz"  # no file name, the tenant's prefix
    head = boto("s3").head_object(Bucket=fhr_stack.bucket, Key=stored.key)
    assert head["ServerSideEncryption"] == "AES256" and head["ContentEncoding"] == "gzip"
    tags = boto("s3").get_object_tagging(Bucket=fhr_stack.bucket, Key=stored.key)["TagSet"]
    assert tags == [{"Key": "fhr-data", "Value": "result"}]  # what the lifecycle rule expires
    key = {"pk": {"S": "result#" + "ab" * 32}}
    item = boto("dynamodb").get_item(TableName=fhr_stack.results_table, Key=key)["Item"]
    assert "result_z" not in item and item["result_ref"]["S"] == stored.key
    assert await cache.get("result#" + "ab" * 32, "alice") == big
    assert await cache.get("result#" + "ab" * 32, "bob") is None  # another tenant: a miss, nothing read
    # An entry of alice's pointing into bob's prefix (a corrupted or forged item) is never followed.
    forged = {**item, "pk": {"S": "result#forged"}, "result_ref": {"S": "tenants/bob/results/x.json.gz"}}
    boto("dynamodb").put_item(TableName=fhr_stack.results_table, Item=forged)
    assert await cache.lookup("result#forged", "alice") is None


async def test_a_result_over_the_item_limit_is_served_again_from_s3_not_deferred_forever(
    fhr_stack: Any, boto: Any, set_a_dir: Path, make_event: Any, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a result over the item limit was dropped; asking again answered 202 with the same job forever."""
    monkeypatch.setattr(cache_module, "MAX_ITEM_BYTES", cache_module.ITEM_HEADROOM + 100)  # every result is "big"
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1e12")
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a03", "long/a03")
    status, fresh = await get_fhr(make_event, context, uri)
    assert status == 200 and fresh["cached"] is False and fresh["fhr"]["fs"] == 4
    status, again = await get_fhr(make_event, context, uri)
    assert status == 200 and again == {**fresh, "cached": True}  # read back from the S3 object, exactly
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", 1000)  # now too large to answer inline: a link
    status, linked = await get_fhr(make_event, context, uri)
    assert status == 200 and set(linked) == {"resultLink", "summary", "cached"} and linked["cached"] is True
    assert linked["summary"] == fresh["summary"]
    link = linked["resultLink"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["900"]  # SigV4
    # The object's key names no file: the tenant's results prefix and a digest. (Not `"a03" not in url`: the
    # URL's hex signature and digest contain "a03" by chance in about one run of thirty.)
    path = urllib.parse.unquote(urllib.parse.urlsplit(link["url"]).path)
    assert re.fullmatch(rf"/{fhr_stack.bucket}/{MINE}results/[0-9a-f]{{64}}\.json\.gz", path), path
    _, served = fetch(link["url"])
    assert {**served, "cached": False} == fresh and link["bytes"] == len(dumps(served))


async def test_a_deferred_long_record_is_served_by_its_job_as_a_link(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    context: Any,
    drive_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache_module, "MAX_ITEM_BYTES", cache_module.ITEM_HEADROOM + 100)
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", 1000)
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1000")  # predicted far over 30 s: deferred
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a04", "long/a04")
    status, accepted = await get_fhr(make_event, context, uri)
    assert status == 202
    assert await drive_worker(fhr_stack.queue_url, context) == (1, [])
    job = json.loads((await fhr.handler(job_event(make_event, accepted["jobId"]), context))["body"])
    assert job["status"] == "done" and job["result"] is None and job["files"][0]["summary"]
    _, served = fetch(job["resultLink"]["url"])
    monkeypatch.setattr(fhr, "INLINE_RESULT_MAX_BYTES", 4 << 20)
    monkeypatch.setenv("FHR_THROUGHPUT_BYTES_PER_S", "1e12")
    status, inline = await get_fhr(make_event, context, uri)  # the same stored result, now small enough inline
    assert status == 200 and inline == {**served, "cached": True}


async def test_job_pages_with_results_are_cut_by_bytes_and_continue_where_they_stopped(
    fhr_stack: Any,
    boto: Any,
    set_a_dir: Path,
    make_event: Any,
    context: Any,
    drive_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = upload(boto, fhr_stack.bucket, set_a_dir, "a05", "page/a05")
    status, single = await get_fhr(make_event, context, uri)
    assert status == 200
    one = escaped_size(dumps({**single, "cached": True}))
    monkeypatch.setattr(fhr, "PAGE_MAX_BYTES", int(2.5 * one))  # room for two results a page, not three
    body = {"filenames": [uri] * 5}
    accepted = json.loads((await fhr.handler(make_event("POST", "/fhr/batch", body=body), context))["body"])
    while (await drive_worker(fhr_stack.queue_url, context))[0]:
        pass
    offsets, results, offset = [], [], 0
    while offset is not None:
        page = json.loads(
            (await fhr.handler(job_event(make_event, accepted["jobId"], results="full", offset=str(offset)), context))[
                "body"
            ]
        )
        offsets.append(offset)
        assert len(page["files"]) <= 2
        results += [f["result"] for f in page["files"]]
        offset = page["nextOffset"]
    assert offsets == [0, 2, 4]  # limit 10 asked; pages of 2 by bytes, and nothing skipped
    expected = {k: v for k, v in single.items() if k != "cached"}
    assert results == [expected] * 5
