r"""``fhr powertune``: run one function of a stack at several memory sizes and pick the best.

The inputs are AWS Lambda Power Tuning's. ``--function`` is a logical name from the outputs'
``functions`` map; ``--payload`` is the JSON body a client would send (for ``fhr``:
``{"filename": "s3://bucket/key"}``), wrapped as the function's real event (an API Gateway HTTP API
payload-2.0 event for its POST route). The same boto3 calls go to AWS, or to the local Lambda
service when the outputs name a ``lambda_endpoint_url`` (``fhr local --outputs-file``). The
function's original configuration is restored whatever happens.

Example, against the local cloud. The FHR function caches results: the tuned versions get
``RESULT_TTL_S=0`` and options no cached entry has, and no jobs queue so a slow size computes
instead of answering 202 (see powertune/README.md)::

    bucket=$(jq -r .ecg_bucket out/local.json)   # generated per stack, as Pulumi names buckets
    # fhr local --seed-data puts the record under the open tenant's prefix
    echo "{\"filename\": \"s3://$bucket/tenants/open/synth/synth-30min.hea\", \"options\": {\"threads\": 2}}" \
        > body.json
    fhr powertune --outputs out/local.json --function fhr --memory 128,512,1024,1769,3008 --num 7 \
        --payload body.json --set-env RESULT_TTL_S=0 --set-env JOBS_QUEUE_URL= --keep-going \
        --json out/pt.json --chart out/pt.png --html out/pt.html
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "powertune", help="find a function's best memory size (cost, speed, balanced)", description=__doc__
    )
    p.add_argument("--outputs", required=True, help="stack outputs JSON (fhr local's file, or - for stdin)")
    p.add_argument("--function", required=True, help="logical function name (a key of the outputs' functions)")
    p.add_argument("--memory", required=True, type=_memory_list, help="memory sizes in MB, e.g. 128,512,1024")
    p.add_argument("--num", required=True, type=int, help="invocations per memory size")
    p.add_argument("--payload", required=True, type=Path, help="JSON file: the body a client would send")
    p.add_argument("--route", help="route key to wrap the payload for (default: the function's first POST route)")
    p.add_argument("--strategy", choices=("cost", "speed", "balanced"), default="balanced")
    p.add_argument("--balanced-weight", type=float, default=0.5, help="0 = all speed, 1 = all cost")
    p.add_argument("--only-cold-starts", action="store_true", help="a fresh environment for every invocation")
    p.add_argument("--discard-top-bottom", type=float, default=0.2, help="fraction trimmed at each end")
    p.add_argument(
        "--set-env", action="append", default=[], metavar="NAME=VALUE", help="extra variable for the tuned versions"
    )
    p.add_argument("--keep-going", action="store_true", help="report a failing size and tune the others")
    p.add_argument("--json", type=Path, dest="json_out", help="write the JSON report here")
    p.add_argument("--chart", type=Path, help="write a PNG chart here")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    p.set_defaults(func=run)


def _memory_list(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"memory sizes must be integers in MB, got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one memory size")
    return sizes


def _environment(pairs: list[str]) -> dict[str, str]:
    environment = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set-env takes NAME=VALUE, got {pair!r}")
        environment[name] = value
    return environment


def lambda_client(outputs: Any) -> Any:
    """boto3's Lambda client for the stack: the local service's endpoint when the outputs name one.

    No retries (a retried Invoke would run the function twice) and a read timeout above Lambda's 900 s.
    """
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=910, connect_timeout=10, retries={"max_attempts": 1, "mode": "standard"})
    options: dict[str, Any] = {"region_name": outputs.region, "config": config}
    if outputs.lambda_endpoint_url:
        options["endpoint_url"] = outputs.lambda_endpoint_url
        options.update(LOCAL_CREDENTIALS)
    return boto3.client("lambda", **options)


def run(args: argparse.Namespace) -> int:
    from loadgen.outputs import OutputsError, load_outputs
    from powertune.events import NoSuchRoute, function_event
    from powertune.tuner import TuneSpec

    try:
        outputs = load_outputs(args.outputs)
        if args.function not in outputs.functions:
            known = ", ".join(sorted(outputs.functions))
            raise ValueError(f"no function {args.function!r} in the stack outputs (functions: {known})")
        body = json.loads(args.payload.read_text())
        event = function_event(args.function, body, args.route)
        spec = TuneSpec(
            function_name=outputs.functions[args.function],
            memory_sizes=args.memory,
            num=args.num,
            payload=json.dumps(event).encode(),
            strategy=args.strategy,
            balanced_weight=args.balanced_weight,
            only_cold_starts=args.only_cold_starts,
            discard_top_bottom=args.discard_top_bottom,
            environment=_environment(args.set_env),
            keep_going=args.keep_going,
        )
    except (OutputsError, NoSuchRoute, ValueError, OSError) as exc:
        print(f"fhr powertune: {exc}", file=sys.stderr)
        return 2
    return tune(spec, outputs, args)


def tune(spec: Any, outputs: Any, args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from powertune.charts import write_html, write_png
    from powertune.pricing import price_for
    from powertune.tuner import PowerTuner, RestoreError, TuningError, build_report

    client = lambda_client(outputs)
    try:
        configuration = client.get_function_configuration(FunctionName=spec.function_name)
        architecture = (configuration.get("Architectures") or ["x86_64"])[0]
        price = price_for(architecture, outputs.region)
        tuner = PowerTuner(client, spec, price, progress=lambda line: print(line, file=sys.stderr, flush=True))
        results = tuner.run()
    except (TuningError, RestoreError, ClientError, BotoCoreError) as exc:
        print(f"fhr powertune: {exc}", file=sys.stderr)
        return 1
    report = build_report(spec, results, price, outputs.region, architecture)
    print(format_table(report))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    if args.chart:
        write_png(report, args.chart)
    if args.html:
        write_html(report, args.html)
    return 0


def format_table(report: dict[str, Any]) -> str:
    from powertune.tuner import all_cache_hits

    lines = [f"{'memory MB':>10} {'duration ms':>12} {'billed ms':>10} {'cost USD':>12} {'cold':>5}"]
    for row in report["results"]:
        if "error" in row:
            lines.append(f"{row['memory_mb']:>10} failed: {row['error'][:80]}")
            continue
        lines.append(
            f"{row['memory_mb']:>10} {row['duration_ms']:>12.1f} {row['billed_ms']:>10.1f} "
            f"{row['cost_usd']:>12.3e} {row['cold_starts']:>5}"
        )
    odd = {
        row["memory_mb"]: row["http_statuses"]
        for row in report["results"]
        if set(row.get("http_statuses", {})) - {"200"}
    }
    if odd:
        lines.append(f"warning: answers other than HTTP 200 (not the work being tuned?): {odd}")
    if all_cache_hits(report):
        lines.append(
            'warning: every response timed was a cache hit ("cached": true): these durations are a table read, '
            "not the work being tuned; tune with --set-env RESULT_TTL_S=0 and options no cached entry has"
        )
    else:
        hits = {row["memory_mb"]: row["cache_hits"] for row in report["results"] if row.get("cache_hits")}
        if hits:
            lines.append(f"warning: some responses were cache hits (memory MB: hits): {hits}")
    for name, pick in report["best"].items():
        lines.append(
            f"best for {name}: {pick['memory_mb']} MB ({pick['duration_ms']:.1f} ms, {pick['cost_usd']:.3e} USD)"
        )
    return "\n".join(lines)
