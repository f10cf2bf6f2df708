"""The one app definition: functions, routes, keep-warm targets and the data resources they touch.

Both the Pulumi components (``components/``) and the embedded local cloud (``localcloud/``) read this
module, so there is no second, hand-kept list of routes or functions anywhere. It is plain data and
imports neither pulumi nor handler code: handlers are named by dotted path, resources by logical name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ResourceKind = Literal["bucket", "table", "queue"]
_SCOPE_RE = re.compile(r"[a-z][a-z0-9_-]*/[a-z][a-z0-9_-]*")


@dataclass(frozen=True)
class DataResource:
    """A stateful resource of the stack (bucket, table, queue) named by its logical name.

    ``hash_key``/``ttl_attribute`` describe DynamoDB tables so the local cloud creates the same key
    schema and TTL that the Pulumi component declares. For a queue, the env var carries its URL (not
    its name); ``dead_letter`` names the queue that receives a message after ``max_receives``
    deliveries, and ``visibility_timeout_s`` must be at least 6x the consuming function's timeout (AWS's
    advice for a Lambda trigger; the stack rule ``trigger_limits`` holds every stack to it).
    ``max_message_bytes`` is the queue's MaximumMessageSize (1 KiB-1 MiB; SQS's default 256 KiB),
    set on the deployed queue and enforced by the local cloud.
    """

    logical: str
    kind: ResourceKind
    env_var: str
    hash_key: str | None = None
    range_key: str | None = None
    ttl_attribute: str | None = None
    description: str = ""
    dead_letter: str | None = None
    max_receives: int = 5
    visibility_timeout_s: int = 360
    retention_s: int = 4 * 24 * 3600
    max_message_bytes: int = 256 * 1024


@dataclass(frozen=True)
class Grant:
    """One least-privilege grant: IAM ``actions`` on the resource named ``resource``.

    For a bucket, object-level actions (``s3:GetObject``, ``s3:PutObject``) are scoped to
    ``<bucket arn>/<prefix>*`` and bucket-level actions (``s3:ListBucket``) to the bucket ARN itself.
    """

    resource: str
    actions: tuple[str, ...]
    prefix: str = ""


@dataclass(frozen=True)
class Route:
    """An HTTP API route (API Gateway v2 route key ``"METHOD /path"``) served by one function.

    ``public`` routes skip the stack's JWT authorizer: a browser navigating to the page cannot send
    a bearer token, so ``GET /`` is public while every data route stays protected.

    ``scopes`` are the route's OAuth scopes: API Gateway's JWT authorizer lets a token through when it
    holds ANY of them (``authorization_scopes``), and the local front door does the same. A route that
    serves both reads and writes (the DynamoDB manager) lists both and enforces the finer scope in its
    handler. Open stacks (no authorizer) check no scope.

    ``operation`` names the route for clients: the OpenAPI ``operationId`` (client generators make it a
    method name) and the key by which the page, ``fhr loadtest``, Locust and the examples find its path,
    so a moved path moves with it and a removed route fails their tests. Without one it is derived from
    the method and path (``GET /fhr/jobs/{id}`` -> ``getFhrJobsId``).
    """

    method: str
    path: str
    function: str
    public: bool = False
    scopes: tuple[str, ...] = ()
    operation: str = ""

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def operation_id(self) -> str:
        if self.operation:
            return self.operation
        words = re.findall(r"[A-Za-z0-9]+", self.path)
        return self.method.lower() + "".join(word[:1].upper() + word[1:] for word in words)


@dataclass(frozen=True)
class QueueTrigger:
    """An SQS event source mapping: the queue feeds the function in batches, reporting failures per item."""

    queue: str
    batch_size: int = 5
    max_batching_window_s: int = 1
    max_concurrency: int = 10


@dataclass(frozen=True)
class Function:
    """A Lambda function: its handler (dotted ``package.module.function``) and default sizing.

    The stack config may override ``memory_mb``/``timeout_s`` per stage; ``grants`` and ``resources``
    (which resources' names reach the function as environment variables) drive both the IAM role and
    the environment, so permissions and configuration cannot drift apart.
    """

    name: str
    handler: str
    description: str
    memory_mb: int
    timeout_s: int
    grants: tuple[Grant, ...] = ()
    resources: tuple[str, ...] = ()
    keep_warm: bool = False
    invokes_self: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    trigger: QueueTrigger | None = None
    route_table: bool = False  # gets the route table (API_ROUTES_ENV): it serves the OpenAPI document and the page


@dataclass(frozen=True)
class ScheduledTask:
    """An EventBridge schedule that invokes ``function``'s serving alias with ``payload`` (e.g. the jobs
    sweeper). Pulumi deploys a rule, a target and a permission (components/schedules.py); the local cloud
    fires the same expression with its scheduler."""

    name: str
    function: str
    expression: str
    payload: dict[str, str]


@dataclass(frozen=True)
class AppDefinition:
    """The whole service: what every stack deploys and every local cloud runs."""

    name: str
    functions: tuple[Function, ...]
    routes: tuple[Route, ...]
    resources: tuple[DataResource, ...]
    schedules: tuple[ScheduledTask, ...] = ()

    def function(self, name: str) -> Function:
        for fn in self.functions:
            if fn.name == name:
                return fn
        raise KeyError(f"no function named {name!r} in the app definition")

    def resource(self, logical: str) -> DataResource:
        for res in self.resources:
            if res.logical == logical:
                return res
        raise KeyError(f"no resource named {logical!r} in the app definition")

    def routes_of(self, function: str) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.function == function)

    def operation(self, operation_id: str) -> Route:
        """The route a client knows by its operation id (``APP.operation("getFhr").path``)."""
        for route in self.routes:
            if route.operation_id == operation_id:
                return route
        raise KeyError(f"no route has the operation id {operation_id!r} in the app definition")

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope some route asks for (what a token needs to reach every route)."""
        return tuple(sorted({scope for route in self.routes for scope in route.scopes}))

    @property
    def warmed_functions(self) -> tuple[Function, ...]:
        return tuple(fn for fn in self.functions if fn.keep_warm)

    @property
    def dead_letter_queues(self) -> list[str]:
        """Logical names of the queues some other queue redrives into."""
        return sorted({res.dead_letter for res in self.resources if res.dead_letter is not None})

    def output_key(self, resource: DataResource) -> str:
        """The stack-output key of a resource, the same for Pulumi and the local cloud.

        Buckets and tables by logical name; queues by ``<logical>_url``, except the stack's one
        dead-letter queue, which is ``dlq_url``.
        """
        if resource.kind != "queue":
            return resource.logical
        return "dlq_url" if self.dead_letter_queues == [resource.logical] else f"{resource.logical}_url"

    def validate(self) -> None:
        """Fail early on a definition that references something it does not define."""
        names = {fn.name for fn in self.functions}
        logicals = {res.logical for res in self.resources}
        for route in self.routes:
            if route.function not in names:
                raise ValueError(f"route {route.route_key} names unknown function {route.function!r}")
        for fn in self.functions:
            for grant in fn.grants:
                if grant.resource not in logicals:
                    raise ValueError(f"function {fn.name} grants on unknown resource {grant.resource!r}")
            for logical in fn.resources:
                if logical not in logicals:
                    raise ValueError(f"function {fn.name} names unknown resource {logical!r}")
            if fn.trigger is not None and self.resource(fn.trigger.queue).kind != "queue":
                raise ValueError(f"function {fn.name} is triggered by {fn.trigger.queue!r}, which is not a queue")
        for resource in self.resources:
            if resource.dead_letter is not None and self.resource(resource.dead_letter).kind != "queue":
                raise ValueError(f"{resource.logical}'s dead-letter target {resource.dead_letter!r} is not a queue")
        for task in self.schedules:
            if task.function not in names:
                raise ValueError(f"schedule {task.name} names unknown function {task.function!r}")
        keys = [r.route_key for r in self.routes]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate route keys in the app definition")
        operations = [r.operation_id for r in self.routes]
        if len(operations) != len(set(operations)):
            raise ValueError("duplicate operation ids in the app definition")
        for route in self.routes:
            if route.public and route.scopes:
                raise ValueError(f"route {route.route_key} is public: it has no authorizer to check {route.scopes}")
            for scope in route.scopes:
                if not _SCOPE_RE.fullmatch(scope):
                    raise ValueError(f"route {route.route_key} has scope {scope!r}: want resource/action (fhr/read)")


