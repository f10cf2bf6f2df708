"""``fhr:function:Function``: one Lambda function with its own role, log group and environment.

The function runs on the managed ``python3.12`` runtime, but ``AWS_LAMBDA_EXEC_WRAPPER`` points at
``handlers/runtime/exec_wrapper.sh``, which replaces the default runtime with our async one. Its role
allows exactly the grants of the app definition (see :mod:`components.policies`), writes to its own
log group, and, for functions that fan out to themselves, ``lambda:InvokeFunction`` on its own ARN.
A function with a queue trigger also gets its SQS event source mapping (batches, a batching window,
a concurrency cap, and per-item failure reporting so one poison message does not fail its batch),
created only once the role can consume the queue.

Every deploy publishes a version and points the ``live`` alias at it; everything that invokes the
function (API integrations, keep-warm rules, the event source mapping) goes through the alias. SnapStart
needs that (it snapshots published versions, never ``$LATEST``), and so does provisioned concurrency;
a function with ``snapStart: true`` gets ``SnapStart.ApplyOn = PublishedVersions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.policies import assume_role_policy, function_policy, invoke_self_policy, missing_actions
from fhrapp.config import FunctionConfig
from fhrapp.definition import SERVING_ALIAS, AppDefinition, Function, QueueTrigger, Tenancy, function_environment

RUNTIME = aws.lambda_.Runtime.PYTHON3D12
EXEC_WRAPPER = "/var/task/handlers/runtime/exec_wrapper.sh"
ALIAS = SERVING_ALIAS
# What Lambda's SQS poller calls with the function's role; without them the mapping never delivers.
QUEUE_CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


@dataclass(frozen=True)
class FunctionCode:
    """The deployable code: the bundle's code zip and its base64 sha256, plus the dependency layer."""

    zip_path: Path
    sha256_b64: str
    layer_arn: pulumi.Input[str]


@dataclass(frozen=True)
class FunctionSettings:
    """What the stack decides for one function."""

    stage: str
    sizing: FunctionConfig
    log_retention_days: int
    tenancy: Tenancy


@dataclass(frozen=True)
class DataRefs:
    """What the environment carries (a bucket's or table's name, a queue's URL) and the ARNs (for the policy)."""

    names: Mapping[str, pulumi.Input[str]]
    arns: Mapping[str, pulumi.Output[str]]


def deployed_environment(
    app: AppDefinition, fn: Function, settings: FunctionSettings, names: Mapping[str, str]
) -> dict[str, str]:
    """The shared environment (:func:`fhrapp.definition.function_environment`) plus the exec wrapper."""
    shared = function_environment(app, fn, settings.stage, names, settings.tenancy)
    return {**shared, "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER}


class LambdaFunction(pulumi.ComponentResource):
    function: aws.lambda_.Function
    alias: aws.lambda_.Alias
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup

    def __init__(
        self,
        name: str,
        app: AppDefinition,
        fn: Function,
        settings: FunctionSettings,
        code: FunctionCode,
        data: DataRefs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``name`` is the deployed function name (``fhr-dev-fhr``)."""
        super().__init__("fhr:function:Function", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.definition = fn
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/lambda/{name}", retention_in_days=settings.log_retention_days, opts=child
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
            description=f"Execution role of {name}: its own log group and the grants of the app definition",
            opts=child,
        )
        access = aws.iam.RolePolicy(
            f"{name}-access",
            role=self.role.id,
            policy=self._policy(app, fn, data, self.log_group.arn),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            name,
            name=name,
            description=fn.description,
            runtime=RUNTIME,
            handler=fn.handler,
            role=self.role.arn,
            code=pulumi.FileArchive(str(code.zip_path)),
            source_code_hash=code.sha256_b64,
            layers=[code.layer_arn],
            memory_size=settings.sizing.memory_mb,
            timeout=settings.sizing.timeout_s,
            reserved_concurrent_executions=settings.sizing.reserved_concurrency,
            architectures=[settings.sizing.architecture],
            ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=settings.sizing.ephemeral_storage_mb),
            publish=True,
            snap_start=(
                aws.lambda_.FunctionSnapStartArgs(apply_on="PublishedVersions") if settings.sizing.snap_start else None
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=self._environment(app, fn, settings, data)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
            # The role must hold its permissions before the first (keep-warm) invocation.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access, self.log_group]),
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-{ALIAS}",
            name=ALIAS,
            function_name=self.function.name,
            function_version=self.function.version,
            description=f"The version of {name} this stack serves",
            opts=child,
        )
        if settings.sizing.provisioned_concurrency:
            aws.lambda_.ProvisionedConcurrencyConfig(
                f"{name}-provisioned",
                function_name=self.function.name,
                qualifier=self.alias.name,
                provisioned_concurrent_executions=settings.sizing.provisioned_concurrency,
                opts=child,
            )
        if fn.invokes_self:
            # A separate policy created after the function: the role cannot name an ARN that does not exist yet.
            aws.iam.RolePolicy(
                f"{name}-invoke-self",
                role=self.role.id,
                policy=self.function.arn.apply(lambda arn: json.dumps(invoke_self_policy(arn))),
                opts=child,
            )
        self.event_source: aws.lambda_.EventSourceMapping | None = None
        if fn.trigger is not None:
            self.event_source = self._event_source(name, fn, fn.trigger, data, access)
        self.register_outputs(
            {"name": self.function.name, "arn": self.function.arn, "alias": self.alias.arn, "role": self.role.arn}
        )

    def _event_source(
        self, name: str, fn: Function, trigger: QueueTrigger, data: DataRefs, access: aws.iam.RolePolicy
    ) -> aws.lambda_.EventSourceMapping:
        missing = missing_actions(fn, trigger.queue, QUEUE_CONSUMER_ACTIONS)
        if missing:
            raise ValueError(f"function {fn.name} is triggered by {trigger.queue} but is not granted {missing}")
        return aws.lambda_.EventSourceMapping(
            f"{name}-{trigger.queue}",
            event_source_arn=data.arns[trigger.queue],
            function_name=self.alias.arn,
            batch_size=trigger.batch_size,
            maximum_batching_window_in_seconds=trigger.max_batching_window_s,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(maximum_concurrency=trigger.max_concurrency),
            # Lambda checks the role's SQS permissions when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access]),
        )

    @staticmethod
    def _policy(
        app: AppDefinition, fn: Function, data: DataRefs, log_group_arn: pulumi.Output[str]
    ) -> pulumi.Output[str]:
        logicals = sorted({grant.resource for grant in fn.grants})
        values = pulumi.Output.all(log_group_arn, *(data.arns[logical] for logical in logicals))
        return values.apply(
            lambda v: json.dumps(function_policy(app, fn, dict(zip(logicals, v[1:], strict=True)), v[0]))
        )

    @staticmethod
    def _environment(
        app: AppDefinition, fn: Function, settings: FunctionSettings, data: DataRefs
    ) -> pulumi.Output[dict[str, str]]:
        logicals = list(fn.resources)
        names = pulumi.Output.all(*(data.names[logical] for logical in logicals))
        return names.apply(
            lambda values: deployed_environment(app, fn, settings, dict(zip(logicals, values, strict=True)))
        )
