"""IAM policy documents built from the app definition's grants: pure functions, no pulumi.

Keeping them pure lets tests check every statement exactly, and keeps the least-privilege rules in
one place: object actions on ``<bucket arn>/<prefix>*`` (``Grant.prefix``, empty for the whole
bucket), bucket actions on the bucket ARN, table and queue actions on the table's or queue's ARN,
log writes on the function's own log group, and never a ``*`` resource.

A prefix narrows object actions only. Bucket-level actions (``s3:ListBucket``) cannot be scoped
by a resource path, so a grant that combines them with a prefix is refused (:class:`PolicyError`)
rather than silently widened to the whole bucket: grant them separately, without a prefix. A ``*``
may stand for one whole inner segment of a prefix (``tenants/*/uploads/``: every tenant's uploads),
never for the first segment or part of one, so a prefix always pins where its objects start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fhrapp.definition import AppDefinition, Function, Grant

POLICY_VERSION = "2012-10-17"
# S3 actions that act on the bucket itself; every other s3: action acts on objects.
S3_BUCKET_ACTIONS = frozenset(
    {
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:ListBucketMultipartUploads",
        "s3:GetBucketLocation",
        "s3:GetBucketVersioning",
    }
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
ACTION_PREFIX = {"bucket": "s3:", "table": "dynamodb:", "queue": "sqs:"}

Statement = dict[str, Any]


class PolicyError(ValueError):
    """A grant that cannot be expressed with least privilege (wrong service for its resource, wildcard)."""


def assume_role_policy(service: str) -> dict[str, Any]:
    """Trust policy letting one AWS service (``lambda.amazonaws.com``) assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def function_policy(app: AppDefinition, fn: Function, arns: Mapping[str, str], log_group_arn: str) -> dict[str, Any]:
    """The inline policy of ``fn``'s role: its log group plus one or two statements per grant."""
    statements: list[Statement] = [
        _allow("WriteOwnLogs", LOG_ACTIONS, [f"{log_group_arn}:*"]),
    ]
    for grant in fn.grants:
        kind = app.resource(grant.resource).kind
        statements.extend(grant_statements(grant, kind, arns[grant.resource]))
    sids = [statement["Sid"] for statement in statements]
    if len(sids) != len(set(sids)):
        raise PolicyError(f"function {fn.name} has grants that repeat a statement id: {sids}")
    return {"Version": POLICY_VERSION, "Statement": statements}


def missing_actions(fn: Function, resource: str, needed: tuple[str, ...]) -> list[str]:
    """The ``needed`` actions on ``resource`` that ``fn``'s grants do not give (e.g. to consume its trigger queue)."""
    granted = {action for grant in fn.grants if grant.resource == resource for action in grant.actions}
    return sorted(set(needed) - granted)


def grant_statements(grant: Grant, kind: str, arn: str) -> list[Statement]:
    """Statements for one grant; a bucket's actions split into bucket-level and object-level ones."""
    prefix = ACTION_PREFIX[kind]
    for action in grant.actions:
        if not action.startswith(prefix) or "*" in action:
            raise PolicyError(
                f"grant on {grant.resource} ({kind}) may name only explicit {prefix} actions, not {action!r}"
            )
    sid = _sid(grant.resource)
    if grant.prefix and kind != "bucket":
        raise PolicyError(f"grant on {grant.resource} ({kind}) has prefix {grant.prefix!r}; only buckets take one")
    if not _prefix_is_pinned(grant.prefix):
        raise PolicyError(
            f"grant on {grant.resource} has prefix {grant.prefix!r}: no leading '/', and '*' only as a whole "
            "inner segment (tenants/*/uploads/)"
        )
    if kind != "bucket":
        return [_allow(sid, grant.actions, [arn])]
    bucket_actions = tuple(a for a in grant.actions if a in S3_BUCKET_ACTIONS)
    object_actions = tuple(a for a in grant.actions if a not in S3_BUCKET_ACTIONS)
    if bucket_actions and grant.prefix:
        raise PolicyError(
            f"grant on {grant.resource} scopes {list(bucket_actions)} to prefix {grant.prefix!r}, but bucket-level "
            "actions apply to the whole bucket: grant them separately, without a prefix"
        )
    statements = []
    if bucket_actions:
        statements.append(_allow(f"{sid}Bucket", bucket_actions, [arn]))
    if object_actions:
        objects_sid = f"{sid}{_sid(grant.prefix)}Objects"
        statements.append(_allow(objects_sid, object_actions, [f"{arn}/{grant.prefix}*"]))
    return statements


def _prefix_is_pinned(prefix: str) -> bool:
    if prefix.startswith("/"):
        return False
    if "*" not in prefix:
        return True
    segments = prefix.split("/")
    return segments[0] != "*" and all(s == "*" or "*" not in s for s in segments) and segments[-1] != "*"


def invoke_self_policy(function_arn: str) -> dict[str, Any]:
    """Lets a function invoke itself only (keep-warm fan-out, async jobs): unqualified, or a version or
    alias of itself (the fan-out invokes the version that is running, the one the ``live`` alias serves)."""
    resources = [function_arn, f"{function_arn}:*"]
    return {"Version": POLICY_VERSION, "Statement": [_allow("InvokeSelf", ("lambda:InvokeFunction",), resources)]}


def tls_only_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket or its objects that does not arrive over TLS."""
    return deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"])


def tls_only_queue_policy(queue_arn: str) -> dict[str, Any]:
    """Deny every request to the queue that does not arrive over TLS (SQS also answers plain HTTP)."""
    return deny_insecure_transport("sqs:*", [queue_arn])


def deny_insecure_transport(actions: str, resources: list[str]) -> dict[str, Any]:
    """A resource policy denying ``actions`` on ``resources`` to anyone whose request is not over TLS.

    A Deny wins over every Allow, so no identity policy, however broad, can read the data in clear.
    """
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": actions,
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _allow(sid: str, actions: tuple[str, ...], resources: list[str]) -> Statement:
    for resource in resources:
        if resource == "*" or not resource:
            raise PolicyError(f"statement {sid} would allow {list(actions)} on {resource!r}")
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def _sid(logical: str) -> str:
    """IAM statement ids are alphanumeric: ``results_table`` -> ``ResultsTable``."""
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", logical) if part)
