"""The stack's data resources, planned from the app definition and created on the moto server.

Names come from :func:`fhrapp.definition.physical_name`, key schemas and TTL from the definition's
:class:`~fhrapp.definition.DataResource` fields, and settings (versioning, lifecycle, point-in-time
recovery, deletion protection) from the stack file, so the local resources are the ones Pulumi
declares. A new resource in the definition appears here without an edit.

A bucket is named like Pulumi names it (``bucket_prefix``): the prefix plus a generated suffix, new for
every local cloud, so nothing can come to depend on a fixed bucket name that AWS would not give.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhrapp.config import StackConfig
from fhrapp.definition import (
    RESULT_TTL_S,
    AppDefinition,
    DataResource,
    bucket_lifecycle_rules,
    bucket_name,
    physical_name,
)
from localcloud.moto import ACCOUNT_ID

_SUFFIX_COUNTER = itertools.count(int.from_bytes(os.urandom(2), "big"))


def unique_suffix(now: datetime | None = None) -> str:
    """A suffix shaped like the one AWS's provider appends to a ``bucket_prefix``: a UTC timestamp to
    1e-4 s and a counter, 26 characters (``20261206034512345600000001``)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%f")[:18]
    return f"{moment}{next(_SUFFIX_COUNTER) % 0x100000000:08x}"


def resource_name(app: AppDefinition, stage: str, resource: DataResource, bucket_suffix: str | None = None) -> str:
    """The deployed name of a resource; a bucket's is its prefix (``_`` swapped for ``-``, since S3 names
    forbid underscores) and, given one, ``bucket_suffix`` after a dash, as Pulumi's ``bucket_prefix``."""
    name = physical_name(app.name, stage, resource.logical)
    if resource.kind != "bucket":
        return name
    return f"{bucket_name(name)}-{bucket_suffix}" if bucket_suffix else bucket_name(name)


@dataclass(frozen=True)
class PlannedResource:
    """One resource to create: the definition's entry, its deployed name and the stack's settings."""

    resource: DataResource
    name: str
    settings: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return self.resource.kind


def plan_resources(app: AppDefinition, stack: StackConfig, bucket_suffix: str | None = None) -> list[PlannedResource]:
    """Every resource of the definition with its settings, dead-letter queues before their sources.

    The local cloud passes a fresh ``unique_suffix()``: buckets are then named as Pulumi names them."""
    plans = []
    for resource in app.resources:
        if resource.kind == "bucket":
            settings: dict[str, Any] = {
                "versioning": stack.bucket.versioning,
                "transition_days": stack.bucket.transition_days,
                "result_ttl_s": RESULT_TTL_S,
            }
        elif resource.kind == "table":
            settings = {
                "point_in_time_recovery": stack.tables.point_in_time_recovery,
                "deletion_protection": stack.tables.deletion_protection,
            }
        else:
            dead_letter = resource.dead_letter
            settings = {
                "visibility_timeout_s": resource.visibility_timeout_s,
                "retention_s": resource.retention_s,
                "dead_letter": None if dead_letter is None else physical_name(app.name, stack.stage, dead_letter),
                "max_receives": resource.max_receives,
            }
        plans.append(PlannedResource(resource, resource_name(app, stack.stage, resource, bucket_suffix), settings))
    return sorted(plans, key=lambda plan: plan.settings.get("dead_letter") is not None)


def queue_url(endpoint_url: str, name: str) -> str:
    """The URL moto gives a queue (known before it exists, so functions' environments can carry it)."""
    return f"{endpoint_url}/{ACCOUNT_ID}/{name}"


def aws_queue_url(region: str, name: str) -> str:
    """The URL SQS gives the deployed queue (what a deployed function's environment carries)."""
    return queue_url(f"https://sqs.{region}.amazonaws.com", name)


