"""The web function's data routes against S3 on the moto server: presigned uploads and the recordings list.

Called as API Gateway calls it, as two tenants of a JWT stack; its aioboto3 client is the real one.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest

from handlers.web import app

REGION = "eu-west-1"


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("FHR_TENANT_CLAIM", "sub")
    monkeypatch.delenv("FHR_OPEN_TENANT", raising=False)
    name = f"web-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("ECG_BUCKET", name)
    for key in (
        "tenants/alice/uploads/d/1/Jane_Doe.csv",
        "tenants/alice/uploads/d/2/a01.hea",
        "tenants/alice/uploads/d/2/a01.dat",
        "tenants/bob/uploads/d/3/Bob_private.csv",
        "legacy-flat-key.csv",
    ):
        s3.put_object(Bucket=name, Key=key, Body=b"1,2\n")
    yield name


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    from handlers.api import clients

    await clients.close()


def event(method: str, path: str, sub: str, *, body: Any = None, query: dict[str, str] | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": {"content-type": "application/json"},
        "queryStringParameters": query,
        "requestContext": {
            "http": {"method": method, "path": path},
            "requestId": "r1",
            "authorizer": {"jwt": {"claims": {"sub": sub}, "scopes": ["fhr/read", "fhr/write"]}},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


async def call(*args: Any, **kwargs: Any) -> tuple[int, Any]:
    response = await app.handler(event(*args, **kwargs), None)
    return response["statusCode"], json.loads(response["body"])


async def test_recordings_lists_the_callers_prefix_only(bucket: str) -> None:
    status, body = await call("GET", "/recordings", "alice")
    assert status == 200 and body["prefix"] == "tenants/alice/"
    assert [r["key"] for r in body["recordings"]] == [
        "tenants/alice/uploads/d/1/Jane_Doe.csv",
        "tenants/alice/uploads/d/2/a01.hea",
    ]
    status, body = await call("GET", "/recordings", "bob", query={"prefix": "../alice/"})
    assert (status, body["recordings"]) == (200, [])  # the prefix is relative to the caller's own


async def test_a_page_token_cannot_start_in_another_tenants_prefix(bucket: str) -> None:
    status, page = await call("GET", "/recordings", "alice", query={"limit": "1"})
    assert status == 200 and page["nextToken"]
    status, body = await call("GET", "/recordings", "bob", query={"nextToken": page["nextToken"]})
    assert (status, body["code"]) == (400, "invalid_token")
    forged = base64.urlsafe_b64encode(b"tenants/alice/").decode()
    assert (await call("GET", "/recordings", "bob", query={"nextToken": forged}))[0] == 400


async def test_uploads_are_presigned_sigv4_with_the_session_token_under_the_callers_prefix(bucket: str) -> None:
    files = [{"name": "a01.hea", "size": 100, "contentType": "application/octet-stream"}]
    files.append({"name": "a01.dat", "size": 1000, "contentType": "application/octet-stream"})
    status, body = await call("POST", "/uploads", "bob", body={"files": files})
    assert status == 201 and body["prefix"] == "tenants/bob/"
    assert body["record"].startswith("tenants/bob/uploads/") and body["record"].endswith("/a01.hea")
    for upload in body["uploads"]:
        fields = upload["fields"]
        assert upload["key"].startswith("tenants/bob/uploads/") and fields["key"] == upload["key"]
        assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and "AWSAccessKeyId" not in fields
        assert fields["x-amz-credential"].split("/")[2:4] == [REGION, "s3"]
        assert fields["x-amz-security-token"] == "testing"  # the role's session token travels with the form
        policy = json.loads(base64.b64decode(fields["policy"]))
        assert {"key": upload["key"]} in policy["conditions"]  # the exact key, nothing else
        assert {"x-amz-security-token": "testing"} in policy["conditions"]
