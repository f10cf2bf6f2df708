"""The typed stack config: both real stack files load, and every kind of bad value is rejected by name."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhrapp.config import (
    AlarmsConfig,
    ConfigError,
    FunctionConfig,
    load_stack_file,
    parse_stack_config,
    split_namespaced,
)


def stack_values(repo_root: Path, stage: str) -> tuple[dict[str, Any], str | None]:
    document = yaml.safe_load((repo_root / f"Pulumi.{stage}.yaml").read_text())
    return split_namespaced(document["config"])


def test_dev_stack_file_loads_with_its_values(repo_root: Path) -> None:
    config = load_stack_file("dev", repo_root)
    assert config.stage == "dev" and config.region == "eu-west-1" and config.source == "Pulumi.dev.yaml"
    assert config.functions == {
        "fhr": FunctionConfig(memory_mb=1769, timeout_s=29, reserved_concurrency=380),
        "items": FunctionConfig(memory_mb=256, timeout_s=10, reserved_concurrency=20),
        "worker": FunctionConfig(memory_mb=1769, timeout_s=300, reserved_concurrency=20),
        "web": FunctionConfig(memory_mb=512, timeout_s=10, reserved_concurrency=10),
    }
    assert config.log_retention_days == 14
    assert (config.keep_warm.enabled, config.keep_warm.schedule, config.keep_warm.concurrency) == (
        True,
        "rate(5 minutes)",
        2,
    )
    assert (config.api.throttle_burst, config.api.throttle_rate, config.api.cors_origins) == (500, 1000.0, ("*",))
    assert config.auth.mode == "open" and config.auth.issuer is None
    assert config.auth.open_tenant == "open" and config.auth.tenancy.environment() == {"FHR_OPEN_TENANT": "open"}
    assert (config.bucket.versioning, config.bucket.transition_days, config.bucket.force_destroy) == (False, 30, True)
    assert not config.tables.point_in_time_recovery and not config.tables.deletion_protection
    assert config.protect_data is False
    assert config.alarms == AlarmsConfig(
        errors_per_period=10,
        throttles_per_period=10,
        p99_duration_ms=25000,
        dlq_messages=0,
        period_s=300,
        evaluation_periods=3,
        alarm_email=None,
    )


def test_prod_stack_file_loads_with_its_values(repo_root: Path) -> None:
    config = load_stack_file("prod", repo_root)
    assert config.function("fhr").memory_mb == 3008 and config.function("items").reserved_concurrency == 50
    assert config.auth.mode == "jwt"
    assert config.auth.issuer == "https://auth.example.org/" and config.auth.audience == ("fhr-api",)
    assert config.auth.tenant_claim == "sub" and config.auth.tenancy.environment() == {"FHR_TENANT_CLAIM": "sub"}
    assert (config.bucket.versioning, config.bucket.transition_days, config.bucket.force_destroy) == (True, 90, False)
    assert config.tables.point_in_time_recovery and config.tables.deletion_protection
    assert config.protect_data is True
    assert config.log_retention_days == 90 and config.keep_warm.concurrency == 10
    assert config.alarms == AlarmsConfig(
        errors_per_period=1,
        throttles_per_period=0,
        p99_duration_ms=15000,
        dlq_messages=0,
        period_s=60,
        evaluation_periods=2,
        alarm_email="oncall@fhr.example.org",
    )


def test_prod_alarms_are_stricter_than_dev(repo_root: Path) -> None:
    dev, prod = load_stack_file("dev", repo_root).alarms, load_stack_file("prod", repo_root).alarms
    assert prod.errors_per_period < dev.errors_per_period
    assert prod.throttles_per_period < dev.throttles_per_period
    assert prod.p99_duration_ms < dev.p99_duration_ms
    assert prod.period_s * prod.evaluation_periods < dev.period_s * dev.evaluation_periods  # fires sooner
    assert prod.alarm_email and dev.alarm_email is None


def test_values_as_pulumi_passes_them_json_encoded_give_the_same_config(repo_root: Path) -> None:
    raw, region = stack_values(repo_root, "prod")
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}
    assert parse_stack_config("prod", encoded, region, "Pulumi.prod.yaml") == load_stack_file("prod", repo_root)


def test_optional_keys_take_their_defaults(repo_root: Path) -> None:
    raw, region = stack_values(repo_root, "dev")
    raw["functions"] = {name: {"reservedConcurrency": 5} for name in ("fhr", "items", "worker", "web")}
    raw["keepWarm"] = {}
    del raw["logRetentionDays"]
    config = parse_stack_config("dev", raw, region, "Pulumi.dev.yaml")
    assert config.function("fhr") == FunctionConfig(1769, 29, 5, "x86_64")  # the app definition's defaults
    assert config.log_retention_days == 14
    assert (config.keep_warm.enabled, config.keep_warm.schedule, config.keep_warm.concurrency) == (
        True,
        "rate(5 minutes)",
        1,
    )


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[leaf]
    else:
        node[leaf] = value


DELETE = object()

# (stage, key path, new value, expected message fragment)
BAD_VALUES = [
    ("dev", "colour", "blue", "config key 'fhr:colour' is not a known key"),
    ("dev", "functions.items.reservedConcurrency", DELETE, "'fhr:functions.items.reservedConcurrency' is missing"),
    ("dev", "functions.items", DELETE, "'fhr:functions.items' is missing"),
    ("dev", "functions.extra", {"reservedConcurrency": 1}, "'fhr:functions.extra' is not a known key"),
    ("dev", "functions.fhr.memory", 64, "'fhr:functions.fhr.memory' must be between 128 and 10240, got 64"),
    ("dev", "functions.fhr.timeout", "long", "'fhr:functions.fhr.timeout' must be an integer"),
    ("dev", "functions.fhr.architecture", "sparc", "'fhr:functions.fhr.architecture' must be one of"),
    ("dev", "functions.fhr.memroy", 512, "'fhr:functions.fhr.memroy' is not a known key"),
    ("dev", "logRetentionDays", 13, "'fhr:logRetentionDays' must be one of CloudWatch's values"),
    ("dev", "keepWarm.schedule", "every 5 minutes", "'fhr:keepWarm.schedule' must be rate("),
    ("dev", "keepWarm.schedule", "rate(1 minutes)", "'fhr:keepWarm.schedule' must be rate("),
    ("dev", "keepWarm.concurrency", 0, "'fhr:keepWarm.concurrency' must be between 1 and 50"),
    ("dev", "keepWarm.enabled", "yes", "'fhr:keepWarm.enabled' must be true or false"),
    ("dev", "api.throttleBurst", DELETE, "'fhr:api.throttleBurst' is missing"),
    ("dev", "api.corsOrigins", "*", "'fhr:api.corsOrigins' must be a list of non-empty strings"),
    ("dev", "auth.mode", "basic", "'fhr:auth.mode' must be 'open' or 'jwt'"),
    ("prod", "auth.issuer", DELETE, "'fhr:auth.issuer' must be an https:// URL when auth.mode is jwt"),
    ("prod", "auth.issuer", "http://auth.example.org/", "'fhr:auth.issuer' must be an https:// URL"),
    ("prod", "auth.audience", DELETE, "'fhr:auth.audience' is missing"),
    ("prod", "auth.tenantClaim", "", "'fhr:auth.tenantClaim' must be a JWT claim name"),
    ("prod", "auth.tenantClaim", "my tenant", "'fhr:auth.tenantClaim' must be a JWT claim name"),
    ("prod", "auth.tenantClaim", 7, "'fhr:auth.tenantClaim' must be a JWT claim name"),
    ("prod", "auth.tenantClaim", "exp", "'fhr:auth.tenantClaim' names 'exp', which describes the token"),
    ("prod", "auth.tenantClaim", "aud", "'fhr:auth.tenantClaim' names 'aud', which describes the token"),
    ("prod", "auth.openTenant", "open", "'fhr:auth.openTenant' applies only when auth.mode is open"),
    ("dev", "auth.tenantClaim", "sub", "'fhr:auth.tenantClaim' applies only when auth.mode is jwt"),
    ("dev", "auth.issuer", "https://auth.example.org/", "'fhr:auth.issuer' applies only when auth.mode is jwt"),
    ("dev", "auth.openTenant", "", "'fhr:auth.openTenant' must be 1-64 letters"),
    ("dev", "auth.openTenant", "tenants/x", "'fhr:auth.openTenant' must be 1-64 letters"),
    ("dev", "auth.openTenant", "x" * 65, "'fhr:auth.openTenant' must be 1-64 letters"),
    ("dev", "auth.openTenant", "-dev", "'fhr:auth.openTenant' must be 1-64 letters"),
    ("dev", "auth.tenant", "x", "'fhr:auth.tenant' is not a known key"),
    ("prod", "bucket.forceDestroy", True, "'fhr:bucket.forceDestroy' may be true only in the dev stack"),
    ("prod", "protectData", DELETE, "'fhr:protectData' must be true outside the dev stack"),
    ("prod", "protectData", False, "'fhr:protectData' must be true outside the dev stack"),
    ("dev", "protectData", True, "'fhr:protectData' is true, so bucket.forceDestroy (empty and delete the bucket)"),
    ("dev", "protectData", "yes", "'fhr:protectData' must be true or false"),
    ("dev", "bucket.transitionDays", 7, "'fhr:bucket.transitionDays' must be between 30 and 3650"),
    ("dev", "tables.pointInTimeRecovery", "no", "'fhr:tables.pointInTimeRecovery' must be true or false"),
    ("dev", "tables", DELETE, "'fhr:tables' is missing"),
    ("dev", "tables", ["a"], "'fhr:tables' must be a mapping"),
    ("dev", "functions.worker", DELETE, "'fhr:functions.worker' is missing"),
    ("dev", "alarms", DELETE, "'fhr:alarms' is missing"),
    ("prod", "alarms.errorsPerPeriod", DELETE, "'fhr:alarms.errorsPerPeriod' is missing"),
    ("prod", "alarms.throttlesPerPeriod", DELETE, "'fhr:alarms.throttlesPerPeriod' is missing"),
    ("prod", "alarms.p99DurationMs", DELETE, "'fhr:alarms.p99DurationMs' is missing"),
    ("prod", "alarms.dlqMessages", DELETE, "'fhr:alarms.dlqMessages' is missing"),
    ("prod", "alarms.periodSeconds", DELETE, "'fhr:alarms.periodSeconds' is missing"),
    ("prod", "alarms.evaluationPeriods", DELETE, "'fhr:alarms.evaluationPeriods' is missing"),
    ("dev", "alarms.errorsPerPeriod", -1, "'fhr:alarms.errorsPerPeriod' must be between 0 and"),
    ("dev", "alarms.throttlesPerPeriod", "few", "'fhr:alarms.throttlesPerPeriod' must be an integer"),
    ("dev", "alarms.p99DurationMs", 0, "'fhr:alarms.p99DurationMs' must be between 1 and 900000"),
    ("dev", "alarms.dlqMessages", 1.5, "'fhr:alarms.dlqMessages' must be an integer"),
    ("dev", "alarms.periodSeconds", 30, "'fhr:alarms.periodSeconds' must be between 60 and 86400"),
    ("dev", "alarms.periodSeconds", 90, "'fhr:alarms.periodSeconds' must be a multiple of 60"),
    ("dev", "alarms.evaluationPeriods", 0, "'fhr:alarms.evaluationPeriods' must be between 1 and 100"),
    (
        "dev",
        "alarms",
        {
            "errorsPerPeriod": 1,
            "throttlesPerPeriod": 1,
            "p99DurationMs": 1000,
            "dlqMessages": 0,
            "periodSeconds": 3600,
            "evaluationPeriods": 48,
        },
        "'fhr:alarms.evaluationPeriods' times alarms.periodSeconds must not exceed one day (86400 s), got 172800",
    ),
    ("prod", "alarms.alarmEmail", "oncall", "'fhr:alarms.alarmEmail' must be an e-mail address"),
    ("dev", "alarms.p99", 100, "'fhr:alarms.p99' is not a known key"),
    ("dev", "alarms", "loud", "'fhr:alarms' must be a mapping"),
]


@pytest.mark.parametrize(("stage", "path", "value", "message"), BAD_VALUES, ids=lambda v: str(v)[:40])
def test_bad_value_is_rejected_naming_key_and_stack_file(
    repo_root: Path, stage: str, path: str, value: Any, message: str
) -> None:
    raw, region = stack_values(repo_root, stage)
    raw = copy.deepcopy(raw)
    set_path(raw, path, value)
    with pytest.raises(ConfigError) as err:
        parse_stack_config(stage, raw, region, f"Pulumi.{stage}.yaml")
    assert str(err.value).startswith(f"Pulumi.{stage}.yaml: ")
    assert message in str(err.value)
    assert err.value.key.split(".")[0] == path.split(".")[0]


def test_missing_region_and_unknown_stage(repo_root: Path) -> None:
    raw, _ = stack_values(repo_root, "dev")
    with pytest.raises(ConfigError, match="'fhr:region' is missing: set 'aws:region'"):
        parse_stack_config("dev", raw, None, "Pulumi.dev.yaml")
    with pytest.raises(ConfigError, match="unknown stack 'staging'"):
        parse_stack_config("staging", raw, "eu-west-1", "Pulumi.staging.yaml")
    with pytest.raises(ConfigError, match="has no stack file"):
        load_stack_file("prod", repo_root / "nowhere")


@pytest.mark.parametrize(
    "schedule", ["rate(1 minute)", "rate(2 minutes)", "rate(10 minutes)", "rate(1 day)", "cron(0/5 * * * ? *)"]
)
def test_valid_schedules_are_accepted(repo_root: Path, schedule: str) -> None:
    raw, region = stack_values(repo_root, "dev")
    raw["keepWarm"] = {**raw["keepWarm"], "schedule": schedule}
    assert parse_stack_config("dev", raw, region, "Pulumi.dev.yaml").keep_warm.schedule == schedule


def test_tenancy_keys_are_read_when_valid(repo_root: Path) -> None:
    raw, region = stack_values(repo_root, "prod")
    raw["auth"] = {**raw["auth"], "tenantClaim": "https://fhr.example.org/tenant"}
    assert parse_stack_config("prod", raw, region, "Pulumi.prod.yaml").auth.tenant_claim == (
        "https://fhr.example.org/tenant"
    )
    raw, region = stack_values(repo_root, "dev")
    raw["auth"] = {**raw["auth"], "openTenant": "ward_7-dev"}
    assert parse_stack_config("dev", raw, region, "Pulumi.dev.yaml").auth.open_tenant == "ward_7-dev"
