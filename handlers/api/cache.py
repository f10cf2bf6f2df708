"""The FHR results cache in the results table: keyed by object identity (ETag) and options.

Key: ``pk = "result#" + sha256(schema | tenant | bucket | key | ETag(s) | sha256(options))``. A new
upload of the same key gets a new ETag, hence a new key, so a stale result can never be served; the
tenant is part of the identity (and recorded as the entry's ``tenant``, checked on every read), so one
tenant's result is never served to another, even for byte-identical recordings. The TTL attribute
``expires_at`` lets DynamoDB drop old entries (and a read ignores an expired entry that TTL has not
swept yet, since TTL deletion lags by up to days).

Size: a DynamoDB item holds at most 400 KB. A 30-min result at 4 Hz is 7,200 points x 4 arrays,
~250 KB as JSON, so results are stored as a zlib-compressed binary attribute (~4-6x smaller, the
traces being smooth). Before storing or returning, :func:`compact_result` rounds rates to 0.1 bpm
and qualities to 0.001 (below any clinical resolution), so a cached answer is byte-for-byte the
fresh one. If a result is still over the limit compressed (a record of more than about 5 hours), it
is written as an S3 object under the tenant's results prefix and the entry points at it
(:mod:`handlers.api.results`: ``result_ref``, ``result_bytes`` and the small ``summary``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zlib
from decimal import Decimal
from typing import Any

from handlers.api.dynamo import MAX_ITEM_BYTES
from handlers.api.results import ResultObjects, StoredResult

CACHE_SCHEMA = "v3"  # v2: keyed by tenant; v3: beats and variability. Bump when the output changes meaning
RESULT_PREFIX = "result#"
ITEM_HEADROOM = 4 * 1024  # bytes left for the non-result attributes of the item

ROUNDING = {"bpm": 1, "quality": 3}


def plain(value: Any) -> Any:
    """JSON-parsed values with ``Decimal`` numbers turned into ints/floats (what the estimator takes)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def options_hash(options: dict[str, Any] | None) -> str:
    canonical = json.dumps(plain(options or {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_key(tenant: str, bucket: str, key: str, etags: tuple[str, ...], options_digest: str) -> str:
    identity = "|".join((CACHE_SCHEMA, tenant, bucket, key, ",".join(etags), options_digest))
    return RESULT_PREFIX + hashlib.sha256(identity.encode("utf-8")).hexdigest()


def compact_result(value: Any, field: str | None = None) -> Any:
    """Round traces to their meaningful resolution; NaN/inf become ``null`` (JSON has neither)."""
    if isinstance(value, dict):
        return {k: compact_result(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [compact_result(v, field) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return compact_result(value.tolist(), field)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        digits = ROUNDING.get(field or "")
        return round(value, digits) if digits is not None else value
    return value


def encode_result(result: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(result, separators=(",", ":"), allow_nan=False).encode("utf-8"), 6)


def decode_result(blob: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


class ResultCache:
    """Get and put results in the results table through a passed-in DynamoDB client; results too large
    for an item go to S3 through ``objects`` (without it they are returned but not cached)."""

    def __init__(self, dynamodb: Any, table: str, ttl_s: int, objects: ResultObjects | None = None) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.ttl_s = ttl_s
        self.objects = objects

    async def lookup(self, pk: str, tenant: str) -> dict[str, Any] | StoredResult | None:
        """The live entry ``pk`` if ``tenant`` owns it: the result, or where it is stored (another
        tenant's entry, or a pointer outside the tenant's results prefix, reads as a miss)."""
        response = await self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            ProjectionExpression="result_z, result_ref, result_bytes, summary, expires_at, tenant",
        )
        item = response.get("Item")
        if not item or item.get("tenant", {}).get("S") != tenant:
            return None
        if int(item.get("expires_at", {}).get("N", "0")) <= int(time.time()):
            return None
        if "result_z" in item:
            return decode_result(item["result_z"]["B"])
        if "result_ref" not in item or self.objects is None:
            return None
        summary = json.loads(item["summary"]["S"]) if "summary" in item else None
        stored = StoredResult(self.objects.bucket, item["result_ref"]["S"], int(item["result_bytes"]["N"]), summary)
        return stored if ResultObjects.owned(stored, tenant) else None

    async def get(self, pk: str, tenant: str) -> dict[str, Any] | None:
        """The result of the live entry ``pk`` owned by ``tenant``, read from S3 if it is stored there."""
        found = await self.lookup(pk, tenant)
        if isinstance(found, StoredResult):
            assert self.objects is not None
            return await self.objects.load(found)
        return found

    async def put(self, pk: str, result: dict[str, Any], meta: dict[str, str]) -> bool | StoredResult:
        """Store ``result`` (``meta`` names its ``tenant``): ``True`` inline, the :class:`StoredResult` if it
        went to S3, ``False`` (nothing written) if too large for an item and there is no bucket to use."""
        blob = encode_result(result)
        now = int(time.time())
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "kind": {"S": "result"},
            "created_at": {"N": str(now)},
            "expires_at": {"N": str(now + self.ttl_s)},
        }
        item.update({name: {"S": value} for name, value in meta.items() if value})
        stored: bool | StoredResult = True
        if len(blob) <= MAX_ITEM_BYTES - ITEM_HEADROOM:
            item["result_z"] = {"B": blob}
        elif self.objects is None:
            return False
        else:
            text = json.dumps(result, separators=(",", ":"), allow_nan=False)
            summary = json.dumps(result.get("summary"), separators=(",", ":"), allow_nan=False)
            stored = await self.objects.put(meta["tenant"], pk.removeprefix(RESULT_PREFIX), text)
            stored = StoredResult(stored.bucket, stored.key, stored.size, result.get("summary"))
            item.update(result_ref={"S": stored.key}, result_bytes={"N": str(stored.size)}, summary={"S": summary})
        await self.dynamodb.put_item(TableName=self.table, Item=item)
        return stored
