"""``fhr:keepwarm:KeepWarm``: one EventBridge schedule per warmed function.

Each rule sends :func:`fhrapp.definition.warm_payload` (the runtime answers it before any handler
work and fans out ``concurrency - 1`` self-invocations), so cold starts hit fewer real requests.
When the stack disables keep-warm, the component holds no rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from fhrapp.config import KeepWarmConfig
from fhrapp.definition import warm_payload


class KeepWarm(pulumi.ComponentResource):
    rules: dict[str, aws.cloudwatch.EventRule]

    def __init__(
        self,
        name: str,
        functions: Mapping[str, aws.lambda_.Alias],
        config: KeepWarmConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``functions`` maps deployed function names to the alias to keep warm (what the API invokes)."""
        super().__init__("fhr:keepwarm:KeepWarm", name, None, opts)
        self.rules = {}
        if config.enabled:
            payload = json.dumps(warm_payload(config.concurrency), sort_keys=True)
            for function_name, function in functions.items():
                self.rules[function_name] = self._warm(function_name, function, config.schedule, payload)
        self.register_outputs({"rules": {fn: rule.name for fn, rule in self.rules.items()}})

    def _warm(
        self, function_name: str, function: aws.lambda_.Alias, schedule: str, payload: str
    ) -> aws.cloudwatch.EventRule:
        child = pulumi.ResourceOptions(parent=self)
        rule = aws.cloudwatch.EventRule(
            f"{function_name}-keep-warm",
            name=f"{function_name}-keep-warm",
            description=f"Keeps {function_name} warm",
            schedule_expression=schedule,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{function_name}-keep-warm",
            rule=rule.name,
            arn=function.arn,
            target_id="keep-warm",
            input=payload,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{function_name}-keep-warm",
            statement_id="InvokeFromKeepWarmRule",  # alphanumeric, as IAM statement ids are (autonames have '-')
            action="lambda:InvokeFunction",
            function=function.function_name,
            qualifier=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )
        return rule
