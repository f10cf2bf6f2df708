"""Cold start as Lambda runs it: the FHR function from the deploy bundle against AWS's own runtime client.

Run: ``venv/bin/python -m benchmarks.bench_coldstart`` (``--quick`` for fewer rounds, ``--ideas`` for the
table of what each cold-start idea gives, ``--snapstart`` for the local SnapStart restore). Prints
``ours/peer``: the median Init Duration of ours over the peer's, measured alternately in one run.

What is timed is Lambda's Init Duration: from the runtime process's start to its first
``GET /2018-06-01/runtime/invocation/next`` on a minimal Runtime API server in this process (a raw
asyncio server that only answers what a runtime asks during init, so its own cost stays out of it).

How Lambda is reproduced:

- **Bundle**: built by :func:`bundler.build.build_bundle` exactly as ``fhr bundle`` builds it (variants
  for the ideas differ only in the bundler's options), the code zip unpacked to ``/var/task`` and the
  layer to ``/opt``.
- **Read-only code** (Python cannot cache bytecode there): every runtime process starts in its own
  private mount namespace (``unshare(CLONE_NEWNS)`` from the child, before ``exec``) where the sandbox's
  ``var`` and ``opt`` are bind-mounted read-only over ``/var`` and ``/opt``. Running as root, ``chmod``
  would not stop writes; a read-only mount does (``EROFS``), and the benchmark proves it twice: a probe
  write fails in the sandbox, and after the runs no file exists in it that the zips did not hold.
  ``PYTHONDONTWRITEBYTECODE`` is *not* set, so nothing but the mount prevents ``__pycache__`` writes.
- **Interpreter**: CPython 3.12 (pyenv's 3.12.1 here; Lambda runs python3.12) as ``python3`` on ``PATH``.
- **Managed runtime**: ``/var/runtime`` holds awslambdaric, boto3 and botocore (installed for the Lambda
  platform, precompiled as the managed runtime ships its SDK) and a ``bootstrap`` that does what the
  python3.12 runtime's does: exec ``$AWS_LAMBDA_EXEC_WRAPPER`` if set, else ``python3 -m awslambdaric``.
  Ours goes through our exec wrapper (``handlers/runtime/exec_wrapper.sh``) as deployed.
- **Environment**: only what Lambda sets (``AWS_LAMBDA_*``, ``AWS_REGION``, credentials, ``_HANDLER``,
  ``LAMBDA_TASK_ROOT``, ``PYTHONPATH=/var/runtime``, ...) plus the FHR function's own variables as the
  Pulumi program deploys them (``components.function.deployed_environment``), for both runtimes.
- **Peer**: awslambdaric with AWS's best-practice sync handler (module-level boto3 S3, DynamoDB and SQS
  clients, ``import numpy``), numpy in a precompiled layer at ``/opt/python``.

No network call happens during either init (clients are created, not used). The machine is shared: the
runtimes are started alternately (order flipped every round), and medians are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import write_report

REPO_ROOT = Path(__file__).resolve().parent.parent
WORK = REPO_ROOT / "build" / "bench-coldstart"
PEER_REQUIREMENTS = ("awslambdaric==4.2.2", "boto3==1.40.61", "numpy==2.4.6")
PEER_LAYER_PACKAGES = ("numpy", "numpy.libs")  # the peer's own layer; the rest is the managed runtime's SDK
PEER_HANDLER = "peer_handler.handler"
PEER_SOURCE = '''"""AWS's best practice: SDK clients at module level, reused by every invocation."""
import json

