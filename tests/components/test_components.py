"""Components under mocks with definitions and configs the shipped stacks do not exercise."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from bundler.errors import ManifestInvalid
from bundler.manifest import Manifest
from components.observability import check_alarms
from components.service import FhrService, check_bundle, check_triggers
from components.stackconfig import configured_keys, load_stack_config
from components.storage import browser_origins
from components.testing import Graph, run_pulumi, stack_file_config
from fhrapp.config import ConfigError, StackConfig, parse_stack_config, split_namespaced
from fhrapp.definition import (
    APP,
    QUEUE_CONSUME,
    SWEEP_SCHEDULE,
    SWEEP_SOURCE,
    AppDefinition,
    DataResource,
    Function,
    Grant,
    QueueTrigger,
    Route,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pulumi_aws warns about its own V2 aliases

ROOT = Path(__file__).resolve().parents[2]

UPLOADS = DataResource("uploads", "bucket", "UPLOADS_BUCKET")
JOBS = DataResource("jobs", "table", "JOBS_TABLE", hash_key="pk", range_key="sk")
WRITER = Function(
    name="writer",
    handler="handlers.api.writer.handler",
    description="writes uploads",
    memory_mb=512,
    timeout_s=60,
    grants=(Grant("uploads", ("s3:ListBucket", "s3:PutObject")), Grant("jobs", ("dynamodb:Query",))),
    resources=("uploads", "jobs"),
    extra_env={"MODE": "write"},
)
CUSTOM_APP = AppDefinition(
    name="fhr", functions=(WRITER,), routes=(Route("PUT", "/uploads/{key}", "writer"),), resources=(UPLOADS, JOBS)
)


def stack_raw(stage: str) -> tuple[dict[str, Any], str | None]:
    return split_namespaced(stack_file_config(ROOT / f"Pulumi.{stage}.yaml"))


def config_for(stage: str, app: AppDefinition = APP, **changes: Any) -> StackConfig:
    raw, region = stack_raw(stage)
    raw = copy.deepcopy(raw)
    raw.update(changes)
    return parse_stack_config(stage, raw, region, f"Pulumi.{stage}.yaml", app)


def deploy(app: AppDefinition, config: StackConfig, manifest: Manifest) -> Graph:
    def body() -> Any:
        return FhrService(app, config, manifest).stack_outputs

    return run_pulumi(body, stack=config.stage, config={"aws:region": config.region})


def test_a_definition_with_other_grants_gets_exactly_those(small_manifest: Manifest) -> None:
    config = config_for("dev", CUSTOM_APP, functions={"writer": {"reservedConcurrency": 3}})
    graph = deploy(CUSTOM_APP, config, small_manifest)
    bucket = graph.one("aws:s3/bucket:Bucket", "fhr-dev-uploads")
    jobs = graph.one("aws:dynamodb/table:Table", "fhr-dev-jobs")
    access = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "fhr-dev-writer-access").inputs["policy"])
    assert access["Statement"][1:] == [
        {"Sid": "UploadsBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket.state["arn"]]},
        {
            "Sid": "UploadsObjects",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{bucket.state['arn']}/*"],
        },
        {"Sid": "Jobs", "Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [jobs.state["arn"]]},
    ]
    # Not invokes_self: no invoke policy; not keep_warm: no rules, though the component exists.
    assert [p.name for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")] == ["fhr-dev-writer-access"]
    assert not graph.of_type("aws:cloudwatch/eventRule:EventRule")
    assert len(graph.of_type("fhr:keepwarm:KeepWarm")) == 1
    assert jobs.inputs["rangeKey"] == "sk"
    assert jobs.inputs["attributes"] == [{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}]
    function = graph.one("aws:lambda/function:Function", "fhr-dev-writer")
    assert function.inputs["environment"]["variables"] == {
        "UPLOADS_BUCKET": bucket.state["bucket"],
        "JOBS_TABLE": "fhr-dev-jobs",
        "MODE": "write",
        "STAGE": "dev",
        "FHR_OPEN_TENANT": "open",  # the dev stack is open: every caller is its one tenant
        "AWS_LAMBDA_EXEC_WRAPPER": "/var/task/handlers/runtime/exec_wrapper.sh",
    }
    integration = graph.one("aws:apigatewayv2/integration:Integration", "fhr-dev-api-writer")
    assert integration.inputs["timeoutMilliseconds"] == 30_000  # capped at the HTTP API maximum
    assert graph.one("aws:apigatewayv2/route:Route", "fhr-dev-api-put-uploads-{key}").inputs["routeKey"] == (
        "PUT /uploads/{key}"
    )
    assert graph.outputs["uploads"] == bucket.state["bucket"] and graph.outputs["jobs"] == "fhr-dev-jobs"


def test_disabled_keep_warm_registers_no_rules(small_manifest: Manifest) -> None:
    config = config_for("dev", keepWarm={"enabled": False})
    graph = deploy(APP, config, small_manifest)
    sweeper = f"fhr-dev-{SWEEP_SCHEDULE.name}"  # the app's own schedules stay
    assert [r.name for r in graph.of_type("aws:cloudwatch/eventRule:EventRule")] == [sweeper]
    assert [t.name for t in graph.of_type("aws:cloudwatch/eventTarget:EventTarget")] == [sweeper]
    principals = [p.inputs["principal"] for p in graph.of_type("aws:lambda/permission:Permission")]
    assert sorted(principals) == ["apigateway.amazonaws.com"] * len({route.function for route in APP.routes}) + [
        "events.amazonaws.com"
    ]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_jobs_sweeper_is_scheduled_on_the_worker_alias(stage: str, small_manifest: Manifest) -> None:
    graph = deploy(APP, config_for(stage), small_manifest)
    name = f"fhr-{stage}-{SWEEP_SCHEDULE.name}"
    rule = graph.one("aws:cloudwatch/eventRule:EventRule", name)
    assert rule.inputs["scheduleExpression"] == SWEEP_SCHEDULE.expression
    target = graph.one("aws:cloudwatch/eventTarget:EventTarget", name)
    assert json.loads(target.inputs["input"]) == {"source": SWEEP_SOURCE}
    alias = next(
        a for a in graph.of_type("aws:lambda/alias:Alias") if a.inputs["functionName"] == f"fhr-{stage}-worker"
    )
    assert target.inputs["arn"] == alias.state["arn"]
    permission = graph.one("aws:lambda/permission:Permission", name)
    assert (permission.inputs["principal"], permission.inputs["qualifier"]) == ("events.amazonaws.com", "live")
    assert permission.inputs["sourceArn"] == rule.state["arn"]
    worker = graph.one("aws:lambda/function:Function", f"fhr-{stage}-worker")
    env = worker.inputs["environment"]["variables"]
    assert int(env["JOBS_VISIBILITY_TIMEOUT_S"]) >= 6 * worker.inputs["timeout"]  # the stack rule's 6x


def test_no_cors_no_transition_and_short_integration_timeout(small_manifest: Manifest) -> None:
    raw, _ = stack_raw("dev")
    api = {**raw["api"], "corsOrigins": []}
    bucket = {"versioning": False, "forceDestroy": False}
    graph = deploy(APP, config_for("dev", api=api, bucket=bucket), small_manifest)
    assert "corsConfiguration" not in graph.one("aws:apigatewayv2/api:Api", "fhr-dev-api").inputs
    (lifecycle,) = graph.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert [rule["id"] for rule in lifecycle.inputs["rules"]] == ["results-expire-with-their-ttl"]  # no transition
    assert graph.one("aws:s3/bucket:Bucket", "fhr-dev-ecg_bucket").inputs["forceDestroy"] is False
    items = graph.one("aws:apigatewayv2/integration:Integration", "fhr-dev-api-items")
    assert items.inputs["timeoutMilliseconds"] == 11_000  # the function's 10 s timeout plus one


SPILL = DataResource("spill", "queue", "SPILL_URL", retention_s=14 * 24 * 3600)
FAST = DataResource("fast", "queue", "FAST_URL", dead_letter="spill", max_receives=2, visibility_timeout_s=60)
SLOW = DataResource("slow", "queue", "SLOW_URL", dead_letter="spill", max_receives=9, visibility_timeout_s=900)
LONE = DataResource("lone", "queue", "LONE_URL")
CONSUMER = Function(
    name="consumer",
    handler="handlers.api.consumer.handler",
    description="drains fast",
    memory_mb=256,
    timeout_s=50,
    grants=(Grant("fast", QUEUE_CONSUME), Grant("lone", ("sqs:SendMessage",))),
    resources=("fast", "lone"),
    trigger=QueueTrigger("fast", batch_size=10, max_batching_window_s=0, max_concurrency=3),
)
QUEUE_APP = AppDefinition(
    name="fhr",
    functions=(CONSUMER,),
    routes=(Route("POST", "/work", "consumer"),),
    resources=(SPILL, FAST, SLOW, LONE),
)


def queue_config(app: AppDefinition = QUEUE_APP, reserved: int = 3, timeout: int = 50) -> StackConfig:
    return config_for("dev", app, functions={"consumer": {"reservedConcurrency": reserved, "timeout": timeout}})


def test_a_dead_letter_queue_shared_by_two_sources_admits_exactly_them(small_manifest: Manifest) -> None:
    graph = deploy(QUEUE_APP, queue_config(), small_manifest)
    queues = {q.name: q for q in graph.of_type("aws:sqs/queue:Queue")}
    assert sorted(queues) == ["fhr-dev-fast", "fhr-dev-lone", "fhr-dev-slow", "fhr-dev-spill"]
    spill = queues["fhr-dev-spill"]
    for name, receives, visibility in (("fhr-dev-fast", 2, 60), ("fhr-dev-slow", 9, 900)):
        assert json.loads(queues[name].inputs["redrivePolicy"]) == {
            "deadLetterTargetArn": spill.state["arn"],
            "maxReceiveCount": receives,
        }
        assert queues[name].inputs["visibilityTimeoutSeconds"] == visibility
    assert "redrivePolicy" not in queues["fhr-dev-lone"].inputs and "redrivePolicy" not in spill.inputs
    assert spill.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    assert all(q.inputs["sqsManagedSseEnabled"] is True for q in queues.values())
    [allow] = graph.of_type("aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
    assert allow.inputs["queueUrl"] == spill.state["url"]
    assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": sorted([queues["fhr-dev-fast"].state["arn"], queues["fhr-dev-slow"].state["arn"]]),
    }
    # The one dead-letter queue is `dlq_url`; every other queue `<logical>_url`.
    assert graph.outputs["dlq_url"] == spill.state["url"]
    assert {k: v for k, v in graph.outputs.items() if k.endswith("_url") and k != "api_url"} == {
        "dlq_url": spill.state["url"],
        "fast_url": queues["fhr-dev-fast"].state["url"],
        "slow_url": queues["fhr-dev-slow"].state["url"],
        "lone_url": queues["fhr-dev-lone"].state["url"],
    }
    alarms = [a.name for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert sorted(alarms) == ["fhr-dev-consumer-errors", "fhr-dev-consumer-throttles", "fhr-dev-spill-depth"]


def test_a_dead_letter_queue_that_forgets_sooner_than_its_source_is_refused(small_manifest: Manifest) -> None:
    short = dataclasses.replace(SPILL, retention_s=FAST.retention_s - 1)
    app = dataclasses.replace(QUEUE_APP, resources=(short, FAST, SLOW, LONE))
    with pytest.raises(ValueError, match="spill keeps messages 345599 s, less than its source fast"):
        deploy(app, queue_config(app), small_manifest)


def test_trigger_mapping_follows_the_definition_and_waits_for_the_role(small_manifest: Manifest) -> None:
    graph = deploy(QUEUE_APP, queue_config(), small_manifest)
    function = graph.one("aws:lambda/function:Function", "fhr-dev-consumer")
    fast = graph.one("aws:sqs/queue:Queue", "fhr-dev-fast")
    [mapping] = graph.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping.name == "fhr-dev-consumer-fast" and mapping.parent_type == "fhr:function:Function"
    assert mapping.depends_on(graph.one("aws:iam/rolePolicy:RolePolicy", "fhr-dev-consumer-access"))
    alias = graph.one("aws:lambda/alias:Alias", "fhr-dev-consumer-live")
    assert alias.inputs["functionVersion"] == function.state["version"]
    assert mapping.inputs == {
        "eventSourceArn": fast.state["arn"],
        "functionName": alias.state["arn"],  # the published version the alias serves, never $LATEST
        "batchSize": 10,
        "maximumBatchingWindowInSeconds": 0,
        "functionResponseTypes": ["ReportBatchItemFailures"],
        "scalingConfig": {"maximumConcurrency": 3},
    }
    assert function.inputs["environment"]["variables"]["FAST_URL"] == fast.state["url"]
    assert (
        function.inputs["environment"]["variables"]["LONE_URL"]
        == graph.one("aws:sqs/queue:Queue", "fhr-dev-lone").state["url"]
    )


SNAPSTART_FHR = {"memory": 3008, "reservedConcurrency": 50, "snapStart": True}


@pytest.mark.parametrize("snap_start", [True, False])
def test_snap_start_applies_to_the_published_version_the_alias_serves(
    small_manifest: Manifest, snap_start: bool
) -> None:
    raw, _ = stack_raw("dev")
    functions = {**raw["functions"], "fhr": {**SNAPSTART_FHR, "snapStart": snap_start}}
    graph = deploy(APP, config_for("dev", functions=functions), small_manifest)
    function = graph.one("aws:lambda/function:Function", "fhr-dev-fhr")
    alias = graph.one("aws:lambda/alias:Alias", "fhr-dev-fhr-live")
    assert function.inputs["publish"] is True
    assert function.inputs.get("snapStart") == ({"applyOn": "PublishedVersions"} if snap_start else None)
    assert (alias.inputs["functionName"], alias.inputs["functionVersion"]) == ("fhr-dev-fhr", function.state["version"])
    integration = graph.one("aws:apigatewayv2/integration:Integration", "fhr-dev-api-fhr")
    assert integration.inputs["integrationUri"] == alias.state["invokeArn"]
    target = graph.one("aws:cloudwatch/eventTarget:EventTarget", "fhr-dev-fhr-keep-warm")
    assert target.inputs["arn"] == alias.state["arn"]
    fhr_permissions = [
        p.inputs for p in graph.of_type("aws:lambda/permission:Permission") if "fhr-dev-fhr" in p.inputs["function"]
    ]
    assert {(p["principal"], p["qualifier"]) for p in fhr_permissions} == {
        ("apigateway.amazonaws.com", "live"),
        ("events.amazonaws.com", "live"),
    }
    assert not graph.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")


def test_provisioned_concurrency_and_ephemeral_storage_without_snap_start(small_manifest: Manifest) -> None:
    raw, _ = stack_raw("dev")
    fhr = {"reservedConcurrency": 50, "provisionedConcurrency": 4, "ephemeralStorage": 2048}
    graph = deploy(APP, config_for("dev", functions={**raw["functions"], "fhr": fhr}), small_manifest)
    [provisioned] = graph.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
    assert provisioned.inputs == {
        "functionName": "fhr-dev-fhr",
        "qualifier": "live",  # provisioned on the alias, like SnapStart never on $LATEST
        "provisionedConcurrentExecutions": 4,
    }
    function = graph.one("aws:lambda/function:Function", "fhr-dev-fhr")
    assert function.inputs["ephemeralStorage"] == {"size": 2048} and "snapStart" not in function.inputs


@pytest.mark.parametrize(
    ("change", "region", "message"),
    [
        (
            {"provisionedConcurrency": 2},
            "eu-west-1",
            "'fhr:functions.fhr.provisionedConcurrency' must be 0 with snapStart",
        ),
        ({"ephemeralStorage": 1024}, "eu-west-1", "'fhr:functions.fhr.ephemeralStorage' is 1024 MB; with snapStart"),
        ({}, "ap-southeast-6", "'fhr:functions.fhr.snapStart' is not available in ap-southeast-6"),
        ({"snapStart": "yes"}, "eu-west-1", "'fhr:functions.fhr.snapStart' must be true or false"),
        ({"snapStart": False, "provisionedConcurrency": 60}, "eu-west-1", "must be between 0 and 50, got 60"),
    ],
)
def test_config_refuses_what_snap_start_excludes(change: dict[str, Any], region: str, message: str) -> None:
    raw, _ = stack_raw("prod")
    raw = copy.deepcopy(raw)
    raw["functions"]["fhr"] = {**SNAPSTART_FHR, **change}
    with pytest.raises(ConfigError) as err:
        parse_stack_config("prod", raw, region, "Pulumi.prod.yaml")
    assert message in str(err.value) and str(err.value).startswith("Pulumi.prod.yaml: ")


def test_the_prod_stack_starts_the_fhr_function_from_snapshots() -> None:
    prod, dev = config_for("prod"), config_for("dev")
    assert prod.function("fhr").snap_start and not dev.function("fhr").snap_start
    assert [name for name, fn in prod.functions.items() if fn.snap_start] == ["fhr"]


def test_a_trigger_without_consume_grants_is_refused(small_manifest: Manifest) -> None:
    starved = dataclasses.replace(CONSUMER, grants=(Grant("fast", ("sqs:ReceiveMessage",)),))
    app = dataclasses.replace(QUEUE_APP, functions=(starved,))
    with pytest.raises(ValueError, match=r"triggered by fast but is not granted \['sqs:DeleteMessage'"):
        deploy(app, queue_config(app), small_manifest)


def test_trigger_limits_are_checked_against_the_stack_config(small_manifest: Manifest) -> None:
    with pytest.raises(ConfigError, match=r"'fhr:functions.consumer.reservedConcurrency' is 2 but the fast mapping"):
        check_triggers(QUEUE_APP, queue_config(reserved=2))
    with pytest.raises(ConfigError, match=r"'fhr:functions.consumer.timeout' is 61 s, longer than fast's visibility"):
        check_triggers(QUEUE_APP, queue_config(timeout=61))
    check_triggers(QUEUE_APP, queue_config())


def test_shipped_stacks_pass_the_trigger_check_but_a_too_small_worker_does_not() -> None:
    for stage in ("dev", "prod"):
        check_triggers(APP, config_for(stage))
    raw, _ = stack_raw("dev")
    functions = copy.deepcopy(raw["functions"])
    functions["worker"]["reservedConcurrency"] = 1
    with pytest.raises(ConfigError, match="'fhr:functions.worker.reservedConcurrency' is 1"):
        check_triggers(APP, config_for("dev", functions=functions))


def test_p99_threshold_must_stay_below_the_fhr_timeout() -> None:
    raw, _ = stack_raw("prod")
    alarms = {**raw["alarms"], "p99DurationMs": 29_000}
    with pytest.raises(ConfigError, match=r"'fhr:alarms.p99DurationMs' is 29000 but must stay below .* \(29000 ms\)"):
        check_alarms(APP, config_for("prod", alarms=alarms))
    check_alarms(APP, config_for("prod", alarms={**alarms, "p99DurationMs": 28_999}))
    check_alarms(CUSTOM_APP, config_for("dev", CUSTOM_APP, functions={"writer": {"reservedConcurrency": 1}}))


def test_browser_origins_add_the_api_origin_unless_everything_is_allowed() -> None:
    api = "https://abc.execute-api.eu-west-1.amazonaws.com"
    assert browser_origins(("*",), api) == ["*"]
    assert browser_origins(("https://fhr.example.org",), api + "/") == [api, "https://fhr.example.org"]
    assert browser_origins((), api) == [api]


def test_bundle_must_have_a_layer_for_the_functions_architecture(small_manifest: Manifest) -> None:
    check_bundle(config_for("dev"), small_manifest)
    with pytest.raises(ManifestInvalid, match="no dependency layer"):
        check_bundle(config_for("dev"), dataclasses.replace(small_manifest, layer=None))
    raw, _ = stack_raw("prod")
    functions = copy.deepcopy(raw["functions"])
    functions["items"]["architecture"] = "arm64"
    with pytest.raises(ConfigError, match="'fhr:functions.items.architecture' is 'arm64' but the Lambda bundle"):
        check_bundle(config_for("prod", functions=functions), small_manifest)


def test_stack_config_is_read_from_pulumi_config_including_unknown_keys() -> None:
    config = stack_file_config(ROOT / "Pulumi.prod.yaml")
    config["fhr:extra"] = "1"
    seen: dict[str, Any] = {}

    def body() -> None:
        seen["keys"] = configured_keys()
        with pytest.raises(ConfigError, match="'fhr:extra' is not a known key") as err:
            load_stack_config()
        seen["source"] = err.value.source
        return None

    run_pulumi(body, stack="prod", config=config)
    assert seen["keys"] == {
        "functions",
        "logRetentionDays",
        "keepWarm",
        "api",
        "auth",
        "bucket",
        "tables",
        "alarms",
        "protectData",
        "extra",
    }
    assert seen["source"] == "Pulumi.prod.yaml"


def test_stack_config_from_pulumi_equals_the_stack_file() -> None:
    from fhrapp.config import load_stack_file

    loaded: dict[str, StackConfig] = {}

    def body() -> None:
        loaded["config"] = load_stack_config()

    run_pulumi(body, stack="prod", config=stack_file_config(ROOT / "Pulumi.prod.yaml"))
    assert loaded["config"] == load_stack_file("prod", ROOT)
