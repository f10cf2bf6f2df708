"""The local Lambda service: functions, versions and aliases, invocations, logs and REPORT lines.

``LambdaService.invoke`` is the one path every invocation takes (the Invoke API's HTTP handler, the
local cloud's front door and its scheduler all call it): resolve the function and qualifier, check the
payload like AWS (6 MB, JSON), admit it against reserved concurrency (429 beyond), get a worker from the
capped pool (cold start or warm reuse, FIFO wait when the machine's cap is reached), run it under the
function's timeout and memory size, and write START/END/REPORT lines around its logs.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from localcloud.lambda_service import limits
from localcloud.lambda_service.callers import worker_behind
from localcloud.lambda_service.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    ResourceNotFound,
    TooManyRequests,
)
from localcloud.lambda_service.invoke_api import start_invoke_api
from localcloud.lambda_service.lifecycle import Lifecycle
from localcloud.lambda_service.payloads import MAX_EVENT_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES
from localcloud.lambda_service.pool import Admission, PoolKey, WorkerPool
from localcloud.lambda_service.sandbox import Sandbox, SandboxMode
from localcloud.lambda_service.snapstart import Snapshots, SnapshotTemplate
from localcloud.lambda_service.spec import (
    LATEST,
    FunctionSpec,
    InvokeResult,
    default_live_cap,
    default_worker_cap,
    validate_environment,
    validate_ephemeral,
    validate_memory,
    validate_timeout,
)
from localcloud.lambda_service.worker import INIT_TIMEOUT_S, STOP_GRACE_S, RunReport, Worker, worker_environment

ACCOUNT_ID = "123456789012"
ACCOUNT_CONCURRENCY = 1000
LOG_TAIL_BYTES = 4096
LOG_LINES_KEPT = 5000
InvocationType = Literal["RequestResponse", "Event", "DryRun"]
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


@dataclass
class FunctionState:
    """One function: its ``$LATEST`` spec (a generation counter retires stale workers), versions, aliases."""

    spec: FunctionSpec
    admission: Admission
    generation: int = 0
    versions: dict[str, FunctionSpec] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    next_version: int = 1
    last_modified: str = field(default_factory=lambda: _timestamp())
    revision: str = field(default_factory=lambda: str(uuid.uuid4()))

    def spec_for(self, version: str) -> FunctionSpec:
        return self.spec if version == LATEST else self.versions[version]


@dataclass(frozen=True)
class Call:
    """One admitted invocation on its way to a worker."""

    payload: bytes
    request_id: str
    log_tail: bool = False
    client_context: str | None = None
    nested: bool = False  # a busy worker of this service waits for it: it never queues for a worker


@dataclass(frozen=True)
class Target:
    """A resolved invocation target: the function, the version that runs, and its pool key."""

    state: FunctionState
    version: str

    @property
    def spec(self) -> FunctionSpec:
        return self.state.spec_for(self.version)

    @property
    def key(self) -> PoolKey:
        generation = str(self.state.generation) if self.version == LATEST else "-"
        return (self.state.spec.name, self.version, generation)


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())


class LambdaService:
    """Runs functions in worker processes and serves the Lambda Invoke API on ``url``.

    ``memory_enforcement`` is ``"auto"`` (cgroup v2 when writable, else RSS polling), ``"cgroup"`` or
    ``"rss"``; ``cpu_shares=True`` (default) also holds each worker's invocations to memory/1,769 MB of a
    CPU: ``cpu.max`` in its cgroup v2 child, else ``cpu_enforcement`` (``"auto"``: a writable cgroup v1
    CFS quota, else the SIGSTOP/SIGCONT ``CpuGovernor``; see ``limits``).
    ``worker_cap`` bounds the workers running invocations at once (default: 2 per CPU), ``live_cap`` the
    worker processes alive, idle and frozen ones included (default: one per ~300 MB available).
    ``base_env`` defaults to this process's environment (credentials and endpoints of the local cloud).
    ``init_timeout_s`` bounds a cold start's init phase (Lambda: 10 s); ``stop_grace_s`` is how long a
    stopping worker has between SIGTERM and SIGKILL.

    AWS behaviours, each on by default (switch one off only to measure what it costs or changes):
    ``freeze`` stops an environment between invocations (``worker.py``); ``lifecycle`` reclaims idle
    environments and retires old ones (``lifecycle.py``); ``sandbox`` gives each environment its own
    uid, read-only code and a sized ``TMPDIR`` (``sandbox.py``; ``"auto"`` uses it where it works).
    """

    def __init__(
        self,
        functions: list[FunctionSpec],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        worker_cap: int | None = None,
        live_cap: int | None = None,
        base_env: Mapping[str, str] | None = None,
        region: str | None = None,
        memory_enforcement: limits.MemoryEnforcement = "auto",
        cpu_shares: bool = True,
        cpu_enforcement: limits.CpuEnforcement = "auto",
        account_concurrency: int = ACCOUNT_CONCURRENCY,
        init_timeout_s: float = INIT_TIMEOUT_S,
        stop_grace_s: float = STOP_GRACE_S,
        log_sink: Callable[[str, str], None] | None = None,
        freeze: bool = True,
        lifecycle: Lifecycle | None = None,
        sandbox: SandboxMode = "auto",
    ) -> None:
        self.host = host
        self._port = port
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.region = (
            region or self.base_env.get("AWS_REGION") or self.base_env.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        self.memory_enforcement = limits.choose_enforcement(memory_enforcement)
        self.cpu_shares = cpu_shares
        self.cpu_fallback = limits.choose_cpu_enforcement(cpu_enforcement)
        self.cpu_governor = limits.CpuGovernor() if cpu_shares and self.cpu_fallback == "governor" else None
        self.cfs_dir = limits.service_cgroup_dir() if cpu_shares and self.cpu_fallback == "cfs-v1" else None
        self.account_concurrency = account_concurrency
        self.init_timeout_s = init_timeout_s
        self.stop_grace_s = stop_grace_s
        self._log_sink = log_sink
        self.freeze = freeze
        self.sandbox = Sandbox.create(sandbox)
        self.functions: dict[str, FunctionState] = {}
        for spec in functions:
            self.add_function(spec)
        cap = worker_cap or default_worker_cap()
        live = live_cap or max(cap, default_live_cap())
        self.pool = WorkerPool(cap, self._start_worker, self._is_current, lifecycle, max_live=live)
        self.logs: dict[str, deque[str]] = {}
        self._busy: set[Worker] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: Any = None
        self._stopping = False
        self.snapshots = Snapshots()

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._runner, self._port = await start_invoke_api(self, self.host, self._port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    async def stop(self) -> None:
        """Stop serving, then stop every worker (SIGTERM, SIGKILL after a grace period): none is left behind."""
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        idle = await self.pool.close()
        await asyncio.gather(*(worker.stop() for worker in [*idle, *self._busy]), return_exceptions=True)
        await self.pool.close()
        await self.snapshots.stop()  # after the environments forked from them
        if self.cpu_governor is not None:
            self.cpu_governor.close()
        if self.cfs_dir is not None:
            await limits.remove_cgroup_dir(self.cfs_dir)
        self.sandbox.close()

    # -- functions, versions, aliases ------------------------------------------------------------------------
    def add_function(self, spec: FunctionSpec) -> None:
        limit = spec.reserved_concurrency if spec.reserved_concurrency is not None else self.account_concurrency
        self.functions[spec.name] = FunctionState(spec, Admission(limit))

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def state(self, name: str) -> FunctionState:
        state = self.functions.get(name)
        if state is None:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name)}")
        return state

    def resolve(self, function_name: str, qualifier: str | None = None) -> Target:
        """Accept a name, ``name:qualifier``, a partial or a full ARN, as the Lambda API does."""
        name = function_name
        if name.startswith("arn:") or ":function:" in name:
            name = name.split(":function:", 1)[1]
        if ":" in name:
            name, embedded = name.split(":", 1)
            qualifier = qualifier or embedded
        state = self.state(name)
        qualifier = qualifier or LATEST
        if qualifier == LATEST or qualifier in state.versions:
            return Target(state, qualifier)
        if qualifier in state.aliases:
            return Target(state, state.aliases[qualifier]["FunctionVersion"])
        raise ResourceNotFound(f"Function not found: {self.function_arn(name, qualifier)}")

    def update_configuration(self, name: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """UpdateFunctionConfiguration for MemorySize, Timeout, Environment, EphemeralStorage, Description."""
        state = self.state(name)
        updates: dict[str, Any] = {}
        if "MemorySize" in changes:
            updates["memory_mb"] = validate_memory(changes["MemorySize"])
        if "Timeout" in changes:
            updates["timeout_s"] = validate_timeout(changes["Timeout"])
        if "Description" in changes:
            updates["description"] = str(changes["Description"])
        if "Environment" in changes:
            variables = (changes["Environment"] or {}).get("Variables", {})
            if not isinstance(variables, dict):
                raise InvalidParameterValue("Environment.Variables must map names to string values")
            updates["environment"] = dict(validate_environment(variables))
        if "EphemeralStorage" in changes:
            updates["ephemeral_storage_mb"] = validate_ephemeral((changes["EphemeralStorage"] or {}).get("Size"))
        known = {"MemorySize", "Timeout", "Environment", "EphemeralStorage", "Description", "FunctionName"}
        unknown = set(changes) - known
        if unknown:
            raise InvalidParameterValue(f"not supported by the local Lambda service: {', '.join(sorted(unknown))}")
        state.spec = dataclasses.replace(state.spec, **updates)
        state.generation += 1
        state.last_modified = _timestamp()
        state.revision = str(uuid.uuid4())
        self.pool.retire(lambda key: not self._is_current(key))  # new environments get the new configuration
        return self.configuration(name)

    def publish_version(self, name: str) -> dict[str, Any]:
        state = self.state(name)
        version = str(state.next_version)
        state.next_version += 1
        state.versions[version] = state.spec
        if state.spec.snap_start:  # SnapStart: the version is initialised once, now, and snapshotted
            self.snapshots.take((name, version), self._snapshot_template(name, version))
        return self.configuration(name, version)

    def _snapshot_template(self, name: str, version: str) -> SnapshotTemplate:
        """The version's template, in a sandbox environment of its own that its restored copies share."""
        spec = self.state(name).spec_for(version)
        sandboxed = self.sandbox.environment(f"snapshot-{uuid.uuid4().hex}", spec.ephemeral_storage_mb)
        env = worker_environment(spec, base_env=self.base_env, version=version, region=self.region)
        group = self.logs.setdefault(spec.name, deque(maxlen=LOG_LINES_KEPT))
        return SnapshotTemplate(
            sandboxed.wrap(spec.worker_command()),
            env | sandboxed.environment(),
            str(spec.code_root),
            function_arn=self.function_arn(name, version),
            init_timeout_s=self.init_timeout_s,
            log=group.append,
            on_stopped=lambda: self.sandbox.discard(sandboxed),
        )

    def delete_version(self, name: str, version: str) -> None:
        state = self.state(name)
        if version not in state.versions:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name, version)}")
        in_use = [alias for alias, config in state.aliases.items() if config["FunctionVersion"] == version]
        if in_use:
            raise InvalidParameterValue(f"version {version} is used by alias(es) {', '.join(in_use)}")
        del state.versions[version]
        self.pool.retire(lambda key: key[:2] == (name, version))
        self._track(self.snapshots.discard((name, version)))

    def put_alias(self, name: str, alias: str, version: str | None, description: str | None, create: bool) -> dict:
        state = self.state(name)
        if create and alias in state.aliases:
            raise InvalidParameterValue(f"Alias already exists: {self.function_arn(name, alias)}")
        if not create and alias not in state.aliases:
            raise ResourceNotFound(f"Alias not found: {self.function_arn(name, alias)}")
        current = state.aliases.get(alias, {"Description": ""})
        version = version or current.get("FunctionVersion")
        if version != LATEST and version not in state.versions:
            raise ResourceNotFound(f"Function not found: {self.function_arn(name, version)}")
        state.aliases[alias] = {
            "FunctionVersion": str(version),
            "Description": current["Description"] if description is None else description,
        }
        return self.alias_configuration(name, alias)

    def delete_alias(self, name: str, alias: str) -> None:
        if self.state(name).aliases.pop(alias, None) is None:
            raise ResourceNotFound(f"Alias not found: {self.function_arn(name, alias)}")

    def alias_configuration(self, name: str, alias: str) -> dict[str, Any]:
        state = self.state(name)
        if alias not in state.aliases:
            raise ResourceNotFound(f"Alias not found: {self.function_arn(name, alias)}")
        config = state.aliases[alias]
        return {
            "AliasArn": self.function_arn(name, alias),
            "Name": alias,
            "FunctionVersion": config["FunctionVersion"],
            "Description": config["Description"],
            "RevisionId": hashlib.sha256(f"{name}:{alias}:{config}".encode()).hexdigest()[:32],
        }

    def function_names(self) -> list[str]:
        return sorted(self.functions)

    def reserved_concurrency(self, name: str) -> int | None:
        return self.state(name).spec.reserved_concurrency

    def function_description(self, name: str, qualifier: str | None = None) -> dict[str, Any]:
        """GetFunction's answer: the configuration, where the code is, the reserved concurrency."""
        configuration = self.configuration(name, qualifier)
        state = self.state(configuration["FunctionName"])
        body: dict[str, Any] = {
            "Configuration": configuration,
            "Code": {"RepositoryType": "Local", "Location": str(state.spec.code_root)},
        }
        if state.spec.reserved_concurrency is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": state.spec.reserved_concurrency}
        return body

    def configuration(self, name: str, qualifier: str | None = None) -> dict[str, Any]:
        """GetFunctionConfiguration's answer for ``$LATEST``, a version or an alias."""
        target = self.resolve(name, qualifier)
        spec = target.spec
        code_sha = hashlib.sha256(f"{spec.code_root}:{spec.handler}".encode()).digest()
        return {
            "FunctionName": spec.name,
            "FunctionArn": self.function_arn(spec.name, None if target.version == LATEST else target.version),
            "Runtime": "python3.12",
            "Role": f"arn:aws:iam::{ACCOUNT_ID}:role/{spec.name}-role",
            "Handler": spec.handler,
            "CodeSize": 0,
            "Description": spec.description,
            "Timeout": int(math.ceil(spec.timeout_s)),
            "MemorySize": spec.memory_mb,
            "LastModified": target.state.last_modified,
            "CodeSha256": base64.b64encode(code_sha).decode(),
            "Version": target.version,
            "Environment": {"Variables": dict(spec.environment)},
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": target.state.revision,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
            "EphemeralStorage": {"Size": spec.ephemeral_storage_mb},
        }

    # -- invoking ------------------------------------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        payload: bytes,
        invocation_type: str = "RequestResponse",
        log_tail: bool = False,
        *,
        qualifier: str | None = None,
        client_context: str | None = None,
        client_address: tuple[str, int] | None = None,
    ) -> InvokeResult:
        """Invoke like the Lambda API; raises ``ResourceNotFound``, ``TooManyRequests``, ``RequestTooLarge``,
        ``InvalidRequestContent`` or ``InvalidParameterValue`` where AWS answers 4xx.

        The checks and the admission run without awaiting, so calls started in order queue in order.
        A caller that gives up (cancels) does not cut the invocation short: it runs on, as on AWS.
        ``client_address`` is the TCP peer of an Invoke API request: when it is one of this service's
        busy workers calling synchronously (a nested invocation), the call never waits for a worker.
        """
        target = self.resolve(name, qualifier)
        if invocation_type not in INVOCATION_TYPES:
            raise InvalidParameterValue(f"InvocationType must be one of {', '.join(INVOCATION_TYPES)}")
        payload = check_payload(payload, invocation_type)
        request_id = str(uuid.uuid4())
        if invocation_type == "DryRun":
            return InvokeResult(204, b"", None, None, request_id, False, 0.0, target.version)
        if invocation_type == "Event":
            self._track(self._run_event(target, payload, request_id))
            return InvokeResult(202, b"", None, None, request_id, False, 0.0, target.version)
        if not target.state.admission.try_enter():
            raise TooManyRequests()
        nested = client_address is not None and self._is_nested(target, client_address)
        run = self._track(self._run_admitted(target, Call(payload, request_id, log_tail, client_context, nested)))
        return await asyncio.shield(run)

    def _is_nested(self, target: Target, client_address: tuple[str, int]) -> bool:
        """A busy worker of this service is the caller (checked only when the call would have to wait)."""
        if not self._busy or not self.pool.would_wait(target.key):
            return False
        return worker_behind(client_address, self._port, list(self._busy)) is not None

    def _track(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_event(self, target: Target, payload: bytes, request_id: str) -> None:
        await target.state.admission.enter()
        await self._run_admitted(target, Call(payload, request_id))

    async def _run_admitted(self, target: Target, call: Call) -> InvokeResult:
        try:
            return await self._run(target, call)
        finally:
            target.state.admission.leave()

    async def _run(self, target: Target, call: Call) -> InvokeResult:
        request_id = call.request_id
        while True:
            worker, cold, report = await self._attempt(target, call)
            if report.delivered or cold:
                break
            # A warm worker died before taking the event (e.g. its runtime exited after answering the
            # previous one): Lambda would never hand the event to a dead environment, so try another.
        lines = self._log_invocation(worker, target, request_id, report, cold)
        tail = base64.b64encode("\n".join(lines).encode()[-LOG_TAIL_BYTES:]).decode() if call.log_tail else None
        outcome = report.outcome
        return InvokeResult(
            status_code=200,
            payload=outcome.payload,
            function_error="Unhandled" if outcome.is_error else None,
            log_tail=tail,
            request_id=request_id,
            cold_start=cold,
            duration_ms=report.duration_ms,
            executed_version=target.version,
        )

    async def _attempt(self, target: Target, call: Call) -> tuple[Worker, bool, RunReport]:
        """Run the event on one worker (cold or warm) and give the worker back to the pool."""
        worker, cold = await self.pool.acquire(target.key, call.nested)
        self._busy.add(worker)
        reusable = False
        try:
            failure = await worker.initialise(self.init_timeout_s) if cold else None
            if failure is not None:
                report = RunReport(failure, 0.0, worker.max_memory_mb(), worker.take_log(), False)
            else:
                report = await worker.run(call.request_id, call.payload, client_context=call.client_context)
            reusable = report.reusable
        finally:
            self._busy.discard(worker)
            self.pool.release(worker, reusable)
        return worker, cold, report

    def _log_invocation(
        self, worker: Worker, target: Target, request_id: str, report: RunReport, cold: bool
    ) -> list[str]:
        """START, the worker's own lines, END and REPORT, appended to the function's log group."""
        spec = worker.spec
        report_line = (
            f"REPORT RequestId: {request_id}\tDuration: {report.duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(report.duration_ms))} ms\tMemory Size: {spec.memory_mb} MB\t"
            f"Max Memory Used: {report.max_memory_mb} MB"
        )
        if cold and worker.init_duration_ms is not None and worker.restored:  # SnapStart's restore, not an init
            restore_ms = f"{worker.init_duration_ms:.2f}"
            report_line += (
                f"\tRestore Duration: {restore_ms} ms\tBilled Restore Duration: {math.ceil(float(restore_ms))} ms"
            )
        elif cold and worker.init_duration_ms is not None:
            report_line += f"\tInit Duration: {worker.init_duration_ms:.2f} ms"
        report_line += _report_status(report.outcome.error_type)
        lines = [
            f"START RequestId: {request_id} Version: {target.version}",
            *report.log_lines,
            f"END RequestId: {request_id}",
            report_line,
        ]
        group = self.logs.setdefault(spec.name, deque(maxlen=LOG_LINES_KEPT))
        group.extend(lines)
        if self._log_sink is not None:
            for line in (lines[0], *lines[-2:]):
                self._log_sink(spec.name, line)
        return lines

    # -- workers -------------------------------------------------------------------------------------------
    def _is_current(self, key: PoolKey) -> bool:
        name, version, generation = key
        state = self.functions.get(name)
        if state is None or self._stopping:
            return False
        if version == LATEST:
            return generation == str(state.generation)
        return version in state.versions

    async def _start_worker(self, key: PoolKey) -> Worker:
        name, version, _ = key
        state = self.state(name)
        if version != LATEST and version not in state.versions:  # deleted while the call waited for a worker
            raise ResourceNotFound(f"Function not found: {self.function_arn(name, version)}")
        spec = state.spec_for(version)
        env = worker_environment(spec, base_env=self.base_env, version=version, region=self.region)
        worker = Worker(
            spec,
            key,
            env=env,
            function_arn=self.function_arn(name, None if version == LATEST else version),
            memory_enforcement=self.memory_enforcement,
            cpu_shares=self.cpu_shares,
            cpu_fallback=self.cpu_fallback,
            governor=self.cpu_governor,
            cfs_parent=self.cfs_dir,
            log_sink=self._log_sink,
            stop_grace_s=self.stop_grace_s,
            sandbox=self.sandbox,
            freeze=self.freeze,
            restore_from=self.snapshots.get((name, version)),
        )
        await worker.start()
        worker.exited.add_done_callback(lambda _: self._on_worker_exit(worker))
        return worker

    def _on_worker_exit(self, worker: Worker) -> None:
        if worker not in self._busy:
            self.pool.forget_dead(worker)

    def live_worker_pids(self) -> list[int]:
        """Process ids of every worker still known (tests check none survives ``stop``)."""
        workers = [*self.pool.idle_workers(), *self._busy]
        return [worker.pid for worker in workers if worker.pid is not None and worker.alive]


def _report_status(error_type: str | None) -> str:
    """The ``Status`` AWS appends to REPORT when the environment, not the handler, failed the invocation."""
    if error_type == "Sandbox.Timedout":
        return "\tStatus: timeout"
    if error_type is not None and error_type.startswith(("Runtime.", "Function.")):
        return f"\tStatus: error\tError Type: {error_type}"
    return ""


def check_payload(payload: bytes, invocation_type: str = "RequestResponse") -> bytes:
    """AWS's checks before anything runs: at most 6 MB (1 MB for Event), and JSON (empty becomes ``{}``)."""
    limit = MAX_EVENT_PAYLOAD_BYTES if invocation_type == "Event" else MAX_PAYLOAD_BYTES
    if len(payload) > limit:
        raise RequestTooLarge(
            f"{len(payload)} byte payload is too large for the {invocation_type} invocation type (limit {limit} bytes)"
        )
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
    return payload
