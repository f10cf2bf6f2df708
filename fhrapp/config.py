"""Typed, validated stack configuration: the one object Pulumi and the local cloud both read.

Precedence, per stage: a key in ``Pulumi.<stack>.yaml`` (``fhr:<key>``) wins; where a key is
optional, the default below applies; per-function memory and timeout default to the app definition.
Values are loaded and validated once; a wrong, unknown or missing key raises :class:`ConfigError`
with one message naming the key and the stack file, so an operator fixes it without reading code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fhrapp.definition import APP, AppDefinition, Tenancy

PROJECT = "fhr"
STAGES = ("dev", "prod")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)
ARCHITECTURES = ("x86_64", "arm64")
# EventBridge wants the singular unit for 1 ("rate(1 minute)") and the plural otherwise.
_RATE = re.compile(r"^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$")
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
TOP_LEVEL_KEYS = (
    "functions",
    "logRetentionDays",
    "keepWarm",
    "api",
    "auth",
    "bucket",
    "tables",
    "alarms",
    "protectData",
)
ALARM_KEYS = (
    "errorsPerPeriod",
    "throttlesPerPeriod",
    "p99DurationMs",
    "dlqMessages",
    "periodSeconds",
    "evaluationPeriods",
    "alarmEmail",
)
# CloudWatch evaluates an alarm over at most one day (period x evaluation periods).
MAX_ALARM_WINDOW_S = 24 * 3600
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_TENANT_CLAIM = "sub"
DEFAULT_OPEN_TENANT = "open"
# A claim name: printable ASCII without spaces or quotes (namespaced claims are URLs, e.g. Auth0's).
_CLAIM_NAME = re.compile(r"^[!#-~]{1,256}$")
# Claims that change with every token or describe the token itself: as a tenant, each token (or every
# caller) would be its own (or one) tenant, so they are refused rather than deployed by mistake.
NOT_TENANT_CLAIMS = frozenset({"exp", "iat", "nbf", "jti", "auth_time", "iss", "aud", "scope", "scp", "token_use"})
# The open tenant is used verbatim as an S3 prefix segment and a DynamoDB key (handlers/api/tenancy.py).
_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ConfigError(ValueError):
    """A stack file holds a wrong, unknown or missing key; the message names the key and the file."""

    def __init__(self, key: str, source: str, problem: str) -> None:
        self.key = key
        self.source = source
        super().__init__(f"{source}: config key '{PROJECT}:{key}' {problem}")


# SnapStart (python3.12+) excludes these (AWS Lambda developer guide, "Supported features and limitations"):
# provisioned concurrency, ephemeral storage over 512 MB, Amazon EFS (no function here mounts one), and
# two Regions. It applies to published versions only: the program publishes one per deploy behind an alias.
SNAPSTART_MAX_EPHEMERAL_MB = 512
SNAPSTART_UNSUPPORTED_REGIONS = ("ap-southeast-6", "ap-east-2")  # Asia Pacific (New Zealand), (Taipei)
FUNCTION_KEYS = (
    "memory",
    "timeout",
    "reservedConcurrency",
    "architecture",
    "snapStart",
    "ephemeralStorage",
    "provisionedConcurrency",
)


@dataclass(frozen=True)
class FunctionConfig:
    memory_mb: int
    timeout_s: int
    reserved_concurrency: int
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    snap_start: bool = False
    ephemeral_storage_mb: int = 512
    provisioned_concurrency: int = 0


@dataclass(frozen=True)
class KeepWarmConfig:
    enabled: bool
    schedule: str
    concurrency: int


@dataclass(frozen=True)
class ApiConfig:
    throttle_burst: int
    throttle_rate: float
    cors_origins: tuple[str, ...]


@dataclass(frozen=True)
class AuthConfig:
    """Who may call the API and which tenant a caller is.

    ``jwt``: API Gateway's JWT authorizer checks ``issuer``/``audience``; the caller's tenant is the
    verified claim ``tenant_claim`` (default ``sub``). ``open``: no authorizer, and every caller is the
    one tenant ``open_tenant`` (default ``open``), so a dev stack still stores everything per tenant.
    """

    mode: Literal["open", "jwt"]
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    tenant_claim: str = DEFAULT_TENANT_CLAIM
    open_tenant: str = DEFAULT_OPEN_TENANT

    @property
    def tenancy(self) -> Tenancy:
        """What the functions' environment says about tenants (the same for Pulumi and the local cloud)."""
        if self.mode == "jwt":
            return Tenancy(claim=self.tenant_claim)
        return Tenancy(open_tenant=self.open_tenant)


@dataclass(frozen=True)
class BucketConfig:
    versioning: bool
    transition_days: int | None
    force_destroy: bool


