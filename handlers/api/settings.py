"""The FHR functions' configuration, read from the environment the app definition sets.

Read per invocation (a dozen ``os.environ`` lookups cost microseconds), so a configuration change
through ``UpdateFunctionConfiguration`` or a test's ``monkeypatch`` needs no restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.api.http import InternalError

# API Gateway HTTP APIs cut an integration off at 30 s; the function timeout (29 s) sits inside it.
API_LIMIT_S = 30.0
# 30-min, 4-channel, 1 kHz records: WFDB 14.4 MB, text CSV ~67 MB; beyond 512 MB we refuse (413).
DEFAULT_MAX_RECORD_BYTES = 512 * 1024 * 1024
# Bytes of object per second of wall time for a cache miss (HEAD, read, parse, estimate, put).
# benchmarks/bench_api_cache.py measured 24 MB/s (WFDB) and 68 MB/s (PhysioNet CSV) for 30-min
# records on a shared 2-core machine; 5 MB/s leaves ~5x for a 1-vCPU function and a loaded host, and
# the deadline is enforced during the computation anyway. Override with FHR_THROUGHPUT_BYTES_PER_S.
DEFAULT_THROUGHPUT_BYTES_PER_S = 5_000_000.0
DEFAULT_RESULT_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Settings:
    ecg_bucket: str
    results_table: str
    jobs_queue_url: str
    result_ttl_s: int = DEFAULT_RESULT_TTL_S
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    throughput_bytes_per_s: float = DEFAULT_THROUGHPUT_BYTES_PER_S
    fixed_overhead_s: float = 1.0
    safety_margin_s: float = 3.0
    part_size: int = 8 * 1024 * 1024
    read_concurrency: int = 8
    max_receives: int = 5
    backoff_base_s: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        bucket = env.get("ECG_BUCKET", "")
        table = env.get("RESULTS_TABLE", "")
        if not bucket or not table:
            raise InternalError("the function is not configured with ECG_BUCKET and RESULTS_TABLE")
        return cls(
            ecg_bucket=bucket,
            results_table=table,
            jobs_queue_url=env.get("JOBS_QUEUE_URL", ""),
            result_ttl_s=_int(env, "RESULT_TTL_S", DEFAULT_RESULT_TTL_S),
            max_record_bytes=_int(env, "MAX_RECORD_BYTES", DEFAULT_MAX_RECORD_BYTES),
            throughput_bytes_per_s=_float(env, "FHR_THROUGHPUT_BYTES_PER_S", DEFAULT_THROUGHPUT_BYTES_PER_S),
            fixed_overhead_s=_float(env, "FHR_FIXED_OVERHEAD_S", 1.0),
            safety_margin_s=_float(env, "FHR_SAFETY_MARGIN_S", 3.0),
            part_size=_int(env, "S3_PART_SIZE", 8 * 1024 * 1024),
            read_concurrency=_int(env, "S3_READ_CONCURRENCY", 8),
            max_receives=_int(env, "JOBS_MAX_RECEIVES", 5),
            backoff_base_s=_int(env, "JOBS_BACKOFF_BASE_S", 10),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise InternalError(f"environment variable {name} is not an integer") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise InternalError(f"environment variable {name} is not a number") from None
