"""``fhr:schedules:Schedules``: one EventBridge rule per scheduled task of the app definition (the jobs sweeper).

Each rule invokes its function's serving alias with the task's payload; the local cloud fires the same
expressions with its own scheduler (moto stores rules but never fires them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from fhrapp.definition import ScheduledTask


class Schedules(pulumi.ComponentResource):
    rules: dict[str, aws.cloudwatch.EventRule]

    def __init__(
        self,
        name: str,
        tasks: Mapping[str, tuple[ScheduledTask, aws.lambda_.Alias]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``tasks`` maps each rule's deployed name to its task and the alias it invokes."""
        super().__init__("fhr:schedules:Schedules", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rules = {}
        for rule_name, (task, alias) in tasks.items():
            rule = aws.cloudwatch.EventRule(
                rule_name,
                name=rule_name,
                description=f"Runs {task.name}",
                schedule_expression=task.expression,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                rule_name,
                rule=rule.name,
                arn=alias.arn,
                target_id=task.name,
                input=json.dumps(task.payload, sort_keys=True),
                opts=child,
            )
            aws.lambda_.Permission(
                rule_name,
                statement_id="InvokeFromScheduleRule",
                action="lambda:InvokeFunction",
                function=alias.function_name,
                qualifier=alias.name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )
            self.rules[rule_name] = rule
        self.register_outputs({"rules": {name: rule.name for name, rule in self.rules.items()}})
