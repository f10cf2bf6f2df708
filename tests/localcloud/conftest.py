"""Local clouds for the tests: the echo app (tests/localcloud/echo_app.py) on variants of the dev stack.

The echo app is loaded the way ``fhr local --app`` loads one, and its handler runs in real worker
processes of the local Lambda service through our runtime.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio

from fhrapp.config import FunctionConfig, KeepWarmConfig, StackConfig, load_stack_file
from localcloud.cloud import LocalCloud, LocalCloudOptions
from localcloud.jwt import JwtAuthorizer, LocalIssuer

ECHO_APP_SPEC = "tests.localcloud.echo_app:APP"
CloudFactory = Callable[..., AbstractAsyncContextManager[LocalCloud]]


ISSUER = "https://auth.example.org/"  # the JWT tests' issuer (test_jwt.py, test_jwt_mutants.py)


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer(ISSUER, ["fhr-api"])


@pytest.fixture(scope="module")
def authorizer(issuer: LocalIssuer) -> JwtAuthorizer:
    return JwtAuthorizer(ISSUER, ["fhr-api"], issuer.jwks)


def echo_stack(**changes: Any) -> StackConfig:
    """The dev stack with the echo function sized like a small API function, keep-warm off unless asked."""
    sizing = FunctionConfig(memory_mb=256, timeout_s=10, reserved_concurrency=10)
    changes.setdefault("functions", {"echo": sizing, "echo_worker": sizing})
    changes.setdefault("keep_warm", KeepWarmConfig(enabled=False, schedule="rate(5 minutes)", concurrency=1))
    return dataclasses.replace(load_stack_file("dev"), **changes)


@pytest.fixture(scope="session")
def cloud_factory() -> CloudFactory:
    """``async with cloud_factory(stack_changes={...}, **LocalCloudOptions fields) as cloud``."""
    from fhrcli.local import load_app

    app = load_app(ECHO_APP_SPEC)

    @asynccontextmanager
    async def factory(stack_changes: dict[str, Any] | None = None, **options: Any) -> AsyncIterator[LocalCloud]:
        async with LocalCloud(echo_stack(**(stack_changes or {})), app, LocalCloudOptions(**options)) as cloud:
            yield cloud

    return factory


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def echo_cloud(cloud_factory: CloudFactory) -> AsyncIterator[LocalCloud]:
    """The echo app on the dev stack's API settings (CORS ``*``), with a short integration timeout."""
    async with cloud_factory(integration_timeout_s=2.0) as cloud:
        yield cloud
