"""Resources planned from the app definition and created on a real moto server, per stack file."""

from __future__ import annotations

import json
import re
import uuid

import boto3
import pytest

from fhrapp.config import load_stack_file
from fhrapp.definition import APP, physical_name
from localcloud.resources import (
    PlannedResource,
    create_resources,
    delete_resources,
    plan_resources,
    queue_url,
    resource_environment,
    unique_suffix,
)


def test_names_follow_the_definition_and_buckets_are_valid_s3_names() -> None:
    stack = load_stack_file("dev")
    plans = plan_resources(APP, stack, bucket_suffix=unique_suffix())
    names = {p.resource.logical: p.name for p in plans}
    assert names["results_table"] == physical_name("fhr", "dev", "results_table")
    assert names["items_table"] == physical_name("fhr", "dev", "items_table")
    assert names["jobs_queue"] == physical_name("fhr", "dev", "jobs_queue")
    assert re.fullmatch(r"fhr-dev-ecg-bucket-\d{18}[0-9a-f]{8}", names["ecg_bucket"]), names["ecg_bucket"]
    assert 3 <= len(names["ecg_bucket"]) <= 63, "a valid S3 bucket name"
    env = resource_environment(plans, "http://moto:1")
    assert env["ECG_BUCKET"] == names["ecg_bucket"]
    assert env["JOBS_QUEUE_URL"] == queue_url("http://moto:1", "fhr-dev-jobs_queue")  # queues travel as URLs
    assert set(env) == {res.env_var for res in APP.resources}


def test_every_plan_gets_a_new_bucket_suffix_as_pulumi_names_a_new_bucket() -> None:
    """Like ``bucket_prefix``: no code may count on the name, since each stack (and each local cloud) differs."""
    stack = load_stack_file("dev")
    buckets = {
        plan.name for _ in range(50) for plan in plan_resources(APP, stack, unique_suffix()) if plan.kind == "bucket"
    }
    assert len(buckets) == 50
    assert all(
        name.startswith("fhr-dev-ecg-bucket-") and len(name) == len("fhr-dev-ecg-bucket-") + 26 for name in buckets
    )


def unique(plans: list[PlannedResource], suffix: str) -> list[PlannedResource]:
    """The plans renamed with ``suffix`` (the session's moto server is shared), dead letters too."""
    renamed = []
    for plan in plans:
        settings = dict(plan.settings)
        if settings.get("dead_letter"):
            settings["dead_letter"] = f"{settings['dead_letter']}-{suffix}"
        renamed.append(PlannedResource(plan.resource, f"{plan.name}-{suffix}", settings))
    return renamed


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_tables_bucket_queues_and_settings_on_moto(moto_endpoint: str, stage: str) -> None:
    stack = load_stack_file(stage)
    plans = unique(plan_resources(APP, stack), uuid.uuid4().hex[:6])
    create_resources(plans, moto_endpoint, stack.region)
    kw = {"endpoint_url": moto_endpoint, "region_name": stack.region}
    dynamodb, s3, sqs = boto3.client("dynamodb", **kw), boto3.client("s3", **kw), boto3.client("sqs", **kw)
    for plan in plans:
        res = plan.resource
        if res.kind == "table":
            table = dynamodb.describe_table(TableName=plan.name)["Table"]
            keys = [{"AttributeName": res.hash_key, "KeyType": "HASH"}]
            keys += [{"AttributeName": res.range_key, "KeyType": "RANGE"}] if res.range_key else []
            assert table["KeySchema"] == keys  # the items table: tenant partition, item id
            assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
            assert table.get("DeletionProtectionEnabled", False) is stack.tables.deletion_protection
            ttl = dynamodb.describe_time_to_live(TableName=plan.name)["TimeToLiveDescription"]
            if res.ttl_attribute:
                assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", res.ttl_attribute)
            else:
                assert ttl["TimeToLiveStatus"] == "DISABLED"
            backups = dynamodb.describe_continuous_backups(TableName=plan.name)["ContinuousBackupsDescription"]
            pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
            assert pitr == ("ENABLED" if stack.tables.point_in_time_recovery else "DISABLED")
        elif res.kind == "bucket":
            versioning = s3.get_bucket_versioning(Bucket=plan.name).get("Status")
            assert versioning == ("Enabled" if stack.bucket.versioning else None)
            rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=plan.name)["Rules"]}
            assert rules["recordings-to-infrequent-access"]["Transitions"][0]["Days"] == stack.bucket.transition_days
            expiring = rules["results-expire-with-their-ttl"]  # the rule Pulumi declares (tests/test_program.py)
            assert expiring["Filter"] == {"Tag": {"Key": "fhr-data", "Value": "result"}}
            assert expiring["Expiration"]["Days"] == 8
        else:
            url = queue_url(moto_endpoint, plan.name)
            assert sqs.get_queue_url(QueueName=plan.name)["QueueUrl"] == url
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert int(attributes["VisibilityTimeout"]) == res.visibility_timeout_s
            assert int(attributes["MessageRetentionPeriod"]) == res.retention_s
            assert int(attributes["MaximumMessageSize"]) == res.max_message_bytes == 256 * 1024  # not moto's 1 MiB
            if res.dead_letter:
                redrive = json.loads(attributes["RedrivePolicy"])
                assert redrive["maxReceiveCount"] == res.max_receives
                assert redrive["deadLetterTargetArn"].endswith(":" + plan.settings["dead_letter"])
            else:
                assert "RedrivePolicy" not in attributes
    delete_resources(plans, moto_endpoint, stack.region)
    assert not {p.name for p in plans} & set(dynamodb.list_tables()["TableNames"])
