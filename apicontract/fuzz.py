"""Property-based fuzzing of a running stack with schemathesis, from the stack's own OpenAPI document.

``schemathesis run <api_url>/openapi.json`` (its CLI, in a subprocess, exactly as a developer would run it)
with the checks the contract promises: ``not_a_server_error`` (no 5xx), ``status_code_conformance``,
``content_type_conformance`` and ``response_schema_conformance`` (every status, content type and body is
one the document declares). All four of its phases run: the document's examples, the coverage phase
(boundary and just-out-of-range values of every parameter and field, deterministic), property-based fuzzing
(valid and invalid data) and stateful sequences along the links it infers.

Random data alone stops at the first check of most routes (a random ``s3://`` name is someone else's or
nobody's), so :func:`prepare` seeds what a caller owns, as a client would: a 15-s synthetic record (known
truth, a cheap analysis) under the caller's prefix, a batch job over it and an item; schemathesis gets them
as dictionaries bound to the ``filename``, job ``id`` and item ``id`` parameters with a probability, so
about half of those values reach the estimator, the job pages and the item table with everything else
fuzzed around them (options, pages, expressions).

The outcome (:class:`FuzzReport`) comes from schemathesis's JSON run report: cases generated, and each
unique failure with its check. CI runs a bounded, deterministic run per local stack
(``tests/contract/test_fuzz.py``); ``python -m benchmarks.fuzz_api`` runs a long one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
SERVER_ERROR_KINDS = frozenset({"ServerError", "ContentTypeServerError"})  # what not_a_server_error reports
PHASES = ("examples", "coverage", "fuzzing", "stateful")
RECORD_STEM = "fuzz"
RECORD_MINUTES = 0.25  # 15 s: over the estimator's 10-s minimum, a fraction of a second to analyse
HttpCall = Callable[[str, str, Any], tuple[int, Any]]  # (method, path, JSON body or None) -> (status, JSON)


@dataclass(frozen=True)
class FuzzData:
    """What the caller owns on the stack, for schemathesis's dictionaries."""

    records: tuple[str, ...]  # s3:// URIs: the seeded record, and one under the prefix that does not exist
    jobs: tuple[str, ...]
    items: tuple[str, ...]


@dataclass(frozen=True)
class Failure:
    """One kind of failure schemathesis found (its run report groups unique failures by kind)."""

    kind: str  # schemathesis's failure class: ServerError, UndefinedStatusCode, JsonSchemaError, ...
    code: str  # its code: ST101 ...
    title: str
    count: int  # unique failures of this kind
    operations: tuple[str, ...]

    @property
    def server_error(self) -> bool:
        return self.kind in SERVER_ERROR_KINDS


@dataclass
class FuzzReport:
    """The outcome of one schemathesis run."""

    generated: int
    failures: list[Failure]
    errors: list[str]
    running_time_s: float
    warnings: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    exit_code: int = 0

    @property
    def server_errors(self) -> int:
        """Unique 5xx responses (the not_a_server_error check)."""
        return sum(f.count for f in self.failures if f.server_error)

    @property
    def nonconforming(self) -> int:
        """Unique responses whose status, content type or body the document does not declare."""
        return sum(f.count for f in self.failures if not f.server_error)

    def summary(self) -> str:
        lines = [
            f"schemathesis: {self.generated} cases generated in {self.running_time_s:.0f} s; "
            f"{self.server_errors} server errors, {self.nonconforming} non-conforming responses, "
            f"{len(self.errors)} errors"
        ]
        lines += [f"  {f.code} {f.title} x{f.count}: {', '.join(f.operations)}" for f in self.failures]
        lines += [f"  error: {e[:300]}" for e in self.errors]
        return "\n".join(lines)


def synthetic_record() -> tuple[bytes, bytes]:
    """The seeded record: 15 s of 4-channel synthetic abdominal ECG as WFDB (``fuzz.hea``, ``fuzz.dat``)."""
    from handlers.fhr.synth import synthesize
    from handlers.fhr.writers import to_wfdb

    record, _truth = synthesize(RECORD_MINUTES, seed=15)
    files = to_wfdb(record, RECORD_STEM)
    return files.header, files.data


