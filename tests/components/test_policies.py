"""IAM documents from grants: exact statements, and refusal of anything that is not least privilege."""

from __future__ import annotations

import re

import pytest

from components.policies import (
    PolicyError,
    assume_role_policy,
    function_policy,
    grant_statements,
    invoke_self_policy,
    missing_actions,
)
from fhrapp.definition import APP, QUEUE_CONSUME, Function, Grant

BUCKET_ARN = "arn:aws:s3:::fhr-dev-ecg-bucket-x"
TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/fhr-dev-results_table"
LOGS_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fhr-dev-fhr"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:fhr-dev-jobs_queue"


def test_bucket_grant_splits_bucket_and_object_actions() -> None:
    grant = Grant("ecg_bucket", ("s3:PutObject", "s3:ListBucket", "s3:GetObject"))
    assert grant_statements(grant, "bucket", BUCKET_ARN) == [
        {"Sid": "EcgBucketBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [BUCKET_ARN]},
        {
            "Sid": "EcgBucketObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{BUCKET_ARN}/*"],
        },
    ]


def test_object_only_grant_never_names_the_bucket_itself() -> None:
    statements = grant_statements(Grant("ecg_bucket", ("s3:GetObject",)), "bucket", BUCKET_ARN)
    assert [s["Resource"] for s in statements] == [[f"{BUCKET_ARN}/*"]]


