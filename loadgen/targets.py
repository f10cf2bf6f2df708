"""What each route's load looks like: the exact requests clients send, built from stack outputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

from loadgen.engine import Request
from loadgen.outputs import StackOutputs

ROUTES = ("fhr", "items", "batch")
# A WFDB record is named by its header; its .dat rides along. Annotation and truth files are not records.
RECORD_SUFFIXES = (".hea", ".csv", ".txt", ".edf", ".tsv")
BATCH_LIMIT = 1000


class TargetsError(ValueError):
    """No usable keys, or an unknown route."""


def read_keys_file(path: Path) -> list[str]:
    keys = [line.strip() for line in path.read_text().splitlines()]
    keys = [k for k in keys if k and not k.startswith("#")]
    if not keys:
        raise TargetsError(f"{path}: no keys (one S3 key per line)")
    return keys


def caller_prefix(api_url: str, token: str | None = None) -> str:
    """Where the caller's recordings live (``tenants/<tenant>/``), as the API says: ``GET /recordings``."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{api_url.rstrip('/')}/recordings?limit=1", headers=_headers(token, False))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read())["prefix"])
    except (urllib.error.URLError, ValueError, KeyError) as exc:
        raise TargetsError(f"GET {api_url}/recordings did not say the caller's prefix: {exc}") from None


def list_keys(outputs: StackOutputs, prefix: str, token: str | None = None) -> list[str]:
    """Record keys under ``prefix`` (relative to the caller's own ``tenants/<tenant>/``) in the stack's
    bucket (the local cloud's moto when it says so)."""
    import boto3

    full = caller_prefix(outputs.api_url, token) + prefix
    # A local cloud's moto takes any credentials; a deployed stage uses the caller's own.
    local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if outputs.is_local else {}
    s3 = boto3.client("s3", region_name=outputs.region, endpoint_url=outputs.aws_endpoint_url, **local)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=outputs.ecg_bucket, Prefix=full):
        keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].lower().endswith(RECORD_SUFFIXES))
    if not keys:
        raise TargetsError(f"no record keys under s3://{outputs.ecg_bucket}/{full}")
    return sorted(keys)


def _headers(token: str | None, json_body: bool) -> dict[str, str]:
    headers = {"content-type": "application/json"} if json_body else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def fhr_requests(outputs: StackOutputs, keys: Iterable[str], token: str | None = None) -> list[Request]:
    """Seed 000's request, verbatim: ``GET /fhr?filename=s3://{bucket}/{key}``."""
    return [
        Request(
            "GET",
            f"{outputs.api_url}/fhr?filename={quote(f's3://{outputs.ecg_bucket}/{key}', safe=':/')}",
            headers=_headers(token, json_body=False),
        )
        for key in keys
    ]


def items_requests(outputs: StackOutputs, token: str | None = None, limit: int = 25) -> list[Request]:
    """Seeds 002/004's load: the DynamoDB manager's ``list`` operation."""
    body = json.dumps({"operation": "list", "payload": {"Limit": limit}}).encode()
    return [Request("POST", f"{outputs.api_url}/DynamoDBManager", body, _headers(token, json_body=True))]


def batch_requests(outputs: StackOutputs, keys: Sequence[str], token: str | None = None) -> list[Request]:
    """One ``POST /fhr/batch`` per chunk of at most 1 000 filenames."""
    uris = [f"s3://{outputs.ecg_bucket}/{k}" for k in keys]
    return [
        Request(
            "POST",
            f"{outputs.api_url}/fhr/batch",
            json.dumps({"filenames": uris[i : i + BATCH_LIMIT]}).encode(),
            _headers(token, json_body=True),
        )
        for i in range(0, len(uris), BATCH_LIMIT)
    ]


def build_requests(route: str, outputs: StackOutputs, keys: Sequence[str] | None, token: str | None) -> list[Request]:
    if route == "items":
        return items_requests(outputs, token)
    if not keys:
        raise TargetsError(f"route {route} needs keys: give --keys-file or --prefix")
    if route == "fhr":
        return fhr_requests(outputs, keys, token)
    if route == "batch":
        return batch_requests(outputs, keys, token)
    raise TargetsError(f"unknown route {route!r} (expected one of {', '.join(ROUTES)})")
