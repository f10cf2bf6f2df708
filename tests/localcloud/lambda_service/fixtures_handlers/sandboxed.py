"""What a handler finds of its sandbox: who it runs as, where it may write, how big its /tmp is."""

from __future__ import annotations

import errno
import importlib
import os
import sys
import tempfile


def _attempt(action) -> str | None:
    """None when ``action`` worked, else the errno name it failed with."""
    try:
        action()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))
    return None


def _touch(directory: str) -> None:
    with open(os.path.join(directory, "written-by-handler"), "w") as handle:
        handle.write("x")


def _fill(directory: str, megabytes: int) -> None:
    with open(os.path.join(directory, "filler"), "wb") as handle:
        for _ in range(megabytes):
            handle.write(b"\0" * (1024 * 1024))
            handle.flush()
            os.fsync(handle.fileno())


def report(event, context):
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    tmp = tempfile.gettempdir()
    stats = os.statvfs(tmp)
    answer = {
        "uid": os.getuid(),
        "cwd": os.getcwd(),
        "task_root": task_root,
        "tmpdir": tmp,
        "tmp_bytes": stats.f_blocks * stats.f_frsize,
        "write_code": _attempt(lambda: _touch(task_root)),
        "write_layer": _attempt(lambda: _touch(sys.prefix)),
        "write_python": _attempt(lambda: _touch(sys.base_prefix)),
        "write_tmp": _attempt(lambda: _touch(tmp)),
    }
    if event.get("import"):
        importlib.import_module(event["import"])  # Python would cache its bytecode next to it if it could
    if event.get("fill_mb"):
        answer["fill"] = _attempt(lambda: _fill(tmp, int(event["fill_mb"])))
    return answer
