"""Fixtures for the runtime tests: a real Runtime API server and real runtime processes.

Each test starts our runtime (``python -m handlers.runtime``) or AWS's awslambdaric as a subprocess
with the standard Lambda environment, pointed at a Runtime API server on 127.0.0.1, and drives it with
events. The server is the local Lambda service's ``RuntimeApiServer`` (``peer``); ``raw_peer`` is a
minimal independent server in this directory that also records the raw request headers runtimes send.
The handler modules live in ``task_root/`` (the ``LAMBDA_TASK_ROOT``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
TASK_ROOT = HERE / "task_root"
REPO_ROOT = HERE.parents[2]


def _load_peer_module() -> Any:
    spec = importlib.util.spec_from_file_location("runtime_api_peer", HERE / "runtime_api_peer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["runtime_api_peer"] = module
    spec.loader.exec_module(module)
    return module


PEER = _load_peer_module()
Outcome = PEER.Outcome
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:peer-fn"


class LocalServicePeer:
    """The local Lambda service's Runtime API server, seen through the small vocabulary the tests use."""

    def __init__(self) -> None:
        from localcloud.lambda_service import RuntimeApiServer

        self.server = RuntimeApiServer(function_arn=FUNCTION_ARN)
        self.address = ""

    async def start(self) -> str:
        await self.server.start()
        self.address = self.server.address
        return self.address

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def next_calls(self) -> int:
        return self.server.polls

    def fail_next(self, status: int) -> None:
        self.server.fail_next("next", status, times=1000)

    async def invoke(self, event: bytes | object, headers: dict[str, str] | None = None, timeout: float = 20.0) -> Any:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = headers or {}
        outcome = await asyncio.wait_for(
            self.server.invoke(
                body,
                timeout_s=30,
                client_context=headers.get("Lambda-Runtime-Client-Context"),
                cognito_identity=headers.get("Lambda-Runtime-Cognito-Identity"),
                trace_id=headers.get("Lambda-Runtime-Trace-Id"),
            ),
            timeout,
        )
        return Outcome("error" if outcome.is_error else "response", outcome.payload, None, outcome.error_type)

    async def init_failure(self, timeout: float = 15.0) -> Any:
        failure = await asyncio.wait_for(self.server.init_error, timeout)
        return Outcome("init_error", failure.payload, None, failure.error_type)


def lambda_environment(api_address: str, handler: str, **extra: str) -> dict[str, str]:
    """The environment Lambda gives a runtime process (plus moto-only credentials from the root conftest)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "_HANDLER", "_X_AMZN", "AWS_ENDPOINT"))
    }
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(TASK_ROOT),
            "PYTHONPATH": os.pathsep.join([str(TASK_ROOT), str(REPO_ROOT)]),
            "AWS_LAMBDA_FUNCTION_NAME": "peer-fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/peer-fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]0123456789abcdef",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": "eu-west-1",
        }
    )
    env.update(extra)
    return env


class RuntimeProcess:
    """A runtime subprocess; ``finish()`` stops it if needed and returns (exit code, stdout lines)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def wait(self, timeout: float = 15.0) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def output(self) -> list[str]:
        assert self.proc.stdout is not None
        data = await self.proc.stdout.read()
        return data.decode(errors="replace").splitlines()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


Launcher = Callable[..., Awaitable[RuntimeProcess]]


@pytest.fixture
def lambda_env() -> Callable[..., dict[str, str]]:
    return lambda_environment


@pytest.fixture
async def peer() -> AsyncIterator[LocalServicePeer]:
    """The local Lambda service's Runtime API server on 127.0.0.1."""
    server = LocalServicePeer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def raw_peer() -> AsyncIterator[Any]:
    """The minimal independent Runtime API server of this directory (records raw headers)."""
    server = PEER.RuntimeApiPeer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def launch() -> AsyncIterator[Launcher]:
    """Start ``ours`` (python -m handlers.runtime) or ``awslambdaric`` for a handler against an API address."""
    started: list[RuntimeProcess] = []

    async def start(api_address: str, handler: str, runtime: str = "ours", **extra_env: str) -> RuntimeProcess:
        module = ["handlers.runtime"] if runtime == "ours" else ["awslambdaric", handler]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *module,
            env=lambda_environment(api_address, handler, **extra_env),
            cwd=str(REPO_ROOT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        process = RuntimeProcess(proc)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            await process.stop()
