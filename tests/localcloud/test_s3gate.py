"""The S3 gate enforces presigned POST policies as S3 does and passes everything else to moto."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.config import Config

from localcloud.s3gate import S3Gate

CREDENTIALS = {"testing": "testing"}


def client(url: str, signature: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version=signature),
    )


@contextmanager
def running_gate(moto_endpoint: str, signature: str, legacy: bool) -> Iterator[tuple[S3Gate, Any, str]]:
    """The gate on its own event loop in a thread, so blocking boto3 calls in tests cannot stall it;
    presigning with ``signature`` (``s3v4`` or botocore's SigV2 ``s3``), the bucket legacy or not."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    bucket = f"gate-{uuid.uuid4().hex[:10]}"
    gate = S3Gate(moto_endpoint, CREDENTIALS, sigv2_buckets=frozenset({bucket} if legacy else ()))
    asyncio.run_coroutine_threadsafe(gate.start(), loop).result(10)
    s3 = client(gate.url, signature)
    client(gate.url, "s3v4").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    try:
        yield gate, s3, bucket
    finally:
        asyncio.run_coroutine_threadsafe(gate.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture(params=["s3v4", "s3"], ids=["sigv4", "sigv2-legacy-bucket"])
def gate(moto_endpoint: str, request: pytest.FixtureRequest) -> Iterator[tuple[S3Gate, Any, str]]:
    """Policy checks under both signature versions (SigV2 on a bucket the gate treats as pre-2020)."""
    with running_gate(moto_endpoint, request.param, legacy=request.param == "s3") as running:
        yield running


def presign(s3: Any, bucket: str, key: str, max_bytes: int = 100, ctype: str = "text/csv", expires: int = 600) -> Any:
    return s3.generate_presigned_post(
        bucket,
        key,
        Fields={"Content-Type": ctype},
        Conditions=[["content-length-range", 1, max_bytes], {"Content-Type": ctype}],
        ExpiresIn=expires,
    )


async def post_form(url: str, fields: dict[str, str], content: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", content, filename="x.csv")
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        return response.status, await response.text()


def exists(s3: Any, bucket: str, key: str) -> bool:
    return any(o["Key"] == key for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


async def test_a_conforming_upload_is_stored(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/ok.csv")
    status, body = await post_form(post["url"], post["fields"], b"0.1,0.2\n")
    assert status == 204, body
    assert s3.get_object(Bucket=bucket, Key="uploads/ok.csv")["Body"].read() == b"0.1,0.2\n"


async def test_an_oversize_upload_is_refused_and_not_stored(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/big.csv", max_bytes=10)
    status, body = await post_form(post["url"], post["fields"], b"x" * 11)
    assert status == 400 and "<Code>EntityTooLarge</Code>" in body
    assert not exists(s3, bucket, "uploads/big.csv")


async def test_a_wrong_content_type_is_refused(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/t.csv")
    status, body = await post_form(post["url"], {**post["fields"], "Content-Type": "image/png"}, b"abc")
    assert status == 403 and "Policy Condition failed" in body
    assert not exists(s3, bucket, "uploads/t.csv")


async def test_another_key_than_signed_is_refused(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/signed.csv")
    status, body = await post_form(post["url"], {**post["fields"], "key": "elsewhere.csv"}, b"abc")
    assert status == 403 and "key" in body
    assert not exists(s3, bucket, "elsewhere.csv")


async def test_a_tampered_policy_fails_its_signature(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/tamper.csv", max_bytes=10)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    policy["conditions"] = [
        c for c in policy["conditions"] if not (isinstance(c, list) and c[0] == "content-length-range")
    ]
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    status, body = await post_form(post["url"], {**post["fields"], "policy": forged}, b"x" * 50)
    assert status == 403 and "SignatureDoesNotMatch" in body


async def test_an_expired_policy_is_refused(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/late.csv", expires=-10)
    status, body = await post_form(post["url"], post["fields"], b"abc")
    assert status == 403 and "expired" in body


async def test_an_unsigned_extra_field_is_refused(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    post = presign(s3, bucket, "uploads/extra.csv")
    status, body = await post_form(post["url"], {**post["fields"], "acl": "public-read"}, b"abc")
    assert status == 403 and "Extra input fields: acl" in body


async def test_everything_else_passes_through_to_moto(gate) -> None:  # type: ignore[no-untyped-def]
    _, s3, bucket = gate
    s3.put_object(Bucket=bucket, Key="r/a.csv", Body=b"0123456789")
    assert s3.head_object(Bucket=bucket, Key="r/a.csv")["ContentLength"] == 10
    ranged = s3.get_object(Bucket=bucket, Key="r/a.csv", Range="bytes=2-4")
    assert ranged["Body"].read() == b"234" and ranged["ContentRange"] == "bytes 2-4/10"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="r/")["Contents"]] == ["r/a.csv"]
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="r/missing.csv")


async def test_sigv2_is_refused_for_buckets_made_since_2020_as_s3_does(moto_endpoint: str) -> None:
    """Every bucket the gate does not know as legacy refuses SigV2: form POSTs, presigned URLs, headers."""
    with running_gate(moto_endpoint, "s3", legacy=False) as (gate, s3, bucket):
        post = presign(s3, bucket, "uploads/v2.csv")
        assert "AWSAccessKeyId" in post["fields"]
        status, body = await post_form(post["url"], post["fields"], b"0.1\n")
        assert status == 400 and "<Code>InvalidRequest</Code>" in body and "AWS4-HMAC-SHA256" in body
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "uploads/v2.csv"})
        assert "AWSAccessKeyId=" in url
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 400 and "InvalidRequest" in await response.text()
        with pytest.raises(s3.exceptions.ClientError, match="InvalidRequest"):
            s3.list_objects_v2(Bucket=bucket)  # SigV2 header auth on an ordinary request
        assert client(gate.url, "s3v4").list_objects_v2(Bucket=bucket).get("Contents") is None  # nothing stored


async def test_a_presigned_get_works_until_it_expires(moto_endpoint: str) -> None:
    """moto serves expired SigV4 presigned URLs; S3 does not, and the gate answers as S3 does."""
    with running_gate(moto_endpoint, "s3v4", legacy=False) as (_, s3, bucket):
        s3.put_object(Bucket=bucket, Key="r/p.csv", Body=b"42")
        short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "r/p.csv"}, ExpiresIn=1)
        assert "X-Amz-Expires=1" in short
        async with aiohttp.ClientSession() as session:
            async with session.get(short) as fresh:
                assert (fresh.status, await fresh.read()) == (200, b"42")
            await asyncio.sleep(2.1)  # past X-Amz-Date + 1 s (the date has a one-second resolution)
            async with session.get(short) as late:
                body = await late.text()
                assert late.status == 403 and "<Code>AccessDenied</Code>" in body and "Request has expired" in body
            too_long = s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "r/p.csv"}, ExpiresIn=8 * 24 * 3600
            )
            async with session.get(too_long) as refused:
                assert refused.status == 400 and "AuthorizationQueryParametersError" in await refused.text()
