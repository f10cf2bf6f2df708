"""Stack outputs: the JSON shape ``pulumi stack output --json`` prints, which the local cloud prints too.

Clients (the CLI, the contract suite, ``curl`` scripts) read one file whichever stack they target;
the local cloud adds its endpoints (``aws_endpoint_url`` = moto, ``lambda_endpoint_url`` = Invoke API)
and, in JWT mode, ``local_issuer_url`` (see localcloud.jwt).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STACK_OUTPUT_KEYS = ("api_url", "ecg_bucket", "results_table", "items_table", "functions", "region", "stage")
LOCAL_OUTPUT_KEYS = ("aws_endpoint_url", "lambda_endpoint_url")


class OutputsError(ValueError):
    """A stack-outputs file is missing, not JSON, or lacks a key clients need."""


def render(outputs: Mapping[str, Any]) -> str:
    return json.dumps(outputs, indent=2, sort_keys=False)


def write_atomically(path: Path, outputs: Mapping[str, Any]) -> None:
    """Write via a temporary file and rename, so a watcher never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(render(outputs) + "\n")
    os.replace(tmp, path)


def load(path: str | Path) -> dict[str, Any]:
    """Read a stack-outputs file written by ``pulumi stack output --json`` or by ``fhr local``."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise OutputsError(f"{path}: no such stack-outputs file") from None
    return parse(text, str(path))


def parse(text: str, source: str) -> dict[str, Any]:
    """Decode and check stack outputs from ``source`` (a file name, or ``-`` for a pipe)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OutputsError(f"{source}: not JSON ({exc})") from None
    return validate(data, source)


def validate(data: Any, source: str) -> dict[str, Any]:
    """The document as a dict, once it is an object holding every key clients need."""
    if not isinstance(data, dict):
        raise OutputsError(f"{source}: expected a JSON object of stack outputs")
    missing = [key for key in STACK_OUTPUT_KEYS if key not in data]
    if missing:
        raise OutputsError(f"{source}: missing stack outputs {', '.join(missing)}")
    return data
