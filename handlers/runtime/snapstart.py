"""SnapStart: the runtime's side of Lambda's snapshot and restore, and the hooks around it.

With SnapStart, Lambda initialises a function once per published version (``AWS_LAMBDA_INITIALIZATION_TYPE``
is ``snap-start``), snapshots the initialised execution environment and later *restores* new
environments from that snapshot instead of initialising them. The managed runtimes (and awslambdaric,
which this copies) do, after a successful init:

1. run the before-snapshot hooks, last registered first; a failure is reported on
   ``/runtime/init/error`` as ``Runtime.BeforeSnapshotError`` and the runtime exits (64);
2. ``GET /2018-06-01/runtime/restore/next``: the snapshot is taken while this call waits, and it
   returns in every restored environment;
3. run the after-restore hooks, first registered first; a failure is reported on
   ``/runtime/restore/error`` as ``Runtime.AfterRestoreError`` and the runtime exits (65);
4. serve invocations as usual.

Hooks are registered with :func:`register_before_snapshot` / :func:`register_after_restore` (the API of
AWS's ``snapshot_restore_py``, whose registered hooks also run when that module is imported); a hook may
be ``async``. Everything made during init is shared by every environment restored from one snapshot, so
the runtime itself registers :func:`reseed_randomness` (Python's and numpy's global generators; our own
uses of randomness draw from ``os.urandom``), and handlers close their network clients before the
snapshot and open them again after each restore (``handlers.api.clients.reopen_after_restore``).

Our runtime runs init and the before-snapshot hooks on one event loop, closes it (no thread, socket
or loop survives into the snapshot), waits on ``/restore/next`` without any loop, and serves on a new
one. That is also what lets the local cloud emulate a restore by ``fork()``: it names a function in
``FHR_SNAPSTART_RESTORER`` (``module:function``) that this module calls before ``/restore/next``;
the function returns in each forked environment, with that environment's Runtime API address set
(see ``localcloud/lambda_service/snapstart.py``). On AWS the variable is never set.
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from handlers.runtime.errors import RuntimeApiError, RuntimeFault

INIT_TYPE_VARIABLE = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"
RESTORER_VARIABLE = "FHR_SNAPSTART_RESTORER"
RESTORE_NEXT = "/2018-06-01/runtime/restore/next"
RESTORE_ERROR = "/2018-06-01/runtime/restore/error"

F = TypeVar("F", bound=Callable[..., Any])
Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


class BeforeSnapshotError(RuntimeFault):
    """A before-snapshot hook raised: reported on ``/runtime/init/error``, the runtime exits."""

    error_type = "Runtime.BeforeSnapshotError"


class AfterRestoreError(RuntimeFault):
    """An after-restore hook raised: reported on ``/runtime/restore/error``, the runtime exits."""

    error_type = "Runtime.AfterRestoreError"


def is_snap_start(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    return (os.environ if environ is None else environ).get(INIT_TYPE_VARIABLE) == SNAP_START


def register_before_snapshot(func: F, *args: Any, **kwargs: Any) -> F:
    """Run ``func(*args, **kwargs)`` before the snapshot (hooks run last registered first). Usable as a decorator."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func: F, *args: Any, **kwargs: Any) -> F:
    """Run ``func(*args, **kwargs)`` after each restore (hooks run first registered first). Usable as a decorator."""
    _after_restore.append((func, args, kwargs))
    return func


def _aws_hooks() -> tuple[list[Hook], list[Hook]]:
    """Hooks registered with AWS's ``snapshot_restore_py``, if a handler imported it."""
    module = sys.modules.get("snapshot_restore_py")
    if module is None:
        return [], []
    return list(module.get_before_snapshot()), list(module.get_after_restore())


async def _call(hook: Hook) -> None:
    func, args, kwargs = hook
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        await result


async def run_before_snapshot() -> None:
    """Every before-snapshot hook, last registered first; the first failure raises ``BeforeSnapshotError``."""
    aws_before, _ = _aws_hooks()
    for hook in reversed(_before_snapshot + aws_before):
        try:
            await _call(hook)
        except Exception as exc:
            raise _fault(BeforeSnapshotError, hook, exc) from exc


async def run_after_restore() -> None:
    """Every after-restore hook, first registered first; the first failure raises ``AfterRestoreError``."""
    _, aws_after = _aws_hooks()
    for hook in _after_restore + aws_after:
        try:
            await _call(hook)
        except Exception as exc:
            raise _fault(AfterRestoreError, hook, exc) from exc


def _fault(kind: type[RuntimeFault], hook: Hook, exc: Exception) -> RuntimeFault:
    import traceback

    name = getattr(hook[0], "__qualname__", repr(hook[0]))
    trace = traceback.format_exception(exc)
    return kind(f"{name} failed: {type(exc).__name__}: {exc}", trace)


def reseed_randomness() -> None:
    """Give this environment its own random streams: after a restore they would repeat the snapshot's."""
    random.seed()  # from os.urandom
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # the legacy global generator; Generator objects made in init are the handler's


register_after_restore(reseed_randomness)


def wait_for_restore(runtime_api: str) -> None:
    """Block on ``/restore/next`` until this environment is restored (no event loop exists meanwhile).

    Locally, ``FHR_SNAPSTART_RESTORER`` first forks this process into restored environments; each
    returns here with its own ``AWS_LAMBDA_RUNTIME_API``, which is then read again.
    """
    restorer = os.environ.get(RESTORER_VARIABLE)
    if restorer:
        module_name, _, function_name = restorer.partition(":")
        getattr(importlib.import_module(module_name), function_name)()
        runtime_api = os.environ.get("AWS_LAMBDA_RUNTIME_API", runtime_api)
    status, body = _request(runtime_api, "GET", RESTORE_NEXT)
    if status != 200:
        raise RuntimeApiError(RESTORE_NEXT, status, body)


def report_restore_error(runtime_api: str, body: bytes) -> None:
    """``POST /runtime/restore/error`` with ``Runtime.AfterRestoreError``; a refusal is raised."""
    headers = {"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": AfterRestoreError.error_type}
    status, answer = _request(runtime_api, "POST", RESTORE_ERROR, body, headers)
    if status != 202:
        raise RuntimeApiError(RESTORE_ERROR, status, answer)


def _request(
    address: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int | None, bytes]:
    """One blocking request on a connection of its own (closed after): nothing of it is in the snapshot."""
    import http.client

    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host or "127.0.0.1", int(port), timeout=None)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as exc:
        return None, str(exc).encode()
    finally:
        connection.close()
