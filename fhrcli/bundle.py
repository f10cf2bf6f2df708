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
    parser.add_argument(
        "--smoke",
        type=Path,
        metavar="PYTHON3.12",
        default=None,
        help="after building, unpack the bundle and import its runtime modules with this CPython 3.12",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bundler.build import DEFAULT_OUT, BundleSources, build_bundle, size_report
    from bundler.errors import BundleError
    from bundler.smoke import smoke_check
    from bundler.webassets import VendorError, vendor_web_assets

    try:
        vendor_web_assets()  # the page's charting library ships inside handlers/web/static/vendor
    except VendorError as exc:
        print(f"fhr bundle: {exc}", file=sys.stderr)
        return 2
    sources = BundleSources() if args.requirements is None else BundleSources(requirements=args.requirements)
    try:
        manifest = build_bundle(args.out or DEFAULT_OUT, sources, with_layer=not args.no_layer)
        print(size_report(manifest))
        if args.smoke is not None:
            versions = smoke_check(manifest, args.smoke)
            print(
                "  smoke check: " + ", ".join(f"{name} {version or ''}".strip() for name, version in versions.items())
            )
    except BundleError as exc:
        print(f"fhr bundle: {exc}", file=sys.stderr)
        return 2
    return 0
