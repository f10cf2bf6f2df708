"""Reading a registered resource graph: type tokens, and following references between resources.

References in the graph are the values AWS would hand the program (a bucket's name, a queue's URL, a
function's name, ARN, alias ARN or invoke ARN), so the rules resolve them the way AWS would rather
than by Pulumi resource name: they keep holding when components are renamed or restructured.
"""

from __future__ import annotations

import json
import re
from typing import Any

from components.testing import Graph, Registered

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
PERMISSION = "aws:lambda/permission:Permission"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
API = "aws:apigatewayv2/api:Api"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"

# A function ARN, possibly qualified (version or alias), also inside an API Gateway invoke ARN.
_FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[^:]+:\d{12}:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9_$-]+))?")

FunctionRef = tuple[str, str | None]  # (deployed function name, qualifier or None)


def label(resource: Registered) -> str:
    """How a violation names a resource: its type's last segment and its Pulumi name."""
    return f"{resource.typ.rsplit(':', 1)[-1]} {resource.name}"


def function_ref(graph: Graph, ref: Any) -> FunctionRef | None:
    """The function (and qualifier) that a name, ARN, alias ARN or invoke ARN designates, if the stack has it."""
    if not isinstance(ref, str) or not ref:
        return None
    for alias in graph.of_type(ALIAS):
        if ref in (alias.state.get("arn"), alias.state.get("invokeArn")):
            target = function_ref(graph, alias.inputs.get("functionName"))
            return None if target is None else (target[0], alias.inputs.get("name"))
    match = _FUNCTION_ARN.search(ref)
    name, qualifier = (match.group(1), match.group(2)) if match else (ref, None)
    return (name, qualifier) if function_named(graph, name) is not None else None


def function_named(graph: Graph, name: str) -> Registered | None:
    found = [f for f in graph.of_type(FUNCTION) if f.state.get("name", f.inputs.get("name")) == name]
    return found[0] if len(found) == 1 else None


def function_name(function: Registered) -> str:
    return str(function.state.get("name", function.inputs.get("name", function.name)))


def bucket_of(graph: Graph, ref: Any) -> Registered | None:
    """The bucket a configuration resource's ``bucket`` input (its name, which is also its id) names."""
    found = [b for b in graph.of_type(BUCKET) if ref in (b.id, b.state.get("bucket"))]
    return found[0] if len(found) == 1 else None


def attached(graph: Graph, typ: str, key: str, target: Registered, *refs: Any) -> list[Registered]:
    """The resources of ``typ`` whose ``key`` input names ``target`` by its id or one of ``refs``."""
    names = {target.id, *(ref for ref in refs if ref)}
    return [r for r in graph.of_type(typ) if r.inputs.get(key) in names]


def json_input(resource: Registered, key: str) -> Any:
    """An input that carries a JSON document (policies, payloads); None when absent or not JSON."""
    value = resource.inputs.get(key)
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None


def as_list(value: Any) -> list[Any]:
    """IAM lets Action, Resource and friends be one string or a list of them."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
