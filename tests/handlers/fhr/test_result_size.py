"""A 30-min result, beats included, fits the results cache's DynamoDB item (400 KB) as the cache stores it."""

from __future__ import annotations

import json

from handlers.api.cache import ITEM_HEADROOM, compact_result, encode_result
from handlers.api.dynamo import MAX_ITEM_BYTES
from handlers.fhr import estimate
from handlers.fhr.synth import synthesize


def test_a_thirty_minute_result_with_its_beats_fits_a_cache_item() -> None:
    record, truth = synthesize(30, 4, 1000.0, seed=1)
    result = compact_result(estimate(record))
    beats = result["beats"]
    assert abs(len(beats["fqrs_s"]) - len(truth.fetal_beats)) < 50  # ~4,100 fetal beats served
    assert len(beats["mqrs_s"]) > 2000 and len(result["variability"]["stv_ms"]) == 30
    stored = encode_result(result)
    # measured: ~218 kB of JSON, ~49 kB compressed; the item may hold ~8x that, so records up to
    # about 4 h fit (a longer one is served but not cached: handlers.api.cache)
    assert len(stored) < (MAX_ITEM_BYTES - ITEM_HEADROOM) / 6, len(stored)
    assert json.loads(json.dumps(result)) == result  # plain JSON, no NaN