def queue_arn(region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"


def resource_values(plans: list[PlannedResource], endpoint_url: str) -> dict[str, str]:
    """``{logical: what clients and functions use}``: names for buckets and tables, URLs for queues."""
    return {
        plan.resource.logical: queue_url(endpoint_url, plan.name) if plan.kind == "queue" else plan.name
        for plan in plans
    }


def resource_environment(plans: list[PlannedResource], endpoint_url: str) -> dict[str, str]:
    """``{ENV_VAR: value}`` for every resource, e.g. ``{"ECG_BUCKET": "fhr-dev-ecg-bucket-2026…"}``."""
    values = resource_values(plans, endpoint_url)
    return {plan.resource.env_var: values[plan.resource.logical] for plan in plans}


def _create_bucket(s3: Any, plan: PlannedResource, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": plan.name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_encryption(
        Bucket=plan.name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    if plan.settings.get("versioning"):
        s3.put_bucket_versioning(Bucket=plan.name, VersioningConfiguration={"Status": "Enabled"})
    rules = bucket_lifecycle_rules(plan.settings.get("transition_days"), plan.settings["result_ttl_s"])
    s3.put_bucket_lifecycle_configuration(Bucket=plan.name, LifecycleConfiguration={"Rules": rules})


def _create_table(dynamodb: Any, plan: PlannedResource) -> None:
    res = plan.resource
    if res.hash_key is None:
        raise ValueError(f"table {res.logical} has no hash_key in the app definition")
    keys = [("HASH", res.hash_key)] + ([("RANGE", res.range_key)] if res.range_key else [])
    dynamodb.create_table(
        TableName=plan.name,
        KeySchema=[{"AttributeName": name, "KeyType": kind} for kind, name in keys],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for _, name in keys],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=bool(plan.settings.get("deletion_protection")),
    )
    if res.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=plan.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": res.ttl_attribute}
        )
    if plan.settings.get("point_in_time_recovery"):
        dynamodb.update_continuous_backups(
            TableName=plan.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def _create_queue(sqs: Any, plan: PlannedResource, region: str) -> None:
    settings = plan.settings
    attributes = {
        "VisibilityTimeout": str(settings["visibility_timeout_s"]),
        "MessageRetentionPeriod": str(settings["retention_s"]),
        "MaximumMessageSize": str(plan.resource.max_message_bytes),  # moto's default (1 MiB) is not SQS's
        "SqsManagedSseEnabled": "true",
    }
    if settings["dead_letter"] is not None:
        redrive = {
            "deadLetterTargetArn": queue_arn(region, settings["dead_letter"]),
            "maxReceiveCount": settings["max_receives"],
        }
        attributes["RedrivePolicy"] = json.dumps(redrive)
    sqs.create_queue(QueueName=plan.name, Attributes=attributes)


def create_resources(plans: list[PlannedResource], endpoint_url: str, region: str) -> None:
    """Create every planned resource on the moto server at ``endpoint_url`` (blocking; run in a thread)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="local", region_name=region
    )
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(service, endpoint_url=endpoint_url)
        return clients[service]

    for plan in plans:
        if plan.kind == "bucket":
            _create_bucket(client("s3"), plan, region)
        elif plan.kind == "table":
            _create_table(client("dynamodb"), plan)
        elif plan.kind == "queue":
            _create_queue(client("sqs"), plan, region)
        else:
            raise ValueError(f"unknown resource kind {plan.kind!r} for {plan.resource.logical}")


def delete_resources(plans: list[PlannedResource], endpoint_url: str, region: str) -> None:
    """Remove what :func:`create_resources` made (objects and versions too), best effort.

    moto keeps its state per process, not per server: a second local cloud in the same process (tests,
    ``fhr demo`` after another) would otherwise find the first one's bucket and tables still there.
    """
    import boto3
    from botocore.exceptions import ClientError

    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)
    for plan in plans:
        try:
            if plan.kind == "bucket":
                _empty_and_delete_bucket(session.client("s3", endpoint_url=endpoint_url), plan.name)
            elif plan.kind == "table":
                dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
                dynamodb.update_table(TableName=plan.name, DeletionProtectionEnabled=False)
                dynamodb.delete_table(TableName=plan.name)
            elif plan.kind == "queue":
                sqs = session.client("sqs", endpoint_url=endpoint_url)
                sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=plan.name)["QueueUrl"])
        except ClientError:
            continue  # already gone


def _empty_and_delete_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        doomed += [{"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
