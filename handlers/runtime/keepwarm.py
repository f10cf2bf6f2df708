"""Keep-warm events: answered by the runtime itself, before any handler work.

A scheduled rule sends ``{"source": "fhr.keep-warm", "keepWarm": {"concurrency": N}}`` (the payload of
``fhrapp.definition.warm_payload``; this module keeps its own copy of the source string because the
Lambda bundle never imports ``fhrapp`` - a test asserts both agree). The answer says which environment
served it, whether that was its first invocation, its uptime and how many invocations it has served.

With N > 1 the environment fans out N-1 concurrent ``RequestResponse`` self-invocations, each with
``concurrency`` 1 and ``"fanout": true`` (as serverless-plugin-warmup does): because each of them holds
an environment busy while the others arrive, Lambda has to run N environments. The SDK (aiobotocore,
aioboto3's engine) is imported, and its session and Lambda client created, only the first time a
fan-out is asked for; the client is then kept for the process life.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

KEEP_WARM_SOURCE = "fhr.keep-warm"
#: Upper bound on one fan-out, so a bad schedule cannot make one environment start hundreds of calls.
MAX_FANOUT = 100


def is_keep_warm(event: Any) -> bool:
    return isinstance(event, dict) and event.get("source") == KEEP_WARM_SOURCE


def requested_concurrency(event: dict[str, Any]) -> int:
    """``keepWarm.concurrency`` as an int in [1, MAX_FANOUT + 1]; anything malformed means 1."""
    spec = event.get("keepWarm")
    value = spec.get("concurrency", 1) if isinstance(spec, dict) else 1
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 1
    return max(1, min(int(value), MAX_FANOUT + 1))


@dataclass
class EnvironmentStats:
    """The execution environment's identity and counters, reported in keep-warm answers."""

    environment_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_monotonic: float = field(default_factory=time.monotonic)
    invocations: int = 0

    def count_invocation(self) -> bool:
        """Count one invocation; returns whether it was the environment's first (a cold one)."""
        self.invocations += 1
        return self.invocations == 1

    def uptime_ms(self) -> int:
        return int((time.monotonic() - self.started_monotonic) * 1000)


class SelfInvoker:
    """Invokes this function through the Lambda API for fan-out; the async SDK client is made once, lazily."""

    def __init__(
        self,
        function_name: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        version: str | None = None,
    ) -> None:
        self._function_name = function_name
        # The running version: a published one when the stack's alias invoked us (its environments are the
        # ones to keep warm, SnapStart's restores among them); None for $LATEST.
        self._qualifier = version if version and version != "$LATEST" else None
        self._endpoint_url = endpoint_url
        self._region = region
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_environ(cls) -> SelfInvoker:
        return cls(
            os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            os.environ.get("AWS_ENDPOINT_URL_LAMBDA") or None,
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
            os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        )

    async def _lambda_client(self) -> Any:
        async with self._lock:
            if self._client is None:
                from handlers.runtime.tls import import_aiohttp

                import_aiohttp()
                from aiobotocore.session import get_session  # heavy: only environments asked to fan out pay
                from botocore.config import Config

                config = Config(
                    retries={"total_max_attempts": 1},  # a 429 means "no more environments": do not retry
                    connect_timeout=5,
                    read_timeout=60,
                    max_pool_connections=MAX_FANOUT,
                )
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "lambda", region_name=self._region, endpoint_url=self._endpoint_url, config=config
                    )
                )
                self._stack = stack
            return self._client

    async def _invoke_once(self, payload: bytes) -> str | None:
        """One self-invocation; returns the environment id that answered, or ``None`` if it failed."""
        try:
            client = await self._lambda_client()
            qualified = {"Qualifier": self._qualifier} if self._qualifier else {}
            resp = await client.invoke(
                FunctionName=self._function_name, InvocationType="RequestResponse", Payload=payload, **qualified
            )
            body = await resp["Payload"].read()
            if resp.get("FunctionError"):
                return None
            answer = json.loads(body)
            return str(answer.get("environmentId")) if isinstance(answer, dict) else None
        except Exception:  # noqa: BLE001 - a failed warm-up is counted, never raised
            return None

    async def fan_out(self, copies: int) -> dict[str, Any]:
        payload = json.dumps({"source": KEEP_WARM_SOURCE, "keepWarm": {"concurrency": 1}, "fanout": True}).encode()
        answers = await asyncio.gather(*(self._invoke_once(payload) for _ in range(copies)))
        succeeded = [a for a in answers if a is not None]
        return {"requested": copies, "succeeded": len(succeeded), "environments": sorted(set(succeeded))}

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._client = None


async def answer_keep_warm(
    event: dict[str, Any], stats: EnvironmentStats, cold: bool, invoker: SelfInvoker | None
) -> dict[str, Any]:
    """Build the keep-warm answer (and run the fan-out when asked), without touching the handler."""
    answer: dict[str, Any] = {
        "environmentId": stats.environment_id,
        "cold": cold,
        "uptimeMs": stats.uptime_ms(),
        "invocations": stats.invocations,
    }
    copies = requested_concurrency(event) - 1
    if copies > 0 and not event.get("fanout") and invoker is not None:
        answer["fanout"] = await invoker.fan_out(copies)
    return answer