def physical_name(project: str, stage: str, logical: str) -> str:
    """The deployed name of a logical resource or function, e.g. ``fhr-dev-results``.

    Pulumi uses it as the resource name (a bucket gets it as a prefix, since bucket names are global);
    the local cloud uses it verbatim, so names in `pulumi stack output` and in the local outputs match.
    """
    return f"{project}-{stage}-{logical}"


def dashboard_name(project: str, stage: str) -> str:
    """The stack's CloudWatch dashboard (``fhr-dev-dashboard``): a stack output of both clouds."""
    return physical_name(project, stage, "dashboard")


def bucket_name(physical: str) -> str:
    """S3 names allow no underscores nor capitals: ``fhr-dev-ecg_bucket`` -> ``fhr-dev-ecg-bucket``.

    The local cloud uses it as the bucket's name; Pulumi as its prefix (bucket names are global).
    """
    return physical.replace("_", "-").lower()


@dataclass(frozen=True)
class Tenancy:
    """How the functions tell tenants apart, from the stack's ``fhr:auth``.

    A JWT stack names the verified claim that identifies a caller's tenant (``claim``); an open stack
    (no authorizer) serves every caller as the one tenant ``open_tenant``. Exactly one is set.
    """

    claim: str | None = None
    open_tenant: str | None = None

    def __post_init__(self) -> None:
        if (self.claim is None) == (self.open_tenant is None):
            raise ValueError("a stack's tenancy names either a JWT claim or an open tenant, not both nor neither")

    def environment(self) -> dict[str, str]:
        if self.claim is not None:
            return {TENANT_CLAIM_ENV: self.claim}
        assert self.open_tenant is not None
        return {OPEN_TENANT_ENV: self.open_tenant}


