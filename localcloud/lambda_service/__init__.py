"""The local Lambda service: Runtime API servers, worker pools and the Lambda Invoke API.

``RuntimeApiServer`` is the Runtime API (2018-06-01) of one execution environment; ``LambdaService``
runs pools of worker processes behind it and serves the Invoke API and Get/UpdateFunctionConfiguration
so boto3's Lambda client works against it unchanged (see ``service.py`` for the model, ``limits.py`` for
how memory is enforced).
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
from localcloud.lambda_service.service import LambdaService
from localcloud.lambda_service.spec import (
    AWSLAMBDARIC_COMMAND,
    OUR_RUNTIME_COMMAND,
    FunctionSpec,
    InvokeResult,
    default_live_cap,
    default_worker_cap,
    vcpu_share,
)

__all__ = [
    "AWSLAMBDARIC_COMMAND",
    "OUR_RUNTIME_COMMAND",
    "FunctionSpec",
    "InitError",
    "InvalidParameterValue",
    "InvalidRequestContent",
    "Invocation",
    "InvocationOutcome",
    "InvokeResult",
    "LambdaService",
    "LambdaServiceError",
    "RequestTooLarge",
    "ResourceNotFound",
    "RuntimeApiServer",
    "TooManyRequests",
    "default_live_cap",
    "default_worker_cap",
    "vcpu_share",
]
