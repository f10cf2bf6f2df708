"""Fixtures for the local Lambda service tests: fixture handlers and services that always stop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from localcloud.lambda_service import AWSLAMBDARIC_COMMAND, FunctionSpec, LambdaService

FIXTURES = Path(__file__).resolve().parent / "fixtures_handlers"
StartService = Callable[..., Awaitable[LambdaService]]


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
