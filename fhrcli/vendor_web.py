"""``fhr vendor-web``: fetch the web page's charting library (uPlot) from npm, integrity-checked."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "vendor-web", help="vendor uPlot for the web page (npm, build time only)", description=__doc__
    )
    p.add_argument("--force", action="store_true", help="fetch again even if present")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bundler.webassets import VendorError, vendor_web_assets

    try:
        dest = vendor_web_assets(force=args.force)
    except VendorError as exc:
        print(f"fhr vendor-web: {exc}", file=sys.stderr)
        return 1
    print(f"uPlot vendored in {dest}")
    return 0
