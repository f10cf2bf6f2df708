"""The whole Pulumi program (``__main__.py``) for both stacks, asserted on the resource graph it registers.

Each stack runs once under ``pulumi.runtime.set_mocks`` with its real stack file and a real bundle
(the code zip of ``handlers/``, a layer built from an empty requirements set so the tests stay
offline). The checks are written as functions over a graph so a last test can show that they fail
on a graph with a missing or mis-wired resource.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from bundler.build import BundleSources, build_bundle
from bundler.manifest import Manifest
from components.testing import Graph, Registered, run_program, stack_file_config
from fhrapp.definition import APP, api_routes_json, warm_payload

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pulumi_aws warns about its own V2 aliases

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"
STAGES = ("dev", "prod")

FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
API = "aws:apigatewayv2/api:Api"
STAGE = "aws:apigatewayv2/stage:Stage"
AUTHORIZER = "aws:apigatewayv2/authorizer:Authorizer"
TABLE = "aws:dynamodb/table:Table"
BUCKET = "aws:s3/bucket:Bucket"
LAYER = "aws:lambda/layerVersion:LayerVersion"
QUEUE = "aws:sqs/queue:Queue"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ALIAS = "aws:lambda/alias:Alias"
BUCKET_CORS = "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"

COMMON_COUNTS = {
    "fhr:service:FhrService": 1,
    "fhr:storage:EcgStorage": 1,
    "fhr:tables:Tables": 1,
    "fhr:queues:Queues": 1,
    "fhr:function:Function": 4,
    "fhr:api:HttpApi": 1,
    "fhr:keepwarm:KeepWarm": 1,
    "fhr:schedules:Schedules": 1,  # the jobs sweeper
    "fhr:observability:Observability": 1,
    BUCKET: 1,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
    "aws:s3/bucketPolicy:BucketPolicy": 1,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
    BUCKET_CORS: 1,
    TABLE: 2,
    QUEUE: 2,  # jobs queue + its dead-letter queue
    QUEUE_POLICY: 2,  # TLS only, per queue
    REDRIVE_ALLOW: 1,  # on the dead-letter queue
    LAYER: 1,
    FUNCTION: 4,
    ALIAS: 4,  # "live", on the version each deploy publishes
    ROLE: 4,
    ROLE_POLICY: 6,  # access per function + invoke-self for fhr and items
    LOG_GROUP: 5,  # four functions + API access logs
    PERMISSION: 6,  # API Gateway per routed function (not the worker) + EventBridge per warmed function + sweeper
    MAPPING: 1,  # jobs queue -> worker
    API: 1,
    INTEGRATION: 3,  # one per function that serves a route
    ROUTE: 9,
    STAGE: 1,
    RULE: 3,  # keep-warm per warmed function + the jobs sweeper
    TARGET: 3,
    DASHBOARD: 1,
    ALARM: 10,  # errors + throttles per function, fhr p99 duration, dead-letter depth
}
EXPECTED_COUNTS = {
    "dev": COMMON_COUNTS,
    "prod": {
        **COMMON_COUNTS,
        "aws:s3/bucketVersioning:BucketVersioning": 1,
        AUTHORIZER: 1,
        TOPIC: 1,  # prod mails its alarms
        SUBSCRIPTION: 1,
    },
}
# What differs between the stacks, as the stack files say it should.
EXPECTED_STAGE_VALUES: dict[str, dict[str, Any]] = {
    "dev": {
        "memory": {"fhr": 1769, "items": 256, "worker": 1769, "web": 512},
        "reserved": {"fhr": 380, "items": 20, "worker": 20, "web": 10},
        "force_destroy": True,
        "pitr": False,
        "deletion_protection": False,
        "retention": 14,
        "throttle": (500, 1000),
        "cors": ["*"],
        "authorization": "NONE",
        "tenancy": {"FHR_OPEN_TENANT": "open"},
        "warm_concurrency": 2,
        "snap_start": set(),
        "transition_days": 30,
        "alarms": {"errors": 10, "throttles": 10, "p99": 25000, "dlq": 0, "period": 300, "evaluations": 3},
        "alarm_email": None,
    },
    "prod": {
        "memory": {"fhr": 3008, "items": 512, "worker": 1769, "web": 512},
        "reserved": {"fhr": 380, "items": 50, "worker": 50, "web": 50},
        "force_destroy": False,
        "pitr": True,
        "deletion_protection": True,
        "retention": 90,
        "throttle": (1000, 2000),
        "cors": ["https://fhr.example.org"],
        "authorization": "JWT",
        "tenancy": {"FHR_TENANT_CLAIM": "sub"},
        "warm_concurrency": 10,
        "snap_start": {"fhr"},
        "transition_days": 90,
        "alarms": {"errors": 1, "throttles": 0, "p99": 15000, "dlq": 0, "period": 60, "evaluations": 2},
        "alarm_email": "oncall@fhr.example.org",
    },
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    work = tmp_path_factory.mktemp("bundle")
    requirements = work / "requirements.txt"
    requirements.write_text("# the full layer is built by `make bundle`\n")
    out = work / "lambda"
    manifest = build_bundle(out, BundleSources(handlers=ROOT / "handlers", requirements=requirements, cache=work / "c"))
    return out, manifest


@pytest.fixture(scope="module")
def graphs(bundle: tuple[Path, Manifest]) -> dict[str, Graph]:
    out, _ = bundle
    return {
        stage: run_program(
            PROGRAM, stack=stage, config=stack_file_config(ROOT / f"Pulumi.{stage}.yaml"), bundle_dir=out
        )
        for stage in STAGES
    }


def fn_name(stage: str, logical: str) -> str:
    return f"fhr-{stage}-{logical}"


def policy_of(resource: Registered) -> dict[str, Any]:
    return json.loads(resource.inputs["policy"])


# ---- checks over a graph (used by the tests below, and shown to fail on broken graphs at the end)


def check_counts(graph: Graph, stage: str) -> None:
    assert dict(graph.counts()) == EXPECTED_COUNTS[stage]


def check_parents(graph: Graph, stage: str) -> None:
    """The service is top level; components hang under it; AWS resources under a component."""
    for resource in graph.resources:
        if resource.typ == "fhr:service:FhrService":
            assert resource.parent_type is None
        elif resource.typ.startswith("fhr:") or resource.typ == LAYER:
            assert resource.parent_type == "fhr:service:FhrService", resource.name
        else:
            assert resource.parent_type is not None and resource.parent_type.startswith("fhr:"), resource.name
            assert resource.parent_type != "fhr:service:FhrService", resource.name


def check_routes(graph: Graph, stage: str) -> None:
    api = graph.one(API, fn_name(stage, "api"))
    routes = {r.inputs["routeKey"]: r for r in graph.of_type(ROUTE)}
    assert set(routes) == {route.route_key for route in APP.routes}
    for route in APP.routes:
        wired = routes[route.route_key]
        assert wired.inputs["apiId"] == api.id
        assert wired.inputs["target"].startswith("integrations/")
        integration = graph.by_id[wired.inputs["target"].removeprefix("integrations/")]
        alias = live_alias(graph, stage, route.function)
        assert integration.typ == INTEGRATION
        assert integration.inputs["integrationUri"] == alias.state["invokeArn"], route.route_key
        assert integration.inputs["apiId"] == api.id
        assert integration.inputs["integrationType"] == "AWS_PROXY"
        assert integration.inputs["payloadFormatVersion"] == "2.0"
        expected_auth = "NONE" if route.public else EXPECTED_STAGE_VALUES[stage]["authorization"]
        assert wired.inputs["authorizationType"] == expected_auth, route.route_key
        expected_scopes = list(route.scopes) if expected_auth == "JWT" else None
        assert wired.inputs.get("authorizationScopes") == expected_scopes, route.route_key


def live_alias(graph: Graph, stage: str, logical: str) -> Registered:
    """The ``live`` alias of a function: on the version its deploy published."""
    function = graph.one(FUNCTION, fn_name(stage, logical))
    alias = graph.one(ALIAS, f"{fn_name(stage, logical)}-live")
    assert alias.inputs["name"] == "live" and alias.inputs["functionName"] == function.state["name"]
    assert alias.inputs["functionVersion"] == function.state["version"] != "$LATEST"
    return alias


def check_keep_warm(graph: Graph, stage: str) -> None:
    payload = warm_payload(EXPECTED_STAGE_VALUES[stage]["warm_concurrency"])
    targets = {t.inputs["rule"]: t for t in graph.of_type(TARGET)}
    for fn in APP.warmed_functions:
        function = graph.one(FUNCTION, fn_name(stage, fn.name))
        alias = live_alias(graph, stage, fn.name)
        rule = graph.one(RULE, f"{fn_name(stage, fn.name)}-keep-warm")
        assert rule.inputs["scheduleExpression"] == "rate(5 minutes)"
        target = targets[rule.state["name"]]
        assert target.inputs["arn"] == alias.state["arn"]  # warms the environments the API's calls land on
        assert json.loads(target.inputs["input"]) == payload
        permissions = [p for p in graph.of_type(PERMISSION) if p.inputs.get("sourceArn") == rule.state["arn"]]
        assert len(permissions) == 1
        assert permissions[0].inputs["function"] == function.state["name"]
        assert permissions[0].inputs["qualifier"] == "live"
        assert permissions[0].inputs["principal"] == "events.amazonaws.com"
        assert permissions[0].inputs["action"] == "lambda:InvokeFunction"


def check_iam(graph: Graph, stage: str) -> None:
    bucket = graph.one(BUCKET, fn_name(stage, "ecg_bucket")).state["arn"]
    results = graph.one(TABLE, fn_name(stage, "results_table")).state["arn"]
    items = graph.one(TABLE, fn_name(stage, "items_table")).state["arn"]
    jobs = graph.one(QUEUE, fn_name(stage, "jobs_queue")).state["arn"]
    read_recordings = {
        "Sid": "EcgBucketTenantsObjects",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"{bucket}/tenants/*"],
    }
    list_recordings = {"Sid": "EcgBucketBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket]}
    write_results = {  # results over the DynamoDB item limit, tagged for their lifecycle rule; no recording's key
        "Sid": "EcgBucketTenantsResultsObjects",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:PutObjectTagging"],
        "Resource": [f"{bucket}/tenants/*/results/*"],
    }
    cache = {
        "Sid": "ResultsTable",
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        "Resource": [results],
    }
    jobs_table = {
        "Sid": "ResultsTable",
        "Effect": "Allow",
        "Action": [
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
        "Resource": [results],
    }
    expected_grants = {
        "fhr": [
            read_recordings,
            list_recordings,
            write_results,
            jobs_table,
            {"Sid": "JobsQueue", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [jobs]},
        ],
        "worker": [
            read_recordings,
            list_recordings,
            write_results,
            {**cache, "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"]},
            {
                "Sid": "JobsQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",  # the sweeper re-enqueues
                ],
                "Resource": [jobs],
            },
        ],
        "web": [
            list_recordings,
            {
                "Sid": "EcgBucketTenantsUploadsObjects",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket}/tenants/*/uploads/*"],
            },
        ],
        "items": [
            {
                "Sid": "ItemsTable",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DeleteItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                ],
                "Resource": [items],
            }
        ],
    }
    role_arns = set()
    for logical, grants in expected_grants.items():
        name = fn_name(stage, logical)
        function = graph.one(FUNCTION, name)
        role = graph.one(ROLE, f"{name}-role")
        assert function.inputs["role"] == role.state["arn"]
        role_arns.add(role.state["arn"])
        assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        log_group = graph.one(LOG_GROUP, f"{name}-logs").state["arn"]
        logs = {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{log_group}:*"],
        }
        access = graph.one(ROLE_POLICY, f"{name}-access")
        assert access.inputs["role"] == role.id
        assert policy_of(access)["Statement"] == [logs, *grants]
        if not APP.function(logical).invokes_self:
            assert [p.name for p in graph.of_type(ROLE_POLICY) if p.inputs["role"] == role.id] == [f"{name}-access"]
            continue
        invoke = graph.one(ROLE_POLICY, f"{name}-invoke-self")
        assert invoke.inputs["role"] == role.id
        assert policy_of(invoke)["Statement"] == [
            {
                "Sid": "InvokeSelf",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [function.state["arn"], f"{function.state['arn']}:*"],
            }
        ]
    assert len(role_arns) == len(APP.functions)  # one role per function


def check_no_wildcards(graph: Graph, stage: str) -> None:
    for policy in graph.of_type(ROLE_POLICY):
        for statement in policy_of(policy)["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                assert "*" not in action, (policy.name, action)
            for resource in statement["Resource"]:
                assert resource != "*" and not resource.endswith(":*:*"), (policy.name, resource)
                if any(a.startswith(("s3:", "dynamodb:", "sqs:")) for a in statement["Action"]):
                    # A trailing /* (objects under a prefix) and one whole segment for "any tenant" only
                    pinned = resource.removesuffix("/*").replace("/tenants/*/", "/tenants/<tenant>/")
                    assert "*" not in pinned, (policy.name, resource)


def check_queues(graph: Graph, stage: str) -> None:
    """Encrypted queues with the definition's timeouts; the jobs queue redrives into the DLQ, which admits only it."""
    jobs, dlq = graph.one(QUEUE, fn_name(stage, "jobs_queue")), graph.one(QUEUE, fn_name(stage, "jobs_dlq"))
    assert {q.parent_type for q in (jobs, dlq)} == {"fhr:queues:Queues"}
    for queue, definition in ((jobs, APP.resource("jobs_queue")), (dlq, APP.resource("jobs_dlq"))):
        assert queue.inputs["sqsManagedSseEnabled"] is True
        assert queue.inputs["visibilityTimeoutSeconds"] == definition.visibility_timeout_s
        assert queue.inputs["messageRetentionSeconds"] == definition.retention_s
        assert queue.inputs["maxMessageSize"] == definition.max_message_bytes  # the local cloud enforces the same
    assert json.loads(jobs.inputs["redrivePolicy"]) == {
        "deadLetterTargetArn": dlq.state["arn"],
        "maxReceiveCount": APP.resource("jobs_queue").max_receives,
    }
    assert "redrivePolicy" not in dlq.inputs
    allows = graph.of_type(REDRIVE_ALLOW)
    assert len(allows) == 1, "the dead-letter queue needs exactly one redrive-allow policy"
    allow = allows[0]
    assert allow.inputs["queueUrl"] == dlq.state["url"]
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [jobs.state["arn"]],
    }


