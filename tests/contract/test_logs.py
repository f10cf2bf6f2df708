"""No health data in logs: after a whole contract run, the local cloud's log (its own lines and every
function's structured lines) holds none of the file names the run uploaded, and the API's lines name
the caller's tenant so an on-call engineer can still follow one."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.contract, pytest.mark.last_per_target]


def settled_log(path: Any, quiet_s: float = 0.5, limit_s: float = 10.0) -> str:
    """The log once it stopped growing (function output is pumped into it asynchronously)."""
    deadline, size, since = time.monotonic() + limit_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = path.stat().st_size
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.05)
    return path.read_text(errors="replace")


def structured_lines(log: str) -> list[dict[str, Any]]:
    """The functions' JSON log lines (``localcloud.functions <function> {...}``)."""
    lines = []
    for line in log.splitlines():
        _, marker, rest = line.partition("localcloud.functions ")
        start = rest.find("{")
        if marker and start >= 0:
            try:
                lines.append(json.loads(rest[start:]))
            except ValueError:
                continue
    return lines


def test_no_uploaded_file_name_reaches_any_log(target: Any) -> None:
    if target.log_path is None:
        pytest.skip("a deployed stage's logs are in CloudWatch: search them for your test names there")
    log = settled_log(target.log_path)
    assert target.uploaded_names, "the contract run uploaded nothing to look for"
    leaked = sorted(name for name in target.uploaded_names if name in log)
    assert not leaked, f"uploaded file names in the logs of the {target.stack.stage} run: {leaked}"
    stems = {name.rsplit(".", 1)[0] for name in target.uploaded_names if len(name.rsplit(".", 1)[0]) > 8}
    assert not [stem for stem in stems if stem in log]  # nor without their suffix


def test_every_api_request_line_names_its_tenant(target: Any) -> None:
    if target.log_path is None:
        pytest.skip("a deployed stage's logs are in CloudWatch")
    requests = [line for line in structured_lines(settled_log(target.log_path)) if line.get("route")]
    assert len(requests) >= 10, "the API functions' request lines did not reach the log"
    public = {"GET /"}
    named = [line for line in requests if line["route"] not in public and line.get("status", 500) < 400]
    assert named and all(line.get("tenant") for line in named), [line for line in named if not line.get("tenant")]
