"""A real local Lambda service (in process, on 127.0.0.1) running small CPU-bound handlers for the tuner.

boto3 is synchronous, so tests drive the tuner from a thread (``asyncio.to_thread``) while the
service runs on the test's event loop.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from localcloud.lambda_service import FunctionSpec, LambdaService

HANDLERS = textwrap.dedent(
    """
    import json
    import os
    import time


    def burn(cpu_s):
        started = time.process_time()
        total = 0
        while time.process_time() - started < cpu_s:
            for i in range(2000):
                total += i * i


    def spin(event, context):
        memory = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        print(f"env RESULT_TTL_S={os.environ.get('RESULT_TTL_S')} nonce={os.environ.get('POWERTUNE_NONCE')}")
        if memory == int(event.get("fail_at_mb", -1)):
            raise RuntimeError(f"failing on purpose at {memory} MB")
        burn(float(event.get("cpu_s", 0.05)))
        return {"memory": memory}


    def api(event, context):
        if event.get("version") != "2.0" or event.get("routeKey") != "POST /fhr":
            raise ValueError(f"not an HTTP API event for POST /fhr: {sorted(event)}")
        body = json.loads(event["body"])
        burn(float(body["cpu_s"]))
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
    """
)


@pytest.fixture
def handler_root(tmp_path: Path) -> Path:
    root = tmp_path / "code"
    root.mkdir()
    (root / "tune_handlers.py").write_text(HANDLERS)
    return root


@pytest.fixture
async def service(handler_root: Path) -> AsyncIterator[LambdaService]:
    """``t-spin`` (plain event) and ``t-fhr`` (HTTP API event), both 128 MB / 10 s with one variable."""
    common = {"memory_mb": 128, "timeout_s": 10, "environment": {"A": "1"}, "code_root": handler_root}
    lambdas = LambdaService(
        [
            FunctionSpec(name="t-spin", handler="tune_handlers.spin", **common),
            FunctionSpec(name="t-fhr", handler="tune_handlers.api", **common),
        ],
        memory_enforcement="rss",
        worker_cap=3,
    )
    await lambdas.start()
    yield lambdas
    await lambdas.stop()
