"""SnapStart, emulated: each published version is initialised once, and environments are forked from it.

On AWS, publishing a version of a SnapStart function initialises it once, snapshots the initialised
execution environment, and later *restores* environments from that snapshot instead of initialising
them. Here the snapshot is a process: a runtime started with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``
runs init and its before-snapshot hooks, then (instead of waiting on ``/restore/next``) calls
:func:`serve_restores`, named to it by ``FHR_SNAPSTART_RESTORER`` (see ``handlers.runtime.snapstart``).
That is the **template**: it waits for restore requests on a control socket and answers each with
``fork()``. The child is the restored environment: it leaves the template's session, takes the pipes the
service sent for its output, gets its own Runtime API address, returns into the runtime, which asks its
own ``/restore/next`` (answered at once), runs the after-restore hooks (new random streams, new network
clients) and serves. A restore is a fork plus the after-restore hooks: tens of milliseconds instead of
an init (``benchmarks/bench_coldstart.py --snapstart``).

The service side: :class:`Snapshots` keeps one :class:`SnapshotTemplate` per published version of a
``snap_start`` function (started when the version is published, stopped when it is deleted or the service
stops); the pool's workers for that version are started with ``restore_from=`` their template, and
:class:`RestoredProcess` stands in for the asyncio process they would otherwise spawn. The template
is the forked processes' parent, so it reaps them and reports their exit status on the control socket.

Where this differs from AWS (what a fork cannot copy):
- threads do not survive ``fork()``: init must leave none running at the snapshot (the runtime closes
  its event loop and executors before it; numpy's BLAS threads restart after a fork by themselves);
- restored environments share the template's files (``/tmp`` included) where AWS restores each from a
  copy of the snapshot's disk;
- ``$LATEST`` is never snapshotted (as on AWS); a template whose init fails fails every restore of its
  version with that init error (AWS marks the version ``Failed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

RESTORER = "localcloud.lambda_service.snapstart:serve_restores"
RESTORER_VARIABLE = "FHR_SNAPSTART_RESTORER"
CONTROL_FD_VARIABLE = "FHR_SNAPSTART_CONTROL_FD"
MAX_MESSAGE = 64 * 1024
# SnapStart functions see neither (AWS: "not available in Lambda SnapStart functions").
HIDDEN_VARIABLES = ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME")


# -- the template's side: runs inside the runtime process, between init and /restore/next ----------------


def serve_restores() -> None:
    """Fork a restored environment for each request on the control socket; returns only in the children.

    The template itself never returns: when the service closes the socket it exits.
    """
    control = socket.socket(fileno=int(os.environ.pop(CONTROL_FD_VARIABLE)))
    control.setblocking(True)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears of every exit
    # Everything init made is moved out of the collector's reach: a collection in a restored environment
    # would otherwise touch (and so copy) every page of the snapshot's objects.
    gc.freeze()
    _send(control, {"ready": os.getpid()})
    while True:
        readable, _, _ = select.select([control.fileno(), wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
            _report_exits(control)
        if control.fileno() not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 2)
        if not message:  # the service is gone, or stopped this snapshot
            os._exit(0)
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_restored(request, fds, control, (wake_read, wake_write))
            return
        for fd in fds:
            os.close(fd)
        _send(control, {"forked": request["restore"], "pid": pid})


def _become_restored(request: dict[str, Any], fds: list[int], control: socket.socket, wake: tuple[int, int]) -> None:
    """In the child: leave the template's session, take the service's pipes and the new environment."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in wake:
        os.close(fd)
    control.close()
    os.setsid()  # its own process group: the service stops and freezes it as any environment
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in (null, *fds):
        os.close(fd)
    os.environ.pop(RESTORER_VARIABLE, None)
    for name, value in request["env"].items():
        os.environ[name] = value