def check_event_source(graph: Graph, stage: str) -> None:
    """The jobs queue feeds the worker in batches, with per-item failures, once the worker's role can consume it."""
    worker = graph.one(FUNCTION, fn_name(stage, "worker"))
    trigger = APP.function("worker").trigger
    assert trigger is not None
    mappings = graph.of_type(MAPPING)
    assert len(mappings) == 1, "the worker needs exactly one event source mapping"
    mapping = mappings[0]
    assert mapping.inputs == {
        "eventSourceArn": graph.one(QUEUE, fn_name(stage, "jobs_queue")).state["arn"],
        "functionName": live_alias(graph, stage, "worker").state["arn"],
        "batchSize": trigger.batch_size,
        "maximumBatchingWindowInSeconds": trigger.max_batching_window_s,
        "functionResponseTypes": ["ReportBatchItemFailures"],
        "scalingConfig": {"maximumConcurrency": trigger.max_concurrency},
    }
    assert mapping.depends_on(graph.one(ROLE_POLICY, f"{fn_name(stage, 'worker')}-access"))
    assert trigger.max_concurrency <= worker.inputs["reservedConcurrentExecutions"]


def check_bucket_cors(graph: Graph, stage: str) -> None:
    """Browsers may POST (presigned uploads) and GET from the page's origin (the API) and the stack's origins."""
    bucket = graph.one(BUCKET, fn_name(stage, "ecg_bucket"))
    api_origin = graph.one(API, fn_name(stage, "api")).state["apiEndpoint"]
    cors = graph.one(BUCKET_CORS, f"{fn_name(stage, 'ecg_bucket')}-cors")
    assert cors.parent_type == "fhr:storage:EcgStorage"
    origins = ["*"] if stage == "dev" else [api_origin, "https://fhr.example.org"]
    assert cors.inputs == {
        "bucket": bucket.state["bucket"],
        "corsRules": [
            {
                "id": "browser-uploads",
                "allowedMethods": ["GET", "HEAD", "POST"],
                "allowedOrigins": origins,
                "allowedHeaders": ["*"],
                "exposeHeaders": ["ETag", "Location"],
                "maxAgeSeconds": 3000,
            }
        ],
    }