# What the API functions read to find the caller's tenant (handlers/api/tenancy.py reads the same names).
TENANT_CLAIM_ENV = "FHR_TENANT_CLAIM"
OPEN_TENANT_ENV = "FHR_OPEN_TENANT"


def function_environment(
    app: AppDefinition, fn: Function, stage: str, values: Mapping[str, str], tenancy: Tenancy
) -> dict[str, str]:
    """The part of a function's environment every stack shares: each resource it names under its env
    var (``values``: deployed names, queue URLs for queues), its extra variables, the stage and how
    callers map to tenants (so Pulumi and the local cloud cannot disagree on who owns what)."""
    env = {app.resource(logical).env_var: values[logical] for logical in fn.resources}
    env.update(fn.extra_env)
    env["STAGE"] = stage
    env.update(tenancy.environment())
    if fn.route_table:
        env[API_ROUTES_ENV] = api_routes_json(app)
    return env


# The route table as the web function reads it (handlers.api.openapi.ROUTES_ENV names the same variable;
# tests/fhrapp/test_definition.py checks they agree and that the handlers read back what is written here).
API_ROUTES_ENV = "FHR_API_ROUTES"


def api_routes_json(app: AppDefinition) -> str:
    """Every route as compact JSON: operation id, method, path, handler module, scopes or ``public``.

    Lambda allows 4 KB of environment per function; this is about 1 KB for the app's routes.
    """
    table = []
    for route in app.routes:
        entry: dict[str, object] = {
            "operationId": route.operation_id,
            "method": route.method,
            "path": route.path,
            "module": app.function(route.function).handler.rsplit(".", 1)[0],
        }
        entry.update({"public": True} if route.public else {"scopes": list(route.scopes)})
        table.append(entry)
    return json.dumps(table, separators=(",", ":"))


# Every deploy publishes a version behind this alias; whatever invokes a function (API, keep-warm rules,
# queue mappings) invokes the alias, on AWS as in the local cloud (SnapStart serves published versions only).
SERVING_ALIAS = "live"
# CORS of the HTTP API (API Gateway's cors_configuration, and the local front door's preflight answers).
API_CORS_HEADERS = ("authorization", "content-type")
API_CORS_MAX_AGE_S = 300
# Incomplete multipart uploads to the ECG bucket are aborted after this many days.
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
# How long a result (cache entry, job records, result object) lives: the FHR functions' RESULT_TTL_S.
RESULT_TTL_S = 7 * 24 * 3600
# A result too large for its DynamoDB item is an object tenants/<tenant>/results/<id>.json.gz
# (handlers/api/results.py), tagged so that one lifecycle rule expires it: S3 filters take no wildcard,
# so a per-tenant prefix cannot name them all. The handlers hold the same values (a test checks).
RESULT_OBJECTS_PREFIX = "tenants/*/results/"
RESULT_OBJECT_TAG = ("fhr-data", "result")


