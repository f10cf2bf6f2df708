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
from components.service import FhrService, check_bundle
from components.stackconfig import configured_keys, load_stack_config
from components.storage import bucket_prefix
from components.testing import Graph, run_pulumi, stack_file_config
from fhrapp.config import ConfigError, StackConfig, parse_stack_config, split_namespaced
from fhrapp.definition import APP, AppDefinition, DataResource, Function, Grant, Route

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
    assert not graph.of_type("aws:cloudwatch/eventRule:EventRule")
    assert not graph.of_type("aws:cloudwatch/eventTarget:EventTarget")
    principals = [p.inputs["principal"] for p in graph.of_type("aws:lambda/permission:Permission")]
    assert principals == ["apigateway.amazonaws.com"] * 2


def test_no_cors_no_lifecycle_and_short_integration_timeout(small_manifest: Manifest) -> None:
    raw, _ = stack_raw("dev")
    api = {**raw["api"], "corsOrigins": []}
    bucket = {"versioning": False, "forceDestroy": False}
    graph = deploy(APP, config_for("dev", api=api, bucket=bucket), small_manifest)
    assert "corsConfiguration" not in graph.one("aws:apigatewayv2/api:Api", "fhr-dev-api").inputs
    assert not graph.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert graph.one("aws:s3/bucket:Bucket", "fhr-dev-ecg_bucket").inputs["forceDestroy"] is False
    items = graph.one("aws:apigatewayv2/integration:Integration", "fhr-dev-api-items")
    assert items.inputs["timeoutMilliseconds"] == 11_000  # the function's 10 s timeout plus one


def test_queue_resources_are_refused_until_deployed(small_manifest: Manifest) -> None:
    app = dataclasses.replace(APP, resources=(*APP.resources, DataResource("work", "queue", "WORK_QUEUE")))
    with pytest.raises(NotImplementedError, match="queue resources"):
        deploy(app, config_for("dev", app), small_manifest)


def test_bundle_must_have_a_layer_for_the_functions_architecture(small_manifest: Manifest) -> None:
    check_bundle(config_for("dev"), small_manifest)
    with pytest.raises(ManifestInvalid, match="no dependency layer"):
        check_bundle(config_for("dev"), dataclasses.replace(small_manifest, layer=None))
    raw, _ = stack_raw("prod")
    functions = copy.deepcopy(raw["functions"])
    functions["items"]["architecture"] = "arm64"
    with pytest.raises(ConfigError, match="'fhr:functions.items.architecture' is 'arm64' but the Lambda bundle"):
        check_bundle(config_for("prod", functions=functions), small_manifest)


def test_bucket_prefixes_are_valid_s3_names() -> None:
    assert bucket_prefix("fhr-dev-ecg_bucket") == "fhr-dev-ecg-bucket-"
    assert bucket_prefix("FHR-Prod-X") == "fhr-prod-x-"


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
    assert seen["keys"] == {"functions", "logRetentionDays", "keepWarm", "api", "auth", "bucket", "tables", "extra"}
    assert seen["source"] == "Pulumi.prod.yaml"


def test_stack_config_from_pulumi_equals_the_stack_file() -> None:
    from fhrapp.config import load_stack_file

    loaded: dict[str, StackConfig] = {}

    def body() -> None:
        loaded["config"] = load_stack_config()

    run_pulumi(body, stack="prod", config=stack_file_config(ROOT / "Pulumi.prod.yaml"))
    assert loaded["config"] == load_stack_file("prod", ROOT)
