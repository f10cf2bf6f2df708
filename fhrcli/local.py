"""``fhr local``: run the whole stack on this machine, from the same app definition and stack file.

Prints the stack outputs (``pulumi stack output --json``'s shape plus ``aws_endpoint_url`` and
``lambda_endpoint_url``) on stdout, and to ``--outputs-file`` if given, once everything answers; runs
until Ctrl-C or SIGTERM, then stops every server and worker process it started and removes the
outputs file (its endpoints are dead from then on). Logs go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhrapp.config import StackConfig
    from fhrapp.definition import AppDefinition
    from localcloud.cloud import LocalCloud

DEFAULT_APP = "fhrapp.definition:APP"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run the stack locally (moto S3/DynamoDB/SQS, Lambda, HTTP API, keep-warm) until Ctrl-C",
        description="Start the embedded local cloud for a stack file and print its outputs as JSON.",
    )
    parser.add_argument("--stack", default="dev", help="stack file Pulumi.<stack>.yaml to run (default: dev)")
    parser.add_argument("--port", type=int, default=3000, help="HTTP API port on 127.0.0.1 (0 = any; default 3000)")
    parser.add_argument("--outputs-file", type=Path, default=None, help="also write the outputs JSON here")
    parser.add_argument("--seed-data", action="store_true", help="upload set-a and a generated 30-min record first")
    parser.add_argument(
        "--worker-cap",
        type=int,
        default=None,
        help="max Lambda workers running at once (idle, frozen environments do not count; default 2 per CPU)",
    )
    parser.add_argument("--app", default=DEFAULT_APP, help=f"app definition as module:attribute ({DEFAULT_APP})")
    parser.add_argument("--no-schedules", action="store_true", help="do not fire the keep-warm schedules")
    parser.add_argument(
        "--idle-timeout",
        type=_seconds_range,
        default=None,
        metavar="S|LOW-HIGH",
        help="reclaim a Lambda environment idle this long, drawn per environment (default 300-900, as AWS)",
    )
    parser.add_argument(
        "--max-lifetime",
        type=_seconds_range,
        default=None,
        metavar="S|LOW-HIGH",
        help="retire a Lambda environment this old, drawn per environment (default 7200-14400)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def _seconds_range(text: str) -> tuple[float, float]:
    from localcloud.lambda_service.lifecycle import parse_range

    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), so READY is measured from the real start."""
    import os

    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_app(spec: str) -> AppDefinition:
    import importlib

    from localcloud.cloud import REPO_ROOT

    module_name, _, attribute = spec.partition(":")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return getattr(importlib.import_module(module_name), attribute or "APP")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from fhrapp.config import ConfigError, load_stack_file

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        stack = load_stack_file(args.stack)
    except ConfigError as exc:
        print(f"fhr local: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve(args, stack, load_app(args.app)))


async def serve(args: argparse.Namespace, stack: StackConfig, app: AppDefinition) -> int:
    import asyncio
    import logging
    import signal

    from fhrapp.config import ConfigError
    from localcloud.cloud import LocalCloud, LocalCloudOptions
    from localcloud.lambda_service.lifecycle import DEFAULT_IDLE_S, DEFAULT_LIFETIME_S, Lifecycle
    from localcloud.outputs import render, write_atomically

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    function_log = logging.getLogger("localcloud.functions")
    options = LocalCloudOptions(
        port=args.port,
        worker_cap=args.worker_cap,
        schedules=not args.no_schedules,
        log_sink=lambda name, line: function_log.info("%s %s", name, line),
        lifecycle=Lifecycle(args.idle_timeout or DEFAULT_IDLE_S, args.max_lifetime or DEFAULT_LIFETIME_S),
    )
    try:
        cloud = LocalCloud(stack, app, options)
    except ConfigError as exc:  # what pulumi up would refuse too (an environment over 4 KB)
        print(f"fhr local: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            outputs = await cloud.start()
        except OSError as exc:  # the API port is taken, most often
            print(f"fhr local: cannot start: {exc} (choose another --port, or 0 for any)", file=sys.stderr)
            return 2
        if args.seed_data:
            await seed_bucket(outputs, cloud.default_tenant)
        if args.outputs_file:
            write_atomically(args.outputs_file, outputs)
        print(render(outputs), flush=True)
        announce(cloud, outputs)
        await stop.wait()
        print("fhr local: stopping", file=sys.stderr, flush=True)
    finally:
        await cloud.stop()
        if args.outputs_file:
            args.outputs_file.unlink(missing_ok=True)
    return 0


async def seed_bucket(outputs: dict[str, Any], tenant: str) -> None:
    import asyncio

    from handlers.api.tenancy import tenant_prefix
    from localcloud.seed import seed

    report = await asyncio.to_thread(seed, outputs, tenant_prefix(tenant))
    print(f"fhr local: {report.summary()}", file=sys.stderr, flush=True)


def fidelity_summary(lambdas: Any) -> str:
    """One line on the AWS behaviours the Lambda service emulates in this run."""
    lifecycle = lambdas.pool.lifecycle
    idle, lifetime = (f"{low:g}-{high:g} s" for low, high in (lifecycle.idle_s, lifecycle.lifetime_s))
    sandbox = "sandboxed (own uid, read-only code, sized TMPDIR)" if lambdas.sandbox.enforced else "NOT sandboxed"
    frozen = "frozen between invocations" if lambdas.freeze else "NOT frozen between invocations"
    return f"Lambda environments: {frozen}, {sandbox}, reclaimed after {idle} idle, retired after {lifetime}"


def announce(cloud: LocalCloud, outputs: dict[str, Any]) -> None:
    age = process_age_s()
    ready = f"{age:.2f} s after process start" if age is not None else f"{cloud.ready_s:.2f} s"
    lines = [f"fhr local: READY in {ready} (stack {outputs['stage']}); Ctrl-C stops everything"]
    if cloud.lambdas is not None:
        lines.append(f"fhr local: {fidelity_summary(cloud.lambdas)} (docs/FIDELITY.md)")
    if cloud.issuer is not None:
        token = cloud.issuer.mint()
        lines += [
            f"fhr local: auth is jwt; the local issuer signs as {cloud.issuer.issuer} (JWKS at "
            f"{outputs['local_issuer_url']}/.well-known/jwks.json)",
            f"fhr local: dev token (12 h, every scope, tenant {cloud.default_tenant}): {token}",
            f'fhr local: new token: curl -s -X POST {outputs["local_issuer_url"]}/token -d \'{{"sub": "me"}}\''
            ' (add "scope": "fhr/read" for fewer scopes)',
        ]
    print("\n".join(lines), file=sys.stderr, flush=True)
