"""Results of any size through the local cloud, which refuses a response over 6 MB as Lambda does (502).

Ten files of a generated 2-hour record (one channel, 250 Hz: ~0.86 MB of result JSON each) make a
``results=full`` page of ~8.7 MB: before pages were cut by bytes, that page was a 502. Now each page stays
under 5 MB, ``nextOffset`` goes on where it stopped, and every served result is the estimator's own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import boto3

from fhrapp.config import load_stack_file
from fhrapp.definition import APP
from localcloud.cloud import LocalCloud, LocalCloudOptions

FILES = 10


def expected_result(path: Path) -> dict[str, Any]:
    """What the estimator gives for the record, compacted as served (timings aside)."""
    from handlers.api.cache import compact_result
    from handlers.fhr import estimate
    from handlers.fhr.readers import read_path

    return compact_result(estimate(read_path(path), {}))


async def test_a_page_of_ten_two_hour_results_is_cut_under_the_response_limit(tmp_path: Path) -> None:
    from handlers.fhr.synth import synthesize
    from handlers.fhr.writers import write_record

    record, _truth = synthesize(120, 1, 250.0, seed=5)
    files = write_record(record, tmp_path / "twohours.hea", "wfdb")
    expected = await asyncio.to_thread(expected_result, tmp_path / "twohours.hea")
    stack = load_stack_file("dev")
    async with LocalCloud(stack, APP, LocalCloudOptions(schedules=False)) as cloud:
        outputs = cloud.outputs()
        api = outputs["api_url"].rstrip("/")
        s3 = boto3.client("s3", endpoint_url=outputs["aws_endpoint_url"], region_name=stack.region)
        prefix = f"tenants/{stack.auth.open_tenant}/pages/"
        for path in files:
            body = path.read_bytes()
            await asyncio.to_thread(s3.put_object, Bucket=outputs["ecg_bucket"], Key=prefix + path.name, Body=body)
        uri = f"s3://{outputs['ecg_bucket']}/{prefix}twohours.hea"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{api}/fhr/batch", json={"filenames": [uri] * FILES}) as response:
                assert response.status == 202
                job_id = (await response.json())["jobId"]
            for _ in range(240):
                async with session.get(f"{api}/fhr/jobs/{job_id}") as response:
                    if (await response.json())["status"] != "pending":
                        break
                await asyncio.sleep(0.5)
            pages, served, offset = [], [], 0
            while offset is not None:
                query = {"results": "full", "limit": "10", "offset": str(offset)}
                async with session.get(f"{api}/fhr/jobs/{job_id}", params=query) as response:
                    text = await response.text()
                    assert response.status == 200, (response.status, text[:200])
                page = json.loads(text)
                pages.append((offset, len(page["files"]), len(text)))
                served += [f["result"] for f in page["files"]]
                offset = page["nextOffset"]
    assert sum(count for _, count, _ in pages) == FILES and len(pages) >= 2, pages
    assert all(size < 5 * 1024 * 1024 for _, _, size in pages), pages
    for result in served:
        assert comparable(result) == comparable(expected)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without what depends on where and how it was read and how fast it ran."""
    record = {k: result["record"][k] for k in ("format", "channels", "fs", "duration_s")}
    return {**{k: v for k, v in result.items() if k != "timings_ms"}, "record": record}
