"""The stack rules: what every stack of the service must satisfy, checked over its resource graph.

Each rule is a function ``(graph, stage) -> list[Violation]`` written over resource *types* (every
bucket, every table, every function, every integration...), never over today's resource names, so
a new bucket, function or route is held to the same rules the day it is added. A rule returns its
violations rather than asserting, so a test can show all of them at once and a broken copy of the
graph can be shown to fail exactly the rule it breaks.

What the rules do not check, and why:
- CloudWatch log groups are always encrypted at rest by the service; a customer-managed key would
  add key-policy plumbing for logs that, by the project's standards, carry no patient data.
- The SNS alarm topic carries alarm state changes only; CloudWatch cannot publish to a topic under
  the AWS-managed SNS key, so encrypting it needs a customer-managed key (left to a later change).
- API Gateway's ``execute-api`` endpoints serve HTTPS only, so the API needs no transport rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from components.testing import Graph, Registered
from fhrapp.config import LOG_RETENTION_DAYS
from stackpolicy.graph import (
    ALARM,
    API,
    BUCKET,
    BUCKET_ACL,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_SSE,
    BUCKET_VERSIONING,
    EVENT_RULE,
    EVENT_TARGET,
    FUNCTION,
    INTEGRATION,
    LOG_GROUP,
    MAPPING,
    PERMISSION,
    QUEUE,
    QUEUE_POLICY,
    ROUTE,
    TABLE,
    FunctionRef,
    as_list,
    attached,
    function_name,
    function_named,
    function_ref,
    json_input,
    label,
)

PRODUCTION_STAGES = frozenset({"prod"})
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_ACCESS_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
API_INTEGRATION_TIMEOUT_MS = 30_000  # HTTP APIs cut every integration off at 30 s
LAMBDA_DEFAULT_TIMEOUT_S = 3
SQS_DEFAULT_VISIBILITY_S = 30
# AWS: "set the source queue's visibility timeout to at least six times the timeout of your function",
# so a batch throttled and retried by the poller is not redelivered while it still runs.
VISIBILITY_TIMEOUT_FACTOR = 6
# An account's default concurrency is 1,000, and Lambda keeps at least 100 of it unreserved.
ACCOUNT_CONCURRENCY, UNRESERVED_MINIMUM = 1000, 100
ALARMED_METRICS = ("Errors", "Throttles")


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.resource}: {self.message}"


Problem = tuple[Registered | str, str]  # the resource (or "stack") and what is wrong with it
Rule = Callable[[Graph, str], list[Violation]]
RULES: dict[str, Rule] = {}


def rule(check: Callable[[Graph, str], list[Problem]]) -> Rule:
    """Register ``check`` under its name; its problems become violations of that rule."""

    def run(graph: Graph, stage: str) -> list[Violation]:
        return [
            Violation(check.__name__, where if isinstance(where, str) else label(where), message)
            for where, message in check(graph, stage)
        ]

    run.__name__, run.__doc__ = check.__name__, check.__doc__
    RULES[check.__name__] = run
    return run


def evaluate(graph: Graph, stage: str, rules: Iterable[str] | None = None) -> list[Violation]:
    """The violations of ``rules`` (default: all) in ``graph``, the graph of stack ``stage``."""
    return [v for name in (RULES if rules is None else rules) for v in RULES[name](graph, stage)]


@rule
def encryption_at_rest(graph: Graph, stage: str) -> list[Problem]:
    """Every bucket has one default-encryption configuration; every table is encrypted under a KMS key
    (its use recorded in CloudTrail, unlike the default AWS-owned key); every queue uses SSE."""
    found: list[Problem] = []
    for bucket in graph.of_type(BUCKET):
        configs = attached(graph, BUCKET_SSE, "bucket", bucket, bucket.state.get("bucket"))
        algorithms = [
            (rule_.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            for config in configs
            for rule_ in config.inputs.get("rules") or []
        ]
        if len(configs) != 1 or not algorithms or not set(algorithms) <= SSE_ALGORITHMS:
            found.append(
                (bucket, f"needs one default encryption with one of {sorted(SSE_ALGORITHMS)}, has {algorithms}")
            )
    for table in graph.of_type(TABLE):
        if (table.inputs.get("serverSideEncryption") or {}).get("enabled") is not True:
            found.append((table, "is not encrypted under a KMS key (serverSideEncryption.enabled)"))
    for queue in graph.of_type(QUEUE):
        if queue.inputs.get("sqsManagedSseEnabled") is not True and not queue.inputs.get("kmsMasterKeyId"):
            found.append((queue, "is not encrypted at rest (sqsManagedSseEnabled or kmsMasterKeyId)"))
    return found


@rule
def encryption_in_transit(graph: Graph, stage: str) -> list[Problem]:
    """Every bucket and queue has one resource policy, and it denies everyone any request not over TLS
    (``aws:SecureTransport = false``): S3 and SQS would otherwise also answer plain HTTP."""
    found: list[Problem] = []
    for bucket in graph.of_type(BUCKET):
        policies = attached(graph, BUCKET_POLICY, "bucket", bucket, bucket.state.get("bucket"))
        arn = bucket.state.get("arn")
        found += _tls_only(bucket, policies, "s3", [arn, f"{arn}/*"])
    for queue in graph.of_type(QUEUE):
        policies = attached(graph, QUEUE_POLICY, "queueUrl", queue, queue.state.get("url"))
        found += _tls_only(queue, policies, "sqs", [queue.state.get("arn")])
    return found


@rule
def no_public_bucket(graph: Graph, stage: str) -> list[Problem]:
    """Every bucket has a public access block with all four flags set, no public ACL, and no bucket
    policy statement that allows everyone."""
    found: list[Problem] = []
    for bucket in graph.of_type(BUCKET):
        name = bucket.state.get("bucket")
        blocks = attached(graph, BUCKET_PUBLIC_ACCESS_BLOCK, "bucket", bucket, name)
        if len(blocks) != 1 or not all(blocks[0].inputs.get(flag) is True for flag in PUBLIC_ACCESS_BLOCK_FLAGS):
            found.append((bucket, f"needs one public access block with {', '.join(PUBLIC_ACCESS_BLOCK_FLAGS)}"))
        acls = [
            bucket.inputs.get("acl"),
            *(a.inputs.get("acl") for a in attached(graph, BUCKET_ACL, "bucket", bucket, name)),
        ]
        if PUBLIC_ACLS & set(acls):
            found.append((bucket, f"has a public ACL {sorted(PUBLIC_ACLS & set(acls))}"))
        for policy in attached(graph, BUCKET_POLICY, "bucket", bucket, name):
            for statement in _statements(json_input(policy, "policy")):
                if statement.get("Effect") == "Allow" and _everyone(statement.get("Principal")):
                    found.append((bucket, f"its policy allows everyone {statement.get('Action')}"))
    return found


@rule
def log_retention(graph: Graph, stage: str) -> list[Problem]:
    """Every log group keeps its logs for one of CloudWatch's retention periods (never forever), and every
    function logs into a log group of the stack (else Lambda creates one that keeps logs forever)."""
    found: list[Problem] = []
    groups = graph.of_type(LOG_GROUP)
    for group in groups:
        days = group.inputs.get("retentionInDays")
        if days is None:
            found.append((group, "keeps logs forever (no retentionInDays)"))
        elif int(days) not in LOG_RETENTION_DAYS:
            found.append((group, f"keeps logs for {_n(days)} days: not one of CloudWatch's periods"))
    names = {group.inputs.get("name") for group in groups}
    for function in graph.of_type(FUNCTION):
        target = (function.inputs.get("loggingConfig") or {}).get(
            "logGroup"
        ) or f"/aws/lambda/{function_name(function)}"
        if target not in names:
            found.append((function, f"logs to {target}, which the stack does not declare (no retention)"))
    return found


@rule
def alarms_on_functions(graph: Graph, stage: str) -> list[Problem]:
    """Every function has an alarm on its errors and on its throttles; in production every alarm notifies."""
    found: list[Problem] = []
    alarms = graph.of_type(ALARM)
    for function in graph.of_type(FUNCTION):
        name = function_name(function)
        watched = {
            alarm.inputs.get("metricName")
            for alarm in alarms
            if alarm.inputs.get("namespace") == "AWS/Lambda"
            and (alarm.inputs.get("dimensions") or {}).get("FunctionName") == name
        }
        missing = [metric for metric in ALARMED_METRICS if metric not in watched]
        if missing:
            found.append((function, f"has no alarm on {', '.join(missing)}"))
    if stage in PRODUCTION_STAGES:
        found += [(alarm, "notifies no one") for alarm in alarms if not alarm.inputs.get("alarmActions")]
    return found


@rule
def trigger_limits(graph: Graph, stage: str) -> list[Problem]:
    """Every function's timeout and reserved concurrency fit what triggers it: an API integration's 30 s
    (and every integration is routed), a queue's visibility timeout (at least 6x the function's timeout)
    and mapping concurrency, the keep-warm fan-out; every function reserves at least 1 and the stack leaves
    the account's 100 unreserved."""
    return [
        *_api_limits(graph),
        *_queue_limits(graph),
        *_keep_warm_limits(graph),
        *_concurrency_limits(graph),
    ]


