"""``fhr openapi``: write the OpenAPI 3.1 document of a stack's API, for client generators.

The document is the one the stack serves at ``GET /openapi.json`` (built from the app definition's
routes and the handlers' declarations); ``--stack`` picks the auth (prod: JWT bearer with each route's
scopes; dev: open), ``--server`` or ``--outputs`` (its ``api_url``) the server URL. For example::

    fhr openapi --stack prod --outputs outputs.json --out openapi.json
    npx @openapitools/openapi-generator-cli generate -i openapi.json -g python -o client/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("openapi", help="write the API's OpenAPI 3.1 document", description=__doc__)
    p.add_argument("--stack", default="dev", help="the stack whose auth the document declares (default dev)")
    server = p.add_mutually_exclusive_group()
    server.add_argument("--server", help="the API's base URL (servers[0].url)")
    server.add_argument("--outputs", help="stack outputs JSON whose api_url is the server (- for stdin)")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apicontract.document import stack_document
    from fhrapp.config import ConfigError

    server = args.server
    if args.outputs:
        from loadgen.outputs import OutputsError, load_outputs

        try:
            server = load_outputs(args.outputs).api_url
        except OutputsError as exc:
            print(f"fhr openapi: {exc}", file=sys.stderr)
            return 2
    try:
        text = json.dumps(stack_document(args.stack, server=server), indent=2) + "\n"
    except (ConfigError, FileNotFoundError) as exc:
        print(f"fhr openapi: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
