"""``fhr bundle``: build the Lambda code zip and dependency layer, print their size report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bundle",
        help="build dist/lambda/{code,layer}.zip and manifest.json for `pulumi up`",
        description="Build the deterministic Lambda bundle and report its unzipped size "
        "(fails if code + layer exceed Lambda's 250 MB unzipped limit).",
    )
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: dist/lambda)")
    parser.add_argument("--no-layer", action="store_true", help="rebuild the code zip only; keep the existing layer")
    parser.add_argument("--requirements", type=Path, default=None, help="layer requirements (default: bundler's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bundler.build import DEFAULT_OUT, BundleSources, build_bundle, size_report
    from bundler.errors import BundleError

    sources = BundleSources() if args.requirements is None else BundleSources(requirements=args.requirements)
    try:
        manifest = build_bundle(args.out or DEFAULT_OUT, sources, with_layer=not args.no_layer)
    except BundleError as exc:
        print(f"fhr bundle: {exc}", file=sys.stderr)
        return 2
    print(size_report(manifest))
    return 0
