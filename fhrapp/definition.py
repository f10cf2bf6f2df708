"""The one app definition: functions, routes, keep-warm targets and the data resources they touch.

Both the Pulumi components (``components/``) and the embedded local cloud (``localcloud/``) read this
module, so there is no second, hand-kept list of routes or functions anywhere. It is plain data and
imports neither pulumi nor handler code: handlers are named by dotted path, resources by logical name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ResourceKind = Literal["bucket", "table", "queue"]


@dataclass(frozen=True)
class DataResource:
    """A stateful resource of the stack (bucket, table, queue) named by its logical name.

    ``hash_key``/``ttl_attribute`` describe DynamoDB tables so the local cloud creates the same key
    schema and TTL that the Pulumi component declares.
    """

    logical: str
    kind: ResourceKind
    env_var: str
    hash_key: str | None = None
    range_key: str | None = None
    ttl_attribute: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Grant:
    """One least-privilege grant: IAM ``actions`` on the resource named ``resource``.

    For a bucket, object-level actions (``s3:GetObject``, ``s3:PutObject``) are scoped to
    ``<bucket arn>/*`` and bucket-level actions (``s3:ListBucket``) to the bucket ARN itself.
    """

    resource: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    """An HTTP API route (API Gateway v2 route key ``"METHOD /path"``) served by one function."""

    method: str
    path: str
    function: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


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


@dataclass(frozen=True)
class AppDefinition:
    """The whole service: what every stack deploys and every local cloud runs."""

    name: str
    functions: tuple[Function, ...]
    routes: tuple[Route, ...]
    resources: tuple[DataResource, ...]

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

    @property
    def warmed_functions(self) -> tuple[Function, ...]:
        return tuple(fn for fn in self.functions if fn.keep_warm)

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
            for res in fn.resources:
                if res not in logicals:
                    raise ValueError(f"function {fn.name} names unknown resource {res!r}")
        keys = [r.route_key for r in self.routes]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate route keys in the app definition")


def physical_name(project: str, stage: str, logical: str) -> str:
    """The deployed name of a logical resource or function, e.g. ``fhr-dev-results``.

    Pulumi uses it as the resource name (a bucket gets it as a prefix, since bucket names are global);
    the local cloud uses it verbatim, so names in `pulumi stack output` and in the local outputs match.
    """
    return f"{project}-{stage}-{logical}"


ECG_BUCKET = DataResource(
    "ecg_bucket", "bucket", "ECG_BUCKET", description="ECG recordings uploaded by clients"
)
RESULTS_TABLE = DataResource(
    "results_table",
    "table",
    "RESULTS_TABLE",
    hash_key="pk",
    ttl_attribute="expires_at",
    description="cache of FHR results keyed by bucket, key, ETag and options hash; also job records",
)
ITEMS_TABLE = DataResource(
    "items_table", "table", "ITEMS_TABLE", hash_key="id", description="items of the DynamoDB manager"
)

S3_READ = ("s3:GetObject",)
TABLE_CACHE = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
TABLE_CRUD = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Scan",
)

FHR_FUNCTION = Function(
    name="fhr",
    handler="handlers.api.fhr.handler",
    description="Fetal heart rate from an ECG recording in the stack's bucket",
    memory_mb=1769,
    timeout_s=29,
    grants=(Grant("ecg_bucket", S3_READ), Grant("results_table", TABLE_CACHE)),
    resources=("ecg_bucket", "results_table"),
    keep_warm=True,
    invokes_self=True,
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

APP = AppDefinition(
    name="fhr",
    functions=(FHR_FUNCTION, ITEMS_FUNCTION),
    routes=(
        Route("GET", "/fhr", "fhr"),
        Route("POST", "/fhr", "fhr"),
        Route("POST", "/DynamoDBManager", "items"),
    ),
    resources=(ECG_BUCKET, RESULTS_TABLE, ITEMS_TABLE),
)
APP.validate()

KEEP_WARM_SOURCE = "fhr.keep-warm"


def warm_payload(concurrency: int) -> dict[str, object]:
    """The event a keep-warm rule sends: the runtime answers it before any handler work.

    ``concurrency`` > 1 asks the receiving environment to fan out ``concurrency - 1`` concurrent
    self-invocations so that many environments stay warm (as serverless-plugin-warmup does).
    """
    return {"source": KEEP_WARM_SOURCE, "keepWarm": {"concurrency": concurrency}}