def expected_alarms(stage: str) -> dict[str, dict[str, Any]]:
    """Every alarm of the stack: name -> the metric and threshold it must watch."""
    limits = EXPECTED_STAGE_VALUES[stage]["alarms"]
    lambda_common = {"namespace": "AWS/Lambda", "period": limits["period"], "evaluationPeriods": limits["evaluations"]}
    alarms: dict[str, dict[str, Any]] = {}
    for fn in APP.functions:
        name = fn_name(stage, fn.name)
        for metric, threshold in (("Errors", limits["errors"]), ("Throttles", limits["throttles"])):
            alarms[f"{name}-{metric.lower()}"] = {
                **lambda_common,
                "metricName": metric,
                "statistic": "Sum",
                "threshold": threshold,
                "dimensions": {"FunctionName": name},
            }
    alarms[f"{fn_name(stage, 'fhr')}-p99-duration"] = {
        **lambda_common,
        "metricName": "Duration",
        "extendedStatistic": "p99",
        "threshold": limits["p99"],
        "dimensions": {"FunctionName": fn_name(stage, "fhr")},
    }
    alarms[f"{fn_name(stage, 'jobs_dlq')}-depth"] = {
        "namespace": "AWS/SQS",
        "metricName": "ApproximateNumberOfMessagesVisible",
        "statistic": "Maximum",
        "threshold": limits["dlq"],
        "period": limits["period"],
        "evaluationPeriods": 1,
        "dimensions": {"QueueName": fn_name(stage, "jobs_dlq")},
    }
    return alarms