@rule
def invoke_permissions(graph: Graph, stage: str) -> list[Problem]:
    """Every Lambda permission is scoped to a source ARN (no confused deputy) and matches a trigger of the
    stack that invokes that very function and qualifier: an API integration or an EventBridge target."""
    found: list[Problem] = []
    for permission in graph.of_type(PERMISSION):
        inputs = permission.inputs
        ref = function_ref(graph, inputs.get("function"))
        if ref is None:
            found.append((permission, f"names {inputs.get('function')!r}, no function of the stack"))
            continue
        target = (ref[0], inputs.get("qualifier") or ref[1])
        source, principal = inputs.get("sourceArn"), inputs.get("principal")
        if not source:
            found.append((permission, f"lets any {principal} resource of any account invoke {target[0]}"))
        elif principal not in _TRIGGERS:
            found.append((permission, f"grants {principal}, a principal no rule knows how to check"))
        elif not _TRIGGERS[principal](graph, source, target):
            found.append((permission, f"lets {source} invoke {_qualified(target)}, but nothing there invokes it"))
    return found


@rule
def production_data_protected(graph: Graph, stage: str) -> list[Problem]:
    """In production, no deploy or destroy can delete patients' data: every bucket and table is protected and
    retained on delete by Pulumi, tables have deletion protection and point-in-time recovery, buckets keep
    versions and are never force-destroyed."""
    if stage not in PRODUCTION_STAGES:
        return []
    found: list[Problem] = []
    for store in (*graph.of_type(BUCKET), *graph.of_type(TABLE)):
        if not (store.protect and store.retain_on_delete):
            found.append((store, "is not protected and retained on delete by Pulumi"))
    for table in graph.of_type(TABLE):
        if table.inputs.get("deletionProtectionEnabled") is not True:
            found.append((table, "has no deletion protection"))
        if (table.inputs.get("pointInTimeRecovery") or {}).get("enabled") is not True:
            found.append((table, "has no point-in-time recovery"))
    for bucket in graph.of_type(BUCKET):
        if bucket.inputs.get("forceDestroy") is True:
            found.append((bucket, "is force-destroyed (emptied) with the stack"))
        versioning = attached(graph, BUCKET_VERSIONING, "bucket", bucket, bucket.state.get("bucket"))
        if [v.inputs.get("versioningConfiguration", {}).get("status") for v in versioning] != ["Enabled"]:
            found.append((bucket, "does not keep object versions (one BucketVersioning, Enabled)"))
    return found