def result_object_expiry_days(ttl_s: int = RESULT_TTL_S) -> int:
    """Days after which S3 deletes a result object: its TTL rounded up, plus one day because S3 counts
    from the next midnight UTC; the cache item stops pointing at it before (reads check its expiry)."""
    return -(-ttl_s // 86400) + 1


def bucket_lifecycle_rules(transition_days: int | None, result_ttl_s: int = RESULT_TTL_S) -> list[dict[str, Any]]:
    """The ECG bucket's lifecycle rules in S3's API shape: Pulumi (components/storage.py) and the local
    cloud (localcloud/resources.py) both apply exactly these."""
    key, value = RESULT_OBJECT_TAG
    rules: list[dict[str, Any]] = [
        {
            "ID": "results-expire-with-their-ttl",
            "Status": "Enabled",
            "Filter": {"Tag": {"Key": key, "Value": value}},
            "Expiration": {"Days": result_object_expiry_days(result_ttl_s)},
        }
    ]
    if transition_days:
        rules.append(
            {
                "ID": "recordings-to-infrequent-access",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Transitions": [{"Days": transition_days, "StorageClass": "STANDARD_IA"}],
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOADS_DAYS},
            }
        )
    return rules


ECG_BUCKET = DataResource("ecg_bucket", "bucket", "ECG_BUCKET", description="ECG recordings uploaded by clients")
RESULTS_TABLE = DataResource(
    "results_table",
    "table",
    "RESULTS_TABLE",
    hash_key="pk",
    ttl_attribute="expires_at",
    description="cache of FHR results keyed by bucket, key, ETag and options hash; also job records",
)
ITEMS_TABLE = DataResource(
    "items_table",
    "table",
    "ITEMS_TABLE",
    hash_key="tenant",
    range_key="id",
    description="items of the DynamoDB manager, partitioned by tenant (a caller queries its own partition only)",
)
JOBS_DLQ = DataResource(
    "jobs_dlq", "queue", "JOBS_DLQ_URL", retention_s=14 * 24 * 3600, description="jobs that failed every delivery"
)
JOBS_QUEUE = DataResource(
    "jobs_queue",
    "queue",
    "JOBS_QUEUE_URL",
    dead_letter="jobs_dlq",
    max_receives=5,
    visibility_timeout_s=6 * 300,
    description="FHR jobs: deferred long records and batch files, one message per file",
)

# glibc keeps large estimator buffers on the heap instead of fresh mmaps per call: the first call of
# an environment then runs at warm speed (fresh mmapped pages fault in: ~2.5x slower, measured).
ANALYSIS_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "134217728"}
# Every recording lives under tenants/<tenant>/ (handlers/api/tenancy.py); nothing else is readable.
TENANTS_PREFIX = "tenants/"
# Browsers upload to tenants/<tenant>/uploads/...; the presigned POST policy pins the exact key.
TENANT_UPLOADS_PREFIX = "tenants/*/uploads/"
S3_READ = ("s3:GetObject",)
# Writing a result object with its expiry tag needs both actions (S3 checks PutObjectTagging for x-amz-tagging).
S3_WRITE_RESULTS = ("s3:PutObject", "s3:PutObjectTagging")
# Without s3:ListBucket, S3 answers a missing key with 403, and the API could not tell the caller 404.
S3_LIST = ("s3:ListBucket",)
QUEUE_SEND = ("sqs:SendMessage",)
QUEUE_CONSUME = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)
TABLE_CACHE = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
# The worker also sweeps: it finds pending job files with a filtered Scan, records their outcome in a
# transaction (TransactWriteItems needs the item actions) and re-enqueues them.
TABLE_SWEEP = (*TABLE_CACHE, "dynamodb:Scan")
# Batch jobs write one item per file and read them back page by page.
TABLE_JOBS = (*TABLE_CACHE, "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem")
# ``list`` queries the caller's own partition: no Scan, which would page through every tenant's items.
TABLE_CRUD = (
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)

# OAuth scopes of the routes (e.g. Cognito resource-server scopes). Reading results and job status is
# fhr/read; creating stored state a caller names (uploads, batch jobs) is fhr/write. Analysing one
# record is a read: its result is a deterministic function of the caller's own recording.
SCOPE_FHR_READ = "fhr/read"
SCOPE_FHR_WRITE = "fhr/write"
SCOPE_ITEMS_READ = "items/read"
SCOPE_ITEMS_WRITE = "items/write"

