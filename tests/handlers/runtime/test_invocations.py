"""Our runtime as a real subprocess against a real Runtime API server: the happy paths and the context."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest


async def test_async_handler_is_awaited_and_init_hook_runs_once(peer, launch):
    await launch(peer.address, "rt_handlers.async_echo")
    answers = [(await peer.invoke({"n": n})).json() for n in range(3)]
    assert answers == [{"event": {"n": n}, "kind": "async", "initCalls": 1} for n in range(3)]


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
async def test_sync_handler_gives_the_same_answer_from_both_runtimes(peer, launch, runtime):
    await launch(peer.address, "rt_handlers.sync_echo", runtime=runtime)
    outcome = await peer.invoke({"name": "fhr", "values": [1, 2.5, None, "é"]})
    assert outcome.kind == "response"
    assert outcome.json() == {"event": {"name": "fhr", "values": [1, 2.5, None, "é"]}, "kind": "sync"}


async def test_context_mirrors_the_invocation_headers_and_environment(peer, launch):
    await launch(peer.address, "rt_handlers.context_fields")
    headers = {
        "Lambda-Runtime-Client-Context": json.dumps({"custom": {"tenant": "ward-7"}, "env": {}, "client": {}}),
        "Lambda-Runtime-Cognito-Identity": json.dumps({"cognitoIdentityId": "eu-west-1:abc"}),
        "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    }
    first = (await peer.invoke({}, headers)).json()
    assert first["function_name"] == "peer-fn"
    assert first["function_version"] == "$LATEST"
    assert first["memory_limit_in_mb"] == 512 and first["memory_is_int"]
    assert first["log_group_name"] == "/aws/lambda/peer-fn"
    assert first["log_stream_name"] == "2026/11/25/[$LATEST]0123456789abcdef"
    assert first["invoked_function_arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:peer-fn"
    assert first["client_custom"] == {"tenant": "ward-7"}
    assert first["cognito_identity_id"] == "eu-west-1:abc"
    assert first["trace_id"] == headers["Lambda-Runtime-Trace-Id"]
    assert 20_000 < first["remaining_ms"] <= 30_000  # the peer gives a 30 s deadline
    assert first["has_log"]
    second = (await peer.invoke({})).json()
    assert second["aws_request_id"] != first["aws_request_id"]
    assert second["client_custom"] is None and second["cognito_identity_id"] is None
    assert second["trace_id"] != first["trace_id"]  # set per invocation from the header, not left over


async def test_dynamodb_decimals_dates_and_bytes_are_serialised(peer, launch):
    await launch(peer.address, "rt_handlers.dynamo_item")
    answer = (await peer.invoke({})).json()
    assert answer == {
        "count": 3,
        "ratio": 0.25,
        "nested": [-12, {"x": 15}],
        "when": "2026-11-25T12:30:00+00:00",
        "day": "2026-11-25",
        "blob": "AAH/",
        "tags": ["a"],
    }
    assert isinstance(answer["count"], int) and isinstance(answer["nested"][1]["x"], int)


@pytest.mark.parametrize("runtime", ["ours", "awslambdaric"])
async def test_decimal_values_match_awslambdaric(peer, launch, runtime):
    await launch(peer.address, "rt_handlers.sync_decimal", runtime=runtime)
    assert (await peer.invoke({})).json() == {"count": 3, "ratio": 0.25}


async def test_exec_wrapper_ignores_its_arguments_and_runs_our_runtime(peer, lambda_env, repo_root):
    wrapper = repo_root / "handlers" / "runtime" / "exec_wrapper.sh"
    env = lambda_env(peer.address, "rt_handlers.python_path")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = await asyncio.create_subprocess_exec(
        str(wrapper), "/var/runtime/bootstrap", "--not-ours", env=env, cwd=str(repo_root)
    )
    try:
        answer = (await peer.invoke({})).json()
    finally:
        proc.kill()
        await proc.wait()
    assert answer.startswith("/var/task:/opt/python:")
    assert answer.endswith(env["PYTHONPATH"])
