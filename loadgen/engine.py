"""The load engine: closed loop (fixed concurrency) or open loop (fixed arrival rate), bounded in
count and time, with optional jittered-backoff retries and following of ``202`` jobs to completion.

Why both loops: a fixed concurrency reproduces seed 000's "350 callers at once"; an open-loop rate
shows what happens when arrivals do not slow down as the service does (latency a closed loop hides).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

RETRYABLE = frozenset({429, 500, 502, 503, 504})
COLD_START_HEADER = "x-fhr-cold-start"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadPlan:
    """What to send and how hard. Exactly one of ``concurrency``/``rate``; at least one bound."""

    requests: Sequence[Request]
    concurrency: int | None = None
    rate: float | None = None
    count: int | None = None
    duration_s: float | None = None
    retries: int = 0
    timeout_s: float = 60.0
    follow_jobs: bool = False
    job_timeout_s: float = 300.0
    backoff_base_s: float = 0.1
    backoff_cap_s: float = 5.0
    max_in_flight: int = 2000

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.rate is None):
            raise ValueError("give exactly one of concurrency or rate")
        if self.count is None and self.duration_s is None:
            raise ValueError("give a request count or a duration: a load test must stop by itself")
        if not self.requests:
            raise ValueError("no requests to send (no keys found?)")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")


@dataclass
class Sample:
    """One logical request: its final outcome after retries (and after its job, when followed)."""

    started_s: float
    latency_ms: float
    status: int | None
    error: str | None = None
    attempts: int = 1
    cold_start: bool = False
    followed_job: bool = False

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else (self.error or "error")

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Progress = Callable[[int, int | None, float], None]


class LoadRunner:
    """Runs one :class:`LoadPlan` on an aiohttp session the caller owns (so tests pass a local one)."""

    def __init__(self, plan: LoadPlan, session: aiohttp.ClientSession, progress: Progress | None = None) -> None:
        self.plan = plan
        self.session = session
        self.progress = progress
        self.samples: list[Sample] = []
        self._next = 0
        self._t0 = 0.0
        self.wall_s = 0.0

    async def run(self) -> list[Sample]:
        self._t0 = time.perf_counter()
        if self.plan.concurrency is not None:
            await asyncio.gather(*(self._closed_worker() for _ in range(self.plan.concurrency)))
        else:
            await self._open_loop()
        self.wall_s = time.perf_counter() - self._t0
        return self.samples

    def _elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def _take(self) -> Request | None:
        """The next request to send, or None once the count or the duration is spent."""
        plan = self.plan
        if plan.count is not None and self._next >= plan.count:
            return None
        if plan.duration_s is not None and self._elapsed() >= plan.duration_s:
            return None
        request = plan.requests[self._next % len(plan.requests)]
        self._next += 1
        return request

    async def _closed_worker(self) -> None:
        while (request := self._take()) is not None:
            await self._record(request)

    async def _open_loop(self) -> None:
        assert self.plan.rate is not None
        interval = 1.0 / self.plan.rate
        in_flight: set[asyncio.Task[None]] = set()
        while (request := self._take()) is not None:
            due = self._t0 + (self._next - 1) * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while len(in_flight) >= self.plan.max_in_flight:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self._record(request))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)

    async def _record(self, request: Request) -> None:
        started = self._elapsed()
        sample = await self._send_with_retries(request, started)
        sample.latency_ms = (self._elapsed() - started) * 1000.0
        self.samples.append(sample)
        if self.progress is not None:
            self.progress(len(self.samples), self.plan.count, self._elapsed())

    async def _send_with_retries(self, request: Request, started: float) -> Sample:
        attempt = 0
        while True:
            attempt += 1
            status, error, cold, body = await self._send_once(request)
            retryable = error is not None or status in RETRYABLE
            if not retryable or attempt > self.plan.retries:
                break
            ceiling = min(self.plan.backoff_cap_s, self.plan.backoff_base_s * 2 ** (attempt - 1))
            await asyncio.sleep(random.uniform(0, ceiling))  # full jitter
        sample = Sample(started, 0.0, status, error, attempt, cold)
        if status == 202 and self.plan.follow_jobs:
            await self._follow_job(request, body, sample)
        return sample

    async def _send_once(self, request: Request) -> tuple[int | None, str | None, bool, bytes]:
        timeout = aiohttp.ClientTimeout(total=self.plan.timeout_s)
        try:
            async with self.session.request(
                request.method, request.url, data=request.body, headers=request.headers, timeout=timeout
            ) as response:
                body = await response.read()
                cold = response.headers.get(COLD_START_HEADER, "").lower() == "true"
                return response.status, None, cold, body
        except TimeoutError:
            return None, "timeout", False, b""
        except aiohttp.ClientError as exc:
            return None, f"connection:{type(exc).__name__}", False, b""

    async def _follow_job(self, request: Request, body: bytes, sample: Sample) -> None:
        """Poll a 202's job until it settles; a completed job counts as served (status 200)."""
        sample.followed_job = True
        try:
            location = json.loads(body)["location"]
        except (ValueError, KeyError, TypeError):
            sample.status, sample.error = None, "job_without_location"
            return
        parts = urlsplit(request.url)
        base = f"{parts.scheme}://{parts.netloc}"  # the location is the job's path on the same API
        deadline = time.perf_counter() + self.plan.job_timeout_s
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            status, error, _, job_body = await self._send_once(Request("GET", base + location))
            if status != 200:
                continue
            state = json.loads(job_body).get("status")
            if state == "done":
                sample.status = 200
                return
            if state == "failed":
                sample.status, sample.error = None, "job_failed"
                return
        sample.status, sample.error = None, "job_timeout"
