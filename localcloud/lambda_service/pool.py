"""Admission (reserved concurrency) and the shared, capped pool of worker processes.

Two kinds of limit, as the issue asks:

* ``Admission`` is Lambda's: at most ``limit`` invocations of a function in flight. A synchronous call
  beyond it is refused at once (``TooManyRequests``); an asynchronous (Event) call waits for a slot, as
  Lambda's internal queue retries throttled events.
* ``WorkerPool`` is this machine's, and has two caps. ``cap``: at most that many workers *running*
  invocations at once (CPU: 2 per core by default); an admitted invocation beyond it WAITS in one FIFO
  queue. ``max_live``: at most that many worker processes alive, idle ones included (memory: one per
  ~300 MB available by default). Idle environments are frozen and use no CPU, so they count only
  against ``max_live``: a warm set larger than ``cap`` (the keep-warm schedule's) stays warm, as on
  AWS. A new environment beyond ``max_live`` is made by stopping an idle one of another function.

Two more rules keep the pool from changing what AWS would do:

* a *nested* invocation (one a busy worker is synchronously waiting for, such as the keep-warm fan-out's
  self-invocations) never waits: its caller is blocked on it, so it runs beyond the caps (the caps share
  CPU and memory, and a blocked caller uses no CPU). Waiting would deadlock as soon as the callers hold
  every slot, which AWS, with no machine cap, never does; the pool shrinks back as workers are freed;
* environments live as Lambda's do (``lifecycle.Lifecycle``): an idle worker is reclaimed after its
  idle time, and one past its lifetime is retired instead of going back to the pool.

Everything that decides order happens synchronously (no ``await`` between checking and queueing), so
invocations started in order are served in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from localcloud.lambda_service.lifecycle import Lifecycle
from localcloud.lambda_service.worker import Worker

PoolKey = tuple[str, ...]


class Admission:
    """A counting gate: ``try_enter`` for throttled callers, ``enter`` for queued (Event) ones."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for future in self._waiters if not future.done())

    def try_enter(self) -> bool:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def enter(self) -> None:
        if self.try_enter():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.leave()  # the slot was handed over just as we gave up: pass it on
            else:
                self._waiters.remove(future)
            raise

    def leave(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot passes straight to the next waiter
                return
        self.in_flight -= 1


@dataclass(frozen=True)
class Grant:
    """What a waiter receives: a warm worker, or a slot to start one in (after stopping ``evict``)."""

    worker: Worker | None = None
    evict: Worker | None = None


@dataclass
class _Waiter:
    key: PoolKey
    future: asyncio.Future[Grant]


class WorkerPool:
    """Idle workers per pool key, the caps on running and live workers, and the FIFO of waiting invocations."""

    def __init__(
        self,
        cap: int,
        factory: Callable[[PoolKey], Awaitable[Worker]],
        is_current: Callable[[PoolKey], bool],
        lifecycle: Lifecycle | None = None,
        max_live: int | None = None,
    ) -> None:
        if cap < 1:
            raise ValueError(f"worker cap must be at least 1, got {cap}")
        self.cap = cap
        self.max_live = max(cap, max_live or cap)
        self.live = 0  # worker processes: starting, running, idle or stopping
        self.running = 0  # slots granted to invocations
        self.lifecycle = lifecycle or Lifecycle()
        self._factory = factory
        self._is_current = is_current
        self._idle: dict[PoolKey, list[Worker]] = {}
        self._waiters: deque[_Waiter] = deque()
        self._background: set[asyncio.Task[None]] = set()
        self._reclaimers: dict[Worker, asyncio.TimerHandle] = {}
        self.cold_starts = 0
        self.evictions = 0
        self.borrowed = 0
        self.reclaimed_idle = 0
        self.retired_old = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def idle_workers(self) -> list[Worker]:
        return [worker for workers in self._idle.values() for worker in workers]

    def would_wait(self, key: PoolKey) -> bool:
        """Whether ``acquire(key)`` would queue now (the caller may then check for a nested invocation)."""
        return bool(self._waiters) or self._grant(key, dry_run=True) is None

    async def acquire(self, key: PoolKey, nested: bool = False) -> tuple[Worker, bool]:
        """A worker for ``key`` and whether it is a cold start; waits (FIFO) when the cap is reached.

        ``nested``: a busy worker is blocked on this invocation, which then never waits (see above).
        """
        grant = None if self._waiters else self._grant(key)  # never overtake someone already waiting
        if grant is None and nested:
            grant = self._grant(key, beyond_caps=True)
            self.borrowed += 1
        if grant is None:
            waiter = _Waiter(key, asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
            try:
                grant = await waiter.future
            except asyncio.CancelledError:
                self._abandon(waiter)
                raise
        assert grant is not None
        if grant.worker is not None:
            grant.worker.state = "busy"
            return grant.worker, False
        if grant.evict is not None:
            self.evictions += 1
            await grant.evict.stop()
        try:
            worker = await self._factory(key)
        except BaseException:
            self.running -= 1
            self._slot_freed()
            raise
        self.cold_starts += 1
        worker.retire_at = asyncio.get_running_loop().time() + self.lifecycle.draw_lifetime_s()
        return worker, True

    def release(self, worker: Worker, reusable: bool) -> None:
        """Give a worker back after an invocation: to the idle list (the queue's head may take it at once)."""
        self.running -= 1
        if not (reusable and worker.alive and self._is_current(worker.key)):
            self._discard(worker)
        elif asyncio.get_running_loop().time() >= worker.retire_at:
            self.retired_old += 1  # past its lifetime: Lambda replaces the environment
            self._discard(worker)
        elif self.live > self.max_live:
            self._discard(worker)  # borrowed beyond the caps: shrink back
        else:
            self._park(worker)
        self._dispatch()

    def forget_dead(self, worker: Worker) -> None:
        """An idle worker died on its own (crash, external kill): drop it and free its slot."""
        if self._take_idle(worker):
            self._discard(worker)

    def retire(self, predicate: Callable[[PoolKey], bool]) -> None:
        """Stop idle workers whose key no longer serves (configuration updated, version deleted)."""
        for key in [key for key in self._idle if predicate(key)]:
            for worker in self._idle.pop(key):
                self._unpark(worker)
                self._discard(worker)

    async def close(self) -> list[Worker]:
        """Fail the waiters and hand back every idle worker (the service stops all workers it knows)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.cancel()
        idle = self.idle_workers()
        for worker in idle:
            self._unpark(worker)
        self._idle.clear()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        return idle

    # -- internals -----------------------------------------------------------------------------------------
    def _grant(self, key: PoolKey, dry_run: bool = False, beyond_caps: bool = False) -> Grant | None:
        """What an invocation of ``key`` gets now, if anything; ``dry_run`` only answers, changing nothing."""
        if self.running >= self.cap and not beyond_caps:
            return None
        idle = self._idle.get(key)
        if idle:
            grant = Grant() if dry_run else Grant(worker=self._take(idle.pop()))
        elif self.live < self.max_live or beyond_caps:
            grant = Grant()
            if not dry_run:
                self.live += 1
        else:
            other = next((workers for other_key, workers in self._idle.items() if workers and other_key != key), None)
            if other is None:
                return None
            grant = Grant() if dry_run else Grant(evict=self._take(other.pop()))
        if not dry_run:
            self.running += 1
        return grant

    def _take(self, worker: Worker) -> Worker:
        self._unpark(worker)
        return worker

    def _dispatch(self) -> None:
        """Serve the queue's head for as long as the caps allow, in order."""
        while self._waiters:
            head = self._waiters[0]
            if head.future.done():
                self._waiters.popleft()
                continue
            grant = self._grant(head.key)
            if grant is None:
                return
            self._waiters.popleft()
            head.future.set_result(grant)

    def _park(self, worker: Worker) -> None:
        """Idle in the pool until reused, evicted, or reclaimed after its own idle time (or lifetime)."""
        worker.state = "idle"
        self._idle.setdefault(worker.key, []).append(worker)
        loop = asyncio.get_running_loop()
        idle_until = loop.time() + self.lifecycle.draw_idle_s()
        if idle_until < worker.retire_at:
            self._reclaimers[worker] = loop.call_at(idle_until, self._reclaim, worker, "idle")
        else:
            self._reclaimers[worker] = loop.call_at(worker.retire_at, self._reclaim, worker, "lifetime")

    def _unpark(self, worker: Worker) -> None:
        handle = self._reclaimers.pop(worker, None)
        if handle is not None:
            handle.cancel()

    def _take_idle(self, worker: Worker) -> bool:
        idle = self._idle.get(worker.key, [])
        if worker not in idle:
            return False
        idle.remove(worker)
        self._unpark(worker)
        return True

    def _reclaim(self, worker: Worker, reason: str) -> None:
        """An idle worker's time is up: Lambda shuts the environment down; the next call is a cold start."""
        self._reclaimers.pop(worker, None)
        if not self._take_idle(worker):
            return
        if reason == "idle":
            self.reclaimed_idle += 1
        else:
            self.retired_old += 1
        self._discard(worker)

    def _discard(self, worker: Worker) -> None:
        """Stop a worker in the background; its slot is free once it is gone."""

        async def stop_then_free() -> None:
            try:
                await worker.stop()
            finally:
                self._slot_freed()

        task = asyncio.create_task(stop_then_free())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _slot_freed(self) -> None:
        self.live -= 1
        self._dispatch()

    def _abandon(self, waiter: _Waiter) -> None:
        """A waiter was cancelled: leave the queue, or give back what it was just granted."""
        if not waiter.future.done():
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            return
        if waiter.future.cancelled():
            return
        grant = waiter.future.result()
        if grant.worker is not None:
            self.release(grant.worker, reusable=True)
            return
        self.running -= 1
        if grant.evict is not None:
            self._park(grant.evict)  # not stopped yet: it stays warm
            self._dispatch()
        else:
            self._slot_freed()