# ---- helpers


def _n(value: Any) -> str:
    """A number as the stack file wrote it (the engine hands every number over as a float)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _qualified(target: FunctionRef) -> str:
    return f"{target[0]}:{target[1]}" if target[1] else target[0]


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


def _everyone(principal: Any) -> bool:
    return principal == "*" or (isinstance(principal, dict) and "*" in as_list(principal.get("AWS")))


def _tls_only(store: Registered, policies: list[Registered], service: str, resources: list[Any]) -> list[Problem]:
    if len(policies) != 1:
        # AWS keeps one policy per bucket or queue: two policy resources overwrite each other on every deploy.
        return [(store, f"needs exactly one resource policy, has {len(policies)}")]
    for statement in _statements(json_input(policies[0], "policy")):
        actions = set(as_list(statement.get("Action")))
        covered = set(as_list(statement.get("Resource")))
        secure = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        if (
            statement.get("Effect") == "Deny"
            and _everyone(statement.get("Principal"))
            and actions & {"*", f"{service}:*"}
            and ("*" in covered or set(resources) <= covered)
            and str(secure).lower() == "false"
        ):
            return []
    return [(store, f"its policy does not deny every {service} request without TLS on {resources}")]


def _api_limits(graph: Graph) -> list[Problem]:
    found: list[Problem] = []
    routed = {route.inputs.get("target") for route in graph.of_type(ROUTE)}
    for integration in graph.of_type(INTEGRATION):
        if integration.inputs.get("integrationType") != "AWS_PROXY":
            continue
        ref = function_ref(graph, integration.inputs.get("integrationUri"))
        function = function_named(graph, ref[0]) if ref else None
        if function is None:
            found.append((integration, "targets no function of the stack"))
            continue
        limit_ms = integration.inputs.get("timeoutMilliseconds", API_INTEGRATION_TIMEOUT_MS)
        timeout_s = function.inputs.get("timeout", LAMBDA_DEFAULT_TIMEOUT_S)
        if limit_ms > API_INTEGRATION_TIMEOUT_MS:
            found.append((integration, f"waits {_n(limit_ms)} ms; HTTP APIs stop at {API_INTEGRATION_TIMEOUT_MS}"))
        if timeout_s * 1000 > limit_ms:
            found.append(
                (function, f"may run {_n(timeout_s)} s but {label(integration)} gives up after {_n(limit_ms)} ms")
            )
        if f"integrations/{integration.id}" not in routed:
            found.append((integration, "is used by no route (an unused way into the function)"))
    return found


def _queue_limits(graph: Graph) -> list[Problem]:
    found: list[Problem] = []
    queues = {queue.state.get("arn"): queue for queue in graph.of_type(QUEUE)}
    for mapping in graph.of_type(MAPPING):
        queue = queues.get(mapping.inputs.get("eventSourceArn"))
        ref = function_ref(graph, mapping.inputs.get("functionName"))
        function = function_named(graph, ref[0]) if ref else None
        if queue is None or function is None:
            found.append((mapping, "does not connect a queue and a function of the stack"))
            continue
        timeout_s = function.inputs.get("timeout", LAMBDA_DEFAULT_TIMEOUT_S)
        visibility_s = queue.inputs.get("visibilityTimeoutSeconds", SQS_DEFAULT_VISIBILITY_S)
        if visibility_s < VISIBILITY_TIMEOUT_FACTOR * timeout_s:
            found.append(
                (
                    queue,
                    f"hides a message {_n(visibility_s)} s, under {VISIBILITY_TIMEOUT_FACTOR}x the {_n(timeout_s)} s "
                    f"timeout of {function_name(function)}: a throttled, retried batch is redelivered while it runs",
                )
            )
        cap = (mapping.inputs.get("scalingConfig") or {}).get("maximumConcurrency")
        reserved = function.inputs.get("reservedConcurrentExecutions")
        if cap and reserved is not None and reserved < cap:
            found.append((function, f"reserves {_n(reserved)} but {label(mapping)} runs up to {_n(cap)} at once"))
    return found


def _keep_warm_limits(graph: Graph) -> list[Problem]:
    found: list[Problem] = []
    for target in graph.of_type(EVENT_TARGET):
        payload = json_input(target, "input")
        fan_out = (payload.get("keepWarm") or {}).get("concurrency") if isinstance(payload, dict) else None
        ref = function_ref(graph, target.inputs.get("arn"))
        function = function_named(graph, ref[0]) if ref else None
        if not fan_out or function is None:
            continue
        reserved = function.inputs.get("reservedConcurrentExecutions")
        if reserved is not None and fan_out > reserved:
            found.append((target, f"warms {_n(fan_out)} environments of a function that reserves {_n(reserved)}"))
    return found


def _concurrency_limits(graph: Graph) -> list[Problem]:
    found: list[Problem] = []
    total = 0
    for function in graph.of_type(FUNCTION):
        reserved = function.inputs.get("reservedConcurrentExecutions")
        if reserved is None or reserved < 1:
            found.append((function, f"reserves {_n(reserved)}: unset takes from the account pool, 0 throttles all"))
        else:
            total += int(reserved)
    if total > ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM:
        found.append(
            (
                "stack",
                f"reserves {total} concurrent executions; a default account ({ACCOUNT_CONCURRENCY}) must keep "
                f"{UNRESERVED_MINIMUM} unreserved (deploy dev and prod to separate accounts, or raise the quota)",
            )
        )
    return found


def _invoked_by_api(graph: Graph, source: str, target: FunctionRef) -> bool:
    apis = {api.id: api.state.get("executionArn") for api in graph.of_type(API)}
    return any(
        function_ref(graph, integration.inputs.get("integrationUri")) == target
        and source.startswith(f"{apis.get(str(integration.inputs.get('apiId')))}/")
        for integration in graph.of_type(INTEGRATION)
    )


def _invoked_by_events(graph: Graph, source: str, target: FunctionRef) -> bool:
    names = {
        rule_.state.get("name", rule_.inputs.get("name"))
        for rule_ in graph.of_type(EVENT_RULE)
        if rule_.state.get("arn") == source
    }
    return any(
        t.inputs.get("rule") in names and function_ref(graph, t.inputs.get("arn")) == target
        for t in graph.of_type(EVENT_TARGET)
    )


_TRIGGERS: dict[str, Callable[[Graph, str, FunctionRef], bool]] = {
    "apigateway.amazonaws.com": _invoked_by_api,
    "events.amazonaws.com": _invoked_by_events,
}