FHR_FUNCTION = Function(
    name="fhr",
    handler="handlers.api.fhr.handler",
    description="Fetal heart rate from an ECG recording in the stack's bucket",
    memory_mb=1769,
    timeout_s=29,
    grants=(
        Grant("ecg_bucket", S3_READ, prefix=TENANTS_PREFIX),
        Grant("ecg_bucket", S3_LIST),
        Grant("ecg_bucket", S3_WRITE_RESULTS, prefix=RESULT_OBJECTS_PREFIX),
        Grant("results_table", TABLE_JOBS),
        Grant("jobs_queue", QUEUE_SEND),
    ),
    resources=("ecg_bucket", "results_table", "jobs_queue"),
    keep_warm=True,
    invokes_self=True,
    extra_env={"RESULT_TTL_S": str(RESULT_TTL_S), **ANALYSIS_ENV},
)
WORKER_FUNCTION = Function(
    name="worker",
    handler="handlers.api.worker.handler",
    description="Finishes deferred and batch FHR jobs from the jobs queue",
    memory_mb=1769,
    timeout_s=300,
    grants=(
        Grant("ecg_bucket", S3_READ, prefix=TENANTS_PREFIX),
        Grant("ecg_bucket", S3_LIST),
        Grant("ecg_bucket", S3_WRITE_RESULTS, prefix=RESULT_OBJECTS_PREFIX),
        Grant("results_table", TABLE_SWEEP),
        Grant("jobs_queue", (*QUEUE_CONSUME, *QUEUE_SEND)),
    ),
    resources=("ecg_bucket", "results_table", "jobs_queue"),
    extra_env={
        "JOBS_MAX_RECEIVES": str(JOBS_QUEUE.max_receives),
        "JOBS_VISIBILITY_TIMEOUT_S": str(JOBS_QUEUE.visibility_timeout_s),
        "RESULT_TTL_S": str(RESULT_TTL_S),
        **ANALYSIS_ENV,
    },
    trigger=QueueTrigger("jobs_queue"),
)
WEB_FUNCTION = Function(
    name="web",
    handler="handlers.web.app.handler",
    description="The web page, presigned uploads and the list of stored recordings",
    memory_mb=512,
    timeout_s=10,
    grants=(Grant("ecg_bucket", S3_LIST), Grant("ecg_bucket", ("s3:PutObject",), prefix=TENANT_UPLOADS_PREFIX)),
    resources=("ecg_bucket",),
    route_table=True,
)
ITEMS_FUNCTION = Function(
    name="items",
    handler="handlers.api.items.handler",
    description="DynamoDB manager restricted to the stack's items table",
    memory_mb=256,
    timeout_s=10,
    grants=(Grant("items_table", TABLE_CRUD),),
    resources=("items_table",),
    keep_warm=True,
    invokes_self=True,
)

# The jobs sweeper (handlers/api/sweeper.py) runs in the worker, which owns the queue and the job records.
SWEEP_SOURCE = "fhr.jobs-sweeper"
SWEEP_SCHEDULE = ScheduledTask("jobs-sweeper", "worker", "rate(15 minutes)", {"source": SWEEP_SOURCE})

APP = AppDefinition(
    name="fhr",
    functions=(FHR_FUNCTION, ITEMS_FUNCTION, WORKER_FUNCTION, WEB_FUNCTION),
    routes=(
        Route("GET", "/fhr", "fhr", scopes=(SCOPE_FHR_READ,), operation="getFhr"),
        Route("POST", "/fhr", "fhr", scopes=(SCOPE_FHR_READ,), operation="postFhr"),
        Route("POST", "/fhr/batch", "fhr", scopes=(SCOPE_FHR_WRITE,), operation="createBatch"),
        Route("GET", "/fhr/jobs/{id}", "fhr", scopes=(SCOPE_FHR_READ,), operation="getJob"),
        # Both: the gateway lets either through; the handler requires items/write for create/update/delete.
        Route(
            "POST", "/DynamoDBManager", "items", scopes=(SCOPE_ITEMS_READ, SCOPE_ITEMS_WRITE), operation="manageItems"
        ),
        Route("GET", "/", "web", public=True, operation="getPage"),
        Route("POST", "/uploads", "web", scopes=(SCOPE_FHR_WRITE,), operation="createUploads"),
        Route("GET", "/recordings", "web", scopes=(SCOPE_FHR_READ,), operation="listRecordings"),
        # The API's contract, public like the page: client generators and fuzzers fetch it without a token.
        Route("GET", "/openapi.json", "web", public=True, operation="getOpenApi"),
    ),
    resources=(ECG_BUCKET, RESULTS_TABLE, ITEMS_TABLE, JOBS_DLQ, JOBS_QUEUE),
    schedules=(SWEEP_SCHEDULE,),
)
APP.validate()

KEEP_WARM_SOURCE = "fhr.keep-warm"


def warm_payload(concurrency: int) -> dict[str, object]:
    """The event a keep-warm rule sends: the runtime answers it before any handler work.

    ``concurrency`` > 1 asks the receiving environment to fan out ``concurrency - 1`` concurrent
    self-invocations so that many environments stay warm (as serverless-plugin-warmup does).
    """
    return {"source": KEEP_WARM_SOURCE, "keepWarm": {"concurrency": concurrency}}
