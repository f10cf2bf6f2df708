"""The results cache on its own: key identity, compaction, compression and the 400 KB item limit."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

from handlers.api import clients
from handlers.api.cache import ResultCache, cache_key, compact_result, decode_result, encode_result, options_hash


def thirty_minute_result(seed: int = 3) -> dict[str, Any]:
    """A result shaped like the estimator's for 30 min at 4 Hz: 7,200 points x 4 arrays, a random walk."""
    rng = random.Random(seed)
    bpm, level = [], 140.0
    for _ in range(7200):
        level = min(max(level + rng.gauss(0, 0.8), 90), 190)
        bpm.append(level if rng.random() > 0.02 else math.nan)
    quality = [rng.random() for _ in range(7200)]
    return {
        "fhr": {"fs": 4, "t0": 0.0, "bpm": bpm, "quality": quality},
        "mhr": {"fs": 4, "t0": 0.0, "bpm": [b - 60 if b == b else b for b in bpm], "quality": quality},
        "summary": {"baseline_bpm": 140.123456},
    }


def test_key_depends_on_every_part_of_the_identity() -> None:
    base = ("alice", "ecg", "a01.hea", ("e1", "e2"), options_hash({}))
    keys = {
        cache_key(*base),
        cache_key("bob", *base[1:]),  # another tenant, byte-identical recording: another entry
        cache_key(base[0], "ecg2", *base[2:]),
        cache_key(*base[:2], "a02.hea", *base[3:]),
        cache_key(*base[:3], ("e1", "e3"), base[4]),
        cache_key(*base[:4], options_hash({"refine": False})),
    }
    assert len(keys) == 6 and all(k.startswith("result#") for k in keys)


def test_options_hash_is_canonical() -> None:
    assert options_hash({"a": 1, "b": Decimal("2.5")}) == options_hash({"b": 2.5, "a": 1})
    assert options_hash(None) == options_hash({})


def test_compaction_rounds_traces_and_removes_non_finite_numbers() -> None:
    compact = compact_result({"fhr": {"bpm": [140.04, math.nan], "quality": [0.12345, math.inf]}, "x": 1.23456})
    assert compact == {"fhr": {"bpm": [140.0, None], "quality": [0.123, None]}, "x": 1.23456}


def test_thirty_minute_result_fits_an_item_compressed() -> None:
    result = compact_result(thirty_minute_result())
    blob = encode_result(result)
    assert len(blob) < 100 * 1024  # far inside DynamoDB's 400 KB, leaving room for longer records
    assert decode_result(blob) == result


async def test_oversized_result_is_returned_but_not_stored(fhr_stack: Any, boto: Any, scan: Any) -> None:
    rng = random.Random(1)
    noise = {"fhr": {"bpm": [rng.uniform(0, 1e6) for _ in range(120_000)]}}  # incompressible, > 400 KB zipped
    cache = ResultCache(await clients.client("dynamodb"), fhr_stack.results_table, 3600)
    assert await cache.put("result#big", noise, {"tenant": "alice", "bucket": "b"}) is False
    assert scan(boto, fhr_stack.results_table) == []
    small = compact_result(thirty_minute_result())
    assert await cache.put("result#small", small, {"tenant": "alice", "bucket": "b"}) is True
    assert await cache.get("result#small", "alice") == small
    assert await cache.get("result#big", "alice") is None


async def test_an_entry_is_served_to_its_owner_only(fhr_stack: Any) -> None:
    cache = ResultCache(await clients.client("dynamodb"), fhr_stack.results_table, 3600)
    assert await cache.put("result#owned", {"fhr": {"bpm": [140.0]}}, {"tenant": "alice"}) is True
    assert await cache.get("result#owned", "alice") == {"fhr": {"bpm": [140.0]}}
    assert await cache.get("result#owned", "bob") is None  # even handed the key, another tenant misses


async def test_expired_entry_is_a_miss_before_ttl_sweeps_it(fhr_stack: Any, boto: Any) -> None:
    cache = ResultCache(await clients.client("dynamodb"), fhr_stack.results_table, -1)
    assert await cache.put("result#old", {"fhr": {}}, {"tenant": "alice"}) is True
    assert len(boto("dynamodb").scan(TableName=fhr_stack.results_table)["Items"]) == 1
    assert await cache.get("result#old", "alice") is None
