"""The repo's locustfile, run headless by Locust itself for 5 s against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
LOCUST = Path(sys.executable).with_name("locust")


async def start_api(seen: Counter, bodies: list) -> tuple[web.AppRunner, str]:
    async def fhr(request: web.Request) -> web.Response:
        seen[f"GET {request.query.get('filename')}"] += 1
        seen["fhr"] += 1
        headers = {"x-fhr-cold-start": "true"} if seen["fhr"] == 1 else {}  # the first one only
        return web.json_response({"fhr": {}}, headers=headers)

    async def manager(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        seen["items"] += 1
        return web.json_response({"Items": []})

    async def batch(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        seen["batch"] += 1
        return web.json_response({"jobId": "j"}, status=202)

    app = web.Application()
    app.router.add_get("/fhr", fhr)
    app.router.add_post("/DynamoDBManager", manager)
    app.router.add_post("/fhr/batch", batch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_locustfile_sends_the_seed_requests_built_from_the_outputs(tmp_path: Path) -> None:
    seen: Counter = Counter()
    bodies: list = []
    runner, url = await start_api(seen, bodies)
    try:
        outputs = {
            "api_url": url,
            "ecg_bucket": "ecg",
            "results_table": "r",
            "items_table": "i",
            "functions": {"fhr": "f"},
            "region": "us-east-1",
            "stage": "t",
        }
        (tmp_path / "outputs.json").write_text(json.dumps(outputs))
        env = {**os.environ, "FHR_STACK_OUTPUTS": str(tmp_path / "outputs.json"), "FHR_KEYS": "a01.hea,a02.hea"}
        command = [str(LOCUST), "-f", str(REPO / "locustfile.py"), "--headless", "-u", "4", "-r", "4", "-t", "5s"]
        command += ["--csv", str(tmp_path / "run"), "--only-summary", "--stop-timeout", "2"]
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await runner.cleanup()
    text = output.decode()
    assert process.returncode == 0, text[-2000:]
    assert set(k for k in seen if k.startswith("GET ")) <= {"GET s3://ecg/a01.hea", "GET s3://ecg/a02.hea"}
    assert seen["fhr"] > seen["items"] > 0
    assert {"operation": "list", "payload": {"Limit": 25}} in bodies
    assert "cold starts seen (x-fhr-cold-start: true): 1" in text
    with open(tmp_path / "run_stats.csv", newline="") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert rows["Aggregated"]["Failure Count"] == "0"
    assert 0 < int(rows["GET /fhr"]["Request Count"]) <= seen["fhr"]  # requests cut off at the stop are not counted