@dataclass(frozen=True)
class TablesConfig:
    point_in_time_recovery: bool
    deletion_protection: bool


@dataclass(frozen=True)
class AlarmsConfig:
    """Thresholds of the stack's CloudWatch alarms; an alarm fires when its metric is strictly above them.

    ``period_s`` and ``evaluation_periods`` apply to every function alarm; ``alarm_email`` (optional)
    subscribes a mailbox to the stack's alarm topic.
    """

    errors_per_period: int
    throttles_per_period: int
    p99_duration_ms: int
    dlq_messages: int
    period_s: int
    evaluation_periods: int
    alarm_email: str | None = None


@dataclass(frozen=True)
class StackConfig:
    """Everything that differs between stages. Dev and prod differ only through their stack files."""

    stage: str
    region: str
    functions: dict[str, FunctionConfig]
    log_retention_days: int
    keep_warm: KeepWarmConfig
    api: ApiConfig
    auth: AuthConfig
    bucket: BucketConfig
    tables: TablesConfig
    source: str
    alarms: AlarmsConfig
    # Pulumi's protect + retainOnDelete on the stack's buckets and tables: no `pulumi up` or `destroy`
    # deletes or replaces them (an operator must `pulumi state unprotect` first). False only in dev.
    protect_data: bool = False

    def function(self, name: str) -> FunctionConfig:
        return self.functions[name]


