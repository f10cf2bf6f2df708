"""Every IAM and resource policy a stack's graph holds, as the documents AWS would evaluate.

Found generically, not from a list of today's resources: any input (at any depth: a role's inline
policies, a key policy) whose value is a JSON object with a ``Statement`` is a policy document. A
role's ``assumeRolePolicy`` is a trust policy; a document whose statements name a ``Principal`` is a
resource policy; any other is an identity policy.

A trust policy is the role's own resource policy, and IAM refuses a ``Resource`` in it: the role is
implied. parliament checks every statement as an identity or resource policy and stops at the
missing ``Resource`` before it looks at actions or conditions (duo-labs/parliament#229), so a trust
policy is linted with its implied resource, the role's ARN, written out: parliament then checks its
principal, actions and conditions like any other resource policy, and nothing is suppressed.

A Lambda permission is no document in the
program, but Lambda turns each one into a statement of the function's resource policy;
:func:`permission_document` renders that statement the way Lambda does, so parliament checks the
action, the function ARN and the condition keys of every invoke permission too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from components.testing import Graph, Registered
from stackpolicy.graph import FUNCTION, PERMISSION, function_named, function_ref, label

POLICY_VERSION = "2012-10-17"
PolicyKind = Literal["identity", "resource", "trust"]
TRUST_POLICY_INPUTS = frozenset({"assumeRolePolicy"})


@dataclass(frozen=True)
class PolicyDocument:
    """One policy document and where it comes from (``source``: resource and input path)."""

    source: str
    kind: PolicyKind
    document: dict[str, Any]


class UnresolvedPermission(ValueError):
    """A Lambda permission names a function the stack does not have, so its statement cannot be rendered."""


def policy_documents(graph: Graph) -> list[PolicyDocument]:
    """Every policy document of the graph, Lambda permissions included, in registration order."""
    found: list[PolicyDocument] = []
    for resource in graph.resources:
        if resource.typ == PERMISSION:
            found.append(
                PolicyDocument(
                    f"{label(resource)} (as Lambda renders it)", "resource", permission_document(graph, resource)
                )
            )
            continue
        for path, document in _documents_in(resource.inputs, ()):
            source = f"{label(resource)} ({'.'.join(path)})"
            if path[-1] in TRUST_POLICY_INPUTS:
                found.append(PolicyDocument(source, "trust", with_implied_resource(document, resource)))
            else:
                found.append(PolicyDocument(source, _kind(document), document))
    return found


def with_implied_resource(trust: dict[str, Any], role: Registered) -> dict[str, Any]:
    """A trust policy with the resource it governs (the role's ARN) written into every statement."""
    arn = role.state.get("arn") or f"arn:aws:iam::*:role/{role.name}"
    statements = trust.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    explicit = [
        statement
        if not isinstance(statement, dict) or {"Resource", "NotResource"} & set(statement)
        else {**statement, "Resource": arn}
        for statement in statements
    ]
    return {**trust, "Statement": explicit}


def permission_document(graph: Graph, permission: Registered) -> dict[str, Any]:
    """The resource-policy statement Lambda adds to a function for one ``aws.lambda_.Permission``."""
    inputs = permission.inputs
    ref = function_ref(graph, inputs.get("function"))
    function = function_named(graph, ref[0]) if ref else None
    if ref is None or function is None or function.typ != FUNCTION:
        raise UnresolvedPermission(f"{label(permission)} names {inputs.get('function')!r}, no function of the stack")
    qualifier = inputs.get("qualifier") or ref[1]
    resource = f"{function.state['arn']}:{qualifier}" if qualifier else function.state["arn"]
    principal = str(inputs.get("principal", ""))
    conditions: dict[str, dict[str, str]] = {}
    if inputs.get("sourceArn"):
        conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = inputs["sourceArn"]
    if inputs.get("sourceAccount"):
        conditions.setdefault("StringEquals", {})["AWS:SourceAccount"] = inputs["sourceAccount"]
    if inputs.get("principalOrgId"):
        conditions.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = inputs["principalOrgId"]
    if inputs.get("functionUrlAuthType"):
        conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = inputs["functionUrlAuthType"]
    statement: dict[str, Any] = {
        "Sid": inputs.get("statementId") or permission.name,
        "Effect": "Allow",
        "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
        "Action": inputs.get("action"),
        "Resource": resource,
    }
    if conditions:
        statement["Condition"] = conditions
    return {"Version": POLICY_VERSION, "Id": "default", "Statement": [statement]}


def _documents_in(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    if isinstance(value, str):
        document = _as_document(value)
        if document is not None:
            yield path, document
    elif isinstance(value, dict):
        if "Statement" in value and path:
            yield path, value
            return
        for key, item in value.items():
            yield from _documents_in(item, (*path, str(key)))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _documents_in(item, (*path, str(index)))


def _as_document(text: str) -> dict[str, Any] | None:
    if "Statement" not in text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) and "Statement" in document else None


def _kind(document: dict[str, Any]) -> PolicyKind:
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    named = any(isinstance(s, dict) and ("Principal" in s or "NotPrincipal" in s) for s in statements)
    return "resource" if named else "identity"
