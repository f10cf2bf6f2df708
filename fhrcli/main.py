"""The ``fhr`` command: one entry point, one module per subcommand.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets ``func``
(a callable taking the parsed namespace and returning an exit code). Modules import their heavy
dependencies inside ``func`` so ``fhr --help`` stays fast. Every parser is a
:class:`fhrcli.helptext.PlainHelpParser`, so a subcommand's docstring (its description) is shown as
plain text, not reStructuredText.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fhrcli.helptext import PlainHelpParser

# Subcommand modules, in the order `fhr --help` lists them. Add a module here to add a subcommand.
SUBCOMMANDS = (
    "fhrcli.bundle",
    "fhrcli.loadtest",
    "fhrcli.powertune",
    "fhrcli.estimate",
    "fhrcli.evaluate",
    "fhrcli.vendor_web",
    "fhrcli.local",
    "fhrcli.demo",
    "fhrcli.synth",
    "fhrcli.openapi",
    "fhrcli.jobs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = PlainHelpParser(prog="fhr", description="Fetal heart rate service tools")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
