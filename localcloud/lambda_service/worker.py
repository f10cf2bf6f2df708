"""One execution environment: a runtime process, its own Runtime API server, its logs and its limits.

A worker lives in its own session (process group) so that a timeout, a memory kill or the service's
stop takes the runtime AND anything it spawned. It knows nothing about pools or admission: it starts,
initialises, runs one invocation at a time and reports how each ended.

Between invocations it is frozen, as Lambda freezes an execution environment: once the runtime has
answered and asks for the next event (``/next`` parks), the whole process tree is stopped (SIGSTOP),
so anything the handler left running (an asyncio task, a thread, a child process) gets no CPU at all;
it is continued (SIGCONT) as the next event is handed over (just after the event is written to it, so
it wakes once, to a ready event), and then competes with that invocation, exactly as on Lambda. The
CPU share composes with it: the governor stops watching a frozen tree (it would otherwise continue
it) and starts afresh on thaw; a CFS quota needs nothing. A stopped tree is always continued before
it is signalled to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from localcloud.lambda_service import limits
from localcloud.lambda_service.runtime_api import InitError, InvocationOutcome, RuntimeApiServer
from localcloud.lambda_service.sandbox import Environment, Sandbox
from localcloud.lambda_service.snapstart import SnapshotFailed, SnapshotTemplate
from localcloud.lambda_service.spec import FunctionSpec

INIT_TIMEOUT_S = 10.0
"""Lambda gives the init phase 10 seconds."""
STOP_GRACE_S = 2.0
POLL_ACTIVE_S = 0.02
POLL_IDLE_S = 0.25
LogSink = Callable[[str, str], None]
WorkerState = Literal["new", "starting", "idle", "busy", "dead"]


@dataclass(frozen=True)
class RunReport:
    """How one invocation ended in this worker, with what the REPORT line needs."""

    outcome: InvocationOutcome
    duration_ms: float
    max_memory_mb: int
    log_lines: list[str]
    reusable: bool
    delivered: bool = True


def error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class Worker:
    """A runtime process serving one function version; ``key`` names the pool it belongs to."""

    def __init__(
        self,
        spec: FunctionSpec,
        key: tuple[str, ...],
        *,
        env: Mapping[str, str],
        function_arn: str,
        memory_enforcement: Literal["cgroup", "rss"] = "rss",
        cpu_shares: bool = False,
        cpu_fallback: Literal["cfs-v1", "governor"] = "governor",
        governor: limits.CpuGovernor | None = None,
        cfs_parent: Path | None = None,
        log_sink: LogSink | None = None,
        stop_grace_s: float = STOP_GRACE_S,
        sandbox: Sandbox | None = None,
        freeze: bool = True,
        restore_from: SnapshotTemplate | None = None,
    ) -> None:
        """``restore_from``: a SnapStart version's snapshot; the worker is forked from it, not started."""
        self.spec = spec
        self.restore_from = restore_from
        self.stop_grace_s = stop_grace_s
        self.key = key
        self.worker_id = uuid.uuid4().hex
        self.function_arn = function_arn
        self._env = dict(env)
        self._memory_enforcement = memory_enforcement
        self._cpu_shares = cpu_shares
        self._cpu_fallback = cpu_fallback
        self._governor = governor
        self._cfs: limits.CfsCgroupV1 | None = None
        self._cfs_parent = cfs_parent or limits.CFS_V1_PARENT
        self.cpu_mechanism: str | None = None
        self._log_sink = log_sink
        self.state: WorkerState = "new"
        self.server: RuntimeApiServer | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.killed_for_memory = False
        self.peak_rss = 0
        self.init_duration_ms: float | None = None
        self.invocations = 0
        self._capture: list[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cgroup: limits.WorkerCgroup | None = None
        self._spawned_at = 0.0
        self._sandbox = sandbox
        self.environment: Environment | None = None
        self._freeze = freeze
        self.frozen = False
        self.freezes = 0
        self._escaped: list[int] = []
        self._ending = False  # being stopped or killed: never frozen again
        self.retire_at = math.inf  # loop time after which the pool retires it (its lifetime)

    @property
    def log_stream(self) -> str:
        return time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + self.worker_id

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def restored(self) -> bool:
        """Restored from a SnapStart snapshot (a fork of its template) rather than initialised."""
        return self.restore_from is not None

    @property
    def alive(self) -> bool:
        return self.state != "dead" and not self.exited.done()

    # -- start and init ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the Runtime API server and the runtime process; init logs are captured from here on."""
        self.state = "starting"
        self._capture = []
        self.server = RuntimeApiServer(
            function_arn=self.function_arn,
            on_waiting=self._on_waiting,
            on_delivered=self.thaw,
            restore_at_once=self.restored,
        )
        await self.server.start()
        env = {
            **self._env,
            "AWS_LAMBDA_RUNTIME_API": self.server.address,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
        }
        command = self.spec.worker_command()
        if shutil.which(command[0]) is None:  # checked here: inside the sandbox's wrapper it is only an exit code
            self._no_bootstrap(FileNotFoundError(2, "No such file or directory"))
            return
        if self._sandbox is not None and not self.restored:  # a restored copy keeps its snapshot's sandbox
            self.environment = self._sandbox.environment(self.worker_id, self.spec.ephemeral_storage_mb)
            env |= self.environment.environment()
            command = self.environment.wrap(command)
        self._spawned_at = time.perf_counter()
        try:
            self.process = await self._spawn(command, env)
        except SnapshotFailed as failed:  # the snapshot's init failed: every restore reports that error
            self.state = "dead"
            self.server.init_error.set_result(InitError(failed.payload, failed.error_type))
            self.exited.set_result(1)
            return
        except OSError as exc:
            self._no_bootstrap(exc)
            return
        self._confine()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._tasks = [
            asyncio.create_task(self._pump(self.process.stdout)),
            asyncio.create_task(self._pump(self.process.stderr)),
            asyncio.create_task(self._watch_exit()),
            asyncio.create_task(self._guard_memory()),
        ]

    async def _spawn(self, command: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
        """The runtime process: started, or (SnapStart) forked from the version's snapshot, whose
        ``RestoredProcess`` offers what this class uses of a process (pid, returncode, wait, pipes)."""
        if self.restore_from is not None:
            restored = await self.restore_from.restore({"AWS_LAMBDA_RUNTIME_API": env["AWS_LAMBDA_RUNTIME_API"]})
            return cast(asyncio.subprocess.Process, restored)
        return await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=str(self.spec.code_root),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )

    def _no_bootstrap(self, exc: OSError) -> None:
        self.state = "dead"
        self.exited.set_result(127)
        self._log(f"could not start the runtime {self.spec.worker_command()[0]!r}: {exc}")

    def _confine(self) -> None:
        """Put the process in its own cgroup when the service enforces memory through the kernel."""
        if self._memory_enforcement != "cgroup" or self.process is None:
            return
        try:
            self._cgroup = limits.WorkerCgroup(self.worker_id, self.spec.memory_mb, self._cpu_shares)
            self._cgroup.create()
            self._cgroup.add(self.process.pid)
        except OSError as exc:  # fall back to polling; say so in the worker's log
            self._log(f"cgroup confinement failed ({exc}); enforcing memory by RSS polling")
            self._cgroup = None

    def _limit_cpu(self) -> None:
        """From the first ``/next`` on, hold the worker's tree to its memory size's CPU share (init ran free)."""
        if not self._cpu_shares or self.process is None or self.process.returncode is not None:
            return
        if self._cgroup is not None and self._cgroup.cpu_limited:
            self.cpu_mechanism = "cgroup"
            return
        share = limits.vcpu_share(self.spec.memory_mb)
        if self._cpu_fallback == "cfs-v1":
            try:
                self._cfs = limits.CfsCgroupV1(self.worker_id, self.spec.memory_mb, self._cfs_parent)
                self._cfs.create()
                self._cfs.add_tree(self.process.pid)
                self.cpu_mechanism = "cfs-v1"
                return
            except OSError as exc:
                self._log(f"cgroup v1 cpu confinement failed ({exc}); limiting CPU by SIGSTOP/SIGCONT")
                self._cfs = None
        if self._governor is not None:
            self._governor.govern(self.process.pid, share)
            self.cpu_mechanism = "governor"

    def _release_cpu(self) -> None:
        """Continue a stopped tree and stop governing it (before any signal that must be handled)."""
        self.thaw(govern=False)
        if self._governor is not None and self.process is not None:
            self._governor.release(self.process.pid)

    # -- freeze and thaw -----------------------------------------------------------------------------------
    def _on_waiting(self) -> None:
        """The runtime asks for an event and none is queued: after an invocation, freeze (see above).

        Deferred by one loop turn, so the caller waiting for the answer resumes first; if the next event
        has been handed over meanwhile (back-to-back invocations), there is nothing to freeze."""
        if self._freeze and self.server is not None and self.server.deliveries > 0:
            asyncio.get_running_loop().call_soon(self._freeze_if_idle)

    def _freeze_if_idle(self) -> None:
        if self.server is not None and self.server.waiting_idle:
            self.freeze()

    def freeze(self) -> None:
        """Stop the whole process tree: nothing it left running makes progress until ``thaw``.

        The process group is stopped in one call; the tree is then walked once for descendants that left
        the group (``setsid``), which are stopped too and remembered, so thawing reads nothing."""
        if self.frozen or self._ending or self.process is None or self.process.returncode is not None:
            return
        pid = self.process.pid
        if self.cpu_mechanism == "governor" and self._governor is not None:
            self._governor.pause(pid)  # it would otherwise SIGCONT the frozen tree
        limits.kill_group(pid, signal.SIGSTOP)
        self._escaped = limits.outside_group(pid, self._cgroup_members())
        for member in self._escaped:
            limits.signal_pid(member, signal.SIGSTOP)
        self.frozen = True
        self.freezes += 1

    def _cgroup_members(self) -> list[int] | None:
        """The tree's processes from its cgroup (v2 child or v1 CFS group), when it has one."""
        for cgroup in (self._cgroup, self._cfs):
            if cgroup is not None:
                members = limits.cgroup_members(cgroup.path)
                if members is not None and self.pid in members:
                    return members
        return None

    def thaw(self, govern: bool = True) -> None:
        """Continue a frozen tree (before an event is handed over, or before it is stopped)."""
        if not self.frozen or self.process is None:
            return
        self.frozen = False
        if self.process.returncode is not None:
            return
        pid = self.process.pid
        limits.kill_group(pid, signal.SIGCONT)
        for member in self._escaped:
            limits.signal_pid(member, signal.SIGCONT)
        if govern and self.cpu_mechanism == "governor" and self._governor is not None:
            self._governor.govern(pid, limits.vcpu_share(self.spec.memory_mb))

    async def initialise(self, timeout_s: float = INIT_TIMEOUT_S) -> InvocationOutcome | None:
        """Wait for the runtime's first ``/next``; None when ready, else the error the caller should get."""
        assert self.server is not None
        ready = asyncio.ensure_future(self.server.first_poll.wait())
        waiters: set[asyncio.Future[Any]] = {ready, self.server.init_error, self.exited}
        done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self.server.first_poll.is_set():
            self.init_duration_ms = ((self.server.first_poll_at or self._spawned_at) - self._spawned_at) * 1000
            self.state = "idle"
            self._limit_cpu()
            return None
        self.init_duration_ms = (time.perf_counter() - self._spawned_at) * 1000
        await self._drain_output()
        if self.server.init_error.done():
            init_error = self.server.init_error.result()
            return InvocationOutcome(
                init_error.payload or error_payload(init_error.error_type, ""), init_error.error_type
            )
        if self.process is None:
            message = f"Couldn't find valid bootstrap(s): {self.spec.worker_command()[0]}"
            return InvocationOutcome(error_payload("Runtime.InvalidEntrypoint", message), "Runtime.InvalidEntrypoint")
        if not done:
            self.kill()
            message = f"Init timed out after {timeout_s:.2f} seconds"
            return InvocationOutcome(error_payload("Sandbox.Timedout", message), "Sandbox.Timedout")
        return self._exit_outcome(None)

    # -- one invocation ------------------------------------------------------------------------------------
    async def run(self, request_id: str, payload: bytes, *, client_context: str | None = None) -> RunReport:
        """Hand one event to the runtime and wait for its answer, its death or the function's timeout."""
        assert self.server is not None
        if self._capture is None:
            self._capture = []
        self.state = "busy"
        self.invocations += 1
        timeout_s = float(self.spec.timeout_s)
        started = time.perf_counter()  # a frozen runtime is thawed as its event is written to it
        invocation = self.server.submit(
            payload, timeout_s=timeout_s, request_id=request_id, client_context=client_context
        )
        answered: set[asyncio.Future[Any]] = {invocation.outcome, self.exited}
        await asyncio.wait(answered, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        duration_ms = (time.perf_counter() - started) * 1000
        if invocation.outcome.done():
            outcome, reusable = invocation.outcome.result(), True
        elif self.exited.done():
            outcome, reusable = self._exit_outcome(request_id), False
            await self._drain_output()
        else:
            self.kill()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            self._log(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}")
            outcome, reusable = InvocationOutcome(error_payload("Sandbox.Timedout", message), "Sandbox.Timedout"), False
        self.server.abandon(invocation)
        await self._settle_logs()
        lines = self.take_log()
        self.state = "idle" if reusable and self.alive else self.state
        delivered = invocation.delivered_at is not None
        return RunReport(outcome, duration_ms, self.max_memory_mb(), lines, reusable and self.alive, delivered)

    def take_log(self) -> list[str]:
        """The lines captured since the worker started or took its current event; capture stops."""
        lines, self._capture = self._capture or [], None
        return lines

    def _exit_outcome(self, request_id: str | None) -> InvocationOutcome:
        code = self.exited.result() if self.exited.done() else None
        if code is not None and code < 0:
            reason = f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
            reason = "signal: killed" if -code == signal.SIGKILL else reason
        else:
            reason = f"exit status {code}"
        prefix = f"RequestId: {request_id} Error: " if request_id else ""
        return InvocationOutcome(
            error_payload("Runtime.ExitError", f"{prefix}Runtime exited with error: {reason}"), "Runtime.ExitError"
        )

    def max_memory_mb(self) -> int:
        """Peak resident memory: the kernel's high-water marks, and the cgroup's own peak when confined."""
        if self.pid is not None:
            self.peak_rss = max(self.peak_rss, limits.peak_rss_bytes(self.pid))
        if self._cgroup is not None:
            self.peak_rss = max(self.peak_rss, self._cgroup.peak_bytes())
        return math.ceil(self.peak_rss / (1024 * 1024))

    # -- logs, exit and memory -----------------------------------------------------------------------------
    def _log(self, line: str) -> None:
        if self._capture is not None:
            self._capture.append(line)
        if self._log_sink is not None:
            self._log_sink(self.spec.name, line)

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the reader's limit: take what is buffered
                raw = await stream.read(64 * 1024)
            if not raw:
                return
            self._log(raw.decode("utf-8", "replace").rstrip("\n"))

    async def _settle_logs(self) -> None:
        """Let output the runtime wrote before answering reach the pipes' readers (a few loop turns)."""
        for _ in range(3):
            await asyncio.sleep(0)

    async def _drain_output(self, timeout_s: float = 0.5) -> None:
        """After the runtime died, read what it wrote last (its traceback) into this invocation's log."""
        pumps = [task for task in self._tasks if task.get_coro().__name__ == "_pump"]  # type: ignore[union-attr]
        if pumps:
            await asyncio.wait(pumps, timeout=timeout_s)

    async def _watch_exit(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        self._release_cpu()
        self.state = "dead"
        if not self.exited.done():
            self.exited.set_result(code)

    async def _guard_memory(self) -> None:
        """Poll the process tree's RSS; above the function's memory size, kill it (the ``rss`` mechanism)."""
        assert self.process is not None
        limit = self.spec.memory_mb * 1024 * 1024
        while not self.exited.done():
            rss = limits.tree_rss_bytes(self.process.pid)
            self.peak_rss = max(self.peak_rss, rss)
            if rss > limit and self._cgroup is None:
                self.killed_for_memory = True
                self._log(f"Memory Size: {self.spec.memory_mb} MB exceeded ({rss // (1024 * 1024)} MB resident)")
                self.kill()
                return
            await asyncio.sleep(POLL_IDLE_S if self.state == "idle" else POLL_ACTIVE_S)

    # -- stopping ------------------------------------------------------------------------------------------
    def _outside_group(self) -> list[int]:
        """Processes of the environment that left its process group (a ``setsid`` child): found while
        the runtime lives, since an orphan leaves its tree."""
        if self.process is None or self.process.returncode is not None:
            return list(self._escaped)
        return limits.outside_group(self.process.pid, self._cgroup_members())

    def kill(self) -> None:
        """SIGKILL the whole environment now (timeouts, memory, crashed state): its group and escapees."""
        self._ending = True
        if self.process is not None and self.process.returncode is None:
            doomed = self._outside_group()
            self._release_cpu()
            limits.kill_group(self.process.pid, signal.SIGKILL)
            for member in doomed:
                limits.signal_pid(member, signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM the group (the runtime's shutdown hook runs), SIGKILL after the grace period, clean up."""
        self._ending = True
        self._release_cpu()  # a stopped process would not run its SIGTERM handler
        doomed = self._outside_group()
        if self.process is not None and self.process.returncode is None:
            limits.kill_group(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), self.stop_grace_s)
            except TimeoutError:
                self.kill()
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                limits.kill_group(self.process.pid, signal.SIGKILL)  # stragglers left in the group
            for member in doomed:
                limits.signal_pid(member, signal.SIGKILL)  # and those that left it
            await self.process.wait()
        self.state = "dead"
        await self._drain_output()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.stop()
        if self._cgroup is not None:
            self._cgroup.remove()
        if self._cfs is not None:
            self._cfs.remove()
        if self._sandbox is not None and self.environment is not None:
            self._sandbox.discard(self.environment)


# The checkout this service runs from: workers import our runtime (``python -m handlers.runtime``) from
# here, not from wherever the venv's editable install points (another worktree, or the original of a
# mutation run's copy).
RUNNING_CHECKOUT = Path(__file__).resolve().parents[2]


def worker_environment(spec: FunctionSpec, *, base_env: Mapping[str, str], version: str, region: str) -> dict[str, str]:
    """The environment Lambda gives a function, over ``base_env``, under the function's own variables.

    ``PYTHONPATH``: the function's code first (as ``/var/task`` on Lambda), then the running checkout
    (the runtime the worker command starts), then whatever the base environment had."""
    code_root = str(spec.code_root)
    parts = (code_root, str(RUNNING_CHECKOUT), base_env.get("PYTHONPATH", ""))
    python_path = os.pathsep.join(dict.fromkeys(p for p in parts if p))
    return {
        **base_env,
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": code_root,
        "PYTHONPATH": python_path,
        "PYTHONUNBUFFERED": "1",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(math.ceil(spec.timeout_s))),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **dict(spec.local_environment),
        **dict(spec.environment),
    }
