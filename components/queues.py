"""``fhr:queues:Queues``: every SQS queue of the app definition, with its dead-letter wiring.

Each queue is encrypted at rest with SQS-managed keys, refuses every request that is not over TLS
(a queue policy denies ``aws:SecureTransport=false``; SQS would otherwise also answer plain HTTP) and
keeps the visibility timeout and retention of its definition. A queue with ``dead_letter`` gets a
redrive policy (after ``max_receives`` deliveries a message moves to that queue), and the
dead-letter queue gets a redrive-allow policy naming only its source queues, so no other queue can
dump messages into it. The allow policy is a separate resource because the two queues would
otherwise name each other's ARN (a cycle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from components.policies import tls_only_queue_policy
from fhrapp.definition import DataResource


def redrive_policy(dead_letter_arn: str, max_receives: int) -> dict[str, object]:
    """The source queue's side: where messages go after ``max_receives`` failed deliveries."""
    return {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receives}


def redrive_allow_policy(source_arns: list[str]) -> dict[str, object]:
    """The dead-letter queue's side: only these source queues may use it."""
    return {"redrivePermission": "byQueue", "sourceQueueArns": sorted(source_arns)}


class Queues(pulumi.ComponentResource):
    queues: dict[str, aws.sqs.Queue]

    def __init__(
        self,
        name: str,
        resources: Mapping[str, DataResource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``resources`` maps each queue's deployed name to its definition; dead-letter targets must be among them."""
        super().__init__("fhr:queues:Queues", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        by_logical = {resource.logical: (physical, resource) for physical, resource in resources.items()}
        self.queues = {}
        self._retention = {resource.logical: resource.retention_s for resource in resources.values()}
        # Dead-letter targets first: a source queue's redrive policy names their ARN.
        for physical, resource in sorted(resources.items(), key=lambda item: item[1].dead_letter is not None):
            if resource.kind != "queue":
                raise ValueError(f"{resource.logical} is not a queue in the app definition")
            self.queues[resource.logical] = self._queue(physical, resource)
        for dead_letter, sources in self._sources(resources).items():
            if dead_letter not in by_logical:
                raise ValueError(f"dead-letter queue {dead_letter!r} is not among the stack's queues")
            self._allow_redrive(by_logical[dead_letter][0], dead_letter, sources)
        self.register_outputs({logical: queue.url for logical, queue in self.queues.items()})

    @staticmethod
    def _sources(resources: Mapping[str, DataResource]) -> dict[str, list[str]]:
        sources: dict[str, list[str]] = {}
        for resource in resources.values():
            if resource.dead_letter is not None:
                sources.setdefault(resource.dead_letter, []).append(resource.logical)
        return sources

    def _queue(self, physical: str, resource: DataResource) -> aws.sqs.Queue:
        redrive = None
        if resource.dead_letter is not None:
            target = self.queues.get(resource.dead_letter)
            if target is None:
                raise ValueError(f"{resource.logical}'s dead-letter queue {resource.dead_letter!r} is not deployed")
            if self._retention[resource.dead_letter] < resource.retention_s:
                # A moved message keeps its original enqueue time: a shorter DLQ retention silently drops it.
                raise ValueError(
                    f"{resource.dead_letter} keeps messages {self._retention[resource.dead_letter]} s, less than "
                    f"its source {resource.logical} ({resource.retention_s} s): failed jobs would expire unseen"
                )
            max_receives = resource.max_receives
            redrive = target.arn.apply(lambda arn: json.dumps(redrive_policy(arn, max_receives)))
        queue = aws.sqs.Queue(
            physical,
            name=physical,
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=resource.visibility_timeout_s,
            message_retention_seconds=resource.retention_s,
            max_message_size=resource.max_message_bytes,
            redrive_policy=redrive,
            opts=self._child,
        )
        aws.sqs.QueuePolicy(
            f"{physical}-tls-only",
            queue_url=queue.url,
            policy=queue.arn.apply(lambda arn: json.dumps(tls_only_queue_policy(arn))),
            opts=self._child,
        )
        return queue

    def _allow_redrive(self, physical: str, dead_letter: str, sources: list[str]) -> None:
        arns = pulumi.Output.all(*(self.queues[logical].arn for logical in sources))
        aws.sqs.RedriveAllowPolicy(
            f"{physical}-redrive-allow",
            queue_url=self.queues[dead_letter].url,
            redrive_allow_policy=arns.apply(lambda values: json.dumps(redrive_allow_policy(list(values)))),
            opts=self._child,
        )
