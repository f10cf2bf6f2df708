"""schemathesis drives the target from its own OpenAPI document: no server error, no response off the document.

A bounded, deterministic run per target (``FHR_FUZZ_EXAMPLES`` cases per operation and phase, default 50;
every phase: the document's examples, boundary values, fuzzing, stateful sequences) on the records, job and
item :func:`apicontract.fuzz.prepare` seeds for the caller. ``python -m benchmarks.fuzz_api`` runs a long one.
A deployed stage is fuzzed only when ``FHR_FUZZ_STAGE=1`` says so: the run writes items, jobs and uploads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from apicontract import fuzz

pytestmark = pytest.mark.contract
FUZZ_EXAMPLES = int(os.environ.get("FHR_FUZZ_EXAMPLES", "50"))


def test_schemathesis_finds_no_server_error_and_no_response_off_the_document(target: Any, tmp_path: Path) -> None:
    if not target.local and os.environ.get("FHR_FUZZ_STAGE") != "1":
        pytest.skip("fuzzing writes items, jobs and uploads: set FHR_FUZZ_STAGE=1 to fuzz a deployed stage")

    def http(method: str, path: str, body: Any) -> tuple[int, Any]:
        status, _, answer = target.sync(method, path, json_body=body)
        return status, answer

    data = fuzz.prepare(http, target.outputs["ecg_bucket"], target.put)
    report = fuzz.run(target.api_url, data, tmp_path / "schemathesis", token=target.token, max_examples=FUZZ_EXAMPLES)
    print(f"\n{target.stack.stage}: {report.summary()}\n  {report.command}")
    assert report.generated > 0 and not report.errors, report.summary()
    details = (tmp_path / "schemathesis" / "output.txt").read_text()[-8000:]  # each failure and its curl
    assert (report.server_errors, report.nonconforming) == (0, 0), f"{report.summary()}\n{details}"
