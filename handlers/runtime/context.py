"""The context object handed to handlers: the same attributes as AWS's ``LambdaContext``.

Function-wide values (name, version, memory, log names) are read once from the environment into a
``FunctionInfo``; per-invocation values come from the ``/next`` response headers. ``memory_limit_in_mb``
is an ``int`` (AWS's Python runtime gives the raw string; every caller converts it anyway).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from handlers.runtime.errors import ContextUnmarshalError


@dataclass(frozen=True)
class FunctionInfo:
    """What the execution environment says about the function; fixed for the process life."""

    function_name: str
    function_version: str
    memory_limit_in_mb: int
    log_group_name: str
    log_stream_name: str
    region: str
    initialization_type: str

    @classmethod
    def from_environ(cls, environ: dict[str, str] | os._Environ[str] | None = None) -> FunctionInfo:
        env = os.environ if environ is None else environ
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        return cls(
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            memory_limit_in_mb=int(memory) if memory.isdigit() else 128,
            log_group_name=env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
            log_stream_name=env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
            initialization_type=env.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        )


class CognitoIdentity:
    """``context.identity``: always present, fields ``None`` unless the invoker was a Cognito identity."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    """``context.client_context.client``: the mobile SDK's client description."""

    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, data: dict[str, Any]) -> None:
        for name in self.__slots__:
            setattr(self, name, data.get(name))


class ClientContext:
    """``context.client_context``: ``None`` unless the invoker passed one (``ClientContext`` of Invoke)."""

    __slots__ = ("custom", "env", "client")

    def __init__(self, data: dict[str, Any]) -> None:
        self.custom = data.get("custom")
        self.env = data.get("env")
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None


def _parse_header_json(value: str | None, what: str) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ContextUnmarshalError(f"Unable to parse {what} JSON: {exc}") from None
    return parsed if isinstance(parsed, dict) else None


class LambdaContext:
    """One invocation's context, built from the ``/next`` headers and the function's ``FunctionInfo``."""

    __slots__ = (
        "aws_request_id",
        "invoked_function_arn",
        "function_name",
        "function_version",
        "memory_limit_in_mb",
        "log_group_name",
        "log_stream_name",
        "client_context",
        "identity",
        "tenant_id",
        "_deadline_ms",
    )

    def __init__(
        self,
        info: FunctionInfo,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = info.function_name
        self.function_version = info.function_version
        self.memory_limit_in_mb = info.memory_limit_in_mb
        self.log_group_name = info.log_group_name
        self.log_stream_name = info.log_stream_name
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms
        client = _parse_header_json(client_context, "Client Context")
        self.client_context = ClientContext(client) if client is not None else None
        self.identity = CognitoIdentity(_parse_header_json(cognito_identity, "Cognito Identity"))

    def log(self, message: object) -> None:
        """``context.log(msg)`` as on AWS: the text goes to the function's log stream (stdout)."""
        sys.stdout.write(str(message))

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation's deadline (never negative), like AWS's context."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, function_name={self.function_name!r}, "
            f"function_version={self.function_version!r}, invoked_function_arn={self.invoked_function_arn!r})"
        )
