"""The local Lambda service: Runtime API servers, worker pools and the Lambda Invoke API.

``RuntimeApiServer`` is the Runtime API (2018-06-01) of one execution environment; ``LambdaService``
runs pools of worker processes behind it and serves the Invoke API and Get/UpdateFunctionConfiguration
so boto3's Lambda client works against it unchanged.
"""

from localcloud.lambda_service.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    LambdaServiceError,
    RequestTooLarge,
    ResourceNotFound,
    TooManyRequests,
)
from localcloud.lambda_service.runtime_api import InitError, Invocation, InvocationOutcome, RuntimeApiServer

__all__ = [
    "InitError",
    "InvalidParameterValue",
    "InvalidRequestContent",
    "Invocation",
    "InvocationOutcome",
    "LambdaServiceError",
    "RequestTooLarge",
    "ResourceNotFound",
    "RuntimeApiServer",
    "TooManyRequests",
]
