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
    """A few human lines: what was read, the beats and their variability, the summary with what it
    could not assess, the FIGO class with its reasons, and where the time went."""
    rec, summary = result["record"], result["summary"]
    fhr = [v for v in result["fhr"]["bpm"] if v is not None]
    beats, variability = result.get("beats", {}), result.get("variability", {})
    minute_stv = ", ".join("-" if v is None else f"{v:.1f}" for v in variability.get("stv_ms", []))
    lines = [
        f"{rec['source']}: {rec['format']}, {len(rec['channels'])} ch, {rec['fs']:g} Hz, {rec['duration_s']:.1f} s",
        f"FHR range {min(fhr):.0f}-{max(fhr):.0f} bpm" if fhr else "FHR: no signal",
        f"fetal beats {len(beats.get('fqrs_s', []))} ({beats.get('trusted_rr_percent', 0.0)} % of RR intervals "
        f"trusted); maternal beats {len(beats.get('mqrs_s', []))}",
        f"STV per minute (ms): {minute_stv or '-'}; lost epochs {variability.get('lost_epochs_percent', 100.0)} %",
        f"FHR baseline {_value(summary, 'baseline_bpm', 'bpm')}"
        + (f" ({summary['baseline_class']})" if summary.get("baseline_class") else "")
        + f", variability {_value(summary, 'variability_bpm', 'bpm')}"
        + (f" ({summary['variability_class']})" if summary.get("variability_class") else ""),
        f"accelerations {_count(summary, 'accelerations')}, decelerations {_count(summary, 'decelerations')}, "
        f"sinusoidal {_value(summary, 'sinusoidal')}",
        f"STV {_value(summary, 'stv_ms', 'ms')}"
        + (" (under 3 ms)" if summary.get("stv_warning") else "")
        + f", LTV {_value(summary, 'ltv_ms', 'ms')}, episodes of high variation "
        f"{_count(summary, 'high_variation_episodes')}, of low variation {_count(summary, 'low_variation_episodes')}",
        _figo_line(summary.get("figo") or {}),
        f"MHR median {summary['mhr_median_bpm']} bpm; signal loss {summary['signal_loss_percent']} %",
        "not assessed: " + (", ".join(f"{e['item']} ({e['reason']})" for e in summary.get("not_assessed", [])) or "-"),
        "timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings_ms"].items()),
    ]
    return "\n".join(lines)


def _value(summary: dict[str, Any], item: str, unit: str = "") -> str:
    value = summary.get(item)
    if value is None:
        return "not assessed"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value} {unit}".strip()


def _count(summary: dict[str, Any], item: str) -> str:
    value = summary.get(item)
    return "not assessed" if value is None else str(len(value))


def _figo_line(figo: dict[str, Any]) -> str:
    if figo.get("class"):
        return f"FIGO 2015: {figo['class']} - " + "; ".join(figo.get("reasons", []))
    return f"FIGO 2015: no class ({figo.get('undecided') or 'not assessed'})" + (
        " - " + "; ".join(figo["reasons"]) if figo.get("reasons") else ""
    )


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
