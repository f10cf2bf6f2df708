"""aioboto3's async clients, created once per execution environment and kept warm across invocations.

A handler module's ``init()`` opens the services it needs; later invocations reuse the same
clients (and their connection pools). Endpoints come from the standard ``AWS_ENDPOINT_URL_<SERVICE>``
variables, so the same code talks to AWS, to the local cloud and to a test's moto server.

Clients belong to the event loop that created them (aiohttp sessions do); if a caller arrives on a
different loop — a test suite gives each test its own — the pool is rebuilt instead of failing.

The clients are the ones aioboto3 hands out (aiobotocore's), made from aiobotocore's session directly:
``aioboto3.Session`` would also import boto3, s3transfer and multiprocessing and copy boto3's event
handlers into every client (resources and managed transfers, which no handler uses), ~30-60 ms of
cold start (``benchmarks/bench_coldstart.py``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

SERVICES = ("s3", "dynamodb", "sqs")


def endpoint_for(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``AWS_ENDPOINT_URL_<SERVICE>``, else ``AWS_ENDPOINT_URL``, else ``None`` (the real AWS)."""
    env = os.environ if environ is None else environ
    return env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL") or None


def region(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def _client_config(service: str, endpoint: str | None) -> Any:
    from botocore.config import Config

    options: dict[str, Any] = {
        "max_pool_connections": 64,
        "retries": {"mode": "standard"},  # attempts: AWS_MAX_ATTEMPTS, else the SDK's 3
        "connect_timeout": 3,
        "read_timeout": 20,
    }
    if service == "s3":
        # botocore still presigns with SigV2 unless told (AWSAccessKeyId/Signature fields), which buckets
        # made since mid-2020 refuse: every request and every presigned POST/GET is SigV4, and carries
        # the session token of the function's role (x-amz-security-token) as SigV4 requires.
        options["signature_version"] = "s3v4"
        if endpoint:
            options["s3"] = {"addressing_style": "path"}  # a loopback endpoint has no bucket subdomains
    return Config(**options)


class ClientPool:
    """One SDK session and at most one client per service, bound to one event loop."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._stack: AsyncExitStack | None = None
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self, service: str) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._reset_for(loop)
        assert self._lock is not None
        client = self._clients.get(service)
        if client is not None:
            return client
        async with self._lock:
            if service not in self._clients:
                self._clients[service] = await self._open(service)
        return self._clients[service]

    async def _open(self, service: str) -> Any:
        from handlers.runtime.tls import import_aiohttp

        import_aiohttp()  # before aiobotocore imports it: aiohttp's unused default TLS contexts load lazily
        from aiobotocore.session import get_session

        if self._stack is None:
            self._stack = AsyncExitStack()
        if self._session is None:
            # One session for every service: its loader caches the shared botocore data (endpoints,
            # partitions), so the second and third clients cost ~10 ms instead of ~50 (measured).
            self._session = get_session()
        endpoint = endpoint_for(service, self._environ)
        return await self._stack.enter_async_context(
            self._session.create_client(
                service,
                region_name=region(self._environ),
                endpoint_url=endpoint,
                config=_client_config(service, endpoint),
            )
        )

    async def drop_connections(self) -> None:
        """Close every client's pooled connections (its HTTP session), keeping the clients themselves.

        A client opens a new session on its next request, on whatever loop runs it then.
        """
        for client in self._clients.values():
            http = getattr(getattr(client, "_endpoint", None), "http_session", None)
            if http is not None:
                await http.close()

    def adopt_running_loop(self) -> None:
        """Keep the clients for the loop now running: right only when none holds a connection
        (after :meth:`drop_connections`, across a SnapStart snapshot and restore)."""
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()

    def _reset_for(self, loop: asyncio.AbstractEventLoop) -> None:
        # Clients of a closed loop cannot be closed from this one; drop them and start afresh.
        self._stack = None
        self._clients = {}
        self._loop = loop
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        self._clients = {}
        if stack is not None and self._loop is asyncio.get_running_loop():
            await stack.aclose()
        self._loop = None


_POOL = ClientPool()


async def client(service: str) -> Any:
    """The process-wide client for ``service`` (``"s3"``, ``"dynamodb"``, ``"sqs"``)."""
    return await _POOL.get(service)


async def open_services(*services: str) -> None:
    """Open ``services`` now, so the first invocation does not pay for it (called from ``init()``)."""
    for service in services:
        await _POOL.get(service)


async def close() -> None:
    """Close every client (``shutdown()`` of a handler module, and tests between event loops)."""
    await _POOL.close()


def reopen_after_restore(*services: str) -> None:
    """SnapStart: no connection goes into the snapshot, and each restored environment opens its own.

    Before the snapshot every client's connections are closed; after each restore the clients (their
    service models and credential providers, costly to rebuild: 15-30 ms in a restored copy) are kept
    for the runtime's new event loop and open new connections on first use; ``services`` missing then
    are opened. Registering costs nothing without SnapStart: the hooks only run with it.
    """
    from handlers.runtime import snapstart

    snapstart.register_before_snapshot(_POOL.drop_connections)
    snapstart.register_after_restore(_resume, *services)


async def _resume(*services: str) -> None:
    _POOL.adopt_running_loop()
    await open_services(*services)