def test_a_prefix_scopes_object_actions_to_that_prefix() -> None:
    grant = Grant("ecg_bucket", ("s3:PutObject",), prefix="uploads/")
    assert grant_statements(grant, "bucket", BUCKET_ARN) == [
        {
            "Sid": "EcgBucketUploadsObjects",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{BUCKET_ARN}/uploads/*"],
        }
    ]


@pytest.mark.parametrize(
    ("grant", "kind", "message"),
    [
        (Grant("ecg_bucket", ("s3:ListBucket", "s3:PutObject"), prefix="uploads/"), "bucket", "bucket-level actions"),
        (Grant("ecg_bucket", ("s3:GetObject",), prefix="up*"), "bucket", "'*' only as a whole inner segment"),
        (Grant("ecg_bucket", ("s3:GetObject",), prefix="*/uploads/"), "bucket", "'*' only as a whole inner segment"),
        (Grant("ecg_bucket", ("s3:GetObject",), prefix="tenants/*"), "bucket", "'*' only as a whole inner segment"),
        (Grant("ecg_bucket", ("s3:GetObject",), prefix="tenants/a*/x/"), "bucket", "'*' only as a whole inner"),
        (Grant("ecg_bucket", ("s3:GetObject",), prefix="/uploads/"), "bucket", "no leading '/'"),
        (Grant("results_table", ("dynamodb:GetItem",), prefix="x/"), "table", "only buckets take one"),
    ],
)
def test_a_prefix_that_cannot_narrow_the_grant_is_refused(grant: Grant, kind: str, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        grant_statements(grant, kind, BUCKET_ARN)


def test_queue_grant_names_the_queue_arn() -> None:
    grant = Grant("jobs_queue", ("sqs:SendMessage",))
    assert grant_statements(grant, "queue", QUEUE_ARN) == [
        {"Sid": "JobsQueue", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [QUEUE_ARN]}
    ]
    with pytest.raises(PolicyError, match="only explicit sqs: actions, not 'sqs:\\*'"):
        grant_statements(Grant("jobs_queue", ("sqs:*",)), "queue", QUEUE_ARN)


def test_a_whole_inner_segment_may_be_any_tenant() -> None:
    grant = Grant("ecg_bucket", ("s3:PutObject",), prefix="tenants/*/uploads/")
    assert grant_statements(grant, "bucket", BUCKET_ARN)[0]["Resource"] == [f"{BUCKET_ARN}/tenants/*/uploads/*"]


def test_web_function_may_list_the_bucket_and_put_only_under_tenants_uploads() -> None:
    document = function_policy(APP, APP.function("web"), {"ecg_bucket": BUCKET_ARN}, LOGS_ARN)
    assert document["Statement"][1:] == [
        {"Sid": "EcgBucketBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [BUCKET_ARN]},
        {
            "Sid": "EcgBucketTenantsUploadsObjects",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{BUCKET_ARN}/tenants/*/uploads/*"],
        },
    ]


def test_analysis_functions_read_only_tenants_objects() -> None:
    for name in ("fhr", "worker"):
        document = function_policy(
            APP,
            APP.function(name),
            {"ecg_bucket": BUCKET_ARN, "results_table": TABLE_ARN, "jobs_queue": QUEUE_ARN},
            LOGS_ARN,
        )
        reads = [s for s in document["Statement"] if "s3:GetObject" in s["Action"]]
        assert reads == [
            {
                "Sid": "EcgBucketTenantsObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{BUCKET_ARN}/tenants/*"],
            }
        ], name


def test_two_grants_yielding_the_same_statement_id_are_refused() -> None:
    fn = Function(
        "twice",
        "handlers.x.handler",
        "",
        128,
        3,
        grants=(Grant("ecg_bucket", ("s3:GetObject",)), Grant("ecg_bucket", ("s3:PutObject",))),
    )
    with pytest.raises(PolicyError, match="repeat a statement id"):
        function_policy(APP, fn, {"ecg_bucket": BUCKET_ARN}, LOGS_ARN)


def test_missing_actions_names_what_a_consumer_lacks() -> None:
    worker = APP.function("worker")
    assert missing_actions(worker, "jobs_queue", QUEUE_CONSUME) == []
    assert missing_actions(APP.function("fhr"), "jobs_queue", ("sqs:ReceiveMessage", "sqs:SendMessage")) == [
        "sqs:ReceiveMessage"
    ]


def test_table_grant_names_the_table_arn() -> None:
    grant = Grant("results_table", ("dynamodb:UpdateItem", "dynamodb:GetItem"))
    assert grant_statements(grant, "table", TABLE_ARN) == [
        {
            "Sid": "ResultsTable",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            "Resource": [TABLE_ARN],
        }
    ]


@pytest.mark.parametrize(
    ("grant", "kind", "message"),
    [
        (Grant("results_table", ("dynamodb:*",)), "table", "only explicit dynamodb: actions, not 'dynamodb:*'"),
        (Grant("results_table", ("s3:GetObject",)), "table", "only explicit dynamodb: actions, not 's3:GetObject'"),
        (Grant("ecg_bucket", ("s3:Get*",)), "bucket", "only explicit s3: actions"),
    ],
)
def test_wildcard_or_foreign_actions_are_refused(grant: Grant, kind: str, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        grant_statements(grant, kind, TABLE_ARN)


def test_a_wildcard_resource_is_refused() -> None:
    with pytest.raises(PolicyError, match="would allow"):
        grant_statements(Grant("results_table", ("dynamodb:GetItem",)), "table", "*")


def test_function_policy_starts_with_its_own_log_group() -> None:
    arns = {"ecg_bucket": BUCKET_ARN, "results_table": TABLE_ARN, "jobs_queue": QUEUE_ARN}
    document = function_policy(APP, APP.function("fhr"), arns, LOGS_ARN)
    assert document["Version"] == "2012-10-17"
    assert document["Statement"][0] == {
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [f"{LOGS_ARN}:*"],
    }
    assert [s["Sid"] for s in document["Statement"]] == [
        "WriteOwnLogs",
        "EcgBucketTenantsObjects",
        "EcgBucketBucket",
        "EcgBucketTenantsResultsObjects",
        "ResultsTable",
        "JobsQueue",
    ]
    results = next(s for s in document["Statement"] if s["Sid"] == "EcgBucketTenantsResultsObjects")
    assert results["Action"] == ["s3:PutObject", "s3:PutObjectTagging"]  # results over the item limit, tagged
    assert results["Resource"] == [f"{BUCKET_ARN}/tenants/*/results/*"]  # never a recording's key


def test_invoke_self_and_trust_policies() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:fhr-dev-fhr"
    assert invoke_self_policy(arn)["Statement"] == [
        {"Sid": "InvokeSelf", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [arn, f"{arn}:*"]}
    ]
    assert assume_role_policy("lambda.amazonaws.com")["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
