"""The page, timed as a person meets it, against ``fhr local`` in headless Chromium.

Figures: page load (navigation to wired page) against a plain HTTP GET of the same page (baseline);
upload-to-chart for a generated 30-min, 4-channel, 1 kHz record (WFDB, 14.4 MB) against the API's
own ``GET /fhr`` of a fresh copy of that record by a plain client (baseline, no browser, no upload).
Run: ``venv/bin/python -m benchmarks.bench_web``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.common import write_report
from browsercheck.cdp import Chromium
from browsercheck.flows import open_page, upload
from localcloud.launcher import local_cloud

LOADS = 5


def plain_get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def api_fhr_seconds(outputs: dict, files: list[Path]) -> float:
    """Upload a fresh copy with boto3 and time one plain ``GET /fhr`` (computed, not cached)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=outputs["aws_endpoint_url"],
        region_name=outputs["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    from loadgen.targets import caller_prefix

    prefix = caller_prefix(outputs["api_url"])  # the caller's own tenants/<tenant>/
    for path in files:
        s3.upload_file(str(path), outputs["ecg_bucket"], f"{prefix}bench/{path.name}")
    key = next(p.name for p in files if p.suffix == ".hea")
    filename = urllib.parse.quote(f"s3://{outputs['ecg_bucket']}/{prefix}bench/{key}", safe=":/")
    return plain_get(f"{outputs['api_url']}/fhr?filename={filename}")


async def browser_figures(api_url: str, files: list[Path]) -> dict[str, float]:
    async with Chromium() as browser:
        loads = []
        for _ in range(LOADS):
            page = await browser.new_page()
            loads.append(await open_page(page, api_url))
        seconds, outcome = await upload(page, files, timeout=300)
        if outcome["error"]:
            raise RuntimeError(f"upload failed: {outcome['error']}")
    return {"page_load_s": statistics.median(loads), "upload_to_chart_s": seconds}


def main() -> None:
    from handlers.fhr.synth import synthesize
    from handlers.fhr.writers import write_record

    with tempfile.TemporaryDirectory() as tmp:
        record, _ = synthesize(30, 4, 1000.0, seed=11)
        files = sorted(write_record(record, Path(tmp) / "bench30.hea", "wfdb"))
        record_bytes = sum(p.stat().st_size for p in files)
        with local_cloud(Path(tmp)) as outputs:
            api_url = outputs["api_url"].rstrip("/")
            plain_get(api_url + "/")  # the web function's cold start is not the page's load time
            raw = statistics.median(plain_get(api_url + "/") for _ in range(LOADS))
            figures = asyncio.run(browser_figures(api_url, files))
            api = api_fhr_seconds(outputs, files)
    report = {
        "page_load_s": round(figures["page_load_s"], 3),
        "plain_get_page_s": round(raw, 4),
        "page_load_vs_plain_get": round(figures["page_load_s"] / raw, 1),
        "upload_to_chart_30min_s": round(figures["upload_to_chart_s"], 2),
        "api_get_fhr_30min_s": round(api, 2),
        "upload_to_chart_vs_api": round(figures["upload_to_chart_s"] / api, 2),
        "record_bytes": record_bytes,
    }
    write_report("web", report)


if __name__ == "__main__":
    main()
