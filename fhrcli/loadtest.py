"""``fhr loadtest``: drive a stack's API (local or deployed) from its outputs and report what happened."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("loadtest", help="load-test the API of a stack from its outputs", description=__doc__)
    p.add_argument("--outputs", required=True, help="stack outputs JSON (fhr local's file, or - for stdin)")
    p.add_argument("--route", required=True, choices=("fhr", "items", "batch"))
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--keys-file", type=Path, help="S3 keys, one per line")
    keys.add_argument(
        "--prefix", help="use every record key under this prefix of your own tenants/<tenant>/ in the stack's bucket"
    )
    load = p.add_mutually_exclusive_group(required=True)
    load.add_argument("--concurrency", type=int, help="closed loop: this many callers at once")
    load.add_argument("--rate", type=float, help="open loop: this many new requests per second")
    bound = p.add_mutually_exclusive_group(required=True)
    bound.add_argument("--requests", type=int, help="stop after this many requests")
    bound.add_argument("--duration", type=float, help="stop sending after this many seconds")
    p.add_argument("--retries", type=int, default=0, help="retry 429/5xx/timeouts with jittered backoff")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in seconds")
    p.add_argument("--follow-jobs", action="store_true", help="poll 202 jobs until done; done counts as served")
    p.add_argument("--token", help="JWT for stacks whose auth mode is jwt")
    p.add_argument("--json", type=Path, dest="json_out", help="write the JSON report here")
    p.add_argument("--chart", type=Path, help="write a PNG chart here")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.set_defaults(func=run)


def _progress_bar(total: int | None):  # type: ignore[no-untyped-def]
    state = {"last": 0.0}

    def show(done: int, _total: int | None, elapsed: float) -> None:
        if elapsed - state["last"] < 0.1 and done != total:
            return
        state["last"] = elapsed
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            sys.stderr.write(f"\r[{bar}] {done}/{total}  {elapsed:6.1f}s")
        else:
            sys.stderr.write(f"\r{done} done  {elapsed:6.1f}s")
        sys.stderr.flush()

    return show


def run(args: argparse.Namespace) -> int:
    from loadgen.charts import write_html, write_png
    from loadgen.engine import LoadPlan
    from loadgen.outputs import OutputsError, load_outputs
    from loadgen.report import format_text
    from loadgen.targets import TargetsError, build_requests, list_keys, read_keys_file

    try:
        outputs = load_outputs(args.outputs)
        keys = (
            read_keys_file(args.keys_file)
            if args.keys_file
            else (list_keys(outputs, args.prefix, args.token) if args.prefix is not None else None)
        )
        requests = build_requests(args.route, outputs, keys, args.token)
        plan = LoadPlan(
            requests,
            concurrency=args.concurrency,
            rate=args.rate,
            count=args.requests,
            duration_s=args.duration,
            retries=args.retries,
            timeout_s=args.timeout,
            follow_jobs=args.follow_jobs,
        )
    except (OutputsError, TargetsError, ValueError) as exc:
        print(f"fhr loadtest: {exc}", file=sys.stderr)
        return 2
    progress = None if args.no_progress else _progress_bar(args.requests)
    report = asyncio.run(run_plan(plan, args.route, progress))
    if progress is not None:
        sys.stderr.write("\n")
    print(format_text(report))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    if args.chart:
        write_png(report, args.chart)
    if args.html:
        write_html(report, args.html, title=f"fhr loadtest: {args.route}")
    return 0


async def run_plan(plan, route: str, progress=None) -> dict:  # type: ignore[no-untyped-def]
    """Run ``plan`` on a fresh connection pool sized for its concurrency and build the report."""
    import aiohttp

    from loadgen.engine import LoadRunner
    from loadgen.report import build_report

    limit = plan.concurrency or plan.max_in_flight
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        runner = LoadRunner(plan, session, progress)
        samples = await runner.run()
    return build_report(samples, runner.wall_s, plan, route)
