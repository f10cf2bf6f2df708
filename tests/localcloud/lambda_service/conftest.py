"""Fixtures for the local Lambda service tests: fixture handlers and services that always stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud.lambda_service import AWSLAMBDARIC_COMMAND, FunctionSpec, LambdaService

FIXTURES = Path(__file__).resolve().parent / "fixtures_handlers"
StartService = Callable[..., Awaitable[LambdaService]]


def lambda_client(service: LambdaService) -> Any:
    """boto3 as an application builds it; only the endpoint differs. No retries, so an error (a 429 too) stays one."""
    return boto3.client(
        "lambda",
        endpoint_url=service.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


async def call(client: Any, operation: str, **params: Any) -> Any:
    """boto3 is synchronous: run it in a thread so the service keeps serving on this loop."""
    return await asyncio.to_thread(getattr(client, operation), **params)


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie left for init to reap (it runs nothing any more)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


def ric_function(name: str, handler: str, **overrides: Any) -> FunctionSpec:
    """A function run by AWS's own runtime client over the fixture handlers."""
    fields: dict[str, Any] = {"code_root": FIXTURES, "command": AWSLAMBDARIC_COMMAND, "timeout_s": 10}
    return FunctionSpec(name=name, handler=handler, **{**fields, **overrides})


@pytest.fixture
async def start_service() -> AsyncIterator[StartService]:
    """Start a ``LambdaService`` (RSS memory enforcement, as on this machine); all are stopped at the end."""
    services: list[LambdaService] = []

    async def start(functions: list[FunctionSpec], **options: Any) -> LambdaService:
        options.setdefault("memory_enforcement", "rss")
        options.setdefault("worker_cap", 4)
        service = LambdaService(functions, **options)
        services.append(service)
        await service.start()
        return service

    yield start
    for service in services:
        await service.stop()


@pytest.fixture
def ric() -> Callable[..., FunctionSpec]:
    """``ric(name, handler, **overrides)`` -> a FunctionSpec run by awslambdaric (tests cannot import conftest)."""
    return ric_function
