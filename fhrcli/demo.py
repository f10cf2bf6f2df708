"""``fhr demo`` (what ``make demo`` runs): the whole service end to end on this machine, as a client uses it.

Starts the local cloud in-process, asks the API where the caller's recordings belong (``GET /recordings``
answers its ``prefix``, ``tenants/<tenant>/``), uploads a set-a record there with boto3, calls
``GET {api_url}/fhr?filename=s3://{ecg_bucket}/<prefix><record>.hea`` over plain HTTP twice (a cold then
a warm call), prints the FHR summary, writes the CTG chart and stops the cloud.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path("out/demo-ctg.png")


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="start the local cloud, upload a record, GET /fhr as a client, print the summary, chart it, stop",
        description="End-to-end demo against the embedded local cloud (no AWS account, no Docker).",
    )
    parser.add_argument("--record", default="a01", help="set-a record to upload (default: a01)")
    parser.add_argument(
        "--warm-record", default="a02", help="second record, timed warm and uncached (default a02; '' to skip)"
    )
    parser.add_argument("--stack", default="dev", help="stack file to run (default: dev)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"CTG chart path (default: {DEFAULT_OUT})")
    parser.add_argument("--data-dir", type=Path, default=None, help="set-a directory (default: ../shared/data/...)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    try:
        return asyncio.run(demo(args))
    except DemoError as exc:
        print(f"fhr demo: {exc}", file=sys.stderr)
        return 1


async def demo(args: argparse.Namespace) -> int:
    import asyncio

    from fhrapp.config import load_stack_file
    from localcloud.cloud import LocalCloud, LocalCloudOptions

    stack = load_stack_file(args.stack)
    if stack.auth.mode != "open":
        raise DemoError(f"the demo calls the API without a token; use an open stack, not {args.stack!r}")
    async with LocalCloud(stack, options=LocalCloudOptions(port=0)) as cloud:
        outputs = cloud.outputs()
        print(f"local cloud ready in {cloud.ready_s:.2f} s: {outputs['api_url']}")
        prefix = await asyncio.to_thread(caller_prefix, outputs["api_url"])
        key = await asyncio.to_thread(upload_record, outputs, prefix, args.record, args.data_dir)
        result = await timed_calls(outputs, prefix, key, args)
        print_summary(result)
        write_chart(result, args.out)
    return 0


async def timed_calls(outputs: dict[str, Any], prefix: str, key: str, args: argparse.Namespace) -> dict[str, Any]:
    """The record cold, a second record warm (computed, not cached), then the record again (cached)."""
    import asyncio

    uri = f"s3://{outputs['ecg_bucket']}/{key}"
    result, cold_s = await asyncio.to_thread(get_fhr, outputs["api_url"], uri)
    print(f"GET /fhr?filename={uri}: {cold_s * 1000:.0f} ms (cold start{', cached' if result.get('cached') else ''})")
    if args.warm_record:
        other = await asyncio.to_thread(upload_record, outputs, prefix, args.warm_record, args.data_dir)
        warm, warm_s = await asyncio.to_thread(get_fhr, outputs["api_url"], f"s3://{outputs['ecg_bucket']}/{other}")
        print(f"GET /fhr {other}: {warm_s * 1000:.0f} ms (warm{', cached' if warm.get('cached') else ', computed'})")
    again, cached_s = await asyncio.to_thread(get_fhr, outputs["api_url"], uri)
    print(f"GET /fhr {key} again: {cached_s * 1000:.0f} ms (warm{', cached' if again.get('cached') else ''})")
    return result


def caller_prefix(api_url: str) -> str:
    from loadgen.targets import TargetsError
    from loadgen.targets import caller_prefix as ask

    try:
        return ask(api_url)
    except TargetsError as exc:
        raise DemoError(str(exc)) from None


def upload_record(outputs: dict[str, Any], prefix: str, record: str, data_dir: Path | None) -> str:
    """Upload ``<record>.hea`` and ``.dat`` under the caller's ``prefix`` like a client would; returns
    the ``.hea`` key."""
    from localcloud.seed import SET_A_DIR, s3_client

    directory = data_dir or SET_A_DIR
    paths = [directory / f"{record}{suffix}" for suffix in (".hea", ".dat")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DemoError(f"record files not found: {', '.join(missing)} (set-a lives in ../shared/data)")
    client = s3_client(outputs)
    for path in paths:
        client.put_object(Bucket=outputs["ecg_bucket"], Key=prefix + path.name, Body=path.read_bytes())
    print(f"uploaded {record}.hea + {record}.dat to s3://{outputs['ecg_bucket']}/{prefix}")
    return prefix + paths[0].name


def get_fhr(api_url: str, uri: str) -> tuple[dict[str, Any], float]:
    """``GET /fhr?filename=...`` with the standard library, as any HTTP client would."""
    url = f"{api_url}/fhr?{urllib.parse.urlencode({'filename': uri})}"
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise DemoError(f"GET /fhr answered {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise DemoError(f"GET /fhr failed: {exc.reason}") from None
    elapsed = time.perf_counter() - started
    try:
        return json.loads(body), elapsed
    except ValueError:
        raise DemoError(f"GET /fhr answered non-JSON: {body[:200]!r}") from None


def print_summary(result: dict[str, Any]) -> None:
    record = result.get("record", {})
    print(f"record: {record.get('source', '?')} ({record.get('format', '?')}, {record.get('duration_s', '?')} s)")
    for name, value in (result.get("summary") or {}).items():
        print(f"  {name}: {value}")


def write_chart(result: dict[str, Any], out: Path) -> None:
    try:
        from fhrcli import ctgplot  # type: ignore[attr-defined]
    except ImportError:
        print("CTG chart skipped: fhrcli/ctgplot.py is not in this checkout yet")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    ctgplot.plot_ctg(result, out)
    print(f"CTG chart written to {out}")