def check_alarms(graph: Graph, stage: str) -> None:
    email = EXPECTED_STAGE_VALUES[stage]["alarm_email"]
    topics = graph.of_type(TOPIC)
    if email is None:
        assert not topics and not graph.of_type(SUBSCRIPTION)
        actions: list[str] = []
    else:
        [topic] = topics
        [subscription] = graph.of_type(SUBSCRIPTION)
        assert topic.inputs["name"] == f"fhr-{stage}-alarms"
        assert subscription.inputs == {"topic": topic.state["arn"], "protocol": "email", "endpoint": email}
        actions = [topic.state["arn"]]
    alarms = {a.inputs["name"]: a for a in graph.of_type(ALARM)}
    expected = expected_alarms(stage)
    assert set(alarms) == set(expected)
    for name, watched in expected.items():
        inputs = alarms[name].inputs
        assert {key: inputs.get(key) for key in watched} == watched, name
        assert inputs["comparisonOperator"] == "GreaterThanThreshold", name
        assert inputs["treatMissingData"] == "notBreaching", name
        assert inputs["alarmActions"] == actions and inputs["okActions"] == actions, name
        assert alarms[name].parent_type == "fhr:observability:Observability"


def dashboard_metrics(graph: Graph, stage: str) -> dict[str, list[list[Any]]]:
    body = json.loads(graph.one(DASHBOARD, f"fhr-{stage}-dashboard").inputs["dashboardBody"])
    return {w["properties"]["title"]: w["properties"].get("metrics") for w in body["widgets"]}


def check_dashboard(graph: Graph, stage: str) -> None:
    """The dashboard shows what an operator needs, for this stack's functions, API, queues and alarms."""
    dashboard = graph.one(DASHBOARD, f"fhr-{stage}-dashboard")
    body = json.loads(dashboard.inputs["dashboardBody"])
    widgets = {w["properties"]["title"]: w for w in body["widgets"]}
    assert widgets["Alarms"]["type"] == "alarm"
    assert widgets["Alarms"]["properties"]["alarms"] == sorted(a.state["arn"] for a in graph.of_type(ALARM))
    metrics = dashboard_metrics(graph, stage)
    titles = {
        f"{fn.name}: {what}" for fn in APP.functions for what in ("invocations, errors, throttles", "duration (ms)")
    }
    titles |= {"Concurrent executions", "API: requests, 4xx, 5xx", "API: latency (ms)", "Dead-letter queue depth"}
    titles |= {"Queues: backlog and oldest message age (s)", "Alarms"}
    titles |= {f"FHR: {m}" for m in ("FhrDurationMs", "BytesStreamed", "CacheHits", "ColdStarts", "WarmPings")}
    assert set(metrics) == titles
    period = EXPECTED_STAGE_VALUES[stage]["alarms"]["period"]
    for widget in body["widgets"][1:]:
        assert widget["properties"]["region"] == "eu-west-1" and widget["properties"]["period"] == period
    names = [fn_name(stage, fn.name) for fn in APP.functions]
    for fn in APP.functions:
        name = fn_name(stage, fn.name)
        assert metrics[f"{fn.name}: invocations, errors, throttles"] == [
            ["AWS/Lambda", metric, "FunctionName", name] for metric in ("Invocations", "Errors", "Throttles")
        ]
        assert metrics[f"{fn.name}: duration (ms)"] == [
            ["AWS/Lambda", "Duration", "FunctionName", name, {"stat": "p50"}],
            ["AWS/Lambda", "Duration", "FunctionName", name, {"stat": "p99"}],
        ]
    assert metrics["Concurrent executions"] == [
        ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", name] for name in names
    ]
    api_id = graph.one(API, fn_name(stage, "api")).id
    assert metrics["API: requests, 4xx, 5xx"] == [
        ["AWS/ApiGateway", metric, "ApiId", api_id] for metric in ("Count", "4xx", "5xx")
    ]
    assert ["AWS/ApiGateway", "Latency", "ApiId", api_id, {"stat": "p99"}] in metrics["API: latency (ms)"]
    assert metrics["Dead-letter queue depth"] == [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", fn_name(stage, "jobs_dlq")]
    ]
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", fn_name(stage, "jobs_queue")] in metrics[
        "Queues: backlog and oldest message age (s)"
    ]
    for metric in ("FhrDurationMs", "BytesStreamed", "CacheHits", "ColdStarts", "WarmPings"):
        lines = metrics[f"FHR: {metric}"]
        assert {line[0] for line in lines} == {"FHR"} and {line[1] for line in lines} == {metric}
        assert {line[3] for line in lines} == set(names)  # Function dimension = deployed name
    assert [line[4]["stat"] for line in metrics["FHR: FhrDurationMs"][:2]] == ["p50", "p99"]
    xy = [(w["x"], w["y"]) for w in body["widgets"]]
    assert len(xy) == len(set(xy))  # no two widgets on top of each other


# ---- tests


