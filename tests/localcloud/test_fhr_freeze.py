"""The FHR function under freeze and thaw, in the local cloud (freeze on, as by default).

An analysis that misses its request's deadline is answered 202 and its record queued. If it were kept
running (the old ``_keep_in_background``), the environment would be frozen with it after the answer and
it would go on inside the next callers' invocations, competing with them, and finish there (filling the
cache from someone else's invocation). Here the queue worker is off (``event_sources=False``), so only
such a resumed analysis could produce a result: the test asks again and again and must never get one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
import boto3

from fhrapp.config import load_stack_file
from fhrapp.definition import APP
from localcloud.cloud import LocalCloud, LocalCloudOptions

# The request's budget is min(30 s, the invocation's remaining ~29 s) - 28.8 s = ~0.15 s; the prediction
# always says "fits" (infinite speed, no overhead), so each request starts the analysis and misses.
TIGHT = {"FHR_SAFETY_MARGIN_S": "28.8", "FHR_THROUGHPUT_BYTES_PER_S": "1e12", "FHR_FIXED_OVERHEAD_S": "0"}
ASKS = 8


def tight_app() -> Any:
    functions = tuple(
        dataclasses.replace(fn, extra_env={**fn.extra_env, **TIGHT}) if fn.name == "fhr" else fn for fn in APP.functions
    )
    return dataclasses.replace(APP, functions=functions)


def two_hour_record(tmp_path: Path) -> list[Path]:
    """A generated 2-hour record (one channel, 250 Hz): about 1 s of estimator CPU, more than the budget."""
    from handlers.fhr.synth import synthesize
    from handlers.fhr.writers import write_record

    record, _truth = synthesize(120, 1, 250.0, seed=3)
    return write_record(record, tmp_path / "long.hea", "wfdb")


async def test_an_analysis_answered_202_never_finishes_in_later_invocations(tmp_path: Path) -> None:
    stack = load_stack_file("dev")
    files = two_hour_record(tmp_path)
    async with LocalCloud(stack, tight_app(), LocalCloudOptions(schedules=False, event_sources=False)) as cloud:
        outputs = cloud.outputs()
        s3 = boto3.client("s3", endpoint_url=outputs["aws_endpoint_url"], region_name=stack.region)
        prefix = f"tenants/{stack.auth.open_tenant}/freeze/"
        for path in files:
            await asyncio.to_thread(
                s3.put_object, Bucket=outputs["ecg_bucket"], Key=prefix + path.name, Body=path.read_bytes()
            )
        query = {"filename": f"s3://{outputs['ecg_bucket']}/{prefix}long.hea"}
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(ASKS):
                async with session.get(f"{outputs['api_url'].rstrip('/')}/fhr", params=query) as response:
                    statuses.append(response.status)
                    body = await response.json()
                await asyncio.sleep(0.3)  # frozen in between, as on Lambda
        assert statuses == [202] * ASKS, (statuses, body)
        dynamodb = boto3.client("dynamodb", endpoint_url=outputs["aws_endpoint_url"], region_name=stack.region)
        items = await asyncio.to_thread(dynamodb.scan, TableName=outputs["results_table"])
        kinds = [item["kind"]["S"] for item in items["Items"]]
        assert "result" not in kinds, "an abandoned analysis finished inside a later invocation"