import boto3
import numpy as np

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"mean": float(np.mean([1.0, 2.0]))})}
'''
BOOTSTRAP = """#!/bin/sh
# What the managed python3.12 runtime's bootstrap does, for the benchmark: layers' documented Python
# paths importable, cd to the task root, then exec the exec wrapper if the function sets one (ours),
# else AWS's runtime client (the peer).
export PYTHONPATH="/opt/python/lib/python3.12/site-packages:/opt/python:$PYTHONPATH"
cd "$LAMBDA_TASK_ROOT" || exit 1
if [ -n "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec "$AWS_LAMBDA_EXEC_WRAPPER" python3 -m awslambdaric "$_HANDLER"
fi
exec python3 -m awslambdaric "$_HANDLER"
"""
FUNCTION_NAME = "fhr-dev-fhr"
INIT_LIMIT_S = 30.0

# -- the read-only Lambda layout, in a private mount namespace of the child ------------------------------

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else b"none"
    if _libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount {source} {target}: {os.strerror(code)}")


@dataclass(frozen=True)
class Sandbox:
    """A Lambda file layout: ``root/var`` becomes ``/var`` (``task``, ``runtime``), ``root/opt`` becomes ``/opt``."""

    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    def enter(self) -> None:
        """Runs in the child between fork and exec: private mounts, ``/var`` and ``/opt`` read-only."""
        if _libc.unshare(CLONE_NEWNS) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"unshare(CLONE_NEWNS): {os.strerror(code)}")
        _mount(None, "/", MS_REC | MS_PRIVATE)  # nothing done here propagates to the host
        for source, target in ((self.var, "/var"), (self.opt, "/opt")):
            _mount(str(source), target, MS_BIND | MS_REC)
            _mount(None, target, MS_BIND | MS_REMOUNT | MS_RDONLY)

    def files(self) -> set[str]:
        return {str(path.relative_to(self.root)) for path in self.root.rglob("*") if not path.is_dir()}


def _unzip(archive: Path, dest: Path) -> None:
    """Extract keeping the archive's permission bits (the exec wrapper must stay executable)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


# -- the two runtimes' file trees ----------------------------------------------------------------------


def lambda_python() -> Path:
    from bundler.bytecode import find_lambda_python

    python = find_lambda_python()
    if python is None:
        raise SystemExit("bench_coldstart needs CPython 3.12 (pyenv's 3.12.x, python3.12, or FHR_LAMBDA_PYTHON)")
    return python


def managed_runtime(python: Path) -> Path:
    """awslambdaric + boto3 (+ numpy for the peer's layer) for the Lambda platform, precompiled; cached."""
    from bundler.build import PIP_PLATFORM_ARGS
    from bundler.bytecode import compile_tree

    key = hashlib.sha256("\0".join((*PEER_REQUIREMENTS, *PIP_PLATFORM_ARGS)).encode()).hexdigest()[:16]
    cache = WORK / f"managed-runtime-{key}"
    if not (cache / "complete").is_file():
        shutil.rmtree(cache, ignore_errors=True)
        site = cache / "site"
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--target", str(site), *PIP_PLATFORM_ARGS, *PEER_REQUIREMENTS]  # fmt: skip
        subprocess.run(cmd, check=True)
        (cache / "runtime").mkdir()
        (cache / "layer").mkdir()
        for entry in site.iterdir():
            if entry.name == "bin":
                continue
            part = "layer" if entry.name.split("-")[0] in PEER_LAYER_PACKAGES else "runtime"
            shutil.move(str(entry), cache / part / entry.name)
        compile_tree(python, cache / "runtime", "/var/runtime")
        compile_tree(python, cache / "layer", "/opt/python")
        (cache / "complete").write_text(key)
    return cache


def _install_runtime(sandbox: Sandbox, managed: Path) -> None:
    shutil.copytree(managed / "runtime", sandbox.var / "runtime")
    bootstrap = sandbox.var / "runtime" / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    bootstrap.chmod(0o755)


def our_sandbox(root: Path, manifest: Any, managed: Path) -> Sandbox:
    """Our bundle as Lambda lays it out: code zip in /var/task, layer zip in /opt, managed runtime in /var/runtime."""
    sandbox = Sandbox(root)
    _unzip(manifest.code_path, sandbox.var / "task")
    sandbox.opt.mkdir(parents=True)
    if manifest.layer_path is not None:
        _unzip(manifest.layer_path, sandbox.opt)
    _install_runtime(sandbox, managed)
    return sandbox


def peer_sandbox(root: Path, managed: Path) -> Sandbox:
    sandbox = Sandbox(root)
    (sandbox.var / "task").mkdir(parents=True)
    (sandbox.var / "task" / "peer_handler.py").write_text(PEER_SOURCE)
    shutil.copytree(managed / "layer", sandbox.opt / "python")
    _install_runtime(sandbox, managed)
    return sandbox


def build_variant(name: str, **options: Any) -> Any:
    """The bundle ``fhr bundle`` builds, or a variant of it with some bundler options changed."""
    from bundler.build import BundleSources, build_bundle

    return build_bundle(WORK / "bundles" / name, BundleSources(**options))


# -- a minimal Runtime API ---------------------------------------------------------------------------


class MiniRuntimeApi:
    """Just enough of the Runtime API for init: records when ``/next`` first arrives, then holds it.

    ``/init/error`` is recorded (and answered 202) so a failing init is reported, not timed.
    ``/restore/next`` answers at once (a SnapStart environment restored straight away). With an ``event``,
    the first ``/next`` is answered with it and the time its answer arrives is kept (``answered_at``).
    """

    def __init__(self, event: bytes | None = None) -> None:
        self.first_next_at: float | None = None
        self.arrived = asyncio.Event()
        self.init_error: bytes | None = None
        self.event = event
        self.answered = asyncio.Event()
        self.answered_at: float | None = None
        self.answer: bytes = b""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    @property
    def address(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.perf_counter()
                method, path = head.split(b" ", 2)[:2]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if path.endswith(b"/invocation/next"):
                    first = self.first_next_at is None
                    if first:
                        self.first_next_at = now
                    self.arrived.set()
                    if not (first and self.event is not None):
                        await asyncio.Event().wait()  # a long poll that is never answered
                    writer.write(_event_response(self.event or b"{}"))
                    await writer.drain()
                    continue
                if b"/invocation/" in path:  # the answer (a response or an error) to the one event
                    self.answered_at, self.answer = now, body
                    self.answered.set()
                if path.endswith(b"/init/error"):
                    self.init_error = body or b"(no body)"
                    self.arrived.set()
                status = b"200 OK" if method == b"GET" else b"202 Accepted"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()

    async def wait_answer(self, timeout_s: float = INIT_LIMIT_S) -> float:
        await asyncio.wait_for(self.answered.wait(), timeout_s)
        assert self.answered_at is not None
        return self.answered_at

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)


def _event_response(event: bytes) -> bytes:
    deadline = int((time.time() + 30) * 1000)
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Lambda-Runtime-Aws-Request-Id: bench-0001\r\n"
        f"Lambda-Runtime-Deadline-Ms: {deadline}\r\n"
        f"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION_NAME}\r\n"
        f"Content-Length: {len(event)}\r\n\r\n"
    )
    return head.encode() + event


def api_event() -> bytes:
    """``GET /fhr`` without a filename, as the front door sends it: the handler's quickest real answer (400)."""
    from localcloud.frontdoor import payload_v2_event

    event = payload_v2_event(
        route_key="GET /fhr", method="GET", raw_path="/fhr", raw_query="", headers={}, domain="bench.local",
        source_ip="127.0.0.1", user_agent="bench", protocol="HTTP/1.1", request_id="bench", api_id="bench",
    )  # fmt: skip
    return json.dumps(event).encode()


# -- one cold start ------------------------------------------------------------------------------------


def lambda_environment(python: Path, handler: str, runtime_api: str, extra: dict[str, str]) -> dict[str, str]:
    """What Lambda's python3.12 runtime gives a function, plus the function's own variables."""
    region = "eu-west-1"
    return {
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": "/var/runtime",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/06/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "ASIABENCHCOLDSTART00",
        "AWS_SECRET_ACCESS_KEY": "bench/coldstart/secret/key/not/used/for/anything",
        "AWS_SESSION_TOKEN": "bench-session-token",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        **extra,
    }


def fhr_function_environment() -> dict[str, str]:
    """The FHR function's variables as the Pulumi program deploys them (dev stack, its names)."""
    from components.function import FunctionSettings, deployed_environment
    from fhrapp.config import load_stack_file
    from fhrapp.definition import APP

    names = {
        "ecg_bucket": "fhr-dev-ecg-bucket-0123456",
        "results_table": "fhr-dev-results_table",
        "jobs_queue": "https://sqs.eu-west-1.amazonaws.com/123456789012/fhr-dev-jobs_queue",
    }
    stack = load_stack_file("dev")
    settings = FunctionSettings("dev", stack.function("fhr"), stack.log_retention_days, stack.auth.tenancy)
    return deployed_environment(APP, APP.function("fhr"), settings, names)


@dataclass
class Case:
    """One way of starting a runtime: which sandbox, which handler, which extra variables."""

    name: str
    sandbox: Sandbox
    handler: str
    extra_env: dict[str, str] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    event: bytes | None = None  # when set, its first answer is timed too (``responses``)
    responses: list[float] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """Time the process has spent on a CPU (``/proc/<pid>/schedstat``, ns): robust to other load."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


async def cold_start(case: Case, python: Path, log_dir: Path) -> float:
    """Start the runtime, return seconds to its first ``/next``; a runtime that fails init raises.

    The process's CPU time at that moment (it is then blocked on ``/next``) goes to ``case.cpu``.
    """
    api = MiniRuntimeApi(case.event)
    await api.start()
    env = lambda_environment(python, case.handler, api.address, case.extra_env)
    log = log_dir / f"{case.name}.log"
    with log.open("wb") as sink:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            "/var/runtime/bootstrap",  # as seen inside the sandbox
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            preexec_fn=case.sandbox.enter,
            start_new_session=True,
        )
        try:
            exited = asyncio.ensure_future(proc.wait())
            arrived = asyncio.ensure_future(api.arrived.wait())
            await asyncio.wait({exited, arrived}, timeout=INIT_LIMIT_S, return_when=asyncio.FIRST_COMPLETED)
            arrived.cancel()
            exited.cancel()
            if api.first_next_at is None:
                detail = (api.init_error or b"")[:500].decode(errors="replace")
                tail = log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{case.name}: no /next (exit {proc.returncode}); init error {detail!r}\n{tail}")
            case.cpu.append(cpu_seconds(proc.pid))
            if case.event is not None:
                case.responses.append(await api.wait_answer() - started)
            return api.first_next_at - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            await api.stop()


async def measure(cases: Sequence[Case], rounds: int, python: Path, log_dir: Path) -> None:
    """``rounds`` cold starts per case, alternating cases (order reversed every other round)."""
    for round_number in range(rounds):
        order = list(cases) if round_number % 2 == 0 else list(reversed(cases))
        for case in order:
            case.times.append(await cold_start(case, python, log_dir))


def ratio(ours: Sequence[float], base: Sequence[float]) -> float:
    return round(statistics.median(ours) / statistics.median(base), 3)


def summary(case: Case) -> dict[str, float]:
    ordered = sorted(case.times)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "cpu_median_ms": round(statistics.median(case.cpu) * 1000, 1),
        "runs": len(ordered),
        **({"first_response_median_ms": round(statistics.median(case.responses) * 1000, 1)} if case.responses else {}),
    }


# -- proofs that the layout is what Lambda gives ---------------------------------------------------------


def check_read_only(sandbox: Sandbox, python: Path) -> dict[str, str]:
    """Try to write where Python would cache bytecode, inside the sandbox: each must fail with EROFS."""
    probe = (
        "import errno, json, sys\nout = {}\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n        open(path, 'w').close(); out[path] = 'WRITABLE'\n"
        "    except OSError as exc:\n        out[path] = errno.errorcode.get(exc.errno, str(exc.errno))\n"
        "print(json.dumps(out))"
    )
    targets = ["/var/task/handlers/__pycache__/probe.pyc", "/opt/python/__pycache__/probe.pyc", "/var/task/probe"]
    proc = subprocess.run(
        [str(python), "-c", probe, *targets],
        preexec_fn=sandbox.enter,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    result: dict[str, str] = json.loads(proc.stdout)
    bad = {path: got for path, got in result.items() if got != errno.errorcode[errno.EROFS]}
    if bad:
        raise SystemExit(f"the sandbox is not read-only: {bad}")
    return result


# -- the ideas -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Idea:
    """Ours with one cold-start idea undone (or swapped): how much that idea is worth.

    ``bundle``: other bundler options; ``env``: other runtime variables; ``edits``: (file under
    /var/task, old text, new text) applied to the unpacked code, whose bytecode is then recompiled.
    """

    name: str
    what: str
    bundle: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    edits: tuple[tuple[str, str, str], ...] = ()


CLIENTS = "handlers/api/clients.py"
IDEAS = (
    Idea("no-bytecode", "the bundle without .pyc (every import compiles)", bundle={"python": None}),
    Idea("all-sdk-data", "the layer with botocore's data for every AWS service", bundle={"botocore_services": None}),
    Idea(
        "aioboto3-session",
        "clients from aioboto3.Session (imports boto3, s3transfer; boto3's handlers in every client)",
        edits=(
            (CLIENTS, "self._session = get_session()", "self._session = __import__('aioboto3').Session()"),
            (CLIENTS, "self._session.create_client(", "self._session.client("),
        ),
    ),  # fmt: skip
    Idea(
        "eager-aiohttp-ca",
        "aiohttp imported plainly: its two default TLS contexts load the CA bundle at import",
        edits=((CLIENTS, "        import_aiohttp()", "        pass"),),
    ),
    Idea(
        "eager-sqs",
        "init() opens the SQS client too (only deferred and batch jobs use it)",
        edits=(("handlers/api/fhr.py", 'open_services("s3", "dynamodb")', 'open_services("s3", "dynamodb", "sqs")'),),
    ),
    Idea("asyncio-loop", "asyncio's own event loop instead of uvloop", env={"FHR_RUNTIME_LOOP": "asyncio"}),
)


# -- SnapStart, emulated as the local cloud does ------------------------------------------------------------


async def bundle_restores(sandbox: Sandbox, python: Path, extra_env: dict[str, str], rounds: int) -> dict[str, Any]:
    """The bundle under SnapStart emulation: initialised once in its sandbox (the template), every
    environment a fork of it (``localcloud/lambda_service/snapstart.py``, the local cloud's code path).

    Timed per restore: from the restore request to the environment's first ``/next`` (AWS's Restore
    Duration), and to its answer to the first event; and its CPU time at ``/next``.
    """
    from localcloud.lambda_service.snapstart import SnapshotTemplate

    # localcloud (the restorer) from this checkout, after the bundle's own paths (the wrapper puts those first)
    env = lambda_environment(
        python, "handlers.api.fhr.handler", "", {**extra_env, "PYTHONPATH": f"/var/runtime:{REPO_ROOT}"}
    )
    lines: list[str] = []
    arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION_NAME}:1"
    template = SnapshotTemplate(
        ["/var/runtime/bootstrap"], env, "/", function_arn=arn,
        init_timeout_s=INIT_LIMIT_S, log=lines.append, preexec_fn=sandbox.enter,
    )  # fmt: skip
    await template.start()
    try:
        await template.ready
    except Exception as exc:
        raise RuntimeError(f"the snapshot failed: {exc}\n" + "\n".join(lines[-20:])) from None
    restores, responses, cpu = [], [], []
    try:
        for _ in range(rounds):
            api = MiniRuntimeApi(api_event())
            await api.start()
            started = time.perf_counter()
            process = await template.restore({"AWS_LAMBDA_RUNTIME_API": api.address})
            try:
                await asyncio.wait_for(api.arrived.wait(), INIT_LIMIT_S)
                assert api.first_next_at is not None
                restores.append(api.first_next_at - started)
                cpu.append(cpu_seconds(process.pid))
                responses.append(await api.wait_answer() - started)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                await api.stop()
    finally:
        await template.stop()
    return {
        "template_init_ms": round(template.init_duration_ms or 0.0, 1),
        "restore_to_next_median_ms": round(statistics.median(restores) * 1000, 1),
        "restore_to_first_response_median_ms": round(statistics.median(responses) * 1000, 1),
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
        "restores": len(restores),
        "_times": restores,
        "_responses": responses,
    }


async def local_service_restores(rounds: int) -> dict[str, Any]:
    """The local Lambda service (this checkout, the dev venv's Python) running the FHR function twice,
    with and without SnapStart: a cold start's init vs a restore's way to the first response, per round
    a fresh environment of each (item 4's goal: restore to first response <= 0.1 x cold init)."""
    from localcloud.lambda_service import FunctionSpec, LambdaService

    env = {
        **fhr_function_environment(),
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    env.pop("AWS_LAMBDA_EXEC_WRAPPER")
    specs = [
        FunctionSpec(name=name, handler="handlers.api.fhr.handler", memory_mb=1769, timeout_s=29,
                     environment=env, code_root=REPO_ROOT, snap_start=name == "fhr-snap")
        for name in ("fhr-cold", "fhr-snap")
    ]  # fmt: skip
    service = LambdaService(specs, memory_enforcement="rss", worker_cap=4)
    await service.start()
    event = api_event()
    init_ms, cold_response_ms, restore_ms, restore_response_ms = [], [], [], []
    try:
        for name in ("fhr-cold", "fhr-snap"):
            service.publish_version(name)
        snapshot = service.snapshots.get(("fhr-snap", "1"))
        assert snapshot is not None
        await snapshot.ready  # invoked once the version is Active (its snapshot taken), as on AWS
        for _ in range(rounds):
            for name in ("fhr-cold", "fhr-snap"):
                started = time.perf_counter()
                result = await service.invoke(name, event, qualifier="1", log_tail=True)
                elapsed = (time.perf_counter() - started) * 1000
                report = [line for line in service.logs[name] if line.startswith("REPORT")][-1]
                assert result.cold_start and result.function_error is None, result.payload[:300]
                if name == "fhr-cold":
                    init_ms.append(float(report.split("Init Duration: ")[1].split(" ms")[0]))
                    cold_response_ms.append(elapsed)
                else:
                    restore_ms.append(float(report.split("Restore Duration: ")[1].split(" ms")[0]))
                    restore_response_ms.append(elapsed)
            service.pool.retire(lambda key: True)  # every round starts from new environments
            await asyncio.sleep(0.3)
        template_init = snapshot.init_duration_ms
    finally:
        await service.stop()
    cold_init = statistics.median(init_ms)
    return {
        "python": sys.version.split()[0],
        "cold_init_median_ms": round(cold_init, 1),
        "cold_first_response_median_ms": round(statistics.median(cold_response_ms), 1),
        "snapshot_init_ms": round(template_init or 0.0, 1),
        "restore_median_ms": round(statistics.median(restore_ms), 1),
        "restore_to_first_response_median_ms": round(statistics.median(restore_response_ms), 1),
        "restore_to_first_response_over_cold_init": round(statistics.median(restore_response_ms) / cold_init, 3),
        "rounds": rounds,
    }


def apply_edits(sandbox: Sandbox, edits: Sequence[tuple[str, str, str]], python: Path) -> None:
    """Change the unpacked code (each old text must be there) and recompile its bytecode as the bundler does."""
    from bundler.bytecode import compile_tree

    for relative, old, new in edits:
        path = sandbox.var / "task" / relative
        source = path.read_text()
        if old not in source:
            raise SystemExit(f"idea edit out of date: {old!r} is not in {relative}")
        path.write_text(source.replace(old, new))
    compile_tree(python, sandbox.var / "task" / "handlers", "/var/task/handlers")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    python = lambda_python()
    managed = managed_runtime(python)
    figures: dict[str, Any] = {"python": str(python), "machine_cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        root = Path(tmp)
        logs = root / "logs"
        logs.mkdir()
        shipped = build_variant("shipped")
        figures["bundle"] = {
            "code_sha256": shipped.code.sha256,
            "layer_sha256": shipped.layer.sha256 if shipped.layer else None,
            "unzipped_mb": round(shipped.total_unzipped_bytes / 1e6, 2),
            "bytecode": shipped.code.bytecode,
        }
        function_env = fhr_function_environment()
        event = api_event() if args.snapstart else None
        ours = Case(
            "ours", our_sandbox(root / "ours", shipped, managed), "handlers.api.fhr.handler", function_env, event=event
        )
        peer_env = {key: value for key, value in function_env.items() if key != "AWS_LAMBDA_EXEC_WRAPPER"}
        peer = Case("peer", peer_sandbox(root / "peer", managed), PEER_HANDLER, peer_env, event=event)
        cases = [ours, peer]
        if args.ideas:
            for idea in IDEAS:
                manifest = build_variant(idea.name, **idea.bundle) if idea.bundle else shipped
                sandbox = (
                    our_sandbox(root / idea.name, manifest, managed) if idea.bundle or idea.edits else ours.sandbox
                )
                apply_edits(sandbox, idea.edits, python)
                cases.append(Case(idea.name, sandbox, ours.handler, {**function_env, **idea.env}))
        figures["read_only_probe"] = check_read_only(ours.sandbox, python)
        before = {case.name: case.sandbox.files() for case in cases}
        await measure(cases, args.rounds, python, logs)
        written = [path for case in cases for path in sorted(case.sandbox.files() - before[case.name])]
        figures["files_written_in_sandboxes"] = len(written)
        if written:
            raise SystemExit(f"a runtime wrote into its read-only sandbox: {written[:5]}")
        for case in cases:
            figures[case.name] = summary(case)
        figures["ours_over_peer"] = ratio(ours.times, peer.times)
        figures["ours_over_peer_cpu"] = ratio(ours.cpu, peer.cpu)
        if args.snapstart:
            restored = await bundle_restores(ours.sandbox, python, function_env, args.rounds)
            times, responses = restored.pop("_times"), restored.pop("_responses")
            restored["restore_over_peer_init"] = ratio(times, peer.times)
            restored["restore_over_ours_cold_init"] = ratio(times, ours.times)
            restored["first_response_over_ours_cold_first_response"] = ratio(responses, ours.responses)
            figures["snapstart_bundle"] = restored
            figures["snapstart_local_service"] = await local_service_restores(max(3, args.rounds // 2))
        if args.ideas:
            figures["ideas"] = {
                idea.name: {
                    "what": idea.what,
                    "over_peer": ratio(case.times, peer.times),
                    "over_ours_shipped": ratio(case.times, ours.times),
                    "cpu_over_ours_shipped": ratio(case.cpu, ours.cpu),
                }
                for idea, case in zip(IDEAS, cases[2:], strict=True)
            }
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="cold starts per case (default 15)")
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--ideas", action="store_true", help="also measure each cold-start idea separately")
    parser.add_argument(
        "--snapstart", action="store_true", help="also the SnapStart emulation (bundle and local service)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 5
    if os.geteuid() != 0:
        raise SystemExit("bench_coldstart needs root for its read-only mount namespaces (unshare + bind mounts)")
    figures = asyncio.run(run(args))
    write_report("bench_coldstart", figures)
    print(f"ours/peer = {figures['ours_over_peer']} (CPU time to the first /next: {figures['ours_over_peer_cpu']})")
    if "snapstart_bundle" in figures:
        print(f"ours restored (SnapStart emulation)/peer = {figures['snapstart_bundle']['restore_over_peer_init']}")
        local = figures["snapstart_local_service"]
        ratio_local = local["restore_to_first_response_over_cold_init"]
        print(f"local service: restore to first response / cold init = {ratio_local}")


if __name__ == "__main__":
    main()