@pytest.mark.parametrize("stage", STAGES)
def test_resource_types_and_counts(graphs: dict[str, Graph], stage: str) -> None:
    check_counts(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_every_resource_is_a_child_of_the_service_and_its_component(graphs: dict[str, Graph], stage: str) -> None:
    check_parents(graphs[stage], stage)
    graph = graphs[stage]
    assert graph.one(BUCKET, fn_name(stage, "ecg_bucket")).parent_type == "fhr:storage:EcgStorage"
    assert {t.parent_type for t in graph.of_type(TABLE)} == {"fhr:tables:Tables"}
    assert {f.parent_type for f in graph.of_type(FUNCTION)} == {"fhr:function:Function"}
    assert {r.parent_type for r in graph.of_type(ROUTE)} == {"fhr:api:HttpApi"}
    assert {r.parent_type for r in graph.of_type(RULE)} == {"fhr:keepwarm:KeepWarm", "fhr:schedules:Schedules"}


@pytest.mark.parametrize("stage", STAGES)
def test_names_come_from_the_definition(graphs: dict[str, Graph], stage: str) -> None:
    graph = graphs[stage]
    assert sorted(f.inputs["name"] for f in graph.of_type(FUNCTION)) == [
        f"fhr-{stage}-fhr",
        f"fhr-{stage}-items",
        f"fhr-{stage}-web",
        f"fhr-{stage}-worker",
    ]
    assert sorted(q.inputs["name"] for q in graph.of_type(QUEUE)) == [
        f"fhr-{stage}-jobs_dlq",
        f"fhr-{stage}-jobs_queue",
    ]
    assert sorted(t.inputs["name"] for t in graph.of_type(TABLE)) == [
        f"fhr-{stage}-items_table",
        f"fhr-{stage}-results_table",
    ]
    assert sorted(g.inputs["name"] for g in graph.of_type(LOG_GROUP)) == [
        f"/aws/apigateway/fhr-{stage}-api",
        f"/aws/lambda/fhr-{stage}-fhr",
        f"/aws/lambda/fhr-{stage}-items",
        f"/aws/lambda/fhr-{stage}-web",
        f"/aws/lambda/fhr-{stage}-worker",
    ]
    assert graph.one(DASHBOARD, f"fhr-{stage}-dashboard").inputs["dashboardName"] == f"fhr-{stage}-dashboard"
    assert graph.one(BUCKET, fn_name(stage, "ecg_bucket")).inputs["bucketPrefix"] == f"fhr-{stage}-ecg-bucket-"
    assert graph.one(API, fn_name(stage, "api")).inputs["name"] == f"fhr-{stage}-api"


@pytest.mark.parametrize("stage", STAGES)
def test_functions_run_our_runtime_with_their_config_and_the_bundle(
    graphs: dict[str, Graph], bundle: tuple[Path, Manifest], stage: str
) -> None:
    graph, (_, manifest) = graphs[stage], bundle
    expected = EXPECTED_STAGE_VALUES[stage]
    layer = graph.one(LAYER, fn_name(stage, "deps"))
    assert layer.inputs["sourceCodeHash"] == manifest.layer.sha256_b64
    assert layer.inputs["compatibleRuntimes"] == ["python3.12"]
    assert layer.inputs["compatibleArchitectures"] == ["x86_64"]
    names = {
        "ECG_BUCKET": graph.one(BUCKET, fn_name(stage, "ecg_bucket")).state["bucket"],
        "RESULTS_TABLE": fn_name(stage, "results_table"),
        "ITEMS_TABLE": fn_name(stage, "items_table"),
        "JOBS_QUEUE_URL": graph.one(QUEUE, fn_name(stage, "jobs_queue")).state["url"],
    }
    assert names["JOBS_QUEUE_URL"] == f"https://sqs.eu-west-1.amazonaws.com/123456789012/fhr-{stage}-jobs_queue"
    for fn in APP.functions:
        function = graph.one(FUNCTION, fn_name(stage, fn.name))
        inputs = function.inputs
        assert inputs["runtime"] == "python3.12" and inputs["handler"] == fn.handler
        assert inputs["memorySize"] == expected["memory"][fn.name]
        assert inputs["timeout"] == fn.timeout_s
        assert inputs["reservedConcurrentExecutions"] == expected["reserved"][fn.name]
        assert inputs["architectures"] == ["x86_64"]
        assert inputs["layers"] == [layer.state["arn"]]
        assert inputs["sourceCodeHash"] == manifest.code.sha256_b64
        assert inputs["code"].path == str(manifest.code_path)
        assert inputs["loggingConfig"]["logGroup"] == f"/aws/lambda/{fn_name(stage, fn.name)}"
        assert inputs["publish"] is True and inputs["ephemeralStorage"] == {"size": 512}
        if fn.name in expected["snap_start"]:
            assert inputs["snapStart"] == {"applyOn": "PublishedVersions"}, fn.name
        else:
            assert "snapStart" not in inputs, fn.name
        resource_env = {APP.resource(r).env_var: names[APP.resource(r).env_var] for r in fn.resources}
        route_table = {"FHR_API_ROUTES": api_routes_json(APP)} if fn.name == "web" else {}  # serves /openapi.json
        assert inputs["environment"]["variables"] == {
            **resource_env,
            **fn.extra_env,
            "STAGE": stage,
            **expected["tenancy"],
            **route_table,
            "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/handlers/runtime/exec_wrapper.sh",
        }
        variables = inputs["environment"]["variables"]
        assert sum(len(k) + len(v) for k, v in variables.items()) <= 4096  # Lambda's limit on the environment
        log_group = graph.one(LOG_GROUP, f"{fn_name(stage, fn.name)}-logs")
        assert log_group.inputs["retentionInDays"] == expected["retention"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_iam_statement_is_exact(graphs: dict[str, Graph], stage: str) -> None:
    check_iam(graphs[stage], stage)
    check_no_wildcards(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_each_route_reaches_its_function(graphs: dict[str, Graph], stage: str) -> None:
    check_routes(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_api_gateway_may_invoke_each_function_from_this_api_only(graphs: dict[str, Graph], stage: str) -> None:
    graph = graphs[stage]
    api = graph.one(API, fn_name(stage, "api"))
    routed = {route.function for route in APP.routes}
    assert routed == {"fhr", "items", "web"}  # the worker is fed by its queue, never by the API
    api_permissions = [p for p in graph.of_type(PERMISSION) if p.inputs["principal"] == "apigateway.amazonaws.com"]
    assert len(api_permissions) == len(routed)
    for logical in routed:
        permission = graph.one(PERMISSION, f"fhr-{stage}-api-invoke-{logical}")
        assert permission.inputs == {
            "statementId": "InvokeFromHttpApi",
            "action": "lambda:InvokeFunction",
            "function": fn_name(stage, logical),
            "qualifier": "live",
            "principal": "apigateway.amazonaws.com",
            "sourceArn": f"{api.state['executionArn']}/*/*",
        }


@pytest.mark.parametrize("stage", STAGES)
def test_stage_logs_and_throttles_and_cors_follows_the_stack(graphs: dict[str, Graph], stage: str) -> None:
    graph, expected = graphs[stage], EXPECTED_STAGE_VALUES[stage]
    api_stage = graph.one(STAGE, f"fhr-{stage}-api-default")
    access_logs = graph.one(LOG_GROUP, f"fhr-{stage}-api-access-logs")
    assert api_stage.inputs["name"] == "$default" and api_stage.inputs["autoDeploy"] is True
    assert api_stage.inputs["apiId"] == graph.one(API, fn_name(stage, "api")).id
    assert api_stage.inputs["accessLogSettings"]["destinationArn"] == access_logs.state["arn"]
    assert json.loads(api_stage.inputs["accessLogSettings"]["format"])["routeKey"] == "$context.routeKey"
    assert access_logs.inputs["retentionInDays"] == expected["retention"]
    settings = api_stage.inputs["defaultRouteSettings"]
    assert (settings["throttlingBurstLimit"], settings["throttlingRateLimit"]) == expected["throttle"]
    api = graph.one(API, fn_name(stage, "api"))
    assert api.inputs["protocolType"] == "HTTP"
    assert api.inputs["corsConfiguration"]["allowOrigins"] == expected["cors"]
    assert api.inputs["corsConfiguration"]["allowMethods"] == ["GET", "OPTIONS", "POST"]


def test_prod_routes_require_the_jwt_authorizer(graphs: dict[str, Graph]) -> None:
    graph = graphs["prod"]
    authorizer = graph.one(AUTHORIZER, "fhr-prod-api-jwt")
    assert authorizer.inputs["authorizerType"] == "JWT"
    assert authorizer.inputs["identitySources"] == ["$request.header.Authorization"]
    assert authorizer.inputs["jwtConfiguration"] == {"issuer": "https://auth.example.org/", "audiences": ["fhr-api"]}
    routes = {r.inputs["routeKey"]: r for r in graph.of_type(ROUTE)}
    for route in APP.routes:
        wired = routes[route.route_key].inputs
        if route.public:  # the page: a browser navigating to it sends no token
            assert wired["authorizationType"] == "NONE" and "authorizerId" not in wired, route.route_key
            assert "authorizationScopes" not in wired, route.route_key
        else:
            assert wired["authorizationType"] == "JWT" and wired["authorizerId"] == authorizer.id, route.route_key
            assert wired["authorizationScopes"] and wired["authorizationScopes"] == list(route.scopes)
    scopes = {key: r.inputs.get("authorizationScopes") for key, r in routes.items()}
    assert scopes == {
        "GET /fhr": ["fhr/read"],
        "POST /fhr": ["fhr/read"],
        "POST /fhr/batch": ["fhr/write"],
        "GET /fhr/jobs/{id}": ["fhr/read"],
        "POST /DynamoDBManager": ["items/read", "items/write"],
        "GET /": None,
        "POST /uploads": ["fhr/write"],
        "GET /recordings": ["fhr/read"],
        "GET /openapi.json": None,
    }
    assert [key for key, r in routes.items() if "authorizerId" not in r.inputs] == ["GET /", "GET /openapi.json"]
    assert not graphs["dev"].of_type(AUTHORIZER)
    assert all("authorizerId" not in r.inputs for r in graphs["dev"].of_type(ROUTE))


@pytest.mark.parametrize("stage", STAGES)
def test_keep_warm_rules_target_their_function_with_the_warm_payload(graphs: dict[str, Graph], stage: str) -> None:
    check_keep_warm(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_storage_and_tables_follow_the_stack(graphs: dict[str, Graph], stage: str) -> None:
    graph, expected = graphs[stage], EXPECTED_STAGE_VALUES[stage]
    bucket = graph.one(BUCKET, fn_name(stage, "ecg_bucket"))
    assert bucket.inputs["forceDestroy"] is expected["force_destroy"]
    name = bucket.state["bucket"]
    block = graph.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0].inputs
    assert block == {
        "bucket": name,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    sse = graph.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0]
    assert sse.inputs["bucket"] == name
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    policy = graph.of_type("aws:s3/bucketPolicy:BucketPolicy")[0]
    assert policy.inputs["bucket"] == name
    assert policy_of(policy)["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket.state["arn"], f"{bucket.state['arn']}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    versioning = graph.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert [v.inputs["versioningConfiguration"]["status"] for v in versioning] == (
        ["Enabled"] if stage == "prod" else []
    )
    lifecycle = graph.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0].inputs
    assert lifecycle["bucket"] == name
    rules = {rule["id"]: rule for rule in lifecycle["rules"]}
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    assert rules["recordings-to-infrequent-access"]["transitions"] == [
        {"days": expected["transition_days"], "storageClass": "STANDARD_IA"}
    ]
    # Result objects (tenants/<t>/results/, tagged) expire with the result TTL: 7 days, +1 for S3's midnight rounding.
    expiring = rules["results-expire-with-their-ttl"]
    assert expiring["filter"] == {"tag": {"key": "fhr-data", "value": "result"}}
    assert expiring["expiration"] == {"days": 8}
    results = graph.one(TABLE, fn_name(stage, "results_table")).inputs
    items = graph.one(TABLE, fn_name(stage, "items_table")).inputs
    assert results["hashKey"] == "pk" and results["attributes"] == [{"name": "pk", "type": "S"}]
    assert results["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert items["hashKey"] == "tenant" and items["rangeKey"] == "id" and "ttl" not in items
    assert items["attributes"] == [{"name": "tenant", "type": "S"}, {"name": "id", "type": "S"}]
    for table in (results, items):
        assert table["billingMode"] == "PAY_PER_REQUEST"
        assert table["pointInTimeRecovery"] == {"enabled": expected["pitr"]}
        assert table["deletionProtectionEnabled"] is expected["deletion_protection"]


@pytest.mark.parametrize("stage", STAGES)
def test_jobs_queue_redrives_into_a_dead_letter_queue_that_admits_only_it(graphs: dict[str, Graph], stage: str) -> None:
    check_queues(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_worker_consumes_the_jobs_queue_after_its_role_may(graphs: dict[str, Graph], stage: str) -> None:
    check_event_source(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_bucket_admits_browser_uploads_from_the_page_and_the_stack_origins(
    graphs: dict[str, Graph], stage: str
) -> None:
    check_bucket_cors(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_watch_every_function_fhr_latency_and_the_dlq(graphs: dict[str, Graph], stage: str) -> None:
    check_alarms(graphs[stage], stage)


@pytest.mark.parametrize("stage", STAGES)
def test_dashboard_shows_functions_api_queues_alarms_and_service_metrics(graphs: dict[str, Graph], stage: str) -> None:
    check_dashboard(graphs[stage], stage)


def test_prod_alarms_are_stricter_and_mailed(graphs: dict[str, Graph]) -> None:
    dev = {a.inputs["name"].removeprefix("fhr-dev-"): a.inputs for a in graphs["dev"].of_type(ALARM)}
    prod = {a.inputs["name"].removeprefix("fhr-prod-"): a.inputs for a in graphs["prod"].of_type(ALARM)}
    assert set(dev) == set(prod)
    for key in ("fhr-errors", "worker-throttles", "fhr-p99-duration"):
        assert prod[key]["threshold"] < dev[key]["threshold"], key
        assert prod[key]["period"] * prod[key]["evaluationPeriods"] < dev[key]["period"] * dev[key]["evaluationPeriods"]
    assert all(not a["alarmActions"] for a in dev.values()) and all(a["alarmActions"] for a in prod.values())


@pytest.mark.parametrize("stage", STAGES)
def test_stack_outputs_have_the_documented_shape(graphs: dict[str, Graph], stage: str) -> None:
    graph = graphs[stage]
    assert graph.outputs == {
        "api_url": graph.one(API, fn_name(stage, "api")).state["apiEndpoint"],
        "ecg_bucket": graph.one(BUCKET, fn_name(stage, "ecg_bucket")).state["bucket"],
        "results_table": fn_name(stage, "results_table"),
        "items_table": fn_name(stage, "items_table"),
        "jobs_queue_url": graph.one(QUEUE, fn_name(stage, "jobs_queue")).state["url"],
        "dlq_url": graph.one(QUEUE, fn_name(stage, "jobs_dlq")).state["url"],
        "functions": {logical: fn_name(stage, logical) for logical in ("fhr", "items", "worker", "web")},
        "region": "eu-west-1",
        "stage": stage,
        "dashboard_name": f"fhr-{stage}-dashboard",
    }
    assert graph.outputs["api_url"].startswith("https://")


# ---- rejected configuration and bundle


def mutate(config: dict[str, Any], key: str, path: str | None, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(config)
    if path is None:
        config[key] = value
        return config
    node = config[key]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return config


@pytest.mark.parametrize(
    ("stage", "key", "path", "value", "message"),
    [
        ("dev", "fhr:colour", None, "blue", "Pulumi.dev.yaml: config key 'fhr:colour' is not a known key"),
        (
            "prod",
            "fhr:functions",
            "items.reservedConcurrency",
            None,
            "'fhr:functions.items.reservedConcurrency' is missing",
        ),
        (
            "prod",
            "fhr:bucket",
            "forceDestroy",
            True,
            "Pulumi.prod.yaml: config key 'fhr:bucket.forceDestroy' may be true only",
        ),
        ("dev", "fhr:keepWarm", "schedule", "every 5 minutes", "'fhr:keepWarm.schedule' must be rate("),
        ("prod", "fhr:auth", "issuer", None, "'fhr:auth.issuer' must be an https:// URL when auth.mode is jwt"),
        (
            "dev",
            "fhr:functions",
            "fhr.architecture",
            "arm64",
            "'fhr:functions.fhr.architecture' is 'arm64' but the Lambda",
        ),
        ("dev", "aws:region", None, "", "'fhr:region' is missing"),
        ("dev", "fhr:alarms", "periodSeconds", 45, "Pulumi.dev.yaml: config key 'fhr:alarms.periodSeconds' must be"),
        ("prod", "fhr:alarms", "alarmEmail", "oncall", "'fhr:alarms.alarmEmail' must be an e-mail address"),
        ("prod", "fhr:alarms", "p99DurationMs", 30000, "'fhr:alarms.p99DurationMs' is 30000 but must stay below"),
        (
            "dev",
            "fhr:functions",
            "worker.reservedConcurrency",
            5,
            "'fhr:functions.worker.reservedConcurrency' is 5 but the jobs_queue mapping runs up to 10",
        ),
    ],
)
def test_invalid_config_stops_the_program_with_its_message(
    bundle: tuple[Path, Manifest], stage: str, key: str, path: str | None, value: Any, message: str
) -> None:
    config = mutate(stack_file_config(ROOT / f"Pulumi.{stage}.yaml"), key, path, value)
    with pytest.raises(pulumi.RunError) as err:
        run_program(PROGRAM, stack=stage, config=config, bundle_dir=bundle[0])
    assert message in str(err.value)


def test_missing_bundle_tells_the_operator_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(pulumi.RunError, match=r"no Lambda bundle manifest at .* run `make bundle`"):
        run_program(PROGRAM, stack="dev", config=stack_file_config(ROOT / "Pulumi.dev.yaml"), bundle_dir=tmp_path)


# ---- the checks above fail on a broken graph


def broken(graph: Graph, breakage: Callable[[Graph], None]) -> Graph:
    copy_ = Graph([copy.deepcopy(r) for r in graph.resources], copy.deepcopy(graph.outputs))
    copy_.by_id = {r.id: r for r in copy_.resources}
    breakage(copy_)
    return copy_


def drop(typ: str, name: str) -> Callable[[Graph], None]:
    return lambda g: g.resources.remove(g.one(typ, name))


def swap_route_targets(g: Graph) -> None:
    get, post = g.one(ROUTE, "fhr-dev-api-get-fhr"), g.one(ROUTE, "fhr-dev-api-post-dynamodbmanager")
    get.inputs["target"], post.inputs["target"] = post.inputs["target"], get.inputs["target"]


def retarget_warm_rule(g: Graph) -> None:
    g.one(TARGET, "fhr-dev-fhr-keep-warm").inputs["arn"] = g.one(FUNCTION, "fhr-dev-items").state["arn"]


def widen_policy(g: Graph) -> None:
    access = g.one(ROLE_POLICY, "fhr-dev-items-access")
    document = policy_of(access)
    document["Statement"][1]["Resource"] = ["*"]
    access.inputs["policy"] = json.dumps(document)


def orphan_function(g: Graph) -> None:
    function = g.one(FUNCTION, "fhr-dev-fhr")
    function.urn = "urn:pulumi:dev::fhr::aws:lambda/function:Function::fhr-dev-fhr"  # no parent=self


def edit_json(g: Graph, typ: str, name: str, key: str, change: Callable[[Any], None]) -> None:
    resource = g.one(typ, name)
    document = json.loads(resource.inputs[key])
    change(document)
    resource.inputs[key] = json.dumps(document)


def allow_any_source(g: Graph) -> None:
    edit_json(
        g,
        REDRIVE_ALLOW,
        "fhr-dev-jobs_dlq-redrive-allow",
        "redriveAllowPolicy",
        lambda d: d.update(redrivePermission="allowAll"),
    )


def redrive_to_itself(g: Graph) -> None:
    jobs = g.one(QUEUE, "fhr-dev-jobs_queue")
    edit_json(
        g, QUEUE, "fhr-dev-jobs_queue", "redrivePolicy", lambda d: d.update(deadLetterTargetArn=jobs.state["arn"])
    )


def map_the_dlq(g: Graph) -> None:
    g.of_type(MAPPING)[0].inputs["eventSourceArn"] = g.one(QUEUE, "fhr-dev-jobs_dlq").state["arn"]


def map_without_waiting_for_the_role(g: Graph) -> None:
    mapping = g.of_type(MAPPING)[0]
    access = g.one(ROLE_POLICY, "fhr-dev-worker-access").urn
    mapping.dependencies = tuple(d for d in mapping.dependencies if d != access)


def integrate_latest(g: Graph) -> None:
    """The API calling $LATEST instead of the alias: SnapStart and provisioned concurrency would not apply."""
    integration = g.one(INTEGRATION, "fhr-dev-api-fhr")
    integration.inputs["integrationUri"] = g.one(FUNCTION, "fhr-dev-fhr").state["invokeArn"]


def map_latest(g: Graph) -> None:
    g.of_type(MAPPING)[0].inputs["functionName"] = g.one(FUNCTION, "fhr-dev-worker").state["arn"]


def alias_latest(g: Graph) -> None:
    g.one(ALIAS, "fhr-dev-fhr-live").inputs["functionVersion"] = "$LATEST"


def drop_partial_batch_failures(g: Graph) -> None:
    del g.of_type(MAPPING)[0].inputs["functionResponseTypes"]


def alarm_the_wrong_function(g: Graph) -> None:
    g.one(ALARM, "fhr-dev-fhr-errors").inputs["dimensions"] = {"FunctionName": "fhr-dev-items"}


def drop_dlq_widget(g: Graph) -> None:
    def change(body: dict[str, Any]) -> None:
        body["widgets"] = [w for w in body["widgets"] if w["properties"]["title"] != "Dead-letter queue depth"]

    edit_json(g, DASHBOARD, "fhr-dev-dashboard", "dashboardBody", change)


def protect_the_page(g: Graph) -> None:
    page = g.one(ROUTE, "fhr-prod-api-get-root")
    page.inputs["authorizationType"] = "JWT"
    page.inputs["authorizerId"] = g.one(AUTHORIZER, "fhr-prod-api-jwt").id


def expose_a_data_route(g: Graph) -> None:
    route = g.one(ROUTE, "fhr-prod-api-post-uploads")
    route.inputs["authorizationType"] = "NONE"
    del route.inputs["authorizerId"]


def widen_web_uploads(g: Graph) -> None:
    def change(document: dict[str, Any]) -> None:
        statement = document["Statement"][2]
        statement["Resource"] = [statement["Resource"][0].replace("/tenants/*/uploads/*", "/*")]

    edit_json(g, ROLE_POLICY, "fhr-dev-web-access", "policy", change)


def cors_for_any_method(g: Graph) -> None:
    g.one(BUCKET_CORS, "fhr-dev-ecg_bucket-cors").inputs["corsRules"][0]["allowedMethods"].append("PUT")


@pytest.mark.parametrize(
    ("check", "breakage"),
    [
        (check_parents, orphan_function),
        (check_counts, drop(QUEUE, "fhr-dev-jobs_dlq")),
        (check_queues, drop(REDRIVE_ALLOW, "fhr-dev-jobs_dlq-redrive-allow")),
        (check_queues, allow_any_source),
        (check_queues, redrive_to_itself),
        (check_event_source, drop(MAPPING, "fhr-dev-worker-jobs_queue")),
        (check_event_source, map_the_dlq),
        (check_event_source, map_without_waiting_for_the_role),
        (check_event_source, drop_partial_batch_failures),
        (check_event_source, map_latest),
        (check_routes, integrate_latest),
        (check_routes, alias_latest),
        (check_bucket_cors, drop(BUCKET_CORS, "fhr-dev-ecg_bucket-cors")),
        (check_bucket_cors, cors_for_any_method),
        (check_alarms, drop(ALARM, "fhr-dev-jobs_dlq-depth")),
        (check_alarms, alarm_the_wrong_function),
        (check_dashboard, drop_dlq_widget),
        (check_iam, widen_web_uploads),
        (check_counts, drop(ROUTE, "fhr-dev-api-post-fhr")),
        (check_routes, drop(ROUTE, "fhr-dev-api-post-fhr")),
        (check_routes, swap_route_targets),
        (check_keep_warm, retarget_warm_rule),
        (check_keep_warm, drop(PERMISSION, "fhr-dev-items-keep-warm")),
        (check_iam, widen_policy),
        (check_no_wildcards, widen_policy),
        (check_iam, drop(ROLE_POLICY, "fhr-dev-fhr-invoke-self")),
    ],
    ids=lambda v: getattr(v, "__name__", "breakage"),
)
def test_checks_fail_on_a_missing_or_miswired_resource(
    graphs: dict[str, Graph], check: Callable[[Graph, str], None], breakage: Callable[[Graph], None]
) -> None:
    check(graphs["dev"], "dev")  # passes on the real graph...
    with pytest.raises(AssertionError):
        check(broken(graphs["dev"], breakage), "dev")  # ...and fails once it is broken


def drop_a_routes_scopes(g: Graph) -> None:
    del g.one(ROUTE, "fhr-prod-api-post-uploads").inputs["authorizationScopes"]


def widen_a_routes_scopes(g: Graph) -> None:
    g.one(ROUTE, "fhr-prod-api-post-uploads").inputs["authorizationScopes"].append("fhr/read")


@pytest.mark.parametrize(
    "breakage",
    [protect_the_page, expose_a_data_route, drop_a_routes_scopes, widen_a_routes_scopes],
    ids=lambda v: v.__name__,
)
def test_prod_route_checks_fail_on_a_wrong_authorizer(
    graphs: dict[str, Graph], breakage: Callable[[Graph], None]
) -> None:
    check_routes(graphs["prod"], "prod")
    with pytest.raises(AssertionError):
        check_routes(broken(graphs["prod"], breakage), "prod")
