"""The long fuzzing run: schemathesis against the local cloud of each stack, far past what CI affords.

Run: ``venv/bin/python -m benchmarks.fuzz_api [--stacks dev,prod] [--max-examples 300] [--seed 15]
[--max-time 900]`` (or ``make fuzz``). For each stack it starts ``fhr local``, seeds what a caller owns
(:func:`apicontract.fuzz.prepare`), runs schemathesis with every phase and the contract's checks
(server errors, status codes, content types, response schemas) and writes
``out/bench/fuzz_api.json``: cases generated, server errors, non-conforming responses and each failure
kind, per stack; the full schemathesis output (each failure with its curl) is in ``out/fuzz/<stack>/``.
Without ``--seed`` the run is deterministic (as in CI, with more examples); with one, hypothesis explores
differently per seed. Exits 1 when a run found anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import write_report

OUT = Path(__file__).resolve().parent.parent / "out" / "fuzz"


def fuzz_stack(stack: str, max_examples: int, seed: int | None, max_time_s: float | None) -> dict[str, object]:
    """One stack's run; a local cloud slow to stop afterwards is noted, not allowed to lose the figures."""
    import subprocess

    figures: dict[str, object] = {}
    try:
        _fuzz_stack(stack, max_examples, seed, max_time_s, figures)
    except subprocess.TimeoutExpired as exc:
        if not figures:
            raise
        figures["note"] = f"the local cloud did not stop within {exc.timeout:g} s of SIGTERM after the run (killed)"
    return figures


def _fuzz_stack(
    stack: str, max_examples: int, seed: int | None, max_time_s: float | None, figures: dict[str, object]
) -> None:
    import boto3

    from apicontract import fuzz
    from localcloud.launcher import local_cloud

    workdir = OUT / stack
    workdir.mkdir(parents=True, exist_ok=True)
    with local_cloud(workdir, stack) as outputs:
        token = None
        if "local_issuer_url" in outputs:  # a jwt stack: the local issuer's token, every scope of the API
            token = fuzz.urllib_call(outputs["local_issuer_url"], None)("POST", "/token", {})[1]["token"]
        s3 = boto3.client(
            "s3",
            endpoint_url=outputs["aws_endpoint_url"],
            region_name=outputs["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        http = fuzz.urllib_call(outputs["api_url"], token)
        data = fuzz.prepare(
            http,
            outputs["ecg_bucket"],
            lambda key, body: s3.put_object(Bucket=outputs["ecg_bucket"], Key=key, Body=body),
        )
        started = time.perf_counter()
        report = fuzz.run(
            outputs["api_url"],
            data,
            workdir / "schemathesis",
            token=token,
            max_examples=max_examples,
            seed=seed,
            max_time_s=max_time_s,
            timeout_s=(max_time_s or 3600) + 600,
        )
        print(f"{stack}: {report.summary()}", flush=True)
        figures |= {
            "cases_generated": report.generated,
            "server_errors": report.server_errors,
            "nonconforming_responses": report.nonconforming,
            "errors": report.errors,
            "failures": [f"{f.code} {f.title} x{f.count}: {', '.join(f.operations)}" for f in report.failures],
            "warnings": sorted(report.warnings),
            "schemathesis_s": round(report.running_time_s, 1),
            "wall_s": round(time.perf_counter() - started, 1),
            "command": report.command,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="dev,prod")
    parser.add_argument("--max-examples", type=int, default=300, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, help="hypothesis seed (default: deterministic)")
    parser.add_argument("--max-time", type=float, help="seconds per stack; fuzzing repeats until spent")
    args = parser.parse_args(argv)
    figures = {
        "max_examples": args.max_examples,
        "seed": args.seed,
        "stacks": {
            stack: fuzz_stack(stack, args.max_examples, args.seed, args.max_time) for stack in args.stacks.split(",")
        },
    }
    write_report("fuzz_api", figures)
    found = any(s["server_errors"] or s["nonconforming_responses"] or s["errors"] for s in figures["stacks"].values())
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
