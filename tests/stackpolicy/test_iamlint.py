"""parliament over every IAM and resource policy of both stacks: zero findings, and it does find the
mistakes a broken copy of a policy carries (so the zero is not a linter that looks at nothing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.testing import Graph, Registered
from stackpolicy.documents import PolicyDocument, UnresolvedPermission, permission_document, policy_documents
from stackpolicy.graph import BUCKET_POLICY, PERMISSION, QUEUE_POLICY, label
from stackpolicy.iamlint import SUPPRESSIONS, lint_document, lint_graph

from .conftest import STAGES, broken, edit_json, first

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# Every resource of these types carries (or, for a permission, is) a policy parliament must see.
POLICY_BEARING = {
    ROLE: "trust",
    ROLE_POLICY: "identity",
    BUCKET_POLICY: "resource",
    QUEUE_POLICY: "resource",
    PERMISSION: "resource",
}


@pytest.mark.parametrize("stage", STAGES)
def test_every_policy_of_the_stack_passes_parliament(stack_graphs: dict[str, Graph], stage: str) -> None:
    documents, findings = lint_graph(stack_graphs[stage])
    assert findings == [], "\n".join(map(str, findings))
    kinds = {document.source.split(" (")[0]: document.kind for document in documents}
    for typ, kind in POLICY_BEARING.items():
        resources = stack_graphs[stage].of_type(typ)
        assert resources, f"{stage} has no {typ}"
        for resource in resources:
            assert kinds.get(label(resource)) == kind, f"{label(resource)} was not linted as a {kind} policy"


def test_lambda_permissions_are_linted_as_the_statement_lambda_adds(stack_graphs: dict[str, Graph]) -> None:
    graph = stack_graphs["prod"]
    permission = first(graph, PERMISSION, lambda p: p.inputs["principal"] == "apigateway.amazonaws.com")
    function = next(
        f for f in graph.of_type("aws:lambda/function:Function") if f.state["name"] == permission.inputs["function"]
    )
    assert permission_document(graph, permission)["Statement"] == [
        {
            "Sid": "InvokeFromHttpApi",
            "Effect": "Allow",
            "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": f"{function.state['arn']}:live",  # on the alias the API invokes
            "Condition": {"ArnLike": {"AWS:SourceArn": permission.inputs["sourceArn"]}},
        }
    ]


def role_policy(name_part: str) -> Callable[[Registered], bool]:
    return lambda r: name_part in r.name


def misspell_an_action(g: Graph) -> None:
    edit_json(first(g, ROLE_POLICY), "policy", lambda d: d["Statement"][0]["Action"].append("logs:PutLogEvent"))


def object_action_on_the_bucket_itself(g: Graph) -> None:
    def change(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            if statement["Action"] == ["s3:GetObject"]:
                statement["Resource"] = [arn.split("/", 1)[0] for arn in statement["Resource"]]  # the bucket ARN

    edit_json(first(g, ROLE_POLICY, role_policy("-fhr-access")), "policy", change)


def table_actions_on_every_table(g: Graph) -> None:
    def change(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            if any(a.startswith("dynamodb:") for a in statement["Action"]):
                statement["Resource"] = ["*"]

    edit_json(first(g, ROLE_POLICY, role_policy("-items-access")), "policy", change)


def unknown_condition_key(g: Graph) -> None:
    def change(document: dict[str, Any]) -> None:
        document["Statement"][-1]["Condition"] = {"StringEquals": {"s3:prefixes": "uploads/"}}

    edit_json(first(g, ROLE_POLICY, role_policy("-web-access")), "policy", change)


def tls_condition_with_a_typo(g: Graph) -> None:
    def change(document: dict[str, Any]) -> None:
        document["Statement"][0]["Condition"] = {"Bool": {"aws:SecureTransport": "flase"}}

    edit_json(first(g, BUCKET_POLICY), "policy", change)


def queue_policy_for_a_malformed_principal(g: Graph) -> None:
    edit_json(first(g, QUEUE_POLICY), "policy", lambda d: d["Statement"][0].update(Principal={"AWS": "oncall"}))


def permission_with_a_wrong_action(g: Graph) -> None:
    first(g, PERMISSION).inputs["action"] = "lambda:InvokeFunctions"


def permission_without_an_explicit_statement_id(g: Graph) -> None:
    del first(g, PERMISSION).inputs["statementId"]  # Pulumi's autoname (name-1a2b3c4) is no valid IAM Sid


def trust_policy_with_a_misspelt_action(g: Graph) -> None:
    edit_json(first(g, ROLE), "assumeRolePolicy", lambda d: d["Statement"][0].update(Action="sts:AssumeRoles"))


def trust_policy_for_an_unknown_condition(g: Graph) -> None:
    condition = {"StringEquals": {"lambda:SourceFunction": "x"}}
    edit_json(first(g, ROLE), "assumeRolePolicy", lambda d: d["Statement"][0].update(Condition=condition))


def identity_policy_without_resource(g: Graph) -> None:
    edit_json(first(g, ROLE_POLICY), "policy", lambda d: d["Statement"][0].pop("Resource"))


@pytest.mark.parametrize(
    ("breakage", "issue"),
    [
        (misspell_an_action, "UNKNOWN_ACTION"),
        (object_action_on_the_bucket_itself, "RESOURCE_MISMATCH"),
        (table_actions_on_every_table, "RESOURCE_STAR"),
        (unknown_condition_key, "UNKNOWN_CONDITION_FOR_ACTION"),
        (tls_condition_with_a_typo, "MISMATCHED_TYPE_OPERATION_TO_NULL"),
        (queue_policy_for_a_malformed_principal, "UNKNOWN_PRINCIPAL"),
        (permission_with_a_wrong_action, "UNKNOWN_ACTION"),
        (permission_without_an_explicit_statement_id, "INVALID_SID"),
        (trust_policy_with_a_misspelt_action, "UNKNOWN_ACTION"),  # read with its implied resource
        (trust_policy_for_an_unknown_condition, "UNKNOWN_CONDITION_FOR_ACTION"),
        (identity_policy_without_resource, "MALFORMED"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_parliament_reports_a_broken_policy(
    stack_graphs: dict[str, Graph], breakage: Callable[[Graph], None], issue: str
) -> None:
    _, findings = lint_graph(broken(stack_graphs["dev"], breakage))
    assert issue in {finding.issue for finding in findings}, findings


def test_trust_policies_are_linted_with_the_role_they_govern(stack_graphs: dict[str, Graph]) -> None:
    graph = stack_graphs["dev"]
    role = first(graph, ROLE)
    [trust] = [d for d in policy_documents(graph) if d.source == f"{label(role)} (assumeRolePolicy)"]
    assert trust.document["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Resource": role.state["arn"],
        }
    ]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0].keys() == {"Effect", "Principal", "Action"}


def test_suppressions_are_narrow_and_explained(stack_graphs: dict[str, Graph]) -> None:
    assert {(s.kind, s.issue) for s in SUPPRESSIONS} == {
        ("trust", "CREDENTIALS_EXPOSURE"),
        ("trust", "UNKNOWN_FEDERATION_SOURCE"),
        ("trust", "UNKNOWN_CONDITION_FOR_ACTION"),
    }
    assert all(len(s.reason) > 100 for s in SUPPRESSIONS)
    [trust] = [d for d in policy_documents(stack_graphs["dev"]) if d.kind == "trust"][:1]
    assert lint_document(trust) == []
    assume = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": trust.document["Statement"][0]["Resource"]}
    as_identity = PolicyDocument("an identity policy", "identity", {"Version": "2012-10-17", "Statement": [assume]})
    assert [f.issue for f in lint_document(as_identity)] == ["CREDENTIALS_EXPOSURE"]
    statement = trust.document["Statement"][0]
    wider = {**trust.document, "Statement": [{**statement, "Action": ["sts:AssumeRole", "sts:AssumeRoleWithSAML"]}]}
    assert [f.issue for f in lint_document(PolicyDocument("wider trust", "trust", wider))] == ["CREDENTIALS_EXPOSURE"]
    other_idp = {**statement, "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/idp.example.org"}}
    other = PolicyDocument("other idp", "trust", {**trust.document, "Statement": [other_idp]})
    assert "UNKNOWN_FEDERATION_SOURCE" in [f.issue for f in lint_document(other)]


def test_policies_are_found_at_any_depth_and_classified() -> None:
    inline = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:eu-west-1:123456789012:q"}
        ],
    }
    key_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    role = Registered(
        ROLE,
        "r",
        {"inlinePolicies": [{"name": "send", "policy": json.dumps(inline)}], "assumeRolePolicy": "{}"},
        {},
        True,
    )
    key = Registered(
        "aws:kms/key:Key", "k", {"policy": json.dumps(key_policy), "description": "Statement of intent"}, {}, True
    )
    found = policy_documents(Graph([role, key]))
    assert [(d.source, d.kind, d.document) for d in found] == [
        ("Role r (inlinePolicies.0.policy)", "identity", inline),
        ("Key k (policy)", "resource", key_policy),
    ]


def test_a_permission_for_a_function_outside_the_stack_cannot_be_rendered(stack_graphs: dict[str, Graph]) -> None:
    graph = broken(stack_graphs["dev"], lambda g: first(g, PERMISSION).inputs.update(function="someone-elses"))
    with pytest.raises(UnresolvedPermission, match="names 'someone-elses', no function of the stack"):
        policy_documents(graph)
