"""Stack outputs as typed values for the client tools (``fhr loadtest``, ``fhr powertune``, Locust).

The file format and its checks are :mod:`localcloud.outputs`'s (the shape ``pulumi stack output
--json`` prints and ``fhr local`` writes); this module only gives the validated document types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.outputs import STACK_OUTPUT_KEYS, OutputsError, parse, validate

__all__ = ["OutputsError", "StackOutputs", "load_outputs", "parse_outputs"]


@dataclass(frozen=True)
class StackOutputs:
    api_url: str
    ecg_bucket: str
    results_table: str
    items_table: str
    functions: dict[str, str]
    region: str
    stage: str
    aws_endpoint_url: str | None = None
    lambda_endpoint_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.aws_endpoint_url is not None


def parse_outputs(document: Any, source: str = "outputs") -> StackOutputs:
    """Validate a decoded outputs document; unknown keys are kept in ``extra`` for forward compatibility."""
    document = validate(document, source)
    functions = document["functions"]
    if not isinstance(functions, dict) or not all(isinstance(v, str) for v in functions.values()):
        raise OutputsError(f"{source}: 'functions' must map logical names to deployed names")
    known = set(STACK_OUTPUT_KEYS) | {"aws_endpoint_url", "lambda_endpoint_url"}
    return StackOutputs(
        api_url=str(document["api_url"]).rstrip("/"),
        ecg_bucket=str(document["ecg_bucket"]),
        results_table=str(document["results_table"]),
        items_table=str(document["items_table"]),
        functions=dict(functions),
        region=str(document["region"]),
        stage=str(document["stage"]),
        aws_endpoint_url=document.get("aws_endpoint_url"),
        lambda_endpoint_url=document.get("lambda_endpoint_url"),
        extra={k: v for k, v in document.items() if k not in known},
    )


def load_outputs(path: str | Path) -> StackOutputs:
    """Read an outputs file; ``-`` reads standard input (``pulumi stack output --json | fhr …``)."""
    import sys

    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
    except OSError as exc:
        raise OutputsError(f"cannot read stack outputs from {path}: {exc.strerror}") from exc
    return parse_outputs(parse(text, str(path)), str(path))
