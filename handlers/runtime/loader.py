"""Finding the handler named by ``_HANDLER`` and turning exceptions into Runtime API error bodies.

Import failures are classified the way awslambdaric classifies them (``Runtime.ImportModuleError``,
``Runtime.UserCodeSyntaxError``, ``Runtime.HandlerNotFound``, ``Runtime.MalformedHandlerName``) so that
callers see the same ``errorType`` from either runtime; any other exception raised while the module
executes, or by its ``init()`` hook, is reported under its own class name, again as awslambdaric does.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any

from handlers.runtime.errors import (
    HandlerNotFound,
    ImportModuleError,
    MalformedHandlerName,
    RuntimeFault,
    UserCodeSyntaxError,
)

_RUNTIME_DIR = os.path.dirname(os.path.realpath(__file__)) + os.sep


@dataclass(frozen=True)
class LoadedHandler:
    """The handler function, whether it must be awaited, and the module's optional lifecycle hooks."""

    function: Callable[..., Any]
    is_async: bool
    init: Callable[[], Any] | None
    shutdown: Callable[[], Any] | None


def add_task_root(task_root: str | None) -> None:
    """Make modules under ``LAMBDA_TASK_ROOT`` importable (first), then the working directory."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)


def load_handler(spec: str) -> LoadedHandler:
    """Import ``package.module.function``; raises a ``RuntimeFault`` subclass or the module's own error."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise MalformedHandlerName(f"Bad handler '{spec}': {exc}") from None
    module_name = module_name.replace("/", ".")
    if not module_name or not function_name:
        raise MalformedHandlerName(f"Bad handler '{spec}': expected module.function")
    module = _import(module_name)
    function = getattr(module, function_name, None)
    if function is None or not callable(function):
        raise HandlerNotFound(f"Handler '{function_name}' missing on module '{module_name}'")
    return LoadedHandler(
        function=function,
        is_async=inspect.iscoroutinefunction(function),
        init=_hook(module, "init"),
        shutdown=_hook(module, "shutdown"),
    )


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportModuleError(f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise UserCodeSyntaxError(f"Syntax error in module '{module_name}': {exc}", trace) from None


def _hook(module: ModuleType, name: str) -> Callable[[], Any] | None:
    hook = getattr(module, name, None)
    return hook if callable(hook) else None


async def call_hook(hook: Callable[[], Any]) -> None:
    """Run an ``init``/``shutdown`` hook, awaiting it when it is a coroutine function."""
    result = hook()
    if inspect.isawaitable(result):
        await result


def error_body(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """The ``{errorMessage, errorType, requestId, stackTrace}`` body awslambdaric posts for ``exc``."""
    if isinstance(exc, RuntimeFault):
        message, error_type, stack = exc.message, exc.error_type, list(exc.stack_trace)
    else:
        message, error_type, stack = _safe_str(exc), type(exc).__name__, _user_frames(exc.__traceback__)
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id or "", "stackTrace": stack}


def _safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's own ``__str__`` fails (never crash the loop)."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001
        return f"<unprintable {type(exc).__name__}>"


def _user_frames(tb: TracebackType | None) -> list[str]:
    """Formatted frames from the first one outside the runtime package (as awslambdaric drops bootstrap.py)."""
    frames = traceback.extract_tb(tb)
    for index, frame in enumerate(frames):
        if not frame.filename.startswith(_RUNTIME_DIR):
            return traceback.format_list(frames[index:])
    return traceback.format_list(frames)
