"""``fhr estimate PATH|s3://bucket/key``: run the FHR estimator on one record, print the result, draw the CTG.

Local files go through :func:`handlers.fhr.readers.read_path`; ``s3://`` objects are streamed with
:func:`handlers.storage.s3stream.read_record` through aioboto3 (endpoint from AWS_ENDPOINT_URL_S3,
so the local cloud's moto server works as well as AWS). Bad input exits with status 2 and the
error's machine code, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("estimate", help="estimate FHR/MHR of one record (file or s3://)", description=__doc__)
    p.add_argument("source", help="record path (.hea/.csv/.edf) or s3://bucket/key")
    p.add_argument("--json", action="store_true", help="print the full result JSON")
    p.add_argument("--plot", metavar="PNG", help="write a CTG chart to this PNG file")
    p.add_argument("--options", metavar="JSON", help="estimator options, e.g. '{\"channels\": [0, 2]}'")
    p.add_argument("--out", metavar="FILE", help="also write the result JSON to FILE")
    p.set_defaults(func=run)


def load(source: str) -> tuple[Any, dict[str, float]]:
    """Read a record from a path or s3:// URL; returns it with the timings measured while reading."""
    if source.startswith("s3://"):
        return _load_s3(source)
    from handlers.fhr.readers import read_path

    started = time.perf_counter()
    record = read_path(source)
    return record, {"parse": round((time.perf_counter() - started) * 1000.0, 3)}


def _load_s3(url: str) -> tuple[Any, dict[str, float]]:
    import asyncio
    import os

    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"{url}: expected s3://bucket/key")

    async def fetch() -> tuple[Any, dict[str, float]]:
        import aioboto3

        from handlers.storage.s3stream import read_record

        session = aioboto3.Session()
        async with session.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3")) as s3:
            started = time.perf_counter()
            record, info, timings = await read_record(
                s3, bucket, key, part_size=8 * 1024 * 1024, concurrency=8, max_bytes=512 * 1024 * 1024
            )
        record.meta["etag"] = str(getattr(info, "etag", "") or "").strip('"')
        measured = {k: float(v) for k, v in dict(timings or {}).items() if isinstance(v, int | float)}
        measured.setdefault("download_and_parse", round((time.perf_counter() - started) * 1000.0, 3))
        return record, measured

    return asyncio.run(fetch())


def describe(result: dict[str, Any]) -> str:
    """A few human lines: what was read, the summary, and where the time went."""
    rec, summary = result["record"], result["summary"]
    fhr = [v for v in result["fhr"]["bpm"] if v is not None]
    lines = [
        f"{rec['source']}: {rec['format']}, {len(rec['channels'])} ch, {rec['fs']:g} Hz, {rec['duration_s']:.1f} s",
        f"FHR baseline {summary['baseline_bpm']} bpm ({summary['baseline_class']}, {summary['baseline_method']}), "
        f"variability {summary['variability_bpm']} bpm ({summary['variability_class']})",
        f"FHR range {min(fhr):.0f}-{max(fhr):.0f} bpm" if fhr else "FHR: no signal",
        f"MHR median {summary['mhr_median_bpm']} bpm; signal loss {summary['signal_loss_percent']} %",
        f"accelerations {len(summary['accelerations'])}, decelerations {len(summary['decelerations'])}",
        "timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings_ms"].items()),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from handlers.fhr import estimate
    from handlers.fhr.errors import FhrError

    try:
        options = json.loads(args.options) if args.options else None
        record, timings = load(args.source)
        result = estimate(record, options, timings_ms=timings)
    except json.JSONDecodeError as exc:
        print(f"error: --options is not valid JSON: {exc}", file=sys.stderr)
        return 2
    except FhrError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # storage errors carry a code too (handlers.storage.errors)
        code = getattr(exc, "code", None)
        if code is None:
            raise
        print(f"error [{code}]: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, separators=(",", ":"))
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    print(text if args.json else describe(result))
    if args.plot:
        from fhrcli.ctgplot import plot_ctg

        print(f"CTG chart: {plot_ctg(result, args.plot)}", file=sys.stderr)
    return 0