def prepare(http: HttpCall, bucket: str, put: Callable[[str, bytes], None]) -> FuzzData:
    """Seed the caller's record, a job over it and an item, through the API and ``put`` (an S3 upload)."""
    status, listing = http("GET", "/recordings?limit=1", None)
    assert status == 200, (status, listing)
    prefix = listing["prefix"]
    header, data = synthetic_record()
    put(f"{prefix}{RECORD_STEM}/{RECORD_STEM}.dat", data)
    put(f"{prefix}{RECORD_STEM}/{RECORD_STEM}.hea", header)
    record = f"s3://{bucket}/{prefix}{RECORD_STEM}/{RECORD_STEM}.hea"
    status, result = http("POST", "/fhr", {"filename": record})
    assert status in (200, 202), (status, result)
    status, job = http("POST", "/fhr/batch", {"filenames": [record]})
    assert status == 202, (status, job)
    item = {"operation": "create", "payload": {"Item": {"id": "fuzz-item", "n": 1}, "overwrite": True}}
    status, created = http("POST", "/DynamoDBManager", item)
    assert status == 201, (status, created)
    missing = f"s3://{bucket}/{prefix}{RECORD_STEM}/missing.hea"
    return FuzzData(records=(record, missing), jobs=(job["jobId"],), items=("fuzz-item",))


def urllib_call(api_url: str, token: str | None) -> HttpCall:
    """An :data:`HttpCall` over ``urllib`` (what the benchmark uses; the contract suite passes its own)."""

    def call(method: str, path: str, body: Any) -> tuple[int, Any]:
        headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(api_url.rstrip("/") + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    return call


def config_toml(data: FuzzData, *, token: str | None, max_examples: int, seed: int | None, workers: int = 1) -> str:
    """schemathesis.toml: checks, generation, the seeded dictionaries and the caller's token."""
    lines = [
        f"workers = {workers}",
        "request-timeout = 60",
        "[generation]",
        f"max-examples = {max_examples}",
        "deterministic = true" if seed is None else "deterministic = false",
        'database = "none"',
        "[checks]",
        "enabled = false",
        *(f"{check}.enabled = true" for check in CHECKS),
    ]
    if seed is not None:
        lines.insert(0, f"seed = {seed}")
    if token:
        lines.insert(0, f'headers = {{ Authorization = "Bearer {token}" }}')
    lines += ["[dictionaries.records]", f"values = {json.dumps(list(data.records))}"]
    lines += ["[dictionaries.jobs]", f"values = {json.dumps(list(data.jobs))}"]
    lines += ["[dictionaries.items]", f"values = {json.dumps(list(data.items))}"]
    lines += ["[parameters]"]
    bindings = {
        "query.filename": "records",
        "body.filename": "records",
        "body.filenames[*]": "records",
        "path.id": "jobs",
        "body.payload.Key.id": "items",
    }
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}' for key, name in bindings.items()]
    return "\n".join(lines) + "\n"


def run(
    api_url: str,
    data: FuzzData,
    workdir: Path,
    *,
    token: str | None = None,
    max_examples: int = 20,
    seed: int | None = None,
    max_time_s: float | None = None,
    phases: tuple[str, ...] = PHASES,
    timeout_s: float = 1800.0,
) -> FuzzReport:
    """Run schemathesis's CLI against ``api_url`` (deterministic unless ``seed``); its report, parsed."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(config_toml(data, token=token, max_examples=max_examples, seed=seed))
    report_path = workdir / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{api_url.rstrip('/')}/openapi.json",
        "--phases",
        ",".join(phases),
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--output-sanitize",
        "false",  # a local run: the reproductions should show the values (and the throwaway local token)
        "--max-failures",
        "50",
        "--continue-on-failure",
    ]
    if max_time_s is not None:
        command += ["--max-time", str(int(max_time_s))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    completed = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    (workdir / "output.txt").write_text(completed.stdout + completed.stderr)
    if not report_path.is_file():
        raise RuntimeError(f"schemathesis wrote no report (exit {completed.returncode}):\n{completed.stdout[-3000:]}")
    report = parse_report(json.loads(report_path.read_text()))
    report.command = " ".join(command)
    report.exit_code = completed.returncode
    return report


def parse_report(raw: Mapping[str, Any]) -> FuzzReport:
    """:class:`FuzzReport` from schemathesis's JSON run report (its text output has each reproduction)."""
    failures = [
        Failure(
            kind=str(f.get("type", "?")),
            code=str(f.get("code", "?")),
            title=str(f.get("title", "")),
            count=int(f.get("count", 1)),
            operations=tuple(f.get("operations", ())),
        )
        for f in raw.get("failures", [])
    ]
    errors = [json.dumps(e) if isinstance(e, dict) else str(e) for e in raw.get("errors", [])]
    return FuzzReport(
        generated=int(raw["test_cases"]["generated"]),
        failures=failures,
        errors=errors,
        running_time_s=float(raw.get("running_time", 0.0)),
        warnings={k: v for k, v in (raw.get("warnings") or {}).items() if v},
    )
