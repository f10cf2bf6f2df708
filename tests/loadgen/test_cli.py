from __future__ import annotations

import json
import re
import subprocess
import sys


async def test_loadtest_command_writes_json_png_and_html(api, tmp_path, write_outputs) -> None:  # type: ignore[no-untyped-def]
    url, script = api
    outputs = tmp_path / "outputs.json"
    write_outputs(outputs, url)
    out_json, png, page = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "r.html"
    argv = [
        sys.executable,
        "-m",
        "fhrcli.main",
        "loadtest",
        "--outputs",
        str(outputs),
        "--route",
        "items",
        "--concurrency",
        "5",
        "--requests",
        "40",
        "--json",
        str(out_json),
        "--chart",
        str(png),
        "--html",
        str(page),
    ]
    import asyncio

    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    report = json.loads(out_json.read_text())
    for key in ("requests", "errors", "throughput_rps", "latency_ms", "cold_starts"):
        assert key in report
    assert report["requests"] == 40 and report["errors"] == {} and script.hits == 40
    assert set(report["latency_ms"]) >= {"p50", "p90", "p95", "p99", "max"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    assert "<svg" in html
    # Self-contained: nothing for the browser to fetch.
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html, re.IGNORECASE)
    assert "<!DOCTYPE svg" not in html
    assert b"throughput" in stdout
    assert b"40/40" in stderr  # the progress bar reached the end


def test_loadtest_rejects_bad_outputs_with_a_clear_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fhrcli.main",
            "loadtest",
            "--outputs",
            str(bad),
            "--route",
            "items",
            "--concurrency",
            "1",
            "--requests",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "not JSON" in proc.stderr and "Traceback" not in proc.stderr
