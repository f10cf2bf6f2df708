"""Errors the runtime reports to the Lambda Runtime API.

Every error the runtime itself raises derives from ``RuntimeFault`` and carries the ``errorType`` string
that goes into the ``Lambda-Runtime-Function-Error-Type`` header and the error body. The strings are the
ones AWS's own runtime client (awslambdaric) and the Lambda platform use, so callers see the same
``errorType`` whichever runtime served them.
"""

from __future__ import annotations


class RuntimeFault(Exception):
    """Base of the runtime's own errors; ``error_type`` is the Lambda ``errorType`` it is reported as."""

    error_type = "Runtime.Unknown"

    def __init__(self, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stack_trace = stack_trace or []


class MalformedHandlerName(RuntimeFault):
    """``_HANDLER`` is not ``module.function``."""

    error_type = "Runtime.MalformedHandlerName"


class ImportModuleError(RuntimeFault):
    """The handler module (or something it imports) cannot be imported."""

    error_type = "Runtime.ImportModuleError"


class UserCodeSyntaxError(RuntimeFault):
    """The handler module has a syntax error."""

    error_type = "Runtime.UserCodeSyntaxError"


class HandlerNotFound(RuntimeFault):
    """The module imports but has no attribute named like the handler."""

    error_type = "Runtime.HandlerNotFound"


class UnmarshalError(RuntimeFault):
    """The event body is not valid JSON: reported for that invocation, the loop goes on."""

    error_type = "Runtime.UnmarshalError"


class MarshalError(RuntimeFault):
    """The handler returned something that cannot be serialised to JSON."""

    error_type = "Runtime.MarshalError"


class ResponseSizeTooLarge(RuntimeFault):
    """The serialised response is above the 6 MB synchronous payload limit.

    Same ``errorType`` and message shape as the Lambda platform gives when a function returns too much.
    """

    error_type = "Function.ResponseSizeTooLarge"


class ContextUnmarshalError(RuntimeFault):
    """A client-context or Cognito-identity header is not valid JSON."""

    error_type = "Runtime.LambdaContextUnmarshalError"


class RuntimeApiError(RuntimeFault):
    """The Runtime API answered with an unexpected status, or could not be reached.

    ``fatal`` follows the Runtime API contract: a 5xx ("container error, non-recoverable") or a
    connection that stays down means the runtime must exit; a 4xx on a response post (e.g. 403 after
    the invocation timed out) only loses that one invocation.
    """

    error_type = "Runtime.LambdaRuntimeClientError"

    def __init__(self, endpoint: str, status: int | None, body: bytes = b"") -> None:
        self.endpoint = endpoint
        self.status = status
        self.body = body
        reason = f"status {status}" if status is not None else "connection failed"
        super().__init__(f"Runtime API {endpoint} failed: {reason}: {body[:200]!r}")

    @property
    def fatal(self) -> bool:
        return self.status is None or self.status >= 500