def _report_exits(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _send(control: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    socket.send_fds(control, [json.dumps(message).encode()], fds or [])


# -- the service's side ------------------------------------------------------------------------------


class SnapshotFailed(RuntimeError):
    """The version's template could not be initialised; ``error_type``/``payload`` are its init error."""

    def __init__(self, error_type: str, payload: bytes) -> None:
        super().__init__(f"{error_type}: {payload[:300]!r}")
        self.error_type = error_type
        self.payload = payload


class RestoredProcess:
    """What a worker needs of its process, for one forked from a template (asyncio's Process duck type)."""

    def __init__(self, pid: int, stdout: asyncio.StreamReader, stderr: asyncio.StreamReader) -> None:
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def exited(self, code: int) -> None:
        if not self._exited.done():
            self.returncode = code
            self._exited.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)


class SnapshotTemplate:
    """One published version, initialised once: the process every restore of that version is forked from."""

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        cwd: str,
        *,
        function_arn: str,
        init_timeout_s: float,
        log: Callable[[str], None],
        preexec_fn: Callable[[], None] | None = None,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        """``preexec_fn`` runs in the template's process before it executes (a benchmark's sandbox);
        ``on_stopped`` once the template is gone (its sandbox's directory can go)."""
        self._command = command
        self._preexec_fn = preexec_fn
        self._on_stopped = on_stopped
        self._env = {name: value for name, value in env.items() if name not in HIDDEN_VARIABLES}
        self._cwd = cwd
        self._function_arn = function_arn
        self._init_timeout_s = init_timeout_s
        self._log = log
        self._control: socket.socket | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._server: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._forks: dict[int, asyncio.Future[int]] = {}
        self._restored: dict[int, RestoredProcess] = {}
        self._ids = itertools.count(1)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.init_duration_ms: float | None = None
        self.restores = 0

    async def start(self) -> None:
        """Start the template and wait until it is initialised; a failure is kept in ``ready``."""
        from localcloud.lambda_service.runtime_api import RuntimeApiServer

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        ours.setblocking(False)
        asyncio.get_running_loop().add_reader(ours, self._on_message)
        self._server = RuntimeApiServer(function_arn=self._function_arn)
        await self._server.start()
        env = {
            **self._env,
            "AWS_LAMBDA_RUNTIME_API": self._server.address,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
            RESTORER_VARIABLE: RESTORER,
            CONTROL_FD_VARIABLE: str(theirs.fileno()),
        }
        started = time.perf_counter()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._command,
                env=env,
                cwd=self._cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                preexec_fn=self._preexec_fn,
            )
        except OSError as exc:
            self._fail("Runtime.InvalidEntrypoint", str(exc).encode())
            return
        finally:
            theirs.close()
        assert self._process.stdout is not None and self._process.stderr is not None
        self._tasks = [
            asyncio.ensure_future(self._pump(stream)) for stream in (self._process.stdout, self._process.stderr)
        ]
        await self._await_init(started)

    async def _await_init(self, started: float) -> None:
        assert self._process is not None and self._server is not None
        exited = asyncio.ensure_future(self._process.wait())
        init_error = asyncio.ensure_future(asyncio.shield(self._server.init_error))
        done, _ = await asyncio.wait(
            {self.ready, exited, init_error}, timeout=self._init_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        exited.cancel()
        init_error.cancel()
        if self.ready.done():
            self.init_duration_ms = (time.perf_counter() - started) * 1000
            return
        if self._server.init_error.done():
            failure = self._server.init_error.result()
            self._fail(failure.error_type, failure.payload)
        elif not done:
            self._fail("Runtime.InitTimeout", f"the snapshot's init took over {self._init_timeout_s:.0f} s".encode())
        else:
            self._fail("Runtime.ExitError", f"the snapshot's runtime exited with {self._process.returncode}".encode())
        await self.stop()

    def _fail(self, error_type: str, payload: bytes) -> None:
        self._log(f"SnapStart: snapshot failed: {error_type}")
        if not self.ready.done():
            self.ready.set_exception(SnapshotFailed(error_type, payload))
            self.ready.exception()  # retrieved: restores re-raise it, an unused version logs nothing

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self._log(line.decode("utf-8", "replace").rstrip("\n"))

    def _on_message(self) -> None:
        assert self._control is not None
        while True:
            try:
                message, _, _, _ = socket.recv_fds(self._control, MAX_MESSAGE, 0)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message = b""
            if not message:
                self._template_gone()
                return
            event = json.loads(message)
            if "ready" in event and not self.ready.done():
                self.ready.set_result(None)
            elif "forked" in event:
                future = self._forks.pop(event["forked"], None)
                if future is not None and not future.done():
                    future.set_result(event["pid"])
            elif "exited" in event and event["exited"] in self._restored:
                self._restored.pop(event["exited"]).exited(event["code"])

    def _template_gone(self) -> None:
        """The template exited: no more restores, and nobody reports its children's exits any more."""
        loop = asyncio.get_running_loop()
        if self._control is not None:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self._control)
        for future in self._forks.values():
            if not future.done():
                future.set_exception(SnapshotFailed("Runtime.ExitError", b"the snapshot's runtime exited"))
        self._forks.clear()
        for pid, process in list(self._restored.items()):
            self._watch_orphan(pid, process)
        self._restored.clear()

    def _watch_orphan(self, pid: int, process: RestoredProcess) -> None:
        """Without its reaper, an environment's end is seen through a pidfd (its exit code is lost)."""
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            process.exited(-signal.SIGKILL)
            return
        loop = asyncio.get_running_loop()

        def gone() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            process.exited(-signal.SIGKILL)

        loop.add_reader(pidfd, gone)

    async def restore(self, env: Mapping[str, str]) -> RestoredProcess:
        """Fork a restored environment with ``env`` (its Runtime API address) set; raises ``SnapshotFailed``."""
        await asyncio.shield(self.ready)
        assert self._control is not None
        loop = asyncio.get_running_loop()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        request_id = next(self._ids)
        forked: asyncio.Future[int] = loop.create_future()
        self._forks[request_id] = forked
        try:
            _send(self._control, {"restore": request_id, "env": dict(env)}, [out_write, err_write])
        finally:
            os.close(out_write)
            os.close(err_write)
        try:
            pid = await asyncio.wait_for(forked, self._init_timeout_s)
        except BaseException:
            os.close(out_read)
            os.close(err_read)
            raise
        process = RestoredProcess(pid, await _reader(out_read), await _reader(err_read))
        self._restored[pid] = process
        self.restores += 1
        return process

    async def stop(self) -> None:
        """Close the control socket (the template exits), then make sure it did. Environments forked from it
        live on until the service stops them; their ends are then seen through pidfds."""
        loop = asyncio.get_running_loop()
        if self._control is not None:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self._control)
            self._control.close()
            self._control = None
            self._template_gone()
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                await self._process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._on_stopped is not None:
            self._on_stopped()
            self._on_stopped = None
        if not self.ready.done():
            self.ready.set_exception(SnapshotFailed("Runtime.ExitError", b"the snapshot was stopped"))
            self.ready.exception()


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    return reader


class Snapshots:
    """The service's templates, one per (function, published version) of a ``snap_start`` function."""

    def __init__(self) -> None:
        self._templates: dict[tuple[str, str], SnapshotTemplate] = {}
        self._starting: set[asyncio.Task[None]] = set()

    def take(self, key: tuple[str, str], template: SnapshotTemplate) -> None:
        """Initialise ``template`` now, in the background (publishing does not wait, as on AWS)."""
        self._templates[key] = template
        task = asyncio.ensure_future(template.start())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    def get(self, key: tuple[str, str]) -> SnapshotTemplate | None:
        return self._templates.get(key)

    async def discard(self, key: tuple[str, str]) -> None:
        template = self._templates.pop(key, None)
        if template is not None:
            await template.stop()

    async def stop(self) -> None:
        for task in list(self._starting):
            task.cancel()
        await asyncio.gather(*self._starting, return_exceptions=True)
        templates, self._templates = list(self._templates.values()), {}
        await asyncio.gather(*(template.stop() for template in templates), return_exceptions=True)
