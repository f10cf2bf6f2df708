"""Results of any size: S3 objects for those too large for a DynamoDB item, and answers under 6 MB.

A cache entry holds a result inline (zlib, under DynamoDB's 400 KB item limit: about 5 hours of record)
or, beyond that, points at an object ``tenants/<tenant>/results/<entry id>.json.gz`` in the stack's bucket:
gzip-encoded JSON, encrypted like the bucket (SSE-S3), tagged ``fhr-data=result`` so that the bucket's
lifecycle rule (fhrapp.definition.bucket_lifecycle_rules) deletes it after the result TTL. Only the
entry's owner is ever pointed at it: the entry is read for its tenant only and the key must lie under
that tenant's results prefix.

Answers: Lambda refuses a response over 6 MB (API Gateway turns it into a 502), so a result is inline
only while its JSON is under :data:`INLINE_RESULT_MAX_BYTES`; a larger one that is stored is answered
as a ``resultLink``: a presigned SigV4 GET of the object, valid :data:`LINK_EXPIRES_S`, with its size
and summary. A job page is cut by bytes (:data:`PAGE_MAX_BYTES`), so ``limit`` is a maximum.

Keys are never logged: they name the tenant and the entry, and the entry ids hash the file name.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from typing import Any

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024  # bytes of the whole invocation response (the body JSON-escaped in it)
INLINE_RESULT_MAX_BYTES = 4 * 1024 * 1024  # one result inline: well under the limit with the answer around it
PAGE_MAX_BYTES = 5 * 1024 * 1024  # a job page's body, escaped: leaves 1 MB for headers and the envelope
LINK_EXPIRES_S = 900
RESULTS_SEGMENT = "results/"
# The lifecycle rule that expires result objects filters on this tag (fhrapp.definition.RESULT_OBJECT_TAG).
RESULT_TAG = ("fhr-data", "result")


@dataclass(frozen=True)
class StoredResult:
    """A cache entry's result kept as an S3 object: where, and how large its JSON is."""

    bucket: str
    key: str
    size: int
    summary: Any = None


def results_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/{RESULTS_SEGMENT}"


def object_key(tenant: str, entry_id: str) -> str:
    return f"{results_prefix(tenant)}{entry_id}.json.gz"


def escaped_size(text: str) -> int:
    """Bytes ``text`` (ASCII JSON) takes once escaped as a string inside the invocation's response."""
    return len(text) + text.count('"') + text.count("\\")


class ResultObjects:
    """Put, read and presign result objects in the stack's bucket through a passed-in S3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    async def put(self, tenant: str, entry_id: str, text: str) -> StoredResult:
        key = object_key(tenant, entry_id)
        key_name, value = RESULT_TAG
        await self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=gzip.compress(text.encode("utf-8"), 6),
            ContentType="application/json",
            ContentEncoding="gzip",
            ServerSideEncryption="AES256",
            Tagging=f"{key_name}={value}",
        )
        return StoredResult(self.bucket, key, len(text))

    @staticmethod
    def owned(stored: StoredResult, tenant: str) -> bool:
        return stored.key.startswith(results_prefix(tenant)) and "/" not in stored.key[len(results_prefix(tenant)) :]

    async def load(self, stored: StoredResult) -> dict[str, Any]:
        response = await self.s3.get_object(Bucket=stored.bucket, Key=stored.key)
        async with response["Body"] as body:
            blob = await body.read()
        return json.loads(gzip.decompress(blob).decode("utf-8"))

    async def link(self, stored: StoredResult) -> dict[str, Any]:
        """A presigned GET (the client is SigV4: handlers.api.clients) with its expiry, size and summary."""
        url = await self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": stored.bucket, "Key": stored.key}, ExpiresIn=LINK_EXPIRES_S
        )
        return {"url": url, "expiresAt": int(time.time()) + LINK_EXPIRES_S, "bytes": stored.size}
