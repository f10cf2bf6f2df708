"""Resources planned from the app definition and created on a real moto server, per stack file."""

from __future__ import annotations

import uuid

import boto3
import pytest

from fhrapp.config import load_stack_file
from fhrapp.definition import APP, physical_name
from localcloud.resources import create_resources, plan_resources, resource_environment


def test_names_follow_the_definition_and_buckets_are_valid_s3_names() -> None:
    stack = load_stack_file("dev")
    names = {p.resource.logical: p.name for p in plan_resources(APP, stack)}
    assert names["results_table"] == physical_name("fhr", "dev", "results_table")
    assert names["items_table"] == physical_name("fhr", "dev", "items_table")
    assert names["ecg_bucket"] == "fhr-dev-ecg-bucket"
    assert resource_environment(APP, stack) == {res.env_var: names[res.logical] for res in APP.resources}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_tables_bucket_and_settings_on_moto(moto_endpoint: str, stage: str) -> None:
    stack = load_stack_file(stage)
    suffix = uuid.uuid4().hex[:6]  # the session's moto server is shared: keep names unique
    plans = [p.__class__(p.resource, f"{p.name}-{suffix}", p.settings) for p in plan_resources(APP, stack)]
    create_resources(plans, moto_endpoint, stack.region)
    kw = {"endpoint_url": moto_endpoint, "region_name": stack.region}
    dynamodb, s3 = boto3.client("dynamodb", **kw), boto3.client("s3", **kw)
    for plan in plans:
        res = plan.resource
        if res.kind == "table":
            table = dynamodb.describe_table(TableName=plan.name)["Table"]
            assert table["KeySchema"] == [{"AttributeName": res.hash_key, "KeyType": "HASH"}]
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
            rules = s3.get_bucket_lifecycle_configuration(Bucket=plan.name)["Rules"]
            assert rules[0]["Transitions"][0]["Days"] == stack.bucket.transition_days