class _Reader:
    """Reads one stack file's values with typed getters that raise :class:`ConfigError`."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.raw = raw
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(key, self.source, problem)

    def section(self, key: str, required: bool = True) -> dict[str, Any]:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is missing")
            return {}
        value = _maybe_json(value)
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def check_keys(self, key: str, value: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for name in value:
            if name not in allowed:
                raise self.fail(f"{key}.{name}", f"is not a known key (expected one of {', '.join(allowed)})")

    def integer(self, key: str, value: Any, low: int, high: int) -> int:
        value = _maybe_json(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return value

    def number(self, key: str, value: Any, low: float, high: float) -> float:
        value = _maybe_json(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return float(value)

    def boolean(self, key: str, value: Any) -> bool:
        value = _maybe_json(value)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        value = _maybe_json(value)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)


def _maybe_json(value: Any) -> Any:
    """Pulumi hands structured and numeric config over as JSON strings; YAML hands them over parsed."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _functions(r: _Reader, app: AppDefinition, region: str) -> dict[str, FunctionConfig]:
    section = r.section("functions")
    r.check_keys("functions", section, tuple(fn.name for fn in app.functions))
    result = {}
    for fn in app.functions:
        key = f"functions.{fn.name}"
        if fn.name not in section:
            raise r.fail(key, "is missing (every function needs at least its reservedConcurrency)")
        entry = _maybe_json(section[fn.name])
        if not isinstance(entry, dict):
            raise r.fail(key, "must be a mapping")
        r.check_keys(key, entry, FUNCTION_KEYS)
        if "reservedConcurrency" not in entry:
            raise r.fail(f"{key}.reservedConcurrency", "is missing")
        arch = entry.get("architecture", "x86_64")
        if arch not in ARCHITECTURES:
            raise r.fail(f"{key}.architecture", f"must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
        reserved = r.integer(f"{key}.reservedConcurrency", entry["reservedConcurrency"], 0, 10000)
        result[fn.name] = _snap_start_checked(
            r,
            key,
            region,
            FunctionConfig(
                memory_mb=r.integer(f"{key}.memory", entry.get("memory", fn.memory_mb), 128, 10240),
                timeout_s=r.integer(f"{key}.timeout", entry.get("timeout", fn.timeout_s), 1, 900),
                reserved_concurrency=reserved,
                architecture=arch,
                snap_start=r.boolean(f"{key}.snapStart", entry.get("snapStart", False)),
                ephemeral_storage_mb=r.integer(
                    f"{key}.ephemeralStorage", entry.get("ephemeralStorage", 512), 512, 10240
                ),
                # Lambda refuses provisioned concurrency above the function's reserved concurrency.
                provisioned_concurrency=r.integer(
                    f"{key}.provisionedConcurrency", entry.get("provisionedConcurrency", 0), 0, reserved
                ),
            ),
        )
    return result


def _snap_start_checked(r: _Reader, key: str, region: str, function: FunctionConfig) -> FunctionConfig:
    """Refuse what Lambda would refuse for a SnapStart function, naming the key that conflicts."""
    if not function.snap_start:
        return function
    if function.provisioned_concurrency:
        raise r.fail(
            f"{key}.provisionedConcurrency", "must be 0 with snapStart: SnapStart excludes provisioned concurrency"
        )
    if function.ephemeral_storage_mb > SNAPSTART_MAX_EPHEMERAL_MB:
        raise r.fail(
            f"{key}.ephemeralStorage",
            f"is {function.ephemeral_storage_mb} MB; with snapStart it may be at most {SNAPSTART_MAX_EPHEMERAL_MB} MB",
        )
    if region in SNAPSTART_UNSUPPORTED_REGIONS:
        raise r.fail(f"{key}.snapStart", f"is not available in {region}")
    return function


def _keep_warm(r: _Reader) -> KeepWarmConfig:
    section = r.section("keepWarm")
    r.check_keys("keepWarm", section, ("enabled", "schedule", "concurrency"))
    schedule = section.get("schedule", "rate(5 minutes)")
    if not isinstance(schedule, str) or not (_RATE.match(schedule) or _CRON.match(schedule)):
        raise r.fail("keepWarm.schedule", f"must be rate(N minutes|hours|days) or cron(6 fields), got {schedule!r}")
    return KeepWarmConfig(
        enabled=r.boolean("keepWarm.enabled", section.get("enabled", True)),
        schedule=schedule,
        concurrency=r.integer("keepWarm.concurrency", section.get("concurrency", 1), 1, 50),
    )


def _api(r: _Reader) -> ApiConfig:
    section = r.section("api")
    r.check_keys("api", section, ("throttleBurst", "throttleRate", "corsOrigins"))
    for key in ("throttleBurst", "throttleRate"):
        if key not in section:
            raise r.fail(f"api.{key}", "is missing")
    return ApiConfig(
        throttle_burst=r.integer("api.throttleBurst", section["throttleBurst"], 1, 5000),
        throttle_rate=r.number("api.throttleRate", section["throttleRate"], 1, 10000),
        cors_origins=r.strings("api.corsOrigins", section.get("corsOrigins", [])),
    )


def _auth(r: _Reader) -> AuthConfig:
    section = r.section("auth")
    r.check_keys("auth", section, ("mode", "issuer", "audience", "tenantClaim", "openTenant"))
    mode = section.get("mode")
    if mode not in ("open", "jwt"):
        raise r.fail("auth.mode", f"must be 'open' or 'jwt', got {mode!r}")
    if mode == "open":
        for key in ("issuer", "audience", "tenantClaim"):
            if key in section:
                raise r.fail(f"auth.{key}", "applies only when auth.mode is jwt (an open stack has no tokens)")
        open_tenant = section.get("openTenant", DEFAULT_OPEN_TENANT)
        if not isinstance(open_tenant, str) or not _TENANT_ID.match(open_tenant):
            raise r.fail(
                "auth.openTenant",
                f"must be 1-64 letters, digits, '_' or '-' starting with a letter or digit, got {open_tenant!r}",
            )
        return AuthConfig(mode="open", open_tenant=open_tenant)
    if "openTenant" in section:
        raise r.fail("auth.openTenant", "applies only when auth.mode is open (a jwt stack takes tenants from tokens)")
    issuer = section.get("issuer")
    if not isinstance(issuer, str) or not issuer.startswith("https://"):
        raise r.fail("auth.issuer", f"must be an https:// URL when auth.mode is jwt, got {issuer!r}")
    if "audience" not in section:
        raise r.fail("auth.audience", "is missing (required when auth.mode is jwt)")
    claim = section.get("tenantClaim", DEFAULT_TENANT_CLAIM)
    if not isinstance(claim, str) or not _CLAIM_NAME.match(claim):
        raise r.fail("auth.tenantClaim", f"must be a JWT claim name (no spaces or quotes), got {claim!r}")
    if claim in NOT_TENANT_CLAIMS:
        raise r.fail("auth.tenantClaim", f"names {claim!r}, which describes the token, not who holds it")
    return AuthConfig(
        mode="jwt", issuer=issuer, audience=r.strings("auth.audience", section["audience"]), tenant_claim=claim
    )


def _bucket(r: _Reader, stage: str) -> BucketConfig:
    section = r.section("bucket")
    r.check_keys("bucket", section, ("versioning", "transitionDays", "forceDestroy"))
    days = section.get("transitionDays")
    force = r.boolean("bucket.forceDestroy", section.get("forceDestroy", False))
    if force and stage != "dev":
        raise r.fail("bucket.forceDestroy", f"may be true only in the dev stack, not in {stage!r}")
    return BucketConfig(
        versioning=r.boolean("bucket.versioning", section.get("versioning", False)),
        # S3 moves objects to STANDARD_IA only once they are 30 days old, so a shorter transition cannot deploy.
        transition_days=None if days is None else r.integer("bucket.transitionDays", days, 30, 3650),
        force_destroy=force,
    )


def _tables(r: _Reader) -> TablesConfig:
    section = r.section("tables")
    r.check_keys("tables", section, ("pointInTimeRecovery", "deletionProtection"))
    return TablesConfig(
        point_in_time_recovery=r.boolean("tables.pointInTimeRecovery", section.get("pointInTimeRecovery", False)),
        deletion_protection=r.boolean("tables.deletionProtection", section.get("deletionProtection", False)),
    )


def _alarms(r: _Reader) -> AlarmsConfig:
    section = r.section("alarms")
    r.check_keys("alarms", section, ALARM_KEYS)
    for key in ALARM_KEYS[:-1]:
        if key not in section:
            raise r.fail(f"alarms.{key}", "is missing")
    period = r.integer("alarms.periodSeconds", section["periodSeconds"], 60, MAX_ALARM_WINDOW_S)
    if period % 60:
        # Lambda, API Gateway and SQS publish one-minute metrics: a shorter or uneven period never fills.
        raise r.fail("alarms.periodSeconds", f"must be a multiple of 60 (one-minute AWS metrics), got {period}")
    evaluations = r.integer("alarms.evaluationPeriods", section["evaluationPeriods"], 1, 100)
    if period * evaluations > MAX_ALARM_WINDOW_S:
        raise r.fail(
            "alarms.evaluationPeriods",
            f"times alarms.periodSeconds must not exceed one day ({MAX_ALARM_WINDOW_S} s), got {period * evaluations}",
        )
    email = section.get("alarmEmail")
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        raise r.fail("alarms.alarmEmail", f"must be an e-mail address, got {email!r}")
    return AlarmsConfig(
        errors_per_period=r.integer("alarms.errorsPerPeriod", section["errorsPerPeriod"], 0, 1_000_000),
        throttles_per_period=r.integer("alarms.throttlesPerPeriod", section["throttlesPerPeriod"], 0, 1_000_000),
        p99_duration_ms=r.integer("alarms.p99DurationMs", section["p99DurationMs"], 1, 900_000),
        dlq_messages=r.integer("alarms.dlqMessages", section["dlqMessages"], 0, 1_000_000),
        period_s=period,
        evaluation_periods=evaluations,
        alarm_email=email,
    )


def _protect_data(r: _Reader, stage: str, bucket: BucketConfig) -> bool:
    protect = r.boolean("protectData", r.raw.get("protectData", False))
    if not protect and stage != "dev":
        raise r.fail("protectData", f"must be true outside the dev stack (it keeps {stage!r}'s recordings and results)")
    if protect and bucket.force_destroy:
        raise r.fail("protectData", "is true, so bucket.forceDestroy (empty and delete the bucket) must be false")
    return protect


def parse_stack_config(
    stage: str, raw: Mapping[str, Any], region: str | None, source: str, app: AppDefinition = APP
) -> StackConfig:
    """Validate ``raw`` (keys without the ``fhr:`` prefix) into a :class:`StackConfig`."""
    r = _Reader(raw, source)
    if stage not in STAGES:
        raise ConfigError("stage", source, f"names an unknown stack {stage!r} (expected one of {', '.join(STAGES)})")
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise r.fail(key, f"is not a known key (expected one of {', '.join(TOP_LEVEL_KEYS)})")
    if not region:
        raise ConfigError("region", source, "is missing: set 'aws:region'")
    retention = r.integer("logRetentionDays", raw.get("logRetentionDays", 14), 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        raise r.fail("logRetentionDays", f"must be one of CloudWatch's values {LOG_RETENTION_DAYS}, got {retention}")
    bucket = _bucket(r, stage)
    return StackConfig(
        stage=stage,
        region=region,
        functions=_functions(r, app, region),
        log_retention_days=retention,
        keep_warm=_keep_warm(r),
        api=_api(r),
        auth=_auth(r),
        bucket=bucket,
        tables=_tables(r),
        source=source,
        alarms=_alarms(r),
        protect_data=_protect_data(r, stage, bucket),
    )


def split_namespaced(config: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Split ``{"fhr:key": v, "aws:region": r}`` into the project's keys and the region."""
    own = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            own[name] = value
    region = config.get("aws:region")
    return own, None if region is None else str(region)


def load_stack_file(stage: str, root: Path | None = None) -> StackConfig:
    """Read ``Pulumi.<stage>.yaml`` the way Pulumi would, for the local cloud and the CLI tools."""
    import yaml

    path = (root or Path(__file__).resolve().parent.parent) / f"Pulumi.{stage}.yaml"
    if not path.exists():
        raise ConfigError("stage", path.name, f"has no stack file {path}")
    document = yaml.safe_load(path.read_text()) or {}
    own, region = split_namespaced(document.get("config") or {})
    return parse_stack_config(stage, own, region, path.name)
