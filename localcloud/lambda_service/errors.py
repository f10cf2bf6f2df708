"""Errors of the local Lambda service, one base class with the AWS error types the Invoke API answers.

Each subclass carries the HTTP status and the ``x-amzn-ErrorType`` AWS uses, so the Invoke API maps
them one to one and an in-process caller (the local cloud's HTTP front door, its scheduler) can catch
the precise case (``TooManyRequests`` -> 429) without parsing bodies. Function errors (a handler that
raises, times out or runs out of memory) are NOT exceptions: like AWS they come back as an
``InvokeResult`` with ``function_error="Unhandled"`` and a JSON error payload.
"""

from __future__ import annotations

from typing import Any


class LambdaServiceError(Exception):
    """Base of every error the local Lambda service raises to its callers."""

    status: int = 500
    error_type: str = "ServiceException"
    error_kind: str = "Service"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        """The JSON body AWS sends with this error (botocore reads ``message`` and modelled fields)."""
        return {"Type": self.error_kind, "message": self.message, **self.fields}


class ResourceNotFound(LambdaServiceError):
    """No function with that name (or the qualifier is not ``$LATEST``)."""

    status = 404
    error_type = "ResourceNotFoundException"
    error_kind = "User"


class TooManyRequests(LambdaServiceError):
    """The function's reserved concurrency is all in flight; AWS throttles instead of queueing."""

    status = 429
    error_type = "TooManyRequestsException"
    error_kind = "User"

    def __init__(
        self, message: str = "Rate Exceeded.", reason: str = "ReservedFunctionConcurrentInvocationLimitExceeded"
    ):
        super().__init__(message, Reason=reason)
        self.reason = reason


class InvalidRequestContent(LambdaServiceError):
    """The invocation payload is not JSON (AWS checks this before running anything)."""

    status = 400
    error_type = "InvalidRequestContentException"
    error_kind = "User"


class RequestTooLarge(LambdaServiceError):
    """The invocation payload is over the limit: 6 MB synchronous, 1 MB asynchronous (Event).

    AWS answers these with ``RequestEntityTooLargeException`` (413), not the modelled
    ``RequestTooLargeException``, e.g. "Request must be smaller than 6291456 bytes for the
    InvokeFunction operation"; botocore raises it as a ``ClientError`` with that code.
    """

    status = 413
    error_type = "RequestEntityTooLargeException"
    error_kind = "User"


class InvalidParameterValue(LambdaServiceError):
    """A bad parameter: unknown invocation type, memory size or timeout out of range, bad JSON body."""

    status = 400
    error_type = "InvalidParameterValueException"
    error_kind = "User"
